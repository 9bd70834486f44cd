//! A serde `Deserializer` over a parsed YAML value that remembers where it is, so that a
//! strict decoding error names the field (`discovery.bootstrapToken.caCertHashes[1]`), not
//! only what was wrong. Go's JSON semantics are kept where kubeadm users rely on them: an
//! explicit `null` reads as the zero value, scalar map keys read as strings.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_yaml::Value;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A field path such as `nodeRegistration.taints[0].effect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// A path from its written form; only used for display, so `[n]` stays part of a key.
    pub fn dotted(path: &str) -> FieldPath {
        FieldPath(
            path.split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Segment::Key(s.to_string()))
                .collect(),
        )
    }

    pub fn key(&self, key: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.to_string()));
        p
    }

    fn index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Segment::Index(i));
        p
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A decoding error and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: FieldPath,
    pub reason: String,
    /// True for a field the schema does not have (the lenient decoder drops these).
    pub unknown_field: bool,
    located: bool,
}

impl DecodeError {
    /// An error about the field at `path`, written `a.b[0].c`.
    pub fn new(path: &str, reason: impl Into<String>) -> Self {
        DecodeError {
            path: FieldPath::dotted(path),
            reason: reason.into(),
            unknown_field: false,
            located: true,
        }
    }

    fn at(mut self, path: &FieldPath) -> Self {
        if !self.located {
            self.path = path.clone();
            self.located = true;
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            path: FieldPath::default(),
            reason: msg.to_string(),
            unknown_field: false,
            located: false,
        }
    }

    // serde's defaults quote the offending value (`invalid type: string "abcdef.0123…"`);
    // a token or certificate key in the wrong place would then reach the console, stderr and
    // result.json. These name only the kind of value.
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "invalid type: {}, expected {exp}",
            kind_of(&unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "invalid value: {} (not shown), expected {exp}",
            kind_of(&unexp)
        ))
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!("invalid length {len}, expected {exp}"))
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!(
            "unknown value (not shown); expected one of: {}",
            expected.join(", ")
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::custom(format!(
            "unknown field {field:?}; the fields here are: {}",
            expected.join(", ")
        ));
        e.unknown_field = true;
        e
    }
}

/// The kind of an unexpected value, never the value itself.
fn kind_of(unexp: &de::Unexpected<'_>) -> &'static str {
    use de::Unexpected as U;
    match unexp {
        U::Bool(_) => "a boolean",
        U::Unsigned(_) | U::Signed(_) | U::Float(_) => "a number",
        U::Char(_) => "a character",
        U::Str(_) => "a string",
        U::Bytes(_) => "bytes",
        U::Unit => "null",
        U::Option => "an optional value",
        U::NewtypeStruct | U::NewtypeVariant | U::TupleVariant | U::StructVariant => {
            "a structured value"
        }
        U::UnitVariant => "an enum value",
        U::Seq => "a list",
        U::Map => "a mapping",
        U::Enum => "an enum",
        U::Other(_) => "a value",
    }
}

/// Decodes `value` into `T`, with errors located at their field.
pub fn from_value<'de, T: serde::Deserialize<'de>>(value: &'de Value) -> Result<T, DecodeError> {
    T::deserialize(ValueDe {
        value,
        path: FieldPath::default(),
    })
}

struct ValueDe<'de> {
    value: &'de Value,
    path: FieldPath,
}

impl<'de> ValueDe<'de> {
    fn fail(&self, e: DecodeError) -> DecodeError {
        e.at(&self.path)
    }

    fn unsupported_tag(&self) -> DecodeError {
        self.fail(de::Error::custom(
            "YAML tags (!name) are not supported in kubeadm configuration",
        ))
    }
}

/// Go's JSON decoder leaves a field at its zero value for `null`; the typed entry points
/// below do the same, so `extraArgs:` with nothing after it is an empty list, not an error.
macro_rules! null_is {
    ($method:ident, $zero:expr) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            if self.value.is_null() {
                #[allow(clippy::redundant_closure_call)]
                return ($zero)(self, visitor);
            }
            self.deserialize_any(visitor)
        }
    };
}

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Sequence(items) => visitor.visit_seq(SeqDe {
                items: Some(items.iter().enumerate()),
                path: &self.path,
            }),
            Value::Mapping(m) => visitor.visit_map(MapDe {
                entries: Some(m.iter()),
                pending: None,
                path: &self.path,
            }),
            Value::Tagged(_) => return Err(self.unsupported_tag()),
        };
        result.map_err(|e| self.fail(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.value.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_map(visitor)
    }

    null_is!(deserialize_bool, |_, v: V| v.visit_bool(false));
    null_is!(deserialize_i8, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_i16, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_i32, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_i64, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_u8, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_u16, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_u32, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_u64, |_, v: V| v.visit_u64(0));
    null_is!(deserialize_str, |_, v: V| v.visit_borrowed_str(""));
    null_is!(deserialize_string, |_, v: V| v.visit_borrowed_str(""));
    null_is!(deserialize_seq, |s: ValueDe<'de>, v: V| {
        v.visit_seq(SeqDe {
            items: None,
            path: &s.path,
        })
        .map_err(|e| s.fail(e))
    });
    null_is!(deserialize_map, |s: ValueDe<'de>, v: V| {
        v.visit_map(MapDe {
            entries: None,
            pending: None,
            path: &s.path,
        })
        .map_err(|e| s.fail(e))
    });

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct enum
        identifier ignored_any
    }
}

struct SeqDe<'de, 'p> {
    /// `None` for an explicit `null`, read as an empty list.
    items: Option<std::iter::Enumerate<std::slice::Iter<'de, Value>>>,
    path: &'p FieldPath,
}

impl<'de> SeqAccess<'de> for SeqDe<'de, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let Some((i, value)) = self.items.as_mut().and_then(Iterator::next) else {
            return Ok(None);
        };
        let path = self.path.index(i);
        seed.deserialize(ValueDe {
            value,
            path: path.clone(),
        })
        .map(Some)
        .map_err(|e| e.at(&path))
    }
}

struct MapDe<'de, 'p> {
    /// `None` for an explicit `null`, read as an empty mapping.
    entries: Option<serde_yaml::mapping::Iter<'de>>,
    pending: Option<(FieldPath, &'de Value)>,
    path: &'p FieldPath,
}

impl<'de> MapAccess<'de> for MapDe<'de, '_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.as_mut().and_then(Iterator::next) else {
            return Ok(None);
        };
        let name = match key {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                let e: DecodeError = de::Error::custom("mapping keys must be strings");
                return Err(e.at(self.path));
            }
        };
        let path = self.path.key(&name);
        let key = seed
            .deserialize(name.into_deserializer())
            .map_err(|e: DecodeError| e.at(&path))?;
        self.pending = Some((path, value));
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let (path, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("value requested before its key"))?;
        seed.deserialize(ValueDe {
            value,
            path: path.clone(),
        })
        .map_err(|e| e.at(&path))
    }
}

/// Removes the entry at `path` (used to drop a field the lenient decoder does not know).
pub fn remove_at(value: &mut Value, path: &FieldPath) -> bool {
    let Some((last, parents)) = path.0.split_last() else {
        return false;
    };
    let mut node = value;
    for seg in parents {
        let next = match seg {
            Segment::Key(k) => node.get_mut(k.as_str()),
            Segment::Index(i) => node.get_mut(*i),
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    match (last, node) {
        (Segment::Key(k), Value::Mapping(m)) => m.remove(k.as_str()).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        #[serde(default)]
        name: String,
        #[serde(default)]
        port: u16,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        maybe: Option<Vec<String>>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Outer {
        #[serde(default)]
        items: Vec<Inner>,
        required: String,
    }

    fn decode(yaml: &str) -> Result<Outer, DecodeError> {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        from_value(&v)
    }

    #[test]
    fn unknown_field_is_located_and_flagged() {
        let e = decode("required: x\nitems:\n- name: a\n- nmae: b\n").unwrap_err();
        assert_eq!(e.path.to_string(), "items[1].nmae");
        assert!(e.unknown_field);
        assert!(e.reason.contains("nmae"), "{}", e.reason);
    }

    #[test]
    fn type_errors_and_missing_fields_are_located() {
        let e = decode("required: x\nitems:\n- port: 70000\n").unwrap_err();
        assert_eq!(e.path.to_string(), "items[0].port");
        assert!(!e.unknown_field);
        let e = decode("items: []\n").unwrap_err();
        assert_eq!(e.path.to_string(), "");
        assert!(e.reason.contains("required"));
        let e = decode("required: x\nitems:\n- list: [a, {b: c}]\n").unwrap_err();
        assert_eq!(e.path.to_string(), "items[0].list[1]");
    }

    #[test]
    fn null_reads_as_the_zero_value_but_keeps_option_none() {
        let o = decode("required: x\nitems:\n- name:\n  list:\n  maybe:\n- maybe: []\n").unwrap();
        assert_eq!(o.items[0], Inner::default());
        assert_eq!(o.items[1].maybe, Some(vec![]));
        assert_eq!(decode("required: x\nitems:\n").unwrap().items, vec![]);
    }

    #[test]
    fn tags_are_refused() {
        let e = decode("required: !secret x\n").unwrap_err();
        assert_eq!(e.path.to_string(), "required");
    }

    #[test]
    fn type_errors_name_the_kind_never_the_value() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Token {
            token: String,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        enum Mode {
            Init,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Holder {
            #[serde(default)]
            tokens: Vec<Token>,
            #[serde(default)]
            one: Option<Token>,
            #[serde(default)]
            port: Option<u8>,
            #[serde(default)]
            mode: Option<Mode>,
            #[serde(default)]
            pair: Option<(String, String)>,
        }
        let secret = "0123456789abcdef";
        for (yaml, path) in [
            (format!("tokens: [abcdef.{secret}]\n"), "tokens[0]"),
            (format!("one: abcdef.{secret}\n"), "one"),
            (format!("one: {{token: [abcdef.{secret}]}}\n"), "one.token"),
            (format!("mode: x{secret}\n"), "mode"),
            (format!("pair: [a{secret}]\n"), "pair"),
            ("port: 1234567890123456\n".to_string(), "port"),
        ] {
            let v: Value = serde_yaml::from_str(&yaml).unwrap();
            let e = from_value::<Holder>(&v).unwrap_err();
            assert_eq!(e.path.to_string(), path, "{yaml}");
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains(secret) && !text.contains("1234567890"),
                "{text}"
            );
        }
        let v: Value = serde_yaml::from_str("tokens: [abcdef.0123456789abcdef]").unwrap();
        let e = from_value::<Holder>(&v).unwrap_err();
        assert!(
            e.reason
                .starts_with("invalid type: a string, expected struct Token"),
            "{e}"
        );
    }

    #[test]
    fn remove_at_drops_one_nested_key() {
        let mut v: Value = serde_yaml::from_str("a:\n- b: 1\n  c: 2\n").unwrap();
        let path = FieldPath::default().key("a").index(0).key("c");
        assert!(remove_at(&mut v, &path));
        assert_eq!(v, serde_yaml::from_str::<Value>("a:\n- b: 1\n").unwrap());
        assert!(!remove_at(&mut v, &path));
    }
}

//! One API object to create, of any kind kubeadm's init phases create, with what the apply loop
//! needs: its REST paths, its name, and its JSON and YAML encodings.
//!
//! The object is held as its JSON tree. Objects built in code are encoded once from their
//! k8s-openapi type; objects from kubeadm's YAML templates (CoreDNS, kube-proxy) are decoded
//! straight into the tree. Decoding a template into its typed struct would link the decoders of
//! every field of a Deployment or DaemonSet (the whole Pod spec) into the binary.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::{Error, Result};

/// An object to create or update, in the order kubeadm creates it.
///
/// `Debug` shows kind, namespace and name only: a `Secret` holds token secrets or encrypted
/// keys, which must never reach a log.
#[derive(Clone, PartialEq)]
pub struct Object {
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    /// The object itself: a JSON object with `apiVersion`, `kind` and `metadata`.
    body: Value,
}

impl Object {
    /// An object built in code.
    fn typed<K: Resource + Serialize>(object: &K) -> Object {
        // k8s-openapi objects have string keys and no custom encodings that can fail.
        let body = serde_json::to_value(object).unwrap_or(Value::Null);
        Object::with_body::<K>(body)
    }

    fn with_body<K: Resource>(body: Value) -> Object {
        Object {
            kind: K::KIND,
            group: K::GROUP,
            version: K::VERSION,
            plural: K::URL_PATH_SEGMENT,
            body,
        }
    }

    /// A `K` from one of kubeadm's YAML templates, already filled in.
    pub(crate) fn from_template<K: Resource>(what: &'static str, yaml: &str) -> Result<Object> {
        let body = serde_yaml::from_str(yaml).map_err(|source| Error::Template { what, source })?;
        Ok(Object::with_body::<K>(body))
    }

    /// The kind, as in the object's `kind` field (`ConfigMap`, `ClusterRoleBinding`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether this is a `K`.
    pub fn is<K: Resource>(&self) -> bool {
        self.kind == K::KIND && self.group == K::GROUP
    }

    /// The object as JSON, with `apiVersion`, `kind`, `metadata`, ...
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The object as JSON, to change a field after building it. Its kind and name stay.
    pub(crate) fn body_mut(&mut self) -> &mut Value {
        &mut self.body
    }

    pub fn name(&self) -> &str {
        self.body["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.body["metadata"]["namespace"].as_str()
    }

    /// The collection to POST to, e.g. `/api/v1/namespaces/kube-system/configmaps` or
    /// `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`.
    pub fn api_path(&self) -> String {
        // `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
        let prefix = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match self.namespace() {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            None => format!("{prefix}/{}", self.plural),
        }
    }

    /// The object itself, to GET, PUT or PATCH: `api_path()` + `/` + name.
    pub fn item_path(&self) -> String {
        format!("{}/{}", self.api_path(), self.name())
    }

    /// `Kind namespace/name` (or `Kind name`), for logs and errors.
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// The request body: JSON with `apiVersion` and `kind`.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&KindFirst(&self.body)).map_err(|e| self.encode_error("JSON", e))
    }

    /// The object as one YAML document (no `---`), as a dry-run prints it. A `Secret`'s data
    /// is included as is: print [`Object::redacted`] where the output may be logged.
    pub fn to_yaml(&self) -> Result<String> {
        serde_yaml::to_string(&KindFirst(&self.body)).map_err(|e| self.encode_error("YAML", e))
    }

    /// The same object with every `Secret` value replaced by `<redacted>` (base64-encoded in
    /// `data`, so that the output still is a valid Secret), for dry-run output that goes to a
    /// console or log.
    pub fn redacted(&self) -> Object {
        let mut copy = self.clone();
        if copy.is::<Secret>() {
            let encoded = Value::String(STANDARD.encode(REDACTED));
            let plain = Value::String(REDACTED.to_string());
            for (field, redacted) in [("data", encoded), ("stringData", plain)] {
                if let Some(map) = copy.body.get_mut(field).and_then(Value::as_object_mut) {
                    map.values_mut().for_each(|v| *v = redacted.clone());
                }
            }
        }
        copy
    }

    fn encode_error(&self, format: &'static str, e: impl fmt::Display) -> Error {
        Error::Encode {
            kind: self.kind(),
            name: self.name().to_string(),
            format,
            message: e.to_string(),
        }
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Object({})", self.describe())
    }
}

/// An object with `apiVersion` and `kind` first, then its other fields in order, as
/// kubectl and k8s-openapi print objects.
struct KindFirst<'a>(&'a Value);

impl Serialize for KindFirst<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let Value::Object(fields) = self.0 else {
            return self.0.serialize(serializer);
        };
        const HEAD: [&str; 2] = ["apiVersion", "kind"];
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for key in HEAD {
            if let Some(value) = fields.get(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in fields.iter().filter(|(k, _)| !HEAD.contains(&k.as_str())) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Objects as a `---`-separated YAML stream, each document starting with `---`.
pub fn to_yaml_stream(objects: &[Object]) -> Result<String> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&o.to_yaml()?);
    }
    Ok(out)
}

macro_rules! from_typed {
    ($($t:ident),*) => {$(
        impl From<$t> for Object {
            fn from(o: $t) -> Self {
                Object::typed(&o)
            }
        }
    )*};
}

from_typed!(
    ConfigMap,
    Secret,
    ServiceAccount,
    Service,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    Deployment,
    DaemonSet
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::meta;
    use k8s_openapi::ByteString;

    #[test]
    fn paths_follow_group_version_and_scope() {
        let cm = Object::from(ConfigMap {
            metadata: meta(Some("kube-public"), "cluster-info"),
            ..Default::default()
        });
        assert_eq!(cm.api_path(), "/api/v1/namespaces/kube-public/configmaps");
        assert_eq!(
            cm.item_path(),
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        );
        let crb = Object::from(ClusterRoleBinding {
            metadata: meta(None, "kubeadm:get-nodes"),
            ..Default::default()
        });
        assert_eq!(
            crb.api_path(),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        );
        let ds = Object::from_template::<DaemonSet>(
            "test DaemonSet",
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: kube-proxy\n  namespace: kube-system\n",
        )
        .unwrap();
        assert_eq!(
            ds.item_path(),
            "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"
        );
        assert!(ds.is::<DaemonSet>() && !ds.is::<Deployment>());
        assert_eq!(ds.describe(), "DaemonSet kube-system/kube-proxy");
    }

    #[test]
    fn encodings_start_with_api_version_and_kind() {
        let cm = Object::from(ConfigMap {
            metadata: meta(Some("kube-public"), "cluster-info"),
            data: Some([("a".to_string(), "b".to_string())].into()),
            ..Default::default()
        });
        assert_eq!(
            cm.to_yaml().unwrap(),
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\nmetadata:\n  name: cluster-info\n  \
             namespace: kube-public\n"
        );
        assert_eq!(
            String::from_utf8(cm.to_json().unwrap()).unwrap(),
            r#"{"apiVersion":"v1","kind":"ConfigMap","data":{"a":"b"},"metadata":{"name":"cluster-info","namespace":"kube-public"}}"#
        );
    }

    #[test]
    fn debug_and_redacted_never_show_secret_data() {
        let mut data = std::collections::BTreeMap::new();
        data.insert(
            "token-secret".to_string(),
            ByteString(b"0123456789abcdef".to_vec()),
        );
        let s = Object::from(Secret {
            metadata: meta(Some("kube-system"), "bootstrap-token-abcdef"),
            data: Some(data),
            string_data: Some([("plain".to_string(), "secret".to_string())].into()),
            ..Default::default()
        });
        assert_eq!(
            format!("{s:?}"),
            "Object(Secret kube-system/bootstrap-token-abcdef)"
        );
        let yaml = s.redacted().to_yaml().unwrap();
        assert!(!yaml.contains("MDEyMzQ1Njc4OWFiY2RlZg"), "{yaml}");
        assert!(yaml.contains("token-secret: PHJlZGFjdGVkPg=="), "{yaml}");
        assert!(yaml.contains("plain: <redacted>"), "{yaml}");
        let json = String::from_utf8(s.to_json().unwrap()).unwrap();
        assert!(json.contains(r#""apiVersion":"v1""#) && json.contains(r#""kind":"Secret""#));
    }
}

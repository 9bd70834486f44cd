//! User-data formats, independent of where the bytes came from.
//!
//! A blob is, after undoing gzip (recognised by its magic bytes, at any level):
//! - **MIME** (first line is a `Content-Type:` or `MIME-Version:` header), as cloud-init's
//!   `make-mime` writes it. Parts are chosen by `Content-Type`:
//!   - [`YAML_TYPES`] (`application/yaml`, `text/yaml`, `text/x-yaml`, `application/x-yaml`):
//!     multi-document kubeadm YAML;
//!   - `text/cloud-config`: cloud-config, see below;
//!   - `multipart/*`: nested parts;
//!   - `application/gzip`, `application/x-gzip`, and `text/plain`, `application/octet-stream`
//!     or no type: recognised by content, as cloud-init does (`#cloud-config` → cloud-config,
//!     MIME, gzip); anything else in them is left to cloud-init;
//!   - everything else (`text/x-shellscript`, `text/cloud-boothook`, `text/jinja2`, ...) is left
//!     to cloud-init and logged as skipped.
//!
//!   `Content-Transfer-Encoding: base64` and `quoted-printable` are undone.
//! - **cloud-config** (first line `#cloud-config`): one YAML mapping. Its top-level
//!   `kubeboot` key ([`CLOUD_CONFIG_KEY`]) holds the kubeadm documents, as either
//!   - a list of mappings, each one document (`kubeboot: [{apiVersion: ..., kind: ...}, ...]`),
//!   - one mapping, a single document, or
//!   - a string holding multi-document YAML (`kubeboot: |` followed by `---`-separated text).
//!
//!   Every other key is cloud-init's; a cloud-config without `kubeboot` is skipped.
//! - **other cloud-init formats** (`#!`, `#include`, `#cloud-boothook`, `#part-handler`,
//!   `#upstart-job`, `#cloud-config-archive`, `## template: jinja`): skipped.
//! - **plain YAML**: anything else must be UTF-8 multi-document YAML of kubeadm kinds.
//!
//! Every document must be a mapping with string `apiVersion` and `kind`; empty documents are
//! ignored; one part may hold each kind at most once (kubeadm rejects duplicates too).
//!
//! Limits ([`Limits`]): all gzip output of one blob together at most 16 MiB (decoding stops at
//! the cap), at most 64 MIME parts, 64 documents per part, nesting depth 8.

use std::collections::HashMap;
use std::io::Read;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use flate2::read::MultiGzDecoder;
use serde_yaml::Value;

use super::Error;
use super::mime::{self, ContentType, Entity};
use crate::config::{self, RawDocument};

/// Largest user-data accepted, raw from a source and decompressed.
pub const MAX_SIZE: usize = 16 << 20;
/// Most MIME parts in one blob, nested parts included.
pub const MAX_PARTS: usize = 64;
/// Most YAML documents in one part.
pub const MAX_DOCUMENTS: usize = 64;
/// Deepest nesting of multipart and gzip layers.
pub const MAX_DEPTH: usize = 8;
/// The cloud-config key whose value is kubeboot's documents.
pub const CLOUD_CONFIG_KEY: &str = "kubeboot";
/// MIME types of parts holding kubeadm YAML documents.
pub const YAML_TYPES: [&str; 4] = [
    "application/yaml",
    "text/yaml",
    "text/x-yaml",
    "application/x-yaml",
];

const GZIP_TYPES: [&str; 2] = ["application/gzip", "application/x-gzip"];
const SNIFFED_TYPES: [&str; 2] = ["text/plain", "application/octet-stream"];
/// First-line markers of cloud-init formats that are not for kubeboot.
const CLOUD_INIT_ONLY: [&str; 7] = [
    "#!",
    "#include",
    "#cloud-boothook",
    "#part-handler",
    "#upstart-job",
    "#cloud-config-archive",
    "## template:",
];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_size: usize,
    pub max_parts: usize,
    pub max_documents: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: MAX_SIZE,
            max_parts: MAX_PARTS,
            max_documents: MAX_DOCUMENTS,
            max_depth: MAX_DEPTH,
        }
    }
}

/// Decodes one blob of user-data into kubeadm documents, in order. `origin` names the source
/// in messages and in each document's `origin` (`<origin> part 2.1` for MIME parts).
pub fn decode(bytes: &[u8], origin: &str) -> Result<Vec<RawDocument>, Error> {
    decode_with_limits(bytes, origin, &Limits::default()).map(|d| d.documents)
}

pub fn decode_with_limits(
    bytes: &[u8],
    origin: &str,
    limits: &Limits,
) -> Result<DecodedDocuments, Error> {
    let mut decoder = Decoder {
        limits,
        gzip_budget: limits.max_size,
        parts: 0,
        out: DecodedDocuments::default(),
    };
    decoder.blob(bytes, origin, 0)?;
    Ok(decoder.out)
}

/// What [`decode_with_limits`] found: the documents and how many parts it left to cloud-init.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedDocuments {
    pub documents: Vec<RawDocument>,
    pub skipped: usize,
}

struct Decoder<'l> {
    limits: &'l Limits,
    /// Decompressed bytes still allowed, across all gzip layers of the blob.
    gzip_budget: usize,
    parts: usize,
    out: DecodedDocuments,
}

impl Decoder<'_> {
    /// A blob or a part whose type is known only by its content.
    fn blob(&mut self, bytes: &[u8], origin: &str, depth: usize) -> Result<(), Error> {
        self.check_depth(origin, depth)?;
        if bytes.starts_with(GZIP_MAGIC) {
            let inflated = self.gunzip(bytes, origin)?;
            return self.blob(&inflated, origin, depth + 1);
        }
        if mime::looks_like_mime(bytes) {
            let entity = mime::parse_entity(bytes).map_err(|r| Error::invalid(origin, r))?;
            return self.entity(&entity, origin, "", depth);
        }
        let text = as_text(bytes, origin)?;
        match first_line(text) {
            line if is_cloud_config(line) => self.cloud_config(text, origin),
            line => match cloud_init_marker(line) {
                // Only the marker: the rest of the line can be an `#include` URL with
                // credentials, or a script's arguments.
                Some(marker) => {
                    self.skip(origin, &format!("starts with {marker:?}"));
                    Ok(())
                }
                None => self.yaml_part(text, origin),
            },
        }
    }

    /// A MIME entity: the top-level message or one of its parts (`path` like `2.1`).
    fn entity(
        &mut self,
        entity: &Entity<'_>,
        origin: &str,
        path: &str,
        depth: usize,
    ) -> Result<(), Error> {
        let here = part_origin(origin, path);
        let content_type = entity.content_type();
        if let Some(ct) = content_type.as_ref().filter(|ct| ct.is_multipart()) {
            return self.multipart(entity, ct, origin, path, depth);
        }
        let body = mime::transfer_decode(entity.body, entity.header("content-transfer-encoding"))
            .map_err(|r| Error::invalid(&here, r))?;
        let inflated;
        let body: &[u8] = if body.starts_with(GZIP_MAGIC) {
            inflated = self.gunzip(&body, &here)?;
            &inflated
        } else {
            &body
        };
        let essence = content_type.map(|ct| ct.essence).unwrap_or_default();
        match essence.as_str() {
            t if YAML_TYPES.contains(&t) => self.yaml_part(as_text(body, &here)?, &here),
            "text/cloud-config" => self.cloud_config(as_text(body, &here)?, &here),
            t if t.is_empty() || SNIFFED_TYPES.contains(&t) || GZIP_TYPES.contains(&t) => {
                self.sniffed_part(body, &here, depth)
            }
            t => {
                self.skip(&here, t);
                Ok(())
            }
        }
    }

    /// A part without a telling type: kubeboot takes it only when its content says it is
    /// cloud-config or MIME; anything else is cloud-init's.
    fn sniffed_part(&mut self, body: &[u8], origin: &str, depth: usize) -> Result<(), Error> {
        if mime::looks_like_mime(body) {
            return self.blob(body, origin, depth + 1);
        }
        match std::str::from_utf8(body) {
            Ok(text) if is_cloud_config(first_line(text)) => self.cloud_config(text, origin),
            _ => {
                self.skip(origin, "unrecognised text/plain content");
                Ok(())
            }
        }
    }

    fn multipart(
        &mut self,
        entity: &Entity<'_>,
        ct: &ContentType,
        origin: &str,
        path: &str,
        depth: usize,
    ) -> Result<(), Error> {
        let here = part_origin(origin, path);
        self.check_depth(&here, depth + 1)?;
        let boundary = ct.param("boundary").ok_or_else(|| {
            Error::invalid(
                &here,
                format!(
                    "{} has no boundary parameter; check the MIME headers",
                    ct.essence
                ),
            )
        })?;
        let bodies =
            mime::split_multipart(entity.body, boundary).map_err(|r| Error::invalid(&here, r))?;
        for (i, body) in bodies.into_iter().enumerate() {
            self.parts += 1;
            if self.parts > self.limits.max_parts {
                return Err(Error::invalid(
                    origin,
                    format!("more than {} MIME parts", self.limits.max_parts),
                ));
            }
            let child_path = if path.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{path}.{}", i + 1)
            };
            let child_origin = part_origin(origin, &child_path);
            let child = mime::parse_entity(body).map_err(|r| Error::invalid(&child_origin, r))?;
            self.entity(&child, origin, &child_path, depth + 1)?;
        }
        Ok(())
    }

    fn cloud_config(&mut self, text: &str, origin: &str) -> Result<(), Error> {
        let config: Value = serde_yaml::from_str(text)
            .map_err(|e| Error::invalid(origin, format!("cloud-config is not valid YAML: {e}")))?;
        let Value::Mapping(config) = config else {
            return Err(Error::invalid(origin, "cloud-config is not a YAML mapping"));
        };
        let Some(value) = config.get(CLOUD_CONFIG_KEY) else {
            self.skip(origin, "cloud-config without a `kubeboot` key");
            return Ok(());
        };
        let document = |index: usize, value: &Value| RawDocument {
            origin: origin.to_string(),
            index,
            value: value.clone(),
        };
        let documents = match value {
            Value::Sequence(items) if items.len() > self.limits.max_documents => {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "`kubeboot` lists more than {} YAML documents",
                        self.limits.max_documents
                    ),
                ));
            }
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Mapping(_) => Ok(document(i + 1, item)),
                    _ => Err(Error::invalid(
                        origin,
                        "`kubeboot` list items must be kubeadm documents (YAML mappings)",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Value::Mapping(_) => vec![document(1, value)],
            Value::String(text) => self.yaml_documents(text.as_bytes(), origin)?,
            _ => {
                return Err(Error::invalid(
                    origin,
                    "`kubeboot` must be a list of kubeadm documents, one document, or a string of multi-document YAML",
                ));
            }
        };
        self.documents(documents, origin)
    }

    fn yaml_part(&mut self, text: &str, origin: &str) -> Result<(), Error> {
        let documents = self.yaml_documents(text.as_bytes(), origin)?;
        self.documents(documents, origin)
    }

    /// Splits multi-document YAML, at most `max_documents` of them.
    fn yaml_documents(&self, text: &[u8], origin: &str) -> Result<Vec<RawDocument>, Error> {
        config::split_documents_at_most(text, origin, self.limits.max_documents).map_err(|e| {
            let reason = match e.document {
                Some(index) => format!("document {index} is {}", e.reason),
                None => e.reason,
            };
            Error::invalid(origin, reason)
        })
    }

    /// Checks and records one part's documents: mappings with `apiVersion` and `kind`, each
    /// kind once.
    fn documents(&mut self, documents: Vec<RawDocument>, origin: &str) -> Result<(), Error> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for document in documents {
            let index = document.index;
            let (Some(kind), Some(_)) = (document.kind(), document.api_version()) else {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "document {index} is not a kubeadm configuration: it needs string `apiVersion` and `kind` fields"
                    ),
                ));
            };
            if let Some(first) = seen.insert(kind.to_string(), index) {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "documents {first} and {index} are both {kind}; one part may hold each kind once"
                    ),
                ));
            }
            log::debug!("[user-data] Found {kind} in {origin}, document {index}");
            self.out.documents.push(document);
        }
        Ok(())
    }

    fn gunzip(&mut self, bytes: &[u8], origin: &str) -> Result<Vec<u8>, Error> {
        let cap = self.gzip_budget;
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes)
            .take(cap as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::invalid(origin, format!("gzip data is corrupt or truncated ({e})"))
            })?;
        if out.len() > cap {
            return Err(Error::invalid(
                origin,
                format!(
                    "gzip data decompresses to more than {} MiB",
                    self.limits.max_size >> 20
                ),
            ));
        }
        self.gzip_budget -= out.len();
        Ok(out)
    }

    fn check_depth(&self, origin: &str, depth: usize) -> Result<(), Error> {
        if depth > self.limits.max_depth {
            return Err(Error::invalid(
                origin,
                format!(
                    "nested more than {} levels deep (multipart or gzip)",
                    self.limits.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn skip(&mut self, origin: &str, why: &str) {
        log::info!("[user-data] Skipping {origin} ({why}): left to cloud-init");
        self.out.skipped += 1;
    }
}

fn part_origin(origin: &str, path: &str) -> String {
    if path.is_empty() {
        origin.to_string()
    } else {
        format!("{origin} part {path}")
    }
}

fn as_text<'a>(bytes: &'a [u8], origin: &str) -> Result<&'a str, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            origin,
            format!(
                "binary data at byte {}: not gzip, MIME, cloud-config or UTF-8 YAML",
                e.valid_up_to()
            ),
        )
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default().trim_end()
}

fn is_cloud_config(line: &str) -> bool {
    line == "#cloud-config"
}

/// The cloud-init format marker `line` starts with (`#include`, `#!`, ...), if any.
fn cloud_init_marker(line: &str) -> Option<&'static str> {
    CLOUD_INIT_ONLY
        .iter()
        .copied()
        .find(|m| line.starts_with(m))
}

/// Base64 as the sources and MIME use it: whitespace ignored, padding optional. The error
/// names the offset, never the data.
pub(crate) fn decode_base64(text: &[u8]) -> Result<Vec<u8>, String> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    LENIENT.decode(&compact).map_err(|e| match e {
        base64::DecodeError::InvalidByte(offset, _)
        | base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("not valid base64 (bad character at offset {offset}, whitespace ignored)")
        }
        base64::DecodeError::InvalidLength(_) => "not valid base64 (truncated)".to_string(),
        base64::DecodeError::InvalidPadding => "not valid base64 (bad padding)".to_string(),
    })
}

/// Merges documents of several parts, in order: documents of the same kind and `apiVersion`
/// are deep-merged, the later one winning field by field (mappings merge recursively; lists
/// and scalars are replaced whole; an explicit `null` replaces too). A later document of the
/// same kind but another `apiVersion` replaces the earlier one whole, since fields of different
/// API versions do not mix. The result keeps the order in which kinds first appear; a merged
/// document's origin lists every part it came from.
pub fn merge(documents: Vec<RawDocument>) -> Vec<RawDocument> {
    let mut merged: Vec<RawDocument> = Vec::new();
    for document in documents {
        let kind = document.kind().map(str::to_string);
        let earlier = kind
            .as_deref()
            .and_then(|k| merged.iter_mut().find(|d| d.kind() == Some(k)));
        match earlier {
            Some(earlier) if earlier.api_version() == document.api_version() => {
                earlier.origin = format!("{} + {}", earlier.origin, document.origin);
                deep_merge(&mut earlier.value, document.value);
            }
            Some(earlier) => {
                log::warn!(
                    "[user-data] {} from {} replaces the one from {}: apiVersion {} differs from {}",
                    kind.as_deref().unwrap_or_default(),
                    document.origin,
                    earlier.origin,
                    document.api_version().unwrap_or_default(),
                    earlier.api_version().unwrap_or_default(),
                );
                *earlier = document;
            }
            None => merged.push(document),
        }
    }
    merged
}

fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(docs: &[RawDocument]) -> Vec<&str> {
        docs.iter().map(|d| d.kind().unwrap()).collect()
    }

    #[test]
    fn plain_yaml_documents_keep_order_and_skip_empty_ones() {
        let docs = decode(
            b"---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
            "test",
        )
        .unwrap();
        assert_eq!(kinds(&docs), ["InitConfiguration", "ClusterConfiguration"]);
        assert_eq!(docs[1].index, 3);
        assert_eq!(docs[0].origin, "test");
    }

    #[test]
    fn cloud_config_kubeboot_key_shapes() {
        let list = decode(
            b"#cloud-config\npackages: [jq]\nkubeboot:\n  - apiVersion: kubeadm.k8s.io/v1beta4\n    kind: JoinConfiguration\n",
            "t",
        )
        .unwrap();
        assert_eq!(kinds(&list), ["JoinConfiguration"]);
        let one = decode(
            b"#cloud-config\nkubeboot:\n  apiVersion: kubeadm.k8s.io/v1beta4\n  kind: JoinConfiguration\n",
            "t",
        )
        .unwrap();
        assert_eq!(kinds(&one), ["JoinConfiguration"]);
        let text = decode(
            b"#cloud-config\nkubeboot: |\n  apiVersion: kubeadm.k8s.io/v1beta4\n  kind: InitConfiguration\n  ---\n  apiVersion: kubeadm.k8s.io/v1beta4\n  kind: ClusterConfiguration\n",
            "t",
        )
        .unwrap();
        assert_eq!(kinds(&text), ["InitConfiguration", "ClusterConfiguration"]);
        let e = decode(b"#cloud-config\nkubeboot: 3\n", "t").unwrap_err();
        assert!(e.to_string().contains("must be a list"), "{e}");
        let e = decode(b"#cloud-config\nkubeboot: [1]\n", "t").unwrap_err();
        assert!(e.to_string().contains("list items"), "{e}");
    }

    #[test]
    fn cloud_config_without_kubeboot_and_scripts_are_skipped() {
        let d = decode_with_limits(b"#cloud-config\npackages: [jq]\n", "t", &Limits::default())
            .unwrap();
        assert!(d.documents.is_empty());
        assert_eq!(d.skipped, 1);
        let d = decode_with_limits(b"#!/bin/sh\necho hi\n", "t", &Limits::default()).unwrap();
        assert_eq!((d.documents.len(), d.skipped), (0, 1));
    }

    #[test]
    fn documents_need_api_version_and_kind() {
        let e = decode(b"hello world\n", "src").unwrap_err();
        assert!(e.to_string().contains("src"), "{e}");
        assert!(e.to_string().contains("document 1"), "{e}");
        let e = decode(b"kind: InitConfiguration\n", "src").unwrap_err();
        assert!(e.to_string().contains("apiVersion"), "{e}");
    }

    #[test]
    fn two_documents_of_one_kind_in_one_part_are_rejected() {
        let e = decode(
            b"apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
            "src",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("documents 1 and 2 are both InitConfiguration"),
            "{text}"
        );
    }

    #[test]
    fn document_count_is_capped() {
        let text = "---\n".repeat(MAX_DOCUMENTS + 2);
        let e = decode(text.as_bytes(), "src").unwrap_err();
        assert!(e.to_string().contains("more than 64 YAML documents"), "{e}");
    }

    #[test]
    fn cloud_config_document_list_is_capped_too() {
        let item = "  - {apiVersion: kubeboot.io/v1alpha1, kind: BootConfiguration}\n";
        let at_cap = format!("#cloud-config\nkubeboot:\n{}", item.repeat(MAX_DOCUMENTS));
        // At the cap the list decodes (and then fails only on the repeated kind).
        let e = decode(at_cap.as_bytes(), "src").unwrap_err();
        assert!(e.to_string().contains("both BootConfiguration"), "{e}");
        let over = format!(
            "#cloud-config\nkubeboot:\n{}",
            item.repeat(MAX_DOCUMENTS + 1)
        );
        let e = decode(over.as_bytes(), "src").unwrap_err();
        assert!(e.to_string().contains("more than 64 YAML documents"), "{e}");
    }

    #[test]
    fn skipped_cloud_init_formats_are_named_by_their_marker_only() {
        assert_eq!(
            cloud_init_marker("#include https://u:secret@h/x?sig=secret"),
            Some("#include")
        );
        assert_eq!(cloud_init_marker("#!/bin/sh -c secret"), Some("#!"));
        assert_eq!(cloud_init_marker("apiVersion: v1"), None);
        let d = decode_with_limits(b"#include https://u:secret@h/x\n", "t", &Limits::default())
            .unwrap();
        assert_eq!((d.documents.len(), d.skipped), (0, 1));
    }

    #[test]
    fn merge_is_deep_for_mappings_and_replaces_lists() {
        let doc = |origin: &str, yaml: &str| RawDocument {
            origin: origin.into(),
            index: 1,
            value: serde_yaml::from_str(yaml).unwrap(),
        };
        let merged = merge(vec![
            doc(
                "a",
                "apiVersion: v1beta4\nkind: ClusterConfiguration\nnetworking: {podSubnet: 10.0.0.0/16, dnsDomain: a.local}\napiServer: {certSANs: [x, y]}\n",
            ),
            doc("b", "apiVersion: v1beta4\nkind: InitConfiguration\n"),
            doc(
                "c",
                "apiVersion: v1beta4\nkind: ClusterConfiguration\nnetworking: {dnsDomain: c.local}\napiServer: {certSANs: [z]}\n",
            ),
        ]);
        assert_eq!(
            kinds(&merged),
            ["ClusterConfiguration", "InitConfiguration"]
        );
        let expected: Value = serde_yaml::from_str(
            "apiVersion: v1beta4\nkind: ClusterConfiguration\nnetworking: {podSubnet: 10.0.0.0/16, dnsDomain: c.local}\napiServer: {certSANs: [z]}\n",
        )
        .unwrap();
        assert_eq!(merged[0].value, expected);
        assert_eq!(merged[0].origin, "a + c");
    }

    #[test]
    fn merge_replaces_a_kind_of_another_api_version_whole() {
        let doc = |yaml: &str| RawDocument {
            origin: "o".into(),
            index: 1,
            value: serde_yaml::from_str(yaml).unwrap(),
        };
        let merged = merge(vec![
            doc("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: a\n"),
            doc("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].api_version(), Some("kubeadm.k8s.io/v1beta4"));
        assert!(merged[0].value.get("clusterName").is_none());
    }

    #[test]
    fn decoded_documents_debug_hides_their_values() {
        let d = decode_with_limits(
            b"apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\ncertificateKey: 5ec7e75ec7e7\n",
            "src",
            &Limits::default(),
        )
        .unwrap();
        let loaded = super::super::Loaded {
            source: "local",
            documents: d.documents.clone(),
            meta: Default::default(),
        };
        for text in [format!("{d:?}"), format!("{loaded:?}")] {
            assert!(!text.contains("0123456789abcdef"), "{text}");
            assert!(!text.contains("5ec7e75ec7e7"), "{text}");
            assert!(text.contains("InitConfiguration"), "{text}");
        }
    }

    #[test]
    fn base64_errors_never_show_the_data() {
        assert_eq!(decode_base64(b"aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64(b"aGk").unwrap(), b"hi");
        let e = decode_base64(b"aG*k").unwrap_err();
        assert!(e.contains("offset 2") && !e.contains('*'), "{e}");
    }
}

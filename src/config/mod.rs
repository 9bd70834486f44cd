//! kubeadm's configuration API: multi-document YAML of `InitConfiguration`,
//! `ClusterConfiguration`, `JoinConfiguration` (`kubeadm.k8s.io/v1beta3` and `v1beta4`),
//! `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`), `KubeProxyConfiguration`
//! (`kubeproxy.config.k8s.io/v1alpha1`) and kubeboot's own `BootConfiguration`
//! (`kubeboot.io/v1alpha1`).
//!
//! The pipeline, as kubeadm's: `split_documents` → `decode` (strict per-version serde types,
//! converted into `model` with kubeadm's static defaults) → `init_from_documents` /
//! `join_from_documents` (the flags kubeadm allows beside `--config`, then dynamic defaults
//! from `HostFacts`, then `validation`). `load_init` / `load_join` do the same from
//! `--config` or from flags alone. `cluster_configuration_yaml` and
//! `cluster_configuration_from_yaml` write and read the `kubeadm-config` ConfigMap.
//!
//! Stricter than kubeadm on purpose: unknown fields and unknown kinds are errors (kubeadm
//! warns), since a typo in first-boot user-data must stop the node, not be ignored.

mod convert;
mod de;
pub mod defaults;
mod documents;
pub mod duration;
mod encode;
mod flags;
mod host;
pub mod model;
pub mod net;
mod v1beta3;
mod v1beta4;
pub mod validation;
pub mod version;

pub use convert::{encryption_algorithm_name, parse_bootstrap_token};
pub use documents::{
    DocumentSource, Documents, decode, split_documents, split_documents_at_most,
    unknown_kubelet_fields,
};
pub use encode::{cluster_configuration_from_yaml, cluster_configuration_yaml, sorted_keys};
pub use flags::{init_from_documents, join_from_documents, load_init, load_join};
pub use host::HostFacts;

use std::fmt;

/// An invalid configuration: which source, which document, which field, and why.
/// Nothing is written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File path, URL or user-data part the configuration came from.
    pub origin: String,
    /// 1-based index of the YAML document in that source, when known.
    pub document: Option<usize>,
    /// `kind` of that document, when known.
    pub kind: Option<String>,
    /// Field path such as `networking.serviceSubnet`, when the error is about one field.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}", self.origin)?;
        if let Some(d) = self.document {
            write!(f, ", document {d}")?;
        }
        if let Some(k) = &self.kind {
            write!(f, " ({k})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// One YAML document before decoding: where it came from and its raw value. User-data parts
/// are split into these, merged per kind, then decoded into the model.
#[derive(Clone, PartialEq)]
pub struct RawDocument {
    /// File path, URL or user-data part (`ec2:user-data part 2`).
    pub origin: String,
    /// 1-based position in its source.
    pub index: usize,
    pub value: serde_yaml::Value,
}

/// The value can hold bootstrap tokens and the certificate key: Debug shows where the
/// document came from and its kind, never its fields.
impl fmt::Debug for RawDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawDocument")
            .field("origin", &self.origin)
            .field("index", &self.index)
            .field("api_version", &self.api_version())
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl RawDocument {
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(serde_yaml::Value::as_str)
    }

    pub fn api_version(&self) -> Option<&str> {
        self.value
            .get("apiVersion")
            .and_then(serde_yaml::Value::as_str)
    }
}

#[cfg(test)]
mod tests;

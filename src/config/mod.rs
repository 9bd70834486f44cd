//! kubeadm's configuration API: multi-document YAML of `InitConfiguration`,
//! `ClusterConfiguration`, `JoinConfiguration` (`kubeadm.k8s.io/v1beta3` and `v1beta4`),
//! `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`) and kubeboot's own
//! `BootConfiguration`. Documents are decoded strictly into the internal model (`model`),
//! defaulted as kubeadm does, then overridden by command-line flags as kubeadm allows.

pub mod model;
pub mod net;
pub mod version;

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
#[derive(Debug, Clone, PartialEq)]
pub struct RawDocument {
    /// File path, URL or user-data part (`ec2:user-data part 2`).
    pub origin: String,
    /// 1-based position in its source.
    pub index: usize,
    pub value: serde_yaml::Value,
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

//! The Kubernetes API objects that `kubeadm init`'s online phases create, as pure builders.
//!
//! Every phase is a function returning an ordered `Vec<Object>` in the order kubeadm creates
//! them; the apply loop (in `api`) creates or updates each one and the dry-run prints them as
//! `---`-separated YAML. Names, labels, rules and templates follow kubeadm for the target
//! version (1.31..=1.35); where kubeadm differs between those versions it is said where.
//!
//! | kubeadm phase            | here                                                      |
//! |--------------------------|-----------------------------------------------------------|
//! | upload-config            | [`upload_config_objects`], [`kubelet_config_objects`]     |
//! | mark-control-plane       | [`mark_control_plane_patch`], [`mark_control_plane_patch_for`] |
//! | bootstrap-token          | [`bootstrap_token_objects`], [`cluster_info_objects`]     |
//! | upload-certs             | [`upload_certs_token_objects`], [`upload_certs_objects`]  |
//! | addon/coredns            | [`coredns_objects`]                                       |
//! | addon/kube-proxy         | [`kube_proxy_objects`]                                    |
//! | (init output)            | [`join_worker_command`], [`join_control_plane_command`], [`init_done_message`] |

mod certs;
mod dns;
mod join;
mod markcontrolplane;
mod object;
mod proxy;
mod rbac;
#[cfg(test)]
pub(crate) mod tests_support;
mod token;
mod uploadconfig;

pub use certs::{
    CertFiles, CertificateKey, KUBEADM_CERTS, SecretOwner, certs_to_transfer, open,
    read_certs_to_upload, seal, upload_certs_objects, upload_certs_token_objects,
};
pub use dns::{coredns_objects, dns_service_ip};
pub use join::{JoinCommand, init_done_message, join_control_plane_command, join_worker_command};
pub use markcontrolplane::{
    LABEL_CONTROL_PLANE, LABEL_EXCLUDE_FROM_EXTERNAL_LB, control_plane_taints,
    mark_control_plane_patch, mark_control_plane_patch_for,
};
pub use object::{Object, to_yaml_stream};
pub use proxy::{kube_proxy_config, kube_proxy_objects};
pub use token::{
    bootstrap_token_objects, bootstrap_token_secret, cluster_info_kubeconfig, cluster_info_objects,
    fill_missing_tokens, generate_token, generate_token_with, parse_token,
};
pub use uploadconfig::{
    admin_cluster_role_binding, config_map_hash, kubelet_config_objects, upload_config_objects,
};

/// Namespaces kubeadm writes to.
pub const NS_SYSTEM: &str = "kube-system";
pub const NS_PUBLIC: &str = "kube-public";

/// The group every kubeadm bootstrap token authenticates as (`NodeBootstrapTokenAuthGroup`).
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The group of all kubelets (`NodesGroup`).
pub const NODES_GROUP: &str = "system:nodes";

/// What went wrong while building objects. Messages name the config field to fix; secret
/// material (keys, token secrets, plaintexts) never appears in them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "certificate key is invalid: {reason}; it must be 64 hexadecimal characters (32 bytes), \
         as printed by `kubeadm certs certificate-key`"
    )]
    InvalidCertificateKey { reason: &'static str },
    #[error(
        "cannot decrypt uploaded certificate data: it is shorter than the 12-byte nonce \
         (the kubeadm-certs Secret is corrupt)"
    )]
    SealedDataTooShort,
    #[error(
        "cannot decrypt uploaded certificate data: wrong certificate key, or the kubeadm-certs \
         Secret was altered"
    )]
    OpenFailed,
    #[error("cannot encrypt {0}: it is too large for AES-256-GCM")]
    Encrypt(&'static str),
    #[error("the system random number generator failed while {what}")]
    Random { what: &'static str },
    #[error("bootstrap token {id}: expiration {value:?} is not an RFC 3339 time (field expires)")]
    InvalidExpiration { id: String, value: String },
    #[error("bootstrap token {0:?} is not of the form [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    InvalidToken(String),
    #[error(
        "bootstrapTokens[{0}] has no token: generate one (fill_missing_tokens) before building \
         the bootstrap-token objects"
    )]
    MissingToken(usize),
    #[error(
        "networking.serviceSubnet {0} is too small: the cluster DNS Service needs its 10th address"
    )]
    ServiceSubnetTooSmall(String),
    /// The control-plane endpoint the kube-proxy kubeconfig points at.
    #[error("the kube-proxy kubeconfig needs the control-plane endpoint: {0}")]
    ControlPlaneEndpoint(crate::kubeconfig::Error),
    #[error("{field} {value:?} is invalid: {reason}")]
    InvalidField {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("internal error: built-in {what} template does not decode: {source}")]
    Template {
        what: &'static str,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("cannot encode {kind} {name} as {format}: {message}")]
    Encode {
        kind: &'static str,
        name: String,
        format: &'static str,
        message: String,
    },
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Lowercase hex, as Go's `%x` and `hex.EncodeToString` print it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `ObjectMeta` with a name and, for namespaced objects, a namespace.
pub(crate) fn meta(
    namespace: Option<&str>,
    name: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        ..Default::default()
    }
}

/// Encodes a string as a YAML double-quoted scalar (JSON strings are valid YAML), so that a
/// value from the configuration can never change the shape of a template it is placed in.
pub(crate) fn yaml_quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

//! Finds this machine's user-data and turns it into kubeadm configuration documents.
//!
//! # Sources, in probe order
//!
//! The first source that finds user-data wins; a source that finds nothing passes to the next;
//! a source that is present but broken stops the probe with an error naming it.
//!
//! 1. `local`: `/etc/kubeboot/user-data`, then every file in `/etc/kubeboot/user-data.d/` in
//!    lexical order (dotfiles and directories skipped); each file is one part.
//! 2. `cmdline`: `/proc/cmdline` with `kubeboot.userdata=<file:|http:|https: URL>`, or
//!    cloud-init's `ds=nocloud;s=<seed>` / `ds=nocloud-net;s=<seed>` (`<seed>user-data`,
//!    `<seed>meta-data`; `h=` sets the hostname).
//! 3. `nocloud`: `/var/lib/cloud/seed/nocloud/` and `nocloud-net/`, then a filesystem labelled
//!    `cidata`/`CIDATA` (vfat or iso9660), mounted read-only for the read.
//! 4. `configdrive`: `/var/lib/cloud/seed/config_drive/`, then a filesystem labelled
//!    `config-2`/`CONFIG-2`: `openstack/latest/user_data` and `meta_data.json`.
//! 5. `ec2`: IMDSv2 (token, then `/latest/user-data`).
//! 6. `gce`: `/computeMetadata/v1/instance/attributes/user-data` (`Metadata-Flavor: Google`).
//! 7. `azure`: IMDS `userData` (base64), else `CustomData` of `ovf-env.xml` on the
//!    provisioning media.
//! 8. `openstack`: the metadata service's `/openstack/latest/user_data`.
//!
//! `--datasource NAME` probes only that source; `--user-data PATH|URL` reads only that.
//! Metadata services are retried with capped, jittered backoff inside one total deadline shared
//! by the whole probe (the network may come up late at boot); a service that never answers
//! counts as absent, one that answers with errors until the deadline counts as broken.
//!
//! # Formats
//!
//! See [`decode`]: gzip, MIME multipart (cloud-init style), `#cloud-config` with a `kubeboot:`
//! key, and plain multi-document kubeadm YAML. Parts merge in order with [`merge`].

mod azure;
mod cloud;
mod cmdline;
mod format;
pub mod http;
mod local;
pub mod media;
mod mime;
mod seed;
mod source;

use std::fmt;
use std::net::IpAddr;

pub use format::{
    CLOUD_CONFIG_KEY, DecodedDocuments, Limits, MAX_DEPTH, MAX_DOCUMENTS, MAX_PARTS, MAX_SIZE,
    YAML_TYPES, decode, decode_with_limits, merge,
};
pub use source::{
    Context, PROBE_ORDER, Selection, Source, SourceEnv, load, probe, source_by_name, sources,
};

use crate::ExitCode;
use crate::config::RawDocument;

/// One piece of user-data as a source delivered it, before decoding.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// Where it came from, for messages: `ec2 http://169.254.169.254/latest/user-data`.
    pub origin: String,
    pub bytes: Vec<u8>,
}

/// User-data can carry bootstrap tokens and keys: Debug shows only its origin and size.
impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({}, {} bytes)", self.origin, self.bytes.len())
    }
}

/// Facts about the instance some sources know; defaults for the node name and the advertise
/// address, never overriding the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaData {
    pub hostname: Option<String>,
    pub local_ipv4: Option<IpAddr>,
}

impl MetaData {
    /// A hostname a source reported, if it looks like a DNS name; otherwise logged and dropped
    /// (the node name then falls back to the configuration or the machine's hostname).
    pub(crate) fn checked_hostname(value: &str, origin: &str) -> Option<String> {
        let value = value.trim();
        let plausible = !value.is_empty()
            && value.len() <= 253
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !plausible {
            log::warn!("[user-data] Ignoring hostname {value:.64?} from {origin}: not a DNS name");
            return None;
        }
        Some(value.to_string())
    }

    /// An IPv4 address a source reported; otherwise logged and dropped.
    pub(crate) fn checked_ipv4(value: &str, origin: &str) -> Option<IpAddr> {
        match value.trim().parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Some(IpAddr::V4(ip)),
            Err(_) => {
                log::warn!(
                    "[user-data] Ignoring local IPv4 {value:.64?} from {origin}: not an IPv4 address"
                );
                None
            }
        }
    }
}

/// What a source found: its parts in merge order, and the meta-data it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// The source's name as in [`PROBE_ORDER`] (`user-data` for `--user-data`).
    pub source: &'static str,
    pub parts: Vec<Blob>,
    pub meta: MetaData,
}

/// The decoded result: one merged document per kind, and the meta-data.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub source: &'static str,
    pub documents: Vec<RawDocument>,
    pub meta: MetaData,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every source was tried and none had user-data.
    #[error(
        "no user-data found (tried {tried}); provide kubeadm configuration in /etc/kubeboot/user-data, \
         a cidata or config-2 disk, the cloud's user-data, or pass --user-data"
    )]
    NoUserData { tried: String },
    /// User-data was found, but none of it is for kubeboot (only scripts or other cloud-config).
    #[error(
        "user-data from {origin} holds no kubeboot configuration ({skipped} part(s) left to \
         cloud-init); add kubeadm YAML documents, or a #cloud-config with a top-level `kubeboot:` key"
    )]
    NothingForKubeboot { origin: String, skipped: usize },
    /// The user-data is malformed; retrying will not help.
    #[error("invalid user-data in {origin}: {reason}")]
    Invalid { origin: String, reason: String },
    /// A network source is present but failing (server errors until the deadline, refused
    /// credentials) or an explicitly given URL cannot be fetched; retrying may help.
    #[error("{datasource}: {what}: {reason}; {hint}")]
    Unavailable {
        datasource: &'static str,
        what: String,
        reason: String,
        hint: &'static str,
    },
    /// A local source is present but cannot be read (I/O error, media that does not mount).
    #[error("{datasource}: cannot read {what}: {reason}")]
    Local {
        datasource: &'static str,
        what: String,
        reason: String,
    },
    /// Bad `--datasource` / `--user-data` arguments.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::NoUserData { .. } | Error::NothingForKubeboot { .. } => ExitCode::NoUserData,
            Error::Invalid { .. } => ExitCode::Config,
            Error::Unavailable { .. } => ExitCode::Cluster,
            Error::Local { .. } => ExitCode::Failure,
            Error::Usage(_) => ExitCode::Usage,
        }
    }

    pub(crate) fn invalid(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            origin: origin.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_debug_never_shows_the_bytes() {
        let blob = Blob {
            origin: "local /etc/kubeboot/user-data".into(),
            bytes: b"token: abcdef.0123456789abcdef".to_vec(),
        };
        let text = format!("{blob:?}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("30 bytes"), "{text}");
    }

    #[test]
    fn meta_data_values_are_checked() {
        assert_eq!(
            MetaData::checked_hostname(" ip-10-0-0-1.ec2.internal\n", "t").as_deref(),
            Some("ip-10-0-0-1.ec2.internal")
        );
        assert_eq!(MetaData::checked_hostname("a b", "t"), None);
        assert_eq!(MetaData::checked_hostname("", "t"), None);
        assert_eq!(
            MetaData::checked_ipv4("10.0.0.1\n", "t"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(MetaData::checked_ipv4("fd00::1", "t"), None);
    }

    #[test]
    fn exit_codes_follow_the_documented_classes() {
        let no = Error::NoUserData {
            tried: "local".into(),
        };
        assert_eq!(no.exit_code(), ExitCode::NoUserData);
        assert_eq!(Error::invalid("x", "y").exit_code(), ExitCode::Config);
        let broken = Error::Unavailable {
            datasource: "ec2",
            what: "GET x".into(),
            reason: "HTTP 500".into(),
            hint: "check",
        };
        assert_eq!(broken.exit_code(), ExitCode::Cluster);
    }
}

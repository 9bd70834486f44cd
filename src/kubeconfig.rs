//! kubeconfig files: the v1 `Config` format (parse, build, write), and the `kubeconfig` phase
//! of `kubeadm init` (`phases/kubeconfig/kubeconfig.go`): admin.conf, super-admin.conf,
//! kubelet.conf, controller-manager.conf and scheduler.conf, each with an embedded client
//! certificate signed by the cluster CA.

use std::fmt;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use log::{info, warn};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::ExitCode;
use crate::config::model::{ApiEndpoint, ClusterConfiguration, InitConfiguration};
use crate::config::net::join_host_port;
use crate::fs::{FsError, Root, mode};
use crate::pki::{self, CertConfig, Certificate, ExtKeyUsage, Period};

/// kubeadm's `kubeconfig` sub-phases, in order (`kubeadm init phase kubeconfig <name>`).
pub const PHASES: &[&str] = &[
    "admin",
    "super-admin",
    "kubelet",
    "controller-manager",
    "scheduler",
];

/// Where kubeadm writes kubeconfig files (`kubeadmconstants.KubernetesDir`).
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Pki(#[from] pki::Error),
    #[error("unknown kubeconfig phase {0:?}; the phases are {phases}", phases = PHASES.join(", "))]
    UnknownPhase(String),
    #[error("invalid configuration, field {field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// The location only: a YAML error message could quote a token or key.
    #[error("{origin} is not a valid kubeconfig: {reason}")]
    Parse { origin: String, reason: String },
    #[error("could not serialize a kubeconfig: {0}")]
    Serialize(String),
    #[error(
        "{} exists already but its CA is not {}: it belongs to another cluster; remove it to have a new one written",
        path.display(),
        ca.display()
    )]
    WrongCa { path: PathBuf, ca: PathBuf },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{} is missing: {why}", path.display())]
    Missing { path: PathBuf, why: String },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Fs(_) => ExitCode::Filesystem,
            Error::Pki(e) => e.exit_code(),
            Error::UnknownPhase(_) => ExitCode::Usage,
            Error::Serialize(_) => ExitCode::Failure,
            Error::InvalidConfig { .. }
            | Error::Parse { .. }
            | Error::WrongCa { .. }
            | Error::Invalid { .. }
            | Error::Missing { .. } => ExitCode::Config,
        }
    }
}

/// A kubeconfig (`apiVersion: v1`, `kind: Config`). Fields are declared in the order Go's
/// YAML writer sorts them, so files look like kubeadm's; unknown fields are ignored on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeConfig {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        serialize_with = "empty_as_null"
    )]
    pub clusters: Vec<NamedCluster>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        serialize_with = "empty_as_null"
    )]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub preferences: Preferences,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        serialize_with = "empty_as_null"
    )]
    pub users: Vec<NamedAuthInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    #[serde(
        rename = "certificate-authority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<String>,
    /// PEM bytes (base64 in the file).
    #[serde(
        rename = "certificate-authority-data",
        default,
        serialize_with = "base64_bytes::serialize",
        deserialize_with = "base64_bytes::certificate_authority_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority_data: Option<Vec<u8>>,
    #[serde(
        rename = "insecure-skip-tls-verify",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub insecure_skip_tls_verify: bool,
    #[serde(rename = "proxy-url", default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub server: String,
    #[serde(
        rename = "tls-server-name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default)]
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedAuthInfo {
    #[serde(default)]
    pub name: String,
    pub user: AuthInfo,
}

/// Client credentials. Debug output shows which are set, never their values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    #[serde(
        rename = "client-certificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate: Option<String>,
    #[serde(
        rename = "client-certificate-data",
        default,
        serialize_with = "base64_bytes::serialize",
        deserialize_with = "base64_bytes::client_certificate_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate_data: Option<Vec<u8>>,
    #[serde(
        rename = "client-key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key: Option<String>,
    #[serde(
        rename = "client-key-data",
        default,
        serialize_with = "base64_bytes::serialize",
        deserialize_with = "base64_bytes::client_key_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key_data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |present: bool| if present { "<set>" } else { "<unset>" };
        f.debug_struct("AuthInfo")
            .field("client_certificate", &self.client_certificate)
            .field(
                "client_certificate_data",
                &set(self.client_certificate_data.is_some()),
            )
            .field("client_key", &self.client_key)
            .field("client_key_data", &set(self.client_key_data.is_some()))
            .field("token", &set(self.token.is_some()))
            .field("token_file", &self.token_file)
            .finish()
    }
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Go writes a nil list as `null` (as in the cluster-info ConfigMap).
fn empty_as_null<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// The `[]byte` fields of kubeconfig files: standard base64.
const BASE64_FIELDS: [&str; 3] = [
    "certificate-authority-data",
    "client-certificate-data",
    "client-key-data",
];

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn certificate_authority_data<'de, D>(d: D) -> Result<Option<Vec<u8>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        decode(d, BASE64_FIELDS[0])
    }

    pub fn client_certificate_data<'de, D>(d: D) -> Result<Option<Vec<u8>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        decode(d, BASE64_FIELDS[1])
    }

    pub fn client_key_data<'de, D>(d: D) -> Result<Option<Vec<u8>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        decode(d, BASE64_FIELDS[2])
    }

    /// The error names the field only: the value may be key material.
    fn decode<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let compact: String = text.split_whitespace().collect();
        STANDARD
            .decode(compact.as_bytes())
            .map(Some)
            .map_err(|_| serde::de::Error::custom(not_base64(field)))
    }
}

fn not_base64(field: &str) -> String {
    format!("{field} is not valid base64")
}

/// Parses a kubeconfig. `null` lists are accepted (cluster-info has `contexts: null`).
pub fn parse(yaml: &str) -> Result<KubeConfig, Error> {
    parse_from(yaml, "the kubeconfig")
}

/// The error gives the location and, for a bad `*-data` field, its name; never the message of
/// the YAML parser, which may quote a token or key.
fn parse_from(yaml: &str, origin: &str) -> Result<KubeConfig, Error> {
    serde_yaml::from_str(yaml).map_err(|e| {
        let message = e.to_string();
        let what = BASE64_FIELDS
            .iter()
            .map(|field| not_base64(field))
            .find(|ours| message.contains(ours.as_str()));
        let reason = match (what, e.location()) {
            (Some(what), Some(at)) => {
                format!("{what} (line {}, column {})", at.line(), at.column())
            }
            (Some(what), None) => what,
            (None, Some(at)) => format!("YAML error at line {}, column {}", at.line(), at.column()),
            (None, None) => "not a kubeconfig document".to_string(),
        };
        Error::Parse {
            origin: origin.to_string(),
            reason,
        }
    })
}

impl KubeConfig {
    /// kubeadm's `CreateBasic`: one cluster, one context `<user>@<cluster>` made current, and
    /// no credentials yet.
    pub fn basic(server: &str, cluster_name: &str, user_name: &str, ca_pem: &[u8]) -> Self {
        let context_name = format!("{user_name}@{cluster_name}");
        KubeConfig {
            api_version: "v1".to_string(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority_data: Some(ca_pem.to_vec()),
                    server: server.to_string(),
                    ..Cluster::default()
                },
                name: cluster_name.to_string(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: cluster_name.to_string(),
                    namespace: None,
                    user: user_name.to_string(),
                },
                name: context_name.clone(),
            }],
            current_context: context_name,
            kind: "Config".to_string(),
            preferences: Preferences {},
            users: vec![],
        }
    }

    /// Sets the credentials of `user_name` (added when missing).
    pub fn with_user(mut self, user_name: &str, user: AuthInfo) -> Self {
        self.users.retain(|u| u.name != user_name);
        self.users.push(NamedAuthInfo {
            name: user_name.to_string(),
            user,
        });
        self
    }

    /// kubeadm's `CreateWithCerts`: the client certificate and key embedded.
    pub fn with_embedded_client_cert(
        server: &str,
        cluster_name: &str,
        user_name: &str,
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Self {
        Self::basic(server, cluster_name, user_name, ca_pem).with_user(
            user_name,
            AuthInfo {
                client_certificate_data: Some(cert_pem.to_vec()),
                client_key_data: Some(key_pem.to_vec()),
                ..AuthInfo::default()
            },
        )
    }

    /// A kubeconfig pointing at certificate and key files, as the kubelet's after TLS bootstrap
    /// (`/var/lib/kubelet/pki/kubelet-client-current.pem` for both).
    pub fn with_client_cert_files(
        server: &str,
        cluster_name: &str,
        user_name: &str,
        ca_pem: &[u8],
        cert_path: &str,
        key_path: &str,
    ) -> Self {
        Self::basic(server, cluster_name, user_name, ca_pem).with_user(
            user_name,
            AuthInfo {
                client_certificate: Some(cert_path.to_string()),
                client_key: Some(key_path.to_string()),
                ..AuthInfo::default()
            },
        )
    }

    /// kubeadm's `CreateWithToken` (bootstrap-kubelet.conf).
    pub fn with_token(
        server: &str,
        cluster_name: &str,
        user_name: &str,
        ca_pem: &[u8],
        token: &str,
    ) -> Self {
        Self::basic(server, cluster_name, user_name, ca_pem).with_user(
            user_name,
            AuthInfo {
                token: Some(token.to_string()),
                ..AuthInfo::default()
            },
        )
    }

    pub fn current(&self) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| &c.context)
    }

    /// The cluster of the current context.
    pub fn current_cluster(&self) -> Option<&Cluster> {
        let name = &self.current()?.cluster;
        self.clusters
            .iter()
            .find(|c| &c.name == name)
            .map(|c| &c.cluster)
    }

    /// The credentials of the current context.
    pub fn current_user(&self) -> Option<&AuthInfo> {
        let name = &self.current()?.user;
        self.users.iter().find(|u| &u.name == name).map(|u| &u.user)
    }

    pub fn to_yaml(&self) -> Result<String, Error> {
        serde_yaml::to_string(self).map_err(|e| Error::Serialize(e.to_string()))
    }
}

/// Reads and parses a kubeconfig file; `Ok(None)` when it does not exist.
pub fn load(root: &Root, path: &Path) -> Result<Option<KubeConfig>, Error> {
    let Some(data) = root.read_optional(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8(data).map_err(|_| Error::Parse {
        origin: path.display().to_string(),
        reason: "not UTF-8 text".to_string(),
    })?;
    parse_from(&text, &path.display().to_string()).map(Some)
}

/// Writes a kubeconfig as clientcmd does: mode 0600.
pub fn write(root: &Root, path: &Path, config: &KubeConfig) -> Result<(), Error> {
    root.write_atomic(path, config.to_yaml()?.as_bytes(), mode::PRIVATE)?;
    Ok(())
}

/// One file of the phase (kubeadm's `kubeConfigSpec`).
struct Spec {
    phase: &'static str,
    file: &'static str,
    client_name: String,
    organization: Option<&'static str>,
    /// controller-manager and scheduler talk to the local API server; the rest use the
    /// controlPlaneEndpoint when there is one.
    local: bool,
}

fn specs(cfg: &InitConfiguration) -> [Spec; 5] {
    let spec = |phase, file, client_name: &str, organization, local| Spec {
        phase,
        file,
        client_name: client_name.to_string(),
        organization,
        local,
    };
    [
        spec(
            "admin",
            "admin.conf",
            "kubernetes-admin",
            Some(pki::CLUSTER_ADMINS_GROUP),
            false,
        ),
        spec(
            "super-admin",
            "super-admin.conf",
            "kubernetes-super-admin",
            Some(pki::SYSTEM_PRIVILEGED_GROUP),
            false,
        ),
        spec(
            "kubelet",
            "kubelet.conf",
            &format!("system:node:{}", cfg.node_registration.name),
            Some("system:nodes"),
            false,
        ),
        spec(
            "controller-manager",
            "controller-manager.conf",
            "system:kube-controller-manager",
            None,
            true,
        ),
        spec(
            "scheduler",
            "scheduler.conf",
            "system:kube-scheduler",
            None,
            true,
        ),
    ]
}

/// kubeadm's `formatURL`: `https://host:port`, IPv6 hosts in brackets.
fn https_url(host: &str, port: u16) -> String {
    format!("https://{}", join_host_port(host, port))
}

/// kubeadm's `GetLocalAPIEndpoint`: `https://` + the advertise address and bind port.
pub fn local_api_endpoint(local: &ApiEndpoint) -> Result<String, Error> {
    let ip = local
        .advertise_address
        .ok_or_else(|| Error::InvalidConfig {
            field: "localAPIEndpoint.advertiseAddress",
            reason: "no address is set and none was detected; set it to this node's IP".to_string(),
        })?;
    Ok(https_url(&ip.to_string(), local.bind_port))
}

/// kubeadm's `GetControlPlaneEndpoint`: `https://` + the controlPlaneEndpoint (its port, or the
/// local bind port) when set, else the local endpoint. The advertise address is needed either
/// way, as kubeadm checks it first.
pub fn control_plane_endpoint(
    cluster: &ClusterConfiguration,
    local: &ApiEndpoint,
) -> Result<String, Error> {
    let local_url = local_api_endpoint(local)?;
    let Some(endpoint) = cluster
        .control_plane_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
    else {
        return Ok(local_url);
    };
    let (host, port) = crate::config::validation::parse_host_port(endpoint).map_err(|reason| {
        Error::InvalidConfig {
            field: "controlPlaneEndpoint",
            reason,
        }
    })?;
    let bind_port = local.bind_port;
    if port.is_some_and(|p| p != bind_port) {
        warn!(
            "[endpoint] WARNING: port specified in controlPlaneEndpoint overrides bindPort in the controlplane address"
        );
    }
    Ok(https_url(&host, port.unwrap_or(bind_port)))
}

/// Runs kubeadm's `kubeconfig` phase (or the one sub-phase `only`) for `kubeadm init`.
/// Sub-phases in `cfg.skip_phases` (`kubeconfig`, `kubeconfig/<name>`) are skipped.
pub fn create_init_kubeconfigs(
    root: &Root,
    cfg: &InitConfiguration,
    only: Option<&str>,
) -> Result<(), Error> {
    create_init_kubeconfigs_at(root, cfg, only, OffsetDateTime::now_utc())
}

/// [`create_init_kubeconfigs`] with the clock injected (kubeadm's start time).
pub fn create_init_kubeconfigs_at(
    root: &Root,
    cfg: &InitConfiguration,
    only: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if let Some(name) = only.filter(|name| !PHASES.contains(name)) {
        return Err(Error::UnknownPhase(name.to_string()));
    }
    if only.is_none() {
        info!("[kubeconfig] Using kubeconfig folder {KUBERNETES_DIR:?}");
    }
    // All files share one validity, from kubeadm's start time.
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let phase = Phase::new(root, cfg, now)?;
    let ca = match pki::load_ca_at(root, &cfg.cluster.certificates_dir, "ca", now) {
        Ok(ca) => ca,
        // kubeadm's external CA mode: ca.crt without ca.key.
        Err(pki::Error::Missing { .. }) if phase.external_ca() => None,
        Err(e) => return Err(e.into()),
    };
    let Some(ca) = ca else {
        if phase.external_ca() {
            phase.validate_all()?;
            for spec in phase.selected(only) {
                info!(
                    "[kubeconfig] External CA mode: Using user provided {}",
                    spec.file
                );
            }
            return Ok(());
        }
        return Err(Error::Missing {
            path: phase.ca_path.clone(),
            why: "the CA is needed first (phase certs/ca)".to_string(),
        });
    };
    let validity = time::Duration::try_from(cfg.cluster.certificate_validity_period)
        .unwrap_or(time::Duration::MAX);
    let not_after = now
        .checked_add(validity)
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc());
    for spec in phase.selected(only) {
        let path = phase.path(spec);
        if phase.validate(spec, &path)? {
            info!(
                "[kubeconfig] Using existing kubeconfig file: {:?}",
                path.display().to_string()
            );
            continue;
        }
        let config = phase.build(spec, &ca, not_after)?;
        info!("[kubeconfig] Writing {:?} kubeconfig file", spec.file);
        write(root, &path, &config)?;
    }
    Ok(())
}

/// Checks, as kubeadm's `ValidateKubeconfigsForExternalCA`, that every kubeconfig exists and
/// names this cluster's CA. Needed when kubeboot has ca.crt but not ca.key.
pub fn validate_for_external_ca(root: &Root, cfg: &InitConfiguration) -> Result<(), Error> {
    Phase::new(root, cfg, OffsetDateTime::now_utc())?.validate_all()
}

struct Phase<'a> {
    root: &'a Root,
    cfg: &'a InitConfiguration,
    specs: [Spec; 5],
    ca_path: PathBuf,
    ca_cert: Option<Certificate>,
    control_plane: String,
    local: String,
    now: OffsetDateTime,
}

impl<'a> Phase<'a> {
    fn new(root: &'a Root, cfg: &'a InitConfiguration, now: OffsetDateTime) -> Result<Self, Error> {
        let ca_path = cfg.cluster.certificates_dir.join("ca.crt");
        Ok(Phase {
            root,
            cfg,
            specs: specs(cfg),
            ca_cert: pki::load_certificate(root, &ca_path)?,
            ca_path,
            control_plane: control_plane_endpoint(&cfg.cluster, &cfg.local_api_endpoint)?,
            local: local_api_endpoint(&cfg.local_api_endpoint)?,
            now,
        })
    }

    fn external_ca(&self) -> bool {
        self.ca_cert.is_some()
            && !self
                .root
                .exists(self.cfg.cluster.certificates_dir.join("ca.key"))
    }

    fn selected(&self, only: Option<&str>) -> impl Iterator<Item = &Spec> {
        self.specs.iter().filter(move |s| {
            only.is_none_or(|o| o == s.phase)
                && !self.cfg.skip_phases.iter().any(|skip| {
                    skip == "kubeconfig" || skip.strip_prefix("kubeconfig/") == Some(s.phase)
                })
        })
    }

    fn path(&self, spec: &Spec) -> PathBuf {
        Path::new(KUBERNETES_DIR).join(spec.file)
    }

    fn server(&self, spec: &Spec) -> &str {
        if spec.local {
            &self.local
        } else {
            &self.control_plane
        }
    }

    fn validate_all(&self) -> Result<(), Error> {
        for spec in &self.specs {
            let path = self.path(spec);
            if !self.validate(spec, &path)? {
                return Err(Error::Missing {
                    path,
                    why: format!(
                        "{} has no key (external CA mode), so kubeboot cannot create it: supply it",
                        self.ca_path.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// kubeadm's `validateKubeConfig`: `Ok(false)` when the file does not exist; an error
    /// when its current context is broken or its CA is another one; a warning when only the
    /// server differs. kubeboot also refuses an embedded client certificate that is expired
    /// or not signed by the CA, which kubeadm would leave for the components to trip on.
    fn validate(&self, spec: &Spec, path: &Path) -> Result<bool, Error> {
        let Some(current) = load(self.root, path)? else {
            return Ok(false);
        };
        let invalid = |reason: &str| Error::Invalid {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let Some(context) = current.current() else {
            return Err(invalid("its current-context is not one of its contexts"));
        };
        let cluster = current.current_cluster().ok_or_else(|| {
            invalid(&format!(
                "the cluster {:?} of its current context is not one of its clusters",
                context.cluster
            ))
        })?;
        let ca_cert = self.ca_cert.as_ref().ok_or_else(|| Error::Missing {
            path: self.ca_path.clone(),
            why: format!("it is needed to check {}", path.display()),
        })?;
        let ca_pem = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => Some(data.clone()),
            (None, Some(file)) => self.root.read_optional(file)?,
            (None, None) => None,
        };
        let same_ca = ca_pem
            .and_then(|pem| Certificate::from_pem(&pem).ok())
            .is_some_and(|c| c.der() == ca_cert.der());
        if !same_ca {
            return Err(Error::WrongCa {
                path: path.to_path_buf(),
                ca: self.ca_path.clone(),
            });
        }
        let expected_server = self.server(spec);
        if cluster.server != expected_server {
            warn!(
                "[kubeconfig] WARNING: a kubeconfig file {:?} exists already but has an unexpected API Server URL: expected: {expected_server}, got: {}",
                path.display().to_string(),
                cluster.server
            );
        }
        if let Some(cert_pem) = current
            .current_user()
            .and_then(|u| u.client_certificate_data.as_ref())
        {
            let cert = Certificate::from_pem(cert_pem)
                .map_err(|e| invalid(&format!("client-certificate-data: {e}")))?;
            if !cert.is_signed_by(ca_cert) {
                return Err(invalid(&format!(
                    "its client certificate is not signed by the CA in {}",
                    self.ca_path.display()
                )));
            }
            if cert.period(self.now) == Period::Expired {
                return Err(invalid(&format!(
                    "its client certificate expired on {}",
                    cert.not_after()
                )));
            }
        }
        Ok(true)
    }

    /// kubeadm's `buildKubeConfigFromSpec`: a new key and client certificate, embedded.
    fn build(
        &self,
        spec: &Spec,
        ca: &pki::Ca,
        not_after: OffsetDateTime,
    ) -> Result<KubeConfig, Error> {
        let key = pki::generate_key(self.cfg.cluster.encryption_algorithm)?;
        let config = CertConfig {
            common_name: spec.client_name.clone(),
            organization: spec.organization.iter().map(|o| o.to_string()).collect(),
            alt_names: pki::AltNames::default(),
            usages: vec![ExtKeyUsage::ClientAuth],
            // As kubeadm's NewSignedCert without an explicit NotBefore: the CA's.
            not_before: ca.cert().not_before(),
            not_after,
        };
        let cert = ca
            .issue(&config, &key)
            .map_err(|source| pki::Error::Issue {
                what: format!("{} client", spec.file),
                source,
            })?;
        Ok(KubeConfig::with_embedded_client_cert(
            self.server(spec),
            &self.cfg.cluster.cluster_name,
            &spec.client_name,
            ca.cert().to_pem().as_bytes(),
            cert.to_pem().as_bytes(),
            key.to_pem().as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER_INFO: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tCg==\n    server: https://127.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n";

    #[test]
    fn parses_cluster_info_with_null_lists_and_writes_them_back_as_null() {
        let config = parse(CLUSTER_INFO).unwrap();
        assert_eq!(config.clusters.len(), 1);
        assert_eq!(config.clusters[0].name, "");
        assert_eq!(config.clusters[0].cluster.server, "https://127.0.0.1:6443");
        assert_eq!(
            config.clusters[0]
                .cluster
                .certificate_authority_data
                .as_deref(),
            Some(&b"---\n"[..])
        );
        assert!(config.contexts.is_empty() && config.users.is_empty());
        let yaml = config.to_yaml().unwrap();
        assert!(yaml.contains("contexts: null\n"), "{yaml}");
        assert!(yaml.contains("users: null\n"), "{yaml}");
        assert_eq!(parse(&yaml).unwrap(), config);
    }

    #[test]
    fn builders_make_kubeadm_names_and_yaml_order() {
        let config = KubeConfig::with_embedded_client_cert(
            "https://10.0.0.1:6443",
            "kubernetes",
            "kubernetes-admin",
            b"CA",
            b"CERT",
            b"KEY",
        );
        assert_eq!(config.current_context, "kubernetes-admin@kubernetes");
        assert_eq!(
            config.current_cluster().unwrap().server,
            "https://10.0.0.1:6443"
        );
        let yaml = config.to_yaml().unwrap();
        let keys: Vec<&str> = yaml
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "apiVersion",
                "clusters",
                "contexts",
                "current-context",
                "kind",
                "preferences",
                "users"
            ]
        );
        assert!(yaml.contains("client-key-data: S0VZ\n"), "{yaml}");
        assert_eq!(parse(&yaml).unwrap(), config);
    }

    #[test]
    fn file_and_token_credentials() {
        let kubelet = KubeConfig::with_client_cert_files(
            "https://cp:6443",
            "default-cluster",
            "default-auth",
            b"CA",
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
        );
        let yaml = kubelet.to_yaml().unwrap();
        assert!(
            yaml.contains("client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem")
        );
        assert!(!yaml.contains("client-certificate-data"));
        let bootstrap = KubeConfig::with_token(
            "https://cp:6443",
            "kubernetes",
            "tls-bootstrap-token-user",
            b"CA",
            "abcdef.0123456789abcdef",
        );
        let user = bootstrap.current_user().unwrap();
        assert_eq!(user.token.as_deref(), Some("abcdef.0123456789abcdef"));
        assert!(!format!("{bootstrap:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let secret = "users:\n- name: x\n  user:\n    token: [supersecret\n";
        let err = parse(secret).unwrap_err().to_string();
        assert!(!err.contains("supersecret"), "{err}");
        let bad_b64 = "users:\n- name: x\n  user:\n    client-key-data: \"!!notb64secret\"\n";
        let err = parse(bad_b64).unwrap_err().to_string();
        assert!(!err.contains("notb64secret"), "{err}");
        assert!(err.contains("client-key-data is not valid base64"), "{err}");
    }

    #[test]
    fn endpoints_as_kubeadm_formats_them() {
        let mut cfg = test_config();
        assert_eq!(
            local_api_endpoint(&cfg.local_api_endpoint).unwrap(),
            "https://192.168.0.10:6443"
        );
        assert_eq!(
            control_plane_endpoint(&cfg.cluster, &cfg.local_api_endpoint).unwrap(),
            "https://192.168.0.10:6443"
        );
        cfg.cluster.control_plane_endpoint = Some("cp.example.com".into());
        assert_eq!(
            control_plane_endpoint(&cfg.cluster, &cfg.local_api_endpoint).unwrap(),
            "https://cp.example.com:6443"
        );
        cfg.cluster.control_plane_endpoint = Some("[fd00::1]:443".into());
        assert_eq!(
            control_plane_endpoint(&cfg.cluster, &cfg.local_api_endpoint).unwrap(),
            "https://[fd00::1]:443"
        );
        cfg.local_api_endpoint.advertise_address = Some("fd00::2".parse().unwrap());
        assert_eq!(
            local_api_endpoint(&cfg.local_api_endpoint).unwrap(),
            "https://[fd00::2]:6443"
        );
        cfg.cluster.control_plane_endpoint = Some("Bad_Host".into());
        assert_eq!(
            control_plane_endpoint(&cfg.cluster, &cfg.local_api_endpoint)
                .unwrap_err()
                .exit_code(),
            ExitCode::Config
        );
    }

    #[test]
    fn endpoint_forms_as_kubeadm_builds_them() {
        let mut cfg = test_config();
        let url =
            |cfg: &InitConfiguration| control_plane_endpoint(&cfg.cluster, &cfg.local_api_endpoint);
        for (cpe, expected) in [
            ("", "https://192.168.0.10:6443"),
            ("lb.example.com", "https://lb.example.com:6443"),
            ("lb.example.com:443", "https://lb.example.com:443"),
            ("10.0.0.1:8443", "https://10.0.0.1:8443"),
            ("fd00::1", "https://[fd00::1]:6443"),
            ("[fd00::1]:443", "https://[fd00::1]:443"),
        ] {
            cfg.cluster.control_plane_endpoint = Some(cpe.into());
            assert_eq!(url(&cfg).unwrap(), expected, "{cpe}");
        }
        for bad in [
            "lb.example.com:0",
            "lb.example.com:x",
            "Bad_Host",
            "a b:1",
            "[fd00::1",
        ] {
            cfg.cluster.control_plane_endpoint = Some(bad.into());
            assert!(url(&cfg).is_err(), "{bad}");
        }
        cfg.cluster.control_plane_endpoint = None;
        cfg.local_api_endpoint.advertise_address = None;
        assert!(matches!(
            url(&cfg),
            Err(Error::InvalidConfig {
                field: "localAPIEndpoint.advertiseAddress",
                ..
            })
        ));
    }

    fn test_config() -> InitConfiguration {
        use crate::config::model::*;
        use std::time::Duration;
        let mut cfg = crate::config::defaults::init_configuration();
        cfg.cluster.etcd = Etcd::External(ExternalEtcd {
            endpoints: vec![],
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
        });
        cfg.cluster.encryption_algorithm = EncryptionAlgorithm::EcdsaP256;
        cfg.cluster.certificate_validity_period = Duration::from_secs(3600);
        cfg.cluster.ca_certificate_validity_period = Duration::from_secs(3600);
        cfg.bootstrap_tokens = vec![];
        cfg.node_registration.name = "node1".into();
        cfg.local_api_endpoint.advertise_address = Some("192.168.0.10".parse().unwrap());
        cfg
    }
}

//! kubeadm's internal (version-independent) configuration, as kubeadm's `kubeadmapi` package
//! holds it. `v1beta3` and `v1beta4` documents decode into these types; defaults are applied
//! once (see `defaults.rs`) and every phase reads only these.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::net::CidrList;
use super::version::KubeVersion;

/// One `--name=value` argument for a component, in order (v1beta4 `extraArgs` list; v1beta3
/// maps become sorted lists, as kubeadm converts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

/// An extra hostPath volume for a static Pod (`extraVolumes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathMount {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    pub read_only: bool,
    /// `k8s.io/api/core/v1` HostPathType, e.g. `DirectoryOrCreate`; empty = unset.
    pub path_type: String,
}

/// An environment variable for a static Pod container (v1beta4 `extraEnvs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlPlaneComponent {
    pub extra_args: Vec<Arg>,
    pub extra_volumes: Vec<HostPathMount>,
    pub extra_envs: Vec<EnvVar>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiServer {
    pub component: ControlPlaneComponent,
    pub cert_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networking {
    /// One or two (dual-stack) CIDRs; default `10.96.0.0/12`.
    pub service_subnet: CidrList,
    /// Empty when unset.
    pub pod_subnet: Option<CidrList>,
    /// Default `cluster.local`.
    pub dns_domain: String,
}

/// Image repository and tag overrides for one component (`imageRepository`, `imageTag`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMeta {
    pub image_repository: Option<String>,
    pub image_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEtcd {
    pub image: ImageMeta,
    /// Default `/var/lib/etcd`.
    pub data_dir: PathBuf,
    pub extra_args: Vec<Arg>,
    pub extra_envs: Vec<EnvVar>,
    pub server_cert_sans: Vec<String>,
    pub peer_cert_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEtcd {
    pub endpoints: Vec<String>,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Etcd {
    Local(LocalEtcd),
    External(ExternalEtcd),
}

/// v1beta4 `encryptionAlgorithm`. v1beta3 has no such field: always RSA-2048.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptionAlgorithm {
    #[default]
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
    /// `ECDSA-P384` (kubeadm ≥ 1.31 accepts it).
    EcdsaP384,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dns {
    pub disabled: bool,
    pub image: ImageMeta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfiguration {
    pub kubernetes_version: KubeVersion,
    /// Default `kubernetes`.
    pub cluster_name: String,
    /// `host` or `host:port`; `None` when unset.
    pub control_plane_endpoint: Option<String>,
    pub networking: Networking,
    pub api_server: ApiServer,
    pub controller_manager: ControlPlaneComponent,
    pub scheduler: ControlPlaneComponent,
    pub etcd: Etcd,
    pub dns: Dns,
    pub proxy_disabled: bool,
    /// Default `/etc/kubernetes/pki`.
    pub certificates_dir: PathBuf,
    /// Default `registry.k8s.io`.
    pub image_repository: String,
    pub feature_gates: BTreeMap<String, bool>,
    pub encryption_algorithm: EncryptionAlgorithm,
    /// Leaf certificates; default 1 year (8760h).
    pub certificate_validity_period: Duration,
    /// CAs; default 10 years (87600h).
    pub ca_certificate_validity_period: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// Lowercased hostname when unset (kubeadm's default).
    pub name: String,
    /// Default `unix:///var/run/containerd/containerd.sock`.
    pub cri_socket: String,
    /// `None` = kubeadm's default (control-plane taint on control-plane nodes, none on workers);
    /// `Some(vec![])` = explicitly no taints.
    pub taints: Option<Vec<Taint>>,
    pub kubelet_extra_args: Vec<Arg>,
    pub ignore_preflight_errors: Vec<String>,
    /// `Always`, `IfNotPresent` (default) or `Never`.
    pub image_pull_policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// `None` until resolved from the flag, the config, or the host's default route address.
    pub advertise_address: Option<IpAddr>,
    /// Default 6443.
    pub bind_port: u16,
}

/// A bootstrap token (`abcdef.0123456789abcdef`). The secret never reaches Debug or Display.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapTokenString {
    pub id: String,
    secret: String,
}

impl BootstrapTokenString {
    pub fn new(id: String, secret: String) -> Self {
        BootstrapTokenString { id, secret }
    }
    /// The secret half. Callers must not log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }
    /// `id.secret`, for the Authorization header and the printed join command only.
    pub fn full(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

impl std::fmt::Debug for BootstrapTokenString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// `None` = generate one at init.
    pub token: Option<BootstrapTokenString>,
    pub description: String,
    /// Default 24h; `Some(ZERO)` = never expires.
    pub ttl: Option<Duration>,
    /// RFC 3339 expiration; takes precedence over ttl.
    pub expires: Option<String>,
    /// Default `["signing", "authentication"]`.
    pub usages: Vec<String>,
    /// Default `["system:bootstrappers:kubeadm:default-node-token"]`.
    pub groups: Vec<String>,
}

/// v1beta4 `timeouts` (v1beta3's `apiServer.timeoutForControlPlane` and
/// `discovery.timeout` map onto these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub control_plane_component_health_check: Duration,
    pub kubelet_health_check: Duration,
    pub kubernetes_api_call: Duration,
    pub etcd_api_call: Duration,
    pub tls_bootstrap: Duration,
    pub discovery: Duration,
    pub upgrade_manifests: Duration,
}

impl Default for Timeouts {
    /// kubeadm v1beta4 defaults.
    fn default() -> Self {
        Timeouts {
            control_plane_component_health_check: Duration::from_secs(4 * 60),
            kubelet_health_check: Duration::from_secs(4 * 60),
            kubernetes_api_call: Duration::from_secs(60),
            etcd_api_call: Duration::from_secs(2 * 60),
            tls_bootstrap: Duration::from_secs(5 * 60),
            discovery: Duration::from_secs(5 * 60),
            upgrade_manifests: Duration::from_secs(5 * 60),
        }
    }
}

/// The user's KubeletConfiguration document, as a YAML mapping. kubeadm's defaults are merged
/// under it when the kubelet config is written; the kubelet validates its own fields, so
/// unknown fields are warned about, not rejected (as kubeadm does for component configs).
pub type KubeletConfigDoc = serde_yaml::Mapping;

/// `Debug` shows whether a certificate key is set, never the key.
#[derive(Clone, PartialEq)]
pub struct InitConfiguration {
    pub cluster: ClusterConfiguration,
    pub bootstrap_tokens: Vec<BootstrapToken>,
    pub node_registration: NodeRegistration,
    pub local_api_endpoint: ApiEndpoint,
    /// Hex of 32 bytes for upload-certs; secret.
    pub certificate_key: Option<String>,
    pub upload_certs: bool,
    pub skip_phases: Vec<String>,
    pub timeouts: Timeouts,
    pub kubelet: KubeletConfigDoc,
    /// The user's KubeProxyConfiguration document; empty when none was given.
    pub kube_proxy: KubeProxyConfigDoc,
    /// `--dry-run` or v1beta4 `dryRun`: write files under the root, change nothing else.
    pub dry_run: bool,
}

#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapTokenDiscovery {
    /// `host:port` of the API server to fetch cluster-info from.
    pub api_server_endpoint: String,
    pub token: BootstrapTokenString,
    pub ca_cert_hashes: Vec<String>,
    pub unsafe_skip_ca_verification: bool,
}

impl std::fmt::Debug for BootstrapTokenDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapTokenDiscovery")
            .field("api_server_endpoint", &self.api_server_endpoint)
            .field("token", &self.token)
            .field("ca_cert_hashes", &self.ca_cert_hashes)
            .field(
                "unsafe_skip_ca_verification",
                &self.unsafe_skip_ca_verification,
            )
            .finish()
    }
}

/// `Debug` shows a discovery-file URL without the credentials a presigned one carries.
#[derive(Clone, PartialEq, Eq)]
pub enum Discovery {
    BootstrapToken(BootstrapTokenDiscovery),
    /// A kubeconfig file path or an https URL (kubeadm's `discovery.file.kubeConfigPath`).
    File(String),
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Discovery::BootstrapToken(td) => f.debug_tuple("BootstrapToken").field(td).finish(),
            Discovery::File(location) => f
                .debug_tuple("File")
                .field(&crate::logging::redact_url(location))
                .finish(),
        }
    }
}

/// `Debug` shows whether a certificate key is set, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinControlPlane {
    pub local_api_endpoint: ApiEndpoint,
    pub certificate_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinConfiguration {
    pub node_registration: NodeRegistration,
    pub ca_cert_path: PathBuf,
    pub discovery: Discovery,
    /// The token used for TLS bootstrap; defaults to the discovery token.
    pub tls_bootstrap_token: Option<BootstrapTokenString>,
    pub control_plane: Option<JoinControlPlane>,
    pub skip_phases: Vec<String>,
    pub timeouts: Timeouts,
    /// `--dry-run` or v1beta4 `dryRun`.
    pub dry_run: bool,
}

/// The user's KubeProxyConfiguration document (`kubeproxy.config.k8s.io/v1alpha1`), kept as a
/// YAML mapping for the kube-proxy addon; kube-proxy validates its own fields.
pub type KubeProxyConfigDoc = serde_yaml::Mapping;

/// What `kubeboot boot` should do on this machine (`BootConfiguration.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BootMode {
    Init,
    Join,
    /// The designated `initializer` runs init, every other node joins (default).
    #[default]
    Auto,
}

/// Upper bounds on the slow steps of `kubeboot boot`; `None` = the kubeadm timeout applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootDeadlines {
    pub discovery: Option<Duration>,
    pub tls_bootstrap: Option<Duration>,
    pub total: Option<Duration>,
}

/// kubeboot's own document (`kubeboot.io/v1alpha1`, kind `BootConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfiguration {
    pub mode: BootMode,
    /// Node name or IP address of the node that initialises the cluster in `auto` mode.
    pub initializer: Option<String>,
    pub deadlines: BootDeadlines,
    /// Start (or restart) the kubelet service at the end (default true).
    pub start_kubelet: bool,
}

impl Default for BootConfiguration {
    fn default() -> Self {
        BootConfiguration {
            mode: BootMode::Auto,
            initializer: None,
            deadlines: BootDeadlines::default(),
            start_kubelet: true,
        }
    }
}

/// How Debug shows an optional secret: whether it is set, never its value.
pub(crate) fn redacted(secret: &Option<String>) -> &'static str {
    if secret.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

impl std::fmt::Debug for InitConfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitConfiguration")
            .field("cluster", &self.cluster)
            .field("bootstrap_tokens", &self.bootstrap_tokens)
            .field("node_registration", &self.node_registration)
            .field("local_api_endpoint", &self.local_api_endpoint)
            .field(
                "certificate_key",
                &format_args!("{}", redacted(&self.certificate_key)),
            )
            .field("upload_certs", &self.upload_certs)
            .field("skip_phases", &self.skip_phases)
            .field("timeouts", &self.timeouts)
            .field("kubelet", &self.kubelet)
            .field("kube_proxy", &self.kube_proxy)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl std::fmt::Debug for JoinControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinControlPlane")
            .field("local_api_endpoint", &self.local_api_endpoint)
            .field(
                "certificate_key",
                &format_args!("{}", redacted(&self.certificate_key)),
            )
            .finish()
    }
}

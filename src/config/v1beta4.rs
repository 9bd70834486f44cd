//! `kubeadm.k8s.io/v1beta4`, field for field as kubeadm's
//! `cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go` (and `bootstraptoken/v1`). Types that
//! v1beta3 shares unchanged live here and are reused by `v1beta3`.
//!
//! No `Debug` on purpose: several of these hold token secrets or the certificate key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::duration::GoDuration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InitConfiguration {
    /// Checked before decoding; accepted here.
    #[serde(default, rename = "apiVersion")]
    pub _api_version: IgnoredAny,
    #[serde(default, rename = "kind")]
    pub _kind: IgnoredAny,
    #[serde(default)]
    pub bootstrap_tokens: Vec<BootstrapToken>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub node_registration: NodeRegistrationOptions,
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub certificate_key: String,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<Patches>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterConfiguration {
    /// Checked before decoding; accepted here.
    #[serde(default, rename = "apiVersion")]
    pub _api_version: IgnoredAny,
    #[serde(default, rename = "kind")]
    pub _kind: IgnoredAny,
    #[serde(default)]
    pub etcd: Etcd,
    #[serde(default)]
    pub networking: Networking,
    #[serde(default)]
    pub kubernetes_version: String,
    #[serde(default)]
    pub control_plane_endpoint: String,
    #[serde(default)]
    pub api_server: ApiServer,
    #[serde(default)]
    pub controller_manager: ControlPlaneComponent,
    #[serde(default)]
    pub scheduler: ControlPlaneComponent,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default)]
    pub certificates_dir: String,
    #[serde(default)]
    pub image_repository: String,
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub encryption_algorithm: String,
    #[serde(default)]
    pub certificate_validity_period: Option<GoDuration>,
    #[serde(default)]
    pub ca_certificate_validity_period: Option<GoDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlaneComponent {
    #[serde(default)]
    pub extra_args: Vec<Arg>,
    #[serde(default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default)]
    pub extra_envs: Vec<EnvVar>,
}

/// `ControlPlaneComponent` inlined, plus `certSANs` (serde's `flatten` cannot be strict).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServer {
    #[serde(default)]
    pub extra_args: Vec<Arg>,
    #[serde(default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default)]
    pub extra_envs: Vec<EnvVar>,
    #[serde(default, rename = "certSANs")]
    pub cert_sans: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Dns {
    #[serde(default)]
    pub image_repository: String,
    #[serde(default)]
    pub image_tag: String,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Proxy {
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiEndpoint {
    #[serde(default)]
    pub advertise_address: String,
    /// Wider than a port so that an out-of-range value gets a clear message.
    #[serde(default)]
    pub bind_port: i64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeRegistrationOptions {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "criSocket")]
    pub cri_socket: String,
    /// `None` (absent or null) = kubeadm's default taints; `[]` = none.
    #[serde(default)]
    pub taints: Option<Vec<Taint>>,
    #[serde(default)]
    pub kubelet_extra_args: Vec<Arg>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub image_pull_policy: String,
    /// kubeadm's own pre-pull ordering; kubeboot pulls no images itself, so it is only accepted.
    #[serde(default, rename = "imagePullSerial")]
    pub _image_pull_serial: Option<bool>,
}

/// `k8s.io/api/core/v1` Taint.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub effect: String,
    /// Set by the node lifecycle controller; accepted, not used.
    #[serde(default, rename = "timeAdded")]
    pub _time_added: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Networking {
    #[serde(default)]
    pub service_subnet: String,
    #[serde(default)]
    pub pod_subnet: String,
    #[serde(default)]
    pub dns_domain: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Etcd {
    #[serde(default)]
    pub local: Option<LocalEtcd>,
    #[serde(default)]
    pub external: Option<ExternalEtcd>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocalEtcd {
    #[serde(default)]
    pub image_repository: String,
    #[serde(default)]
    pub image_tag: String,
    #[serde(default)]
    pub data_dir: String,
    #[serde(default)]
    pub extra_args: Vec<Arg>,
    #[serde(default)]
    pub extra_envs: Vec<EnvVar>,
    #[serde(default, rename = "serverCertSANs")]
    pub server_cert_sans: Vec<String>,
    #[serde(default, rename = "peerCertSANs")]
    pub peer_cert_sans: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalEtcd {
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default, rename = "caFile")]
    pub ca_file: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JoinConfiguration {
    /// Checked before decoding; accepted here.
    #[serde(default, rename = "apiVersion")]
    pub _api_version: IgnoredAny,
    #[serde(default, rename = "kind")]
    pub _kind: IgnoredAny,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub node_registration: NodeRegistrationOptions,
    #[serde(default)]
    pub ca_cert_path: String,
    #[serde(default)]
    pub discovery: Discovery,
    #[serde(default)]
    pub control_plane: Option<JoinControlPlane>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<Patches>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JoinControlPlane {
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub certificate_key: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Discovery {
    #[serde(default)]
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    #[serde(default)]
    pub file: Option<FileDiscovery>,
    #[serde(default)]
    pub tls_bootstrap_token: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BootstrapTokenDiscovery {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub api_server_endpoint: String,
    #[serde(default)]
    pub ca_cert_hashes: Vec<String>,
    #[serde(default, rename = "unsafeSkipCAVerification")]
    pub unsafe_skip_ca_verification: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileDiscovery {
    #[serde(default)]
    pub kube_config_path: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostPathMount {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub host_path: String,
    #[serde(default)]
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub path_type: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patches {
    #[serde(default)]
    pub directory: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Arg {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// `corev1.EnvVar` inlined. `valueFrom` is recognised so that it can be refused clearly.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub value_from: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Timeouts {
    #[serde(default)]
    pub control_plane_component_health_check: Option<GoDuration>,
    #[serde(default)]
    pub kubelet_health_check: Option<GoDuration>,
    #[serde(default, rename = "kubernetesAPICall")]
    pub kubernetes_api_call: Option<GoDuration>,
    #[serde(default, rename = "etcdAPICall")]
    pub etcd_api_call: Option<GoDuration>,
    #[serde(default)]
    pub tls_bootstrap: Option<GoDuration>,
    #[serde(default)]
    pub discovery: Option<GoDuration>,
    #[serde(default)]
    pub upgrade_manifests: Option<GoDuration>,
}

/// `bootstraptoken/v1` BootstrapToken (shared by v1beta3 and v1beta4).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BootstrapToken {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub ttl: Option<GoDuration>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub usages: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

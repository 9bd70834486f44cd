//! `kubeadm.k8s.io/v1beta3` (deprecated since kubeadm 1.31, still read), as kubeadm's
//! `cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go`: `extraArgs` are maps, there is no
//! `timeouts` (only `apiServer.timeoutForControlPlane` and `discovery.timeout`), no
//! `dryRun`, `extraEnvs`, `proxy`, `encryptionAlgorithm` or validity periods.
//! Also the `v1beta2` ClusterConfiguration, which old clusters keep in `kubeadm-config`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::duration::GoDuration;
use super::v1beta4::{
    ApiEndpoint, BootstrapToken, BootstrapTokenDiscovery, ExternalEtcd, FileDiscovery,
    HostPathMount, JoinControlPlane, Networking, Patches, Taint,
};

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
    pub node_registration: NodeRegistrationOptions,
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub certificate_key: String,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<Patches>,
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
    pub certificates_dir: String,
    #[serde(default)]
    pub image_repository: String,
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default)]
    pub cluster_name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlaneComponent {
    #[serde(default)]
    pub extra_args: BTreeMap<String, String>,
    #[serde(default)]
    pub extra_volumes: Vec<HostPathMount>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServer {
    #[serde(default)]
    pub extra_args: BTreeMap<String, String>,
    #[serde(default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default, rename = "certSANs")]
    pub cert_sans: Vec<String>,
    #[serde(default)]
    pub timeout_for_control_plane: Option<GoDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Dns {
    #[serde(default)]
    pub image_repository: String,
    #[serde(default)]
    pub image_tag: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeRegistrationOptions {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "criSocket")]
    pub cri_socket: String,
    #[serde(default)]
    pub taints: Option<Vec<Taint>>,
    #[serde(default)]
    pub kubelet_extra_args: BTreeMap<String, String>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub image_pull_policy: String,
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
    pub extra_args: BTreeMap<String, String>,
    #[serde(default, rename = "serverCertSANs")]
    pub server_cert_sans: Vec<String>,
    #[serde(default, rename = "peerCertSANs")]
    pub peer_cert_sans: Vec<String>,
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
    #[serde(default)]
    pub timeout: Option<GoDuration>,
}

/// `kubeadm.k8s.io/v1beta2` ClusterConfiguration: v1beta3's plus `dns.type` and
/// `useHyperKubeImage`, both long gone and ignored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterConfigurationV1Beta2 {
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
    pub dns: DnsV1Beta2,
    #[serde(default)]
    pub certificates_dir: String,
    #[serde(default)]
    pub image_repository: String,
    #[serde(default, rename = "useHyperKubeImage")]
    pub _use_hyper_kube_image: bool,
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default)]
    pub cluster_name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsV1Beta2 {
    #[serde(default, rename = "type")]
    pub _dns_type: String,
    #[serde(default)]
    pub image_repository: String,
    #[serde(default)]
    pub image_tag: String,
}

impl From<ClusterConfigurationV1Beta2> for ClusterConfiguration {
    fn from(c: ClusterConfigurationV1Beta2) -> Self {
        ClusterConfiguration {
            _api_version: IgnoredAny,
            _kind: IgnoredAny,
            etcd: c.etcd,
            networking: c.networking,
            kubernetes_version: c.kubernetes_version,
            control_plane_endpoint: c.control_plane_endpoint,
            api_server: c.api_server,
            controller_manager: c.controller_manager,
            scheduler: c.scheduler,
            dns: Dns {
                image_repository: c.dns.image_repository,
                image_tag: c.dns.image_tag,
            },
            certificates_dir: c.certificates_dir,
            image_repository: c.image_repository,
            feature_gates: c.feature_gates,
            cluster_name: c.cluster_name,
        }
    }
}

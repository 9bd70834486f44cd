//! A defaulted configuration for unit tests, as kubeadm's defaults would leave it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::Object;
use crate::config::model::*;
use crate::config::version::KubeVersion;

/// The object decoded into its k8s-openapi type, to assert on typed fields.
pub(crate) fn typed<K>(object: &Object) -> K
where
    K: k8s_openapi::Resource + serde::de::DeserializeOwned,
{
    assert!(object.is::<K>(), "{object:?} is not a {}", K::KIND);
    serde_json::from_value(object.body().clone()).unwrap()
}

pub(crate) fn cluster_config() -> ClusterConfiguration {
    ClusterConfiguration {
        kubernetes_version: KubeVersion::default_version(),
        cluster_name: "kubernetes".into(),
        control_plane_endpoint: None,
        networking: Networking {
            service_subnet: "10.96.0.0/12".parse().unwrap(),
            pod_subnet: Some("10.244.0.0/16".parse().unwrap()),
            dns_domain: "cluster.local".into(),
        },
        api_server: ApiServer::default(),
        controller_manager: ControlPlaneComponent::default(),
        scheduler: ControlPlaneComponent::default(),
        etcd: Etcd::Local(LocalEtcd {
            image: ImageMeta::default(),
            data_dir: PathBuf::from("/var/lib/etcd"),
            extra_args: vec![],
            extra_envs: vec![],
            server_cert_sans: vec![],
            peer_cert_sans: vec![],
        }),
        dns: Dns::default(),
        proxy_disabled: false,
        certificates_dir: PathBuf::from("/etc/kubernetes/pki"),
        image_repository: "registry.k8s.io".into(),
        feature_gates: BTreeMap::new(),
        encryption_algorithm: EncryptionAlgorithm::default(),
        certificate_validity_period: Duration::from_secs(8760 * 3600),
        ca_certificate_validity_period: Duration::from_secs(87600 * 3600),
    }
}

pub(crate) fn local_endpoint() -> ApiEndpoint {
    ApiEndpoint {
        advertise_address: Some("192.168.0.10".parse().unwrap()),
        bind_port: 6443,
    }
}

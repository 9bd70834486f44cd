//! What a joining worker reads from the cluster with its bootstrap credentials, as kubeadm's
//! `FetchInitConfigurationFromCluster` does for join: the ClusterConfiguration in
//! `kube-system/kubeadm-config` and the KubeletConfiguration in `kube-system/kubelet-config`
//! (`kubelet-config-1.<minor>` before 1.24); and kubeadm's refusal to join under the name of a
//! Node that exists and is Ready.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use serde::Deserialize;
use serde_yaml::Mapping;

use crate::api::{self, Client};
use crate::config::model::{
    ApiServer, ClusterConfiguration, ControlPlaneComponent, Dns, EncryptionAlgorithm, Etcd,
    LocalEtcd, Networking,
};
use crate::config::version::{KubeVersion, MAX_MINOR, MIN_MINOR};
use crate::tlsbootstrap;

const NAMESPACE: &str = "kube-system";
pub const KUBEADM_CONFIG_MAP: &str = "kubeadm-config";
const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
const KUBELET_CONFIG_KEY: &str = "kubelet";
const KUBELET_API_GROUP: &str = "kubelet.config.k8s.io/";

/// The cluster-wide configuration a worker needs to write its kubelet files.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// The cluster's ClusterConfiguration; fields kubeadm-config does not carry are kubeadm's
    /// defaults.
    pub cluster: ClusterConfiguration,
    /// The KubeletConfiguration document of the kubelet-config ConfigMap, as stored.
    pub kubelet: Mapping,
    /// Which ConfigMap it came from.
    pub kubelet_config_map: String,
}

/// The name of the kubelet's ConfigMap for a cluster version, as kubeadm picks it: versioned
/// (`kubelet-config-1.23`) until the `UnversionedKubeletConfigMap` gate (alpha 1.23, on from
/// 1.24, GA in 1.25) replaced it with `kubelet-config`.
pub fn kubelet_config_map_name(cluster: &ClusterConfiguration) -> String {
    let version = &cluster.kubernetes_version;
    let unversioned = match cluster.feature_gates.get("UnversionedKubeletConfigMap") {
        Some(&gate) if !version.at_least(25) => gate,
        _ => version.at_least(24),
    };
    if unversioned {
        "kubelet-config".to_string()
    } else {
        format!("kubelet-config-{}.{}", version.major, version.minor)
    }
}

/// Reads kubeadm-config, then the kubelet ConfigMap it implies.
pub fn fetch(client: &Client) -> Result<RemoteConfig, api::Error> {
    log::info!(
        "[preflight] Reading configuration from the {KUBEADM_CONFIG_MAP:?} ConfigMap in namespace \
         {NAMESPACE:?}..."
    );
    let (url, yaml) = config_map_key(client, KUBEADM_CONFIG_MAP, CLUSTER_CONFIGURATION_KEY)?;
    let cluster =
        decode_cluster_configuration(&yaml).map_err(|detail| decode_error(&url, detail))?;
    let minor = cluster.kubernetes_version.minor;
    if cluster.kubernetes_version.major != 1 || !(MIN_MINOR..=MAX_MINOR).contains(&minor) {
        log::warn!(
            "[preflight] The cluster runs Kubernetes {}, outside the versions kubeboot supports \
             (1.{MIN_MINOR} to 1.{MAX_MINOR}); the kubelet files are written as for that version",
            cluster.kubernetes_version
        );
    }

    let name = kubelet_config_map_name(&cluster);
    let (url, yaml) = config_map_key(client, &name, KUBELET_CONFIG_KEY)?;
    let kubelet =
        decode_kubelet_configuration(&yaml).map_err(|detail| decode_error(&url, detail))?;
    Ok(RemoteConfig {
        cluster,
        kubelet,
        kubelet_config_map: name,
    })
}

fn decode_error(url: &str, detail: String) -> api::Error {
    api::Error::Decode {
        method: "GET",
        url: url.to_string(),
        detail,
    }
}

/// One key of a kube-system ConfigMap, with the URL it was read from (for errors).
fn config_map_key(client: &Client, name: &str, key: &str) -> Result<(String, String), api::Error> {
    let url = format!(
        "{}{}",
        client.server(),
        api::resource_path::<ConfigMap>(Some(NAMESPACE), Some(name)).unwrap_or_default()
    );
    let cm: ConfigMap = client.get(Some(NAMESPACE), name)?;
    let value = cm.data.unwrap_or_default().remove(key).ok_or_else(|| {
        decode_error(
            &url,
            format!(
                "unexpected error when reading {name} ConfigMap: {key} key value pair missing; \
                 was the cluster made by kubeadm init?"
            ),
        )
    })?;
    Ok((url, value))
}

/// The ClusterConfiguration fields a worker join uses; unknown fields are ignored (kubeadm-config
/// is written by kubeadm versions older and newer than this one).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct StoredClusterConfiguration {
    api_version: String,
    kind: String,
    kubernetes_version: Option<String>,
    cluster_name: Option<String>,
    control_plane_endpoint: Option<String>,
    networking: StoredNetworking,
    image_repository: Option<String>,
    certificates_dir: Option<String>,
    feature_gates: BTreeMap<String, bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct StoredNetworking {
    service_subnet: Option<String>,
    pod_subnet: Option<String>,
    dns_domain: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Decodes the stored ClusterConfiguration (`kubeadm.k8s.io/v1beta2..v1beta4`), with kubeadm's
/// defaults for what it leaves out.
pub fn decode_cluster_configuration(yaml: &str) -> Result<ClusterConfiguration, String> {
    let stored: StoredClusterConfiguration = serde_yaml::from_str(yaml)
        .map_err(|e| format!("the ClusterConfiguration is not valid YAML: {e}"))?;
    if stored.kind != "ClusterConfiguration" || !stored.api_version.starts_with("kubeadm.k8s.io/") {
        return Err(format!(
            "expected a kubeadm.k8s.io ClusterConfiguration, found kind {:?} of {:?}",
            stored.kind, stored.api_version
        ));
    }
    let version = non_empty(stored.kubernetes_version)
        .ok_or("the ClusterConfiguration has no kubernetesVersion")?;
    let kubernetes_version: KubeVersion = version
        .parse()
        .map_err(|e| format!("field kubernetesVersion: {e}"))?;
    let net = stored.networking;
    let service_subnet = non_empty(net.service_subnet)
        .unwrap_or_else(|| "10.96.0.0/12".into())
        .parse()
        .map_err(|e| format!("field networking.serviceSubnet: {e}"))?;
    let pod_subnet = non_empty(net.pod_subnet)
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| format!("field networking.podSubnet: {e}"))?;
    Ok(ClusterConfiguration {
        kubernetes_version,
        cluster_name: non_empty(stored.cluster_name).unwrap_or_else(|| "kubernetes".into()),
        control_plane_endpoint: non_empty(stored.control_plane_endpoint),
        networking: Networking {
            service_subnet,
            pod_subnet,
            dns_domain: non_empty(net.dns_domain).unwrap_or_else(|| "cluster.local".into()),
        },
        api_server: ApiServer::default(),
        controller_manager: ControlPlaneComponent::default(),
        scheduler: ControlPlaneComponent::default(),
        etcd: Etcd::Local(LocalEtcd {
            image: Default::default(),
            data_dir: PathBuf::from("/var/lib/etcd"),
            extra_args: vec![],
            extra_envs: vec![],
            server_cert_sans: vec![],
            peer_cert_sans: vec![],
        }),
        dns: Dns::default(),
        proxy_disabled: false,
        certificates_dir: PathBuf::from(
            non_empty(stored.certificates_dir).unwrap_or_else(|| "/etc/kubernetes/pki".into()),
        ),
        image_repository: non_empty(stored.image_repository)
            .unwrap_or_else(|| "registry.k8s.io".into()),
        feature_gates: stored.feature_gates,
        encryption_algorithm: EncryptionAlgorithm::default(),
        certificate_validity_period: std::time::Duration::from_secs(8760 * 3600),
        ca_certificate_validity_period: std::time::Duration::from_secs(87600 * 3600),
    })
}

/// The KubeletConfiguration document of the kubelet ConfigMap.
pub fn decode_kubelet_configuration(yaml: &str) -> Result<Mapping, String> {
    let doc: Mapping = serde_yaml::from_str(yaml)
        .map_err(|e| format!("the KubeletConfiguration is not a valid YAML mapping: {e}"))?;
    let api_version = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    if kind != "KubeletConfiguration" || !api_version.starts_with(KUBELET_API_GROUP) {
        return Err(format!(
            "expected a {KUBELET_API_GROUP}* KubeletConfiguration, found kind {kind:?} of \
             {api_version:?}"
        ));
    }
    Ok(doc)
}

/// kubeadm's check in `runKubeletStartJoinPhase`: joining under the name of a Ready Node would
/// take over that Node (possibly a control-plane node).
pub fn refuse_ready_node(client: &Client, name: &str) -> Result<(), tlsbootstrap::Error> {
    log::debug!(
        "[kubelet-start] Checking for an existing Node in the cluster with name {name:?} and \
         status \"Ready\""
    );
    let Some(node) = client.get_optional::<Node>(None, name)? else {
        return Ok(());
    };
    let ready = node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if ready {
        return Err(tlsbootstrap::Error::NodeExists { name: name.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden_configmaps() -> BTreeMap<String, BTreeMap<String, String>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/golden/k8s-v1.19/kube-system-configmaps.json"
        );
        let list: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|cm| {
                let cm: ConfigMap = serde_json::from_value(cm.clone()).unwrap();
                (cm.metadata.name.unwrap(), cm.data.unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn a_real_v1_19_cluster_names_its_versioned_kubelet_config_map() {
        let cms = golden_configmaps();
        let cluster =
            decode_cluster_configuration(&cms["kubeadm-config"]["ClusterConfiguration"]).unwrap();
        assert_eq!(cluster.kubernetes_version.to_string(), "v1.19.0");
        assert_eq!(cluster.cluster_name, "kubernetes");
        assert_eq!(cluster.image_repository, "k8s.gcr.io");
        assert_eq!(cluster.networking.dns_domain, "cluster.local");
        assert_eq!(
            cluster.networking.service_subnet.to_string(),
            "10.96.0.0/12"
        );
        let name = kubelet_config_map_name(&cluster);
        assert_eq!(name, "kubelet-config-1.19");
        let kubelet = decode_kubelet_configuration(&cms[&name]["kubelet"]).unwrap();
        assert_eq!(kubelet["clusterDomain"], "cluster.local");
    }

    #[test]
    fn the_config_map_name_follows_version_and_gate() {
        let mut cluster = decode_cluster_configuration(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.2\n",
        )
        .unwrap();
        assert_eq!(kubelet_config_map_name(&cluster), "kubelet-config");
        cluster.kubernetes_version = "v1.23.4".parse().unwrap();
        assert_eq!(kubelet_config_map_name(&cluster), "kubelet-config-1.23");
        cluster
            .feature_gates
            .insert("UnversionedKubeletConfigMap".into(), true);
        assert_eq!(kubelet_config_map_name(&cluster), "kubelet-config");
        cluster.kubernetes_version = "v1.24.0".parse().unwrap();
        cluster
            .feature_gates
            .insert("UnversionedKubeletConfigMap".into(), false);
        assert_eq!(kubelet_config_map_name(&cluster), "kubelet-config-1.24");
        // Locked on (and later removed) from 1.25: the gate no longer matters.
        cluster.kubernetes_version = "v1.25.0".parse().unwrap();
        assert_eq!(kubelet_config_map_name(&cluster), "kubelet-config");
    }

    #[test]
    fn defaults_fill_what_kubeadm_config_leaves_out_and_bad_documents_are_refused() {
        let c = decode_cluster_configuration(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
             kubernetesVersion: v1.33.1\nclusterName: prod\nnetworking:\n  dnsDomain: corp.local\n\
             featureGates:\n  NodeLocalCRISocket: true\nfutureField: 1\n",
        )
        .unwrap();
        assert_eq!(c.cluster_name, "prod");
        assert_eq!(c.networking.dns_domain, "corp.local");
        assert_eq!(c.networking.service_subnet.to_string(), "10.96.0.0/12");
        assert_eq!(c.image_repository, "registry.k8s.io");
        assert_eq!(c.feature_gates.get("NodeLocalCRISocket"), Some(&true));

        for (bad, why) in [
            (
                "kind: InitConfiguration\napiVersion: kubeadm.k8s.io/v1beta4\n",
                "expected",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
                "no kubernetesVersion",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                 kubernetesVersion: v1.34.0\nnetworking:\n  serviceSubnet: nope\n",
                "networking.serviceSubnet",
            ),
            ("[", "not valid YAML"),
        ] {
            let e = decode_cluster_configuration(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert!(decode_kubelet_configuration("kind: Pod\napiVersion: v1\n").is_err());
    }
}

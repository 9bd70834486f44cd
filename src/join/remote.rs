//! What a joining worker reads from the cluster with its bootstrap credentials, as kubeadm's
//! `FetchInitConfigurationFromCluster` does for join: the ClusterConfiguration in
//! `kube-system/kubeadm-config` and the KubeletConfiguration in `kube-system/kubelet-config`
//! (`kubelet-config-1.<minor>` before 1.24); and kubeadm's refusal to join under the name of a
//! Node that exists and is Ready.

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use serde_yaml::Mapping;

use crate::api::{self, Client};
use crate::config::model::ClusterConfiguration;
use crate::config::version::{MAX_MINOR, MIN_MINOR};
use crate::{config, tlsbootstrap};

const NAMESPACE: &str = "kube-system";
pub const KUBEADM_CONFIG_MAP: &str = "kubeadm-config";
const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
const KUBELET_CONFIG_KEY: &str = "kubelet";
const KUBELET_API_GROUP: &str = "kubelet.config.k8s.io/";

/// The cluster-wide configuration a worker needs to write its kubelet files.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// The cluster's ClusterConfiguration, defaulted as kubeadm does.
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
    let cluster = config::cluster_configuration_from_yaml(&yaml, &url)
        .map_err(|e| decode_error(&url, e.to_string()))?;
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
    let cm: api::DataView<String> = client.get_as::<ConfigMap, _>(Some(NAMESPACE), name)?;
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
    // Read as JSON: a typed `Node` would link in the decoder of its whole status.
    let Some(node) = client.get_optional_as::<Node, serde_json::Value>(None, name)? else {
        return Ok(());
    };
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    if ready {
        return Err(tlsbootstrap::Error::NodeExists { name: name.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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

    fn cluster(version: &str) -> ClusterConfiguration {
        config::cluster_configuration_from_yaml(
            &format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                 kubernetesVersion: {version}\n"
            ),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn a_real_v1_19_cluster_names_its_versioned_kubelet_config_map() {
        let cms = golden_configmaps();
        let cluster = config::cluster_configuration_from_yaml(
            &cms["kubeadm-config"]["ClusterConfiguration"],
            "golden",
        )
        .unwrap();
        assert_eq!(cluster.kubernetes_version.to_string(), "v1.19.0");
        let name = kubelet_config_map_name(&cluster);
        assert_eq!(name, "kubelet-config-1.19");
        let kubelet = decode_kubelet_configuration(&cms[&name]["kubelet"]).unwrap();
        assert_eq!(kubelet["clusterDomain"], "cluster.local");
    }

    #[test]
    fn the_config_map_name_follows_version_and_gate() {
        let mut cluster = cluster("v1.34.2");
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
    fn only_a_kubelet_configuration_is_taken_from_the_config_map() {
        assert!(
            decode_kubelet_configuration(
                "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
            )
            .is_ok()
        );
        for bad in ["kind: Pod\napiVersion: v1\n", "[", "- a\n"] {
            assert!(decode_kubelet_configuration(bad).is_err(), "{bad}");
        }
    }
}

//! `kubeadm init phase upload-config`: the ClusterConfiguration and the cluster-wide kubelet
//! configuration, stored in kube-system for joining nodes and upgrades, with the Roles that let
//! bootstrap tokens and nodes read them. Also the `kubeadm:cluster-admins` binding that init
//! creates before any phase talks to the API server as admin.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use super::rbac::{cluster_role_binding, get_named, group, role, role_binding};
use super::{BOOTSTRAPPERS_GROUP, NODES_GROUP, NS_SYSTEM, Object, hex, meta};

/// `kubeadmconstants.KubeadmConfigConfigMap` and its key.
pub const KUBEADM_CONFIG: &str = "kubeadm-config";
pub const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
/// `NodesKubeadmConfigClusterRoleName` (a Role despite its name).
pub const NODES_KUBEADM_CONFIG_ROLE: &str = "kubeadm:nodes-kubeadm-config";
/// `KubeletBaseConfigurationConfigMap` (unversioned since 1.24) and its key.
pub const KUBELET_CONFIG: &str = "kubelet-config";
pub const KUBELET_CONFIG_KEY: &str = "kubelet";
/// `KubeletBaseConfigMapRole`.
pub const KUBELET_CONFIG_ROLE: &str = "kubeadm:kubelet-config";
/// `ClusterAdminsGroupAndClusterRoleBinding` (1.29+).
pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";
/// `ComponentConfigHashAnnotationKey`.
pub const COMPONENT_CONFIG_HASH: &str = "kubeadm.kubernetes.io/component-config.hash";

/// The `kube-system/kubeadm-config` ConfigMap holding `cluster_configuration_yaml` (the
/// ClusterConfiguration document as kubeadm marshals it), then the Role and RoleBinding that
/// let bootstrap tokens and nodes read it.
pub fn upload_config_objects(cluster_configuration_yaml: &str) -> Vec<Object> {
    let config_map = ConfigMap {
        metadata: meta(Some(NS_SYSTEM), KUBEADM_CONFIG),
        data: Some(BTreeMap::from([(
            CLUSTER_CONFIGURATION_KEY.to_string(),
            cluster_configuration_yaml.to_string(),
        )])),
        ..Default::default()
    };
    vec![
        config_map.into(),
        role(
            NS_SYSTEM,
            NODES_KUBEADM_CONFIG_ROLE,
            vec![get_named("configmaps", KUBEADM_CONFIG)],
        )
        .into(),
        role_binding(
            NS_SYSTEM,
            NODES_KUBEADM_CONFIG_ROLE,
            vec![group(BOOTSTRAPPERS_GROUP), group(NODES_GROUP)],
        )
        .into(),
    ]
}

/// The `kube-system/kubelet-config` ConfigMap holding `kubelet_yaml` (the KubeletConfiguration
/// document), then the Role and RoleBinding that let nodes and bootstrap tokens read it.
///
/// When the configuration is kubeadm's own (`user_supplied == false`) the ConfigMap is signed
/// with the `kubeadm.kubernetes.io/component-config.hash` annotation, so that `kubeadm upgrade`
/// can tell it was not edited since.
pub fn kubelet_config_objects(kubelet_yaml: &str, user_supplied: bool) -> Vec<Object> {
    let mut config_map = ConfigMap {
        metadata: meta(Some(NS_SYSTEM), KUBELET_CONFIG),
        data: Some(BTreeMap::from([(
            KUBELET_CONFIG_KEY.to_string(),
            kubelet_yaml.to_string(),
        )])),
        ..Default::default()
    };
    if !user_supplied {
        sign_config_map(&mut config_map);
    }
    vec![
        config_map.into(),
        role(
            NS_SYSTEM,
            KUBELET_CONFIG_ROLE,
            vec![get_named("configmaps", KUBELET_CONFIG)],
        )
        .into(),
        role_binding(
            NS_SYSTEM,
            KUBELET_CONFIG_ROLE,
            vec![group(NODES_GROUP), group(BOOTSTRAPPERS_GROUP)],
        )
        .into(),
    ]
}

/// The `kubeadm:cluster-admins` ClusterRoleBinding (group `kubeadm:cluster-admins` →
/// `cluster-admin`) that gives admin.conf its rights since 1.29. kubeadm creates it with
/// admin.conf and, when that is still forbidden, with super-admin.conf.
pub fn admin_cluster_role_binding() -> ClusterRoleBinding {
    cluster_role_binding(CLUSTER_ADMINS, "cluster-admin", vec![group(CLUSTER_ADMINS)])
}

/// kubeadm's `ChecksumForConfigMap`: `sha256:` and the hex SHA-256 of the `data` values in key
/// order, then the `binaryData` values in key order.
pub fn config_map_hash(config_map: &ConfigMap) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for value in config_map.data.iter().flat_map(BTreeMap::values) {
        ctx.update(value.as_bytes());
    }
    for value in config_map.binary_data.iter().flat_map(BTreeMap::values) {
        ctx.update(&value.0);
    }
    format!("sha256:{}", hex(ctx.finish().as_ref()))
}

/// kubeadm's `SignConfigMap`.
pub(crate) fn sign_config_map(config_map: &mut ConfigMap) {
    let hash = config_map_hash(config_map);
    config_map
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(COMPONENT_CONFIG_HASH.to_string(), hash);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests_support::typed;

    #[test]
    fn hash_covers_values_in_key_order() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([
                ("b".to_string(), "world".to_string()),
                ("a".to_string(), "hello ".to_string()),
            ])),
            ..Default::default()
        };
        // printf 'hello world' | sha256sum
        assert_eq!(
            config_map_hash(&cm),
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }

    #[test]
    fn only_kubeadm_generated_kubelet_config_is_signed() {
        let signed = kubelet_config_objects("kind: KubeletConfiguration\n", false);
        let cm: ConfigMap = typed(&signed[0]);
        let annotations = cm.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[COMPONENT_CONFIG_HASH], config_map_hash(&cm));
        let unsigned = kubelet_config_objects("kind: KubeletConfiguration\n", true);
        assert!(unsigned[0].body()["metadata"]["annotations"].is_null());
    }
}

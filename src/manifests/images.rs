//! Image names as kubeadm computes them (`images.go`, `constants.go`): control-plane images
//! tagged with the Kubernetes version, etcd and pause pinned per Kubernetes minor.

use crate::config::model::{ClusterConfiguration, Etcd};
use crate::config::version::KubeVersion;

/// etcd image tag per Kubernetes minor. 1.31..=1.34 are kubeadm v1.34's `SupportedEtcdVersion`
/// (the default target's kubeadm); 1.35 is kubeadm v1.35's.
const ETCD_VERSIONS: &[(u32, &str)] = &[
    (31, "3.5.24-0"),
    (32, "3.5.24-0"),
    (33, "3.5.24-0"),
    (34, "3.6.5-0"),
    (35, "3.6.6-0"),
];

/// Whether kubeadm of this minor still passes `--pod-infra-container-image` to the kubelet
/// (kubeadm v1.35 stopped: the kubelet dropped the flag).
pub fn kubelet_takes_pod_infra_image(version: &KubeVersion) -> bool {
    !version.at_least(35)
}

/// kubeadm's `PauseVersion` for the kubeadm of this minor.
fn pause_version(version: &KubeVersion) -> &'static str {
    if version.at_least(34) {
        "3.10.1"
    } else {
        "3.10"
    }
}

/// The etcd tag kubeadm pins for this Kubernetes version; outside the table, the nearest entry
/// (kubeadm's `EtcdSupportedVersion` fallback).
pub fn default_etcd_tag(version: &KubeVersion) -> &'static str {
    let minor = if version.major > 1 {
        u32::MAX
    } else {
        version.minor
    };
    let (first, last) = (ETCD_VERSIONS[0], ETCD_VERSIONS[ETCD_VERSIONS.len() - 1]);
    ETCD_VERSIONS
        .iter()
        .find(|(m, _)| *m == minor)
        .map(|(_, tag)| *tag)
        .unwrap_or(if minor < first.0 { first.1 } else { last.1 })
}

/// `<repository>/<name>:<tag>`.
fn image(repository: &str, name: &str, tag: &str) -> String {
    format!("{repository}/{name}:{tag}")
}

/// kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy: tagged with the
/// Kubernetes version (`+` is not allowed in tags, kubeadm writes `_`).
pub fn kubernetes_image(cfg: &ClusterConfiguration, component: &str) -> String {
    let tag = cfg.kubernetes_version.to_string().replace('+', "_");
    image(&cfg.image_repository, component, &tag)
}

/// The etcd image tag: the local etcd `imageTag` override, else the pinned default.
pub fn etcd_image_tag(cfg: &ClusterConfiguration) -> String {
    match &cfg.etcd {
        Etcd::Local(local) => local.image.image_tag.clone(),
        Etcd::External(_) => None,
    }
    .filter(|t| !t.is_empty())
    .unwrap_or_else(|| default_etcd_tag(&cfg.kubernetes_version).to_string())
}

/// The etcd image, honouring the local etcd `imageRepository` and `imageTag` overrides.
pub fn etcd_image(cfg: &ClusterConfiguration) -> String {
    let repository = match &cfg.etcd {
        Etcd::Local(local) => local.image.image_repository.as_deref(),
        Etcd::External(_) => None,
    }
    .filter(|r| !r.is_empty())
    .unwrap_or(&cfg.image_repository);
    image(repository, "etcd", &etcd_image_tag(cfg))
}

/// The sandbox ("pause") image kubeadm tells the kubelet about.
pub fn pause_image(cfg: &ClusterConfiguration) -> String {
    image(
        &cfg.image_repository,
        "pause",
        pause_version(&cfg.kubernetes_version),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn etcd_tag_follows_the_kubernetes_minor_with_nearest_fallback() {
        assert_eq!(default_etcd_tag(&v("v1.31.0")), "3.5.24-0");
        assert_eq!(default_etcd_tag(&v("v1.33.4")), "3.5.24-0");
        assert_eq!(default_etcd_tag(&v("v1.34.2")), "3.6.5-0");
        assert_eq!(default_etcd_tag(&v("v1.35.0")), "3.6.6-0");
        assert_eq!(default_etcd_tag(&v("v1.29.0")), "3.5.24-0");
        assert_eq!(default_etcd_tag(&v("v1.40.0")), "3.6.6-0");
        assert_eq!(default_etcd_tag(&v("v2.0.0")), "3.6.6-0");
    }

    #[test]
    fn pause_image_and_its_kubelet_flag_per_version() {
        assert_eq!(pause_version(&v("v1.33.1")), "3.10");
        assert_eq!(pause_version(&v("v1.34.0")), "3.10.1");
        assert!(kubelet_takes_pod_infra_image(&v("v1.34.2")));
        assert!(!kubelet_takes_pod_infra_image(&v("v1.35.0")));
    }
}

//! Image names as kubeadm computes them (`images.go`, `constants.go`): control-plane images
//! tagged with the Kubernetes version (kube-proxy too), etcd, pause and CoreDNS pinned per
//! Kubernetes minor.

use crate::config::defaults;
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

/// `kubeadmconstants.CoreDNSVersion` of the kubeadm release for this Kubernetes minor.
pub fn coredns_version(kubernetes: &KubeVersion) -> &'static str {
    match kubernetes.minor {
        ..=32 => "v1.11.3",
        33 => "v1.12.0",
        34 => "v1.12.1",
        _ => "v1.13.1",
    }
}

/// `images.GetDNSImage`: `dns.imageRepository` or `imageRepository`, with `/coredns` added
/// for the default registry only (where the image lives at `registry.k8s.io/coredns/coredns`),
/// then `coredns:` and `dns.imageTag` or the version's CoreDNS tag.
pub fn coredns_image(cfg: &ClusterConfiguration) -> String {
    let mut repo = cfg
        .dns
        .image
        .image_repository
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| cfg.image_repository.clone());
    if repo == defaults::IMAGE_REPOSITORY {
        repo.push_str("/coredns");
    }
    let tag = cfg
        .dns
        .image
        .image_tag
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| coredns_version(&cfg.kubernetes_version).to_string());
    image(&repo, "coredns", &tag)
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

    fn at(minor: u32) -> ClusterConfiguration {
        let mut cfg = crate::manifests::testutil::cluster();
        cfg.kubernetes_version = v(&format!("v1.{minor}.0"));
        cfg
    }

    #[test]
    fn coredns_image_follows_repository_overrides_as_kubeadm() {
        let mut cfg = at(34);
        assert_eq!(
            coredns_image(&cfg),
            "registry.k8s.io/coredns/coredns:v1.12.1"
        );
        cfg.image_repository = "mirror.example.com/k8s".into();
        assert_eq!(
            coredns_image(&cfg),
            "mirror.example.com/k8s/coredns:v1.12.1"
        );
        cfg.dns.image.image_repository = Some("dns.example.com".into());
        cfg.dns.image.image_tag = Some("v9".into());
        assert_eq!(coredns_image(&cfg), "dns.example.com/coredns:v9");
        assert_eq!(coredns_version(&at(31).kubernetes_version), "v1.11.3");
        assert_eq!(coredns_version(&at(35).kubernetes_version), "v1.13.1");
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

//! kubeadm's `control-plane` and `etcd` (local) phases: static Pod manifests for
//! kube-apiserver, kube-controller-manager, kube-scheduler and etcd under
//! `/etc/kubernetes/manifests`, built as `k8s_openapi` Pods exactly as kubeadm builds them for
//! the target Kubernetes version, and written as kubeadm writes them (sorted keys, mode 0600).
//!
//! The builders are pure: what they need from the node (proxy variables, which system CA
//! directories exist, whether the CA key is absent) comes in a [`ControlPlaneHost`].

pub mod args;
mod control_plane;
mod etcd;
pub mod images;
mod pod;
mod volumes;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::config::model::{ApiEndpoint, ClusterConfiguration, EnvVar, Etcd, InitConfiguration};
use crate::config::version::KubeVersion;
use crate::fs::{self, Root};

pub use control_plane::{
    KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_CONTROLLER_MANAGER_PORT, KUBE_SCHEDULER,
    KUBE_SCHEDULER_PORT, kube_apiserver_pod, kube_controller_manager_pod, kube_scheduler_pod,
};
pub use etcd::{ETCD, EtcdMember, etcd_pod};
pub use pod::{manifest_yaml, merge_env, proxy_env, proxy_env_from};
pub use volumes::CA_CERTS_EXTRA_PATHS;

/// Where the kubelet looks for static Pods.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";

/// Sub-phases of `init phase control-plane`, in kubeadm's order.
pub const CONTROL_PLANE_PHASES: &[&str] = &["apiserver", "controller-manager", "scheduler"];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot build the {component} manifest: the API server advertise address is unknown; \
         set localAPIEndpoint.advertiseAddress (or --apiserver-advertise-address) or give the \
         node a default route"
    )]
    NoAdvertiseAddress { component: &'static str },
    #[error(
        "cannot write a local etcd manifest: the configuration uses external etcd \
         (etcd.external); remove it to run etcd on this node"
    )]
    ExternalEtcd,
    #[error(
        "unknown control-plane phase {0:?}: expected one of apiserver, controller-manager, \
         scheduler, all"
    )]
    UnknownPhase(String),
    #[error("cannot serialise the {component} static Pod manifest: {source}")]
    Serialize {
        component: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Fs(#[from] fs::FsError),
}

/// What the Pods of one control-plane node depend on: the cluster-wide configuration, this
/// node's API endpoint, and how long the control plane may take to become healthy.
#[derive(Debug, Clone, Copy)]
pub struct LocalControlPlane<'a> {
    pub cluster: &'a ClusterConfiguration,
    pub endpoint: &'a ApiEndpoint,
    /// `timeouts.controlPlaneComponentHealthCheck`; sizes the startup probes.
    pub health_check_timeout: Duration,
}

impl<'a> LocalControlPlane<'a> {
    pub fn from_init(cfg: &'a InitConfiguration) -> Self {
        LocalControlPlane {
            cluster: &cfg.cluster,
            endpoint: &cfg.local_api_endpoint,
            health_check_timeout: cfg.timeouts.control_plane_component_health_check,
        }
    }

    fn advertise_address(&self, component: &'static str) -> Result<IpAddr, Error> {
        self.endpoint
            .advertise_address
            .ok_or(Error::NoAdvertiseAddress { component })
    }
}

/// Facts about the node that change the control-plane Pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlPlaneHost {
    /// `*_proxy` variables of kubeboot's environment, passed on to the components as kubeadm
    /// does (they may hold proxy credentials: never log them).
    pub proxy_env: Vec<EnvVar>,
    /// The entries of [`CA_CERTS_EXTRA_PATHS`] that exist on the node.
    pub ca_cert_dirs: Vec<String>,
    /// `ca.crt` exists without `ca.key` (an external CA): the controller-manager must not sign.
    pub external_ca: bool,
}

impl ControlPlaneHost {
    /// Reads the facts from the node under `node`, the PKI the phases write under `root` (the
    /// same but in a dry run on the node itself) and kubeboot's environment.
    pub fn detect(node: &Root, root: &Root, cfg: &ClusterConfiguration) -> Self {
        let ca_cert_dirs = CA_CERTS_EXTRA_PATHS
            .iter()
            // Followed like kubeadm's os.Stat: a dangling link mounts nothing useful.
            .filter(|p| node.path(p).exists())
            .map(|p| p.to_string())
            .collect();
        let pki = &cfg.certificates_dir;
        let external_ca = root.exists(pki.join("ca.crt")) && !root.exists(pki.join("ca.key"));
        ControlPlaneHost {
            proxy_env: proxy_env(),
            ca_cert_dirs,
            external_ca,
        }
    }
}

/// `/etc/kubernetes/manifests/<component>.yaml`.
pub fn manifest_path(component: &str) -> String {
    format!("{MANIFESTS_DIR}/{component}.yaml")
}

/// The `control-plane` phase: writes the kube-apiserver, kube-controller-manager and
/// kube-scheduler manifests, or only the one named by `only` (a [`CONTROL_PLANE_PHASES`]
/// entry; `all` or `None` for the three).
pub fn write_control_plane(
    node: &Root,
    root: &Root,
    cfg: &InitConfiguration,
    only: Option<&str>,
) -> Result<(), Error> {
    let components: &[&str] = match only {
        None | Some("all") => &[KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER],
        Some("apiserver") => &[KUBE_APISERVER],
        Some("controller-manager") => &[KUBE_CONTROLLER_MANAGER],
        Some("scheduler") => &[KUBE_SCHEDULER],
        Some(other) => return Err(Error::UnknownPhase(other.to_string())),
    };
    let cp = LocalControlPlane::from_init(cfg);
    let host = ControlPlaneHost::detect(node, root, &cfg.cluster);
    log::info!("[control-plane] Using manifest folder {MANIFESTS_DIR:?}");
    for &component in components {
        log::info!("[control-plane] Creating static Pod manifest for {component:?}");
        let pod = match component {
            KUBE_APISERVER => kube_apiserver_pod(&cp, &host)?,
            KUBE_CONTROLLER_MANAGER => kube_controller_manager_pod(&cp, &host),
            _ => kube_scheduler_pod(&cp, &host),
        };
        write_manifest(root, component, &pod, &cfg.cluster.kubernetes_version)?;
    }
    Ok(())
}

/// The `etcd local` phase: creates the etcd data directory (0700) and writes the manifest of a
/// single-member etcd cluster. Does nothing for external etcd, as kubeadm's phase.
pub fn write_local_etcd(root: &Root, cfg: &InitConfiguration) -> Result<(), Error> {
    if let Etcd::External(_) = cfg.cluster.etcd {
        log::debug!(
            "[etcd] External etcd mode. Skipping the creation of a manifest for local etcd"
        );
        return Ok(());
    }
    write_etcd_member(
        root,
        &LocalControlPlane::from_init(cfg),
        &cfg.node_registration.name,
        &[],
    )
}

/// Creates the etcd data directory (0700) and writes the etcd manifest for `node_name`;
/// `initial_cluster` lists the members of the cluster it joins (empty for a new cluster).
pub fn write_etcd_member(
    root: &Root,
    cp: &LocalControlPlane,
    node_name: &str,
    initial_cluster: &[EtcdMember],
) -> Result<(), Error> {
    let pod = etcd_pod(cp, node_name, initial_cluster)?;
    if let Etcd::Local(local) = &cp.cluster.etcd {
        root.create_dir_all(&local.data_dir, fs::mode::PRIVATE_DIR)?;
    }
    log::info!("[etcd] Creating static Pod manifest for local etcd in {MANIFESTS_DIR:?}");
    write_manifest(root, ETCD, &pod, &cp.cluster.kubernetes_version)
}

fn write_manifest(
    root: &Root,
    component: &str,
    pod: &Pod,
    version: &KubeVersion,
) -> Result<(), Error> {
    let yaml = manifest_yaml(pod, version).map_err(|source| Error::Serialize {
        component: component.to_string(),
        source,
    })?;
    // kubeadm creates the folder 0700 when the kubelet package has not.
    root.create_dir_all(Path::new(MANIFESTS_DIR), fs::mode::PRIVATE_DIR)?;
    root.write_atomic(manifest_path(component), yaml.as_bytes(), fs::mode::PRIVATE)?;
    Ok(())
}

/// A configuration shared by the unit tests of this module and of `kubelet` (the cluster part
/// is `cluster::tests_support`'s).
#[cfg(test)]
pub(crate) mod testutil {
    use crate::config::model::*;

    pub(crate) use crate::cluster::tests_support::cluster_config as cluster;

    pub fn init_config() -> InitConfiguration {
        let mut cfg = crate::config::defaults::init_configuration();
        cfg.cluster = cluster();
        cfg.bootstrap_tokens = vec![];
        cfg.node_registration.name = "cp-1".into();
        cfg.local_api_endpoint.advertise_address = Some("192.168.10.11".parse().unwrap());
        cfg
    }

    pub fn local_control_plane(cfg: &InitConfiguration) -> super::LocalControlPlane<'_> {
        super::LocalControlPlane::from_init(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::testutil::init_config;

    #[test]
    fn control_plane_phase_writes_private_manifests_and_honours_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let cfg = init_config();
        write_control_plane(&root, &root, &cfg, Some("scheduler")).unwrap();
        assert_eq!(
            root.list_dir(MANIFESTS_DIR).unwrap(),
            ["kube-scheduler.yaml"]
        );
        write_control_plane(&root, &root, &cfg, None).unwrap();
        assert_eq!(
            root.list_dir(MANIFESTS_DIR).unwrap(),
            [
                "kube-apiserver.yaml",
                "kube-controller-manager.yaml",
                "kube-scheduler.yaml"
            ]
        );
        assert_eq!(
            root.mode("/etc/kubernetes/manifests/kube-apiserver.yaml")
                .unwrap(),
            0o600
        );
        assert_eq!(root.mode(MANIFESTS_DIR).unwrap(), 0o700);
        let err = write_control_plane(&root, &root, &cfg, Some("etcd")).unwrap_err();
        assert!(matches!(err, Error::UnknownPhase(_)));
    }

    #[test]
    fn etcd_phase_creates_a_private_data_dir_and_skips_external_etcd() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut cfg = init_config();
        write_local_etcd(&root, &cfg).unwrap();
        assert_eq!(root.mode("/var/lib/etcd").unwrap(), 0o700);
        assert_eq!(
            root.mode("/etc/kubernetes/manifests/etcd.yaml").unwrap(),
            0o600
        );

        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        cfg.cluster.etcd = Etcd::External(crate::config::model::ExternalEtcd {
            endpoints: vec!["https://10.0.0.5:2379".into()],
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
        });
        write_local_etcd(&root, &cfg).unwrap();
        assert!(!root.exists(MANIFESTS_DIR));
    }

    #[test]
    fn host_detection_reads_the_node_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let cfg = init_config();
        root.create_dir_all("/etc/ca-certificates", fs::mode::DIR)
            .unwrap();
        root.write_atomic("/etc/kubernetes/pki/ca.crt", b"cert", fs::mode::PUBLIC)
            .unwrap();
        let host = ControlPlaneHost::detect(&root, &root, &cfg.cluster);
        assert_eq!(host.ca_cert_dirs, ["/etc/ca-certificates"]);
        assert!(host.external_ca);
        root.write_atomic("/etc/kubernetes/pki/ca.key", b"key", fs::mode::PRIVATE)
            .unwrap();
        assert!(!ControlPlaneHost::detect(&root, &root, &cfg.cluster).external_ca);
    }
}

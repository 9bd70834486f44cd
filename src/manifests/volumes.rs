//! hostPath volumes of the control-plane Pods, as kubeadm's `volumes.go` builds them: per
//! component, keyed by name (a user `extraVolumes` entry replaces a default of the same name),
//! emitted sorted by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::core::v1::{HostPathVolumeSource, Volume, VolumeMount};

use crate::config::model::{ClusterConfiguration, Etcd, ExternalEtcd, HostPathMount};

use super::ControlPlaneHost;
use super::args::last_arg;

const CA_CERTS_VOLUME: &str = "ca-certs";
const CA_CERTS_PATH: &str = "/etc/ssl/certs";
const K8S_CERTS_VOLUME: &str = "k8s-certs";
const KUBECONFIG_VOLUME: &str = "kubeconfig";
const FLEXVOLUME_VOLUME: &str = "flexvolume-dir";
const DEFAULT_FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";
const DIRECTORY_OR_CREATE: &str = "DirectoryOrCreate";
const FILE_OR_CREATE: &str = "FileOrCreate";

/// Directories `/etc/ssl/certs` may link into on some distributions; each one present on the
/// node is mounted read-only into the API server and the controller-manager.
pub const CA_CERTS_EXTRA_PATHS: &[&str] = &[
    "/etc/pki/ca-trust",
    "/etc/pki/tls/certs",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
];

/// One component's volumes and mounts, unique by name.
#[derive(Debug, Default)]
pub struct Mounts {
    volumes: BTreeMap<String, Volume>,
    mounts: BTreeMap<String, VolumeMount>,
}

impl Mounts {
    /// Adds (or replaces) the hostPath volume `name` and its mount. `path_type` is written as
    /// given, even empty, as kubeadm does for user volumes.
    pub fn host_path(
        &mut self,
        name: &str,
        host_path: &str,
        mount_path: &str,
        read_only: bool,
        path_type: &str,
    ) {
        self.add_volume(host_path_volume(name, host_path, path_type));
        self.add_mount(volume_mount(name, mount_path, read_only));
    }

    fn add_volume(&mut self, volume: Volume) {
        self.volumes.insert(volume.name.clone(), volume);
    }

    fn add_mount(&mut self, mount: VolumeMount) {
        self.mounts.insert(mount.name.clone(), mount);
    }

    fn extra(&mut self, extra: &[HostPathMount]) {
        for v in extra {
            self.host_path(
                &v.name,
                &v.host_path,
                &v.mount_path,
                v.read_only,
                &v.path_type,
            );
        }
    }

    /// Volumes sorted by name.
    pub fn volumes(&self) -> Vec<Volume> {
        self.volumes.values().cloned().collect()
    }

    /// Mounts sorted by name.
    pub fn mounts(&self) -> Vec<VolumeMount> {
        self.mounts.values().cloned().collect()
    }
}

pub fn host_path_volume(name: &str, path: &str, path_type: &str) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_string(),
            type_: Some(path_type.to_string()),
        }),
        ..Volume::default()
    }
}

pub fn volume_mount(name: &str, mount_path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: mount_path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn certificates_dir(cfg: &ClusterConfiguration) -> String {
    cfg.certificates_dir.to_string_lossy().into_owned()
}

/// The volume name kubeadm derives from a path: `/etc/pki/ca-trust` → `etc-pki-ca-trust`.
fn volume_name_for(path: &str) -> String {
    path.trim_start_matches('/').replace('/', "-")
}

fn add_system_ca_mounts(m: &mut Mounts, host: &ControlPlaneHost) {
    m.host_path(
        CA_CERTS_VOLUME,
        CA_CERTS_PATH,
        CA_CERTS_PATH,
        true,
        DIRECTORY_OR_CREATE,
    );
    for path in CA_CERTS_EXTRA_PATHS
        .iter()
        .filter(|p| host.ca_cert_dirs.iter().any(|d| d == *p))
    {
        m.host_path(
            &volume_name_for(path),
            path,
            path,
            true,
            DIRECTORY_OR_CREATE,
        );
    }
}

pub fn apiserver(cfg: &ClusterConfiguration, host: &ControlPlaneHost) -> Mounts {
    let mut m = Mounts::default();
    let pki = certificates_dir(cfg);
    m.host_path(K8S_CERTS_VOLUME, &pki, &pki, true, DIRECTORY_OR_CREATE);
    add_system_ca_mounts(&mut m, host);
    if let Etcd::External(external) = &cfg.etcd {
        for (i, dir) in external_etcd_cert_dirs(external, &pki).iter().enumerate() {
            m.host_path(
                &format!("etcd-certs-{i}"),
                dir,
                dir,
                true,
                DIRECTORY_OR_CREATE,
            );
        }
    }
    m.extra(&cfg.api_server.component.extra_volumes);
    m
}

pub fn controller_manager(cfg: &ClusterConfiguration, host: &ControlPlaneHost) -> Mounts {
    let mut m = Mounts::default();
    let pki = certificates_dir(cfg);
    m.host_path(K8S_CERTS_VOLUME, &pki, &pki, true, DIRECTORY_OR_CREATE);
    add_system_ca_mounts(&mut m, host);
    let kubeconfig = "/etc/kubernetes/controller-manager.conf";
    m.host_path(
        KUBECONFIG_VOLUME,
        kubeconfig,
        kubeconfig,
        true,
        FILE_OR_CREATE,
    );
    // Read-write: third-party storage plugins talk to it over unix sockets.
    let flexvolume = last_arg(&cfg.controller_manager.extra_args, "flex-volume-plugin-dir")
        .unwrap_or(DEFAULT_FLEXVOLUME_DIR);
    m.host_path(
        FLEXVOLUME_VOLUME,
        flexvolume,
        flexvolume,
        false,
        DIRECTORY_OR_CREATE,
    );
    m.extra(&cfg.controller_manager.extra_volumes);
    m
}

pub fn scheduler(cfg: &ClusterConfiguration) -> Mounts {
    let mut m = Mounts::default();
    let kubeconfig = "/etc/kubernetes/scheduler.conf";
    m.host_path(
        KUBECONFIG_VOLUME,
        kubeconfig,
        kubeconfig,
        true,
        FILE_OR_CREATE,
    );
    m.extra(&cfg.scheduler.extra_volumes);
    m
}

/// The directories holding the external etcd CA, certificate and key that are not already
/// mounted (system CA paths, the Kubernetes certificates directory), without nesting: a parent
/// directory replaces its children. Sorted, as kubeadm numbers them `etcd-certs-<i>`.
fn external_etcd_cert_dirs(external: &ExternalEtcd, pki_dir: &str) -> Vec<String> {
    let mut dirs = BTreeSet::<String>::new();
    for file in [&external.ca_file, &external.cert_file, &external.key_file] {
        let dir = go_dir(file);
        let already_mounted = dir == "."
            || dir.starts_with(CA_CERTS_PATH)
            || dir.starts_with(pki_dir)
            || CA_CERTS_EXTRA_PATHS.iter().any(|p| dir.starts_with(p));
        if already_mounted || dirs.iter().any(|d| dir.starts_with(d.as_str())) {
            continue;
        }
        dirs.retain(|d| !d.starts_with(&dir));
        dirs.insert(dir);
    }
    dirs.into_iter().collect()
}

/// Go's `filepath.Dir`: `"."` for a bare or empty name, `"/"` at the root.
fn go_dir(file: &str) -> String {
    match Path::new(file).parent() {
        None if file.starts_with('/') => "/".to_string(),
        None => ".".to_string(),
        Some(p) if p.as_os_str().is_empty() => ".".to_string(),
        Some(p) => p.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::testutil::cluster;

    fn names(m: &Mounts) -> Vec<String> {
        m.volumes().into_iter().map(|v| v.name).collect()
    }

    #[test]
    fn apiserver_mounts_only_the_system_ca_dirs_present_on_the_node() {
        let host = ControlPlaneHost {
            ca_cert_dirs: vec![
                "/etc/pki/tls/certs".into(),
                "/usr/share/ca-certificates".into(),
            ],
            ..ControlPlaneHost::default()
        };
        let m = apiserver(&cluster(), &host);
        assert_eq!(
            names(&m),
            [
                "ca-certs",
                "etc-pki-tls-certs",
                "k8s-certs",
                "usr-share-ca-certificates"
            ]
        );
        assert!(m.mounts().iter().all(|m| m.read_only == Some(true)));
    }

    #[test]
    fn controller_manager_flexvolume_is_writable_and_follows_its_flag() {
        let mut cfg = cluster();
        cfg.controller_manager
            .extra_args
            .push(crate::manifests::args::arg(
                "flex-volume-plugin-dir",
                "/opt/flex",
            ));
        let m = controller_manager(&cfg, &ControlPlaneHost::default());
        let flex = m
            .mounts()
            .into_iter()
            .find(|m| m.name == "flexvolume-dir")
            .unwrap();
        assert_eq!(flex.mount_path, "/opt/flex");
        assert_eq!(flex.read_only, None);
        let kubeconfig = m
            .volumes()
            .into_iter()
            .find(|v| v.name == "kubeconfig")
            .unwrap();
        let hp = kubeconfig.host_path.unwrap();
        assert_eq!(hp.path, "/etc/kubernetes/controller-manager.conf");
        assert_eq!(hp.type_.as_deref(), Some("FileOrCreate"));
    }

    #[test]
    fn user_volume_replaces_a_default_of_the_same_name() {
        let mut cfg = cluster();
        cfg.scheduler.extra_volumes.push(HostPathMount {
            name: "kubeconfig".into(),
            host_path: "/srv/scheduler.conf".into(),
            mount_path: "/etc/kubernetes/scheduler.conf".into(),
            read_only: false,
            path_type: String::new(),
        });
        let m = scheduler(&cfg);
        let v = m.volumes();
        assert_eq!(v.len(), 1);
        let hp = v[0].host_path.as_ref().unwrap();
        assert_eq!(hp.path, "/srv/scheduler.conf");
        assert_eq!(hp.type_.as_deref(), Some(""));
        assert_eq!(m.mounts()[0].read_only, None);
    }

    #[test]
    fn external_etcd_dirs_skip_mounted_paths_and_collapse_nesting() {
        let external = ExternalEtcd {
            endpoints: vec![],
            ca_file: "/etc/etcd/pki/ca.crt".into(),
            cert_file: "/etc/etcd/pki/client/apiserver.crt".into(),
            key_file: "/etc/kubernetes/pki/etcd-client.key".into(),
        };
        assert_eq!(
            external_etcd_cert_dirs(&external, "/etc/kubernetes/pki"),
            ["/etc/etcd/pki"]
        );
        let parent_later = ExternalEtcd {
            ca_file: "/srv/etcd/a/ca.crt".into(),
            cert_file: "/srv/etcd/b.crt".into(),
            key_file: "".into(),
            endpoints: vec![],
        };
        assert_eq!(
            external_etcd_cert_dirs(&parent_later, "/etc/kubernetes/pki"),
            ["/srv/etcd"]
        );
        assert_eq!(go_dir(""), ".");
        assert_eq!(go_dir("ca.crt"), ".");
        assert_eq!(go_dir("/ca.crt"), "/");
    }
}

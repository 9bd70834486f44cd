//! kubeadm's `kubelet-start` phase, files only: `/var/lib/kubelet/kubeadm-flags.env`,
//! `/var/lib/kubelet/instance-config.yaml` (kubeadm ≥ 1.34's `NodeLocalCRISocket`) and
//! `/var/lib/kubelet/config.yaml`, written as kubeadm writes them for the target version.
//! Starting the kubelet is the caller's business.

mod config;
mod flags;

use serde_yaml::Mapping;

use crate::config::model::{ClusterConfiguration, InitConfiguration, NodeRegistration};
use crate::fs::{self, Root};

pub use config::{
    API_VERSION, HEALTHZ_BIND_ADDRESS, HEALTHZ_PORT, KIND, SYSTEMD_RESOLVED_RESOLV_CONF,
    cluster_dns, defaulted_kubelet_config, node_local_config,
};
pub use flags::{flags_env, go_quote, kubeadm_flags, node_local_cri_socket};

pub const KUBELET_DIR: &str = "/var/lib/kubelet";
pub const CONFIG_FILE: &str = "/var/lib/kubelet/config.yaml";
pub const FLAGS_FILE: &str = "/var/lib/kubelet/kubeadm-flags.env";
pub const INSTANCE_CONFIG_FILE: &str = "/var/lib/kubelet/instance-config.yaml";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot serialise the kubelet configuration for {path}: {source}")]
    Serialize {
        path: &'static str,
        #[source]
        source: serde_yaml::Error,
    },
    #[error(transparent)]
    Fs(#[from] fs::FsError),
}

/// Facts about the node that change the kubelet files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletHost {
    /// The hostname, lowercased (the kubelet's default node name).
    pub hostname: String,
    /// systemd-resolved runs: Pods must get its upstream servers, not the 127.0.0.53 stub.
    pub systemd_resolved_active: bool,
}

impl KubeletHost {
    /// The kernel hostname, and whether systemd-resolved has written its upstream
    /// `resolv.conf` under `root` (the file the kubelet would then be pointed at).
    pub fn detect(root: &Root) -> Self {
        let hostname = match nix::unistd::gethostname() {
            Ok(name) => name.to_string_lossy().trim().to_lowercase(),
            Err(e) => {
                log::warn!("cannot read the hostname: {e}; the kubelet gets --hostname-override");
                String::new()
            }
        };
        KubeletHost {
            hostname,
            systemd_resolved_active: root.path(SYSTEMD_RESOLVED_RESOLV_CONF).is_file(),
        }
    }
}

/// `kubeadm init`'s kubelet files, from the init configuration and the user's
/// KubeletConfiguration document.
pub fn write_init_files(
    root: &Root,
    cfg: &InitConfiguration,
    host: &KubeletHost,
) -> Result<(), Error> {
    let config = defaulted_kubelet_config(&cfg.cluster, &cfg.kubelet);
    write_kubelet_files(
        root,
        &config,
        &cfg.node_registration,
        &cfg.cluster,
        false,
        host,
    )
}

/// Writes the kubelet files from an already defaulted cluster-wide configuration (init's own,
/// or the `kubelet-config` ConfigMap at join). `register_taints` passes the node's taints as
/// a flag (kubeadm does so for a worker join; init and control-plane join taint the Node
/// object instead).
pub fn write_kubelet_files(
    root: &Root,
    kubelet_config: &Mapping,
    node: &NodeRegistration,
    cluster: &ClusterConfiguration,
    register_taints: bool,
    host: &KubeletHost,
) -> Result<(), Error> {
    // kubeadm creates the directory 0700 when the kubelet package has not.
    root.create_dir_all(KUBELET_DIR, fs::mode::PRIVATE_DIR)?;

    log::info!(
        "[kubelet-start] Writing kubelet environment file with flags to file {FLAGS_FILE:?}"
    );
    let env = flags_env(node, cluster, register_taints, &host.hostname);
    root.write_atomic(FLAGS_FILE, env.as_bytes(), fs::mode::PUBLIC)?;

    let instance_cri_socket = node_local_cri_socket(cluster).then_some(node.cri_socket.as_str());
    if let Some(socket) = instance_cri_socket {
        log::info!(
            "[kubelet-start] Writing kubelet configuration to file {INSTANCE_CONFIG_FILE:?}"
        );
        let instance = format!("containerRuntimeEndpoint: {}\n", go_quote(socket));
        root.write_atomic(INSTANCE_CONFIG_FILE, instance.as_bytes(), fs::mode::PUBLIC)?;
    }

    let config = node_local_config(
        kubelet_config,
        host.systemd_resolved_active,
        instance_cri_socket,
    );
    let yaml = serde_yaml::to_string(&config).map_err(|source| Error::Serialize {
        path: CONFIG_FILE,
        source,
    })?;
    log::info!("[kubelet-start] Writing kubelet configuration to file {CONFIG_FILE:?}");
    root.write_atomic(CONFIG_FILE, yaml.as_bytes(), fs::mode::PUBLIC)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::testutil::init_config;
    use std::os::unix::fs::PermissionsExt;

    fn host() -> KubeletHost {
        KubeletHost {
            hostname: "cp-1".into(),
            systemd_resolved_active: false,
        }
    }

    fn read(root: &Root, path: &str) -> String {
        String::from_utf8(root.read(path).unwrap()).unwrap()
    }

    #[test]
    fn v1_34_writes_flags_instance_config_and_config_readable_by_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let cfg = init_config();
        let config = defaulted_kubelet_config(&cfg.cluster, &cfg.kubelet);
        write_kubelet_files(
            &root,
            &config,
            &cfg.node_registration,
            &cfg.cluster,
            false,
            &host(),
        )
        .unwrap();
        assert_eq!(
            read(&root, INSTANCE_CONFIG_FILE),
            "containerRuntimeEndpoint: \"unix:///var/run/containerd/containerd.sock\"\n"
        );
        let written: Mapping = serde_yaml::from_str(&read(&root, CONFIG_FILE)).unwrap();
        assert_eq!(
            written["containerRuntimeEndpoint"],
            "unix:///var/run/containerd/containerd.sock"
        );
        for file in [FLAGS_FILE, INSTANCE_CONFIG_FILE, CONFIG_FILE] {
            let mode = std::fs::metadata(root.path(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644, "{file}");
        }
    }

    #[test]
    fn before_1_34_there_is_no_instance_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut cfg = init_config();
        cfg.cluster.kubernetes_version = "v1.33.3".parse().unwrap();
        let config = defaulted_kubelet_config(&cfg.cluster, &cfg.kubelet);
        write_kubelet_files(
            &root,
            &config,
            &cfg.node_registration,
            &cfg.cluster,
            false,
            &host(),
        )
        .unwrap();
        assert!(!root.exists(INSTANCE_CONFIG_FILE));
        assert!(!read(&root, CONFIG_FILE).contains("containerRuntimeEndpoint"));
        assert!(read(&root, FLAGS_FILE).contains("--container-runtime-endpoint="));
    }

    #[test]
    fn resolved_detection_looks_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert!(!KubeletHost::detect(&root).systemd_resolved_active);
        root.write_atomic(
            SYSTEMD_RESOLVED_RESOLV_CONF,
            b"nameserver 10.0.0.2\n",
            0o644,
        )
        .unwrap();
        assert!(KubeletHost::detect(&root).systemd_resolved_active);
    }
}

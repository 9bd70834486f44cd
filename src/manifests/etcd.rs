//! The local (stacked) etcd static Pod, as kubeadm's `phases/etcd/local.go` builds it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::config::model::{Arg, ClusterConfiguration, Etcd, LocalEtcd};

use super::args::{arg, arguments_to_command, last_arg, set_arg};
use super::pod::{
    ProbeTarget, component_pod, liveness_probe, merge_env, readiness_probe, requests, startup_probe,
};
use super::volumes::{host_path_volume, volume_mount};
use super::{Error, LocalControlPlane, images};
use crate::config::net::join_host_port;
use crate::etcd::{CLIENT_PORT, client_url, peer_url};

pub const ETCD: &str = "etcd";
const METRICS_PORT: u16 = 2381;
const DATA_VOLUME: &str = "etcd-data";
const CERTS_VOLUME: &str = "etcd-certs";
const ADVERTISE_CLIENT_URLS_ANNOTATION: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// A member of an existing etcd cluster, for a control-plane node joining it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    pub name: String,
    /// `https://<ip>:2380`.
    pub peer_url: String,
}

fn local_etcd(cfg: &ClusterConfiguration) -> Result<&LocalEtcd, Error> {
    match &cfg.etcd {
        Etcd::Local(local) => Ok(local),
        Etcd::External(_) => Err(Error::ExternalEtcd),
    }
}

/// The etcd Pod for `node_name`. An empty `initial_cluster` starts a new cluster with this
/// member alone (init); otherwise the member joins the listed cluster, which must include it.
pub fn etcd_pod(
    cp: &LocalControlPlane,
    node_name: &str,
    initial_cluster: &[EtcdMember],
) -> Result<Pod, Error> {
    let cfg = cp.cluster;
    let local = local_etcd(cfg)?;
    let addr = cp.advertise_address(ETCD)?;
    let data_dir = local.data_dir.to_string_lossy().into_owned();
    let certs_dir = format!("{}/etcd", cfg.certificates_dir.to_string_lossy());
    let (probe_host, probe_port, probe_scheme) = probe_endpoint(local, addr.is_ipv6());
    let target = ProbeTarget::for_version(probe_port, &cfg.kubernetes_version);
    let container = Container {
        name: ETCD.to_string(),
        command: Some(etcd_command(cfg, local, addr, node_name, initial_cluster)),
        image: Some(images::etcd_image(cfg)),
        image_pull_policy: Some("IfNotPresent".to_string()),
        // Read-write: etcd persists its data there.
        volume_mounts: Some(vec![
            volume_mount(DATA_VOLUME, &data_dir, false),
            volume_mount(CERTS_VOLUME, &certs_dir, false),
        ]),
        resources: Some(requests("100m", Some("100Mi"))),
        liveness_probe: Some(liveness_probe(&probe_host, "/livez", target, probe_scheme)),
        readiness_probe: Some(readiness_probe(
            &probe_host,
            "/readyz",
            target,
            probe_scheme,
        )),
        startup_probe: Some(startup_probe(
            &probe_host,
            "/readyz",
            target,
            probe_scheme,
            cp.health_check_timeout,
        )),
        env: merge_env(&[&local.extra_envs]),
        ports: target.container_ports(),
        ..Container::default()
    };
    let volumes = vec![
        host_path_volume(CERTS_VOLUME, &certs_dir, "DirectoryOrCreate"),
        host_path_volume(DATA_VOLUME, &data_dir, "DirectoryOrCreate"),
    ];
    let annotations = BTreeMap::from([(
        ADVERTISE_CLIENT_URLS_ANNOTATION.to_string(),
        client_url(addr),
    )]);
    Ok(component_pod(container, volumes, Some(annotations)))
}

fn etcd_command(
    cfg: &ClusterConfiguration,
    local: &LocalEtcd,
    addr: IpAddr,
    node_name: &str,
    initial_cluster: &[EtcdMember],
) -> Vec<String> {
    let pki = |name: &str| {
        cfg.certificates_dir
            .join(name)
            .to_string_lossy()
            .into_owned()
    };
    // Loopback of the advertise address' family.
    let localhost = if addr.is_ipv6() { "::1" } else { "127.0.0.1" };
    let mut args: Vec<Arg> = vec![
        arg("name", node_name),
        arg(
            "listen-client-urls",
            format!(
                "https://{},{}",
                join_host_port(localhost, CLIENT_PORT),
                client_url(addr)
            ),
        ),
        arg("advertise-client-urls", client_url(addr)),
        arg("listen-peer-urls", peer_url(addr)),
        arg("initial-advertise-peer-urls", peer_url(addr)),
        arg("data-dir", local.data_dir.to_string_lossy()),
        arg("cert-file", pki("etcd/server.crt")),
        arg("key-file", pki("etcd/server.key")),
        arg("trusted-ca-file", pki("etcd/ca.crt")),
        arg("client-cert-auth", "true"),
        arg("peer-cert-file", pki("etcd/peer.crt")),
        arg("peer-key-file", pki("etcd/peer.key")),
        arg("peer-trusted-ca-file", pki("etcd/ca.crt")),
        arg("peer-client-cert-auth", "true"),
        arg("snapshot-count", "10000"),
        arg(
            "listen-metrics-urls",
            format!("http://{}", join_host_port(localhost, METRICS_PORT)),
        ),
    ];
    // etcd 3.6 turned these experimental flags into a feature gate and a stable flag.
    if etcd_is_at_least_3_6(&images::etcd_image_tag(cfg)) {
        args.push(arg("feature-gates", "InitialCorruptCheck=true"));
        args.push(arg("watch-progress-notify-interval", "5s"));
    } else {
        args.push(arg("experimental-initial-corrupt-check", "true"));
        args.push(arg("experimental-watch-progress-notify-interval", "5s"));
    }
    if initial_cluster.is_empty() {
        set_arg(
            &mut args,
            "initial-cluster",
            format!("{node_name}={}", peer_url(addr)),
        );
    } else {
        let members: Vec<String> = initial_cluster
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        set_arg(&mut args, "initial-cluster", members.join(","));
        set_arg(&mut args, "initial-cluster-state", "existing");
    }
    std::iter::once(ETCD.to_string())
        .chain(arguments_to_command(&args, &local.extra_args))
        .collect()
}

/// Whether an etcd image tag (`3.6.5-0`) is semantic version 3.6.0 or later. As with kubeadm's
/// semver comparison, a pre-release (`3.6.0-rc.1`) is older than its release and an
/// unparsable tag counts as older.
fn etcd_is_at_least_3_6(tag: &str) -> bool {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let tag = tag.split('+').next().unwrap_or_default();
    let (core, pre_release) = match tag.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (tag, None),
    };
    let nums: Option<Vec<u64>> = core.split('.').map(|n| n.parse().ok()).collect();
    match nums.as_deref() {
        Some(&[major, minor, patch]) => {
            let version = (major, minor, patch);
            version > (3, 6, 0) || (version == (3, 6, 0) && pre_release.is_none())
        }
        _ => false,
    }
}

/// Host, port and scheme of the probes: the first `listen-metrics-urls` entry when the user
/// set one, else plain HTTP on loopback port 2381 (kubeadm's `GetEtcdProbeEndpoint`).
fn probe_endpoint(local: &LocalEtcd, ipv6: bool) -> (String, i32, &'static str) {
    let localhost = if ipv6 { "::1" } else { "127.0.0.1" };
    let default = (localhost.to_string(), i32::from(METRICS_PORT), "HTTP");
    let Some(urls) = last_arg(&local.extra_args, "listen-metrics-urls") else {
        return default;
    };
    let first = urls.split(',').next().unwrap_or("");
    let Some((scheme, rest)) = first.split_once("://") else {
        return default;
    };
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "HTTPS"
    } else {
        "HTTP"
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = split_host_port(host_port);
    let host = if host.is_empty() { localhost } else { host };
    let port = port
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .map_or(i32::from(METRICS_PORT), i32::from);
    (host.to_string(), port, scheme)
}

/// `host[:port]` or `[v6][:port]`, as Go's `URL.Hostname()` and `URL.Port()` split it.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::testutil::{init_config, local_control_plane};

    fn command_of(pod: &Pod) -> Vec<String> {
        pod.spec.as_ref().unwrap().containers[0]
            .command
            .clone()
            .unwrap()
    }

    #[test]
    fn new_cluster_has_this_member_alone_and_etcd_3_6_flags() {
        let cfg = init_config();
        let pod = etcd_pod(&local_control_plane(&cfg), "cp-1", &[]).unwrap();
        let cmd = command_of(&pod);
        for want in [
            "--initial-cluster=cp-1=https://192.168.10.11:2380",
            "--listen-client-urls=https://127.0.0.1:2379,https://192.168.10.11:2379",
            "--listen-metrics-urls=http://127.0.0.1:2381",
            "--feature-gates=InitialCorruptCheck=true",
            "--watch-progress-notify-interval=5s",
            "--snapshot-count=10000",
            "--data-dir=/var/lib/etcd",
        ] {
            assert!(cmd.iter().any(|c| c == want), "missing {want} in {cmd:?}");
        }
        assert!(!cmd.iter().any(|c| c.starts_with("--initial-cluster-state")));
        assert_eq!(
            pod.metadata.annotations.unwrap()[ADVERTISE_CLIENT_URLS_ANNOTATION],
            "https://192.168.10.11:2379"
        );
    }

    #[test]
    fn joining_member_lists_the_existing_cluster() {
        let cfg = init_config();
        let members = [
            EtcdMember {
                name: "cp-0".into(),
                peer_url: "https://192.168.10.10:2380".into(),
            },
            EtcdMember {
                name: "cp-1".into(),
                peer_url: "https://192.168.10.11:2380".into(),
            },
        ];
        let cmd = command_of(&etcd_pod(&local_control_plane(&cfg), "cp-1", &members).unwrap());
        assert!(cmd.iter().any(|c| c
            == "--initial-cluster=cp-0=https://192.168.10.10:2380,cp-1=https://192.168.10.11:2380"));
        assert!(cmd.iter().any(|c| c == "--initial-cluster-state=existing"));
    }

    #[test]
    fn etcd_3_5_image_gets_the_experimental_flags() {
        let mut cfg = init_config();
        cfg.cluster.kubernetes_version = "v1.33.5".parse().unwrap();
        let cmd = command_of(&etcd_pod(&local_control_plane(&cfg), "cp-1", &[]).unwrap());
        assert!(
            cmd.iter()
                .any(|c| c == "--experimental-initial-corrupt-check=true")
        );
        assert!(
            cmd.iter()
                .any(|c| c == "--experimental-watch-progress-notify-interval=5s")
        );
        assert!(etcd_is_at_least_3_6("3.6.5-0"));
        assert!(etcd_is_at_least_3_6("v3.7.0"));
        assert!(!etcd_is_at_least_3_6("3.6.0-rc.1"));
        assert!(etcd_is_at_least_3_6("3.6.0"));
        assert!(!etcd_is_at_least_3_6("3.5.24-0"));
        assert!(!etcd_is_at_least_3_6("latest"));
    }

    #[test]
    fn probes_follow_a_user_metrics_url() {
        let mut cfg = init_config();
        if let Etcd::Local(local) = &mut cfg.cluster.etcd {
            local.extra_args.push(arg(
                "listen-metrics-urls",
                "https://[fd00::1]:12381,http://127.0.0.1:2381",
            ));
        }
        let Etcd::Local(local) = &cfg.cluster.etcd else {
            unreachable!()
        };
        assert_eq!(
            probe_endpoint(local, false),
            ("fd00::1".to_string(), 12381, "HTTPS")
        );
        let default = LocalEtcd {
            extra_args: vec![],
            ..local.clone()
        };
        assert_eq!(
            probe_endpoint(&default, true),
            ("::1".to_string(), 2381, "HTTP")
        );
    }

    #[test]
    fn external_etcd_has_no_local_pod() {
        let mut cfg = init_config();
        cfg.cluster.etcd = Etcd::External(crate::config::model::ExternalEtcd {
            endpoints: vec!["https://10.0.0.5:2379".into()],
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
        });
        assert!(matches!(
            etcd_pod(&local_control_plane(&cfg), "cp-1", &[]),
            Err(Error::ExternalEtcd)
        ));
    }
}

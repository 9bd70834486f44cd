//! kube-apiserver, kube-controller-manager and kube-scheduler static Pods, as kubeadm's
//! `phases/controlplane/manifests.go` builds them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::config::model::{Arg, ClusterConfiguration, Etcd};

use super::args::{arg, arguments_to_command, last_arg, set_arg};
use super::pod::{
    ProbeTarget, component_pod, liveness_probe, merge_env, probe_address, readiness_probe,
    requests, startup_probe,
};
use super::{ControlPlaneHost, Error, LocalControlPlane, images, volumes};
use crate::config::net::join_host_port;

pub const KUBE_APISERVER: &str = "kube-apiserver";
pub const KUBE_CONTROLLER_MANAGER: &str = "kube-controller-manager";
pub const KUBE_SCHEDULER: &str = "kube-scheduler";

/// kubeadm's `KubeControllerManagerPort` and `KubeSchedulerPort`: the secure ports.
pub const KUBE_CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const KUBE_SCHEDULER_PORT: u16 = 10259;
const ADVERTISE_ADDRESS_ANNOTATION: &str =
    "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint";
const AUTHORIZATION_MODES: &[&str] = &[
    "Node",
    "RBAC",
    "Webhook",
    "ABAC",
    "AlwaysAllow",
    "AlwaysDeny",
];

fn pki(cfg: &ClusterConfiguration, name: &str) -> String {
    cfg.certificates_dir
        .join(name)
        .to_string_lossy()
        .into_owned()
}

pub fn kube_apiserver_pod(cp: &LocalControlPlane, host: &ControlPlaneHost) -> Result<Pod, Error> {
    let cfg = cp.cluster;
    let addr = cp.advertise_address(KUBE_APISERVER)?;
    let port = cp.endpoint.bind_port;
    let probe_host = addr.to_string();
    let probe_host = probe_address(&probe_host);
    let target = ProbeTarget::for_version(i32::from(port), &cfg.kubernetes_version);
    let mounts = volumes::apiserver(cfg, host);
    let container = Container {
        name: KUBE_APISERVER.to_string(),
        image: Some(images::kubernetes_image(cfg, KUBE_APISERVER)),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(apiserver_command(cp, addr)),
        volume_mounts: Some(mounts.mounts()),
        liveness_probe: Some(liveness_probe(probe_host, "/livez", target, "HTTPS")),
        readiness_probe: Some(readiness_probe(probe_host, "/readyz", target, "HTTPS")),
        startup_probe: Some(startup_probe(
            probe_host,
            "/livez",
            target,
            "HTTPS",
            cp.health_check_timeout,
        )),
        resources: Some(requests("250m", None)),
        env: merge_env(&[&host.proxy_env, &cfg.api_server.component.extra_envs]),
        ports: target.container_ports(),
        ..Container::default()
    };
    let annotations = BTreeMap::from([(
        ADVERTISE_ADDRESS_ANNOTATION.to_string(),
        join_host_port(&addr.to_string(), port),
    )]);
    Ok(component_pod(
        container,
        mounts.volumes(),
        Some(annotations),
    ))
}

fn apiserver_command(cp: &LocalControlPlane, addr: IpAddr) -> Vec<String> {
    let cfg = cp.cluster;
    let mut args = vec![
        arg("advertise-address", addr.to_string()),
        arg("enable-admission-plugins", "NodeRestriction"),
        arg(
            "service-cluster-ip-range",
            cfg.networking.service_subnet.to_string(),
        ),
        arg("service-account-key-file", pki(cfg, "sa.pub")),
        arg("service-account-signing-key-file", pki(cfg, "sa.key")),
        arg(
            "service-account-issuer",
            format!(
                "https://kubernetes.default.svc.{}",
                cfg.networking.dns_domain
            ),
        ),
        arg("client-ca-file", pki(cfg, "ca.crt")),
        arg("tls-cert-file", pki(cfg, "apiserver.crt")),
        arg("tls-private-key-file", pki(cfg, "apiserver.key")),
        arg(
            "kubelet-client-certificate",
            pki(cfg, "apiserver-kubelet-client.crt"),
        ),
        arg(
            "kubelet-client-key",
            pki(cfg, "apiserver-kubelet-client.key"),
        ),
        arg("enable-bootstrap-token-auth", "true"),
        arg("secure-port", cp.endpoint.bind_port.to_string()),
        arg("allow-privileged", "true"),
        arg(
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname",
        ),
        // The front proxy is configured unconditionally, with kubeadm's recommended values.
        arg("requestheader-username-headers", "X-Remote-User"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg(
            "requestheader-client-ca-file",
            pki(cfg, "front-proxy-ca.crt"),
        ),
        arg("requestheader-allowed-names", "front-proxy-client"),
        arg("proxy-client-cert-file", pki(cfg, "front-proxy-client.crt")),
        arg("proxy-client-key-file", pki(cfg, "front-proxy-client.key")),
    ];
    match &cfg.etcd {
        Etcd::External(external) => {
            set_arg(&mut args, "etcd-servers", external.endpoints.join(","));
            if !external.ca_file.is_empty() {
                set_arg(&mut args, "etcd-cafile", &external.ca_file);
            }
            if !external.cert_file.is_empty() && !external.key_file.is_empty() {
                set_arg(&mut args, "etcd-certfile", &external.cert_file);
                set_arg(&mut args, "etcd-keyfile", &external.key_file);
            }
        }
        Etcd::Local(local) => {
            // The local etcd listens on the loopback address of the advertise address' family.
            let localhost = if addr.is_ipv6() { "::1" } else { "127.0.0.1" };
            let servers = format!(
                "https://{}",
                join_host_port(localhost, crate::etcd::CLIENT_PORT)
            );
            set_arg(&mut args, "etcd-servers", servers);
            set_arg(&mut args, "etcd-cafile", pki(cfg, "etcd/ca.crt"));
            set_arg(
                &mut args,
                "etcd-certfile",
                pki(cfg, "apiserver-etcd-client.crt"),
            );
            set_arg(
                &mut args,
                "etcd-keyfile",
                pki(cfg, "apiserver-etcd-client.key"),
            );
            if let Some(urls) = last_arg(&local.extra_args, "advertise-client-urls") {
                set_arg(&mut args, "etcd-servers", urls);
            }
        }
    }
    let extra = &cfg.api_server.component.extra_args;
    // A structured authorization config excludes --authorization-mode.
    if last_arg(extra, "authorization-config").is_none() {
        let modes = authorization_modes(last_arg(extra, "authorization-mode").unwrap_or(""));
        set_arg(&mut args, "authorization-mode", modes);
    }
    command(KUBE_APISERVER, &args, extra)
}

/// `Node,RBAC`, unless the user asked for valid modes (unknown ones are dropped with a warning).
fn authorization_modes(requested: &str) -> String {
    let default = "Node,RBAC";
    let mut modes = Vec::new();
    for mode in requested.split(',').filter(|m| !m.is_empty()) {
        if AUTHORIZATION_MODES.contains(&mode) {
            modes.push(mode);
        } else {
            log::warn!("ignoring unknown kube-apiserver authorization-mode {mode:?}");
        }
    }
    if modes.is_empty() {
        return default.to_string();
    }
    let modes = modes.join(",");
    if modes != default {
        log::warn!("the default kube-apiserver authorization-mode is {default:?}; using {modes:?}");
    }
    modes
}

pub fn kube_controller_manager_pod(cp: &LocalControlPlane, host: &ControlPlaneHost) -> Pod {
    let cfg = cp.cluster;
    let probe_host = last_arg(&cfg.controller_manager.extra_args, "bind-address")
        .map(probe_address)
        .unwrap_or("127.0.0.1");
    let target = ProbeTarget::for_version(
        i32::from(KUBE_CONTROLLER_MANAGER_PORT),
        &cfg.kubernetes_version,
    );
    let mounts = volumes::controller_manager(cfg, host);
    let container = Container {
        name: KUBE_CONTROLLER_MANAGER.to_string(),
        image: Some(images::kubernetes_image(cfg, KUBE_CONTROLLER_MANAGER)),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(controller_manager_command(cfg, host)),
        volume_mounts: Some(mounts.mounts()),
        liveness_probe: Some(liveness_probe(probe_host, "/healthz", target, "HTTPS")),
        startup_probe: Some(startup_probe(
            probe_host,
            "/healthz",
            target,
            "HTTPS",
            cp.health_check_timeout,
        )),
        resources: Some(requests("200m", None)),
        env: merge_env(&[&host.proxy_env, &cfg.controller_manager.extra_envs]),
        ports: target.container_ports(),
        ..Container::default()
    };
    component_pod(container, mounts.volumes(), None)
}

fn controller_manager_command(cfg: &ClusterConfiguration, host: &ControlPlaneHost) -> Vec<String> {
    let kubeconfig = "/etc/kubernetes/controller-manager.conf";
    let ca = pki(cfg, "ca.crt");
    let mut args = vec![
        arg("bind-address", "127.0.0.1"),
        arg("leader-elect", "true"),
        arg("kubeconfig", kubeconfig),
        arg("authentication-kubeconfig", kubeconfig),
        arg("authorization-kubeconfig", kubeconfig),
        arg("client-ca-file", &ca),
        arg(
            "requestheader-client-ca-file",
            pki(cfg, "front-proxy-ca.crt"),
        ),
        arg("root-ca-file", &ca),
        arg("service-account-private-key-file", pki(cfg, "sa.key")),
        arg("cluster-signing-cert-file", &ca),
        arg("cluster-signing-key-file", pki(cfg, "ca.key")),
        arg("use-service-account-credentials", "true"),
        arg("controllers", "*,bootstrapsigner,tokencleaner"),
    ];
    // With an external CA there is no ca.key: empty paths keep the CSR signer from starting.
    if host.external_ca {
        set_arg(&mut args, "cluster-signing-key-file", "");
        set_arg(&mut args, "cluster-signing-cert-file", "");
    }
    if let Some(pod_subnet) = &cfg.networking.pod_subnet {
        set_arg(&mut args, "allocate-node-cidrs", "true");
        set_arg(&mut args, "cluster-cidr", pod_subnet.to_string());
        set_arg(
            &mut args,
            "service-cluster-ip-range",
            cfg.networking.service_subnet.to_string(),
        );
    }
    if !cfg.cluster_name.is_empty() {
        set_arg(&mut args, "cluster-name", &cfg.cluster_name);
    }
    command(
        KUBE_CONTROLLER_MANAGER,
        &args,
        &cfg.controller_manager.extra_args,
    )
}

pub fn kube_scheduler_pod(cp: &LocalControlPlane, host: &ControlPlaneHost) -> Pod {
    let cfg = cp.cluster;
    let version = &cfg.kubernetes_version;
    let probe_host = last_arg(&cfg.scheduler.extra_args, "bind-address")
        .map(probe_address)
        .unwrap_or("127.0.0.1");
    let target = ProbeTarget::for_version(i32::from(KUBE_SCHEDULER_PORT), version);
    // kubeadm 1.32 moved the scheduler from the deprecated /healthz to /livez and /readyz.
    let (live, ready) = if version.at_least(32) {
        ("/livez", Some("/readyz"))
    } else {
        ("/healthz", None)
    };
    let mounts = volumes::scheduler(cfg);
    let container = Container {
        name: KUBE_SCHEDULER.to_string(),
        image: Some(images::kubernetes_image(cfg, KUBE_SCHEDULER)),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(scheduler_command(cfg)),
        volume_mounts: Some(mounts.mounts()),
        liveness_probe: Some(liveness_probe(probe_host, live, target, "HTTPS")),
        readiness_probe: ready.map(|path| readiness_probe(probe_host, path, target, "HTTPS")),
        startup_probe: Some(startup_probe(
            probe_host,
            live,
            target,
            "HTTPS",
            cp.health_check_timeout,
        )),
        resources: Some(requests("100m", None)),
        env: merge_env(&[&host.proxy_env, &cfg.scheduler.extra_envs]),
        ports: target.container_ports(),
        ..Container::default()
    };
    component_pod(container, mounts.volumes(), None)
}

fn scheduler_command(cfg: &ClusterConfiguration) -> Vec<String> {
    let kubeconfig = "/etc/kubernetes/scheduler.conf";
    let args = [
        arg("bind-address", "127.0.0.1"),
        arg("leader-elect", "true"),
        arg("kubeconfig", kubeconfig),
        arg("authentication-kubeconfig", kubeconfig),
        arg("authorization-kubeconfig", kubeconfig),
    ];
    command(KUBE_SCHEDULER, &args, &cfg.scheduler.extra_args)
}

fn command(binary: &str, defaults: &[Arg], extra: &[Arg]) -> Vec<String> {
    std::iter::once(binary.to_string())
        .chain(arguments_to_command(defaults, extra))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{ExternalEtcd, HostPathMount};
    use crate::manifests::testutil::{init_config, local_control_plane};

    fn flags(pod: &Pod) -> Vec<String> {
        pod.spec.as_ref().unwrap().containers[0]
            .command
            .clone()
            .unwrap()
    }

    fn has(pod: &Pod, flag: &str) -> bool {
        flags(pod).iter().any(|f| f == flag)
    }

    #[test]
    fn apiserver_flags_as_kubeadm_writes_them() {
        let cfg = init_config();
        let pod =
            kube_apiserver_pod(&local_control_plane(&cfg), &ControlPlaneHost::default()).unwrap();
        let f = flags(&pod);
        assert_eq!(f[0], "kube-apiserver");
        let mut sorted = f[1..].to_vec();
        sorted.sort();
        assert_eq!(f[1..], sorted[..], "flags are sorted");
        for want in [
            "--advertise-address=192.168.10.11",
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            "--client-ca-file=/etc/kubernetes/pki/ca.crt",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            "--etcd-servers=https://127.0.0.1:2379",
            "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
            "--secure-port=6443",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/12",
        ] {
            assert!(has(&pod, want), "missing {want} in {f:?}");
        }
        let annotations = pod.metadata.annotations.unwrap();
        assert_eq!(
            annotations[ADVERTISE_ADDRESS_ANNOTATION],
            "192.168.10.11:6443"
        );
    }

    #[test]
    fn apiserver_on_ipv6_talks_to_etcd_on_ipv6_loopback() {
        let mut cfg = init_config();
        cfg.local_api_endpoint.advertise_address = Some("fd00::11".parse().unwrap());
        let pod =
            kube_apiserver_pod(&local_control_plane(&cfg), &ControlPlaneHost::default()).unwrap();
        assert!(has(&pod, "--etcd-servers=https://[::1]:2379"));
        assert_eq!(
            pod.metadata.annotations.unwrap()[ADVERTISE_ADDRESS_ANNOTATION],
            "[fd00::11]:6443"
        );
    }

    #[test]
    fn apiserver_uses_external_etcd_and_mounts_its_certificates() {
        let mut cfg = init_config();
        cfg.cluster.etcd = Etcd::External(ExternalEtcd {
            endpoints: vec![
                "https://10.0.0.5:2379".into(),
                "https://10.0.0.6:2379".into(),
            ],
            ca_file: "/etc/etcd/ca.crt".into(),
            cert_file: "/etc/etcd/client.crt".into(),
            key_file: "/etc/etcd/client.key".into(),
        });
        let pod =
            kube_apiserver_pod(&local_control_plane(&cfg), &ControlPlaneHost::default()).unwrap();
        assert!(has(
            &pod,
            "--etcd-servers=https://10.0.0.5:2379,https://10.0.0.6:2379"
        ));
        assert!(has(&pod, "--etcd-cafile=/etc/etcd/ca.crt"));
        assert!(has(&pod, "--etcd-keyfile=/etc/etcd/client.key"));
        let volumes = pod.spec.unwrap().volumes.unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| v.name == "etcd-certs-0"
                    && v.host_path.as_ref().unwrap().path == "/etc/etcd")
        );
    }

    #[test]
    fn local_etcd_advertise_urls_become_the_apiserver_etcd_servers() {
        let mut cfg = init_config();
        if let Etcd::Local(local) = &mut cfg.cluster.etcd {
            local
                .extra_args
                .push(arg("advertise-client-urls", "https://10.1.1.1:2379"));
        }
        let pod =
            kube_apiserver_pod(&local_control_plane(&cfg), &ControlPlaneHost::default()).unwrap();
        assert!(has(&pod, "--etcd-servers=https://10.1.1.1:2379"));
    }

    #[test]
    fn structured_authorization_config_drops_the_authorization_mode() {
        let mut cfg = init_config();
        cfg.cluster
            .api_server
            .component
            .extra_args
            .push(arg("authorization-config", "/etc/kubernetes/authz.yaml"));
        let pod =
            kube_apiserver_pod(&local_control_plane(&cfg), &ControlPlaneHost::default()).unwrap();
        assert!(
            !flags(&pod)
                .iter()
                .any(|f| f.starts_with("--authorization-mode"))
        );
        assert_eq!(
            authorization_modes("Node,Bogus,RBAC,Webhook"),
            "Node,RBAC,Webhook"
        );
        assert_eq!(authorization_modes("Bogus"), "Node,RBAC");
    }

    #[test]
    fn missing_advertise_address_is_an_error_naming_the_field() {
        let mut cfg = init_config();
        cfg.local_api_endpoint.advertise_address = None;
        let err = kube_apiserver_pod(&local_control_plane(&cfg), &ControlPlaneHost::default())
            .unwrap_err();
        assert!(err.to_string().contains("advertiseAddress"), "{err}");
    }

    #[test]
    fn controller_manager_allocates_node_cidrs_only_with_a_pod_subnet() {
        let mut cfg = init_config();
        cfg.cluster.networking.pod_subnet = None;
        let host = ControlPlaneHost::default();
        let pod = kube_controller_manager_pod(&local_control_plane(&cfg), &host);
        assert!(
            !flags(&pod)
                .iter()
                .any(|f| f.starts_with("--allocate-node-cidrs"))
        );
        assert!(
            !flags(&pod)
                .iter()
                .any(|f| f.starts_with("--service-cluster-ip-range"))
        );
        cfg.cluster.networking.pod_subnet = Some("10.244.0.0/16".parse().unwrap());
        let pod = kube_controller_manager_pod(&local_control_plane(&cfg), &host);
        assert!(has(&pod, "--allocate-node-cidrs=true"));
        assert!(has(&pod, "--cluster-cidr=10.244.0.0/16"));
        assert!(has(&pod, "--service-cluster-ip-range=10.96.0.0/12"));
        assert!(has(&pod, "--cluster-name=kubernetes"));
        assert!(has(&pod, "--controllers=*,bootstrapsigner,tokencleaner"));
        assert!(has(&pod, "--use-service-account-credentials=true"));
    }

    #[test]
    fn controller_manager_does_not_sign_with_an_external_ca() {
        let cfg = init_config();
        let host = ControlPlaneHost {
            external_ca: true,
            ..ControlPlaneHost::default()
        };
        let pod = kube_controller_manager_pod(&local_control_plane(&cfg), &host);
        assert!(has(&pod, "--cluster-signing-key-file="));
        assert!(has(&pod, "--cluster-signing-cert-file="));
    }

    #[test]
    fn scheduler_probes_follow_bind_address_and_version() {
        let mut cfg = init_config();
        cfg.cluster
            .scheduler
            .extra_args
            .push(arg("bind-address", "0.0.0.0"));
        let host = ControlPlaneHost::default();
        let pod = kube_scheduler_pod(&local_control_plane(&cfg), &host);
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let live = c
            .liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(live.host, None);
        assert_eq!(live.path.as_deref(), Some("/livez"));
        assert!(c.readiness_probe.is_some());
        assert!(has(&pod, "--bind-address=0.0.0.0"));

        cfg.cluster.kubernetes_version = "v1.31.4".parse().unwrap();
        let pod = kube_scheduler_pod(&local_control_plane(&cfg), &host);
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let live = c
            .liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(live.path.as_deref(), Some("/healthz"));
        assert!(c.readiness_probe.is_none());
        assert!(c.ports.is_none());
    }

    #[test]
    fn extra_args_override_defaults_and_extra_volumes_are_mounted() {
        let mut cfg = init_config();
        cfg.cluster
            .scheduler
            .extra_args
            .push(arg("leader-elect", "false"));
        cfg.cluster.scheduler.extra_volumes.push(HostPathMount {
            name: "policy".into(),
            host_path: "/etc/kubernetes/policy".into(),
            mount_path: "/etc/kubernetes/policy".into(),
            read_only: true,
            path_type: "Directory".into(),
        });
        let pod = kube_scheduler_pod(&local_control_plane(&cfg), &ControlPlaneHost::default());
        assert!(has(&pod, "--leader-elect=false"));
        assert!(!has(&pod, "--leader-elect=true"));
        let spec = pod.spec.unwrap();
        assert_eq!(
            spec.volumes
                .unwrap()
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>(),
            ["kubeconfig", "policy"]
        );
    }
}

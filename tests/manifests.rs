//! Golden files for what `init` writes in the `etcd`, `control-plane` and `kubelet-start`
//! phases, from fixed configurations. Nothing in these outputs may vary between runs.
//! `KUBEBOOT_BLESS=1 cargo test --test manifests` rewrites the goldens after a reviewed change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubeboot::config::defaults;
use kubeboot::config::model::*;
use kubeboot::fs::Root;
use kubeboot::kubelet::{self, KubeletHost};
use kubeboot::manifests::{self, ControlPlaneHost, EtcdMember, LocalControlPlane};

fn arg(name: &str, value: &str) -> Arg {
    Arg {
        name: name.into(),
        value: value.into(),
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: value.into(),
    }
}

fn base_config() -> InitConfiguration {
    let mut cfg = defaults::init_configuration();
    cfg.cluster.kubernetes_version = "v1.34.2".parse().unwrap();
    cfg.bootstrap_tokens = vec![];
    cfg.node_registration.name = "cp-1".into();
    cfg.local_api_endpoint.advertise_address = Some("192.168.10.11".parse().unwrap());
    cfg
}

/// v1.34.2, ECDSA, stacked etcd, with everything a user can add to the components.
fn ecdsa_v1_34() -> InitConfiguration {
    let mut cfg = base_config();
    let c = &mut cfg.cluster;
    c.encryption_algorithm = EncryptionAlgorithm::EcdsaP256;
    c.networking.pod_subnet = Some("10.244.0.0/16".parse().unwrap());
    c.api_server.component.extra_args = vec![
        arg("audit-log-path", "/var/log/kubernetes/audit.log"),
        arg("feature-gates", "B=true"),
        arg("feature-gates", "A=false"),
        arg("secure-port", "6443"),
    ];
    c.api_server.component.extra_volumes = vec![HostPathMount {
        name: "audit-log".into(),
        host_path: "/var/log/kubernetes".into(),
        mount_path: "/var/log/kubernetes".into(),
        read_only: false,
        path_type: "DirectoryOrCreate".into(),
    }];
    c.api_server.component.extra_envs = vec![env("GOMAXPROCS", "2")];
    c.controller_manager.extra_args = vec![arg("node-cidr-mask-size", "25")];
    c.scheduler.extra_volumes = vec![HostPathMount {
        name: "scheduler-config".into(),
        host_path: "/etc/kubernetes/scheduler-config.yaml".into(),
        mount_path: "/etc/kubernetes/scheduler-config.yaml".into(),
        read_only: true,
        path_type: String::new(),
    }];
    if let Etcd::Local(local) = &mut c.etcd {
        local.extra_args = vec![arg("quota-backend-bytes", "8589934592")];
        local.extra_envs = vec![env("ETCD_UNSUPPORTED_ARCH", "arm64")];
    }
    cfg.node_registration.kubelet_extra_args = vec![arg("node-ip", "192.168.10.11")];
    cfg.kubelet = serde_yaml::from_str(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
         maxPods: 200\nserverTLSBootstrap: true\nfeatureGates:\n  Zeta: true\n  Alpha: false\n",
    )
    .unwrap();
    cfg
}

/// v1.31.4 against an external etcd, on a host with extra system CA directories: kubeadm's
/// pre-1.33 manifest shape (numbered probe ports, /healthz scheduler, creationTimestamp).
fn external_etcd_v1_31() -> InitConfiguration {
    let mut cfg = base_config();
    let c = &mut cfg.cluster;
    c.kubernetes_version = "v1.31.4".parse().unwrap();
    c.image_repository = "mirror.example.com/k8s".into();
    c.networking.dns_domain = "corp.example".into();
    c.etcd = Etcd::External(ExternalEtcd {
        endpoints: vec![
            "https://10.0.0.5:2379".into(),
            "https://10.0.0.6:2379".into(),
        ],
        ca_file: "/etc/etcd/pki/ca.crt".into(),
        cert_file: "/etc/etcd/pki/apiserver-etcd-client.crt".into(),
        key_file: "/etc/etcd/pki/apiserver-etcd-client.key".into(),
    });
    c.scheduler.extra_args = vec![arg("bind-address", "0.0.0.0")];
    cfg.node_registration.name = "cp-ext".into();
    cfg.timeouts.control_plane_component_health_check = Duration::from_secs(300);
    cfg
}

fn host_for(case: &str) -> ControlPlaneHost {
    match case {
        "v1.31-external-etcd" => ControlPlaneHost {
            proxy_env: vec![
                env("HTTPS_PROXY", "http://proxy.example.com:3128"),
                env("no_proxy", "10.0.0.0/8"),
            ],
            ca_cert_dirs: vec![
                "/etc/pki/ca-trust".into(),
                "/usr/share/ca-certificates".into(),
            ],
            external_ca: true,
        },
        _ => ControlPlaneHost::default(),
    }
}

fn golden_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

/// Compares `actual` with the golden file, or rewrites it when `KUBEBOOT_BLESS=1`.
fn check_golden(case: &str, file: &str, actual: &str) {
    let path = golden_dir(case).join(file);
    if std::env::var_os("KUBEBOOT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden {} unreadable ({e}); run with KUBEBOOT_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from its golden at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             full output:\n{actual}",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

fn manifests_for(case: &str, cfg: &InitConfiguration) -> Vec<(String, String)> {
    let cp = LocalControlPlane::from_init(cfg);
    let host = host_for(case);
    let version = &cfg.cluster.kubernetes_version;
    let mut pods = vec![
        manifests::kube_apiserver_pod(&cp, &host).unwrap(),
        manifests::kube_controller_manager_pod(&cp, &host),
        manifests::kube_scheduler_pod(&cp, &host),
    ];
    if let Etcd::Local(_) = cfg.cluster.etcd {
        pods.push(manifests::etcd_pod(&cp, &cfg.node_registration.name, &[]).unwrap());
    }
    pods.iter()
        .map(|pod| {
            let name = pod.metadata.name.clone().unwrap();
            (
                format!("{name}.yaml"),
                manifests::manifest_yaml(pod, version).unwrap(),
            )
        })
        .collect()
}

fn kubelet_files_for(cfg: &InitConfiguration, host: &KubeletHost) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let config = kubelet::defaulted_kubelet_config(&cfg.cluster, &cfg.kubelet);
    kubelet::write_kubelet_files(
        &root,
        &config,
        &cfg.node_registration,
        &cfg.cluster,
        false,
        host,
    )
    .unwrap();
    root.list_dir(kubelet::KUBELET_DIR)
        .unwrap()
        .into_iter()
        .map(|name| {
            let text = root
                .read(format!("{}/{name}", kubelet::KUBELET_DIR))
                .unwrap();
            (name, String::from_utf8(text).unwrap())
        })
        .collect()
}

#[test]
fn ecdsa_v1_34_stacked_etcd_matches_goldens() {
    let case = "v1.34-ecdsa";
    let cfg = ecdsa_v1_34();
    for (file, text) in manifests_for(case, &cfg) {
        check_golden(case, &file, &text);
    }
    let host = KubeletHost {
        hostname: "ip-192-168-10-11".into(),
        systemd_resolved_active: true,
    };
    let files = kubelet_files_for(&cfg, &host);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["config.yaml", "instance-config.yaml", "kubeadm-flags.env"]
    );
    for (file, text) in files {
        check_golden(case, &file, &text);
    }
}

#[test]
fn external_etcd_v1_31_matches_goldens() {
    let case = "v1.31-external-etcd";
    let cfg = external_etcd_v1_31();
    let files = manifests_for(case, &cfg);
    assert_eq!(files.len(), 3, "no etcd manifest with external etcd");
    for (file, text) in files {
        check_golden(case, &file, &text);
    }
    let host = KubeletHost {
        hostname: "cp-ext".into(),
        systemd_resolved_active: false,
    };
    let files = kubelet_files_for(&cfg, &host);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["config.yaml", "kubeadm-flags.env"]);
    for (file, text) in files {
        check_golden(case, &file, &text);
    }
}

#[test]
fn phase_writers_write_what_the_builders_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = ecdsa_v1_34();
    manifests::write_local_etcd(&root, &cfg).unwrap();
    manifests::write_control_plane(&root, &root, &cfg, None).unwrap();
    let cp = LocalControlPlane::from_init(&cfg);
    let host = ControlPlaneHost::detect(&root, &root, &cfg.cluster);
    let version = &cfg.cluster.kubernetes_version;
    let expected = [
        (
            "kube-apiserver",
            manifests::kube_apiserver_pod(&cp, &host).unwrap(),
        ),
        (
            "kube-controller-manager",
            manifests::kube_controller_manager_pod(&cp, &host),
        ),
        ("kube-scheduler", manifests::kube_scheduler_pod(&cp, &host)),
        ("etcd", manifests::etcd_pod(&cp, "cp-1", &[]).unwrap()),
    ];
    for (component, pod) in expected {
        let written = root.read(manifests::manifest_path(component)).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            manifests::manifest_yaml(&pod, version).unwrap(),
            "{component}"
        );
    }
}

#[test]
fn manifests_decode_as_v1_pods() {
    // The kubelet decodes these files as v1 Pods; the k8s-openapi types must read them back.
    let cfg = ecdsa_v1_34();
    for (file, text) in manifests_for("v1.34-ecdsa", &cfg) {
        let pod: k8s_openapi::api::core::v1::Pod =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let spec = pod.spec.unwrap();
        assert_eq!(
            spec.priority_class_name.as_deref(),
            Some("system-node-critical")
        );
        assert_eq!(spec.host_network, Some(true));
    }
}

#[test]
fn joining_control_plane_etcd_lists_existing_members() {
    let mut cfg = ecdsa_v1_34();
    cfg.local_api_endpoint.advertise_address = Some("192.168.10.12".parse().unwrap());
    let cp = LocalControlPlane::from_init(&cfg);
    let members = [
        EtcdMember {
            name: "cp-1".into(),
            peer_url: "https://192.168.10.11:2380".into(),
        },
        EtcdMember {
            name: "cp-2".into(),
            peer_url: kubeboot::etcd::peer_url("192.168.10.12".parse().unwrap()),
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    manifests::write_etcd_member(&root, &cp, "cp-2", &members).unwrap();
    let text =
        String::from_utf8(root.read("/etc/kubernetes/manifests/etcd.yaml").unwrap()).unwrap();
    assert!(text.contains(
        "- --initial-cluster=cp-1=https://192.168.10.11:2380,cp-2=https://192.168.10.12:2380\n"
    ));
    assert!(text.contains("- --initial-cluster-state=existing\n"));
    assert!(text.contains("- --name=cp-2\n"));
}

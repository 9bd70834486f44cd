//! Preflight checks against a fake host and a temporary node root: every check passes on a
//! healthy host and fails as kubeadm words it on a broken one; ignore lists; the report format.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, TcpListener};

use kubeboot::config::defaults;
use kubeboot::config::model::*;
use kubeboot::config::net::Cidr;
use kubeboot::config::version::KubeVersion;
use kubeboot::fs::Root;
use kubeboot::preflight::{
    self, Cgroups, Check, Error, Host, IPV4_FORWARD, IPV6_DEFAULT_FORWARDING, Outcome, RealHost,
    ServiceState,
};

/// Every kernel option the kernel validator requires, enabled.
const FULL_KERNEL_CONFIG: &str = "CONFIG_NAMESPACES=y\nCONFIG_NET_NS=y\nCONFIG_PID_NS=y\n\
CONFIG_IPC_NS=y\nCONFIG_UTS_NS=y\nCONFIG_CPUSETS=y\nCONFIG_MEMCG=y\nCONFIG_INET=y\n\
CONFIG_EXT4_FS=m\nCONFIG_PROC_FS=y\nCONFIG_NETFILTER_XT_TARGET_REDIRECT=m\n\
CONFIG_NETFILTER_XT_MATCH_COMMENT=m\nCONFIG_FAIR_GROUP_SCHED=y\nCONFIG_CGROUPS=y\n\
CONFIG_CGROUP_BPF=y\nCONFIG_CGROUP_PIDS=y\nCONFIG_CGROUP_SCHED=y\nCONFIG_CGROUP_CPUACCT=y\n\
CONFIG_CGROUP_DEVICE=y\nCONFIG_CGROUP_FREEZER=y\n";

const SWAPS_HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

/// A host whose every fact is set by the test.
struct FakeHost {
    uid: u32,
    cpus: usize,
    memory_mb: u64,
    busy_ports: BTreeSet<u16>,
    kernel_files: BTreeMap<String, String>,
    kernel_release: String,
    kernel_config: Result<String, String>,
    cgroups: Cgroups,
    unresolvable: bool,
    env: BTreeMap<String, String>,
    executables: BTreeSet<String>,
    kubelet_version: Result<String, String>,
    service: ServiceState,
    cri: Result<(), String>,
}

impl FakeHost {
    /// A host on which every check passes.
    fn healthy() -> Self {
        let kernel_files = [
            (IPV4_FORWARD, "1\n"),
            (IPV6_DEFAULT_FORWARDING, "1\n"),
            ("/proc/swaps", SWAPS_HEADER),
        ];
        let controllers = [
            "cpu", "cpuset", "devices", "freezer", "memory", "pids", "hugetlb", "io",
        ];
        let executables = [
            "conntrack",
            "ip",
            "iptables",
            "mount",
            "nsenter",
            "ethtool",
            "tc",
            "touch",
        ];
        FakeHost {
            uid: 0,
            cpus: 4,
            memory_mb: 4096,
            busy_ports: BTreeSet::new(),
            kernel_files: kernel_files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            kernel_release: "6.8.0-45-generic".into(),
            kernel_config: Ok(FULL_KERNEL_CONFIG.into()),
            cgroups: Cgroups::V2(controllers.iter().map(|s| s.to_string()).collect()),
            unresolvable: false,
            env: BTreeMap::new(),
            executables: executables.iter().map(|s| s.to_string()).collect(),
            kubelet_version: Ok("Kubernetes v1.34.2\n".into()),
            service: ServiceState::Installed { enabled: true },
            cri: Ok(()),
        }
    }
}

impl Host for FakeHost {
    fn uid(&self) -> u32 {
        self.uid
    }
    fn cpus(&self) -> usize {
        self.cpus
    }
    fn memory_mb(&self) -> Result<u64, String> {
        Ok(self.memory_mb)
    }
    fn port_free(&self, port: u16) -> bool {
        !self.busy_ports.contains(&port)
    }
    fn kernel_file(&self, path: &str) -> Option<Vec<u8>> {
        self.kernel_files.get(path).map(|s| s.as_bytes().to_vec())
    }
    fn kernel_release(&self) -> Result<String, String> {
        Ok(self.kernel_release.clone())
    }
    fn kernel_config(&self, _release: &str) -> Result<String, String> {
        self.kernel_config.clone()
    }
    fn cgroups(&self) -> Result<Cgroups, String> {
        Ok(self.cgroups.clone())
    }
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        if self.unresolvable {
            return Err(format!("lookup {name}: no such host"));
        }
        Ok(vec!["10.0.0.10".parse().unwrap()])
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn executable_in_path(&self, name: &str) -> bool {
        self.executables.contains(name)
    }
    fn kubelet_version(&self) -> Result<String, String> {
        self.kubelet_version.clone()
    }
    fn service(&self, _name: &str) -> ServiceState {
        self.service
    }
    fn cri_reachable(&self, endpoint: &str) -> Result<(), String> {
        self.cri
            .clone()
            .map_err(|e| format!("cannot connect to {endpoint}: {e}"))
    }
}

fn version(s: &str) -> KubeVersion {
    s.parse().unwrap()
}

fn node_registration() -> NodeRegistration {
    NodeRegistration {
        name: "cp-1".into(),
        ..defaults::node_registration()
    }
}

/// A defaulted InitConfiguration as kubeadm would hold it for `kubeadm init` with v1.34.2.
fn init_config() -> InitConfiguration {
    let mut cfg = defaults::init_configuration();
    cfg.cluster.kubernetes_version = version("v1.34.2");
    cfg.bootstrap_tokens = vec![];
    cfg.node_registration = node_registration();
    cfg.local_api_endpoint.advertise_address = Some("10.0.0.10".parse().unwrap());
    cfg
}

fn join_config(endpoint: &str) -> JoinConfiguration {
    let mut cfg =
        defaults::join_configuration(Discovery::BootstrapToken(BootstrapTokenDiscovery {
            api_server_endpoint: endpoint.into(),
            token: BootstrapTokenString::new("abcdef".into(), "0123456789abcdef".into()),
            ca_cert_hashes: vec!["sha256:00".into()],
            unsafe_skip_ca_verification: false,
        }));
    cfg.node_registration.name = "worker-1".into();
    cfg
}

fn temp_root() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    (dir, root)
}

fn names(checks: &[Check]) -> Vec<String> {
    checks.iter().map(Check::name).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Runs one check on an empty root.
fn run(check: &Check, host: &FakeHost) -> Outcome {
    let (_dir, root) = temp_root();
    check.run(&root, host)
}

fn failed(check: &Check, host: &FakeHost) -> Vec<String> {
    let out = run(check, host);
    assert!(out.warnings.is_empty(), "{out:?}");
    out.errors
}

fn warned(check: &Check, host: &FakeHost) -> Vec<String> {
    let out = run(check, host);
    assert!(out.errors.is_empty(), "{out:?}");
    out.warnings
}

fn failure_names(err: &Error) -> Vec<String> {
    match err {
        Error::ChecksFailed(f) => f.iter().map(|f| f.check.clone()).collect(),
        other => panic!("not a check failure: {other}"),
    }
}

// ---------- whole runs ----------

#[test]
fn init_on_a_healthy_host_passes_without_warnings() {
    let (_dir, root) = temp_root();
    let warnings =
        preflight::run_init_checks(&root, &FakeHost::healthy(), &init_config(), &[]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn join_on_a_healthy_host_passes_without_warnings() {
    let (_dir, root) = temp_root();
    let warnings = preflight::run_join_checks(
        &root,
        &FakeHost::healthy(),
        &join_config("10.0.0.10:6443"),
        &[],
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn init_checks_are_kubeadms_in_kubeadms_order() {
    assert_eq!(
        names(&preflight::init_node_checks(&init_config(), false, false)),
        strings(&[
            "NumCPU",
            "Mem",
            "KubernetesVersion",
            "Port-6443",
            "Port-10259",
            "Port-10257",
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
            "FileAvailable--etc-kubernetes-manifests-kube-controller-manager.yaml",
            "FileAvailable--etc-kubernetes-manifests-kube-scheduler.yaml",
            "FileAvailable--etc-kubernetes-manifests-etcd.yaml",
            "HTTPProxy",
            "HTTPProxyCIDR",
            "CRI",
            "Swap",
            "FileExisting-mount",
            "FileExisting-nsenter",
            "FileExisting-touch",
            "SystemVerification",
            "Hostname",
            "KubeletVersion",
            "Service-Kubelet",
            "Port-10250",
            "FileContent--proc-sys-net-ipv4-ip_forward",
            "Port-2379",
            "Port-2380",
            "DirAvailable--var-lib-etcd",
        ])
    );
}

#[test]
fn init_for_1_31_also_requires_the_tools_kubeadm_1_31_required() {
    let mut cfg = init_config();
    cfg.cluster.kubernetes_version = version("v1.31.4");
    let names = names(&preflight::init_node_checks(&cfg, false, false));
    for tool in ["conntrack", "ip", "iptables", "ethtool", "tc"] {
        assert!(
            names.contains(&format!("FileExisting-{tool}")),
            "{tool}: {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n == "FileExisting-socat" || n == "FileExisting-ebtables")
    );
}

#[test]
fn forwarding_is_checked_for_every_family_the_cluster_uses() {
    let mut cfg = init_config();
    cfg.cluster.networking.service_subnet = "10.96.0.0/12,fd00:10:96::/112".parse().unwrap();
    let checks = preflight::init_node_checks(&cfg, false, false);
    assert!(checks.contains(&Check::FileContent {
        path: IPV4_FORWARD,
        content: "1"
    }));
    assert!(checks.contains(&Check::FileContent {
        path: IPV6_DEFAULT_FORWARDING,
        content: "1"
    }));

    let mut cfg = init_config();
    cfg.cluster.networking.service_subnet = "fd00:10:96::/112".parse().unwrap();
    cfg.local_api_endpoint.advertise_address = Some("fd00::10".parse().unwrap());
    let names = names(&preflight::init_node_checks(&cfg, false, false));
    assert!(names.contains(&"FileContent--proc-sys-net-ipv6-conf-default-forwarding".into()));
    assert!(!names.contains(&"FileContent--proc-sys-net-ipv4-ip_forward".into()));
}

#[test]
fn external_etcd_swaps_the_etcd_ports_for_its_client_certificates() {
    let mut cfg = init_config();
    cfg.cluster.etcd = Etcd::External(ExternalEtcd {
        endpoints: vec!["https://10.0.0.5:2379".into()],
        ca_file: "/etc/etcd/ca.crt".into(),
        cert_file: "/etc/etcd/client.crt".into(),
        key_file: "/etc/etcd/client.key".into(),
    });
    let names = names(&preflight::init_node_checks(&cfg, false, false));
    assert!(!names.contains(&"Port-2379".into()));
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "ExternalEtcdClientCertificates")
            .count(),
        3
    );
    let (_dir, root) = temp_root();
    root.write_atomic("/etc/etcd/ca.crt", b"ca", 0o644).unwrap();
    let err = preflight::run_init_checks(&root, &FakeHost::healthy(), &cfg, &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("[ERROR ExternalEtcdClientCertificates]: /etc/etcd/client.crt doesn't exist"),
        "{text}"
    );
    assert!(!text.contains("/etc/etcd/ca.crt doesn't exist"), "{text}");
}

#[test]
fn existing_control_plane_manifests_under_the_root_fail_init_naming_the_check() {
    let (_dir, root) = temp_root();
    root.write_atomic(
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        b"kind: Pod\n",
        0o600,
    )
    .unwrap();
    root.write_atomic(
        "/etc/kubernetes/manifests/kube-vip.yaml",
        b"kind: Pod\n",
        0o600,
    )
    .unwrap();
    let err =
        preflight::run_init_checks(&root, &FakeHost::healthy(), &init_config(), &[]).unwrap_err();
    assert_eq!(
        failure_names(&err),
        ["FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml"]
    );
    assert!(err.to_string().contains(
        "\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: \
         /etc/kubernetes/manifests/kube-apiserver.yaml already exists\n"
    ));

    // Ignoring that check by name turns the error into a warning.
    let warnings = preflight::run_init_checks(
        &root,
        &FakeHost::healthy(),
        &init_config(),
        &strings(&["fileavailable--etc-kubernetes-manifests-kube-apiserver.yaml"]),
    )
    .unwrap();
    assert_eq!(
        warnings,
        [
            "[WARNING FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: \
          /etc/kubernetes/manifests/kube-apiserver.yaml already exists"
        ]
    );
}

#[test]
fn a_non_empty_etcd_data_dir_fails_init() {
    let (_dir, root) = temp_root();
    root.write_atomic("/var/lib/etcd/member/snap/db", b"x", 0o600)
        .unwrap();
    let err =
        preflight::run_init_checks(&root, &FakeHost::healthy(), &init_config(), &[]).unwrap_err();
    assert_eq!(failure_names(&err), ["DirAvailable--var-lib-etcd"]);
    assert!(err.to_string().contains("/var/lib/etcd is not empty"));
}

#[test]
fn the_failure_report_is_kubeadms() {
    let (_dir, root) = temp_root();
    let mut host = FakeHost::healthy();
    host.busy_ports = [6443, 10250].into();
    host.cpus = 1;
    let err = preflight::run_init_checks(&root, &host, &init_config(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "[preflight] Some fatal errors occurred:\n\
         \t[ERROR NumCPU]: the number of available CPUs 1 is less than the required 2\n\
         \t[ERROR Port-6443]: Port 6443 is in use\n\
         \t[ERROR Port-10250]: Port 10250 is in use\n\
         [preflight] If you know what you are doing, you can make a check non-fatal with \
         `--ignore-preflight-errors=...`"
    );
    let top: kubeboot::Error = err.into();
    assert_eq!(top.exit_code(), kubeboot::ExitCode::Preflight);
}

#[test]
fn a_non_root_user_gets_only_the_root_check() {
    let (_dir, root) = temp_root();
    let mut host = FakeHost::healthy();
    host.uid = 1000;
    host.busy_ports = [6443].into();
    let err = preflight::run_init_checks(&root, &host, &init_config(), &[]).unwrap_err();
    assert_eq!(failure_names(&err), ["IsPrivilegedUser"]);
    assert!(
        err.to_string()
            .contains("[ERROR IsPrivilegedUser]: user is not running as root")
    );
}

#[test]
fn warnings_are_returned_in_kubeadms_format() {
    let (_dir, root) = temp_root();
    let mut host = FakeHost::healthy();
    host.kernel_files.insert(
        "/proc/swaps".into(),
        format!("{SWAPS_HEADER}/swap.img file 2097148 0 -2\n"),
    );
    host.service = ServiceState::Installed { enabled: false };
    let warnings = preflight::run_init_checks(&root, &host, &init_config(), &[]).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("[WARNING Swap]: swap is supported for cgroup v2 only."));
    assert_eq!(
        warnings[1],
        "[WARNING Service-Kubelet]: kubelet service is not enabled, please run \
         'systemctl enable kubelet.service'"
    );
}

#[test]
fn the_configuration_ignore_list_counts_too() {
    let (_dir, root) = temp_root();
    let mut host = FakeHost::healthy();
    host.memory_mb = 1024;
    let mut cfg = init_config();
    cfg.node_registration.ignore_preflight_errors = strings(&["Mem"]);
    let warnings = preflight::run_init_checks(&root, &host, &cfg, &[]).unwrap();
    assert_eq!(
        warnings,
        ["[WARNING Mem]: the system RAM (1024 MB) is less than the minimum 1700 MB"]
    );
}

#[test]
fn join_checks_are_kubeadms() {
    let checks = preflight::join_node_checks(&join_config("10.0.0.10:6443"), &version("v1.34.2"));
    assert_eq!(
        names(&checks),
        strings(&[
            "FileAvailable--etc-kubernetes-kubelet.conf",
            "FileAvailable--etc-kubernetes-bootstrap-kubelet.conf",
            "CRI",
            "Swap",
            "FileExisting-mount",
            "FileExisting-nsenter",
            "FileExisting-touch",
            "SystemVerification",
            "Hostname",
            "KubeletVersion",
            "Service-Kubelet",
            "Port-10250",
            "FileAvailable--etc-kubernetes-pki-ca.crt",
            "HTTPProxy",
            "FileContent--proc-sys-net-ipv4-ip_forward",
        ])
    );
    // kubeadm passes no Kubernetes version on join: no conntrack, no skew check.
    assert!(checks.contains(&Check::KubeletVersion {
        minimum: version("v1.31.0"),
        control_plane: None
    }));

    let v6 = preflight::join_node_checks(&join_config("[fd00::10]:6443"), &version("v1.34.2"));
    assert!(names(&v6).contains(&"FileContent--proc-sys-net-ipv6-conf-default-forwarding".into()));
    let by_name =
        preflight::join_node_checks(&join_config("api.example:6443"), &version("v1.34.2"));
    assert!(!names(&by_name).iter().any(|n| n.starts_with("FileContent")));

    let mut cp = join_config("10.0.0.10:6443");
    cp.control_plane = Some(JoinControlPlane {
        local_api_endpoint: ApiEndpoint {
            advertise_address: None,
            bind_port: 6443,
        },
        certificate_key: None,
    });
    assert!(
        !names(&preflight::join_node_checks(&cp, &version("v1.34.2")))
            .contains(&"FileAvailable--etc-kubernetes-pki-ca.crt".into())
    );
}

#[test]
fn join_behaves_as_the_kubeadm_of_the_nodes_kubelet() {
    let (_dir, root) = temp_root();
    let mut host = FakeHost::healthy();
    host.kubelet_version = Ok("Kubernetes v1.32.3".into());
    host.executables.remove("iptables");
    let err =
        preflight::run_join_checks(&root, &host, &join_config("10.0.0.10:6443"), &[]).unwrap_err();
    assert_eq!(failure_names(&err), ["FileExisting-iptables"]);

    host.kubelet_version = Ok("Kubernetes v1.34.2".into());
    preflight::run_join_checks(&root, &host, &join_config("10.0.0.10:6443"), &[]).unwrap();
}

#[test]
fn an_existing_kubelet_kubeconfig_fails_join() {
    let (_dir, root) = temp_root();
    root.write_atomic("/etc/kubernetes/kubelet.conf", b"apiVersion: v1\n", 0o600)
        .unwrap();
    let err = preflight::run_join_checks(
        &root,
        &FakeHost::healthy(),
        &join_config("10.0.0.10:6443"),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        failure_names(&err),
        ["FileAvailable--etc-kubernetes-kubelet.conf"]
    );
}

#[test]
fn control_plane_join_needs_a_stable_endpoint_and_the_shared_certificates() {
    let (_dir, root) = temp_root();
    let host = FakeHost::healthy();
    let mut cfg = init_config();
    let err = preflight::run_join_control_plane_checks(&root, &host, &cfg, true, &[]).unwrap_err();
    assert!(matches!(err, Error::NotReadyForControlPlane(_)));
    assert!(
        err.to_string()
            .contains("doesn't have a stable controlPlaneEndpoint address")
    );

    cfg.cluster.control_plane_endpoint = Some("cp.example:6443".into());
    let err = preflight::run_join_control_plane_checks(&root, &host, &cfg, false, &[]).unwrap_err();
    assert!(
        err.to_string().contains("/etc/kubernetes/pki/ca.key"),
        "{err}"
    );
    assert!(
        err.to_string().contains("/etc/kubernetes/pki/etcd/ca.crt"),
        "{err}"
    );

    preflight::run_join_control_plane_checks(&root, &host, &cfg, true, &[]).unwrap();
    let names = names(&preflight::init_node_checks(&cfg, true, true));
    assert!(!names.contains(&"CRI".into()) && !names.contains(&"Port-10250".into()));
    assert!(names.contains(&"DirAvailable--var-lib-etcd".into()));
}

// ---------- ignore lists ----------

#[test]
fn ignore_lists_are_case_insensitive_and_take_all() {
    let set = preflight::validate_ignore_list(&strings(&["Swap", "port-6443"])).unwrap();
    assert!(set.covers("Swap") && set.covers("SWAP") && set.covers("Port-6443"));
    assert!(!set.covers("Port-10250"));
    for all in ["all", "ALL", "All"] {
        let set = preflight::validate_ignore_list(&strings(&[all])).unwrap();
        assert!(set.covers("NumCPU") && set.covers("FileAvailable--etc-kubernetes-kubelet.conf"));
    }
    assert!(preflight::validate_ignore_list(&[]).unwrap().is_empty());
}

#[test]
fn all_cannot_be_mixed_with_names() {
    let err = preflight::validate_ignore_list(&strings(&["Swap", "ALL"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ignore-preflight-errors: Invalid value: \"all,swap\": don't specify individual checks \
         if 'all' is used"
    );
}

#[test]
fn unknown_check_names_are_rejected() {
    let err =
        preflight::validate_ignore_list(&strings(&["Swapp", "NumCPU", "Port6443"])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("ignore-preflight-errors: Invalid value: \"port6443,swapp\""),
        "{text}"
    );
    // Names kubeadm derives from paths, ports and binaries, and checks kubeboot does not run,
    // are accepted: a kubeadm configuration keeps working.
    preflight::validate_ignore_list(&strings(&[
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
        "DirAvailable--etc-kubernetes-manifests",
        "FileExisting-crictl",
        "ImagePull",
        "Firewalld",
        "Port-2379",
        "Service-Docker",
    ]))
    .unwrap();
    let (_dir, root) = temp_root();
    let err = preflight::run_init_checks(
        &root,
        &FakeHost::healthy(),
        &init_config(),
        &strings(&["Swapp"]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidIgnoreList { .. }));
}

#[test]
fn ignore_all_turns_every_error_into_a_warning() {
    let (_dir, root) = temp_root();
    let mut host = FakeHost::healthy();
    host.uid = 1000;
    host.busy_ports = [6443].into();
    let warnings =
        preflight::run_init_checks(&root, &host, &init_config(), &strings(&["all"])).unwrap();
    assert_eq!(
        warnings,
        [
            "[WARNING IsPrivilegedUser]: user is not running as root",
            "[WARNING Port-6443]: Port 6443 is in use"
        ]
    );
}

// ---------- each check: passing and failing ----------

#[test]
fn is_privileged_user() {
    let mut host = FakeHost::healthy();
    assert_eq!(run(&Check::IsPrivilegedUser, &host), Outcome::default());
    host.uid = 1000;
    assert_eq!(
        failed(&Check::IsPrivilegedUser, &host),
        ["user is not running as root"]
    );
}

#[test]
fn num_cpu_and_mem() {
    let mut host = FakeHost::healthy();
    assert_eq!(run(&Check::NumCpu(2), &host), Outcome::default());
    assert_eq!(run(&Check::Mem(1700), &host), Outcome::default());
    host.cpus = 1;
    host.memory_mb = 1699;
    assert_eq!(
        failed(&Check::NumCpu(2), &host),
        ["the number of available CPUs 1 is less than the required 2"]
    );
    assert_eq!(
        failed(&Check::Mem(1700), &host),
        ["the system RAM (1699 MB) is less than the minimum 1700 MB"]
    );
}

#[test]
fn kubernetes_version_skew() {
    let host = FakeHost::healthy();
    assert_eq!(
        run(&Check::KubernetesVersion(version("v1.35.0")), &host),
        Outcome::default()
    );
    assert_eq!(
        warned(&Check::KubernetesVersion(version("v1.36.0-alpha.1")), &host),
        [
            "Kubernetes version is greater than kubeboot supports. Please consider to upgrade \
          kubeboot. Kubernetes version: 1.36.0-alpha.1. Kubeboot supports up to: 1.35.x"
        ]
    );
    assert_eq!(
        failed(&Check::KubernetesVersion(version("v1.30.2")), &host),
        [
            "this version of kubeboot only supports deploying clusters with the control plane \
          version >= 1.31.0. Current version: v1.30.2"
        ]
    );
}

#[test]
fn port_check_with_the_fake_host() {
    let mut host = FakeHost::healthy();
    assert_eq!(run(&Check::Port(6443), &host), Outcome::default());
    host.busy_ports.insert(6443);
    assert_eq!(failed(&Check::Port(6443), &host), ["Port 6443 is in use"]);
}

#[test]
fn port_check_sees_a_real_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_dir, root) = temp_root();
    let host = RealHost::new(root.clone());
    // The port comes from the configuration, as the API server's bind port does.
    let mut cfg = init_config();
    cfg.local_api_endpoint.bind_port = port;
    let port_checks: Vec<Check> = preflight::init_node_checks(&cfg, false, false)
        .into_iter()
        .filter(|c| *c == Check::Port(port))
        .collect();
    assert_eq!(port_checks.len(), 1);
    let err = preflight::run_checks(&port_checks, &root, &host, &Default::default()).unwrap_err();
    assert_eq!(failure_names(&err), [format!("Port-{port}")]);
    assert!(err.to_string().contains(&format!("Port {port} is in use")));
    drop(listener);
}

#[test]
fn file_and_dir_availability_read_the_root() {
    let (_dir, root) = temp_root();
    let host = FakeHost::healthy();
    let file = Check::FileAvailable("/etc/kubernetes/kubelet.conf".into());
    let dir = Check::DirAvailable("/var/lib/etcd".into());
    let existing = Check::FileExisting {
        path: "/etc/etcd/ca.crt".into(),
        label: None,
    };
    assert_eq!(file.run(&root, &host), Outcome::default());
    assert_eq!(dir.run(&root, &host), Outcome::default());
    assert_eq!(
        existing.run(&root, &host).errors,
        ["/etc/etcd/ca.crt doesn't exist"]
    );
    assert_eq!(existing.name(), "FileExisting--etc-etcd-ca.crt");

    root.create_dir_all("/var/lib/etcd", 0o700).unwrap();
    assert_eq!(
        dir.run(&root, &host),
        Outcome::default(),
        "an empty directory is available"
    );
    root.write_atomic("/var/lib/etcd/x", b"", 0o600).unwrap();
    root.write_atomic("/etc/kubernetes/kubelet.conf", b"", 0o600)
        .unwrap();
    root.write_atomic("/etc/etcd/ca.crt", b"", 0o644).unwrap();
    assert_eq!(dir.run(&root, &host).errors, ["/var/lib/etcd is not empty"]);
    assert_eq!(
        file.run(&root, &host).errors,
        ["/etc/kubernetes/kubelet.conf already exists"]
    );
    assert_eq!(existing.run(&root, &host), Outcome::default());
}

#[test]
fn sysctl_file_content() {
    let check = Check::FileContent {
        path: IPV4_FORWARD,
        content: "1",
    };
    let mut host = FakeHost::healthy();
    assert_eq!(run(&check, &host), Outcome::default());
    host.kernel_files.insert(IPV4_FORWARD.into(), "0\n".into());
    assert_eq!(
        failed(&check, &host),
        ["/proc/sys/net/ipv4/ip_forward contents are not set to 1"]
    );
    host.kernel_files.remove(IPV4_FORWARD);
    assert_eq!(
        failed(&check, &host),
        ["/proc/sys/net/ipv4/ip_forward does not exist"]
    );
}

#[test]
fn executables_in_path() {
    let mut host = FakeHost::healthy();
    let nsenter = Check::InPath {
        executable: "nsenter",
        mandatory: true,
    };
    let touch = Check::InPath {
        executable: "touch",
        mandatory: false,
    };
    assert_eq!(run(&nsenter, &host), Outcome::default());
    assert_eq!(run(&touch, &host), Outcome::default());
    host.executables.clear();
    assert_eq!(
        failed(&nsenter, &host),
        ["nsenter not found in system path"]
    );
    assert_eq!(warned(&touch, &host), ["touch not found in system path"]);
}

#[test]
fn http_proxy_warnings() {
    let check = Check::HttpProxy("10.0.0.10".into());
    let cidr = Check::HttpProxyCidr("10.96.0.0/12".parse::<Cidr>().unwrap());
    let mut host = FakeHost::healthy();
    assert_eq!(run(&check, &host), Outcome::default());
    host.env
        .insert("https_proxy".into(), "user:pw@proxy.corp:3128".into());
    assert_eq!(
        warned(&check, &host),
        [
            "Connection to \"https://10.0.0.10\" uses proxy \"http://user:xxxxx@proxy.corp:3128\". \
          If that is not intended, adjust your proxy settings"
        ]
    );
    assert_eq!(
        warned(&cidr, &host),
        [
            "connection to \"10.96.0.0/12\" uses proxy \"http://user:xxxxx@proxy.corp:3128\". This \
          may lead to malfunctional cluster setup. Make sure that Pod and Services IP ranges \
          specified correctly as exceptions in proxy configuration"
        ]
    );
    host.env.insert("NO_PROXY".into(), "10.0.0.0/8".into());
    assert_eq!(run(&check, &host), Outcome::default());
    assert_eq!(run(&cidr, &host), Outcome::default());

    let v6 = Check::HttpProxy("fd00::10".into());
    host.env.remove("NO_PROXY");
    assert!(warned(&v6, &host)[0].starts_with("Connection to \"https://[fd00::10]:1234\""));
}

#[test]
fn container_runtime() {
    let check = Check::ContainerRuntime {
        endpoint: "unix:///var/run/containerd/containerd.sock".into(),
    };
    let mut host = FakeHost::healthy();
    assert_eq!(run(&check, &host), Outcome::default());
    host.cri = Err("connection refused".into());
    assert_eq!(
        failed(&check, &host),
        ["container runtime is not running: cannot connect to \
          unix:///var/run/containerd/containerd.sock: connection refused"]
    );
}

#[test]
fn container_runtime_socket_is_looked_up_under_the_root() {
    let (dir, root) = temp_root();
    let host = RealHost::new(root.clone());
    let check = Check::ContainerRuntime {
        endpoint: "unix:///run/containerd/containerd.sock".into(),
    };
    assert_eq!(check.run(&root, &host).errors.len(), 1);
    std::fs::create_dir_all(dir.path().join("run/containerd")).unwrap();
    let _listener =
        std::os::unix::net::UnixListener::bind(dir.path().join("run/containerd/containerd.sock"))
            .unwrap();
    assert_eq!(check.run(&root, &host), Outcome::default());
}

#[test]
fn swap_is_a_warning() {
    let mut host = FakeHost::healthy();
    assert_eq!(run(&Check::Swap, &host), Outcome::default());
    host.kernel_files.remove("/proc/swaps");
    assert_eq!(
        run(&Check::Swap, &host),
        Outcome::default(),
        "no /proc/swaps, no swap"
    );
    host.kernel_files.insert(
        "/proc/swaps".into(),
        format!("{SWAPS_HEADER}/dev/sda2 partition 1000 0 -2\n"),
    );
    assert_eq!(
        warned(&Check::Swap, &host),
        [
            "swap is supported for cgroup v2 only. The kubelet must be properly configured to use \
          swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, \
          or disable swap on the node"
        ]
    );
}

#[test]
fn system_verification() {
    let check = Check::SystemVerification { minor: 35 };
    let mut host = FakeHost::healthy();
    assert_eq!(run(&check, &host), Outcome::default());

    host.kernel_release = "4.14.0".into();
    host.kernel_config = Err("no config path in [\"/proc/config.gz\"] is available".into());
    assert_eq!(
        failed(&check, &host),
        [
            "unsupported kernel release: 4.14.0",
            "failed to parse kernel config: no config path in [\"/proc/config.gz\"] is available"
        ]
    );

    let mut host = FakeHost::healthy();
    host.cgroups = Cgroups::V1(
        [
            "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "hugetlb", "blkio",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    assert!(failed(&check, &host)[0].starts_with("cgroups v1 support is deprecated"));
    assert_eq!(
        warned(&Check::SystemVerification { minor: 34 }, &host),
        ["cgroups v1 support is in maintenance mode, please migrate to cgroups v2"]
    );
}

#[test]
fn hostname_warnings() {
    let mut host = FakeHost::healthy();
    assert_eq!(
        run(&Check::Hostname("cp-1".into()), &host),
        Outcome::default()
    );
    host.unresolvable = true;
    assert_eq!(
        warned(&Check::Hostname("cp-1".into()), &host),
        [
            "hostname \"cp-1\" could not be reached",
            "hostname \"cp-1\": lookup cp-1: no such host"
        ]
    );
    host.unresolvable = false;
    let bad = warned(&Check::Hostname("-cp".into()), &host);
    assert_eq!(bad.len(), 1);
    assert!(bad[0].starts_with("invalid node name format \"-cp\": name part must consist of"));
}

#[test]
fn kubelet_version_skew() {
    let check = Check::KubeletVersion {
        minimum: version("v1.31.0"),
        control_plane: Some(version("v1.34.2")),
    };
    let mut host = FakeHost::healthy();
    assert_eq!(run(&check, &host), Outcome::default());
    host.kubelet_version = Ok("Kubernetes v1.30.14".into());
    assert_eq!(
        failed(&check, &host),
        ["Kubelet version \"1.30.14\" is lower than kubeboot can support. Please upgrade kubelet"]
    );
    host.kubelet_version = Ok("Kubernetes v1.35.0".into());
    assert_eq!(
        failed(&check, &host),
        [
            "the kubelet version is higher than the control plane version. This is not a supported \
          version skew and may lead to a malfunctional cluster. Kubelet version: \"1.35.0\" \
          Control plane version: \"1.34.2\""
        ]
    );
    host.kubelet_version = Err("executable file not found in $PATH".into());
    assert_eq!(
        failed(&check, &host),
        [
            "couldn't get kubelet version: cannot execute 'kubelet --version': executable file not \
          found in $PATH"
        ]
    );
}

#[test]
fn kubelet_service() {
    let check = Check::Service("kubelet");
    let mut host = FakeHost::healthy();
    assert_eq!(run(&check, &host), Outcome::default());
    host.service = ServiceState::NotFound;
    assert_eq!(warned(&check, &host), ["kubelet service does not exist"]);
    host.service = ServiceState::NoInitSystem;
    assert_eq!(
        warned(&check, &host),
        ["no supported init system detected, skipping checking for services"]
    );
}

// ---------- a dry run on the node itself ----------

/// `init --dry-run --root /` (a directory stands in for `/` here): preflight checks the node,
/// every file goes to a fresh /etc/kubernetes/tmp/kubeboot-init-dryrun*, and the rest of the
/// node is left as it was.
#[test]
fn a_dry_run_on_the_node_checks_the_node_and_changes_none_of_its_files() {
    use kubeboot::state::Unobserved;
    let mut cfg = init_config();
    cfg.dry_run = true;

    // A node that already runs an API server fails preflight, as a real run would.
    let (dir, node) = temp_root();
    let manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml";
    node.write_atomic(manifest, b"running", 0o600).unwrap();
    let host = FakeHost::healthy();
    let err = kubeboot::init::run_on(
        &node,
        dir.path(),
        cfg.clone(),
        &host,
        false,
        &mut Unobserved,
    )
    .unwrap_err()
    .to_string();
    let check = "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml";
    assert!(err.contains(check), "{err}");
    assert_eq!(node.read(manifest).unwrap(), b"running");

    // On a fresh node, everything lands in the dry-run directory; what the manifests mount
    // from the node is decided by the node.
    let (dir, node) = temp_root();
    node.create_dir_all("/etc/ca-certificates", 0o755).unwrap();
    kubeboot::init::run_on(&node, dir.path(), cfg, &host, false, &mut Unobserved).unwrap();
    let runs = node.list_dir("/etc/kubernetes/tmp").unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].starts_with("kubeboot-init-dryrun"), "{runs:?}");
    let dry = Root::new(node.path(format!("/etc/kubernetes/tmp/{}", runs[0])));
    for file in [
        manifest,
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/admin.conf",
        "/var/lib/kubelet/config.yaml",
    ] {
        assert!(
            dry.exists(file),
            "{file} not written in the dry-run directory"
        );
    }
    let apiserver = String::from_utf8(dry.read(manifest).unwrap()).unwrap();
    assert!(
        apiserver.contains("path: /etc/ca-certificates"),
        "{apiserver}"
    );
    assert_eq!(node.list_dir("/").unwrap(), ["etc"]);
    assert_eq!(
        node.list_dir("/etc").unwrap(),
        ["ca-certificates", "kubernetes"]
    );
    assert_eq!(node.list_dir("/etc/kubernetes").unwrap(), ["tmp"]);
}

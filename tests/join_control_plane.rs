//! `kubeboot join --control-plane` against the strict in-process API server (tests/support) and
//! a real etcd (tests/support_etcd): the shared certificates come from a `kubeadm-certs` Secret
//! made by init's upload-certs code from a first control-plane node's files, and the new etcd
//! member joins a real etcd started with that first node's certificates.

mod support;
#[path = "support_etcd/mod.rs"]
mod support_etcd;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};
use support::kubelet::{BOOTSTRAP_KUBELET_CONF, FakeKubelet, KubeletLog};
use support::{CSR_PATH, TestApiServer, TokenOpts, VirtualClock};
use support_etcd::{CertPair, Etcd, MemberCerts, Ports};

use kubeboot::api::{Auth, Client, ClientIdentity, ClientOptions, RetryPolicy, Trust};
use kubeboot::cli::TlsBootstrapMode;
use kubeboot::cluster::{self, CertificateKey, SecretOwner};
use kubeboot::config::defaults;
use kubeboot::config::model::{
    ApiEndpoint, Arg, BootstrapTokenDiscovery, BootstrapTokenString, ClusterConfiguration,
    Discovery, EncryptionAlgorithm, InitConfiguration, JoinConfiguration, JoinControlPlane,
};
use kubeboot::etcd::{self, EtcdClient, Member};
use kubeboot::fs::Root;
use kubeboot::join::{self, JoinOptions, RemoteConfig, control_plane};
use kubeboot::kubelet::KubeletHost;
use kubeboot::service::ServiceControl;
use kubeboot::state::PhaseObserver;
use kubeboot::{Error, ExitCode, pki};

const TOKEN: &str = "abcdef.0123456789abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const KEY_HEX: &str = "f8902e114ef118304e561c3ecd4d0b543adc226b7a07f675f56564185ffe0c07";
const OTHER_KEY_HEX: &str = "0f8902e114ef118304e561c3ecd4d0b543adc226b7a07f675f56564185ffe0c0";
const FIRST: &str = "cp-1";
const JOINER: &str = "cp-2";
const WRONG_KEY: &str = "cannot decrypt kubeadm-certs: wrong certificate key or expired";

/// The files of the kubeadm-certs Secret for local etcd, by node path.
const SHARED_FILES: [&str; 8] = [
    "/etc/kubernetes/pki/ca.crt",
    "/etc/kubernetes/pki/ca.key",
    "/etc/kubernetes/pki/etcd/ca.crt",
    "/etc/kubernetes/pki/etcd/ca.key",
    "/etc/kubernetes/pki/front-proxy-ca.crt",
    "/etc/kubernetes/pki/front-proxy-ca.key",
    "/etc/kubernetes/pki/sa.key",
    "/etc/kubernetes/pki/sa.pub",
];

fn assert_no_secret(text: &str) {
    for secret in [TOKEN_SECRET, KEY_HEX, OTHER_KEY_HEX] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

fn assert_no_secret_logged() {
    support::logs::assert_none_logged(&[TOKEN_SECRET, KEY_HEX, OTHER_KEY_HEX]);
}

// ---- the first control-plane node and the cluster -------------------------------------------

/// A loopback address for this process and `salt`: the new member's etcd listens on kubeadm's
/// fixed ports 2379/2380 there, so concurrent test processes must not share it.
fn loopback(salt: u8) -> IpAddr {
    let pid = std::process::id();
    IpAddr::V4(Ipv4Addr::new(
        127,
        100 + (pid % 100) as u8,
        1 + (pid / 100 % 250) as u8,
        salt,
    ))
}

/// The first node's configuration: the cluster's controlPlaneEndpoint is the test server.
/// ECDSA keys keep key generation instant.
fn first_node_config(srv: &TestApiServer) -> InitConfiguration {
    let mut cfg = defaults::init_configuration();
    cfg.bootstrap_tokens.clear();
    cfg.cluster.control_plane_endpoint = Some(srv.endpoint());
    cfg.cluster.encryption_algorithm = EncryptionAlgorithm::EcdsaP256;
    cfg.node_registration.name = FIRST.into();
    cfg.local_api_endpoint.advertise_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    cfg
}

struct Cluster {
    srv: TestApiServer,
    _dir: tempfile::TempDir,
    /// The first control-plane node, made by init's certs phase.
    first: Root,
    cluster: ClusterConfiguration,
    key: CertificateKey,
}

/// A cluster as `kubeadm init --upload-certs` leaves it: the first node's PKI, its
/// ClusterConfiguration in kubeadm-config, the kubeadm-certs Secret sealed with [`KEY_HEX`]
/// and the Role and RoleBinding that let bootstrap tokens read it.
fn cluster() -> Cluster {
    support::logs::capture();
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .start();
    let dir = tempfile::tempdir().unwrap();
    let first = Root::new(dir.path().join(FIRST));
    // The first node's cluster CA is the API server's, as on a real cluster: what the joining
    // node makes from the shared CA (admin.conf) is accepted there.
    first
        .write_atomic("/etc/kubernetes/pki/ca.crt", srv.ca_pem().as_bytes(), 0o644)
        .unwrap();
    first
        .write_atomic(
            "/etc/kubernetes/pki/ca.key",
            srv.ca_key_pem().as_bytes(),
            0o600,
        )
        .unwrap();
    let init = first_node_config(&srv);
    pki::create_init_pki(&first, &init, None).unwrap();
    srv.put_object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": kubeboot::config::cluster_configuration_yaml(&init.cluster)},
    }));
    let key = CertificateKey::parse(KEY_HEX).unwrap();
    let files = cluster::read_certs_to_upload(&first, &init.cluster).unwrap();
    let owner = SecretOwner {
        name: "bootstrap-token-certkz".into(),
        uid: "3f0b1d8e-0000-4000-8000-000000000001".into(),
    };
    for object in cluster::upload_certs_objects(&key, &files, &owner).unwrap() {
        srv.put_object(serde_json::from_slice(&object.to_json().unwrap()).unwrap());
    }
    Cluster {
        srv,
        _dir: dir,
        first,
        cluster: init.cluster,
        key,
    }
}

fn token(full: &str) -> BootstrapTokenString {
    let (id, secret) = full.split_once('.').unwrap();
    BootstrapTokenString::new(id.into(), secret.into())
}

fn join_config(c: &Cluster, address: IpAddr, key: Option<&str>) -> JoinConfiguration {
    let mut cfg =
        defaults::join_configuration(Discovery::BootstrapToken(BootstrapTokenDiscovery {
            api_server_endpoint: c.srv.endpoint(),
            token: token(TOKEN),
            ca_cert_hashes: vec![c.srv.ca_hash()],
            unsafe_skip_ca_verification: false,
        }));
    cfg.node_registration.name = JOINER.into();
    cfg.control_plane = Some(JoinControlPlane {
        local_api_endpoint: ApiEndpoint {
            advertise_address: Some(address),
            bind_port: 6443,
        },
        certificate_key: key.map(str::to_string),
    });
    // Preflight inspects the machine running the tests; tests/preflight.rs covers it.
    cfg.skip_phases = vec!["preflight".into()];
    cfg
}

/// The joining node's configuration, as the join builds it from the cluster's.
fn joiner_init(c: &Cluster, address: IpAddr) -> InitConfiguration {
    let cfg = join_config(c, address, Some(KEY_HEX));
    let remote = RemoteConfig {
        cluster: c.cluster.clone(),
        kubelet: Default::default(),
        kubelet_config_map: "kubelet-config".into(),
    };
    control_plane::init_configuration(&cfg, cfg.control_plane.as_ref().unwrap(), &remote, JOINER)
}

fn options(root: &Root) -> JoinOptions {
    let mut opts = JoinOptions::new(root, false, TlsBootstrapMode::Kubeboot);
    opts.services = Box::new(ServiceControl::Skip("test sandbox"));
    opts.kubelet_host = KubeletHost {
        hostname: "test-host".into(),
        systemd_resolved_active: false,
    };
    opts.api_retry = RetryPolicy::immediate(3);
    opts.connect_timeout = Duration::from_secs(2);
    opts.request_timeout = Duration::from_secs(5);
    opts.etcd_retry = etcd::RetryPolicy {
        deadline: Duration::from_secs(15),
        backoff: kubeboot::retry::Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        },
    };
    opts
}

fn client(srv: &TestApiServer, auth: Auth) -> Client {
    let trust = Trust::from_pem(srv.ca_pem().as_bytes(), "test CA").unwrap();
    let options = ClientOptions {
        retry: RetryPolicy::no_retry(),
        ..ClientOptions::new(trust, auth)
    };
    Client::new(srv.url(), options).unwrap()
}

/// What the join reads kubeadm-certs with: the bootstrap token.
fn bootstrap_client(srv: &TestApiServer) -> Client {
    client(srv, Auth::BearerToken(TOKEN.into()))
}

/// admin.conf's identity on the test cluster.
fn admin_client(srv: &TestApiServer) -> Client {
    let id = srv.admin_client_cert();
    let identity =
        ClientIdentity::from_pem(id.cert_pem.as_bytes(), id.key_pem.as_bytes(), "admin").unwrap();
    client(srv, Auth::ClientCertificate(identity))
}

/// Every file under the root: `path mode`, and directories as `path/ mode`.
fn tree(root: &Root) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let node = format!("/{}", path.strip_prefix(base).unwrap().display());
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                out.push(format!("{node}/ {mode:o}"));
                walk(base, &path, out);
            } else {
                out.push(format!("{node} {mode:o}"));
            }
        }
    }
    let mut out = Vec::new();
    if root.base().exists() {
        walk(root.base(), root.base(), &mut out);
    }
    out
}

/// Runs download-certs that must fail; nothing may be written and no secret shown.
fn expect_download_failure(c: &Cluster, key_hex: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let key = CertificateKey::parse(key_hex).unwrap();
    let err: Error = control_plane::download_certs(
        &root,
        &joiner_init(c, loopback(1)),
        &bootstrap_client(&c.srv),
        &key,
    )
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), ExitCode::Config, "{text}");
    assert!(tree(&root).is_empty(), "{text}: {:?}", tree(&root));
    assert_no_secret(&text);
    assert_no_secret(&format!("{err:?}"));
    assert_no_secret_logged();
    text
}

// ---- download-certs -------------------------------------------------------------------------

#[test]
fn download_writes_the_shared_files_byte_identical_with_kubeadms_modes() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    control_plane::download_certs(
        &root,
        &joiner_init(&c, loopback(1)),
        &bootstrap_client(&c.srv),
        &c.key,
    )
    .unwrap();

    for path in SHARED_FILES {
        assert_eq!(
            root.read(path).unwrap(),
            c.first.read(path).unwrap(),
            "{path}"
        );
    }
    // kubeadm's writeCertOrKey: private keys 0600, certificates and the public key 0644.
    let mut expected = vec![
        "/etc/ 755".to_string(),
        "/etc/kubernetes/ 755".into(),
        "/etc/kubernetes/pki/ 700".into(),
    ];
    for path in SHARED_FILES {
        if path == "/etc/kubernetes/pki/etcd/ca.crt" {
            expected.push("/etc/kubernetes/pki/etcd/ 700".into());
        }
        let mode = if path.ends_with(".key") { 600 } else { 644 };
        expected.push(format!("{path} {mode}"));
    }
    assert_eq!(tree(&root), expected);

    // Read with the bootstrap token, thanks to the kubeadm:kubeadm-certs Role only.
    let reads: Vec<_> = c
        .srv
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/secrets/kubeadm-certs"))
        .map(|r| (r.method, r.user, r.status))
        .collect();
    assert_eq!(
        reads,
        [(
            "GET".to_string(),
            Some("system:bootstrap:abcdef".to_string()),
            Some(200)
        )]
    );
    assert_no_secret_logged();
}

#[test]
fn a_wrong_certificate_key_writes_nothing_and_says_so() {
    let c = cluster();
    let text = expect_download_failure(&c, OTHER_KEY_HEX);
    assert!(text.starts_with(WRONG_KEY), "{text}");
}

#[test]
fn tampered_ciphertext_writes_nothing() {
    let c = cluster();
    let mut secret = c
        .srv
        .get_object("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .unwrap();
    // Flip one bit in the last entry: the other files still decrypt, and none may be written.
    let sealed = secret["data"]["sa.pub"].as_str().unwrap();
    let mut bytes = base64_decode(sealed);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    secret["data"]["sa.pub"] = Value::String(base64_encode(&bytes));
    c.srv.put_object(secret);
    let text = expect_download_failure(&c, KEY_HEX);
    assert!(
        text.starts_with(WRONG_KEY) && text.contains("\"sa.pub\""),
        "{text}"
    );
}

#[test]
fn an_expired_secret_writes_nothing_and_says_how_to_upload_again() {
    let c = cluster();
    assert!(
        c.srv
            .delete_object("v1", "secrets", Some("kube-system"), "kubeadm-certs")
    );
    let text = expect_download_failure(&c, KEY_HEX);
    assert!(
        text.starts_with(WRONG_KEY) && text.contains("upload-certs --upload-certs"),
        "{text}"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

// ---- the whole join, up to etcd ------------------------------------------------------------

#[test]
fn a_control_plane_join_prepares_the_node_and_points_its_kubelet_at_its_own_api_server() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let address = loopback(2);
    let mut cfg = join_config(&c, address, Some(KEY_HEX));
    // etcd is covered by the etcd test below, marking the node and the waits for a running
    // kubelet and control plane by the test after it. The sandbox starts no kubelet: the join
    // waits for nothing.
    cfg.skip_phases
        .extend(["check-etcd", "etcd-join", "control-plane-join"].map(String::from));
    let outcome = join::run(&root, &cfg, &options(&root)).unwrap();
    assert_eq!(
        outcome.control_plane,
        Some(join::ControlPlaneOutcome { etcd_member: None })
    );
    assert!(outcome.csr_name.is_some());
    assert!(!outcome.kubelet_ready);

    for path in SHARED_FILES {
        assert_eq!(
            root.read(path).unwrap(),
            c.first.read(path).unwrap(),
            "{path}"
        );
    }
    // This node's own certificates, signed by the shared CAs.
    let ca = pki::load_ca(&root, Path::new("/etc/kubernetes/pki"), "ca")
        .unwrap()
        .unwrap();
    let apiserver = pki::load_certificate(&root, Path::new("/etc/kubernetes/pki/apiserver.crt"))
        .unwrap()
        .unwrap();
    assert!(apiserver.is_signed_by(ca.cert()));
    assert!(apiserver.covers_ip(address));
    assert_ne!(
        root.read("/etc/kubernetes/pki/apiserver.crt").unwrap(),
        c.first.read("/etc/kubernetes/pki/apiserver.crt").unwrap()
    );
    for (path, file_mode) in [
        ("/etc/kubernetes/pki/etcd/healthcheck-client.key", 0o600),
        ("/etc/kubernetes/pki/etcd/peer.crt", 0o644),
        ("/etc/kubernetes/pki/apiserver-etcd-client.crt", 0o644),
        ("/etc/kubernetes/pki/front-proxy-client.crt", 0o644),
        ("/etc/kubernetes/admin.conf", 0o600),
        ("/etc/kubernetes/controller-manager.conf", 0o600),
        ("/etc/kubernetes/scheduler.conf", 0o600),
        ("/etc/kubernetes/manifests/kube-apiserver.yaml", 0o600),
        (
            "/etc/kubernetes/manifests/kube-controller-manager.yaml",
            0o600,
        ),
        ("/etc/kubernetes/manifests/kube-scheduler.yaml", 0o600),
        ("/etc/kubernetes/kubelet.conf", 0o600),
    ] {
        assert_eq!(root.mode(path).unwrap(), file_mode, "{path}");
    }
    // kubeadm's join writes neither super-admin.conf nor (before etcd-join) the etcd manifest.
    for absent in [
        "/etc/kubernetes/super-admin.conf",
        "/etc/kubernetes/manifests/etcd.yaml",
    ] {
        assert!(!root.exists(absent), "{absent}");
    }

    let admin = kubeboot::kubeconfig::load(&root, Path::new("/etc/kubernetes/admin.conf"))
        .unwrap()
        .unwrap();
    assert_eq!(admin.current_cluster().unwrap().server, c.srv.url());
    // ControlPlaneKubeletLocalMode (on by default in 1.34): the kubelet uses this node's own
    // API server; the CSR still went to the cluster.
    let kubelet = kubeboot::kubeconfig::load(&root, Path::new("/etc/kubernetes/kubelet.conf"))
        .unwrap()
        .unwrap();
    assert_eq!(
        kubelet.current_cluster().unwrap().server,
        format!("https://{address}:6443")
    );
    assert!(c.srv.requests().iter().any(|r| r.path == CSR_PATH));
    // The node registers its taints through mark-control-plane, not the kubelet flag.
    let flags =
        String::from_utf8(root.read("/var/lib/kubelet/kubeadm-flags.env").unwrap()).unwrap();
    assert!(!flags.contains("register-with-taints"), "{flags}");
    assert_no_secret(&format!("{outcome:?}"));
    assert_no_secret_logged();
}

// ---- a running kubelet and control plane -----------------------------------------------------

/// Records the phases a join runs, as `boot` journals them.
struct Phases(Vec<String>);

impl PhaseObserver for Phases {
    fn phase(
        &mut self,
        name: &str,
        run: &mut dyn FnMut() -> kubeboot::Result<()>,
    ) -> kubeboot::Result<()> {
        self.0.push(name.to_string());
        run()
    }
}

/// A control-plane join whose node runs its control plane on the test server: the local API
/// endpoint is the server's address, and the controller-manager and the scheduler serve their
/// health checks on its port too (or the scheduler on `scheduler_port`). A kubelet is started,
/// which registers its Node. etcd is left out (covered above).
fn join_with_a_running_control_plane(
    c: &Cluster,
    root: &Root,
    scheduler_port: u16,
    clock: Arc<VirtualClock>,
) -> (
    kubeboot::Result<join::JoinOutcome>,
    Vec<String>,
    Arc<KubeletLog>,
) {
    let port = c.srv.addr().port();
    let mut cluster = c.cluster.clone();
    let secure_port = |port: u16| Arg {
        name: "secure-port".into(),
        value: port.to_string(),
    };
    cluster
        .controller_manager
        .extra_args
        .push(secure_port(port));
    cluster
        .scheduler
        .extra_args
        .push(secure_port(scheduler_port));
    c.srv.put_object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": kubeboot::config::cluster_configuration_yaml(&cluster)},
    }));
    let mut cfg = join_config(c, IpAddr::V4(Ipv4Addr::LOCALHOST), Some(KEY_HEX));
    if let Some(cp) = cfg.control_plane.as_mut() {
        cp.local_api_endpoint.bind_port = port;
    }
    cfg.skip_phases
        .extend(["check-etcd", "etcd-join"].map(String::from));
    cfg.timeouts.control_plane_component_health_check = Duration::from_secs(20);

    let id = c.srv.node_client_cert(JOINER);
    let node = client(
        &c.srv,
        Auth::ClientCertificate(
            ClientIdentity::from_pem(id.cert_pem.as_bytes(), id.key_pem.as_bytes(), "node")
                .unwrap(),
        ),
    );
    // The kubelet's own TLS bootstrap: its kubelet.conf names a plain file. (kubeboot's
    // `kubelet-client-current.pem` link has an absolute target, as the kubelet makes it, which
    // only resolves on a real node.)
    let (kubelet, log) = FakeKubelet::new(root);
    let pem = format!("{}{}", id.cert_pem, id.key_pem);
    let kubelet = kubelet.bootstrapping(c.srv.url(), c.srv.ca_pem(), &pem, Duration::ZERO);
    let kubelet = kubelet.on_start(move || {
        let registered: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": JOINER, "labels": {"kubernetes.io/hostname": JOINER}},
        }))
        .unwrap();
        node.create::<Node>(None, &registered).unwrap();
    });
    let mut opts = options(root);
    opts.tls_bootstrap = TlsBootstrapMode::Kubelet;
    opts.kubelet_healthz = Some(kubelet.healthz_url());
    opts.services = Box::new(kubelet);
    opts.api_retry = RetryPolicy::immediate(3).with_clock(clock);
    let mut phases = Phases(Vec::new());
    let outcome = join::run_observed(root, &cfg, &opts, &mut phases);
    (outcome, phases.0, log)
}

#[test]
fn a_control_plane_join_waits_for_its_kubelet_marks_the_node_then_waits_for_its_control_plane() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let clock = VirtualClock::new();
    let port = c.srv.addr().port();
    let (outcome, phases, kubelet) = join_with_a_running_control_plane(&c, &root, port, clock);
    let outcome = outcome.unwrap();
    assert!(outcome.kubelet_ready);
    assert!(kubelet.healthz_requests.load(Ordering::SeqCst) >= 1);
    // The kubelet bootstrapped against this node's own API server; its token is gone.
    let bootstrap = kubelet.bootstrap_conf.lock().unwrap().clone().unwrap();
    assert!(
        bootstrap.contains(&format!("server: https://127.0.0.1:{port}")),
        "{bootstrap}"
    );
    assert!(!root.exists(BOOTSTRAP_KUBELET_CONF));
    // kubeadm's order under ControlPlaneKubeletLocalMode (1.34).
    assert_eq!(
        phases,
        [
            "discovery",
            "kubelet-config",
            "control-plane-checks",
            "control-plane-prepare",
            "tls-bootstrap",
            "kubelet-start",
            "etcd-join",
            "kubelet-wait-bootstrap",
            "mark-control-plane",
            "wait-control-plane",
        ]
    );
    let node = c.srv.get_object("v1", "nodes", None, JOINER).unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );

    // After the node is marked: the API server through admin.conf at this node's own
    // endpoint, then the controller-manager and the scheduler, anonymously.
    let requests = c.srv.requests();
    let marked = requests
        .iter()
        .position(|r| r.method == "PATCH" && r.path == format!("/api/v1/nodes/{JOINER}"))
        .unwrap();
    let checks: Vec<(String, Option<String>)> = requests[marked..]
        .iter()
        .filter(|r| ["/livez", "/healthz", "/readyz"].contains(&r.path.as_str()))
        .map(|r| (r.path.clone(), r.user.clone()))
        .collect();
    let user = |u: &str| Some(u.to_string());
    assert_eq!(
        checks,
        [
            ("/livez".to_string(), user("kubernetes-admin")),
            ("/healthz".to_string(), user("system:anonymous")),
            ("/livez".to_string(), user("system:anonymous")),
        ]
    );
    assert_no_secret_logged();
}

#[test]
fn a_control_plane_that_does_not_start_fails_the_join_within_its_timeout() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let clock = VirtualClock::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (outcome, phases, _) = join_with_a_running_control_plane(&c, &root, closed, clock.clone());
    let err = outcome.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), ExitCode::Cluster, "{text}");
    assert!(
        text.starts_with(&format!(
            "failed while waiting for the control plane to start: kube-scheduler check failed \
             at https://127.0.0.1:{closed}/livez"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "'crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a"
        ),
        "{text}"
    );
    assert_eq!(
        phases.last().map(String::as_str),
        Some("wait-control-plane")
    );
    assert_eq!(clock.elapsed(), Duration::from_secs(20));
}

#[test]
fn a_dry_run_plans_the_control_plane_requests_and_sends_nothing() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let mut cfg = join_config(&c, loopback(3), Some(KEY_HEX));
    cfg.dry_run = true;
    let before = c.srv.requests().len();
    let outcome = join::run(&root, &cfg, &options(&root)).unwrap();
    assert_eq!(c.srv.requests().len(), before);
    assert!(tree(&root).is_empty());
    let steps: Vec<(&str, String)> = outcome
        .planned_requests
        .iter()
        .map(|r| (r.method, r.path.clone()))
        .collect();
    let at = |method: &str, path: &str| {
        steps
            .iter()
            .position(|(m, p)| *m == method && p.starts_with(path))
            .unwrap_or_else(|| panic!("no {method} {path} in {steps:?}"))
    };
    let secret = at(
        "GET",
        "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
    );
    assert!(
        at(
            "GET",
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
        ) < secret
    );
    assert!(secret < at("POST", CSR_PATH));
    assert!(at("POST", CSR_PATH) < at("GET", "/api/v1/namespaces/kube-system/pods"));
    let add = &outcome.planned_requests[at("POST", "/v3/cluster/member/add")];
    assert_eq!(
        add.body.as_ref().unwrap()["peerURLs"][0],
        format!("https://{}:2380", loopback(3))
    );
    let patch = &outcome.planned_requests[at("PATCH", "/api/v1/nodes/cp-2")];
    assert_eq!(
        patch.body.as_ref().unwrap()["spec"]["taints"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    let yaml = join::planned_requests_yaml(&outcome.planned_requests);
    assert_no_secret(&yaml);
}

// ---- etcd ------------------------------------------------------------------------------------

fn pair(root: &Root, base: &str) -> CertPair {
    let read = |ext: &str| {
        String::from_utf8(
            root.read(format!("/etc/kubernetes/pki/{base}.{ext}"))
                .unwrap(),
        )
        .unwrap()
    };
    CertPair {
        cert_pem: read("crt"),
        key_pem: read("key"),
    }
}

fn member_certs(root: &Root) -> MemberCerts {
    MemberCerts {
        ca_pem: pair(root, "etcd/ca").cert_pem,
        server: pair(root, "etcd/server"),
        peer: pair(root, "etcd/peer"),
    }
}

/// The flags of the written etcd manifest, `name → value`.
fn manifest_flags(root: &Root) -> Vec<(String, String)> {
    let pod: Pod =
        serde_yaml::from_slice(&root.read("/etc/kubernetes/manifests/etcd.yaml").unwrap()).unwrap();
    let command = pod.spec.unwrap().containers[0].command.clone().unwrap();
    command
        .iter()
        .filter_map(|a| a.strip_prefix("--")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn flag(flags: &[(String, String)], name: &str) -> String {
    flags
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no --{name} in {flags:?}"))
}

fn entries(initial_cluster: &str) -> BTreeSet<String> {
    initial_cluster.split(',').map(str::to_string).collect()
}

/// Plays the kubelet for the new member: waits (bounded) for its etcd manifest, reports the
/// members as they are then, and starts etcd with the manifest's name, URLs and initial
/// cluster and the certificates the join wrote. The loopback listener and the metrics port
/// are left out: kubeadm's fixed ports may be taken on the test machine.
fn kubelet_for_etcd(
    root: Root,
    watcher: EtcdClient,
) -> std::thread::JoinHandle<(Vec<Member>, Etcd)> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !root.exists("/etc/kubernetes/manifests/etcd.yaml") {
            assert!(Instant::now() < deadline, "no etcd manifest was written");
            std::thread::sleep(Duration::from_millis(20));
        }
        let seen = watcher.list_members().unwrap();
        let flags = manifest_flags(&root);
        let client_url = flag(&flags, "advertise-client-urls");
        let overrides: Vec<(&str, String)> = vec![
            ("listen-client-urls", client_url.clone()),
            ("advertise-client-urls", client_url),
            ("listen-peer-urls", flag(&flags, "listen-peer-urls")),
            (
                "initial-advertise-peer-urls",
                flag(&flags, "initial-advertise-peer-urls"),
            ),
            ("initial-cluster", flag(&flags, "initial-cluster")),
            (
                "initial-cluster-state",
                flag(&flags, "initial-cluster-state"),
            ),
        ];
        let extra: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let etcd = support_etcd::start(
            &flag(&flags, "name"),
            &member_certs(&root),
            Ports::free(),
            &extra,
        );
        (seen, etcd)
    })
}

#[test]
fn the_new_etcd_member_joins_as_a_learner_is_promoted_and_a_rerun_changes_nothing() {
    let c = cluster();
    let mut first_etcd = support_etcd::start(FIRST, &member_certs(&c.first), Ports::free(), &[]);
    first_etcd.wait_healthy(Duration::from_secs(10));
    // The first node's etcd static Pod, as its kubelet mirrors it.
    c.srv.put_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("etcd-{FIRST}"), "namespace": "kube-system",
            "labels": {"component": "etcd", "tier": "control-plane"},
            "annotations": {etcd::ADVERTISE_CLIENT_URLS_ANNOTATION: first_etcd.client_url()},
        },
        "spec": {"containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.6.4-0"}]},
    }));

    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let address = loopback(4);
    let init = joiner_init(&c, address);
    let opts = options(&root);
    let admin = admin_client(&c.srv);
    control_plane::download_certs(&root, &init, &bootstrap_client(&c.srv), &c.key).unwrap();
    pki::create_init_pki(&root, &init, None).unwrap();
    control_plane::check_etcd(&root, &init, &admin, &opts).unwrap();

    let healthcheck = pair(&c.first, "etcd/healthcheck-client");
    let watcher = || {
        EtcdClient::new(
            vec![first_etcd.client_url()],
            member_certs(&c.first).ca_pem.as_bytes(),
            healthcheck.cert_pem.as_bytes(),
            healthcheck.key_pem.as_bytes(),
            Duration::from_secs(2),
        )
        .unwrap()
    };
    let kubelet = kubelet_for_etcd(root.clone(), watcher());
    let joined = control_plane::etcd_join(&root, &init, &admin, &opts);
    let (seen, mut new_etcd) = kubelet.join().unwrap();
    new_etcd.assert_running();
    let peer_url = format!("https://{address}:2380");
    assert_eq!(
        joined.as_ref().map(Option::as_deref).ok(),
        Some(Some(peer_url.as_str())),
        "{joined:?}\nnew member's log:\n{}",
        new_etcd.log_tail()
    );

    // Announced as a learner before it started.
    let announced = seen
        .iter()
        .find(|m| m.peer_url() == Some(peer_url.as_str()))
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert!(announced.is_learner && !announced.is_started(), "{seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");

    // The manifest joins the existing cluster, which the new member really did.
    let flags = manifest_flags(&root);
    let both = entries(&format!(
        "{FIRST}={},{JOINER}={peer_url}",
        first_etcd.peer_url()
    ));
    assert_eq!(entries(&flag(&flags, "initial-cluster")), both);
    assert_eq!(flag(&flags, "initial-cluster-state"), "existing");
    assert_eq!(flag(&flags, "name"), JOINER);
    assert_eq!(root.mode("/var/lib/etcd").unwrap(), 0o700);
    let members = watcher().list_members().unwrap();
    let voting: BTreeSet<_> = members
        .iter()
        .filter(|m| !m.is_learner)
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(voting, BTreeSet::from([FIRST, JOINER]), "{members:?}");

    // A re-run after a crash: the member exists already and votes; nothing changes.
    let again = control_plane::etcd_join(&root, &init, &admin, &opts).unwrap();
    assert_eq!(again.as_deref(), Some(peer_url.as_str()));
    let ids = |ms: &[Member]| ms.iter().map(|m| m.id).collect::<BTreeSet<_>>();
    assert_eq!(ids(&watcher().list_members().unwrap()), ids(&members));
    assert_eq!(
        entries(&flag(&manifest_flags(&root), "initial-cluster")),
        both
    );

    // The etcd client of the join used the Pods' annotation and the healthcheck certificate.
    let pod_lists = c
        .srv
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/namespaces/kube-system/pods")
        .collect::<Vec<_>>();
    assert!(!pod_lists.is_empty());
    assert!(
        pod_lists
            .iter()
            .all(|r| r.query.contains("component=etcd,tier=control-plane")),
        "{:?}",
        pod_lists.iter().map(|r| &r.query).collect::<Vec<_>>()
    );
    assert_no_secret_logged();
}

#[test]
fn without_etcd_pods_the_join_says_where_it_looked() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let mut init = joiner_init(&c, loopback(5));
    init.timeouts.kubernetes_api_call = Duration::from_millis(300);
    control_plane::download_certs(&root, &init, &bootstrap_client(&c.srv), &c.key).unwrap();
    pki::create_init_pki(&root, &init, None).unwrap();
    let err: Error =
        control_plane::etcd_join(&root, &init, &admin_client(&c.srv), &options(&root)).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), ExitCode::Cluster, "{text}");
    assert!(
        text.contains("etcd endpoints") && text.contains("component=etcd,tier=control-plane"),
        "{text}"
    );
    assert!(!root.exists("/etc/kubernetes/manifests/etcd.yaml"));
}

#[test]
fn mark_control_plane_labels_and_taints_the_registered_node() {
    let c = cluster();
    c.srv.put_object(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": JOINER, "labels": {"kubernetes.io/hostname": JOINER}},
        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
    }));
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join(JOINER));
    let init = joiner_init(&c, loopback(6));
    control_plane::mark_control_plane(&root, &init, &admin_client(&c.srv), &options(&root))
        .unwrap();
    let node = c.srv.get_object("v1", "nodes", None, JOINER).unwrap();
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["node-role.kubernetes.io/control-plane"], "");
    assert_eq!(
        labels["node.kubernetes.io/exclude-from-external-load-balancers"],
        ""
    );
    assert_eq!(
        node["spec"]["taints"],
        json!([
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        ])
    );
    assert!(tree(&root).is_empty());
}

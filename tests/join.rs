//! `kubeboot join` against the strict in-process API server (tests/support): the worker join
//! end to end, every attack a joining node must survive, crash recovery, and a benchmark.
//!
//! Each attack is its own test: it must fail with the documented exit code, write nothing on
//! the node (a CSR that may still be approved leaves only its pending key), and never log or
//! report the token secret.

mod support;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use k8s_openapi::api::core::v1::Node;
use serde_json::json;
use support::kubelet::{BOOTSTRAP_KUBELET_CONF, FakeKubelet, KubeletLog};
use support::{
    CLUSTER_INFO_PATH, CSR_PATH, CsrIssue, CsrPolicy, Fault, Forgery, TestApiServer, TokenOpts,
    VirtualClock,
};

use kubeboot::api::{Auth, Client, ClientIdentity, ClientOptions, RetryPolicy, Trust};
use kubeboot::cli::TlsBootstrapMode;
use kubeboot::config::defaults;
use kubeboot::config::model::{
    BootstrapTokenDiscovery, BootstrapTokenString, Discovery, JoinConfiguration,
};
use kubeboot::discovery::DiscoveryOptions;
use kubeboot::fs::Root;
use kubeboot::join::{self, JoinOptions};
use kubeboot::kubelet::KubeletHost;
use kubeboot::retry::{Backoff, Clock};
use kubeboot::service::ServiceControl;
use kubeboot::tlsbootstrap::{CURRENT_CLIENT_PEM, PENDING_KEY_FILE};
use kubeboot::{Error, ExitCode};

const TOKEN: &str = "abcdef.0123456789abcdef";
const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const NODE: &str = "worker-1";
const CSR_API: &str = "certificates.k8s.io/v1";

fn assert_no_secret(text: &str) {
    assert!(!text.contains(TOKEN_SECRET), "token secret leaked: {text}");
}

fn assert_no_secret_logged() {
    support::logs::assert_none_logged(&[TOKEN_SECRET]);
}

// ---- a virtual clock: polls and backoffs advance it instead of sleeping ----------------

// ---- setup --------------------------------------------------------------------------------

fn server() -> TestApiServer {
    support::logs::capture();
    TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .start()
}

fn token(full: &str) -> BootstrapTokenString {
    let (id, secret) = full.split_once('.').unwrap();
    BootstrapTokenString::new(id.into(), secret.into())
}

fn join_config_with(srv: &TestApiServer, token_str: &str, pins: Vec<String>) -> JoinConfiguration {
    let mut cfg =
        defaults::join_configuration(Discovery::BootstrapToken(BootstrapTokenDiscovery {
            api_server_endpoint: srv.endpoint(),
            token: token(token_str),
            ca_cert_hashes: pins,
            unsafe_skip_ca_verification: false,
        }));
    cfg.node_registration.name = NODE.into();
    // Preflight inspects the machine running the tests; tests/preflight.rs covers it.
    cfg.skip_phases = vec!["preflight".into()];
    cfg
}

fn join_config(srv: &TestApiServer) -> JoinConfiguration {
    join_config_with(srv, TOKEN, vec![srv.ca_hash()])
}

/// A sandboxed join: no services, a virtual clock for every wait, real (short) network
/// timeouts, a 20 s discovery deadline and a 30 s TLS bootstrap deadline (virtual).
fn options() -> JoinOptions {
    let clock: Arc<dyn Clock> = VirtualClock::new();
    let mut opts = JoinOptions::new(
        &Root::new("/nonexistent"),
        false,
        TlsBootstrapMode::Kubeboot,
    );
    opts.services = Box::new(ServiceControl::Skip("test sandbox"));
    opts.kubelet_host = KubeletHost {
        hostname: "test-host".into(),
        systemd_resolved_active: false,
    };
    opts.discovery = DiscoveryOptions {
        retry: RetryPolicy::immediate(2).with_clock(clock.clone()),
        poll: Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(5),
        },
        timeout: Some(Duration::from_secs(20)),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..DiscoveryOptions::default()
    };
    opts.api_retry = RetryPolicy::immediate(3).with_clock(clock);
    opts.connect_timeout = Duration::from_secs(2);
    opts.request_timeout = Duration::from_secs(5);
    opts.tls_bootstrap_timeout = Some(Duration::from_secs(30));
    opts
}

struct Sandbox {
    _dir: tempfile::TempDir,
    root: Root,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join("node"));
    Sandbox { _dir: dir, root }
}

/// Every file and link under the root: `path mode` or `path -> target`.
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
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{node} -> {}",
                    std::fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(format!("{node} {:o}", meta.permissions().mode() & 0o777));
            }
        }
    }
    let mut out = Vec::new();
    if root.base().exists() {
        walk(root.base(), root.base(), &mut out);
    }
    out
}

/// Runs a join that must fail with `code`; checks that nothing is on the node but `allowed`
/// and that no secret is in the error or the logs. Returns the error text.
fn expect_failure(
    cfg: &JoinConfiguration,
    opts: &JoinOptions,
    code: ExitCode,
    allowed: &[String],
) -> String {
    let sb = sandbox();
    let err: Error = join::run(&sb.root, cfg, opts).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), code, "{text}");
    assert_no_secret(&text);
    assert_no_secret(&format!("{err:?}"));
    assert_eq!(tree(&sb.root), allowed, "{text}");
    assert_no_secret_logged();
    text
}

fn csrs(srv: &TestApiServer) -> Vec<String> {
    srv.list_objects(CSR_API, "certificatesigningrequests", None)
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// The cluster-info ConfigMap as served, with `edit` applied, as a fault body.
fn cluster_info_body(srv: &TestApiServer, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut cm = srv
        .get_object("v1", "configmaps", Some("kube-public"), "cluster-info")
        .unwrap();
    edit(&mut cm);
    serde_json::to_vec(&cm).unwrap()
}

fn kubectl_config_view(root: &Root, node_path: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .args(["config", "view", "--kubeconfig"])
        .arg(root.path(node_path))
        .output()
        .expect("kubectl is installed");
    assert!(
        out.status.success(),
        "kubectl config view {node_path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The node path the kubelet's `current` link points at (absolute, as the kubelet links it).
fn current_pem(root: &Root) -> PathBuf {
    std::fs::read_link(root.path(CURRENT_CLIENT_PEM)).unwrap()
}

fn client_with_certificate(srv: &TestApiServer, pem: &[u8]) -> Client {
    let identity = ClientIdentity::from_pem(pem, pem, "the kubelet client pem").unwrap();
    let trust = Trust::from_pem(srv.ca_pem().as_bytes(), "test CA").unwrap();
    let options = ClientOptions {
        retry: RetryPolicy::no_retry(),
        ..ClientOptions::new(trust, Auth::ClientCertificate(identity))
    };
    Client::new(srv.url(), options).unwrap()
}

fn node_object(name: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": { "name": name }
    }))
    .unwrap()
}

// ---- a kubelet the join starts ---------------------------------------------------------

/// A kubelet for the node that ends its TLS bootstrap, if it `bootstraps`, with a certificate
/// the cluster CA issued to the node.
fn fake_kubelet(
    root: &Root,
    srv: &TestApiServer,
    bootstraps: bool,
) -> (FakeKubelet, Arc<KubeletLog>) {
    let (kubelet, log) = FakeKubelet::new(root);
    if !bootstraps {
        return (kubelet, log);
    }
    let id = srv.node_client_cert(NODE);
    let pem = format!("{}{}", id.cert_pem, id.key_pem);
    let after = Duration::from_millis(200);
    (
        kubelet.bootstrapping(srv.url(), srv.ca_pem(), &pem, after),
        log,
    )
}

/// Real time for the waits: the kubelet bootstraps a moment after it starts. Short polls;
/// deadlines of 20 s bound the test.
fn in_real_time(opts: &mut JoinOptions, cfg: &mut JoinConfiguration) {
    opts.api_retry = RetryPolicy::immediate(3);
    opts.wait_poll = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    opts.tls_bootstrap_timeout = Some(Duration::from_secs(20));
    cfg.timeouts.kubelet_health_check = Duration::from_secs(20);
    cfg.timeouts.kubernetes_api_call = Duration::from_secs(20);
}

/// Options for a join in kubelet TLS bootstrap mode whose kubelet `kubelet` plays.
fn options_with_kubelet(kubelet: FakeKubelet) -> JoinOptions {
    let mut opts = options();
    opts.tls_bootstrap = TlsBootstrapMode::Kubelet;
    opts.kubelet_healthz = Some(kubelet.healthz_url());
    opts.services = Box::new(kubelet);
    opts
}

// ---- the join -----------------------------------------------------------------------------

#[test]
fn worker_join_writes_the_kubelets_files_and_a_certificate_that_authenticates_as_the_node() {
    let srv = server();
    let sb = sandbox();
    let outcome = join::run(&sb.root, &join_config(&srv), &options()).unwrap();
    let csr_name = outcome.csr_name.clone().unwrap();
    assert_eq!(csrs(&srv), vec![csr_name]);

    let pem = current_pem(&sb.root);
    let pem = pem.to_str().unwrap();
    assert!(
        pem.starts_with("/var/lib/kubelet/pki/kubelet-client-2"),
        "{pem}"
    );
    assert_eq!(
        tree(&sb.root),
        vec![
            "/etc/kubernetes/kubelet.conf 600".to_string(),
            "/etc/kubernetes/pki/ca.crt 644".into(),
            "/var/lib/kubelet/config.yaml 644".into(),
            "/var/lib/kubelet/instance-config.yaml 644".into(),
            "/var/lib/kubelet/kubeadm-flags.env 644".into(),
            format!("{pem} 600"),
            format!("{CURRENT_CLIENT_PEM} -> {pem}"),
        ]
    );
    assert_eq!(
        sb.root.read("/etc/kubernetes/pki/ca.crt").unwrap(),
        srv.ca_pem().as_bytes()
    );

    let view = kubectl_config_view(&sb.root, "/etc/kubernetes/kubelet.conf");
    assert!(view.contains(&format!("server: {}", srv.url())), "{view}");
    assert!(
        view.contains(&format!("client-certificate: {CURRENT_CLIENT_PEM}")),
        "{view}"
    );
    assert!(
        view.contains(&format!("client-key: {CURRENT_CLIENT_PEM}")),
        "{view}"
    );
    assert!(view.contains("current-context: default-context"), "{view}");

    // The certificate is the node's identity: it may create its own Node, not another.
    let client = client_with_certificate(&srv, &sb.root.read(pem).unwrap());
    client.create::<Node>(None, &node_object(NODE)).unwrap();
    let err = client
        .create::<Node>(None, &node_object("worker-2"))
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    let users: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/nodes")
        .map(|r| r.user)
        .collect();
    assert_eq!(users, vec![Some(format!("system:node:{NODE}")); 2]);

    // Discovery was anonymous, everything else the bootstrap token.
    for r in srv.requests().iter().filter(|r| r.path != "/api/v1/nodes") {
        let expected = if r.path == CLUSTER_INFO_PATH {
            "system:anonymous".to_string()
        } else {
            format!("system:bootstrap:{TOKEN_ID}")
        };
        assert_eq!(r.user.as_deref(), Some(expected.as_str()), "{}", r.path);
    }
    assert_no_secret(&format!("{outcome:?}"));
    assert_no_secret_logged();
}

#[test]
fn several_pins_of_which_one_matches_are_accepted() {
    let srv = server();
    let sb = sandbox();
    let cfg = join_config_with(&srv, TOKEN, vec![srv.rogue_ca_hash(), srv.ca_hash()]);
    join::run(&sb.root, &cfg, &options()).unwrap();
    assert!(sb.root.exists("/etc/kubernetes/kubelet.conf"));
}

#[test]
fn kubelet_tls_bootstrap_writes_kubeadms_bootstrap_kubeconfig_and_sends_no_csr() {
    let srv = server();
    let sb = sandbox();
    let mut opts = options();
    opts.tls_bootstrap = TlsBootstrapMode::Kubelet;
    let outcome = join::run(&sb.root, &join_config(&srv), &opts).unwrap();
    // The sandbox starts no kubelet: nothing to wait for, and the file stays for one.
    assert!(!outcome.kubelet_ready);
    assert!(csrs(&srv).is_empty());
    assert_eq!(
        tree(&sb.root),
        vec![
            "/etc/kubernetes/bootstrap-kubelet.conf 600",
            "/etc/kubernetes/pki/ca.crt 644",
            "/var/lib/kubelet/config.yaml 644",
            "/var/lib/kubelet/instance-config.yaml 644",
            "/var/lib/kubelet/kubeadm-flags.env 644",
        ]
    );
    let view = kubectl_config_view(&sb.root, "/etc/kubernetes/bootstrap-kubelet.conf");
    assert!(
        view.contains("current-context: tls-bootstrap-token-user@kubernetes"),
        "{view}"
    );
    assert!(view.contains("cluster: kubernetes"), "{view}");
    assert_no_secret_logged();
}

#[test]
fn kubelet_tls_bootstrap_waits_for_the_kubelet_then_deletes_the_bootstrap_kubeconfig() {
    let srv = server();
    let sb = sandbox();
    let (kubelet, seen) = fake_kubelet(&sb.root, &srv, true);
    let mut opts = options_with_kubelet(kubelet);
    let mut cfg = join_config(&srv);
    in_real_time(&mut opts, &mut cfg);

    let outcome = join::run(&sb.root, &cfg, &opts).unwrap();
    assert!(outcome.kubelet_ready);
    assert_eq!(outcome.csr_name, None);
    assert_eq!(seen.starts.load(Ordering::SeqCst), 1);
    assert!(seen.healthz_requests.load(Ordering::SeqCst) >= 1);
    // The kubelet started with kubeadm's bootstrap kubeconfig, which is gone now.
    let bootstrap = seen.bootstrap_conf.lock().unwrap().clone().unwrap();
    assert!(bootstrap.contains(&format!("token: {TOKEN}")));
    assert_eq!(
        tree(&sb.root),
        vec![
            "/etc/kubernetes/kubelet.conf 600",
            "/etc/kubernetes/pki/ca.crt 644",
            "/var/lib/kubelet/config.yaml 644",
            "/var/lib/kubelet/instance-config.yaml 644",
            "/var/lib/kubelet/kubeadm-flags.env 644",
            "/var/lib/kubelet/pki/kubelet-client-current.pem 600",
        ]
    );
    // 1.34's NodeLocalCRISocket: the CRI socket is not annotated on the Node.
    assert!(!srv.requests().iter().any(|r| r.method == "PATCH"));
    assert_no_secret_logged();
}

#[test]
fn before_1_34_the_kubelet_wait_annotates_the_cri_socket_with_the_kubelets_own_credentials() {
    support::logs::capture();
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .kubernetes_version("v1.33.4")
        .start();
    let sb = sandbox();
    let (kubelet, _) = fake_kubelet(&sb.root, &srv, true);
    let id = srv.node_client_cert(NODE);
    let as_node =
        client_with_certificate(&srv, format!("{}{}", id.cert_pem, id.key_pem).as_bytes());
    // The kubelet registers its Node.
    let kubelet = kubelet.on_start(move || {
        as_node.create::<Node>(None, &node_object(NODE)).unwrap();
    });
    let mut opts = options_with_kubelet(kubelet);
    let mut cfg = join_config(&srv);
    in_real_time(&mut opts, &mut cfg);

    join::run(&sb.root, &cfg, &opts).unwrap();
    let node = srv.get_object("v1", "nodes", None, NODE).unwrap();
    assert_eq!(
        node["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"],
        "unix:///var/run/containerd/containerd.sock"
    );
    let patches: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| (r.path, r.user))
        .collect();
    assert_eq!(
        patches,
        [(
            format!("/api/v1/nodes/{NODE}"),
            Some(format!("system:node:{NODE}"))
        )]
    );
}

#[test]
fn a_kubelet_that_never_bootstraps_fails_after_the_timeout_and_leaves_no_token_on_disk() {
    let srv = server();
    let sb = sandbox();
    let (kubelet, seen) = fake_kubelet(&sb.root, &srv, false);
    let clock = VirtualClock::new();
    let mut opts = options_with_kubelet(kubelet);
    opts.api_retry = RetryPolicy::immediate(3).with_clock(clock.clone());

    let err: Error = join::run(&sb.root, &join_config(&srv), &opts).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), ExitCode::TlsBootstrap, "{text}");
    for expected in [
        "the kubelet did not perform the TLS bootstrap within 30s: \
         /etc/kubernetes/kubelet.conf does not exist yet",
        "/etc/kubernetes/bootstrap-kubelet.conf is removed",
        "'kubectl get csr'",
        "'journalctl -xeu kubelet'",
    ] {
        assert!(text.contains(expected), "{expected:?} missing: {text}");
    }
    // Waited (in virtual time) exactly the TLS bootstrap timeout, the kubelet being healthy.
    assert_eq!(clock.elapsed(), Duration::from_secs(30));
    assert!(seen.bootstrap_conf.lock().unwrap().is_some());
    assert!(!sb.root.exists(BOOTSTRAP_KUBELET_CONF));
    assert_no_secret(&text);
    assert_no_secret_logged();
}

#[test]
fn a_kubelet_that_never_answers_fails_naming_its_health_endpoint() {
    let srv = server();
    let sb = sandbox();
    let (kubelet, _) = fake_kubelet(&sb.root, &srv, true);
    let clock = VirtualClock::new();
    let mut opts = options_with_kubelet(kubelet);
    opts.api_retry = RetryPolicy::immediate(3).with_clock(clock.clone());
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/healthz");
    opts.kubelet_healthz = Some(url.clone());
    let mut cfg = join_config(&srv);
    cfg.timeouts.kubelet_health_check = Duration::from_secs(40);

    let err: Error = join::run(&sb.root, &cfg, &opts).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), ExitCode::Cluster, "{text}");
    assert!(
        text.starts_with(&format!(
            "the kubelet did not become healthy within 40s: The HTTP call equal to 'curl -sSL \
             {url}' returned error"
        )),
        "{text}"
    );
    assert!(text.contains("'systemctl status kubelet'"), "{text}");
    assert_eq!(clock.elapsed(), Duration::from_secs(40));
    assert!(!sb.root.exists(BOOTSTRAP_KUBELET_CONF));
    assert_no_secret_logged();
}

#[test]
fn a_rerun_after_a_crash_before_approval_reuses_the_key_and_the_csr() {
    let srv = server();
    srv.set_csr_policy(CsrPolicy::Never);
    let sb = sandbox();
    let cfg = join_config(&srv);
    let err = join::run(&sb.root, &cfg, &options()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::TlsBootstrap, "{err}");
    let first = csrs(&srv);
    assert_eq!(first.len(), 1);
    let key = sb.root.read(PENDING_KEY_FILE).unwrap();

    srv.set_csr_policy(CsrPolicy::Auto);
    let outcome = join::run(&sb.root, &cfg, &options()).unwrap();
    assert_eq!(csrs(&srv), first, "no second CSR");
    assert_eq!(outcome.csr_name.as_ref(), first.first());
    let posts: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == CSR_PATH)
        .map(|r| r.status)
        .collect();
    assert_eq!(posts, vec![Some(201), Some(409)]);
    let pem = sb.root.read(current_pem(&sb.root)).unwrap();
    assert!(
        pem.ends_with(&key),
        "the certificate is stored with the first attempt's key"
    );
    assert!(!sb.root.exists(PENDING_KEY_FILE));
}

#[test]
fn a_lost_answer_to_the_csr_post_is_retried_into_the_same_csr() {
    let srv = server();
    srv.inject(
        Fault::ResetAfterHandling
            .on(CSR_PATH)
            .method("POST")
            .times(1),
    );
    let sb = sandbox();
    let outcome = join::run(&sb.root, &join_config(&srv), &options()).unwrap();
    assert_eq!(csrs(&srv), vec![outcome.csr_name.unwrap()]);
}

#[test]
fn an_existing_ready_node_of_that_name_is_refused() {
    let srv = server();
    srv.put_object(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": { "name": NODE },
        "status": { "conditions": [{ "type": "Ready", "status": "True" }] }
    }));
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Config, &[]);
    assert_eq!(
        text,
        "a Node with name \"worker-1\" and status \"Ready\" already exists in the cluster. You \
         must delete the existing Node or change the name of this new joining Node"
    );
    assert!(csrs(&srv).is_empty());
}

#[test]
fn a_resumed_join_takes_back_the_ready_node_its_own_kubelet_registered() {
    // A control-plane join whose etcd step failed after kubelet-start: the kubelet registered
    // the Node, and the re-run must get past the check that refuses a stranger's.
    let srv = server();
    srv.put_object(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": { "name": NODE },
        "status": { "conditions": [{ "type": "Ready", "status": "True" }] }
    }));
    let mut opts = options();
    opts.resumed_after_kubelet_start = true;
    let sb = sandbox();
    let outcome = join::run(&sb.root, &join_config(&srv), &opts).unwrap();
    assert_eq!(csrs(&srv), vec![outcome.csr_name.unwrap()]);
    assert!(sb.root.exists("/etc/kubernetes/kubelet.conf"));
}

#[test]
fn a_v1_19_cluster_is_read_through_its_versioned_kubelet_config_map() {
    support::logs::capture();
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .kubernetes_version("v1.19.16")
        .start();
    let sb = sandbox();
    join::run(&sb.root, &join_config(&srv), &options()).unwrap();
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/kube-system/configmaps/kubelet-config-1.19")
    );
    assert!(!sb.root.exists("/var/lib/kubelet/instance-config.yaml"));
}

// ---- attacks on discovery -------------------------------------------------------------------

#[test]
fn attack_wrong_token_secret() {
    let srv = server();
    let cfg = join_config_with(&srv, "abcdef.ffffffffffffffff", vec![srv.ca_hash()]);
    let text = expect_failure(&cfg, &options(), ExitCode::Trust, &[]);
    assert!(
        text.contains("failed to verify the JWS signature"),
        "{text}"
    );
}

#[test]
fn attack_token_id_with_no_signature_times_out() {
    let srv = server();
    srv.add_token(
        "zzzzzz.0123456789abcdef",
        TokenOpts {
            signing: false,
            ..TokenOpts::default()
        },
    );
    let cfg = join_config_with(&srv, "zzzzzz.0123456789abcdef", vec![srv.ca_hash()]);
    let text = expect_failure(&cfg, &options(), ExitCode::Cluster, &[]);
    assert!(
        text.contains("has no JWS signature for token id \"zzzzzz\""),
        "{text}"
    );
}

#[test]
fn attack_expired_token() {
    support::logs::capture();
    let srv = TestApiServer::builder()
        .token(TOKEN, TokenOpts::expired())
        .start();
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Cluster, &[]);
    assert!(text.contains("has no JWS signature"), "{text}");
}

#[test]
fn attack_signature_over_other_bytes() {
    let srv = server();
    srv.inject(
        Fault::Body {
            status: 200,
            body: srv.forged_cluster_info(Forgery::RogueCaStaleSignatures),
        }
        .on(CLUSTER_INFO_PATH),
    );
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(
        text.contains("failed to verify the JWS signature"),
        "{text}"
    );
}

#[test]
fn attack_alg_none_signature() {
    let srv = server();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{TOKEN_ID}"}}"#));
    let body = cluster_info_body(&srv, |cm| {
        cm["data"][format!("jws-kubeconfig-{TOKEN_ID}")] = format!("{header}..").into();
    });
    srv.inject(Fault::Body { status: 200, body }.on(CLUSTER_INFO_PATH));
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(
        text.contains("failed to verify the JWS signature"),
        "{text}"
    );
}

#[test]
fn attack_ca_pin_mismatch() {
    let srv = server();
    srv.inject(
        Fault::Body {
            status: 200,
            body: srv.forged_cluster_info(Forgery::RogueCaSignedWith(TOKEN.into())),
        }
        .on(CLUSTER_INFO_PATH),
    );
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(text.contains(&srv.rogue_ca_hash()), "{text}");
    assert!(text.contains("is not pinned"), "{text}");
}

#[test]
fn a_bundle_with_an_unpinned_ca_keeps_only_the_pinned_one_on_the_node() {
    let srv = server();
    srv.inject(
        Fault::Body {
            status: 200,
            body: srv.forged_cluster_info(Forgery::RogueCaAddedSignedWith(TOKEN.into())),
        }
        .on(CLUSTER_INFO_PATH),
    );
    let sb = sandbox();
    join::run(&sb.root, &join_config(&srv), &options()).unwrap();
    assert_eq!(
        sb.root.read("/etc/kubernetes/pki/ca.crt").unwrap(),
        srv.ca_pem().as_bytes()
    );
    let kubelet_conf =
        String::from_utf8(sb.root.read("/etc/kubernetes/kubelet.conf").unwrap()).unwrap();
    assert!(kubelet_conf.contains(&STANDARD.encode(srv.ca_pem())));
    assert!(!kubelet_conf.contains(&STANDARD.encode(srv.rogue_ca_pem())));
}

#[test]
fn attack_unpinned_ca_added_to_the_bundle_cannot_serve_the_second_fetch() {
    let srv = server();
    srv.inject(
        Fault::Body {
            status: 200,
            body: srv.forged_cluster_info(Forgery::RogueCaAddedSignedWith(TOKEN.into())),
        }
        .on(CLUSTER_INFO_PATH),
    );
    srv.mitm_after_connections(1);
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(
        text.contains("could not prove it holds the cluster CA"),
        "{text}"
    );
}

#[test]
fn attack_man_in_the_middle_on_the_second_fetch() {
    let srv = server();
    srv.mitm_after_connections(1);
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(
        text.contains("could not prove it holds the cluster CA"),
        "{text}"
    );
}

#[test]
fn attack_second_fetch_returns_other_bytes() {
    let srv = server();
    let body = srv.forged_cluster_info(Forgery::OtherServer("https://10.6.6.6:6443".into()));
    srv.inject(
        Fault::Body { status: 200, body }
            .on(CLUSTER_INFO_PATH)
            .after(1),
    );
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(text.contains("differs from the first"), "{text}");
}

#[test]
fn attack_kubeconfig_with_two_clusters() {
    let srv = server();
    let two = srv.cluster_info_kubeconfig().replacen(
        "clusters:\n",
        "clusters:\n- cluster:\n    server: https://10.6.6.6:6443\n  name: evil\n",
        1,
    );
    let signature = support::apiserver::detached_jws(&two, TOKEN_ID, TOKEN_SECRET);
    let body = cluster_info_body(&srv, |cm| {
        cm["data"]["kubeconfig"] = two.clone().into();
        cm["data"][format!("jws-kubeconfig-{TOKEN_ID}")] = signature.into();
    });
    srv.inject(Fault::Body { status: 200, body }.on(CLUSTER_INFO_PATH));
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(text.contains("exactly one cluster, found 2"), "{text}");
}

#[test]
fn attack_oversized_body() {
    let srv = server();
    srv.inject(Fault::OversizedBody { len: 8 << 20 }.on(CLUSTER_INFO_PATH));
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Cluster, &[]);
    assert!(text.contains("larger than"), "{text}");
}

#[test]
fn attack_body_that_never_ends_is_cut_by_the_request_timeout() {
    let srv = server();
    srv.inject(Fault::StallBody { sent: 10 }.on(CLUSTER_INFO_PATH));
    let mut opts = options();
    opts.discovery.request_timeout = Duration::from_secs(1);
    opts.discovery.retry.max_attempts = 1;
    opts.discovery.poll = Backoff {
        initial: Duration::from_secs(10),
        max: Duration::from_secs(10),
    };
    // "no answer in time" is our timeout; the server's own stall limit would end the body
    // with a closed connection instead.
    let text = expect_failure(&join_config(&srv), &opts, ExitCode::Cluster, &[]);
    assert!(text.contains("no answer in time"), "{text}");
}

#[test]
fn attack_redirect_to_another_host_is_not_followed() {
    let srv = server();
    srv.inject(
        Fault::Redirect(
            "https://127.0.0.2:6443/api/v1/namespaces/kube-public/configmaps/cluster-info".into(),
        )
        .on(CLUSTER_INFO_PATH),
    );
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Cluster, &[]);
    assert!(text.contains("redirects are not followed"), "{text}");
}

// ---- attacks on TLS bootstrap ---------------------------------------------------------------

#[test]
fn attack_csr_denied() {
    let srv = server();
    srv.set_csr_policy(CsrPolicy::Deny);
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::TlsBootstrap, &[]);
    assert!(
        text.contains("was denied by the cluster (reason: KubectlDeny"),
        "{text}"
    );
}

#[test]
fn attack_csr_never_approved_times_out_keeping_only_its_key() {
    let srv = server();
    srv.set_csr_policy(CsrPolicy::Never);
    let text = expect_failure(
        &join_config(&srv),
        &options(),
        ExitCode::TlsBootstrap,
        &[format!("{PENDING_KEY_FILE} 600")],
    );
    assert!(text.contains("was not approved within 30s"), "{text}");
}

#[test]
fn attack_certificate_issued_for_another_key() {
    let srv = server();
    srv.set_csr_issue(CsrIssue::OtherKey);
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(text.contains("another public key"), "{text}");
}

#[test]
fn attack_certificate_issued_for_another_common_name() {
    let srv = server();
    srv.set_csr_issue(CsrIssue::OtherCommonName("system:node:victim".into()));
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(text.contains("expected CN=system:node:worker-1"), "{text}");
}

#[test]
fn attack_certificate_issued_by_another_ca() {
    let srv = server();
    srv.set_csr_issue(CsrIssue::OtherCa);
    let text = expect_failure(&join_config(&srv), &options(), ExitCode::Trust, &[]);
    assert!(text.contains("does not chain to the cluster CA"), "{text}");
}

// ---- benchmark ----------------------------------------------------------------------------

/// `cargo test --test join -- --ignored bench_join --nocapture`; KUBEBOOT_BENCH_JOINS sets N.
#[test]
#[ignore]
fn bench_join() {
    let n: usize = std::env::var("KUBEBOOT_BENCH_JOINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let srv = server();
    let before = usage();
    let started = Instant::now();
    for i in 0..n {
        let sb = sandbox();
        let mut cfg = join_config(&srv);
        cfg.node_registration.name = format!("bench-{i}");
        join::run(&sb.root, &cfg, &options()).unwrap();
    }
    let wall = started.elapsed();
    let after = usage();
    let requests = srv.requests().len();
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!(
        "bench join: {n} joins, wall {:.0} ms, {:.2} ms per join",
        wall.as_secs_f64() * 1000.0,
        per(wall)
    );
    println!(
        "bench join: cpu {:.0} ms (user {:.0} ms, sys {:.0} ms), {:.2} ms per join (client and \
         in-process server)",
        (after.0 + after.1 - before.0 - before.1).as_secs_f64() * 1000.0,
        (after.0 - before.0).as_secs_f64() * 1000.0,
        (after.1 - before.1).as_secs_f64() * 1000.0,
        per(after.0 + after.1 - before.0 - before.1)
    );
    println!("bench join: peak rss {} kB (VmHWM)", vm_hwm_kb());
    println!(
        "bench join: {requests} requests, {:.1} per join",
        requests as f64 / n as f64
    );
}

/// (user, system) CPU time of this process.
fn usage() -> (Duration, Duration) {
    // SAFETY: getrusage writes into the zeroed struct it is given and nothing else.
    let ru = unsafe {
        let mut ru: nix::libc::rusage = std::mem::zeroed();
        nix::libc::getrusage(nix::libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: nix::libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// ---- the command line -----------------------------------------------------------------------

fn kubeboot(root: &Root, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kubeboot"))
        .arg("--root")
        .arg(root.base())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_dry_run_prints_the_requests_and_touches_neither_network_nor_disk() {
    let sb = sandbox();
    let pin = format!("sha256:{}", "ab".repeat(32));
    // 192.0.2.1 (TEST-NET-1) is unreachable: any request would fail the command.
    let out = kubeboot(
        &sb.root,
        &[
            "join",
            "192.0.2.1:6443",
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &pin,
            "--node-name",
            NODE,
            "--skip-phases",
            "preflight",
            "--dry-run",
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let docs: Vec<serde_yaml::Value> = stdout
        .split("---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    assert_eq!(docs[0]["server"], "https://192.0.2.1:6443");
    assert_eq!(docs[0]["path"], CLUSTER_INFO_PATH);
    assert!(
        docs.iter()
            .any(|d| d["method"] == "POST" && d["path"] == CSR_PATH)
    );
    assert!(stderr.contains("[dryrun]"), "{stderr}");
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);
    assert!(tree(&sb.root).is_empty());
}

#[test]
fn cli_control_plane_join_checks_its_key_before_the_network_and_plans_a_dry_run() {
    const KEY: &str = "f8902e114ef118304e561c3ecd4d0b543adc226b7a07f675f56564185ffe0c07";
    let sb = sandbox();
    let pin = format!("sha256:{}", "ab".repeat(32));
    let args = |key: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "join",
            "192.0.2.1:6443",
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &pin,
            "--node-name",
            NODE,
            "--control-plane",
            "--apiserver-advertise-address",
            "10.0.0.2",
            "--certificate-key",
            key,
            "--skip-phases",
            "preflight",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubeboot(&sb.root, &args)
    };

    // A key that is not 64 hex characters fails before anything is sent (192.0.2.1 would not
    // answer), without being echoed.
    let out = run(args("0123-not-a-key", &[]));
    assert_eq!(out.status.code(), Some(ExitCode::Config as i32));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("certificate key"), "{stderr}");
    assert!(!stderr.contains("0123-not-a-key"), "{stderr}");

    let out = run(args(KEY, &["--dry-run"]));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("path: /api/v1/namespaces/kube-system/secrets/kubeadm-certs"),
        "{stdout}"
    );
    assert!(stdout.contains("https://10.0.0.2:2380"), "{stdout}");
    for text in [&stdout, &stderr] {
        assert_no_secret(text);
        assert!(!text.contains(KEY), "{text}");
    }
    assert!(tree(&sb.root).is_empty());
}

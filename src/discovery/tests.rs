//! Discovery flows against tiny loopback cluster-info servers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::api::testserver::{ConnectProxy, TestCa, TestRequest, TestResponse, TestServer};
use crate::config::model::{BootstrapTokenDiscovery, BootstrapTokenString};
use crate::proxy::ProxyEnv;
use crate::retry::FakeClock;

const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
/// The server cluster-info names: distinct from the endpoint, to see which one is used.
const CLUSTER_SERVER: &str = "https://cp.example.test:6443";

fn token() -> BootstrapTokenString {
    BootstrapTokenString::new(TOKEN_ID.into(), TOKEN_SECRET.into())
}

fn join_config(discovery: Discovery) -> JoinConfiguration {
    let mut cfg = crate::config::defaults::join_configuration(discovery);
    cfg.node_registration.name = "testnode".into();
    cfg
}

fn token_discovery(endpoint: &str, pins: &[String]) -> JoinConfiguration {
    join_config(Discovery::BootstrapToken(BootstrapTokenDiscovery {
        api_server_endpoint: endpoint.into(),
        token: token(),
        ca_cert_hashes: pins.to_vec(),
        unsafe_skip_ca_verification: false,
    }))
}

/// Options with a virtual clock: polls advance time without waiting.
fn options(clock: &Arc<FakeClock>) -> DiscoveryOptions {
    DiscoveryOptions {
        retry: RetryPolicy::immediate(1).with_clock(clock.clone()),
        poll: Backoff {
            initial: Duration::from_secs(4),
            max: Duration::from_secs(4),
        },
        timeout: Some(Duration::from_secs(20)),
        ..DiscoveryOptions::default()
    }
}

/// cluster-info's kubeconfig, formatted as the real one (see the golden vectors).
fn kubeconfig(ca_pem: &str, server: &str) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    \
         server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\n\
         preferences: {{}}\nusers: null\n",
        STANDARD.encode(ca_pem)
    )
}

fn cluster_info(kubeconfig: &str, signed: bool) -> TestResponse {
    let mut data = serde_json::json!({ "kubeconfig": kubeconfig });
    if signed {
        data[jws::signature_key(TOKEN_ID)] =
            jws::compute_detached_signature(kubeconfig, TOKEN_ID, TOKEN_SECRET).into();
    }
    let cm = serde_json::json!({
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": { "name": "cluster-info", "namespace": "kube-public" },
        "data": data,
    });
    TestResponse::json(200, cm.to_string())
}

/// A cluster: its CA and an API server whose certificate that CA signed.
struct TestCluster {
    ca: TestCa,
    server: TestServer,
}

impl TestCluster {
    fn serving(handler: impl FnMut(&TestRequest) -> TestResponse + Send + 'static) -> Self {
        let ca = TestCa::new("kubernetes");
        let server = TestServer::start(&ca.issue("kube-apiserver"), None, handler);
        TestCluster { ca, server }
    }

    /// Serves its own signed cluster-info.
    fn signed() -> Self {
        let ca = TestCa::new("kubernetes");
        let response = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), true);
        let server =
            TestServer::start(&ca.issue("kube-apiserver"), None, move |_| response.clone());
        TestCluster { ca, server }
    }

    fn pin(&self) -> String {
        pin::hash(&self.ca.cert_der).unwrap()
    }
}

fn assert_no_secret(err: &Error) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(TOKEN_SECRET), "secret leaked: {text}");
    }
}

#[test]
fn token_discovery_verifies_signature_pin_and_tls() {
    let cluster = TestCluster::signed();
    let clock = FakeClock::new();
    let cfg = token_discovery(&cluster.server.endpoint(), &[cluster.pin()]);
    let info = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap();
    assert_eq!(info.server, CLUSTER_SERVER);
    assert_eq!(info.ca_pem, cluster.ca.cert_pem.as_bytes());
    assert_eq!(
        info.credentials,
        BootstrapCredentials::Token(format!("{TOKEN_ID}.{TOKEN_SECRET}"))
    );
    let requests = cluster.server.requests();
    assert_eq!(requests.len(), 2, "one insecure and one verified fetch");
    for r in &requests {
        assert_eq!(
            r.path,
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        );
        assert_eq!(r.header("authorization"), None, "discovery is anonymous");
    }
}

#[test]
fn the_tls_bootstrap_token_is_used_when_given() {
    let cluster = TestCluster::signed();
    let clock = FakeClock::new();
    let mut cfg = token_discovery(&cluster.server.endpoint(), &[cluster.pin()]);
    cfg.tls_bootstrap_token = Some(BootstrapTokenString::new("ghijkl".into(), "x".repeat(16)));
    let info = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap();
    assert_eq!(
        info.credentials,
        BootstrapCredentials::Token(format!("ghijkl.{}", "x".repeat(16)))
    );
    assert_eq!(format!("{:?}", info.credentials), "Token(<redacted>)");
}

#[test]
fn a_ca_matching_no_pin_is_refused_after_one_fetch() {
    let cluster = TestCluster::signed();
    let other = TestCa::new("kubernetes");
    let clock = FakeClock::new();
    let cfg = token_discovery(
        &cluster.server.endpoint(),
        &[pin::hash(&other.cert_der).unwrap()],
    );
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::PinMismatch { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    assert!(err.to_string().contains(&cluster.pin()), "{err}");
    assert_eq!(cluster.server.requests().len(), 1);
    assert_no_secret(&err);
}

#[test]
fn one_matching_pin_among_several_is_enough() {
    let cluster = TestCluster::signed();
    let others = [TestCa::new("a"), TestCa::new("b")];
    let clock = FakeClock::new();
    let pins = vec![
        pin::hash(&others[0].cert_der).unwrap(),
        cluster.pin().to_uppercase().replace("SHA256", "sha256"),
        pin::hash(&others[1].cert_der).unwrap(),
    ];
    let cfg = token_discovery(&cluster.server.endpoint(), &pins);
    let info = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap();
    assert_eq!(info.server, CLUSTER_SERVER);
}

/// cluster-info signed with the token, its CA bundle `[pinned, rogue]`.
fn bundle_with_rogue_ca(pinned: &TestCa, rogue: &TestCa) -> TestResponse {
    let bundle = format!("{}{}", pinned.cert_pem, rogue.cert_pem);
    cluster_info(&kubeconfig(&bundle, CLUSTER_SERVER), true)
}

#[test]
fn only_the_pinned_certificates_of_the_bundle_are_kept() {
    let real = TestCa::new("kubernetes");
    let rogue = TestCa::new("kubernetes");
    let response = bundle_with_rogue_ca(&real, &rogue);
    let server = TestServer::start(&real.issue("kube-apiserver"), None, move |_| {
        response.clone()
    });
    let clock = FakeClock::new();
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&real.cert_der).unwrap()]);
    let info = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap();
    assert_eq!(info.ca_pem, real.cert_pem.as_bytes());
}

#[test]
fn a_server_of_an_unpinned_ca_in_the_bundle_is_refused() {
    // A joining node knows the token: it signs a bundle adding its CA to the pinned one.
    let real = TestCa::new("kubernetes");
    let rogue = TestCa::new("kubernetes");
    let response = bundle_with_rogue_ca(&real, &rogue);
    let server = TestServer::start(&rogue.issue("kube-apiserver"), None, move |_| {
        response.clone()
    });
    let clock = FakeClock::new();
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&real.cert_der).unwrap()]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::Untrusted { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
}

#[test]
fn a_server_that_cannot_prove_the_pinned_ca_is_a_man_in_the_middle() {
    // The impostor relays the real, signed cluster-info but holds a certificate of its own CA.
    let real = TestCa::new("kubernetes");
    let response = cluster_info(&kubeconfig(&real.cert_pem, CLUSTER_SERVER), true);
    let impostor = TestCluster::serving(move |_| response.clone());
    let clock = FakeClock::new();
    let cfg = token_discovery(
        &impostor.server.endpoint(),
        &[pin::hash(&real.cert_der).unwrap()],
    );
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::Untrusted { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    assert!(err.to_string().contains("man in the middle"), "{err}");
    assert!(
        clock.sleeps().is_empty(),
        "a trust failure must not be retried"
    );
    assert_eq!(
        impostor.server.requests().len(),
        1,
        "only the insecure fetch got through"
    );
}

#[test]
fn a_second_fetch_with_other_bytes_is_refused() {
    let ca = TestCa::new("kubernetes");
    let first = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), true);
    let second = cluster_info(
        &kubeconfig(&ca.cert_pem, "https://evil.example.test:6443"),
        true,
    );
    let calls = AtomicUsize::new(0);
    let server = TestServer::start(&ca.issue("kube-apiserver"), None, move |_| {
        match calls.fetch_add(1, Ordering::SeqCst) {
            0 => first.clone(),
            _ => second.clone(),
        }
    });
    let clock = FakeClock::new();
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&ca.cert_der).unwrap()]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::ChangedBetweenFetches { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
}

#[test]
fn a_cluster_info_with_two_clusters_is_refused() {
    let ca = TestCa::new("kubernetes");
    let single = kubeconfig(&ca.cert_pem, CLUSTER_SERVER);
    let two = single.replacen(
        "clusters:\n",
        "clusters:\n- cluster:\n    server: https://other.example.test:6443\n  name: other\n",
        1,
    );
    let response = cluster_info(&two, true);
    let server = TestServer::start(&ca.issue("kube-apiserver"), None, move |_| response.clone());
    let clock = FakeClock::new();
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&ca.cert_der).unwrap()]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(
        err.to_string().contains("exactly one cluster, found 2"),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Trust);
}

#[test]
fn an_unsigned_cluster_info_is_polled_until_the_deadline() {
    let ca = TestCa::new("kubernetes");
    let response = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), false);
    let server = TestServer::start(&ca.issue("kube-apiserver"), None, move |_| response.clone());
    let clock = FakeClock::new();
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&ca.cert_der).unwrap()]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::NotSigned { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Cluster);
    let text = err.to_string();
    assert!(text.contains("\"abcdef\""), "{text}");
    assert!(
        text.contains("expired") && text.contains("bootstrapsigner"),
        "{text}"
    );
    assert_no_secret(&err);
    // Every wait fits the 20 s deadline, and polling went on until the next would not.
    let waited: Duration = clock.sleeps().iter().sum();
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    assert_eq!(server.requests().len(), clock.sleeps().len() + 1);
    assert!(server.requests().len() > 1);
}

#[test]
fn a_signature_that_appears_later_is_waited_for() {
    let ca = TestCa::new("kubernetes");
    let unsigned = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), false);
    let signed = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), true);
    let calls = AtomicUsize::new(0);
    let server = TestServer::start(&ca.issue("kube-apiserver"), None, move |_| {
        match calls.fetch_add(1, Ordering::SeqCst) {
            0 => TestResponse::status(503, "ServiceUnavailable", "starting"),
            1 => unsigned.clone(),
            _ => signed.clone(),
        }
    });
    let clock = FakeClock::new();
    let mut opts = options(&clock);
    opts.poll = Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(1),
    };
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&ca.cert_der).unwrap()]);
    let info = discover(&Root::new("/nonexistent"), &cfg, &opts).unwrap();
    assert_eq!(info.server, CLUSTER_SERVER);
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn a_wrong_token_secret_fails_the_signature() {
    let cluster = TestCluster::signed();
    let clock = FakeClock::new();
    let mut cfg = token_discovery(&cluster.server.endpoint(), &[cluster.pin()]);
    let Discovery::BootstrapToken(td) = &mut cfg.discovery else {
        unreachable!()
    };
    td.token = BootstrapTokenString::new(TOKEN_ID.into(), "fedcba9876543210".into());
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    assert!(!err.to_string().contains("fedcba9876543210"), "{err}");
}

#[test]
fn without_pins_or_unsafe_skip_nothing_is_requested() {
    let cluster = TestCluster::signed();
    let clock = FakeClock::new();
    let cfg = token_discovery(&cluster.server.endpoint(), &[]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::NoPins), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(cluster.server.requests().is_empty());

    let cfg = token_discovery(&cluster.server.endpoint(), &["sha256:1234".into()]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::InvalidPin(_)), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(cluster.server.requests().is_empty());
}

#[test]
fn unsafe_skip_trusts_the_signed_content_after_one_fetch() {
    let cluster = TestCluster::signed();
    let clock = FakeClock::new();
    let mut cfg = token_discovery(&cluster.server.endpoint(), &[]);
    let Discovery::BootstrapToken(td) = &mut cfg.discovery else {
        unreachable!()
    };
    td.unsafe_skip_ca_verification = true;
    let info = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap();
    assert_eq!(info.server, CLUSTER_SERVER);
    assert_eq!(info.ca_pem, cluster.ca.cert_pem.as_bytes());
    assert_eq!(cluster.server.requests().len(), 1);
}

#[test]
fn an_unreachable_endpoint_fails_at_the_deadline_as_a_cluster_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = FakeClock::new();
    let cfg = token_discovery(
        &format!("127.0.0.1:{port}"),
        &["sha256:3024f5a56088f579d7ad7ce55f52a575e639e54da1e91d44f089f3492c11af43".into()],
    );
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Cluster);
    assert!(!clock.sleeps().is_empty());
}

#[test]
fn cluster_info_without_kubeconfig_is_not_a_bootstrap_cluster() {
    let ca = TestCa::new("kubernetes");
    let server = TestServer::start(&ca.issue("kube-apiserver"), None, |_| {
        let cm = serde_json::json!({
            "kind": "ConfigMap", "apiVersion": "v1", "metadata": { "name": "cluster-info" },
            "data": { "jws-kubeconfig-abcdef": "eyJ..x" },
        });
        TestResponse::json(200, cm.to_string())
    });
    let clock = FakeClock::new();
    let cfg = token_discovery(&server.endpoint(), &[pin::hash(&ca.cert_der).unwrap()]);
    let err = discover(&Root::new("/nonexistent"), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::NotBootstrapEnabled { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Cluster);
}

// ---- file discovery

/// A sandbox root holding `/etc/kubernetes/discovery.yaml` and whatever else a test adds.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn root(&self) -> Root {
        Root::new(self.dir.path())
    }
    fn write(&self, path: &str, data: &str) {
        self.root()
            .write_atomic(path, data.as_bytes(), crate::fs::mode::PRIVATE)
            .unwrap();
    }
}

fn file_discovery(location: &str) -> JoinConfiguration {
    join_config(Discovery::File(location.into()))
}

/// A discovery file: `cluster` and `user` are the YAML bodies of the cluster and user entries.
fn discovery_file(cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n{cluster}\
         contexts:\n- name: ctx\n  context:\n    cluster: kubernetes\n    user: joiner\n\
         current-context: ctx\nusers:\n- name: joiner\n  user:\n{user}"
    )
}

fn ca_data(ca: &TestCa) -> String {
    format!(
        "    certificate-authority-data: {}\n",
        STANDARD.encode(&ca.cert_pem)
    )
}

#[test]
fn a_discovery_file_with_a_token_is_validated_against_its_cluster() {
    let cluster = TestCluster::signed();
    let sandbox = Sandbox::new();
    let file = discovery_file(
        &format!(
            "{}    server: {}\n",
            ca_data(&cluster.ca),
            cluster.server.url()
        ),
        "    token: 07401b.f395accd246ae52d\n",
    );
    sandbox.write("/etc/kubernetes/discovery.yaml", &file);
    let clock = FakeClock::new();
    let info = discover(
        &sandbox.root(),
        &file_discovery("/etc/kubernetes/discovery.yaml"),
        &options(&clock),
    )
    .unwrap();
    // The file's server is used (cluster-info's differs: only a warning, as kubeadm).
    assert_eq!(info.server, cluster.server.url());
    assert_eq!(info.ca_pem, cluster.ca.cert_pem.as_bytes());
    assert_eq!(
        info.credentials,
        BootstrapCredentials::Token("07401b.f395accd246ae52d".into())
    );
    let requests = cluster.server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer 07401b.f395accd246ae52d")
    );
}

#[test]
fn a_discovery_file_with_client_certificate_files_embeds_them() {
    let cluster = TestCluster::signed();
    let client = cluster.ca.issue("system:bootstrap:joiner");
    let sandbox = Sandbox::new();
    sandbox.write("/etc/kubernetes/pki/ca.pem", &cluster.ca.cert_pem);
    sandbox.write("/etc/kubernetes/pki/joiner.crt", &client.cert_pem);
    sandbox.write("/etc/kubernetes/pki/joiner.key", &client.key_pem);
    let file = discovery_file(
        &format!(
            "    certificate-authority: pki/ca.pem\n    server: {}\n",
            cluster.server.url()
        ),
        "    client-certificate: pki/joiner.crt\n    client-key: /etc/kubernetes/pki/joiner.key\n",
    );
    sandbox.write("/etc/kubernetes/discovery.yaml", &file);
    let clock = FakeClock::new();
    let info = discover(
        &sandbox.root(),
        &file_discovery("/etc/kubernetes/discovery.yaml"),
        &options(&clock),
    )
    .unwrap();
    assert_eq!(info.ca_pem, cluster.ca.cert_pem.as_bytes());
    assert_eq!(
        info.credentials,
        BootstrapCredentials::ClientCertificate {
            cert_pem: client.cert_pem.clone().into_bytes(),
            key_pem: client.key_pem.clone().into_bytes(),
        }
    );
}

#[test]
fn a_discovery_file_whose_server_has_another_ca_is_a_trust_error() {
    let cluster = TestCluster::signed();
    let other = TestCa::new("kubernetes");
    let sandbox = Sandbox::new();
    let file = discovery_file(
        &format!("{}    server: {}\n", ca_data(&other), cluster.server.url()),
        "    token: 07401b.f395accd246ae52d\n",
    );
    sandbox.write("/etc/kubernetes/discovery.yaml", &file);
    let clock = FakeClock::new();
    let err = discover(
        &sandbox.root(),
        &file_discovery("/etc/kubernetes/discovery.yaml"),
        &options(&clock),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Untrusted { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    assert!(
        cluster.server.requests().is_empty(),
        "the token was sent to an untrusted server"
    );
}

#[test]
fn a_forbidden_cluster_info_still_validates_the_file() {
    let cluster = TestCluster::serving(|_| {
        TestResponse::status(403, "Forbidden", "configmaps \"cluster-info\" is forbidden")
    });
    let sandbox = Sandbox::new();
    let file = discovery_file(
        &format!(
            "{}    server: {}\n",
            ca_data(&cluster.ca),
            cluster.server.url()
        ),
        "    token: 07401b.f395accd246ae52d\n",
    );
    sandbox.write("/etc/kubernetes/discovery.yaml", &file);
    let clock = FakeClock::new();
    let info = discover(
        &sandbox.root(),
        &file_discovery("/etc/kubernetes/discovery.yaml"),
        &options(&clock),
    )
    .unwrap();
    assert_eq!(info.server, cluster.server.url());
    assert_eq!(cluster.server.requests().len(), 1);
}

#[test]
fn discovery_files_that_cannot_be_trusted_or_used_are_refused() {
    let cluster = TestCluster::signed();
    let sandbox = Sandbox::new();
    let clock = FakeClock::new();
    let cases = [
        (
            discovery_file(
                &format!(
                    "    insecure-skip-tls-verify: true\n    server: {}\n",
                    cluster.server.url()
                ),
                "    token: 07401b.f395accd246ae52d\n",
            ),
            "insecure-skip-tls-verify",
        ),
        (
            discovery_file(
                &format!(
                    "{}    server: http://127.0.0.1:8080\n",
                    ca_data(&cluster.ca)
                ),
                "    token: 07401b.f395accd246ae52d\n",
            ),
            "not an https:// URL",
        ),
        (
            "apiVersion: v1\nkind: Config\nclusters: []\n".to_string(),
            "at least one Cluster",
        ),
    ];
    for (file, reason) in cases {
        sandbox.write("/etc/kubernetes/discovery.yaml", &file);
        let err = discover(
            &sandbox.root(),
            &file_discovery("/etc/kubernetes/discovery.yaml"),
            &options(&clock),
        )
        .unwrap_err();
        assert!(err.to_string().contains(reason), "{reason}: {err}");
        assert_eq!(err.exit_code(), ExitCode::Config, "{err}");
    }
    assert!(cluster.server.requests().is_empty());
}

#[test]
fn a_discovery_file_without_credentials_needs_a_tls_bootstrap_token() {
    let cluster = TestCluster::signed();
    let sandbox = Sandbox::new();
    let file = discovery_file(
        &format!(
            "{}    server: {}\n",
            ca_data(&cluster.ca),
            cluster.server.url()
        ),
        "    {}\n",
    );
    sandbox.write("/etc/kubernetes/discovery.yaml", &file);
    let clock = FakeClock::new();
    let mut cfg = file_discovery("/etc/kubernetes/discovery.yaml");
    let err = discover(&sandbox.root(), &cfg, &options(&clock)).unwrap_err();
    assert!(matches!(err, Error::NoBootstrapCredentials), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(cluster.server.requests().is_empty());

    cfg.tls_bootstrap_token = Some(token());
    let info = discover(&sandbox.root(), &cfg, &options(&clock)).unwrap();
    assert_eq!(
        info.credentials,
        BootstrapCredentials::Token(format!("{TOKEN_ID}.{TOKEN_SECRET}"))
    );
    assert_eq!(cluster.server.requests()[0].header("authorization"), None);
}

#[test]
fn an_https_discovery_file_is_fetched_with_the_system_trust_store() {
    // One server plays both the web server holding the file and the API server; its CA is in
    // the node's system trust store, and the file has no CA: cluster-info supplies it.
    let ca = TestCa::new("public-ca");
    let served_file: Arc<Mutex<String>> = Arc::default();
    let cluster_info_response = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), true);
    let file_for_handler = Arc::clone(&served_file);
    let server = TestServer::start(&ca.issue("web"), None, move |request| {
        if request.path == "/join/discovery.yaml" {
            TestResponse::json(200, file_for_handler.lock().unwrap().clone())
        } else {
            cluster_info_response.clone()
        }
    });
    *served_file.lock().unwrap() = discovery_file(
        &format!("    server: {}\n", server.url()),
        "    token: 07401b.f395accd246ae52d\n",
    );
    let sandbox = Sandbox::new();
    let other = TestCa::new("other-public-ca");
    sandbox.write(
        SYSTEM_CA_BUNDLE,
        &format!("{}{}", other.cert_pem, ca.cert_pem),
    );
    let clock = FakeClock::new();
    let url = format!("{}/join/discovery.yaml", server.url());
    let info = discover(&sandbox.root(), &file_discovery(&url), &options(&clock)).unwrap();
    assert_eq!(info.server, server.url());
    assert_eq!(
        info.ca_pem,
        ca.cert_pem.as_bytes(),
        "CA synced from cluster-info"
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec![
            "/join/discovery.yaml",
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        ]
    );

    // Without that CA in the trust store the download itself is refused as untrusted.
    // The message names the URL without the credentials of a presigned query.
    sandbox.write(SYSTEM_CA_BUNDLE, &other.cert_pem);
    let presigned = format!("{url}?X-Amz-Signature=s3cr3tsig");
    let err = discover(
        &sandbox.root(),
        &file_discovery(&presigned),
        &options(&clock),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Trust);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3tsig"), "{text}");
    assert!(text.contains("/join/discovery.yaml?<redacted>"), "{text}");
}

#[test]
fn a_missing_discovery_file_names_its_path() {
    let sandbox = Sandbox::new();
    let clock = FakeClock::new();
    let err = discover(
        &sandbox.root(),
        &file_discovery("/etc/kubernetes/missing.yaml"),
        &options(&clock),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/etc/kubernetes/missing.yaml"),
        "{err}"
    );
    assert_eq!(err.exit_code(), ExitCode::Filesystem);
}

#[test]
fn discovery_goes_through_the_https_proxy_of_the_environment() {
    let ca = TestCa::new("kubernetes");
    let response = cluster_info(&kubeconfig(&ca.cert_pem, CLUSTER_SERVER), true);
    let identity = ca.issue_for("kube-apiserver", &["kubernetes.test"]);
    let server = TestServer::start(&identity, None, move |_| response.clone());
    // The proxy reaches the test server whatever name it is asked for: the node never
    // resolves `kubernetes.test` itself.
    let proxy = ConnectProxy::start(server.endpoint().parse().unwrap());
    let endpoint = format!("kubernetes.test:{}", server.port());
    let cfg = token_discovery(&endpoint, &[pin::hash(&ca.cert_der).unwrap()]);
    let clock = FakeClock::new();
    let opts = DiscoveryOptions {
        proxy: ProxyEnv::from_lookup(|name| (name == "HTTPS_PROXY").then(|| proxy.url())),
        ..options(&clock)
    };
    assert!(
        opts.proxy
            .https_proxy_for("kubernetes.test", server.port())
            .is_some()
    );
    let info = discover(&Root::new("/nonexistent"), &cfg, &opts).unwrap();
    assert_eq!(info.server, CLUSTER_SERVER);
    assert_eq!(server.requests().len(), 2, "both fetches arrived");
    let connects = proxy.connects();
    assert!(!connects.is_empty(), "discovery bypassed the proxy");
    assert!(connects.iter().all(|c| *c == endpoint), "{connects:?}");
}

//! Worker joins against a small loopback cluster: cluster-info, kubeadm-config, kubelet-config,
//! Nodes and CSRs, with a signer that can misbehave. The strict API server of the integration
//! tests (`tests/join.rs`) checks authentication and authorization; these check the flow.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::*;
use crate::ExitCode;
use crate::api::testserver::{TestCa, TestRequest, TestResponse, TestServer};
use crate::config::model::{BootstrapTokenDiscovery, BootstrapTokenString, Discovery};
use crate::discovery::{jws, pin};
use crate::preflight::{Cgroups, Host, ServiceState};
use crate::retry::FakeClock;

const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const NODE: &str = "worker-1";

/// How the fake controller-manager treats CSRs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signer {
    /// Approve and issue at once.
    Honest,
    Deny,
    Fail,
    /// Leave CSRs pending forever.
    Never,
    /// Issue a certificate for another key.
    OtherKey,
    /// Issue a certificate for another node.
    OtherNode,
}

struct State {
    signer: Signer,
    csrs: BTreeMap<String, Value>,
    node_ready: Option<bool>,
    kubernetes_version: String,
    next_uid: u32,
}

/// A cluster whose API server certificate and CSR signer share one CA.
struct FakeCluster {
    ca_pem: String,
    server: TestServer,
    state: Arc<Mutex<State>>,
}

/// The cluster CA: kept outside TestCa because the signer needs its key.
struct SigningCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl SigningCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kubernetes");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        SigningCa { params, key, pem }
    }

    /// Signs a CSR as the kubelet-client signer does, or with a twist.
    fn sign(&self, request_pem: &str, signer: Signer) -> String {
        let csr = CertificateSigningRequestParams::from_pem(request_pem).unwrap();
        let mut params = csr.params.clone();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = Issuer::from_params(&self.params, &self.key);
        match signer {
            Signer::OtherKey => params
                .signed_by(&KeyPair::generate().unwrap(), &issuer)
                .unwrap()
                .pem(),
            Signer::OtherNode => {
                params.distinguished_name = rcgen::DistinguishedName::new();
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, "system:nodes");
                params
                    .distinguished_name
                    .push(DnType::CommonName, "system:node:control-plane-1");
                let csr = CertificateSigningRequestParams { params, ..csr };
                csr.signed_by(&issuer).unwrap().pem()
            }
            _ => CertificateSigningRequestParams { params, ..csr }
                .signed_by(&issuer)
                .unwrap()
                .pem(),
        }
    }
}

fn config_map(namespace: &str, name: &str, data: Value) -> TestResponse {
    TestResponse::json(
        200,
        json!({
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": { "name": name, "namespace": namespace },
            "data": data,
        })
        .to_string(),
    )
}

const KUBELET_CONFIG: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
authentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\ncgroupDriver: systemd\n\
clusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\nrotateCertificates: true\n\
staticPodPath: /etc/kubernetes/manifests\n";

impl FakeCluster {
    fn start(signer: Signer) -> Self {
        let tls_ca = TestCa::new("kubernetes-serving");
        let signing = SigningCa::new();
        // A CA bundle, as during a CA rotation: the serving CA and the signing CA.
        let ca_pem = format!("{}{}", signing.pem, tls_ca.cert_pem);
        let state = Arc::new(Mutex::new(State {
            signer,
            csrs: BTreeMap::new(),
            node_ready: None,
            kubernetes_version: "v1.34.2".into(),
            next_uid: 1,
        }));
        let handler = {
            let state = state.clone();
            let ca_pem = ca_pem.clone();
            move |req: &TestRequest| handle(req, &state, &signing, &ca_pem)
        };
        let server = TestServer::start(&tls_ca.issue("kube-apiserver"), None, handler);
        FakeCluster {
            ca_pem,
            server,
            state,
        }
    }

    fn pins(&self) -> Vec<String> {
        crate::api::parse_certificates(self.ca_pem.as_bytes(), "test")
            .unwrap()
            .iter()
            .map(|c| pin::hash(c).unwrap())
            .collect()
    }

    fn set(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap());
    }

    fn csr_names(&self) -> Vec<String> {
        self.state.lock().unwrap().csrs.keys().cloned().collect()
    }

    fn posts(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    }
}

fn handle(
    req: &TestRequest,
    state: &Mutex<State>,
    signing: &SigningCa,
    ca_pem: &str,
) -> TestResponse {
    let host = req.header("host").unwrap_or_default().to_string();
    let mut st = state.lock().unwrap();
    let path = req.path.as_str();
    if path == "/api/v1/namespaces/kube-public/configmaps/cluster-info" {
        let kubeconfig = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    \
             server: https://{host}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\n\
             kind: Config\npreferences: {{}}\nusers: null\n",
            STANDARD.encode(ca_pem)
        );
        let sig = jws::compute_detached_signature(&kubeconfig, TOKEN_ID, TOKEN_SECRET);
        return config_map(
            "kube-public",
            "cluster-info",
            json!({ "kubeconfig": kubeconfig, jws::signature_key(TOKEN_ID): sig }),
        );
    }
    if req.header("authorization") != Some(&format!("Bearer {TOKEN_ID}.{TOKEN_SECRET}")) {
        return TestResponse::status(401, "Unauthorized", "Unauthorized");
    }
    let version = st.kubernetes_version.clone();
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    let kubelet_cm = if minor >= 24 {
        "kubelet-config".to_string()
    } else {
        format!("kubelet-config-1.{minor}")
    };
    let csr_prefix = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    match (req.method.as_str(), path) {
        ("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config") => config_map(
            "kube-system",
            "kubeadm-config",
            json!({ "ClusterConfiguration": format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                 kubernetesVersion: {version}\nclusterName: prod\nnetworking:\n  \
                 dnsDomain: cluster.local\n  serviceSubnet: 10.96.0.0/12\n"
            ) }),
        ),
        ("GET", p) if p == format!("/api/v1/namespaces/kube-system/configmaps/{kubelet_cm}") => {
            config_map(
                "kube-system",
                &kubelet_cm,
                json!({ "kubelet": KUBELET_CONFIG }),
            )
        }
        ("GET", p) if p == format!("/api/v1/nodes/{NODE}") => match st.node_ready {
            None => TestResponse::status(404, "NotFound", "nodes \"worker-1\" not found"),
            Some(ready) => TestResponse::json(
                200,
                json!({
                    "kind": "Node", "apiVersion": "v1", "metadata": { "name": NODE },
                    "status": { "conditions": [
                        { "type": "Ready", "status": if ready { "True" } else { "False" } }
                    ] }
                })
                .to_string(),
            ),
        },
        ("POST", p) if p == csr_prefix => {
            let mut csr: Value = serde_json::from_slice(&req.body).unwrap();
            let name = csr["metadata"]["name"].as_str().unwrap().to_string();
            if st.csrs.contains_key(&name) {
                return TestResponse::status(409, "AlreadyExists", "already exists");
            }
            csr["metadata"]["uid"] = format!("uid-{}", st.next_uid).into();
            st.next_uid += 1;
            csr["status"] = json!({});
            st.csrs.insert(name, csr.clone());
            TestResponse::json(201, csr.to_string())
        }
        ("GET", p) if p.starts_with(csr_prefix) => {
            let name = p.rsplit('/').next().unwrap();
            let signer = st.signer;
            match st.csrs.get_mut(name) {
                Some(csr) => {
                    // The controllers act between the create and the first read.
                    if csr["status"].as_object().is_some_and(|s| s.is_empty()) {
                        csr["status"] = decide(csr, signer, signing);
                    }
                    TestResponse::json(200, csr.to_string())
                }
                None => TestResponse::status(404, "NotFound", "not found"),
            }
        }
        _ => TestResponse::status(404, "NotFound", &format!("no {path}")),
    }
}

/// The status the approver and signer give a pending CSR.
fn decide(csr: &Value, signer: Signer, signing: &SigningCa) -> Value {
    let condition = |t: &str| json!([{ "type": t, "status": "True", "reason": "Test", "message": "by the test" }]);
    match signer {
        Signer::Never => json!({}),
        Signer::Deny => json!({ "conditions": condition("Denied") }),
        Signer::Fail => json!({ "conditions": condition("Failed") }),
        s => {
            let request = STANDARD
                .decode(csr["spec"]["request"].as_str().unwrap())
                .unwrap();
            let request = String::from_utf8(request).unwrap();
            json!({
                "conditions": condition("Approved"),
                "certificate": STANDARD.encode(signing.sign(&request, s)),
            })
        }
    }
}

fn token() -> BootstrapTokenString {
    BootstrapTokenString::new(TOKEN_ID.into(), TOKEN_SECRET.into())
}

fn join_config(cluster: &FakeCluster) -> JoinConfiguration {
    let mut cfg = crate::config::defaults::join_configuration(Discovery::BootstrapToken(
        BootstrapTokenDiscovery {
            api_server_endpoint: cluster.server.endpoint(),
            token: token(),
            ca_cert_hashes: cluster.pins(),
            unsafe_skip_ca_verification: false,
        },
    ));
    cfg.node_registration.name = NODE.into();
    cfg.skip_phases = vec!["preflight".into()];
    cfg
}

/// Options for a sandbox: no services, a virtual clock (no real waiting), short deadlines.
fn options(clock: &Arc<FakeClock>) -> JoinOptions {
    let root = Root::new("/nonexistent");
    let mut opts = JoinOptions::new(&root, false, TlsBootstrapMode::Kubeboot);
    opts.services = Box::new(ServiceControl::Skip("test"));
    opts.host = Box::new(NonRootHost);
    opts.kubelet_host = KubeletHost {
        hostname: "host-name".into(),
        systemd_resolved_active: false,
    };
    opts.discovery = DiscoveryOptions {
        retry: RetryPolicy::immediate(1).with_clock(clock.clone()),
        timeout: Some(Duration::from_secs(20)),
        ..DiscoveryOptions::default()
    };
    opts.api_retry = RetryPolicy::immediate(2).with_clock(clock.clone());
    opts.tls_bootstrap_timeout = Some(Duration::from_secs(30));
    opts
}

/// A host on which preflight fails at once (not root).
struct NonRootHost;

impl Host for NonRootHost {
    fn uid(&self) -> u32 {
        1000
    }
    fn cpus(&self) -> usize {
        2
    }
    fn memory_mb(&self) -> std::result::Result<u64, String> {
        Ok(2048)
    }
    fn port_free(&self, _: u16) -> bool {
        true
    }
    fn kernel_file(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn kernel_release(&self) -> std::result::Result<String, String> {
        Ok("6.8.0".into())
    }
    fn kernel_config(&self, _: &str) -> std::result::Result<String, String> {
        Err("none".into())
    }
    fn cgroups(&self) -> std::result::Result<Cgroups, String> {
        Ok(Cgroups::V2(vec![]))
    }
    fn resolve(&self, _: &str) -> std::result::Result<Vec<IpAddr>, String> {
        Ok(vec![])
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    fn executable_in_path(&self, _: &str) -> bool {
        true
    }
    fn kubelet_version(&self) -> std::result::Result<String, String> {
        Ok("Kubernetes v1.34.2".into())
    }
    fn service(&self, _: &str) -> ServiceState {
        ServiceState::NoInitSystem
    }
    fn cri_reachable(&self, _: &str) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Every file and link under the root, as `(node path, mode)`; links as `-> target`.
fn tree(root: &Root) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let node = format!("/{}", path.strip_prefix(base).unwrap().display());
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push(format!("{node} -> {}", target.display()));
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

fn assert_no_secret(text: &str) {
    assert!(!text.contains(TOKEN_SECRET), "token secret leaked: {text}");
}

fn sandbox() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path().join("node"));
    (dir, root)
}

#[test]
fn worker_join_writes_the_kubelets_files_and_credentials() {
    let cluster = FakeCluster::start(Signer::Honest);
    let (_dir, root) = sandbox();
    let clock = FakeClock::new();
    let outcome = run(&root, &join_config(&cluster), &options(&clock)).unwrap();

    let csr_name = outcome.csr_name.clone().unwrap();
    assert_eq!(cluster.csr_names(), vec![csr_name]);
    assert_eq!(
        outcome.server.as_deref(),
        Some(cluster.server.url().as_str())
    );

    let files = tree(&root);
    let pem = files
        .iter()
        .find(|f| f.starts_with("/var/lib/kubelet/pki/kubelet-client-2"))
        .expect("a timestamped client pem")
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        files,
        vec![
            "/etc/kubernetes/kubelet.conf 600".to_string(),
            "/etc/kubernetes/pki/ca.crt 644".into(),
            "/var/lib/kubelet/config.yaml 644".into(),
            "/var/lib/kubelet/instance-config.yaml 644".into(),
            "/var/lib/kubelet/kubeadm-flags.env 644".into(),
            format!("{pem} 600"),
            format!("/var/lib/kubelet/pki/kubelet-client-current.pem -> {pem}"),
        ]
    );
    let file_name = pem.rsplit('/').next().unwrap();
    assert_eq!(
        file_name.len(),
        "kubelet-client-2006-01-02-15-04-05.pem".len()
    );

    let pem_text = String::from_utf8(root.read(&pem).unwrap()).unwrap();
    assert!(pem_text.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem_text.contains("-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\n"));
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(pem_text.as_bytes()).unwrap();
    assert!(matches!(key, rustls_pki_types::PrivateKeyDer::Sec1(_)));
    crate::api::ClientIdentity::from_pem(pem_text.as_bytes(), pem_text.as_bytes(), "pem")
        .expect("certificate and key belong together");

    assert_eq!(
        root.read("/etc/kubernetes/pki/ca.crt").unwrap(),
        cluster.ca_pem.as_bytes()
    );
    let kubelet_conf = String::from_utf8(root.read(KUBELET_KUBECONFIG).unwrap()).unwrap();
    assert_eq!(
        kubelet_conf,
        kubelet_conf::kubelet_conf(
            &cluster.server.url(),
            cluster.ca_pem.as_bytes(),
            tlsbootstrap::CURRENT_CLIENT_PEM
        )
        .to_yaml()
        .unwrap()
    );
    let flags = String::from_utf8(root.read(kubelet::FLAGS_FILE).unwrap()).unwrap();
    assert!(!flags.contains("container-runtime-endpoint"), "{flags}");
    let config = String::from_utf8(root.read(kubelet::CONFIG_FILE).unwrap()).unwrap();
    assert!(config.contains("clusterDomain: cluster.local"), "{config}");
    assert_no_secret(&format!("{outcome:?}"));
}

#[test]
fn a_rerun_after_a_crash_before_approval_reuses_the_key_and_the_csr() {
    let cluster = FakeCluster::start(Signer::Never);
    let (_dir, root) = sandbox();
    let clock = FakeClock::new();
    let cfg = join_config(&cluster);
    let err = run(&root, &cfg, &options(&clock)).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::TlsBootstrap, "{err}");
    assert!(
        err.to_string().contains("was not approved within 30s"),
        "{err}"
    );
    let first = cluster.csr_names();
    assert_eq!(first.len(), 1);
    assert!(root.exists(tlsbootstrap::PENDING_KEY_FILE));
    let key_before = root.read(tlsbootstrap::PENDING_KEY_FILE).unwrap();

    // The controller-manager comes back and approves the pending CSR.
    cluster.set(|s| s.signer = Signer::Honest);
    let outcome = run(&root, &cfg, &options(&clock)).unwrap();
    assert_eq!(cluster.csr_names(), first, "no second CSR");
    assert_eq!(outcome.csr_name.as_ref(), first.first());
    assert_eq!(cluster.posts(), 2, "the second POST met AlreadyExists");
    assert!(
        !root.exists(tlsbootstrap::PENDING_KEY_FILE),
        "pending key removed"
    );
    let pem = root.read(current_pem_target(&root)).unwrap();
    let key_pem = String::from_utf8(key_before).unwrap();
    assert!(
        String::from_utf8(pem).unwrap().ends_with(&key_pem),
        "same key stored"
    );
}

/// The node path `kubelet-client-current.pem` points at (absolute, as the kubelet links it).
fn current_pem_target(root: &Root) -> std::path::PathBuf {
    std::fs::read_link(root.path(tlsbootstrap::CURRENT_CLIENT_PEM)).unwrap()
}

/// A join that must fail with `code` and leave nothing on the node but, when the CSR may still
/// be approved, its pending key.
fn assert_fails_writing_nothing(
    cfg: &JoinConfiguration,
    code: ExitCode,
) -> (Error, Root, tempfile::TempDir) {
    let (dir, root) = sandbox();
    let clock = FakeClock::new();
    let err = run(&root, cfg, &options(&clock)).unwrap_err();
    assert_eq!(err.exit_code(), code, "{err}");
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));
    let files = tree(&root);
    assert!(files.is_empty(), "{files:?}");
    (err, root, dir)
}

#[test]
fn a_denied_csr_fails_fast_with_its_reason_and_forgets_the_key() {
    let cluster = FakeCluster::start(Signer::Deny);
    let (err, _, _) = assert_fails_writing_nothing(&join_config(&cluster), ExitCode::TlsBootstrap);
    let text = err.to_string();
    assert!(
        text.contains("was denied by the cluster (reason: Test, message: by the test)"),
        "{text}"
    );
    // Fast: one POST and one GET, no polling until the deadline.
    assert_eq!(cluster.server.requests().len(), 2 + 4 + 1);
}

#[test]
fn a_failed_csr_fails_fast() {
    let cluster = FakeCluster::start(Signer::Fail);
    let (err, _, _) = assert_fails_writing_nothing(&join_config(&cluster), ExitCode::TlsBootstrap);
    assert!(err.to_string().contains("failed (reason: Test"), "{err}");
}

#[test]
fn a_certificate_for_another_key_or_node_is_refused_as_untrusted() {
    for (signer, why) in [
        (Signer::OtherKey, "another public key"),
        (Signer::OtherNode, "expected CN=system:node:worker-1"),
    ] {
        let cluster = FakeCluster::start(signer);
        let (err, _, _) = assert_fails_writing_nothing(&join_config(&cluster), ExitCode::Trust);
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn a_csr_never_approved_times_out_and_keeps_only_its_key() {
    let cluster = FakeCluster::start(Signer::Never);
    let (_dir, root) = sandbox();
    let clock = FakeClock::new();
    let err = run(&root, &join_config(&cluster), &options(&clock)).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::TlsBootstrap);
    assert_eq!(
        tree(&root),
        vec![format!("{} 600", tlsbootstrap::PENDING_KEY_FILE)]
    );
    // Polls back off exponentially, capped, inside the deadline.
    let sleeps = clock.sleeps();
    assert!(sleeps.len() > 5, "{sleeps:?}");
    assert!(
        sleeps.iter().all(|s| *s <= Duration::from_secs(5)),
        "{sleeps:?}"
    );
}

#[test]
fn a_ready_node_with_the_same_name_is_refused_with_kubeadms_message() {
    let cluster = FakeCluster::start(Signer::Honest);
    cluster.set(|s| s.node_ready = Some(true));
    let (err, _, _) = assert_fails_writing_nothing(&join_config(&cluster), ExitCode::Config);
    assert_eq!(
        err.to_string(),
        "a Node with name \"worker-1\" and status \"Ready\" already exists in the cluster. You \
         must delete the existing Node or change the name of this new joining Node"
    );
    assert_eq!(cluster.posts(), 0, "no CSR sent");
}

#[test]
fn a_node_that_is_not_ready_can_be_joined_again() {
    let cluster = FakeCluster::start(Signer::Honest);
    cluster.set(|s| s.node_ready = Some(false));
    let (_dir, root) = sandbox();
    run(&root, &join_config(&cluster), &options(&FakeClock::new())).unwrap();
    assert!(root.exists(KUBELET_KUBECONFIG));
}

#[test]
fn an_existing_csr_of_that_name_for_another_key_is_not_used() {
    let cluster = FakeCluster::start(Signer::Honest);
    let (_dir, root) = sandbox();
    // The pending key of an earlier attempt, whose CSR name someone took with another key.
    let key = tlsbootstrap::load_or_generate_key(&root, &Default::default()).unwrap();
    let ours = tlsbootstrap::node_csr_for_key(key, NODE).unwrap();
    let theirs = tlsbootstrap::new_node_csr(NODE).unwrap();
    let mut object = tlsbootstrap::csr_object(&theirs);
    object["metadata"]["name"] = ours.name.clone().into();
    object["status"] = json!({});
    cluster.set(|s| {
        s.csrs.insert(ours.name.clone(), object);
    });
    let err = run(&root, &join_config(&cluster), &options(&FakeClock::new())).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::TlsBootstrap);
    assert!(err.to_string().contains("for another public key"), "{err}");
    assert!(tree(&root).is_empty(), "the unusable key is dropped");
}

#[test]
fn kubelet_tls_bootstrap_writes_kubeadms_bootstrap_kubeconfig() {
    let cluster = FakeCluster::start(Signer::Honest);
    let (_dir, root) = sandbox();
    let mut opts = options(&FakeClock::new());
    opts.tls_bootstrap = TlsBootstrapMode::Kubelet;
    let outcome = run(&root, &join_config(&cluster), &opts).unwrap();
    assert_eq!(outcome.csr_name, None);
    assert_eq!(cluster.posts(), 0, "the kubelet sends the CSR");
    assert_eq!(
        tree(&root),
        vec![
            "/etc/kubernetes/bootstrap-kubelet.conf 600",
            "/etc/kubernetes/pki/ca.crt 644",
            "/var/lib/kubelet/config.yaml 644",
            "/var/lib/kubelet/instance-config.yaml 644",
            "/var/lib/kubelet/kubeadm-flags.env 644",
        ]
    );
    let conf = String::from_utf8(root.read(BOOTSTRAP_KUBELET_KUBECONFIG).unwrap()).unwrap();
    assert_eq!(
        conf,
        kubelet_conf::bootstrap_kubelet_conf(
            &cluster.server.url(),
            cluster.ca_pem.as_bytes(),
            "prod",
            kubelet_conf::BootstrapAuth::Token(&token().full()),
        )
        .to_yaml()
        .unwrap()
    );
}

#[test]
fn a_v1_19_cluster_gives_its_versioned_kubelet_config() {
    let cluster = FakeCluster::start(Signer::Honest);
    cluster.set(|s| s.kubernetes_version = "v1.19.0".into());
    let (_dir, root) = sandbox();
    run(&root, &join_config(&cluster), &options(&FakeClock::new())).unwrap();
    assert!(
        cluster
            .server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/configmaps/kubelet-config-1.19"))
    );
    // Before 1.32 the CRI socket is a flag, and before 1.27 so is the pause image.
    assert!(!root.exists(kubelet::INSTANCE_CONFIG_FILE));
    let flags = String::from_utf8(root.read(kubelet::FLAGS_FILE).unwrap()).unwrap();
    assert!(flags.contains("--container-runtime-endpoint="), "{flags}");
    assert!(flags.contains("--pod-infra-container-image="), "{flags}");
}

#[test]
fn dry_run_sends_nothing_writes_nothing_and_plans_the_requests() {
    let cluster = FakeCluster::start(Signer::Honest);
    let (_dir, root) = sandbox();
    let mut opts = options(&FakeClock::new());
    opts.dry_run = true;
    let outcome = run(&root, &join_config(&cluster), &opts).unwrap();
    assert!(cluster.server.requests().is_empty());
    assert!(tree(&root).is_empty());
    let plan: Vec<(&str, &str)> = outcome
        .planned_requests
        .iter()
        .map(|r| (r.method, r.path.as_str()))
        .collect();
    assert_eq!(
        plan[0],
        (
            "GET",
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        )
    );
    assert_eq!(plan[1], plan[0], "fetched again over verified TLS");
    assert_eq!(
        plan[2..5],
        [
            (
                "GET",
                "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
            ),
            (
                "GET",
                "/api/v1/namespaces/kube-system/configmaps/kubelet-config"
            ),
            ("GET", "/api/v1/nodes/worker-1"),
        ]
    );
    let post = &outcome.planned_requests[5];
    assert_eq!(
        (post.method, post.path.as_str()),
        (
            "POST",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests"
        )
    );
    let body = post.body.as_ref().unwrap();
    assert_eq!(body["spec"]["signerName"], tlsbootstrap::SIGNER_NAME);
    assert!(
        body["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("node-csr-")
    );
    let yaml = planned_requests_yaml(&outcome.planned_requests);
    assert_no_secret(&yaml);
    assert!(
        yaml.contains("auth: bootstrap token abcdef.<redacted>"),
        "{yaml}"
    );
    let docs: Vec<serde_yaml::Value> = yaml
        .split("---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    assert_eq!(docs.len(), outcome.planned_requests.len());
}

#[test]
fn dry_run_still_refuses_a_join_without_pins() {
    let cluster = FakeCluster::start(Signer::Honest);
    let mut cfg = join_config(&cluster);
    if let Discovery::BootstrapToken(td) = &mut cfg.discovery {
        td.ca_cert_hashes.clear();
    }
    let (_dir, root) = sandbox();
    let mut opts = options(&FakeClock::new());
    opts.dry_run = true;
    let err = run(&root, &cfg, &opts).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
}

#[test]
fn preflight_failures_stop_the_join_before_any_request() {
    let cluster = FakeCluster::start(Signer::Honest);
    let mut cfg = join_config(&cluster);
    cfg.skip_phases.clear();
    let (err, _, _) = assert_fails_writing_nothing(&cfg, ExitCode::Preflight);
    assert!(err.to_string().contains("IsPrivilegedUser"), "{err}");
    assert!(cluster.server.requests().is_empty());
}

#[test]
fn control_plane_join_and_unknown_phases_are_refused_up_front() {
    let cluster = FakeCluster::start(Signer::Honest);
    let mut cfg = join_config(&cluster);
    cfg.control_plane = Some(crate::config::model::JoinControlPlane {
        local_api_endpoint: crate::config::model::ApiEndpoint {
            advertise_address: None,
            bind_port: 6443,
        },
        certificate_key: None,
    });
    let (err, _, _) = assert_fails_writing_nothing(&cfg, ExitCode::Config);
    assert!(err.to_string().contains("advertiseAddress"), "{err}");
    if let Some(cp) = &mut cfg.control_plane {
        cp.local_api_endpoint.advertise_address = Some("10.0.0.2".parse().unwrap());
        cp.certificate_key = Some("not hex".into());
    }
    let (err, _, _) = assert_fails_writing_nothing(&cfg, ExitCode::Config);
    assert!(
        err.to_string().contains("certificate key is invalid"),
        "{err}"
    );
    assert!(cluster.server.requests().is_empty());

    let mut cfg = join_config(&cluster);
    cfg.skip_phases = vec!["kubelet-strat".into()];
    let (err, _, _) = assert_fails_writing_nothing(&cfg, ExitCode::Config);
    assert!(err.to_string().contains("\"kubelet-strat\""), "{err}");
    assert!(cluster.server.requests().is_empty());
}

#[test]
fn skipping_kubelet_start_only_discovers() {
    let cluster = FakeCluster::start(Signer::Honest);
    let mut cfg = join_config(&cluster);
    cfg.skip_phases.push("kubelet-start".into());
    let (_dir, root) = sandbox();
    let outcome = run(&root, &cfg, &options(&FakeClock::new())).unwrap();
    assert_eq!(
        outcome.server.as_deref(),
        Some(cluster.server.url().as_str())
    );
    assert!(tree(&root).is_empty());
    assert!(
        cluster
            .server
            .requests()
            .iter()
            .all(|r| r.path.contains("cluster-info"))
    );
}

#[test]
fn hostname_override_names_the_node_and_the_csr() {
    let cluster = FakeCluster::start(Signer::Honest);
    let mut cfg = join_config(&cluster);
    cfg.node_registration.name = "configured-name".into();
    cfg.node_registration.kubelet_extra_args =
        vec![crate::manifests::args::arg("hostname-override", NODE)];
    let (_dir, root) = sandbox();
    let outcome = run(&root, &cfg, &options(&FakeClock::new())).unwrap();
    assert_eq!(outcome.node_name, NODE);
    let csr = &cluster.state.lock().unwrap().csrs[&outcome.csr_name.unwrap()];
    let request = STANDARD
        .decode(csr["spec"]["request"].as_str().unwrap())
        .unwrap();
    let params =
        CertificateSigningRequestParams::from_pem(std::str::from_utf8(&request).unwrap()).unwrap();
    let cn = params
        .params
        .distinguished_name
        .get(&DnType::CommonName)
        .cloned();
    assert_eq!(
        cn,
        Some(rcgen::DnValue::Utf8String("system:node:worker-1".into()))
    );
}

#[test]
fn the_configurations_dry_run_is_a_dry_run() {
    let cluster = FakeCluster::start(Signer::Honest);
    let mut cfg = join_config(&cluster);
    cfg.dry_run = true;
    let (_dir, root) = sandbox();
    let outcome = run(&root, &cfg, &options(&FakeClock::new())).unwrap();
    assert!(!outcome.planned_requests.is_empty());
    assert!(cluster.server.requests().is_empty());
    assert!(tree(&root).is_empty());
}

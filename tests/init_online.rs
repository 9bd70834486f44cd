//! `kubeadm init`'s online phases against the strict test API server (`tests/support`): the
//! objects each phase stores (golden YAML in `tests/golden/online/`, rewritten with
//! `KUBEBOOT_BLESS=1`), convergence of a second run, a dry run that sends nothing, the
//! upload-certs round trip, the full round trip a joining node makes (cluster-info read
//! anonymously, its JWS checked with the printed token, its CA checked against the printed
//! pin), and `kubeboot init` re-run after a crash converging on the token it generated.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kubeboot::api::{self, RetryPolicy};
use kubeboot::cluster::{self, CertificateKey};
use kubeboot::config::defaults;
use kubeboot::config::model::*;
use kubeboot::config::version::KubeVersion;
use kubeboot::discovery::{self, DiscoveryOptions, jws};
use kubeboot::fs::Root;
use kubeboot::online::{self, OnlineContext, Target};
use serde_json::{Value, json};
use support::{CLUSTER_INFO_PATH, Fault, TestApiServer, VirtualClock};
use time::OffsetDateTime;
use time::macros::datetime;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/online");
const SHARED_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/golden/k8s-v1.19/ca.crt"
);
const NOW: OffsetDateTime = datetime!(2026-01-02 03:04:05 UTC);
const TOKEN_ID: &str = "abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const NODE: &str = "cp-1";

// ---- setup --------------------------------------------------------------------------------

fn config() -> InitConfiguration {
    let mut cfg = defaults::init_configuration();
    cfg.cluster.networking.pod_subnet = Some("10.244.0.0/16".parse().unwrap());
    cfg.bootstrap_tokens[0].token = Some(BootstrapTokenString::new(
        TOKEN_ID.into(),
        TOKEN_SECRET.into(),
    ));
    cfg.bootstrap_tokens[0].ttl = None;
    cfg.node_registration.name = NODE.into();
    cfg.local_api_endpoint.advertise_address = Some("127.0.0.1".parse().unwrap());
    cfg
}

/// A fresh control plane (only the API server's own bootstrap policy), and this node's root
/// with what the offline phases wrote: admin.conf, super-admin.conf, the CA files, the
/// static Pod manifests pointing at the server.
struct ControlPlane {
    srv: TestApiServer,
    _dir: tempfile::TempDir,
    root: Root,
    admin: api::Client,
    super_admin: Option<api::Client>,
    clock: Arc<VirtualClock>,
}

impl ControlPlane {
    fn start() -> ControlPlane {
        let srv = TestApiServer::builder().bare().start();
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let admin = srv.client_cert("kubernetes-admin", &[online::CLUSTER_ADMINS]);
        root.write_atomic(
            online::ADMIN_CONF,
            srv.kubeconfig_with_cert(&admin).as_bytes(),
            0o600,
        )
        .unwrap();
        root.write_atomic(
            online::SUPER_ADMIN_CONF,
            srv.kubeconfig_with_cert(&srv.admin_client_cert())
                .as_bytes(),
            0o600,
        )
        .unwrap();
        for (path, content) in [
            ("/etc/kubernetes/pki/ca.crt", srv.ca_pem().to_string()),
            ("/etc/kubernetes/pki/ca.key", "ca key".into()),
            ("/etc/kubernetes/pki/sa.key", "sa key".into()),
            ("/etc/kubernetes/pki/sa.pub", "sa pub".into()),
            ("/etc/kubernetes/pki/front-proxy-ca.crt", "fp ca".into()),
            ("/etc/kubernetes/pki/front-proxy-ca.key", "fp key".into()),
            ("/etc/kubernetes/pki/etcd/ca.crt", "etcd ca".into()),
            ("/etc/kubernetes/pki/etcd/ca.key", "etcd key".into()),
        ] {
            root.write_atomic(path, content.as_bytes(), 0o600).unwrap();
        }
        let port = srv.addr().port();
        for (name, address) in [
            ("kube-apiserver", "--advertise-address=127.0.0.1"),
            ("kube-controller-manager", "--bind-address=127.0.0.1"),
            ("kube-scheduler", "--bind-address=127.0.0.1"),
        ] {
            let manifest = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "kube-system"},
                "spec": {"containers": [{"name": name, "image": "i",
                    "command": [name, address, format!("--secure-port={port}")]}]}
            });
            root.write_atomic(
                format!("/etc/kubernetes/manifests/{name}.yaml"),
                serde_yaml::to_string(&manifest).unwrap().as_bytes(),
                0o600,
            )
            .unwrap();
        }
        let clock = VirtualClock::new();
        let retry = RetryPolicy::immediate(3);
        ControlPlane {
            admin: online::admin_client(&root, retry.clone()).unwrap(),
            super_admin: online::super_admin_client(&root, retry).unwrap(),
            srv,
            _dir: dir,
            root,
            clock,
        }
    }

    /// The kubelet registers this node.
    fn register_node(&self) {
        self.srv.put_object(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
            "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}
        }));
    }

    fn context<'a>(
        &'a self,
        cfg: &'a InitConfiguration,
        out: &'a RefCell<Vec<u8>>,
    ) -> OnlineContext<'a> {
        let mut ctx = OnlineContext::new(&self.root, cfg, Target::Api(&self.admin), out);
        ctx.super_admin = self.super_admin.as_ref();
        ctx.now = NOW;
        ctx.proxy_env = Vec::new();
        ctx.wait.kubelet_healthz = None;
        ctx.wait.clock = self.clock.clone();
        ctx
    }

    /// Every object the phases may touch, by `Kind namespace/name`, normalized.
    fn snapshot(&self) -> BTreeMap<String, Value> {
        self.srv
            .init_objects(|o| normalize(o, self.srv.url(), self.srv.ca_pem()))
    }
}

/// Removes what varies between runs: server-set metadata, the upload-certs token (random),
/// sealed key material (random nonces), the server's URL and CA, signatures.
fn normalize(mut o: Value, url: &str, ca_pem: &str) -> Value {
    let meta = o["metadata"].as_object_mut().unwrap();
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
    ] {
        meta.remove(field);
    }
    let random_token = |name: &str| {
        name.strip_prefix("bootstrap-token-")
            .is_some_and(|id| id != TOKEN_ID)
    };
    if let Some(owners) = o
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    {
        for owner in owners {
            owner["uid"] = json!("<uid>");
            if random_token(owner["name"].as_str().unwrap_or("")) {
                owner["name"] = json!("bootstrap-token-<random>");
            }
        }
    }
    let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
    if o["kind"] == "Secret" && random_token(&name) {
        o["metadata"]["name"] = json!("bootstrap-token-<random>");
        for key in ["token-id", "token-secret"] {
            o["data"][key] = json!("<random>");
        }
    }
    if o["kind"] == "Secret" && name == "kubeadm-certs" {
        for value in o
            .pointer_mut("/data")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            let sealed = STANDARD.decode(value.as_str().unwrap()).unwrap();
            // Nonce and tag: 28 bytes more than the file.
            *value = json!(if sealed.is_empty() { "" } else { "<sealed>" });
        }
    }
    if let Some(data) = o.get_mut("data").and_then(Value::as_object_mut) {
        for (key, value) in data.iter_mut() {
            if key.starts_with("jws-kubeconfig-") {
                *value = json!("<jws>");
            } else if let Some(s) = value.as_str() {
                *value = json!(
                    s.replace(url, "https://127.0.0.1:<port>")
                        .replace(&STANDARD.encode(ca_pem), "<ca>")
                );
            }
        }
    }
    o
}

/// The objects a phase created or changed, as a YAML stream in key order.
fn changes(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    for (key, object) in after {
        if before.get(key) != Some(object) {
            out.push_str(&format!("--- # {key}\n"));
            out.push_str(&serde_yaml::to_string(object).unwrap());
        }
    }
    out
}

/// Compares with `tests/golden/online/<name>`, or rewrites it when `KUBEBOOT_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(GOLDEN).join(name);
    if std::env::var_os("KUBEBOOT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(GOLDEN).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with KUBEBOOT_BLESS=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output first at line {}:\n expected: {:?}\n   actual: {:?}\n\
             (run with KUBEBOOT_BLESS=1 to accept)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn text(out: &RefCell<Vec<u8>>) -> String {
    String::from_utf8(out.borrow().clone()).unwrap()
}

// ---- tests --------------------------------------------------------------------------------

#[test]
fn each_phase_stores_kubeadms_objects() {
    let cp = ControlPlane::start();
    cp.register_node();
    let cfg = config();
    let key = CertificateKey::parse(&"ab".repeat(32)).unwrap();
    let out = RefCell::new(Vec::new());
    let mut ctx = cp.context(&cfg, &out);
    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    for (phase, run) in online::PHASE_FNS {
        let before = cp.snapshot();
        run(&ctx, None).unwrap_or_else(|e| panic!("{phase}: {e}"));
        let changed = changes(&before, &cp.snapshot());
        match *phase {
            "wait-control-plane" | "kubelet-finalize" | "show-join-command" => {
                assert_eq!(changed, "", "{phase} stores nothing");
            }
            _ => golden(&format!("{phase}.yaml"), &changed),
        }
    }
}

#[test]
fn a_second_run_converges_without_duplicates_or_errors() {
    let cp = ControlPlane::start();
    cp.register_node();
    let cfg = config();
    let key = CertificateKey::generate().unwrap();
    let out = RefCell::new(Vec::new());
    let mut ctx = cp.context(&cfg, &out);
    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    let certs_owner = || {
        let certs = cp
            .srv
            .get_object("v1", "secrets", Some("kube-system"), "kubeadm-certs")
            .unwrap();
        certs["metadata"]["ownerReferences"][0]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let token_secrets = || {
        cp.srv
            .list_objects("v1", "secrets", Some("kube-system"))
            .iter()
            .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string))
            .filter(|n| n.starts_with("bootstrap-token-"))
            .collect::<Vec<_>>()
    };
    online::run_all(&ctx).unwrap();
    let first = cp.snapshot();
    let first_owner = certs_owner();
    let requests_before = cp.srv.requests().len();

    online::run_all(&ctx).unwrap();
    let second = cp.snapshot();
    let requests = cp.srv.requests()[requests_before..].to_vec();
    for r in &requests {
        let status = r.status.unwrap();
        assert!(
            (200..300).contains(&status) || (status == 409 && r.method == "POST"),
            "{} {} answered {status}",
            r.method,
            r.path
        );
    }
    // Only kubeadm-certs changes (sealed anew), as kubeadm re-uploads; everything else is
    // found in place and left untouched.
    let writes: Vec<String> = requests
        .iter()
        .filter(|r| r.method == "PUT" || r.method == "PATCH")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        writes,
        ["/api/v1/namespaces/kube-system/secrets/kubeadm-certs"],
        "{writes:?}"
    );
    for (key, object) in &first {
        if key != "Secret kube-system/kubeadm-certs" {
            assert_eq!(second.get(key), Some(object), "{key} changed");
        }
    }
    // Each run's upload-certs token is new (kubeadm's CreateNewTokens: the one of an earlier
    // run expires within two hours); the configured token is never duplicated, and the keys
    // belong to the newest token.
    let second_owner = certs_owner();
    assert_ne!(first_owner, second_owner);
    let mut tokens = token_secrets();
    tokens.sort();
    let mut expected = vec![
        "bootstrap-token-abcdef".to_string(),
        first_owner,
        second_owner,
    ];
    expected.sort();
    assert_eq!(tokens, expected);
}

#[test]
fn a_dry_run_prints_every_object_and_sends_nothing() {
    let srv = TestApiServer::builder().bare().start();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    // A fixed CA (the real v1.19 cluster's) and server, so that the output is reproducible.
    let ca = std::fs::read_to_string(SHARED_CA).expect("shared/golden must sit beside the repo");
    let admin_conf = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    \
         server: https://192.168.10.11:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    \
         user: kubernetes-admin\n  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\n\
         users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n",
        STANDARD.encode(&ca)
    );
    root.write_atomic(online::ADMIN_CONF, admin_conf.as_bytes(), 0o600)
        .unwrap();
    let mut cfg = config();
    cfg.local_api_endpoint.advertise_address = Some("192.168.10.11".parse().unwrap());
    let printed = RefCell::new(Vec::new());
    let out = RefCell::new(Vec::new());
    let mut ctx = OnlineContext::new(&root, &cfg, Target::DryRun(&printed), &out);
    ctx.now = NOW;
    ctx.proxy_env = Vec::new();
    online::run_all(&ctx).unwrap();

    assert!(srv.requests().is_empty(), "a dry run sends no request");
    let yaml = text(&printed);
    assert!(!yaml.contains(TOKEN_SECRET) && !yaml.contains(&STANDARD.encode(TOKEN_SECRET)));
    golden("dry-run.yaml", &yaml);
    // The pin of the real cluster's CA, as its kubeadm printed it.
    let hash = std::fs::read_to_string(SHARED_CA.replace("ca.crt", "ca-hash")).unwrap();
    assert!(text(&out).contains(&format!("--discovery-token-ca-cert-hash {} ", hash.trim())));
    golden("show-join-command.txt", &text(&out));
}

#[test]
fn uploaded_certificates_open_with_the_key_on_another_node() {
    let cp = ControlPlane::start();
    let cfg = config();
    let key = CertificateKey::generate().unwrap();
    let out = RefCell::new(Vec::new());
    let mut ctx = cp.context(&cfg, &out);
    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    online::upload_certs(&ctx, None).unwrap();
    assert_eq!(
        text(&out),
        "[upload-certs] Using a certificate key (not shown here: it is part of the \
         control-plane join command printed at the end of init)\n"
    );

    let secret = cp
        .srv
        .get_object("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .unwrap();
    let owner = &secret["metadata"]["ownerReferences"][0];
    let token = cp
        .srv
        .get_object(
            "v1",
            "secrets",
            Some("kube-system"),
            owner["name"].as_str().unwrap(),
        )
        .unwrap();
    assert_eq!(owner["uid"], token["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    let data = |k: &str| {
        String::from_utf8(STANDARD.decode(token["data"][k].as_str().unwrap()).unwrap()).unwrap()
    };
    assert_eq!(data("expiration"), "2026-01-02T05:04:05Z", "2 hours");
    assert!(token["data"].get("usage-bootstrap-signing").is_none());

    // A joining control-plane node: another root, the Secret's data opened with the key.
    let joiner = tempfile::tempdir().unwrap();
    let joiner = Root::new(joiner.path());
    let wrong = CertificateKey::generate().unwrap();
    for (name, value) in secret["data"].as_object().unwrap() {
        let sealed = STANDARD.decode(value.as_str().unwrap()).unwrap();
        assert!(cluster::open(wrong.as_bytes(), &sealed).is_err(), "{name}");
        let plain = cluster::open(key.as_bytes(), &sealed).unwrap();
        let path = format!("/etc/kubernetes/pki/{}", name.replace("etcd-", "etcd/"));
        joiner.write_atomic(&path, &plain, 0o600).unwrap();
        assert_eq!(
            joiner.read(&path).unwrap(),
            cp.root.read(&path).unwrap(),
            "{name}"
        );
    }
    assert_eq!(secret["data"].as_object().unwrap().len(), 8);
}

#[test]
fn a_joining_node_verifies_cluster_info_with_the_printed_token_and_pin() {
    let cp = ControlPlane::start();
    cp.register_node();
    let cfg = config();
    let out = RefCell::new(Vec::new());
    let mut ctx = cp.context(&cfg, &out);
    // The token must be valid now for the signer to sign with it.
    ctx.now = OffsetDateTime::now_utc();
    online::run_all(&ctx).unwrap();

    // What the closing message tells the user to run.
    let printed = text(&out);
    let line = printed
        .lines()
        .find(|l| l.starts_with("kubeadm join "))
        .expect("a worker join command");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[2], cp.srv.endpoint());
    assert_eq!(words[4], format!("{TOKEN_ID}.{TOKEN_SECRET}"));
    let pin_line = printed
        .lines()
        .find(|l| l.contains("--discovery-token-ca-cert-hash"))
        .unwrap();
    let pin = pin_line.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(pin, cp.srv.ca_hash());

    // cluster-info, read anonymously, carries the bootstrapsigner's signature for the token.
    let anonymous = api::Client::new(
        cp.srv.url(),
        api::ClientOptions::new(
            api::Trust::from_pem(cp.srv.ca_pem().as_bytes(), "test CA").unwrap(),
            api::Auth::Anonymous,
        ),
    )
    .unwrap();
    let body = anonymous
        .request(api::Method::Get, CLUSTER_INFO_PATH, None)
        .unwrap();
    let cm: Value = serde_json::from_slice(&body).unwrap();
    let kubeconfig = cm["data"]["kubeconfig"].as_str().unwrap();
    let signature = cm["data"][jws::signature_key(TOKEN_ID)].as_str().unwrap();
    assert!(jws::detached_signature_is_valid(
        signature,
        kubeconfig,
        TOKEN_ID,
        TOKEN_SECRET
    ));
    assert!(kubeconfig.contains(&format!("server: {}", cp.srv.url())));

    // And the whole join-side discovery accepts the cluster with exactly what was printed.
    let join = JoinConfiguration {
        node_registration: cfg.node_registration.clone(),
        ..defaults::join_configuration(Discovery::BootstrapToken(BootstrapTokenDiscovery {
            api_server_endpoint: words[2].to_string(),
            token: cluster::parse_token(words[4]).unwrap(),
            ca_cert_hashes: vec![pin],
            unsafe_skip_ca_verification: false,
        }))
    };
    let joiner = tempfile::tempdir().unwrap();
    let found = discovery::discover(
        &Root::new(joiner.path()),
        &join,
        &DiscoveryOptions {
            retry: RetryPolicy::immediate(2),
            timeout: Some(Duration::from_secs(10)),
            ..DiscoveryOptions::default()
        },
    )
    .unwrap();
    assert_eq!(found.server, cp.srv.url());
    assert_eq!(found.ca_pem, cp.srv.ca_pem().as_bytes());
}

#[test]
fn admin_conf_gets_its_rights_from_super_admin_conf_once() {
    let cp = ControlPlane::start();
    let cfg = config();
    let out = RefCell::new(Vec::new());
    let ctx = cp.context(&cfg, &out);
    online::upload_config(&ctx, Some("kubeadm")).unwrap();
    let crb_posts: Vec<(Option<String>, Option<u16>)> = cp
        .srv
        .requests()
        .iter()
        .filter(|r| r.path == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
        .map(|r| (r.user.clone(), r.status))
        .collect();
    assert_eq!(
        crb_posts,
        [
            (Some("kubernetes-admin".to_string()), Some(403)),
            (Some("kubernetes-super-admin".to_string()), Some(201)),
        ]
    );
    assert!(
        cp.srv
            .get_object("v1", "configmaps", Some("kube-system"), "kubeadm-config")
            .is_some()
    );

    // Without super-admin.conf the missing binding is reported, not worked around.
    let mut ctx = cp.context(&cfg, &out);
    ctx.super_admin = None;
    cp.srv.delete_object(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        None,
        online::CLUSTER_ADMINS,
    );
    let e = online::bootstrap_token(&ctx, None).unwrap_err();
    assert!(e.to_string().contains("super-admin.conf"), "{e}");
}

#[test]
fn mark_control_plane_waits_for_the_kubelet_to_register_the_node() {
    let cp = ControlPlane::start();
    let cfg = config();
    let out = RefCell::new(Vec::new());
    let ctx = cp.context(&cfg, &out);
    let e = online::mark_control_plane(&ctx, None).unwrap_err();
    assert!(e.to_string().contains("did not appear"), "{e}");
    assert_eq!(cp.clock.elapsed(), cfg.timeouts.kubernetes_api_call);

    cp.register_node();
    online::mark_control_plane(&ctx, None).unwrap();
    let node = cp.srv.get_object("v1", "nodes", None, NODE).unwrap();
    assert_eq!(node["metadata"]["labels"][cluster::LABEL_CONTROL_PLANE], "");
    assert_eq!(
        node["metadata"]["labels"][cluster::LABEL_EXCLUDE_FROM_EXTERNAL_LB],
        ""
    );
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], NODE);
    assert_eq!(
        node["spec"]["taints"],
        json!([
            {"key": cluster::LABEL_CONTROL_PLANE, "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        ])
    );
}

#[test]
fn the_control_plane_wait_is_bounded_and_explains_what_to_check() {
    let cp = ControlPlane::start();
    let mut cfg = config();
    cfg.timeouts.control_plane_component_health_check = Duration::from_secs(40);
    let out = RefCell::new(Vec::new());
    let ctx = cp.context(&cfg, &out);
    online::wait_control_plane(&ctx, None).unwrap();
    let checked: Vec<String> = cp.srv.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        checked,
        ["/livez", "/healthz", "/livez", "/livez", "/readyz"]
    );

    cp.srv.inject(Fault::Status(500).on("/readyz"));
    let start = cp.clock.elapsed();
    let e = online::wait_control_plane(&ctx, None).unwrap_err();
    assert_eq!(cp.clock.elapsed() - start, Duration::from_secs(40));
    let message = e.to_string();
    assert!(
        message.contains("/readyz") && message.contains("'journalctl -xeu kubelet'"),
        "{message}"
    );
    assert_eq!(e.exit_code(), kubeboot::ExitCode::Cluster);
}

#[test]
fn a_create_whose_answer_was_lost_is_recognised_as_our_own() {
    let cp = ControlPlane::start();
    let cfg = config();
    let key = CertificateKey::generate().unwrap();
    let out = RefCell::new(Vec::new());
    let mut ctx = cp.context(&cfg, &out);
    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    // The token Secret is created, but the connection drops before the answer: the client
    // retries, meets its own object, and must take its uid rather than fail or duplicate.
    cp.srv.inject(
        Fault::ResetAfterHandling
            .on("/api/v1/namespaces/kube-system/secrets")
            .method("POST")
            .times(1),
    );
    online::upload_certs(&ctx, None).unwrap();
    let posts: Vec<Option<u16>> = cp
        .srv
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/secrets"))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        posts,
        [None, Some(409), Some(201)],
        "token, retried, then kubeadm-certs"
    );
    let certs = cp
        .srv
        .get_object("v1", "secrets", Some("kube-system"), "kubeadm-certs")
        .unwrap();
    let owner = &certs["metadata"]["ownerReferences"][0];
    let token = cp
        .srv
        .get_object(
            "v1",
            "secrets",
            Some("kube-system"),
            owner["name"].as_str().unwrap(),
        )
        .unwrap();
    assert_eq!(owner["uid"], token["metadata"]["uid"]);
}

// ---- a re-run of `kubeboot init` after a crash ---------------------------------------------

/// `kubeboot init` with every offline phase (and the control-plane wait) done already.
const ONLINE_ONLY: &str =
    "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start,wait-control-plane";
/// A `kubeboot init` that runs longer than this is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `kubeboot init --config <yaml> --root <root> --skip-phases <ONLINE_ONLY>`, bounded.
fn kubeboot_init(root: &Root, config_yaml: &str) -> Run {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("init.yaml");
    std::fs::write(&config, config_yaml).unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubeboot"))
        .arg("init")
        .arg("--config")
        .arg(&config)
        .arg("--root")
        .arg(root.base())
        .args(["--skip-phases", ONLINE_ONLY])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kubeboot init ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

#[test]
fn a_rerun_after_a_crash_reuses_the_generated_token_and_forgets_it_once_done() {
    let cp = ControlPlane::start();
    cp.register_node();
    // `kubeboot init` checks the CA files for external-CA mode; these stand-ins are only for
    // upload-certs, which this init does not run.
    for fake in [
        "/etc/kubernetes/pki/front-proxy-ca.crt",
        "/etc/kubernetes/pki/etcd/ca.crt",
    ] {
        cp.root.remove_file(fake).unwrap();
    }
    // No bootstrap token configured: init generates one.
    let config = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.0.2.10
nodeRegistration:
  name: {NODE}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {}
",
        KubeVersion::default_version()
    );
    let token_secrets = || {
        cp.srv
            .list_objects("v1", "secrets", Some("kube-system"))
            .into_iter()
            .filter(|s| s["type"] == "bootstrap.kubernetes.io/token")
            .collect::<Vec<_>>()
    };
    let record = cp.root.path(kubeboot::state::GENERATED_SECRETS_FILE);

    // The first attempt dies right after the token Secret was created, before cluster-info.
    cp.srv.inject(
        Fault::Status(403)
            .on("/api/v1/namespaces/kube-public/configmaps")
            .method("POST")
            .times(1),
    );
    let crashed = kubeboot_init(&cp.root, &config);
    assert_ne!(crashed.code, Some(0), "stderr:\n{}", crashed.stderr);
    assert!(
        crashed.stderr.contains("cluster-info"),
        "{}",
        crashed.stderr
    );
    // The token the crashed attempt created, as the cluster holds it (stdout names only its id).
    let created = token_secrets();
    assert_eq!(created.len(), 1);
    let field = |key: &str| {
        String::from_utf8(
            STANDARD
                .decode(created[0]["data"][key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let token = format!("{}.{}", field("token-id"), field("token-secret"));
    let (id, secret) = token.split_once('.').unwrap();
    assert!(
        crashed
            .stdout
            .contains(&format!("[bootstrap-token] Using token: {id}.<redacted>")),
        "{}",
        crashed.stdout
    );
    assert!(!crashed.stdout.contains(secret), "{}", crashed.stdout);
    let mode = std::fs::metadata(&record)
        .unwrap_or_else(|e| panic!("the generated token is not recorded: {e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the record of the token is private");

    // The re-run converges on that token: one token Secret, and the join command uses it.
    let rerun = kubeboot_init(&cp.root, &config);
    assert_eq!(rerun.code, Some(0), "stderr:\n{}", rerun.stderr);
    let secrets = token_secrets();
    assert_eq!(secrets.len(), 1, "a second token was created");
    assert_eq!(
        secrets[0]["metadata"]["name"],
        format!("bootstrap-token-{id}")
    );
    let stored_secret = STANDARD
        .decode(secrets[0]["data"]["token-secret"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored_secret, secret.as_bytes());
    let join = rerun
        .stdout
        .lines()
        .find(|l| l.starts_with("kubeadm join "))
        .unwrap_or_else(|| panic!("no join command:\n{}", rerun.stdout));
    assert!(join.contains(&format!("--token {token} ")), "{join}");
    assert!(
        !record.exists(),
        "the token stays on disk after init completed"
    );
    for run in [&crashed, &rerun] {
        assert!(!run.stderr.contains(secret), "the token is logged");
    }
}

//! Unit tests against a small in-memory API server (create, get, replace with
//! resourceVersion checks, merge patch). The strict test API server of `tests/support` runs
//! the integration tests in `tests/init_online.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;
use crate::api::RetryPolicy;
use crate::api::testserver::{TestCa, TestIdentity, TestRequest, TestResponse, TestServer};
use crate::cluster::Object;
use crate::config::model::{BootstrapToken, BootstrapTokenString};
use crate::retry::{Backoff, FakeClock};

/// The fake's state: objects by item path, requests seen, faults to play.
#[derive(Default)]
pub(crate) struct State {
    pub objects: BTreeMap<String, Value>,
    pub log: Vec<(String, String)>,
    version: u64,
    /// Answer the next N PUT/PATCH requests with 409 Conflict.
    pub conflicts: u32,
    /// Paths answered with 403 Forbidden.
    pub forbidden: Vec<String>,
    /// Health paths that are not "ok" yet.
    pub unhealthy: Vec<String>,
}

pub(crate) struct Fake {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

impl Fake {
    /// A fake that requires a client certificate from the cluster CA.
    pub fn start(pki: &Pki) -> Fake {
        Self::start_with(pki, true)
    }

    /// `require_client_cert: false` serves anonymous clients too, as health endpoints do.
    pub fn start_with(pki: &Pki, require_client_cert: bool) -> Fake {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let client_ca = require_client_cert.then_some(pki.ca.cert_pem.as_str());
        let server = TestServer::start(&pki.server, client_ca, move |r| {
            handle(&mut handler_state.lock().unwrap(), r)
        });
        Fake { server, state }
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn object(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    pub fn put(&self, path: &str, mut object: Value) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        object["metadata"]["resourceVersion"] = json!(s.version.to_string());
        object["metadata"]["uid"] = json!(format!("uid-{}", s.version));
        s.objects.insert(path.to_string(), object);
    }
}

fn status(code: u16, reason: &str) -> TestResponse {
    TestResponse::status(code, reason, reason)
}

fn handle(s: &mut State, r: &TestRequest) -> TestResponse {
    s.log.push((r.method.clone(), r.path.clone()));
    if s.forbidden.contains(&r.path) {
        return status(403, "Forbidden");
    }
    if ["/livez", "/readyz", "/healthz"].contains(&r.path.as_str()) {
        return if s.unhealthy.contains(&r.path) {
            TestResponse::json(500, "[-]poststarthook/rbac failed")
        } else {
            TestResponse::json(200, "ok")
        };
    }
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let path = r.path.clone();
    match r.method.as_str() {
        "POST" => {
            let item = format!("{path}/{}", body["metadata"]["name"].as_str().unwrap_or(""));
            if s.objects.contains_key(&item) {
                return status(409, "AlreadyExists");
            }
            s.version += 1;
            let mut stored = body;
            stored["metadata"]["resourceVersion"] = json!(s.version.to_string());
            stored["metadata"]["uid"] = json!(format!("uid-{}", s.version));
            s.objects.insert(item, stored.clone());
            TestResponse::json(201, stored.to_string())
        }
        "GET" => match s.objects.get(&path) {
            Some(o) => TestResponse::json(200, o.to_string()),
            None => status(404, "NotFound"),
        },
        "PUT" | "PATCH" => {
            let Some(stored) = s.objects.get(&path).cloned() else {
                return status(404, "NotFound");
            };
            if s.conflicts > 0 {
                s.conflicts -= 1;
                return status(409, "Conflict");
            }
            let expected = &body["metadata"]["resourceVersion"];
            if !expected.is_null() && expected != &stored["metadata"]["resourceVersion"] {
                return status(409, "Conflict");
            }
            let mut new = if r.method == "PUT" {
                body
            } else {
                let mut merged = stored.clone();
                merge_patch(&mut merged, &body);
                merged
            };
            s.version += 1;
            new["metadata"]["resourceVersion"] = json!(s.version.to_string());
            new["metadata"]["uid"] = stored["metadata"]["uid"].clone();
            s.objects.insert(path, new.clone());
            TestResponse::json(200, new.to_string())
        }
        _ => status(405, "MethodNotAllowed"),
    }
}

/// RFC 7386.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    for (key, value) in fields {
        if value.is_null() {
            target.as_object_mut().unwrap().remove(key);
        } else {
            merge_patch(&mut target[key], value);
        }
    }
}

pub(crate) struct Pki {
    pub ca: TestCa,
    pub server: TestIdentity,
    pub admin: TestIdentity,
}

impl Pki {
    pub fn new() -> Pki {
        let ca = TestCa::new("kubernetes");
        let server = ca.issue("kube-apiserver");
        let admin = ca.issue("kubernetes-admin");
        Pki { ca, server, admin }
    }

    pub fn kubeconfig(&self, server: &str) -> String {
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  \
             name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n  \
             name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\nkind: Config\n\
             users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            STANDARD.encode(&self.ca.cert_pem),
            STANDARD.encode(&self.admin.cert_pem),
            STANDARD.encode(&self.admin.key_pem),
        )
    }
}

pub(crate) fn config() -> InitConfiguration {
    let mut cfg = crate::manifests::testutil::init_config();
    cfg.bootstrap_tokens = vec![BootstrapToken {
        token: Some(BootstrapTokenString::new(
            "abcdef".into(),
            "0123456789abcdef".into(),
        )),
        ttl: None,
        ..crate::config::defaults::bootstrap_token()
    }];
    cfg
}

pub(crate) const NOW: OffsetDateTime = time::macros::datetime!(2026-01-02 03:04:05 UTC);

/// A root with admin.conf for `server`.
pub(crate) fn root_with_admin_conf(pki: &Pki, server: &str) -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    root.write_atomic(ADMIN_CONF, pki.kubeconfig(server).as_bytes(), 0o600)
        .unwrap();
    (dir, root)
}

pub(crate) fn fast_wait() -> WaitOptions {
    WaitOptions {
        kubelet_healthz: None,
        poll: Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(5),
        },
        request_timeout: Duration::from_secs(5),
        clock: FakeClock::new(),
    }
}

pub(crate) fn context<'a>(
    root: &'a Root,
    cfg: &'a InitConfiguration,
    target: Target<'a>,
    out: &'a RefCell<dyn Write + 'a>,
) -> OnlineContext<'a> {
    let mut ctx = OnlineContext::new(root, cfg, target, out);
    ctx.now = NOW;
    ctx.wait = fast_wait();
    ctx.proxy_env = Vec::new();
    ctx
}

fn client(root: &Root) -> api::Client {
    admin_client(root, RetryPolicy::immediate(2)).unwrap()
}

fn text(out: &RefCell<Vec<u8>>) -> String {
    String::from_utf8(out.borrow().clone()).unwrap()
}

#[test]
fn a_second_run_finds_every_object_in_place_and_changes_nothing() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let cfg = config();
    let api = client(&root);
    let out = RefCell::new(Vec::new());
    let ctx = context(&root, &cfg, Target::Api(&api), &out);
    for run in [bootstrap_token, upload_config, addon] {
        run(&ctx, None).unwrap();
    }
    let first = fake.state.lock().unwrap().objects.clone();
    let before = fake.requests().len();
    for run in [bootstrap_token, upload_config, addon] {
        run(&ctx, None).unwrap();
    }
    let second = fake.requests()[before..].to_vec();
    let now = fake.state.lock().unwrap().objects.clone();
    for (path, object) in &first {
        assert_eq!(&now[path], object, "{path} changed");
    }
    assert!(
        second.iter().all(|(m, _)| m == "POST" || m == "GET"),
        "no update needed: {second:?}"
    );
    assert!(first.contains_key("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef"));
    assert!(first.contains_key("/api/v1/namespaces/kube-public/configmaps/cluster-info"));
    assert!(first.contains_key("/apis/apps/v1/namespaces/kube-system/deployments/coredns"));
    assert!(first.contains_key("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"));
}

#[test]
fn changed_objects_are_replaced_at_their_stored_version_and_retained_ones_kept() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let api = client(&root);
    let cm = |name: &str, data: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "kube-system"}, "data": data})
    };
    let path = |name: &str| format!("/api/v1/namespaces/kube-system/configmaps/{name}");
    fake.put(&path("a"), cm("a", json!({"k": "old", "extra": "x"})));
    fake.put(&path("b"), cm("b", json!({"k": "old", "extra": "x"})));
    fake.put(&path("c"), cm("c", json!({"k": "edited by a user"})));
    let ours = |name: &str| -> Object {
        serde_json::from_value::<k8s_openapi::api::core::v1::ConfigMap>(cm(
            name,
            json!({"k": "new"}),
        ))
        .unwrap()
        .into()
    };
    let target = Target::Api(&api);
    let a = apply_one(target, &ours("a"), Policy::CreateOrUpdate)
        .unwrap()
        .unwrap();
    let b = apply_one(target, &ours("b"), Policy::CreateOrMergeData)
        .unwrap()
        .unwrap();
    let c = apply_one(target, &ours("c"), Policy::CreateOrRetain)
        .unwrap()
        .unwrap();
    assert_eq!(a["data"], json!({"k": "new"}));
    assert_eq!(b["data"], json!({"k": "new", "extra": "x"}));
    assert_eq!(c["data"], json!({"k": "edited by a user"}));
    let e = apply_one(target, &ours("c"), Policy::CreateOnly).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    assert_eq!(e.exit_code(), ExitCode::Cluster);
}

#[test]
fn an_update_that_meets_a_concurrent_change_is_retried_on_the_new_version() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let api = client(&root);
    let cfg = config();
    let objects = cluster::bootstrap_token_objects(&cfg.bootstrap_tokens, NOW).unwrap();
    apply(Target::Api(&api), &objects).unwrap();
    let later =
        cluster::bootstrap_token_objects(&cfg.bootstrap_tokens, NOW + Duration::from_secs(60))
            .unwrap();
    fake.state.lock().unwrap().conflicts = 2;
    apply_one(Target::Api(&api), &later[0], Policy::CreateOrUpdate).unwrap();
    let stored = fake
        .object("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef")
        .unwrap();
    let expiration = STANDARD
        .decode(stored["data"]["expiration"].as_str().unwrap())
        .unwrap();
    assert_eq!(expiration, b"2026-01-03T03:05:05Z");
    fake.state.lock().unwrap().conflicts = 10;
    let e = apply_one(Target::Api(&api), &objects[0], Policy::CreateOrUpdate).unwrap_err();
    assert!(matches!(e, Error::KeptConflicting { .. }), "{e}");
}

#[test]
fn the_admin_binding_is_made_with_super_admin_when_admin_is_forbidden() {
    let pki = Pki::new();
    let admin_side = Fake::start(&pki);
    let super_side = Fake::start(&pki);
    let crb = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    admin_side.state.lock().unwrap().forbidden.push(crb.into());
    let (_dir, root) = root_with_admin_conf(&pki, &admin_side.server.url());
    let admin = admin_client(&root, RetryPolicy::immediate(1)).unwrap();
    let (_dir2, root2) = root_with_admin_conf(&pki, &super_side.server.url());
    let super_admin = admin_client(&root2, RetryPolicy::immediate(1)).unwrap();

    let e = ensure_cluster_admins(&admin, None).unwrap_err();
    assert!(e.to_string().contains("super-admin.conf"), "{e}");
    ensure_cluster_admins(&admin, Some(&super_admin)).unwrap();
    ensure_cluster_admins(&admin, Some(&super_admin)).unwrap();
    let stored = super_side
        .object(&format!("{crb}/{CLUSTER_ADMINS}"))
        .unwrap();
    assert_eq!(stored["roleRef"]["name"], "cluster-admin");
    assert_eq!(stored["subjects"][0]["name"], CLUSTER_ADMINS);
}

#[test]
fn dry_run_prints_every_object_and_redacts_secret_values() {
    let pki = Pki::new();
    let (_dir, root) = root_with_admin_conf(&pki, "https://192.168.10.11:6443");
    let mut cfg = config();
    cfg.cluster.kubernetes_version = "v1.33.1".parse().unwrap();
    // With an endpoint the closing message has the control-plane join command too.
    cfg.cluster.control_plane_endpoint = Some("192.168.10.11:6443".into());
    let key = CertificateKey::parse(&"ab".repeat(32)).unwrap();
    let printed = RefCell::new(Vec::new());
    let out = RefCell::new(Vec::new());
    let mut ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    run_all(&ctx).unwrap();

    let yaml = text(&printed);
    let kinds: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    for kind in [
        "Secret",
        "ConfigMap",
        "ClusterRoleBinding",
        "Deployment",
        "DaemonSet",
        "Service",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(yaml.contains("# PATCH /api/v1/nodes/cp-1"), "{yaml}");
    assert!(
        yaml.contains("kubeadm.alpha.kubernetes.io/cri-socket"),
        "1.33 annotates: {yaml}"
    );
    assert!(yaml.contains("# Secret values are redacted"));
    assert!(
        !yaml.contains(&STANDARD.encode("0123456789abcdef")),
        "{yaml}"
    );
    assert!(!yaml.contains("0123456789abcdef"));
    for doc in yaml.split("---\n").skip(1) {
        serde_yaml::from_str::<serde_yaml::Value>(doc).unwrap();
    }
    // The secrets reach stdout (the serial console under boot) only in the closing join
    // commands; the phases name the token by its id and withhold the key.
    let stdout = text(&out);
    let (phases, done) = stdout
        .split_once("Your Kubernetes control-plane has initialized")
        .unwrap();
    assert!(
        phases.contains("[bootstrap-token] Using token: abcdef.<redacted>\n"),
        "{phases}"
    );
    assert!(phases.contains("[upload-certs] Using a certificate key (not shown here"));
    assert!(!phases.contains("0123456789abcdef"), "{phases}");
    assert!(!phases.contains(&"ab".repeat(32)), "{phases}");
    assert!(done.contains("--token abcdef.0123456789abcdef"), "{done}");
    assert_eq!(
        done.matches(&format!("--certificate-key {}", "ab".repeat(32)))
            .count(),
        1,
        "{done}"
    );
}

#[test]
fn upload_certs_seals_the_keys_in_a_secret_owned_by_a_fresh_token() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    root.write_atomic("/etc/kubernetes/pki/ca.key", b"CA KEY", 0o600)
        .unwrap();
    let api = client(&root);
    let cfg = config();
    let key = CertificateKey::generate().unwrap();
    let out = RefCell::new(Vec::new());
    let mut ctx = context(&root, &cfg, Target::Api(&api), &out);
    upload_certs(&ctx, None).unwrap();
    assert!(
        fake.object("/api/v1/namespaces/kube-system/secrets/kubeadm-certs")
            .is_none()
    );

    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    ctx.skip_certificate_key_print = true;
    upload_certs(&ctx, None).unwrap();
    let certs = fake
        .object("/api/v1/namespaces/kube-system/secrets/kubeadm-certs")
        .unwrap();
    let owner = &certs["metadata"]["ownerReferences"][0];
    let token = fake
        .object(&format!(
            "/api/v1/namespaces/kube-system/secrets/{}",
            owner["name"].as_str().unwrap()
        ))
        .unwrap();
    assert_eq!(owner["uid"], token["metadata"]["uid"]);
    let sealed = STANDARD
        .decode(certs["data"]["ca.key"].as_str().unwrap())
        .unwrap();
    assert_eq!(cluster::open(key.as_bytes(), &sealed).unwrap(), b"CA KEY");
    assert_eq!(certs["data"]["sa.key"], "", "absent files are empty");
    assert!(text(&out).is_empty(), "--skip-certificate-key-print");
}

#[test]
fn mark_control_plane_waits_for_the_node_and_patches_at_its_version() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let api = client(&root);
    let cfg = config();
    let out = RefCell::new(Vec::new());
    let ctx = context(&root, &cfg, Target::Api(&api), &out);

    let e = mark_control_plane(&ctx, None).unwrap_err();
    assert!(matches!(e, Error::NodeNotRegistered { .. }), "{e}");
    assert!(
        e.to_string().contains("\"cp-1\"") && e.to_string().contains("1m0s"),
        "{e}"
    );

    fake.put(
        "/api/v1/nodes/cp-1",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cp-1"},
               "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}}),
    );
    fake.state.lock().unwrap().conflicts = 1;
    mark_control_plane(&ctx, None).unwrap();
    let node = fake.object("/api/v1/nodes/cp-1").unwrap();
    assert_eq!(node["metadata"]["labels"][cluster::LABEL_CONTROL_PLANE], "");
    let taints: Vec<&str> = node["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        taints,
        [cluster::LABEL_CONTROL_PLANE, "node.kubernetes.io/not-ready"]
    );
    let patches_before = fake.requests().iter().filter(|(m, _)| m == "PATCH").count();
    mark_control_plane(&ctx, None).unwrap();
    let patches_after = fake.requests().iter().filter(|(m, _)| m == "PATCH").count();
    assert_eq!(
        patches_before, patches_after,
        "an already marked node is not patched"
    );
}

#[test]
fn the_join_command_names_admin_conf_server_and_ca_pin() {
    let pki = Pki::new();
    let (_dir, root) = root_with_admin_conf(&pki, "https://cp.example:6443");
    let mut cfg = config();
    cfg.cluster.control_plane_endpoint = Some("cp.example:6443".into());
    let key = CertificateKey::parse(&"cd".repeat(32)).unwrap();
    let printed = RefCell::new(Vec::new());
    let out = RefCell::new(Vec::new());
    let mut ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
    ctx.upload_certs = true;
    ctx.certificate_key = Some(&key);
    show_join_command(&ctx, None).unwrap();
    let hash = crate::discovery::pin::hash(&pki.ca.cert_der).unwrap();
    let stdout = text(&out);
    assert!(
        stdout.contains(&format!(
            "kubeadm join cp.example:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash {hash} \\\n\t--control-plane --certificate-key {}",
            "cd".repeat(32)
        )),
        "{stdout}"
    );
    assert_eq!(stdout.matches("--discovery-token-ca-cert-hash").count(), 2);
    assert!(text(&printed).is_empty());

    let out = RefCell::new(Vec::new());
    let mut ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
    ctx.skip_token_print = true;
    show_join_command(&ctx, None).unwrap();
    assert!(!text(&out).contains("0123456789abcdef"));
}

#[test]
fn sub_phases_are_checked_and_secrets_prepared_once() {
    let pki = Pki::new();
    let (_dir, root) = root_with_admin_conf(&pki, "https://192.168.10.11:6443");
    let cfg = config();
    let printed = RefCell::new(Vec::new());
    let out = RefCell::new(Vec::new());
    let ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
    let e = addon(&ctx, Some("dns")).unwrap_err().to_string();
    assert!(e.contains("coredns, kube-proxy"), "{e}");
    assert!(upload_certs(&ctx, Some("x")).is_err());
    addon(&ctx, Some("kube-proxy")).unwrap();
    assert!(!text(&printed).contains("coredns"));

    let mut cfg = config();
    cfg.bootstrap_tokens[0].token = None;
    let prepare = |cfg: &mut InitConfiguration, upload_certs| {
        prepare_secrets(&root, cfg, upload_certs, Generated::Ephemeral)
    };
    assert_eq!(prepare(&mut cfg, false).unwrap(), None);
    assert!(cfg.bootstrap_tokens[0].token.is_some());
    assert!(prepare(&mut cfg, true).unwrap().is_some());
    cfg.certificate_key = Some("ef".repeat(32));
    assert_eq!(
        prepare(&mut cfg, true).unwrap().unwrap().to_hex(),
        "ef".repeat(32)
    );
    cfg.certificate_key = Some("nothex".into());
    assert!(prepare(&mut cfg, true).is_err());

    let mut cfg = config();
    cfg.bootstrap_tokens[0].token = None;
    let ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
    assert!(matches!(
        bootstrap_token(&ctx, None),
        Err(Error::TokenMissing(0))
    ));
}

#[test]
fn run_phase_names_kubeadms_phases_and_needs_admin_conf_only_to_talk_to_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = config();
    let opts = RunOptions {
        dry_run: false,
        upload_certs: false,
        certificate_key: None,
        skip_token_print: true,
        skip_certificate_key_print: true,
        services: ServiceControl::Skip("test"),
        admin_conf_shown: ADMIN_CONF,
    };
    let e = run_phase(&root, &cfg, &opts, "addons", None).unwrap_err();
    assert!(e.to_string().contains("addon, show-join-command"), "{e}");
    assert_eq!(e.exit_code(), ExitCode::Usage);
    let e = run_phase(&root, &cfg, &opts, "addon", None).unwrap_err();
    assert!(e.to_string().contains(ADMIN_CONF), "{e}");
    assert_eq!(e.exit_code(), ExitCode::Filesystem);
    let dry = RunOptions {
        dry_run: true,
        ..opts
    };
    run_phase(&root, &cfg, &dry, "mark-control-plane", None).unwrap();
    let e = run_phase(&root, &cfg, &dry, "mark-control-plane", Some("x")).unwrap_err();
    assert!(e.to_string().contains("none (run it without one"), "{e}");
}

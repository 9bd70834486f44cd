//! The whole round trip a cluster's first nodes make, through the binary, against the strict
//! in-process API server (`tests/support`, which authorizes from the RBAC objects it stores and
//! approves CSRs only for requesters RBAC allows): `kubeboot init` runs its online phases on a
//! bare control plane, prints a join command, and a worker that runs exactly that command from
//! its own root ends with a kubelet.conf and a client certificate the API server accepts as
//! `system:node:<name>`. Nothing the worker needs is seeded: it works only if init created the
//! token, cluster-info, the RBAC and the kubelet configuration correctly. A second init
//! converges without creating anything.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Node;
use kubeboot::api::{Auth, Client, ClientIdentity, ClientOptions, RetryPolicy, Trust};
use kubeboot::fs::Root;
use kubeboot::online;
use serde_json::{Value, json};
use support::{CSR_PATH, TestApiServer};

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/e2e/round-trip-init.yaml"
);
const TOKEN: &str = "abcdef.0123456789abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const CONTROL_PLANE_NODE: &str = "cp-0";
const WORKER: &str = "worker-0";
/// The phases that write files: done by hand here, for the test server's CA and address.
const OFFLINE_PHASES: &str = "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start";
/// Every run of the binary ends within this, or the test fails (and the child is killed).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// `kubeboot <args>`, bounded in time.
fn kubeboot(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir for output");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubeboot"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start kubeboot");
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kubeboot") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kubeboot {args:?} did not finish within {COMMAND_TIMEOUT:?}:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        success: status.success(),
        stdout: fs::read_to_string(&out_path).expect("stdout"),
        stderr: fs::read_to_string(&err_path).expect("stderr"),
    };
    assert!(
        !run.stderr.contains(TOKEN_SECRET),
        "the token secret was logged:\n{}",
        run.stderr
    );
    run
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A bare control plane (the API server's own bootstrap policy only) and the root of its first
/// node with what init's offline phases would have written for it: admin.conf and
/// super-admin.conf for the server, its CA, the static Pod manifests with its address, and the
/// Node the kubelet registered.
struct ControlPlane {
    srv: TestApiServer,
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl ControlPlane {
    fn start() -> ControlPlane {
        let srv = TestApiServer::builder().bare().start();
        let dir = tempfile::tempdir().expect("tempdir");
        let root_path = dir.path().join("cp-0");
        let root = Root::new(&root_path);
        let admin = srv.client_cert("kubernetes-admin", &[online::CLUSTER_ADMINS]);
        // The online phases never read the CA key; its presence says "not external CA mode",
        // as kubeadm checks it.
        let files = [
            (online::ADMIN_CONF, srv.kubeconfig_with_cert(&admin), 0o600),
            (
                online::SUPER_ADMIN_CONF,
                srv.kubeconfig_with_cert(&srv.admin_client_cert()),
                0o600,
            ),
            (
                "/etc/kubernetes/pki/ca.crt",
                srv.ca_pem().to_string(),
                0o644,
            ),
            ("/etc/kubernetes/pki/ca.key", "unused".into(), 0o600),
        ];
        for (path, content, mode) in files {
            root.write_atomic(path, content.as_bytes(), mode)
                .expect("write control-plane file");
        }
        let port = srv.addr().port().to_string();
        for (name, address) in [
            ("kube-apiserver", "--advertise-address=127.0.0.1"),
            ("kube-controller-manager", "--bind-address=127.0.0.1"),
            ("kube-scheduler", "--bind-address=127.0.0.1"),
        ] {
            let manifest = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "kube-system"},
                "spec": {"containers": [{"name": name, "image": "registry.k8s.io/pause:3.10",
                    "command": [name, address, format!("--secure-port={port}")]}]}
            });
            root.write_atomic(
                format!("/etc/kubernetes/manifests/{name}.yaml"),
                serde_yaml::to_string(&manifest).expect("YAML").as_bytes(),
                0o600,
            )
            .expect("write manifest");
        }
        srv.put_object(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": CONTROL_PLANE_NODE,
                         "labels": {"kubernetes.io/hostname": CONTROL_PLANE_NODE}},
        }));
        ControlPlane {
            srv,
            _dir: dir,
            root: root_path,
        }
    }

    /// `kubeboot init` with the fixture, the offline phases skipped; must succeed.
    fn init(&self) -> Run {
        let run = kubeboot(&[
            "init",
            "--config",
            CONFIG,
            "--skip-phases",
            OFFLINE_PHASES,
            "--root",
            p(&self.root),
        ]);
        assert!(run.success, "init failed:\n{}", run.stderr);
        run
    }

    /// Every object of the kinds init touches, by `Kind namespace/name`, without what the
    /// server changes on every write.
    fn snapshot(&self) -> BTreeMap<String, Value> {
        self.srv.init_objects(|mut object| {
            let meta = object["metadata"].as_object_mut().expect("metadata");
            meta.remove("resourceVersion");
            meta.remove("managedFields");
            object
        })
    }
}

/// The worker join command of init's closing message, as words (continuation lines joined).
fn worker_join_command(stdout: &str) -> Vec<String> {
    let joined = stdout.replace("\\\n", " ");
    let line = joined
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("kubeadm join ") && !l.contains("--control-plane"))
        .unwrap_or_else(|| panic!("no worker join command in:\n{stdout}"));
    line.split_whitespace().map(String::from).collect()
}

/// A client that authenticates with the kubelet's client certificate (key in the same PEM).
fn kubelet_client(srv: &TestApiServer, pem: &[u8]) -> Client {
    let identity = ClientIdentity::from_pem(pem, pem, "the kubelet's client certificate")
        .expect("the worker's PEM holds a certificate and its key");
    let trust = Trust::from_pem(srv.ca_pem().as_bytes(), "cluster CA").expect("CA");
    let options = ClientOptions {
        retry: RetryPolicy::no_retry(),
        ..ClientOptions::new(trust, Auth::ClientCertificate(identity))
    };
    Client::new(srv.url(), options).expect("client")
}

#[test]
fn a_worker_joins_with_the_command_init_printed_and_a_second_init_creates_nothing() {
    let cp = ControlPlane::start();

    // init, and the join command it prints: this server, the token, the pin of this CA.
    let first = cp.init();
    let command = worker_join_command(&first.stdout);
    let expected = [
        "kubeadm".to_string(),
        "join".into(),
        cp.srv.endpoint(),
        "--token".into(),
        TOKEN.into(),
        "--discovery-token-ca-cert-hash".into(),
        cp.srv.ca_hash(),
    ];
    assert_eq!(command, expected, "{}", first.stdout);

    // A second init converges: the same objects, nothing created, the same command printed.
    let before = cp.snapshot();
    let requests_before = cp.srv.requests().len();
    let second = cp.init();
    let second_requests = cp.srv.requests()[requests_before..].to_vec();
    let created: Vec<String> = second_requests
        .iter()
        .filter(|r| r.status == Some(201))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(created.is_empty(), "the second init created {created:?}");
    // It did apply everything again: its creates met 409 AlreadyExists.
    assert!(
        second_requests
            .iter()
            .any(|r| r.method == "POST" && r.status == Some(409)),
        "the second init sent no create"
    );
    let after = cp.snapshot();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (key, object) in &before {
        let mut object = object.clone();
        let mut again = after[key].clone();
        if key == "Secret kube-system/bootstrap-token-abcdef" {
            // The TTL counts from each run (kubeadm's CreateOrUpdate of the token): the second
            // run may renew the token, never shorten it.
            let expiration = |o: &Value| {
                let b64 = o["data"]["expiration"].as_str().expect("an expiration");
                String::from_utf8(STANDARD.decode(b64).expect("base64")).expect("UTF-8")
            };
            assert!(expiration(&again) >= expiration(&object), "{key}");
            object["data"]["expiration"] = Value::Null;
            again["data"]["expiration"] = Value::Null;
        }
        assert_eq!(object, again, "{key} changed");
    }
    assert_eq!(worker_join_command(&second.stdout), expected);

    // The worker runs exactly that command, from its own root.
    let worker_dir = tempfile::tempdir().expect("tempdir");
    let worker_root = worker_dir.path().join(WORKER);
    // `kubeadm join ...` → `kubeboot join ...`
    let mut args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    args.extend([
        "--node-name",
        WORKER,
        // This test machine has no container runtime or kubelet.
        "--ignore-preflight-errors=all",
        "--root",
        p(&worker_root),
    ]);
    let join = kubeboot(&args);
    assert!(join.success, "join failed:\n{}", join.stderr);
    assert!(
        join.stdout.contains("This node has joined the cluster"),
        "{}",
        join.stdout
    );

    // Its kubelet.conf points at this server, trusts this CA, and names the client
    // certificate the kubelet will use.
    let worker = Root::new(&worker_root);
    let kubelet_conf: serde_yaml::Value = serde_yaml::from_slice(
        &worker
            .read("/etc/kubernetes/kubelet.conf")
            .expect("kubelet.conf"),
    )
    .expect("kubelet.conf is YAML");
    let cluster = &kubelet_conf["clusters"][0]["cluster"];
    assert_eq!(cluster["server"].as_str(), Some(cp.srv.url()));
    let ca = STANDARD
        .decode(cluster["certificate-authority-data"].as_str().unwrap_or(""))
        .expect("base64 CA");
    assert_eq!(ca, cp.srv.ca_pem().as_bytes());
    assert_eq!(
        worker.read("/etc/kubernetes/pki/ca.crt").expect("ca.crt"),
        cp.srv.ca_pem().as_bytes()
    );
    let cert_path = kubelet_conf["users"][0]["user"]["client-certificate"]
        .as_str()
        .expect("kubelet.conf names a client certificate file");
    // `kubelet-client-current.pem` links to the dated file by its node path, as the kubelet
    // links it; follow it inside the worker's root.
    let link = fs::read_link(worker.path(cert_path)).expect("a link to the dated certificate");
    let pem = worker
        .read(link.to_str().expect("UTF-8 link"))
        .expect("the kubelet's client certificate");

    // The CSR went through the approval path init's RBAC opened for the token.
    let csrs = cp
        .srv
        .list_objects("certificates.k8s.io/v1", "certificatesigningrequests", None);
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    assert_eq!(csrs[0]["spec"]["username"], "system:bootstrap:abcdef");
    let approved = csrs[0]["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Approved"));
    assert!(approved, "{}", csrs[0]);

    // The API server takes the certificate as the node: it may register itself.
    let client = kubelet_client(&cp.srv, &pem);
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": WORKER}
    }))
    .expect("Node");
    client
        .create::<Node>(None, &node)
        .expect("the worker's certificate may create its Node");
    let user = cp
        .srv
        .requests()
        .iter()
        .rev()
        .find(|r| r.path == "/api/v1/nodes" && r.method == "POST")
        .and_then(|r| r.user.clone());
    assert_eq!(user, Some(format!("system:node:{WORKER}")));
    assert!(
        cp.srv
            .requests()
            .iter()
            .any(|r| r.path == CSR_PATH && r.method == "POST"),
        "the worker sent its CSR"
    );
}

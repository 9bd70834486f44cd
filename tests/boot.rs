//! `kubeboot boot` as a user relies on it: the README's main job on the shipped example, the
//! init-or-join decision through real user-data, the local source with drop-ins, once-only
//! success, resume after a failure without duplicating anything, `result.json` as monitoring
//! reads it, and a boot stopped by `deadlines.total`.
//!
//! Most tests run the real binary in a sandbox root (exit codes, stdout and the serial-console
//! summary are part of the contract); the decision tests call `boot::run_reported` in-process to fix
//! the host name. Joins go to the strict in-process API server on 127.0.0.1 (tests/support).

mod support;

use std::fs::{self, File};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{CsrPolicy, TestApiServer, TokenOpts};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use kubeboot::boot::{self, BootOptions};
use kubeboot::config::HostFacts;
use kubeboot::fs::Root;
use kubeboot::state;
use kubeboot::tlsbootstrap::{CURRENT_CLIENT_PEM, PENDING_KEY_FILE};
use kubeboot::userdata::{Selection, SourceEnv};
use kubeboot::{Error, ExitCode};

const KUBEBOOT: &str = env!("CARGO_BIN_EXE_kubeboot");
const TOKEN: &str = "abcdef.0123456789abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const NODE: &str = "worker-1";
const CSR_API: &str = "certificates.k8s.io/v1";
/// A `kubeboot boot` that runs longer than this is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// What `boot` leaves in `/var/lib/kubeboot/` whatever happens.
const STATE_FILES: [&str; 2] = [
    "var/lib/kubeboot/journal.json",
    "var/lib/kubeboot/result.json",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/boot").join(name)
}

// ---- a node: a sandbox root, the binary run on it, and what it left behind ----------------

struct Node {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        Node { dir }
    }

    fn root_dir(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn root(&self) -> Root {
        Root::new(self.root_dir())
    }

    /// A node-absolute path (`/etc/...`) on the host.
    fn path(&self, node_path: &str) -> PathBuf {
        self.root_dir().join(node_path.trim_start_matches('/'))
    }

    fn exists(&self, node_path: &str) -> bool {
        self.path(node_path).exists()
    }

    fn read(&self, node_path: &str) -> String {
        fs::read_to_string(self.path(node_path))
            .unwrap_or_else(|e| panic!("reading {node_path}: {e}"))
    }

    /// A link the node's kubelet follows: its target is a node path, resolved under the root.
    fn read_linked(&self, node_path: &str) -> String {
        let target = fs::read_link(self.path(node_path))
            .unwrap_or_else(|e| panic!("{node_path} is not a symlink: {e}"));
        self.read(target.to_str().unwrap())
    }

    fn write(&self, node_path: &str, bytes: impl AsRef<[u8]>) {
        let path = self.path(node_path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn mode(&self, node_path: &str) -> u32 {
        fs::metadata(self.path(node_path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    /// Copies a fixture tree (`etc/...`, `var/...`) into the root.
    fn install(&self, fixture_dir: &Path) {
        copy_tree(fixture_dir, &self.root_dir());
    }

    /// Every file under the root, relative, sorted.
    fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else {
                    out.push(path.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root_dir(), &self.root_dir(), &mut out);
        out.sort();
        out
    }

    fn result_json(&self) -> String {
        self.read(state::RESULT_FILE)
    }

    fn result(&self) -> Value {
        serde_json::from_str(&self.result_json()).expect("result.json is JSON")
    }

    fn journal(&self) -> Value {
        serde_json::from_str(&self.read(state::JOURNAL_FILE)).expect("journal.json is JSON")
    }

    fn is_done(&self) -> bool {
        self.exists(state::DONE_MARKER)
    }

    /// `kubeboot boot ARGS --root <root>`, bounded by [`RUN_LIMIT`].
    fn boot(&self, args: &[&str]) -> Run {
        let out = self.dir.path().join("stdout");
        let err = self.dir.path().join("stderr");
        let mut child = Command::new(KUBEBOOT)
            .arg("boot")
            .args(args)
            .arg("--root")
            .arg(self.root_dir())
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("the kubeboot binary runs");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kubeboot boot {args:?} ran longer than {RUN_LIMIT:?}; stderr:\n{}",
                    fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            code: status
                .code()
                .expect("kubeboot exits, not killed by a signal"),
            stdout: fs::read_to_string(&out).unwrap(),
            stderr: fs::read_to_string(&err).unwrap(),
        }
    }

    /// `boot::run` in this process, as this host, on a dry run: its outcome and its report
    /// (which a dry run prints but does not record), as `result.json` would hold it.
    fn boot_in_process(
        &self,
        selection: Selection,
        hostname: &str,
        ip: &str,
    ) -> (Result<(), Error>, Value) {
        let ip: IpAddr = ip.parse().unwrap();
        let (report, outcome) = boot::run_reported(
            &self.root(),
            BootOptions {
                selection,
                sources: SourceEnv::default(),
                dry_run: true,
                ignore_preflight_errors: vec!["all".into()],
                host: HostFacts {
                    hostname: hostname.into(),
                    default_address: Some(ip),
                },
                local_addresses: vec![ip],
            },
        );
        let report = report.expect("a node that is not done reports the attempt");
        (outcome, serde_json::to_value(report).unwrap())
    }

    /// A dry run wrote nothing at all: no state a real boot would take for an earlier attempt.
    fn assert_nothing_written(&self) {
        assert_eq!(
            self.files(),
            Vec::<String>::new(),
            "a dry run writes nothing here"
        );
    }

    /// Token secrets never reach the console or the state files; stdout (the console too)
    /// shows one only in the join commands an init prints last.
    fn assert_no_secret(&self, run: &Run) {
        assert!(
            !run.stderr.contains(TOKEN_SECRET),
            "the token secret is on stderr:\n{}",
            run.stderr
        );
        for line in run.stdout.lines().filter(|l| l.contains(TOKEN_SECRET)) {
            assert!(
                // A dry run prints the closing message as YAML comments.
                line.trim_start_matches(['#', ' '])
                    .starts_with("kubeadm join "),
                "the token secret is on stdout outside a join command: {line:?}"
            );
        }
        for file in [state::RESULT_FILE, state::JOURNAL_FILE] {
            if self.exists(file) {
                assert!(
                    !self.read(file).contains(TOKEN_SECRET),
                    "the token secret is in {file}"
                );
            }
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Run {
    fn assert_exit(&self, code: ExitCode) {
        assert_eq!(
            self.code, code as i32,
            "exit code; stderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
    }

    /// The one-screen summary `boot` prints last on the serial console.
    fn summary(&self) -> &str {
        let rule = "=".repeat(72);
        let start = self
            .stderr
            .find(&rule)
            .unwrap_or_else(|| panic!("no summary on stderr:\n{}", self.stderr));
        &self.stderr[start..]
    }
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is not a string in {v:#}"))
}

fn phase_names(phases: &Value) -> Vec<&str> {
    phases
        .as_array()
        .unwrap_or_else(|| panic!("not a list of phases: {phases}"))
        .iter()
        .map(|p| str_at(p, "/name"))
        .collect()
}

fn rfc3339(v: &Value, pointer: &str) -> OffsetDateTime {
    let text = str_at(v, pointer);
    OffsetDateTime::parse(text, &Rfc3339)
        .unwrap_or_else(|e| panic!("{pointer} = {text:?} is not RFC 3339: {e}"))
}

/// `result.json` as monitoring reads it: the documented field names and types.
fn assert_result_schema(v: &Value) {
    for key in [
        "status",
        "mode",
        "modeReason",
        "nodeName",
        "datasource",
        "phases",
        "error",
        "kubebootVersion",
        "startedAt",
        "finishedAt",
        "attempt",
    ] {
        assert!(v.get(key).is_some(), "result.json lacks {key:?}: {v:#}");
    }
    assert!(
        ["running", "done", "error"].contains(&str_at(v, "/status")),
        "{v:#}"
    );
    assert_eq!(str_at(v, "/kubebootVersion"), env!("CARGO_PKG_VERSION"));
    assert!(v["attempt"].as_u64().is_some_and(|n| n >= 1), "{v:#}");
    let started = rfc3339(v, "/startedAt");
    let finished = rfc3339(v, "/finishedAt");
    assert!(started <= finished, "{v:#}");
    for phase in v["phases"].as_array().unwrap() {
        assert!(!str_at(phase, "/name").is_empty());
        assert!(phase["durationMs"].as_u64().is_some(), "{phase}");
        let at = rfc3339(phase, "/finishedAt");
        assert!(started <= at && at <= finished, "{phase} outside the run");
    }
    match str_at(v, "/status") {
        "error" => {
            let e = &v["error"];
            for key in ["class", "message", "hint"] {
                assert!(!str_at(e, &format!("/{key}")).is_empty(), "{e:#}");
            }
            assert!(e["exitCode"].as_u64().is_some(), "{e:#}");
            assert!(e.get("phase").is_some(), "error lacks \"phase\": {e:#}");
        }
        _ => assert!(v["error"].is_null(), "{v:#}"),
    }
}

// ---- 1. the README's main job -------------------------------------------------------------

#[test]
fn the_shipped_control_plane_example_boots_as_a_dry_run() {
    let node = Node::new();
    let user_data = repo("cloud-init/control-plane/user-data");
    let run = node.boot(&[
        "--user-data",
        user_data.to_str().unwrap(),
        "--dry-run",
        "--ignore-preflight-errors=all",
    ]);
    run.assert_exit(ExitCode::Ok);

    // The node's files, with kubeadm's modes.
    for file in [
        "/etc/kubernetes/pki/ca.crt",
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/pki/apiserver.crt",
        "/etc/kubernetes/pki/apiserver.key",
        "/etc/kubernetes/pki/sa.key",
        "/etc/kubernetes/pki/sa.pub",
        "/etc/kubernetes/pki/front-proxy-ca.crt",
        "/etc/kubernetes/pki/etcd/ca.crt",
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/super-admin.conf",
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/controller-manager.conf",
        "/etc/kubernetes/scheduler.conf",
        "/etc/kubernetes/manifests/etcd.yaml",
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "/etc/kubernetes/manifests/kube-controller-manager.yaml",
        "/etc/kubernetes/manifests/kube-scheduler.yaml",
        "/var/lib/kubelet/config.yaml",
        "/var/lib/kubelet/kubeadm-flags.env",
    ] {
        assert!(node.exists(file), "{file} was not written");
    }
    assert_eq!(node.mode("/etc/kubernetes/pki"), 0o700);
    assert_eq!(node.mode("/etc/kubernetes/pki/ca.key"), 0o600);
    assert_eq!(node.mode("/etc/kubernetes/pki/ca.crt"), 0o644);
    assert_eq!(node.mode("/etc/kubernetes/admin.conf"), 0o600);
    // The user-data's settings, not defaults: advertise address, maxPods, the SAN.
    assert!(
        node.read("/etc/kubernetes/manifests/kube-apiserver.yaml")
            .contains("--advertise-address=192.0.2.10")
    );
    assert!(
        node.read("/var/lib/kubelet/config.yaml")
            .contains("maxPods: 110")
    );

    // The API objects on stdout, and a join command pinned to the CA just generated.
    for object in [
        "name: kubeadm-config",
        "name: cluster-info",
        "name: bootstrap-token-abcdef",
        "kind: ClusterRoleBinding",
    ] {
        assert!(run.stdout.contains(object), "stdout lacks {object:?}");
    }
    let pin = spki_pin(&node.read("/etc/kubernetes/pki/ca.crt"));
    assert!(
        run.stdout
            .contains(&format!("--discovery-token-ca-cert-hash {pin}")),
        "the join command does not pin the generated CA {pin}:\n{}",
        run.stdout
    );

    // The report, on the console only: a dry run records nothing in /var/lib/kubeboot that a
    // real boot would read as an earlier attempt, and never marks the node done.
    assert!(
        !node.exists(state::STATE_DIR),
        "a dry run must record no state"
    );
    let summary = run.summary();
    for line in [
        "kubeboot: SUCCESS",
        "node        cp-0",
        "mode        init",
        "because     BootConfiguration sets mode: init",
        "user-data   user-data",
        "attempt     1",
    ] {
        assert!(summary.contains(line), "no {line:?} in\n{summary}");
    }
    for phase in ["user-data (", "preflight (", "certs (", "kubelet-start ("] {
        assert!(summary.contains(phase), "no phase {phase} in\n{summary}");
    }
    assert!(summary.lines().count() <= 24, "not one screen:\n{summary}");
    node.assert_no_secret(&run);
}

/// `sha256:<hex>` of a certificate's SubjectPublicKeyInfo, as kubeadm pins CAs.
fn spki_pin(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        cert.tbs_certificate.subject_pki.raw,
    );
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

// ---- 2. the decision, through real user-data ------------------------------------------------

/// The shipped MIME example on a NoCloud seed whose meta-data names this instance.
fn boot_cluster_example_as(hostname: &str, ip: &str) -> (Node, Run) {
    let node = Node::new();
    node.write(
        "/var/lib/cloud/seed/nocloud/user-data",
        fs::read(repo("cloud-init/cluster/user-data")).unwrap(),
    );
    node.write(
        "/var/lib/cloud/seed/nocloud/meta-data",
        format!("instance-id: iid-{hostname}\nlocal-hostname: {hostname}\nlocal-ipv4: {ip}\n"),
    );
    let run = node.boot(&[
        "--datasource",
        "nocloud",
        "--dry-run",
        "--ignore-preflight-errors=all",
    ]);
    node.assert_no_secret(&run);
    (node, run)
}

#[test]
fn the_designated_initializer_of_the_cluster_example_initialises() {
    let (node, run) = boot_cluster_example_as("cp-0", "192.0.2.10");
    run.assert_exit(ExitCode::Ok);
    let summary = run.summary();
    for line in [
        "user-data   nocloud",
        "mode        init",
        "because     this node is the designated initializer \"cp-0\"",
        "node        cp-0",
    ] {
        assert!(summary.contains(line), "no {line:?} in\n{summary}");
    }
    assert!(node.exists("/etc/kubernetes/pki/ca.key"));
    // The meta-data's address is the default advertise address.
    assert!(
        node.read("/etc/kubernetes/manifests/kube-apiserver.yaml")
            .contains("--advertise-address=192.0.2.10")
    );
    // The skipped shell-script part is reported, not run.
    assert!(run.stderr.contains("text/x-shellscript"), "{}", run.stderr);
}

#[test]
fn every_other_node_of_the_cluster_example_joins_as_control_plane() {
    // Whether a dry-run control-plane join then succeeds is the join's business; the decision
    // is recorded before it starts.
    let (node, run) = boot_cluster_example_as("cp-1", "192.0.2.11");
    let summary = run.summary();
    for line in [
        "mode        join-control-plane",
        "because     the designated initializer is \"cp-0\", not this node",
        "node        cp-1",
    ] {
        assert!(summary.contains(line), "no {line:?} in\n{summary}");
    }
    assert!(
        !node.exists("/etc/kubernetes/pki/ca.key"),
        "a joining node must never create a cluster CA of its own"
    );
}

#[test]
fn the_machine_host_name_decides_without_meta_data() {
    let node = Node::new();
    let cluster_example = repo("cloud-init/cluster/user-data").display().to_string();
    let (outcome, result) =
        node.boot_in_process(Selection::Location(cluster_example), "cp-1", "192.0.2.11");
    outcome.expect("a dry-run control-plane join plans its requests");
    assert_eq!(str_at(&result, "/datasource"), "user-data");
    assert_eq!(str_at(&result, "/nodeName"), "cp-1");
    assert_eq!(str_at(&result, "/mode"), "join-control-plane");
    assert!(!node.exists("/etc/kubernetes/pki/ca.key"));
}

#[test]
fn init_and_join_without_an_initializer_is_refused_as_split_brain() {
    let node = Node::new();
    let user_data = fixture("split-brain.yaml");
    let run = node.boot(&[
        "--user-data",
        user_data.to_str().unwrap(),
        "--dry-run",
        "--ignore-preflight-errors=all",
    ]);
    run.assert_exit(ExitCode::Config);
    assert!(run.stderr.contains("split brain"), "{}", run.stderr);
    assert!(
        run.stderr.contains("BootConfiguration.initializer"),
        "the error says how to fix it:\n{}",
        run.stderr
    );
    node.assert_nothing_written();
    let summary = run.summary();
    assert!(
        summary.contains("FAILED (config, exit code 3)"),
        "{summary}"
    );
    assert!(
        summary.contains("mode        -"),
        "no mode was chosen:\n{summary}"
    );
    node.assert_no_secret(&run);
}

#[test]
fn user_data_with_only_scripts_has_nothing_for_kubeboot() {
    let node = Node::new();
    let user_data = fixture("scripts-only.mime");
    let run = node.boot(&["--user-data", user_data.to_str().unwrap(), "--dry-run"]);
    run.assert_exit(ExitCode::NoUserData);
    assert!(
        run.stderr.contains("holds no kubeboot configuration"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("scripts-only.mime"), "{}", run.stderr);
    node.assert_nothing_written();
    let summary = run.summary();
    assert!(
        summary.contains("FAILED (no-user-data, exit code 9)")
            && summary.contains("failed in   user-data"),
        "{summary}"
    );
}

#[test]
fn no_user_data_anywhere_is_exit_9() {
    let node = Node::new();
    let (outcome, result) = node.boot_in_process(
        Selection::Datasource("local".into()),
        "node-0",
        "192.0.2.30",
    );
    let e = outcome.expect_err("there is no user-data");
    assert_eq!(e.exit_code(), ExitCode::NoUserData);
    assert!(
        e.to_string().contains("no user-data found (tried local)"),
        "{e}"
    );
    node.assert_nothing_written();
    assert_result_schema(&result);
    assert_eq!(result["error"]["exitCode"], 9);
    assert_eq!(str_at(&result, "/error/phase"), "user-data");
    assert!(result["datasource"].is_null(), "{result:#}");
}

#[test]
fn a_truncated_gzip_drop_in_stops_the_boot_naming_it() {
    let node = Node::new();
    node.install(&fixture("local"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        b"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 300\n",
    )
    .unwrap();
    let whole = gz.finish().unwrap();
    node.write(
        "/etc/kubeboot/user-data.d/30-broken.gz",
        &whole[..whole.len() / 2],
    );
    let run = node.boot(&["--dry-run", "--ignore-preflight-errors=all"]);
    run.assert_exit(ExitCode::Config);
    assert!(
        run.stderr
            .contains("local /etc/kubeboot/user-data.d/30-broken.gz"),
        "the error names the source and file:\n{}",
        run.stderr
    );
    // The good parts before it are not half-applied.
    let expected = vec![
        "etc/kubeboot/user-data".to_string(),
        "etc/kubeboot/user-data.d/10-site.yaml".into(),
        "etc/kubeboot/user-data.d/20-pool.cfg".into(),
        "etc/kubeboot/user-data.d/30-broken.gz".into(),
    ];
    assert_eq!(node.files(), expected, "a dry run records no state either");
    let summary = run.summary();
    assert!(
        summary.contains("FAILED (config, exit code 3)")
            && summary.contains("failed in   user-data"),
        "{summary}"
    );
    assert!(summary.contains("30-broken.gz"), "{summary}");
}

// ---- 3. the local source: the image's user-data and its drop-ins ----------------------------

#[test]
fn local_drop_ins_override_the_image_user_data_in_lexical_order() {
    let node = Node::new();
    node.install(&fixture("local"));
    let run = node.boot(&["--dry-run", "--ignore-preflight-errors=all"]);
    run.assert_exit(ExitCode::Ok);
    let summary = run.summary();
    assert!(summary.contains("user-data   local"), "{summary}");
    assert!(summary.contains("node        image-node"), "{summary}");

    // 10-site.yaml replaced the pod subnet; the SAN from the image's part stays (mappings
    // merge field by field).
    let controller_manager = node.read("/etc/kubernetes/manifests/kube-controller-manager.yaml");
    assert!(
        controller_manager.contains("--cluster-cidr=192.168.0.0/16"),
        "{controller_manager}"
    );
    let apiserver_cert = node.read("/etc/kubernetes/pki/apiserver.crt");
    let (_, pem) = x509_parser::pem::parse_x509_pem(apiserver_cert.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let sans = format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value
    );
    assert!(sans.contains("from-image.example.test"), "{sans}");
    // maxPods: 110 in the image, 200 in 10-site, 250 in 20-pool: the last one wins.
    let kubelet = node.read("/var/lib/kubelet/config.yaml");
    assert!(kubelet.contains("maxPods: 250"), "{kubelet}");
    assert!(run.stdout.contains("podSubnet: 192.168.0.0/16"));
}

// ---- 4-6. against a cluster: once, resume, the report ---------------------------------------

fn cluster() -> TestApiServer {
    TestApiServer::builder()
        .token(TOKEN, TokenOpts::default())
        .start()
}

/// A worker's user-data for `srv`, pinning `ca_hash`, with short deadlines.
fn worker_user_data(srv: &TestApiServer, ca_hash: &str) -> String {
    format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: BootConfiguration
deadlines:
  discovery: 10s
  tlsBootstrap: 2s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {endpoint}
    token: {TOKEN}
    caCertHashes:
      - {ca_hash}
nodeRegistration:
  name: {NODE}
",
        endpoint = srv.endpoint()
    )
}

const USER_DATA: &str = "/etc/kubeboot/user-data";

/// A real boot (not a dry run), as at first boot: user-data baked in, every source probed.
fn boot_for_real(node: &Node) -> Run {
    let run = node.boot(&["-v", "5", "--ignore-preflight-errors=all"]);
    node.assert_no_secret(&run);
    run
}

fn csrs(srv: &TestApiServer) -> Vec<Value> {
    srv.list_objects(CSR_API, "certificatesigningrequests", None)
}

#[test]
fn after_success_every_later_boot_is_a_no_op() {
    let srv = cluster();
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));

    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::Ok);
    assert!(node.is_done(), "success writes the done marker");
    assert!(node.exists("/etc/kubernetes/kubelet.conf"));
    assert!(
        node.read_linked(CURRENT_CLIENT_PEM)
            .contains("BEGIN CERTIFICATE")
    );
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(str_at(&result, "/status"), "done");
    assert_eq!(str_at(&result, "/mode"), "join");
    assert_eq!(
        str_at(&result, "/modeReason"),
        "the user-data holds only a JoinConfiguration"
    );
    assert_eq!(str_at(&result, "/datasource"), "local");
    assert_eq!(
        phase_names(&result["phases"]),
        [
            "user-data",
            "preflight",
            "discovery",
            "kubelet-config",
            "tls-bootstrap",
            "kubelet-start"
        ]
    );
    assert_eq!(csrs(&srv).len(), 1);

    let requests = srv.requests().len();
    let connections = srv.connections();
    let result_json = node.result_json();
    let journal = node.read(state::JOURNAL_FILE);
    let files = node.files();

    let again = boot_for_real(&node);
    again.assert_exit(ExitCode::Ok);
    assert!(
        again.stderr.contains("already completed"),
        "{}",
        again.stderr
    );
    assert_eq!(srv.requests().len(), requests, "a done node calls no API");
    assert_eq!(
        srv.connections(),
        connections,
        "a done node connects nowhere"
    );
    assert_eq!(node.result_json(), result_json, "result.json is kept as is");
    assert_eq!(node.read(state::JOURNAL_FILE), journal);
    assert_eq!(node.files(), files, "nothing is written");

    // Not even the user-data is read again: a later boot without it still succeeds.
    fs::remove_file(node.path(USER_DATA)).unwrap();
    boot_for_real(&node).assert_exit(ExitCode::Ok);
    assert_eq!(srv.requests().len(), requests);
}

#[test]
fn a_csr_never_approved_fails_in_tls_bootstrap_and_the_next_boot_resumes_with_the_same_csr() {
    let srv = cluster();
    srv.set_csr_policy(CsrPolicy::Never);
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));

    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::TlsBootstrap);
    assert!(!node.is_done(), "a failed boot is not done");
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(str_at(&result, "/status"), "error");
    assert_eq!(str_at(&result, "/mode"), "join");
    assert_eq!(str_at(&result, "/error/class"), "tls-bootstrap");
    assert_eq!(result["error"]["exitCode"], 8);
    assert_eq!(str_at(&result, "/error/phase"), "tls-bootstrap");
    assert!(str_at(&result, "/error/hint").contains("kubectl get csr"));
    let summary = run.summary();
    assert!(
        summary.contains("FAILED (tls-bootstrap, exit code 8)")
            && summary.contains("failed in   tls-bootstrap"),
        "{summary}"
    );
    let journal = node.journal();
    let completed = phase_names(&journal["completed"]);
    for phase in ["preflight", "discovery", "kubelet-config"] {
        assert!(
            completed.contains(&phase),
            "{phase} not journaled: {completed:?}"
        );
    }
    assert!(!completed.contains(&"tls-bootstrap"), "{completed:?}");
    // Nothing the kubelet would use is written; only the pending key of the CSR.
    assert!(!node.exists("/etc/kubernetes/kubelet.conf"));
    assert!(!node.exists("/etc/kubernetes/pki/ca.crt"));
    assert!(node.exists(PENDING_KEY_FILE));
    let pending = csrs(&srv);
    assert_eq!(pending.len(), 1, "one CSR was sent");
    let csr_name = str_at(&pending[0], "/metadata/name").to_string();

    // The approver comes up; the next boot resumes.
    srv.set_csr_policy(CsrPolicy::Auto);
    let again = boot_for_real(&node);
    again.assert_exit(ExitCode::Ok);
    assert!(
        again.stderr.contains("Attempt 2: resuming"),
        "{}",
        again.stderr
    );
    assert!(node.is_done());
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(str_at(&result, "/status"), "done");
    assert_eq!(result["attempt"], 2);
    let after = csrs(&srv);
    assert_eq!(after.len(), 1, "the CSR is reused, not duplicated");
    assert_eq!(str_at(&after[0], "/metadata/name"), csr_name);
    // The kubelet's certificate is the one issued for that CSR.
    let issued = base64_decode(str_at(&after[0], "/status/certificate"));
    let current = node.read_linked(CURRENT_CLIENT_PEM);
    assert!(
        current.contains(issued.trim()),
        "the kubelet's certificate is not the one issued for {csr_name}"
    );
    assert!(!node.exists(PENDING_KEY_FILE), "the pending key is dropped");
    assert!(node.exists("/etc/kubernetes/kubelet.conf"));
}

fn base64_decode(text: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_wrong_ca_pin_fails_discovery_untrusted_and_fixed_user_data_succeeds() {
    let srv = cluster();
    let node = Node::new();
    // A real CA's pin, but not this cluster's: what a man in the middle would present.
    node.write(USER_DATA, worker_user_data(&srv, &srv.rogue_ca_hash()));

    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::Trust);
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(str_at(&result, "/error/class"), "trust");
    assert_eq!(result["error"]["exitCode"], 6);
    assert_eq!(str_at(&result, "/error/phase"), "discovery");
    let message = str_at(&result, "/error/message");
    assert!(
        message.contains(&srv.ca_hash()) && message.contains("none of the"),
        "the message names the hash the cluster presented: {message}"
    );
    assert!(!node.is_done());
    // The unverified cluster left nothing on the node: no CA, no key, no kubeconfig.
    let mut expected = vec!["etc/kubeboot/user-data".to_string()];
    expected.extend(STATE_FILES.map(String::from));
    assert_eq!(node.files(), expected);
    assert!(csrs(&srv).is_empty(), "no CSR to an unverified cluster");

    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    let again = boot_for_real(&node);
    again.assert_exit(ExitCode::Ok);
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(str_at(&result, "/status"), "done");
    assert_eq!(result["attempt"], 2);
    assert!(node.is_done());
    assert_eq!(
        node.read("/etc/kubernetes/pki/ca.crt"),
        srv.ca_pem(),
        "the verified CA is the cluster's"
    );
}

// ---- 7. deadlines.total --------------------------------------------------------------------

#[test]
fn a_boot_past_its_total_deadline_stops_with_exit_7_naming_the_deadline_and_the_phase() {
    // An API server that takes connections and never answers: discovery alone would wait out
    // its own 5m timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let node = Node::new();
    node.write(
        USER_DATA,
        format!(
            "apiVersion: kubeboot.io/v1alpha1
kind: BootConfiguration
deadlines:
  total: 2s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {}
    token: {TOKEN}
    caCertHashes:
      - sha256:{}
nodeRegistration:
  name: {NODE}
",
            silent.local_addr().unwrap(),
            "ab".repeat(32)
        ),
    );

    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::Cluster);
    assert!(
        run.stderr.contains("deadlines.total (2s)"),
        "the console does not name the deadline:\n{}",
        run.stderr
    );
    let summary = run.summary();
    assert!(
        summary.contains("FAILED (cluster, exit code 7)")
            && summary.contains("failed in   discovery")
            && summary.contains("raise deadlines.total"),
        "{summary}"
    );
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(str_at(&result, "/status"), "error");
    assert_eq!(str_at(&result, "/error/class"), "cluster");
    assert_eq!(result["error"]["exitCode"], 7);
    assert_eq!(str_at(&result, "/error/phase"), "discovery");
    assert!(str_at(&result, "/error/message").contains("deadlines.total (2s)"));
    assert!(!node.is_done());
    // The next boot resumes after what was completed.
    let completed = phase_names(&node.journal()["completed"]).join(" ");
    assert_eq!(completed, "user-data preflight");
    drop(silent);
}

/// The preflight errors of this test sandbox's host (no container runtime, kubelet, ...), but
/// none of the checks a node's own kubeboot files and components trip: `FileAvailable` of
/// `kubelet.conf`, `bootstrap-kubelet.conf` and `pki/ca.crt`, `Port-10250`.
const SANDBOX_HOST_CHECKS: &str = "--ignore-preflight-errors=CRI,FileExisting-mount,\
FileExisting-nsenter,FileExisting-touch,KubeletVersion,FileContent--proc-sys-net-ipv4-ip_forward,\
Swap,SystemVerification,Hostname,Service-Kubelet";

#[test]
fn a_failure_after_files_were_written_resumes_without_tripping_preflight_on_them() {
    let srv = cluster();
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    // Something in the way of the kubelet's files: kubelet-start fails after writing ca.crt.
    node.write("/var/lib/kubelet/config.yaml/in-the-way", "");

    let run = node.boot(&["-v", "5", SANDBOX_HOST_CHECKS]);
    node.assert_no_secret(&run);
    run.assert_exit(ExitCode::Filesystem);
    assert_eq!(str_at(&node.result(), "/error/phase"), "kubelet-start");
    assert!(
        node.exists("/etc/kubernetes/pki/ca.crt"),
        "the failure came after a file the join preflight refuses"
    );

    fs::remove_dir_all(node.path("/var/lib/kubelet/config.yaml")).unwrap();
    let again = node.boot(&["-v", "5", SANDBOX_HOST_CHECKS]);
    node.assert_no_secret(&again);
    again.assert_exit(ExitCode::Ok);
    assert!(
        again
            .stderr
            .contains("Pre-flight checks passed on attempt 1; not running them again"),
        "{}",
        again.stderr
    );
    assert!(node.is_done());
    let result = node.result();
    assert_result_schema(&result);
    assert_eq!(result["attempt"], 2);
    assert!(!phase_names(&result["phases"]).contains(&"preflight"));
    assert_eq!(csrs(&srv).len(), 1, "the CSR is reused, not duplicated");
    assert!(node.exists("/etc/kubernetes/kubelet.conf"));
}

#[test]
fn a_first_boot_runs_preflight_without_the_ignore_list_for_its_own_files() {
    // The control for the test above: the same checks do run, and catch a foreign file.
    let srv = cluster();
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    node.write("/etc/kubernetes/pki/ca.crt", "someone else's CA");
    let run = node.boot(&[SANDBOX_HOST_CHECKS]);
    run.assert_exit(ExitCode::Preflight);
    assert!(
        run.stderr
            .contains("FileAvailable--etc-kubernetes-pki-ca.crt"),
        "{}",
        run.stderr
    );
}

/// A node's own Ready Node, registered by its kubelet before a later step of the join failed.
fn put_ready_node(srv: &TestApiServer) {
    srv.put_object(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": { "name": NODE },
        "status": { "conditions": [{ "type": "Ready", "status": "True" }] }
    }));
}

#[test]
fn a_resumed_join_whose_kubelet_registered_the_node_is_not_refused_as_node_exists() {
    let srv = cluster();
    put_ready_node(&srv);
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    // What a control-plane join failing in control-plane-join leaves: kubelet-start completed.
    node.write(
        state::JOURNAL_FILE,
        r#"{"completed": [{"name": "kubelet-start", "durationMs": 5,
            "finishedAt": "2026-01-01T00:00:00Z", "attempt": 1}], "attempts": 1}"#,
    );
    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::Ok);
    assert!(
        run.stderr
            .contains("was registered by this node's kubelet in an earlier attempt"),
        "{}",
        run.stderr
    );
    assert_eq!(node.result()["attempt"], 2);
}

#[test]
fn a_first_join_still_refuses_a_ready_node_of_its_name() {
    let srv = cluster();
    put_ready_node(&srv);
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::Config);
    assert!(
        run.stderr.contains("already exists in the cluster"),
        "{}",
        run.stderr
    );
    assert!(csrs(&srv).is_empty());
}

#[test]
fn a_dry_run_leaves_no_earlier_attempt_for_the_real_boot() {
    let srv = cluster();
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    let rehearsal = node.boot(&["--dry-run", "--ignore-preflight-errors=all"]);
    rehearsal.assert_exit(ExitCode::Ok);
    assert!(rehearsal.summary().contains("kubeboot: SUCCESS"));
    assert!(!node.exists(state::STATE_DIR), "a dry run records no state");

    let run = boot_for_real(&node);
    run.assert_exit(ExitCode::Ok);
    assert!(!run.stderr.contains("resuming"), "{}", run.stderr);
    let result = node.result();
    assert_eq!(result["attempt"], 1);
    assert!(phase_names(&result["phases"]).contains(&"preflight"));
}

#[test]
fn state_files_are_readable_by_root_only() {
    let srv = cluster();
    let node = Node::new();
    node.write(USER_DATA, worker_user_data(&srv, &srv.ca_hash()));
    // An image that ships the directory world-readable.
    fs::create_dir_all(node.path(state::STATE_DIR)).unwrap();
    fs::set_permissions(
        node.path(state::STATE_DIR),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    boot_for_real(&node).assert_exit(ExitCode::Ok);
    assert_eq!(node.mode(state::STATE_DIR), 0o700);
    for file in [state::RESULT_FILE, state::JOURNAL_FILE, state::DONE_MARKER] {
        assert_eq!(node.mode(file), 0o600, "{file}");
    }
}

//! `kubeboot init --dry-run` end to end through the binary, on the shipped example
//! (`cloud-init/init.yaml`, ECDSA-P256) and on the same example with RSA-2048, checked with the
//! tools a cluster really uses: openssl (chains, purposes, key pairs, algorithms), kubectl
//! (every kubeconfig), a YAML parser (the printed API objects), and Debian's etcd and etcdctl
//! started with the flags of the generated etcd manifest and the generated certificates: Go's
//! TLS stack must accept our PKI, with mutual TLS, as the real etcd Pod would.

#[path = "support_etcd/mod.rs"]
mod support_etcd;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_yaml::Value;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/cloud-init/init.yaml");
const TOKEN: &str = "abcdef.0123456789abcdef";
const TOKEN_SECRET: &str = "0123456789abcdef";
const NODE: &str = "cp-0";
const ENDPOINT: &str = "k8s-api.example.internal:6443";
const LOCAL_ENDPOINT: &str = "192.0.2.10:6443";
/// Every run of the binary ends within this, or the test fails (and the child is killed).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const ETCD_START_TIMEOUT: Duration = Duration::from_secs(20);

// ---- running the binary ----------------------------------------------------------------------

/// Runs `cmd` to completion within `timeout`; on timeout kills that child (by its handle) and
/// panics.
fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let dir = tempfile::tempdir().expect("tempdir for output");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: fs::read(&out_path).expect("read stdout"),
        stderr: fs::read(&err_path).expect("read stderr"),
    }
}

/// What one `kubeboot init --dry-run` left: the root it wrote and what it printed.
struct Init {
    _dir: tempfile::TempDir,
    root: PathBuf,
    stdout: String,
    stderr: String,
}

impl Init {
    /// The real path of a node path (`/etc/kubernetes/...`).
    fn path(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }

    fn pki(&self, name: &str) -> PathBuf {
        self.path(&format!("/etc/kubernetes/pki/{name}"))
    }
}

/// The example with another `encryptionAlgorithm`.
fn example_with_algorithm(algorithm: &str) -> String {
    let example = fs::read_to_string(EXAMPLE).expect("read the example");
    let line = "encryptionAlgorithm: ECDSA-P256";
    assert!(example.contains(line), "the example no longer has {line:?}");
    example.replace(line, &format!("encryptionAlgorithm: {algorithm}"))
}

/// `kubeboot init --config <config> --root <fresh> --dry-run --ignore-preflight-errors=all`,
/// which must succeed.
fn init_dry_run(config: &str) -> Init {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("init.yaml");
    fs::write(&config_path, config).expect("write config");
    let root = dir.path().join("root");
    fs::create_dir(&root).expect("create root");
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_kubeboot"))
            .arg("init")
            .arg("--config")
            .arg(&config_path)
            .arg("--root")
            .arg(&root)
            .args(["--dry-run", "--ignore-preflight-errors=all"]),
        COMMAND_TIMEOUT,
    );
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert!(
        out.status.success(),
        "init failed ({}):\n{stderr}",
        out.status
    );
    Init {
        _dir: dir,
        root,
        stdout,
        stderr,
    }
}

fn tool(program: &str, args: &[&str]) -> Output {
    run_bounded(Command::new(program).args(args), COMMAND_TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

// ---- the PKI, as openssl sees it ---------------------------------------------------------------

/// Every leaf certificate kubeadm's certs phase writes: its CA and the purposes it serves.
const LEAVES: &[(&str, &str, &[&str])] = &[
    ("ca", "apiserver", &["sslserver"]),
    ("ca", "apiserver-kubelet-client", &["sslclient"]),
    ("front-proxy-ca", "front-proxy-client", &["sslclient"]),
    ("etcd/ca", "etcd/server", &["sslserver", "sslclient"]),
    ("etcd/ca", "etcd/peer", &["sslserver", "sslclient"]),
    ("etcd/ca", "etcd/healthcheck-client", &["sslclient"]),
    ("etcd/ca", "apiserver-etcd-client", &["sslclient"]),
];
const CAS: &[&str] = &["ca", "front-proxy-ca", "etcd/ca"];

#[derive(Clone, Copy, Debug)]
enum Algorithm {
    EcdsaP256,
    Rsa2048,
}

fn openssl_verify(ca: &Path, purpose: &str, cert: &Path) -> Output {
    tool(
        "openssl",
        &["verify", "-CAfile", p(ca), "-purpose", purpose, p(cert)],
    )
}

fn assert_chains(ca: &Path, purpose: &str, cert: &Path) {
    let out = openssl_verify(ca, purpose, cert);
    assert!(
        out.status.success() && text(&out.stdout).trim_end().ends_with(": OK"),
        "openssl verify -CAfile {} -purpose {purpose} {}: {}{}",
        ca.display(),
        cert.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The public key of a certificate and of a private key, as PEM from openssl.
fn public_key_of_cert(cert: &Path) -> String {
    let out = tool("openssl", &["x509", "-noout", "-pubkey", "-in", p(cert)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn public_key_of_key(key: &Path) -> String {
    let out = tool("openssl", &["pkey", "-pubout", "-in", p(key)]);
    assert!(
        out.status.success(),
        "{}: {}",
        key.display(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn assert_key_algorithm(key: &Path, algorithm: Algorithm) {
    let out = tool("openssl", &["pkey", "-noout", "-text", "-in", p(key)]);
    assert!(
        out.status.success(),
        "{}: {}",
        key.display(),
        text(&out.stderr)
    );
    let description = text(&out.stdout);
    let ok = match algorithm {
        Algorithm::EcdsaP256 => {
            description.starts_with("Private-Key: (256 bit)")
                && description.contains("ASN1 OID: prime256v1")
        }
        Algorithm::Rsa2048 => description.starts_with("Private-Key: (2048 bit, 2 primes)"),
    };
    assert!(
        ok,
        "{} is not {algorithm:?}: {}",
        key.display(),
        description.lines().next().unwrap_or("")
    );
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every regular file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let relative = path.strip_prefix(base).expect("under base");
                out.insert(relative.display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn check_pki(init: &Init, algorithm: Algorithm) {
    // Exactly kubeadm's files, with kubeadm's modes (sa.pub too is written by keyutil.WriteKey:
    // 0600).
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for name in CAS.iter().chain(LEAVES.iter().map(|(_, leaf, _)| leaf)) {
        expected.insert(format!("{name}.crt"));
        expected.insert(format!("{name}.key"));
    }
    expected.extend(["sa.key".to_string(), "sa.pub".to_string()]);
    let pki = init.pki("");
    assert_eq!(files_under(&pki), expected);
    for file in &expected {
        let want = if file.ends_with(".crt") { 0o644 } else { 0o600 };
        assert_eq!(mode(&pki.join(file)), want, "mode of pki/{file}");
    }

    for ca in CAS {
        let cert = init.pki(&format!("{ca}.crt"));
        // A CA verifies against itself, as a self-signed root.
        assert_chains(&cert, "any", &cert);
        let key = init.pki(&format!("{ca}.key"));
        assert_eq!(public_key_of_cert(&cert), public_key_of_key(&key), "{ca}");
        assert_key_algorithm(&key, algorithm);
    }
    for (ca, leaf, purposes) in LEAVES {
        let cert = init.pki(&format!("{leaf}.crt"));
        for purpose in *purposes {
            assert_chains(&init.pki(&format!("{ca}.crt")), purpose, &cert);
        }
        // The three CAs are separate trust domains: a certificate of one must not pass as
        // another's (an etcd client certificate from the cluster CA would open etcd to any
        // holder of a cluster client certificate).
        for other in CAS.iter().filter(|other| *other != ca) {
            let out = openssl_verify(&init.pki(&format!("{other}.crt")), "any", &cert);
            assert!(!out.status.success(), "{leaf} verifies against {other}");
        }
        let key = init.pki(&format!("{leaf}.key"));
        assert_eq!(public_key_of_cert(&cert), public_key_of_key(&key), "{leaf}");
        assert_key_algorithm(&key, algorithm);
    }
    assert_eq!(
        public_key_of_key(&init.pki("sa.key")),
        fs::read_to_string(init.pki("sa.pub")).expect("sa.pub"),
        "sa.pub is the public half of sa.key"
    );
    assert_key_algorithm(&init.pki("sa.key"), algorithm);
}

// ---- kubeconfigs, as kubectl sees them ----------------------------------------------------------

/// Every kubeconfig init writes: server, user (= certificate CN) and certificate groups.
const KUBECONFIGS: &[(&str, &str, &str, &[&str])] = &[
    (
        "admin.conf",
        ENDPOINT,
        "kubernetes-admin",
        &["kubeadm:cluster-admins"],
    ),
    (
        "super-admin.conf",
        ENDPOINT,
        "kubernetes-super-admin",
        &["system:masters"],
    ),
    (
        "kubelet.conf",
        ENDPOINT,
        "system:node:cp-0",
        &["system:nodes"],
    ),
    (
        "controller-manager.conf",
        LOCAL_ENDPOINT,
        "system:kube-controller-manager",
        &[],
    ),
    (
        "scheduler.conf",
        LOCAL_ENDPOINT,
        "system:kube-scheduler",
        &[],
    ),
];

/// `kubectl config view --raw` of a kubeconfig, as JSON. The installed kubectl may be Google
/// Cloud SDK's dispatcher, which first asks the kubeconfig's server for its version (3 s for
/// an unreachable TEST-NET address): `--request-timeout` bounds that probe.
fn kubectl_view(path: &Path) -> serde_json::Value {
    let out = tool(
        "/usr/bin/kubectl",
        &[
            "--request-timeout=200ms",
            "config",
            "view",
            "--raw",
            "-o",
            "json",
            "--kubeconfig",
            p(path),
        ],
    );
    assert!(
        out.status.success(),
        "kubectl cannot read {}: {}",
        path.display(),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}

/// CN and O values of a PEM certificate.
fn subject(pem: &[u8]) -> (String, Vec<String>) {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("a PEM certificate");
    let cert = pem.parse_x509().expect("a DER certificate");
    let values = |attrs: Vec<&x509_parser::x509::AttributeTypeAndValue>| -> Vec<String> {
        attrs
            .into_iter()
            .map(|a| a.as_str().expect("string attribute").to_string())
            .collect()
    };
    let cn = values(cert.subject().iter_common_name().collect());
    let o = values(cert.subject().iter_organization().collect());
    assert_eq!(cn.len(), 1, "one CN");
    (cn[0].clone(), o)
}

fn check_kubeconfigs(init: &Init) {
    let ca_pem = fs::read(init.pki("ca.crt")).expect("ca.crt");
    let scratch = tempfile::tempdir().expect("tempdir");
    for (file, endpoint, user, groups) in KUBECONFIGS {
        let path = init.path(&format!("/etc/kubernetes/{file}"));
        assert_eq!(mode(&path), 0o600, "mode of {file}");
        let view = kubectl_view(&path);
        let context_name = view["current-context"].as_str().expect("current-context");
        assert_eq!(context_name, format!("{user}@kubernetes"), "{file}");
        let context = view["contexts"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == context_name))
            .unwrap_or_else(|| panic!("{file}: current context {context_name} is missing"));
        let cluster_name = &context["context"]["cluster"];
        let user_name = &context["context"]["user"];
        assert_eq!(user_name, user, "{file}");
        let cluster = view["clusters"]
            .as_array()
            .and_then(|c| c.iter().find(|c| &c["name"] == cluster_name))
            .unwrap_or_else(|| panic!("{file}: cluster {cluster_name} is missing"));
        assert_eq!(
            cluster["cluster"]["server"],
            format!("https://{endpoint}"),
            "{file}"
        );
        let decode = |v: &serde_json::Value| {
            STANDARD
                .decode(
                    v.as_str()
                        .unwrap_or_else(|| panic!("{file}: {v} is not a string")),
                )
                .unwrap_or_else(|e| panic!("{file}: not base64: {e}"))
        };
        assert_eq!(
            decode(&cluster["cluster"]["certificate-authority-data"]),
            ca_pem,
            "{file} trusts the cluster CA"
        );
        let credentials = view["users"]
            .as_array()
            .and_then(|u| u.iter().find(|u| &u["name"] == user_name))
            .unwrap_or_else(|| panic!("{file}: user {user_name} is missing"));
        let cert = decode(&credentials["user"]["client-certificate-data"]);
        let key = decode(&credentials["user"]["client-key-data"]);
        let stem = file.trim_end_matches(".conf");
        let (cert_path, key_path) = (
            scratch.path().join(format!("{stem}.crt")),
            scratch.path().join(format!("{stem}.key")),
        );
        fs::write(&cert_path, &cert).expect("write cert");
        fs::write(&key_path, &key).expect("write key");
        assert_chains(&init.pki("ca.crt"), "sslclient", &cert_path);
        assert_eq!(
            public_key_of_cert(&cert_path),
            public_key_of_key(&key_path),
            "{file}: the embedded key is the certificate's"
        );
        let (cn, o) = subject(&cert);
        assert_eq!(cn, *user, "{file}");
        assert_eq!(o, *groups, "{file}");
    }
}

/// Every `/etc/kubernetes/...` path a static Pod manifest hands its component exists: the
/// manifests and the files agree.
fn check_manifests(init: &Init) {
    let dir = init.path("/etc/kubernetes/manifests");
    let manifests = files_under(&dir);
    assert_eq!(
        manifests,
        [
            "etcd.yaml",
            "kube-apiserver.yaml",
            "kube-controller-manager.yaml",
            "kube-scheduler.yaml"
        ]
        .map(String::from)
        .into()
    );
    for manifest in &manifests {
        let path = dir.join(manifest);
        assert_eq!(mode(&path), 0o600, "mode of {manifest}");
        let pod: Value = serde_yaml::from_str(&fs::read_to_string(&path).expect("read manifest"))
            .unwrap_or_else(|e| panic!("{manifest}: {e}"));
        for arg in container_command(&pod) {
            let Some((flag, value)) = arg.split_once('=') else {
                continue;
            };
            for file in value
                .split(',')
                .filter(|v| v.starts_with("/etc/kubernetes/"))
            {
                assert!(
                    init.path(file).is_file(),
                    "{manifest}: {flag}={file} does not exist"
                );
            }
        }
    }
}

fn container_command(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"][0]["command"]
        .as_sequence()
        .expect("the manifest's container has a command")
        .iter()
        .map(|a| a.as_str().expect("string argument").to_string())
        .collect()
}

// ---- what init prints -------------------------------------------------------------------------

/// The pin of a CA as openssl computes it: SHA-256 over the DER SubjectPublicKeyInfo.
fn openssl_ca_hash(ca: &Path) -> String {
    let spki = tool("openssl", &["x509", "-noout", "-pubkey", "-in", p(ca)]);
    assert!(spki.status.success(), "{}", text(&spki.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    let pub_pem = dir.path().join("ca.pub");
    fs::write(&pub_pem, &spki.stdout).expect("write public key");
    let der = dir.path().join("ca.pub.der");
    let out = tool(
        "openssl",
        &[
            "pkey",
            "-pubin",
            "-in",
            p(&pub_pem),
            "-outform",
            "DER",
            "-out",
            p(&der),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tool("openssl", &["dgst", "-sha256", "-r", p(&der)]);
    let digest = text(&out.stdout);
    format!(
        "sha256:{}",
        digest.split_whitespace().next().expect("digest")
    )
}

/// In a dry run the user's text (token line, closing message, join commands) is printed as
/// YAML comments between and after the objects.
fn yaml_part(stdout: &str) -> String {
    assert!(
        stdout.contains("\n# Your Kubernetes control-plane has initialized successfully!"),
        "the closing message, as a comment:\n{stdout}"
    );
    stdout.to_string()
}

fn documents(yaml: &str) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for (i, doc) in yaml.split("\n---\n").enumerate() {
        let doc = doc.strip_prefix("---\n").unwrap_or(doc);
        if doc.trim().is_empty() {
            continue;
        }
        let value: Value = serde_yaml::from_str(doc)
            .unwrap_or_else(|e| panic!("document {} is not YAML: {e}\n{doc}", i + 1));
        docs.push((doc.to_string(), value));
    }
    docs
}

#[test]
fn dry_run_prints_every_object_with_secrets_redacted_and_the_join_command() {
    let init = init_dry_run(&fs::read_to_string(EXAMPLE).expect("read the example"));
    let docs = documents(&yaml_part(&init.stdout));

    let mut objects: BTreeMap<String, Value> = BTreeMap::new();
    let mut patches = Vec::new();
    for (source, doc) in &docs {
        if source.starts_with("# PATCH ") {
            patches.push(source.lines().next().unwrap_or("").to_string());
            continue;
        }
        let field = |f: &str| doc[f].as_str().map(String::from);
        let (Some(_), Some(kind), Some(name)) = (
            field("apiVersion"),
            field("kind"),
            doc["metadata"]["name"].as_str(),
        ) else {
            panic!("not an API object:\n{source}");
        };
        let namespace = doc["metadata"]["namespace"].as_str().unwrap_or("");
        let key = format!("{kind} {namespace}/{name}");
        assert!(
            objects.insert(key.clone(), doc.clone()).is_none(),
            "{key} printed twice"
        );
    }
    assert_eq!(
        patches,
        [format!(
            "# PATCH /api/v1/nodes/{NODE} (application/merge-patch+json)"
        )]
    );
    for key in [
        "ConfigMap kube-system/kubeadm-config",
        "ConfigMap kube-system/kubelet-config",
        "Secret kube-system/bootstrap-token-abcdef",
        "ConfigMap kube-public/cluster-info",
        "ClusterRoleBinding /kubeadm:kubelet-bootstrap",
        "ClusterRoleBinding /kubeadm:node-autoapprove-bootstrap",
        "ClusterRoleBinding /kubeadm:node-autoapprove-certificate-rotation",
        "Deployment kube-system/coredns",
        "Service kube-system/kube-dns",
        "DaemonSet kube-system/kube-proxy",
        "ConfigMap kube-system/kube-proxy",
    ] {
        assert!(
            objects.contains_key(key),
            "{key} missing from {:?}",
            objects.keys()
        );
    }

    // Secrets: every value redacted, nothing in clear.
    let redacted = STANDARD.encode("<redacted>");
    for (key, secret) in objects.iter().filter(|(k, _)| k.starts_with("Secret ")) {
        assert!(secret.get("stringData").is_none(), "{key}");
        let data = secret["data"].as_mapping().expect("Secret data");
        assert!(!data.is_empty(), "{key}");
        for (field, value) in data {
            assert_eq!(value.as_str(), Some(redacted.as_str()), "{key} {field:?}");
        }
    }
    assert!(!init.stdout.contains(&STANDARD.encode(TOKEN_SECRET)));

    // cluster-info publishes the CA on disk and the control-plane endpoint.
    let cluster_info = &objects["ConfigMap kube-public/cluster-info"];
    let kubeconfig: Value = serde_yaml::from_str(
        cluster_info["data"]["kubeconfig"]
            .as_str()
            .expect("cluster-info kubeconfig"),
    )
    .expect("cluster-info kubeconfig is YAML");
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    assert_eq!(
        cluster["server"].as_str(),
        Some(&*format!("https://{ENDPOINT}"))
    );
    let ca = STANDARD
        .decode(cluster["certificate-authority-data"].as_str().unwrap_or(""))
        .expect("base64 CA");
    assert_eq!(ca, fs::read(init.pki("ca.crt")).expect("ca.crt"));

    // The join commands, pinned to the CA on disk as openssl hashes it.
    let pin = openssl_ca_hash(&init.pki("ca.crt"));
    let join = format!(
        "kubeadm join {ENDPOINT} --token {TOKEN} \\\n# \t--discovery-token-ca-cert-hash {pin}"
    );
    assert!(
        init.stdout
            .contains(&format!("{join} \\\n# \t--control-plane")),
        "no control-plane join command with {pin}:\n{}",
        init.stdout
    );
    assert!(
        init.stdout.trim_end().ends_with(&join),
        "no worker join command with {pin} at the end:\n{}",
        init.stdout
    );
    // The token secret is printed only in the join commands, and never logged.
    assert!(
        init.stdout.contains("Using token: abcdef.<redacted>"),
        "{}",
        init.stdout
    );
    for line in init.stdout.lines().filter(|l| l.contains(TOKEN_SECRET)) {
        assert!(line.contains("kubeadm join "), "token secret in {line:?}");
    }
    assert!(!init.stderr.contains(TOKEN_SECRET), "{}", init.stderr);
}

#[test]
fn upload_certs_run_alone_shows_the_key_it_generated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let phase = |config: &Path| {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_kubeboot"))
                .args([
                    "init",
                    "phase",
                    "upload-certs",
                    "--upload-certs",
                    "--dry-run",
                ])
                .arg("--config")
                .arg(config)
                .arg("--root")
                .arg(dir.path()),
            COMMAND_TIMEOUT,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let stdout = phase(Path::new(EXAMPLE));
    assert!(!stdout.contains("not shown here"), "{stdout}");
    let (_, key) = stdout
        .split_once("[upload-certs] Using certificate key:\n")
        .unwrap_or_else(|| panic!("no key shown:\n{stdout}"));
    let key = key.lines().next().unwrap_or_default();
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key:?}"
    );
    // A key the user gave is not echoed back.
    let given = "ab".repeat(32);
    let config = dir.path().join("with-key.yaml");
    let example = fs::read_to_string(EXAMPLE).expect("read the example");
    let with_key = example.replacen(
        "kind: InitConfiguration\n",
        &format!("kind: InitConfiguration\ncertificateKey: {given}\n"),
        1,
    );
    fs::write(&config, with_key).expect("write config");
    let stdout = phase(&config);
    assert!(!stdout.contains("certificate key"), "{stdout}");
    assert!(!stdout.contains(&given), "{stdout}");
}

#[test]
fn dry_run_stdout_is_one_yaml_stream() {
    let init = init_dry_run(&fs::read_to_string(EXAMPLE).expect("read the example"));
    for (i, doc) in serde_yaml::Deserializer::from_str(&init.stdout).enumerate() {
        if let Err(e) = Value::deserialize(doc) {
            panic!(
                "stdout document {} is not YAML: {e}\n{}",
                i + 1,
                init.stdout
            );
        }
    }
    assert!(init.stdout.contains(&format!("--token {TOKEN}")));
}

// ---- the generated etcd manifest, run by the real etcd ----------------------------------------

/// A running etcd started from the manifest, killed (only this child) when dropped.
struct ManifestEtcd {
    child: Child,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl ManifestEtcd {
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_healthy(&mut self, metrics_port: u16) {
        let url = format!("http://127.0.0.1:{metrics_port}/health");
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .proxy(None)
            .build()
            .new_agent();
        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("etcd exited with {status}:\n{}", self.log_tail());
            }
            let healthy = agent
                .get(&url)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .is_some_and(|body| body.contains(r#""health":"true""#));
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd not healthy within {ETCD_START_TIMEOUT:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ManifestEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags the installed etcd accepts, from its `--help`.
fn known_etcd_flags(etcd: &Path) -> BTreeSet<String> {
    let out = tool(p(etcd), &["--help"]);
    let help = text(&out.stdout) + &text(&out.stderr);
    let flags: BTreeSet<String> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|f| f.split('=').next().unwrap_or(f).to_string())
        .collect();
    assert!(
        flags.contains("cert-file"),
        "cannot read etcd --help:\n{help}"
    );
    flags
}

/// The loopback ports that stand in for kubeadm's 2379 (client), 2380 (peer), 2381 (metrics).
struct Ports {
    client: u16,
    peer: u16,
    metrics: u16,
}

/// `scheme://<any host>:<kubeadm port>` → `scheme://127.0.0.1:<free port>`.
fn loopback_url(url: &str, ports: &Ports) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{url:?} is not a URL"));
    let (_, port) = rest
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url:?} has no port"));
    let port = match port {
        "2379" => ports.client,
        "2380" => ports.peer,
        "2381" => ports.metrics,
        other => panic!("{url:?}: unexpected etcd port {other}"),
    };
    format!("{scheme}://127.0.0.1:{port}")
}

/// The manifest's etcd command, made runnable here: certificate paths under the root, the
/// data dir in `data_dir`, every URL on 127.0.0.1 with free ports, and flags this etcd does
/// not know translated to its `experimental-` forms (printed). Any other unknown flag fails.
fn runnable_etcd_args(
    command: &[String],
    root: &Path,
    data_dir: &Path,
    ports: &Ports,
    known: &BTreeSet<String>,
) -> Vec<String> {
    assert_eq!(command.first().map(String::as_str), Some("etcd"));
    let pki_dir = root.join("etc/kubernetes/pki");
    let mut args = Vec::new();
    for arg in &command[1..] {
        let (flag, value) = arg
            .strip_prefix("--")
            .and_then(|a| a.split_once('='))
            .unwrap_or_else(|| panic!("etcd argument {arg:?} is not --flag=value"));
        let value = match flag {
            "data-dir" => data_dir.display().to_string(),
            "listen-client-urls"
            | "advertise-client-urls"
            | "listen-peer-urls"
            | "initial-advertise-peer-urls"
            | "listen-metrics-urls" => {
                let mut urls: Vec<String> = Vec::new();
                for url in value.split(',').map(|u| loopback_url(u, ports)) {
                    if !urls.contains(&url) {
                        urls.push(url);
                    }
                }
                urls.join(",")
            }
            "initial-cluster" => value
                .split(',')
                .map(|member| {
                    let (name, url) = member
                        .split_once('=')
                        .unwrap_or_else(|| panic!("initial-cluster entry {member:?}"));
                    format!("{name}={}", loopback_url(url, ports))
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => value.replace("/etc/kubernetes/pki", p(&pki_dir)),
        };
        let (flag, value) = if known.contains(flag) {
            (flag.to_string(), value)
        } else {
            let translated = match (flag, value.as_str()) {
                ("feature-gates", "InitialCorruptCheck=true") => (
                    "experimental-initial-corrupt-check".to_string(),
                    "true".to_string(),
                ),
                ("watch-progress-notify-interval", _) => (
                    "experimental-watch-progress-notify-interval".to_string(),
                    value.clone(),
                ),
                _ => panic!(
                    "the etcd manifest has --{flag}={value}, which this etcd does not know \
                     and this test cannot translate"
                ),
            };
            println!(
                "etcd 3.4: --{flag}={value} given as --{}={}",
                translated.0, translated.1
            );
            assert!(known.contains(&translated.0), "{}", translated.0);
            translated
        };
        args.push(format!("--{flag}={value}"));
    }
    args
}

fn start_etcd_from_manifest(init: &Init) -> (ManifestEtcd, Ports) {
    let manifest_path = init.path("/etc/kubernetes/manifests/etcd.yaml");
    let pod: Value =
        serde_yaml::from_str(&fs::read_to_string(&manifest_path).expect("read etcd.yaml"))
            .expect("etcd.yaml is YAML");
    let command = container_command(&pod);
    // Mutual TLS on both ports is the manifest's promise; the test relies on it below.
    for flag in [
        "--client-cert-auth=true",
        "--peer-client-cert-auth=true",
        "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
        "--key-file=/etc/kubernetes/pki/etcd/server.key",
        "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
        "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
        "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
        "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
    ] {
        assert!(command.iter().any(|a| a == flag), "etcd.yaml lacks {flag}");
    }
    let etcd = support_etcd::etcd_binary();
    let ports = Ports {
        client: support_etcd::free_port(),
        peer: support_etcd::free_port(),
        metrics: support_etcd::free_port(),
    };
    let data = tempfile::tempdir().expect("tempdir for etcd");
    let args = runnable_etcd_args(
        &command,
        &init.root,
        &data.path().join("data"),
        &ports,
        &known_etcd_flags(&etcd),
    );
    let log = data.path().join("etcd.log");
    let log_file = fs::File::create(&log).expect("etcd log");
    let child = Command::new(&etcd)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file)
        .spawn()
        .expect("spawn etcd");
    let mut running = ManifestEtcd {
        child,
        log,
        _data: data,
    };
    running.wait_healthy(ports.metrics);
    (running, ports)
}

/// The command timeout of an etcdctl call that should succeed.
const ETCDCTL_TIMEOUT: &str = "5s";
/// etcdctl retries a refused handshake until its command timeout: this bounds each refusal.
const REFUSAL_TIMEOUT: &str = "1s";

/// etcdctl against `endpoint`, with the etcd CA and, if given, a client pair from the PKI.
fn etcdctl(
    init: &Init,
    endpoint: &str,
    client: Option<&str>,
    timeout: &str,
    args: &[&str],
) -> Output {
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", init.pki("etcd/ca.crt").display()))
        .arg("--dial-timeout=2s")
        .arg(format!("--command-timeout={timeout}"));
    if let Some(client) = client {
        cmd.arg(format!(
            "--cert={}",
            init.pki(&format!("{client}.crt")).display()
        ))
        .arg(format!(
            "--key={}",
            init.pki(&format!("{client}.key")).display()
        ));
    }
    run_bounded(cmd.args(args), COMMAND_TIMEOUT)
}

fn check_etcd(init: &Init) {
    let (etcd, ports) = start_etcd_from_manifest(init);
    let endpoint = format!("https://127.0.0.1:{}", ports.client);
    let fail = |what: &str, out: &Output| {
        panic!(
            "{what}: {}{}\netcd log:\n{}",
            text(&out.stdout),
            text(&out.stderr),
            etcd.log_tail()
        )
    };

    // The probe identity (the healthcheck client) and the API server's identity both work.
    let out = etcdctl(
        init,
        &endpoint,
        Some("etcd/healthcheck-client"),
        ETCDCTL_TIMEOUT,
        &["endpoint", "health"],
    );
    if !out.status.success() || !(text(&out.stdout) + &text(&out.stderr)).contains("is healthy") {
        fail("endpoint health with etcd/healthcheck-client", &out);
    }
    let key = "/registry/kubeboot-e2e";
    let out = etcdctl(
        init,
        &endpoint,
        Some("apiserver-etcd-client"),
        ETCDCTL_TIMEOUT,
        &["put", key, "kubeboot"],
    );
    if !out.status.success() || text(&out.stdout).trim() != "OK" {
        fail("put with apiserver-etcd-client", &out);
    }
    let out = etcdctl(
        init,
        &endpoint,
        Some("apiserver-etcd-client"),
        ETCDCTL_TIMEOUT,
        &["get", key],
    );
    if !out.status.success() || text(&out.stdout) != format!("{key}\nkubeboot\n") {
        fail("get with apiserver-etcd-client", &out);
    }

    // Mutual TLS: etcd itself rejects a client without a certificate, and one whose
    // certificate comes from the cluster CA (the client only sees a deadline, so a short one).
    for (client, reason) in [
        (None, "client didn't provide a certificate"),
        (
            Some("apiserver-kubelet-client"),
            "x509: certificate signed by unknown authority",
        ),
    ] {
        let out = etcdctl(init, &endpoint, client, REFUSAL_TIMEOUT, &["get", key]);
        assert!(
            !out.status.success(),
            "etcd served a client with {client:?}: {}",
            text(&out.stdout)
        );
        let log = fs::read_to_string(&etcd.log).unwrap_or_default();
        assert!(
            log.lines()
                .any(|l| l.contains("rejected connection") && l.contains(reason)),
            "etcd did not reject {client:?} for {reason:?}:\n{}",
            etcd.log_tail()
        );
    }

    // The peer port serves the peer certificate, for 127.0.0.1, to a peer presenting its own.
    let out = tool(
        "openssl",
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", ports.peer),
            "-CAfile",
            p(&init.pki("etcd/ca.crt")),
            "-cert",
            p(&init.pki("etcd/peer.crt")),
            "-key",
            p(&init.pki("etcd/peer.key")),
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
        ],
    );
    if !out.status.success() || !text(&out.stdout).contains("Verify return code: 0 (ok)") {
        fail("openssl s_client to the peer port", &out);
    }
    drop(etcd);
}

// ---- everything, per algorithm ------------------------------------------------------------------

fn check_init(algorithm: Algorithm) {
    let config = match algorithm {
        Algorithm::EcdsaP256 => fs::read_to_string(EXAMPLE).expect("read the example"),
        Algorithm::Rsa2048 => example_with_algorithm("RSA-2048"),
    };
    let init = init_dry_run(&config);
    check_pki(&init, algorithm);
    check_kubeconfigs(&init);
    check_manifests(&init);
    check_etcd(&init);
    assert!(!init.stderr.contains(TOKEN_SECRET), "{}", init.stderr);
}

#[test]
fn ecdsa_p256_example_makes_a_pki_openssl_kubectl_and_etcd_accept() {
    check_init(Algorithm::EcdsaP256);
}

#[test]
fn rsa_2048_example_makes_a_pki_openssl_kubectl_and_etcd_accept() {
    check_init(Algorithm::Rsa2048);
}

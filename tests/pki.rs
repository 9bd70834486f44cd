//! The certs phase against openssl: every chain verifies, every certificate says what kubeadm's
//! says, existing and user-supplied material is reused, external CA mode writes nothing.

#[path = "fixtures/pki/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kubeboot::ExitCode;
use kubeboot::config::model::{EncryptionAlgorithm, Etcd, ExternalEtcd, InitConfiguration};
use kubeboot::fs::Root;
use kubeboot::pki::{self, Ca, CertConfig, ExtKeyUsage};
use support::{field_after, init_config, openssl, subject, verifies, x509_text};
use time::OffsetDateTime;

const SERVER: &str = "TLS Web Server Authentication";
const CLIENT: &str = "TLS Web Client Authentication";
const BOTH: &str = "TLS Web Server Authentication, TLS Web Client Authentication";

/// (base name, signing CA base name, subject as openssl prints it, extended key usage)
const EXPECTED: [(&str, Option<&str>, &str, Option<&str>); 10] = [
    ("ca", None, "CN = kubernetes", None),
    ("apiserver", Some("ca"), "CN = kube-apiserver", Some(SERVER)),
    (
        "apiserver-kubelet-client",
        Some("ca"),
        "O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client",
        Some(CLIENT),
    ),
    ("front-proxy-ca", None, "CN = front-proxy-ca", None),
    (
        "front-proxy-client",
        Some("front-proxy-ca"),
        "CN = front-proxy-client",
        Some(CLIENT),
    ),
    ("etcd/ca", None, "CN = etcd-ca", None),
    ("etcd/server", Some("etcd/ca"), "CN = node1", Some(BOTH)),
    ("etcd/peer", Some("etcd/ca"), "CN = node1", Some(BOTH)),
    (
        "etcd/healthcheck-client",
        Some("etcd/ca"),
        "CN = kube-etcd-healthcheck-client",
        Some(CLIENT),
    ),
    (
        "apiserver-etcd-client",
        Some("etcd/ca"),
        "CN = kube-apiserver-etcd-client",
        Some(CLIENT),
    ),
];

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn pki_dir(root: &Root) -> PathBuf {
    root.path("/etc/kubernetes/pki")
}

fn crt(root: &Root, base: &str) -> PathBuf {
    pki_dir(root).join(format!("{base}.crt"))
}

fn key(root: &Root, base: &str) -> PathBuf {
    pki_dir(root).join(format!("{base}.key"))
}

fn file_mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under the pki directory with its content.
fn snapshot(root: &Root) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let base = pki_dir(root);
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(&base).unwrap().display().to_string();
                out.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn generate(alg: EncryptionAlgorithm) -> (tempfile::TempDir, Root, InitConfiguration) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = init_config(alg, "192.168.10.5");
    pki::create_init_pki(&root, &cfg, None).unwrap();
    (dir, root, cfg)
}

/// openssl's `-dates` form: `Nov 23 11:25:28 2026 GMT`.
fn openssl_date(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    t.format(&format).unwrap()
}

fn assert_every_chain_verifies(root: &Root) {
    for (base, ca, _, _) in EXPECTED {
        let ca = ca.unwrap_or(base);
        assert!(
            verifies(&crt(root, ca), &crt(root, base)),
            "{base} does not verify against {ca}"
        );
    }
}

#[test]
fn default_rsa_set_matches_kubeadm() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let mut cfg = init_config(EncryptionAlgorithm::Rsa2048, "192.168.10.5");
    cfg.cluster.control_plane_endpoint = Some("cp.example.com:6443".into());
    cfg.cluster.api_server.cert_sans = [
        "10.0.0.9",
        "extra.example.com",
        "*.wild.example.com",
        "Bad_SAN",
    ]
    .map(String::from)
    .to_vec();
    if let Etcd::Local(local) = &mut cfg.cluster.etcd {
        local.server_cert_sans = vec!["etcd.example.com".into()];
        local.peer_cert_sans = vec!["10.1.1.1".into()];
    }
    let start = now();
    pki::create_init_pki_at(&root, &cfg, None, start).unwrap();

    let files: Vec<String> = snapshot(&root).into_keys().collect();
    let mut expected: Vec<String> = EXPECTED
        .iter()
        .flat_map(|(base, ..)| [format!("{base}.crt"), format!("{base}.key")])
        .chain(["sa.key".to_string(), "sa.pub".to_string()])
        .collect();
    expected.sort();
    assert_eq!(files, expected);

    assert_every_chain_verifies(&root);
    let mut serials = Vec::new();
    for (base, ca, want_subject, eku) in EXPECTED {
        let text = x509_text(&crt(&root, base));
        assert_eq!(subject(&text), want_subject, "{base}");
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{base}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{base}");
        let usage = field_after(&text, "X509v3 Key Usage: critical").unwrap();
        let basic = field_after(&text, "X509v3 Basic Constraints: critical").unwrap();
        if ca.is_none() {
            assert_eq!(
                usage,
                "Digital Signature, Key Encipherment, Certificate Sign"
            );
            assert_eq!(basic, "CA:TRUE");
            assert!(!text.contains("Extended Key Usage"), "{base}");
        } else {
            assert_eq!(usage, "Digital Signature, Key Encipherment", "{base}");
            assert_eq!(basic, "CA:FALSE", "{base}");
            assert_eq!(
                field_after(&text, "X509v3 Extended Key Usage").as_deref(),
                eku
            );
            assert!(text.contains("X509v3 Authority Key Identifier"), "{base}");
        }
        let dates = openssl(&[
            "x509",
            "-noout",
            "-dates",
            "-in",
            crt(&root, base).to_str().unwrap(),
        ]);
        let years = if ca.is_none() { 3650 } else { 365 };
        let not_before = start - time::Duration::minutes(5);
        let not_after = start + time::Duration::days(years);
        assert!(
            dates.contains(&format!("notBefore={}", openssl_date(not_before))),
            "{base}: {dates}"
        );
        assert!(
            dates.contains(&format!("notAfter={}", openssl_date(not_after))),
            "{base}: {dates}"
        );
        let serial = openssl(&[
            "x509",
            "-noout",
            "-serial",
            "-in",
            crt(&root, base).to_str().unwrap(),
        ]);
        assert_ne!(serial.trim(), "serial=00", "{base}");
        serials.push(serial);

        let key_pem = fs::read_to_string(key(&root, base)).unwrap();
        assert!(
            key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{base}"
        );
        assert_eq!(file_mode(&key(&root, base)), 0o600, "{base}");
        assert_eq!(file_mode(&crt(&root, base)), 0o644, "{base}");
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), EXPECTED.len(), "serials must be unique");

    // SANs, in kubeadm's order: DNS names sorted, IPs in the order kubeadm appends them.
    let sans =
        |base| field_after(&x509_text(&crt(&root, base)), "Subject Alternative Name").unwrap();
    assert_eq!(
        sans("apiserver"),
        "DNS:*.wild.example.com, DNS:cp.example.com, DNS:extra.example.com, DNS:kubernetes, \
         DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, \
         DNS:node1, IP Address:10.96.0.1, IP Address:192.168.10.5, IP Address:10.0.0.9"
    );
    assert_eq!(
        sans("etcd/server"),
        "DNS:etcd.example.com, DNS:localhost, DNS:node1, IP Address:192.168.10.5, \
         IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    );
    assert_eq!(
        sans("etcd/peer"),
        "DNS:localhost, DNS:node1, IP Address:192.168.10.5, IP Address:127.0.0.1, \
         IP Address:0:0:0:0:0:0:0:1, IP Address:10.1.1.1"
    );
    assert_eq!(sans("ca"), "DNS:kubernetes");

    // sa.key signs service account tokens; sa.pub is its PKIX public key, both 0600.
    let sa_key = pki_dir(&root).join("sa.key");
    let sa_pub = pki_dir(&root).join("sa.pub");
    assert_eq!(file_mode(&sa_key), 0o600);
    assert_eq!(file_mode(&sa_pub), 0o600);
    let derived = openssl(&["pkey", "-in", sa_key.to_str().unwrap(), "-pubout"]);
    assert_eq!(derived, fs::read_to_string(&sa_pub).unwrap());

    assert_eq!(file_mode(&pki_dir(&root)), 0o700);
    assert_eq!(file_mode(&pki_dir(&root).join("etcd")), 0o700);
}

#[test]
fn ecdsa_p256_set_verifies_and_a_second_run_changes_nothing() {
    let (_dir, root, cfg) = generate(EncryptionAlgorithm::EcdsaP256);
    assert_every_chain_verifies(&root);
    for (base, ..) in EXPECTED {
        let text = x509_text(&crt(&root, base));
        assert!(text.contains("NIST CURVE: P-256"), "{base}");
        assert!(
            text.contains("Signature Algorithm: ecdsa-with-SHA256"),
            "{base}"
        );
        let key_pem = fs::read_to_string(key(&root, base)).unwrap();
        assert!(
            key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"),
            "{base}"
        );
        openssl(&[
            "ec",
            "-check",
            "-noout",
            "-in",
            key(&root, base).to_str().unwrap(),
        ]);
    }
    let sa = fs::read_to_string(pki_dir(&root).join("sa.key")).unwrap();
    assert!(sa.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));

    let before = snapshot(&root);
    pki::create_init_pki(&root, &cfg, None).unwrap();
    assert_eq!(snapshot(&root), before);
}

#[test]
fn rsa3072_and_p384_sets_verify() {
    for (alg, key_text, sig) in [
        (
            EncryptionAlgorithm::Rsa3072,
            "Public-Key: (3072 bit)",
            "sha256WithRSAEncryption",
        ),
        (
            EncryptionAlgorithm::EcdsaP384,
            "NIST CURVE: P-384",
            "ecdsa-with-SHA384",
        ),
    ] {
        let (_dir, root, _) = generate(alg);
        assert_every_chain_verifies(&root);
        for (base, ..) in EXPECTED {
            let text = x509_text(&crt(&root, base));
            assert!(text.contains(key_text), "{base}");
            assert!(
                text.contains(&format!("Signature Algorithm: {sig}")),
                "{base}"
            );
        }
    }
}

#[test]
fn rsa4096_single_phases_create_only_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = init_config(EncryptionAlgorithm::Rsa4096, "192.168.10.5");
    // A certificate phase needs its CA first.
    let err = pki::create_init_pki(&root, &cfg, Some("apiserver")).unwrap_err();
    assert!(err.to_string().contains("ca.crt is missing"), "{err}");
    pki::create_init_pki(&root, &cfg, Some("ca")).unwrap();
    pki::create_init_pki(&root, &cfg, Some("apiserver")).unwrap();
    let files: Vec<String> = snapshot(&root).into_keys().collect();
    assert_eq!(
        files,
        ["apiserver.crt", "apiserver.key", "ca.crt", "ca.key"]
    );
    assert!(verifies(&crt(&root, "ca"), &crt(&root, "apiserver")));
    assert!(x509_text(&crt(&root, "apiserver")).contains("Public-Key: (4096 bit)"));
    let err = pki::create_init_pki(&root, &cfg, Some("bogus")).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

#[test]
fn skipped_phases_are_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let mut cfg = init_config(EncryptionAlgorithm::EcdsaP256, "192.168.10.5");
    cfg.skip_phases = vec!["certs/sa".into(), "certs/etcd-peer".into()];
    pki::create_init_pki(&root, &cfg, None).unwrap();
    let files = snapshot(&root);
    assert!(!files.contains_key("sa.key"));
    assert!(!files.contains_key("etcd/peer.crt"));
    assert!(files.contains_key("etcd/server.crt"));
    cfg.skip_phases = vec!["certs".into()];
    let empty = tempfile::tempdir().unwrap();
    pki::create_init_pki(&Root::new(empty.path()), &cfg, None).unwrap();
    assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
}

/// Writes a CA made by openssl into the pki directory.
fn install(root: &Root, base: &str, key_pem: &Path, cert_pem: &Path) {
    let (k, c) = (key(root, base), crt(root, base));
    fs::create_dir_all(c.parent().unwrap()).unwrap();
    fs::copy(key_pem, k).unwrap();
    fs::copy(cert_pem, c).unwrap();
}

fn openssl_ca(dir: &Path, name: &str, genkey: &[&str], subj: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let mut args = genkey.to_vec();
    args.extend(["-out", key.to_str().unwrap()]);
    openssl(&args);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        subj,
        "-days",
        "30",
        "-multivalue-rdn",
        "-out",
        cert.to_str().unwrap(),
    ]);
    (key, cert)
}

#[test]
fn user_supplied_cas_in_every_key_format_sign_the_set() {
    let work = tempfile::tempdir().unwrap();
    let (ca_key, ca_crt) = openssl_ca(
        work.path(),
        "ca",
        &["genrsa", "-traditional"],
        "/CN=my-kubernetes-root",
    );
    assert!(
        fs::read_to_string(&ca_key)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    // `openssl ecparam -genkey` writes an EC PARAMETERS block before the SEC1 key.
    let (etcd_key, etcd_crt) = openssl_ca(
        work.path(),
        "etcd",
        &["ecparam", "-name", "prime256v1", "-genkey"],
        "/CN=my-etcd-root",
    );
    assert!(
        fs::read_to_string(&etcd_key)
            .unwrap()
            .contains("BEGIN EC PARAMETERS")
    );
    let (fp_key, fp_crt) = openssl_ca(
        work.path(),
        "fp",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
        ],
        "/CN=my-front-proxy-root",
    );
    assert!(
        fs::read_to_string(&fp_key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );

    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    install(&root, "ca", &ca_key, &ca_crt);
    install(&root, "etcd/ca", &etcd_key, &etcd_crt);
    install(&root, "front-proxy-ca", &fp_key, &fp_crt);
    let cfg = init_config(EncryptionAlgorithm::Rsa2048, "192.168.10.5");
    pki::create_init_pki(&root, &cfg, None).unwrap();

    // The user's files are untouched and sign everything.
    assert_eq!(
        fs::read(crt(&root, "ca")).unwrap(),
        fs::read(&ca_crt).unwrap()
    );
    assert_eq!(
        fs::read(key(&root, "ca")).unwrap(),
        fs::read(&ca_key).unwrap()
    );
    assert_every_chain_verifies(&root);
    let issuer = openssl(&[
        "x509",
        "-noout",
        "-issuer",
        "-in",
        crt(&root, "apiserver").to_str().unwrap(),
    ]);
    assert_eq!(issuer.trim(), "issuer=CN = my-kubernetes-root");
    let text = x509_text(&crt(&root, "etcd/server"));
    assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"));
    let text = x509_text(&crt(&root, "front-proxy-client"));
    assert!(text.contains("Signature Algorithm: ecdsa-with-SHA384"));
}

/// Go chains certificates by comparing issuer and subject bytes, so names rcgen cannot model
/// (repeated attributes, multi-valued RDNs) must still be copied exactly.
#[test]
fn unusual_ca_names_are_copied_byte_for_byte() {
    for subj in [
        "/DC=com/DC=example/CN=kubernetes",
        "/O=acme+OU=platform/CN=kubernetes",
    ] {
        let work = tempfile::tempdir().unwrap();
        let (ca_key, ca_crt) = openssl_ca(work.path(), "ca", &["genrsa"], subj);
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        install(&root, "ca", &ca_key, &ca_crt);
        let cfg = init_config(EncryptionAlgorithm::EcdsaP256, "192.168.10.5");
        pki::create_init_pki(&root, &cfg, Some("apiserver")).unwrap();
        assert!(
            verifies(&crt(&root, "ca"), &crt(&root, "apiserver")),
            "{subj}"
        );
        let ca_der = pem_der(&crt(&root, "ca"));
        let leaf_der = pem_der(&crt(&root, "apiserver"));
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
        assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw(), "{subj}");
    }
}

fn pem_der(path: &Path) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(path)
        .output()
        .unwrap();
    out.stdout
}

#[test]
fn external_ca_mode_checks_everything_and_writes_nothing() {
    let (_full_dir, full, cfg) = generate(EncryptionAlgorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    // Everything the user would supply, except the CA key and the API server certificate.
    for (name, data) in snapshot(&full) {
        if name == "ca.key" || name == "apiserver.crt" {
            continue;
        }
        let path = pki_dir(&root).join(&name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
    let before = snapshot(&root);
    let err = pki::create_init_pki(&root, &cfg, None).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    let text = err.to_string();
    assert!(
        text.contains("/etc/kubernetes/pki/apiserver.crt is missing"),
        "{text}"
    );
    assert!(text.contains("external CA mode"), "{text}");
    assert_eq!(snapshot(&root), before, "nothing may be written");

    // With the certificate supplied, the phase succeeds and still writes nothing.
    fs::copy(crt(&full, "apiserver"), crt(&root, "apiserver")).unwrap();
    assert_eq!(pki::external_cas(&root, &cfg).unwrap(), ["ca"]);
    let before = snapshot(&root);
    pki::create_init_pki(&root, &cfg, None).unwrap();
    assert_eq!(snapshot(&root), before);

    // The service account keys cannot be made without the CA key's owner either.
    fs::remove_file(pki_dir(&root).join("sa.pub")).unwrap();
    let err = pki::create_init_pki(&root, &cfg, None).unwrap_err();
    assert!(err.to_string().contains("sa.pub is missing"), "{err}");
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_a_config_error() {
    let (_dir, root, cfg) = generate(EncryptionAlgorithm::EcdsaP256);
    fs::copy(key(&root, "front-proxy-ca"), key(&root, "ca")).unwrap();
    let err = pki::create_init_pki(&root, &cfg, None).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string()
            .contains("ca.key does not belong to /etc/kubernetes/pki/ca.crt"),
        "{err}"
    );
    assert!(!err.to_string().contains("PRIVATE KEY"));
}

#[test]
fn an_expired_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let t = now();
    let key = pki::generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
    let ca = Ca::self_signed(
        "kubernetes",
        key,
        t - time::Duration::days(20),
        t - time::Duration::days(10),
    )
    .unwrap();
    let pki_path = Path::new("/etc/kubernetes/pki");
    pki::write_certificate(&root, &pki_path.join("ca.crt"), ca.cert()).unwrap();
    pki::write_key(&root, &pki_path.join("ca.key"), ca.key()).unwrap();
    let cfg = init_config(EncryptionAlgorithm::EcdsaP256, "192.168.10.5");
    let err = pki::create_init_pki(&root, &cfg, None).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(err.to_string().contains("ca.crt expired on"), "{err}");
    assert!(pki::load_ca(&root, pki_path, "ca").is_err());
}

#[test]
fn existing_certificates_must_chain_to_the_ca_and_cover_the_node() {
    let (_dir, root, mut cfg) = generate(EncryptionAlgorithm::EcdsaP256);

    // A new advertise address is not in the existing API server certificate.
    cfg.local_api_endpoint.advertise_address = Some("192.168.10.99".parse().unwrap());
    let err = pki::create_init_pki(&root, &cfg, Some("apiserver")).unwrap_err();
    assert!(
        err.to_string()
            .contains("apiserver.crt is not valid for IP address 192.168.10.99"),
        "{err}"
    );
    cfg.local_api_endpoint.advertise_address = Some("192.168.10.5".parse().unwrap());

    // An API server certificate signed by another CA.
    let other = pki::load_ca(&root, Path::new("/etc/kubernetes/pki"), "front-proxy-ca")
        .unwrap()
        .unwrap();
    let leaf_key = pki::generate_key(EncryptionAlgorithm::EcdsaP256).unwrap();
    let t = now();
    let leaf = other
        .issue(
            &CertConfig {
                common_name: "kube-apiserver".into(),
                organization: vec![],
                alt_names: pki::AltNames::default(),
                usages: vec![ExtKeyUsage::ServerAuth],
                not_before: t,
                not_after: t + time::Duration::days(1),
            },
            &leaf_key,
        )
        .unwrap();
    let pki_path = Path::new("/etc/kubernetes/pki");
    pki::write_certificate(&root, &pki_path.join("apiserver.crt"), &leaf).unwrap();
    pki::write_key(&root, &pki_path.join("apiserver.key"), &leaf_key).unwrap();
    let err = pki::create_init_pki(&root, &cfg, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("apiserver.crt is not signed by the CA in /etc/kubernetes/pki/ca.crt"),
        "{err}"
    );
}

#[test]
fn a_key_left_without_its_certificate_gets_one() {
    let (_dir, root, cfg) = generate(EncryptionAlgorithm::EcdsaP256);
    let key_before = fs::read(key(&root, "apiserver")).unwrap();
    fs::remove_file(crt(&root, "apiserver")).unwrap();
    pki::create_init_pki(&root, &cfg, None).unwrap();
    assert_eq!(fs::read(key(&root, "apiserver")).unwrap(), key_before);
    let cert_pub = openssl(&[
        "x509",
        "-noout",
        "-pubkey",
        "-in",
        crt(&root, "apiserver").to_str().unwrap(),
    ]);
    let key_pub = openssl(&[
        "pkey",
        "-pubout",
        "-in",
        key(&root, "apiserver").to_str().unwrap(),
    ]);
    assert_eq!(cert_pub, key_pub);
    assert!(verifies(&crt(&root, "ca"), &crt(&root, "apiserver")));
}

#[test]
fn external_etcd_gets_no_etcd_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let mut cfg = init_config(EncryptionAlgorithm::EcdsaP256, "192.168.10.5");
    cfg.cluster.etcd = Etcd::External(ExternalEtcd {
        endpoints: vec!["https://10.0.0.5:2379".into()],
        ca_file: "/etc/etcd/ca.crt".into(),
        cert_file: "/etc/etcd/client.crt".into(),
        key_file: "/etc/etcd/client.key".into(),
    });
    pki::create_init_pki(&root, &cfg, None).unwrap();
    let files: Vec<String> = snapshot(&root).into_keys().collect();
    assert!(
        files
            .iter()
            .all(|f| !f.starts_with("etcd/") && !f.starts_with("apiserver-etcd")),
        "{files:?}"
    );
    assert!(files.contains(&"front-proxy-client.crt".to_string()));
    assert!(!pki_dir(&root).join("etcd").exists());
}

#[test]
fn missing_advertise_address_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let mut cfg = init_config(EncryptionAlgorithm::EcdsaP256, "192.168.10.5");
    cfg.local_api_endpoint.advertise_address = None;
    let err = pki::create_init_pki(&root, &cfg, None).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string()
            .contains("localAPIEndpoint.advertiseAddress"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing may be written"
    );
}

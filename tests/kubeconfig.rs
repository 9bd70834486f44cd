//! The kubeconfig phase: kubectl reads every file, each embedded client certificate says what
//! kubeadm's says and is accepted by a TLS server that requires certificates from the CA.

#[path = "fixtures/pki/support.rs"]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kubeboot::ExitCode;
use kubeboot::config::model::{EncryptionAlgorithm, InitConfiguration};
use kubeboot::fs::Root;
use kubeboot::kubeconfig::{self, KubeConfig};
use kubeboot::pki::{self, Certificate, PrivateKey};
use rustls::pki_types::{CertificateDer, ServerName};
use support::{init_config, openssl, subject, verifies};
use time::OffsetDateTime;

/// (file, client subject as openssl prints it, server)
fn expected(local: &str, control_plane: &str) -> [(&'static str, String, String); 5] {
    [
        (
            "admin.conf",
            "O = kubeadm:cluster-admins, CN = kubernetes-admin".into(),
            control_plane.into(),
        ),
        (
            "super-admin.conf",
            "O = system:masters, CN = kubernetes-super-admin".into(),
            control_plane.into(),
        ),
        (
            "kubelet.conf",
            "O = system:nodes, CN = system:node:node1".into(),
            control_plane.into(),
        ),
        (
            "controller-manager.conf",
            "CN = system:kube-controller-manager".into(),
            local.into(),
        ),
        (
            "scheduler.conf",
            "CN = system:kube-scheduler".into(),
            local.into(),
        ),
    ]
}

fn setup() -> (tempfile::TempDir, Root, InitConfiguration) {
    setup_at(OffsetDateTime::now_utc())
}

fn setup_at(now: OffsetDateTime) -> (tempfile::TempDir, Root, InitConfiguration) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let mut cfg = init_config(EncryptionAlgorithm::EcdsaP256, "127.0.0.1");
    cfg.cluster.control_plane_endpoint = Some("cp.example.com".into());
    pki::create_init_pki_at(&root, &cfg, None, now).unwrap();
    kubeconfig::create_init_kubeconfigs_at(&root, &cfg, None, now).unwrap();
    (dir, root, cfg)
}

fn conf(root: &Root, file: &str) -> PathBuf {
    root.path("/etc/kubernetes").join(file)
}

fn ca_path(root: &Root) -> PathBuf {
    root.path("/etc/kubernetes/pki/ca.crt")
}

fn load(root: &Root, file: &str) -> KubeConfig {
    kubeconfig::parse(&fs::read_to_string(conf(root, file)).unwrap()).unwrap()
}

fn client_pems(config: &KubeConfig) -> (Vec<u8>, Vec<u8>) {
    let user = config.current_user().unwrap();
    (
        user.client_certificate_data.clone().unwrap(),
        user.client_key_data.clone().unwrap(),
    )
}

#[test]
fn init_writes_the_five_kubeadm_kubeconfigs() {
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (dir, root, cfg) = setup_at(start);
    let ca_pem = fs::read(ca_path(&root)).unwrap();
    for (file, want_subject, server) in
        expected("https://127.0.0.1:6443", "https://cp.example.com:6443")
    {
        let path = conf(&root, file);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{file}"
        );
        let config = load(&root, file);
        let cluster = config.current_cluster().unwrap();
        assert_eq!(cluster.server, server, "{file}");
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some(ca_pem.as_slice())
        );
        assert_eq!(config.clusters[0].name, "kubernetes");
        let user = &config.contexts[0].context.user;
        assert_eq!(config.current_context, format!("{user}@kubernetes"));

        // The embedded certificate: subject, client auth, signed by the CA, one year.
        let (cert_pem, key_pem) = client_pems(&config);
        assert!(String::from_utf8_lossy(&key_pem).starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let cert_file = dir.path().join(format!("{file}.crt"));
        fs::write(&cert_file, &cert_pem).unwrap();
        let text = support::x509_text(&cert_file);
        assert_eq!(subject(&text), want_subject, "{file}");
        assert_eq!(
            support::field_after(&text, "X509v3 Extended Key Usage").as_deref(),
            Some("TLS Web Client Authentication")
        );
        assert!(verifies(&ca_path(&root), &cert_file), "{file}");
        let cert = Certificate::from_pem(&cert_pem).unwrap();
        let ca = pki::load_certificate(&root, Path::new("/etc/kubernetes/pki/ca.crt"))
            .unwrap()
            .unwrap();
        // kubeadm: the CA's NotBefore (start - 5 minutes), and one year from the start.
        assert_eq!(cert.not_before(), ca.not_before());
        assert_eq!(cert.not_before(), start - time::Duration::minutes(5));
        assert_eq!(cert.not_after(), start + time::Duration::days(365));
        assert!(cert.matches_key(&PrivateKey::from_pem(&key_pem).unwrap()));
    }
    assert_eq!(cfg.cluster.cluster_name, "kubernetes");
}

#[test]
fn kubectl_reads_every_kubeconfig() {
    let kubectl = Path::new("/usr/bin/kubectl");
    if !kubectl.exists() {
        println!("skipped: /usr/bin/kubectl is not installed");
        return;
    }
    let (dir, root, _) = setup();
    for (file, _, server) in expected("https://127.0.0.1:6443", "https://cp.example.com:6443") {
        let out = Command::new(kubectl)
            .args(["config", "view", "--raw", "-o"])
            .arg("jsonpath={.clusters[0].cluster.server} {.users[0].name} {.current-context}")
            .arg("--kubeconfig")
            .arg(conf(&root, file))
            .env("HOME", dir.path())
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl rejected {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = load(&root, file);
        let user = &config.users[0].name;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{server} {user} {user}@kubernetes"),
            "{file}"
        );
    }
}

/// A loopback TLS server presenting apiserver.crt and requiring a client certificate from
/// ca.crt. It answers each connection by echoing one byte, for `connections` connections.
fn start_server(root: &Root, connections: usize) -> (u16, std::thread::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca = pki::load_certificate(root, Path::new("/etc/kubernetes/pki/ca.crt"))
        .unwrap()
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cert = pki::load_certificate(root, Path::new("/etc/kubernetes/pki/apiserver.crt"))
        .unwrap()
        .unwrap();
    let key = pki::load_key(root, Path::new("/etc/kubernetes/pki/apiserver.key"))
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            key.to_rustls(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            let mut byte = [0u8; 1];
            if tls.read_exact(&mut byte).is_ok() {
                let _ = tls.write_all(&byte);
                let _ = tls.flush();
            }
        }
    });
    (port, handle)
}

/// Connects with a client certificate; true when the server accepted it and echoed.
fn client_accepted(port: u16, ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> bool {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = Certificate::from_pem(ca_pem).unwrap();
    roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
    let cert = Certificate::from_pem(cert_pem).unwrap();
    let key = PrivateKey::from_pem(key_pem).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            key.to_rustls(),
        )
        .unwrap();
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let mut byte = [0u8; 1];
    tls.write_all(b"k").is_ok() && tls.read_exact(&mut byte).is_ok() && byte == *b"k"
}

#[test]
fn every_embedded_client_certificate_is_accepted_by_a_tls_server_requiring_the_ca() {
    let (_dir, root, _) = setup();
    let files = expected("", "");
    // One connection per kubeconfig, plus one with a certificate from another CA.
    let (port, server) = start_server(&root, files.len() + 1);
    for (file, ..) in &files {
        let config = load(&root, file);
        let ca_pem = config
            .current_cluster()
            .unwrap()
            .certificate_authority_data
            .clone()
            .unwrap();
        let (cert, key) = client_pems(&config);
        assert!(
            client_accepted(port, &ca_pem, &cert, &key),
            "{file} was refused"
        );
    }
    // The same client identity from an unrelated cluster must be refused.
    let (_other_dir, other, _) = setup();
    let stranger = load(&other, "admin.conf");
    let (cert, key) = client_pems(&stranger);
    let ca_pem = fs::read(ca_path(&root)).unwrap();
    assert!(!client_accepted(port, &ca_pem, &cert, &key));
    server.join().unwrap();
}

#[test]
fn a_second_run_reuses_files_and_a_foreign_ca_is_refused() {
    let (_dir, root, cfg) = setup();
    let read_all = |root: &Root| -> Vec<Vec<u8>> {
        kubeconfig::PHASES
            .iter()
            .map(|p| fs::read(conf(root, &format!("{p}.conf"))).unwrap())
            .collect()
    };
    let before = read_all(&root);
    kubeconfig::create_init_kubeconfigs(&root, &cfg, None).unwrap();
    assert_eq!(read_all(&root), before);

    // Another server is only a warning (kubeadm tolerates custom addresses).
    let mut moved = load(&root, "scheduler.conf");
    moved.clusters[0].cluster.server = "https://10.9.9.9:6443".into();
    kubeconfig::write(&root, Path::new("/etc/kubernetes/scheduler.conf"), &moved).unwrap();
    kubeconfig::create_init_kubeconfigs(&root, &cfg, Some("scheduler")).unwrap();
    assert_eq!(load(&root, "scheduler.conf"), moved);

    // A kubeconfig of another cluster is an error, not silently replaced or reused.
    let (_other_dir, other, _) = setup();
    fs::copy(conf(&other, "admin.conf"), conf(&root, "admin.conf")).unwrap();
    let err = kubeconfig::create_init_kubeconfigs(&root, &cfg, None).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Config);
    assert!(
        err.to_string()
            .contains("/etc/kubernetes/admin.conf exists already but its CA"),
        "{err}"
    );

    // Our CA with a client certificate from the other cluster is refused too.
    let mut forged = load(&other, "admin.conf");
    forged.clusters[0].cluster.certificate_authority_data = Some(fs::read(ca_path(&root)).unwrap());
    kubeconfig::write(&root, Path::new("/etc/kubernetes/admin.conf"), &forged).unwrap();
    let err = kubeconfig::create_init_kubeconfigs(&root, &cfg, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("client certificate is not signed by the CA"),
        "{err}"
    );
}

#[test]
fn external_ca_mode_needs_every_kubeconfig_supplied() {
    let (_dir, root, cfg) = setup();
    fs::remove_file(root.path("/etc/kubernetes/pki/ca.key")).unwrap();
    let scheduler = fs::read(conf(&root, "scheduler.conf")).unwrap();
    fs::remove_file(conf(&root, "scheduler.conf")).unwrap();
    let err = kubeconfig::create_init_kubeconfigs(&root, &cfg, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("/etc/kubernetes/scheduler.conf is missing"),
        "{err}"
    );
    assert!(kubeconfig::validate_for_external_ca(&root, &cfg).is_err());
    assert!(
        !conf(&root, "scheduler.conf").exists(),
        "nothing may be written"
    );

    fs::write(conf(&root, "scheduler.conf"), scheduler).unwrap();
    kubeconfig::validate_for_external_ca(&root, &cfg).unwrap();
    kubeconfig::create_init_kubeconfigs(&root, &cfg, None).unwrap();
}

#[test]
fn without_a_ca_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = init_config(EncryptionAlgorithm::EcdsaP256, "127.0.0.1");
    let err = kubeconfig::create_init_kubeconfigs(&root, &cfg, Some("admin")).unwrap_err();
    assert!(err.to_string().contains("ca.crt is missing"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    let err = kubeconfig::create_init_kubeconfigs(&root, &cfg, Some("bogus")).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
}

#[test]
fn only_the_named_phase_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = init_config(EncryptionAlgorithm::EcdsaP256, "127.0.0.1");
    pki::create_init_pki(&root, &cfg, Some("ca")).unwrap();
    kubeconfig::create_init_kubeconfigs(&root, &cfg, Some("kubelet")).unwrap();
    let mut names: Vec<String> = fs::read_dir(root.path("/etc/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["kubelet.conf", "pki"]);
    let _ = openssl(&["version"]);
}

//! A real etcd for integration tests: Debian's `etcd` (3.4 or newer) on free loopback ports, with
//! mutual TLS on client and peer ports from a test CA made here with rcgen, its data in a
//! tempdir, and killed (only that child) when the handle is dropped.
//!
//! Use from a test file with `#[path = "support_etcd/mod.rs"] mod support_etcd;`.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Where Debian's `etcd-server` puts the binary; `PATH` is searched too.
const ETCD_PATHS: &[&str] = &["/usr/bin/etcd", "/usr/local/bin/etcd"];

/// The etcd binary, or a panic that says how to get it: a missing etcd must fail the test,
/// never skip it.
pub fn etcd_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"));
    ETCD_PATHS
        .iter()
        .map(PathBuf::from)
        .chain(on_path)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "etcd is not installed (looked in {} and PATH): run `make setup`, which installs \
                 Debian's etcd-server and etcd-client",
                ETCD_PATHS.join(", ")
            )
        })
}

/// A PEM certificate and its PEM private key.
#[derive(Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What one etcd member needs: the CA it trusts on both ports, its serving and peer pairs.
#[derive(Clone)]
pub struct MemberCerts {
    pub ca_pem: String,
    pub server: CertPair,
    pub peer: CertPair,
}

/// A test CA that issues loopback certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-sign CA"),
        }
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `common_name`, valid for 127.0.0.1, ::1 and localhost, with the given
    /// extended key usages.
    pub fn issue(&self, common_name: &str, usages: &[ExtendedKeyUsagePurpose]) -> CertPair {
        let sans = vec![
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
        ];
        let mut params = CertificateParams::new(sans).expect("SANs");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages.to_vec();
        let key = KeyPair::generate().expect("generate key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Serving and peer certificates as kubeadm makes them (both usages on each).
    pub fn member_certs(&self, name: &str) -> MemberCerts {
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        MemberCerts {
            ca_pem: self.cert_pem(),
            server: self.issue(name, &[ServerAuth, ClientAuth]),
            peer: self.issue(name, &[ServerAuth, ClientAuth]),
        }
    }

    /// A client certificate like kubeadm's `apiserver-etcd-client`.
    pub fn client(&self, common_name: &str) -> CertPair {
        self.issue(common_name, &[ExtendedKeyUsagePurpose::ClientAuth])
    }
}

/// A loopback port nobody listens on right now, for etcd to bind later. Taken below the
/// kernel's ephemeral range (32768 and up): a port the kernel handed out and took back could
/// go to a parallel test's outgoing connection before etcd binds it. The walk starts at a
/// place that depends on the process, so test binaries running side by side rarely meet.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919) % COUNT;
    for _ in 0..COUNT {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (start + step) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT)
}

#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub client: u16,
    pub peer: u16,
    pub metrics: u16,
}

impl Ports {
    pub fn free() -> Self {
        Ports {
            client: free_port(),
            peer: free_port(),
            metrics: free_port(),
        }
    }

    pub fn client_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.client)
    }

    pub fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer)
    }
}

/// A running etcd, killed when dropped.
pub struct Etcd {
    child: Child,
    dir: tempfile::TempDir,
    pub name: String,
    pub ports: Ports,
}

/// Starts etcd as member `name` with TLS and client-certificate checks on both ports. `extra`
/// flags (name without dashes, value) replace a default of the same name or are added; the
/// default `initial-cluster` is the member alone.
pub fn start(name: &str, certs: &MemberCerts, ports: Ports, extra: &[(&str, &str)]) -> Etcd {
    let dir = tempfile::tempdir().expect("tempdir for etcd");
    let file = |file: &str, pem: &str| {
        let path = dir.path().join(file);
        fs::write(&path, pem).expect("write etcd certificate");
        path.display().to_string()
    };
    let ca = file("ca.crt", &certs.ca_pem);
    let mut flags: Vec<(String, String)> = [
        ("name", name.to_string()),
        ("data-dir", dir.path().join("data").display().to_string()),
        ("listen-client-urls", ports.client_url()),
        ("advertise-client-urls", ports.client_url()),
        ("listen-peer-urls", ports.peer_url()),
        ("initial-advertise-peer-urls", ports.peer_url()),
        ("initial-cluster", format!("{name}={}", ports.peer_url())),
        (
            "listen-metrics-urls",
            format!("http://127.0.0.1:{}", ports.metrics),
        ),
        ("cert-file", file("server.crt", &certs.server.cert_pem)),
        ("key-file", file("server.key", &certs.server.key_pem)),
        ("trusted-ca-file", ca.clone()),
        ("client-cert-auth", "true".into()),
        ("peer-cert-file", file("peer.crt", &certs.peer.cert_pem)),
        ("peer-key-file", file("peer.key", &certs.peer.key_pem)),
        ("peer-trusted-ca-file", ca),
        ("peer-client-cert-auth", "true".into()),
        // Fast elections keep the tests short.
        ("heartbeat-interval", "50".into()),
        ("election-timeout", "500".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (key, value) in extra {
        match flags.iter_mut().find(|(k, _)| k == key) {
            Some(flag) => flag.1 = value.to_string(),
            None => flags.push((key.to_string(), value.to_string())),
        }
    }
    let log = fs::File::create(dir.path().join("etcd.log")).expect("create etcd log");
    let child = Command::new(etcd_binary())
        .args(flags.iter().map(|(k, v)| format!("--{k}={v}")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn etcd");
    Etcd {
        child,
        dir,
        name: name.to_string(),
        ports,
    }
}

impl Etcd {
    pub fn client_url(&self) -> String {
        self.ports.client_url()
    }

    pub fn peer_url(&self) -> String {
        self.ports.peer_url()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines etcd logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(self.dir.path().join("etcd.log")) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Panics with etcd's log if it has exited (e.g. it refused its flags).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "etcd {} exited with {status}:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// Waits until etcd's `/health` on the plain-HTTP metrics port says `true` (it has a leader
    /// and serves requests), or panics with etcd's log after `timeout` or if etcd exits.
    pub fn wait_healthy(&mut self, timeout: Duration) {
        let url = format!("http://127.0.0.1:{}/health", self.ports.metrics);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .proxy(None)
            .build()
            .new_agent();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "etcd {} exited with {status}:\n{}",
                    self.name,
                    self.log_tail()
                );
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
            if Instant::now() >= deadline {
                panic!(
                    "etcd {} not healthy within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // Only the child this handle spawned, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

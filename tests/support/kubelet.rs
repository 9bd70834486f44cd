//! A fake kubelet for joins: what `systemctl restart kubelet` would start, as a
//! [`KubeletService`] a join's options can hold.
//!
//! From `start_kubelet` on it answers `/healthz` (200 "ok") on a loopback port and records
//! what `bootstrap-kubelet.conf` held; optionally, at once or a moment later, it ends a TLS
//! bootstrap as the kubelet does (its client certificate and key in `kubelet-client-current.pem`, then
//! `kubelet.conf` naming it), and runs a test's own action (registering its Node, say).
//! Its threads stop when it is dropped, or after a minute.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use kubeboot::fs::Root;
use kubeboot::service::{KubeletService, KubeletStart};

pub const BOOTSTRAP_KUBELET_CONF: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
pub const KUBELET_CLIENT_PEM: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// What the fake kubelet saw and served, for assertions.
#[derive(Default)]
pub struct KubeletLog {
    pub starts: AtomicUsize,
    pub healthz_requests: AtomicUsize,
    /// `bootstrap-kubelet.conf` as the kubelet read it when it started.
    pub bootstrap_conf: Mutex<Option<String>>,
    stop: AtomicBool,
}

/// What the kubelet writes at the end of its TLS bootstrap.
struct Bootstrap {
    server: String,
    ca_pem: String,
    /// Certificate then key, PEM.
    client_pem: String,
    delay: Duration,
}

pub struct FakeKubelet {
    root: Root,
    healthz: TcpListener,
    bootstrap: Option<Bootstrap>,
    on_start: Option<Box<dyn Fn() + Send + Sync>>,
    log: Arc<KubeletLog>,
}

impl FakeKubelet {
    /// A kubelet for the node under `root` that only answers its health checks.
    pub fn new(root: &Root) -> (FakeKubelet, Arc<KubeletLog>) {
        let log = Arc::new(KubeletLog::default());
        let kubelet = FakeKubelet {
            root: root.clone(),
            healthz: TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"),
            bootstrap: None,
            on_start: None,
            log: log.clone(),
        };
        (kubelet, log)
    }

    /// Also ends a TLS bootstrap `delay` after it starts (zero: before `start_kubelet`
    /// returns, for joins on a virtual clock): `client_pem` (certificate and key) for the API
    /// server `server` whose CA is `ca_pem`.
    pub fn bootstrapping(
        mut self,
        server: &str,
        ca_pem: &str,
        client_pem: &str,
        delay: Duration,
    ) -> Self {
        self.bootstrap = Some(Bootstrap {
            server: server.to_string(),
            ca_pem: ca_pem.to_string(),
            client_pem: client_pem.to_string(),
            delay,
        });
        self
    }

    /// Also runs `action` when started.
    pub fn on_start(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_start = Some(Box::new(action));
        self
    }

    pub fn healthz_url(&self) -> String {
        format!(
            "http://{}/healthz",
            self.healthz.local_addr().expect("bound listener")
        )
    }

    fn serve_healthz(&self) {
        let listener = self
            .healthz
            .try_clone()
            .expect("clone the healthz listener");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let log = self.log.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !log.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let Ok(read_half) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(read_half);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                log.healthz_requests.fetch_add(1, Ordering::SeqCst);
                let _ = (&stream).write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
    }

    /// As the kubelet: the credentials first, then the kubeconfig that names them.
    fn finish_tls_bootstrap(&self, bootstrap: &Bootstrap) {
        let root = self.root.clone();
        let client_pem = bootstrap.client_pem.clone();
        let conf = format!(
            "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {}
    server: {}
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
kind: Config
users:
- name: default-auth
  user:
    client-certificate: {KUBELET_CLIENT_PEM}
    client-key: {KUBELET_CLIENT_PEM}
",
            STANDARD.encode(&bootstrap.ca_pem),
            bootstrap.server
        );
        let write = move || {
            root.write_atomic(KUBELET_CLIENT_PEM, client_pem.as_bytes(), 0o600)
                .expect("write the kubelet's client certificate");
            root.write_atomic(KUBELET_CONF, conf.as_bytes(), 0o600)
                .expect("write kubelet.conf");
        };
        if bootstrap.delay.is_zero() {
            return write();
        }
        let delay = bootstrap.delay;
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            write();
        });
    }
}

impl KubeletService for FakeKubelet {
    fn stop_kubelet(&self) {}

    fn start_kubelet(&self) -> KubeletStart {
        self.log.starts.fetch_add(1, Ordering::SeqCst);
        let conf = self
            .root
            .read_optional(BOOTSTRAP_KUBELET_CONF)
            .expect("read bootstrap-kubelet.conf");
        *self.log.bootstrap_conf.lock().unwrap() =
            conf.map(|b| String::from_utf8_lossy(&b).into_owned());
        self.serve_healthz();
        if let Some(bootstrap) = &self.bootstrap {
            self.finish_tls_bootstrap(bootstrap);
        }
        if let Some(action) = &self.on_start {
            action();
        }
        KubeletStart::Started
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.log.stop.store(true, Ordering::SeqCst);
    }
}

use std::io::{BufRead, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use super::*;
use crate::online::tests::{Fake, Pki, config, context, root_with_admin_conf};
use crate::online::{Target, wait_control_plane};
use std::cell::RefCell;

/// A plain-HTTP kubelet `/healthz` that answers 503 to the first `failures` requests.
struct Kubelet {
    url: String,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Kubelet {
    fn start(failures: usize) -> Kubelet {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (served, stop) = (Arc::clone(&served), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let mut line = String::new();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    let status = if n < failures {
                        "503 Service Unavailable"
                    } else {
                        "200 OK"
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                }
            })
        };
        Kubelet {
            url: format!("http://{addr}/healthz"),
            served,
            stop,
            addr,
            thread: Some(thread),
        }
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn paths(fake: &Fake) -> Vec<String> {
    fake.requests().into_iter().map(|(_, p)| p).collect()
}

#[test]
fn waits_for_the_kubelet_then_a_live_and_ready_api_server() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let mut cfg = config();
    cfg.cluster.kubernetes_version = "v1.32.4".parse().unwrap();
    let kubelet = Kubelet::start(2);
    let out = RefCell::new(Vec::new());
    let printed = RefCell::new(Vec::new());
    let api_unused = Target::DryRun(&printed);
    let mut ctx = context(&root, &cfg, api_unused, &out);
    // The wait builds its own clients from admin.conf; the target only says "not a dry run".
    let client = crate::online::admin_client(&root, RetryPolicy::immediate(1)).unwrap();
    ctx.target = Target::Api(&client);
    ctx.wait.kubelet_healthz = Some(kubelet.url.clone());
    wait_control_plane(&ctx, None).unwrap();
    assert_eq!(kubelet.served.load(Ordering::SeqCst), 3);
    assert_eq!(paths(&fake), ["/livez", "/readyz"]);
}

#[test]
fn an_api_server_that_never_gets_ready_fails_within_the_timeout_with_kubeadm_hints() {
    let pki = Pki::new();
    let fake = Fake::start(&pki);
    fake.state.lock().unwrap().unhealthy.push("/readyz".into());
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let mut cfg = config();
    cfg.cluster.kubernetes_version = "v1.32.4".parse().unwrap();
    cfg.timeouts.control_plane_component_health_check = Duration::from_secs(30);
    let out = RefCell::new(Vec::new());
    let client = crate::online::admin_client(&root, RetryPolicy::immediate(1)).unwrap();
    let mut ctx = context(&root, &cfg, Target::Api(&client), &out);
    let clock = crate::retry::FakeClock::new();
    ctx.wait.clock = clock.clone();
    let e = wait_control_plane(&ctx, None).unwrap_err();
    let message = e.to_string();
    for expected in [
        "could not initialize a Kubernetes cluster",
        "/readyz",
        "'systemctl status kubelet'",
        "'journalctl -xeu kubelet'",
        "crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing: {message}"
        );
    }
    assert_eq!(e.exit_code(), crate::ExitCode::Cluster);
    let waited: Duration = clock.sleeps().iter().sum();
    assert_eq!(
        waited,
        Duration::from_secs(30),
        "polls stop at the deadline"
    );
    assert!(clock.sleeps().iter().all(|s| *s <= Duration::from_secs(5)));
}

#[test]
fn a_kubelet_that_never_answers_is_reported_with_the_url_to_try() {
    let pki = Pki::new();
    let (_dir, root) = root_with_admin_conf(&pki, "https://127.0.0.1:1");
    let cfg = config();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = RefCell::new(Vec::new());
    let client = crate::online::admin_client(&root, RetryPolicy::immediate(1)).unwrap();
    let mut ctx = context(&root, &cfg, Target::Api(&client), &out);
    ctx.wait.kubelet_healthz = Some(format!("http://{closed}/healthz"));
    let e = wait_control_plane(&ctx, None).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "The HTTP call equal to 'curl -sSL http://{closed}/healthz' returned error"
        )),
        "{e}"
    );
    assert!(e.contains("The kubelet is not running"), "{e}");
}

fn manifest(name: &str, args: &[&str]) -> String {
    let command: Vec<String> = std::iter::once(name.to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    serde_yaml::to_string(&serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"containers": [{"name": name, "image": "x", "command": command}]}
    }))
    .unwrap()
}

#[test]
fn from_1_33_every_component_is_checked_where_its_manifest_serves() {
    let pki = Pki::new();
    let fake = Fake::start_with(&pki, false);
    let (_dir, root) = root_with_admin_conf(&pki, &fake.server.url());
    let port = fake
        .server
        .endpoint()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let secure_port = format!("--secure-port={port}");
    for (name, address) in [
        ("kube-apiserver", "--advertise-address=127.0.0.1"),
        ("kube-controller-manager", "--bind-address=127.0.0.1"),
        ("kube-scheduler", "--bind-address=127.0.0.1"),
    ] {
        root.write_atomic(
            manifest_path(name),
            manifest(name, &[address, &secure_port, "--v=2"]).as_bytes(),
            0o600,
        )
        .unwrap();
    }
    let cfg = config();
    let out = RefCell::new(Vec::new());
    let client = crate::online::admin_client(&root, RetryPolicy::immediate(1)).unwrap();
    let ctx = context(&root, &cfg, Target::Api(&client), &out);
    wait_control_plane(&ctx, None).unwrap();
    assert_eq!(
        paths(&fake),
        ["/livez", "/healthz", "/livez", "/livez", "/readyz"]
    );

    let mut off = config();
    off.cluster
        .feature_gates
        .insert(WAIT_FOR_ALL_CONTROL_PLANE_COMPONENTS.into(), false);
    assert!(!wait_for_all_components(&off));
    root.remove_file(manifest_path("kube-scheduler")).unwrap();
    let e = wait_control_plane(&ctx, None).unwrap_err().to_string();
    assert!(
        e.contains("could not parse the address and port") && e.contains("kube-scheduler.yaml"),
        "{e}"
    );
}

#[test]
fn manifest_flags_and_kubelet_endpoint_are_read_as_kubeadm_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::fs::Root::new(dir.path());
    root.write_atomic(
        manifest_path("kube-scheduler"),
        manifest(
            "kube-scheduler",
            &[
                "--bind-address=::1",
                "--secure-port 11259",
                "--authorization-kubeconfig=x",
            ],
        )
        .as_bytes(),
        0o600,
    )
    .unwrap();
    let cfg = config();
    let out = RefCell::new(Vec::new());
    let printed = RefCell::new(Vec::new());
    let ctx = context(&root, &cfg, Target::DryRun(&printed), &out);
    let values =
        manifest_args(ctx.root, "kube-scheduler", &["bind-address", "secure-port"]).unwrap();
    assert_eq!(values, [Some("::1".to_string()), Some("11259".to_string())]);

    assert_eq!(
        WaitOptions::for_config(&cfg).kubelet_healthz.as_deref(),
        Some("http://127.0.0.1:10248/healthz")
    );
    let mut no_healthz = config();
    no_healthz
        .kubelet
        .insert("healthzPort".into(), serde_yaml::Value::Number(0.into()));
    assert_eq!(WaitOptions::for_config(&no_healthz).kubelet_healthz, None);
}

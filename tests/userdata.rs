//! User-data sources and formats, end to end: fixture roots for the file-based sources,
//! loopback HTTP servers for the metadata services, real vfat/iso9660 seed images.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use kubeboot::ExitCode;
use kubeboot::config::RawDocument;
use kubeboot::fs::Root;
use kubeboot::retry::Backoff;
use kubeboot::userdata::http::{Http, RetryPolicy};
use kubeboot::userdata::media::{Mounted, Mounter, NixMounter};
use kubeboot::userdata::{
    Context, Error, MetaData, Selection, Source, SourceEnv, UserData, decode, load, merge, probe,
    source_by_name,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/userdata")
        .join(name)
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(40),
        },
        deadline: Duration::from_secs(3),
        attempt_timeout: Duration::from_millis(500),
    }
}

/// Nothing answers at this address: a port that was bound and released.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// An environment where every network source is absent and no media exists.
fn offline_env() -> SourceEnv {
    let dead = dead_url();
    SourceEnv {
        ec2_url: dead.clone(),
        gce_url: dead.clone(),
        azure_url: dead.clone(),
        openstack_url: dead,
        mounter: Arc::new(DirMounter::default()),
        retry: RetryPolicy {
            deadline: Duration::from_millis(200),
            ..quick_retry()
        },
        ..SourceEnv::default()
    }
}

fn fetch(name: &str, root: &Root, env: &SourceEnv) -> Result<Option<UserData>, Error> {
    let http = Http::new(env.retry.clone(), Vec::new());
    let cx = Context {
        root,
        env,
        http: &http,
    };
    source_by_name(name).unwrap().fetch(&cx)
}

fn decode_all(found: &UserData) -> Vec<RawDocument> {
    let mut docs = Vec::new();
    for part in &found.parts {
        docs.extend(decode(&part.bytes, &part.origin).unwrap());
    }
    merge(docs)
}

fn kinds(docs: &[RawDocument]) -> Vec<&str> {
    docs.iter().map(|d| d.kind().unwrap()).collect()
}

fn field<'a>(doc: &'a RawDocument, path: &[&str]) -> &'a serde_yaml::Value {
    path.iter().fold(&doc.value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("no {key} in {path:?}"))
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

const JOIN: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.10:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n";

/// "Mounts" by handing out a directory per device (fixtures, or an extracted image) and
/// counts mounts still held, so tests see that every mount is released.
#[derive(Debug, Default)]
struct DirMounter {
    dirs: HashMap<PathBuf, PathBuf>,
    live: Arc<AtomicUsize>,
    mounts: Arc<AtomicUsize>,
}

struct DirMount {
    dir: PathBuf,
    live: Arc<AtomicUsize>,
}

impl Mounted for DirMount {
    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DirMount {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Mounter for DirMounter {
    fn mount(&self, device: &Path, _fstypes: &[&str]) -> Result<Box<dyn Mounted>, String> {
        let dir = self
            .dirs
            .get(device)
            .ok_or_else(|| format!("no medium in {}", device.display()))?;
        self.live.fetch_add(1, Ordering::SeqCst);
        self.mounts.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(DirMount {
            dir: dir.clone(),
            live: self.live.clone(),
        }))
    }
}

/// "Mounts" an image file by extracting it with the tool for each filesystem type in turn,
/// as mount(2) would try them: mtools for vfat, xorriso for iso9660.
#[derive(Debug)]
struct ExtractingMounter {
    scratch: PathBuf,
}

struct Extracted(tempfile::TempDir);

impl Mounted for Extracted {
    fn dir(&self) -> &Path {
        self.0.path()
    }
}

impl Mounter for ExtractingMounter {
    fn mount(&self, device: &Path, fstypes: &[&str]) -> Result<Box<dyn Mounted>, String> {
        for fstype in fstypes {
            let dir = tempfile::tempdir_in(&self.scratch).unwrap();
            let image = device.to_str().unwrap();
            let status = match *fstype {
                "vfat" => Command::new("mcopy")
                    .args(["-s", "-n", "-i", image, "::/*"])
                    .arg(dir.path())
                    .output(),
                "iso9660" => Command::new("xorriso")
                    .args(["-osirrox", "on", "-indev", image, "-extract", "/"])
                    .arg(dir.path())
                    .output(),
                _ => continue,
            };
            if status.is_ok_and(|o| o.status.success()) {
                return Ok(Box::new(Extracted(dir)));
            }
        }
        Err(format!("not {}", fstypes.join(" or ")))
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server on loopback

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

impl Response {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// `(request, how many requests for this path came before)` → response.
type Handler = dyn Fn(&Request, usize) -> Response + Send + Sync;

struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    fn start(handler: impl Fn(&Request, usize) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, handler) = (requests.clone(), handler.clone());
                    std::thread::spawn(move || serve(stream, &requests, &*handler));
                }
            })
        };
        Server {
            url,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut words = line.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let request = Request {
        method,
        path,
        headers,
    };
    let length: usize = request
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let _ = reader
        .by_ref()
        .take(length as u64)
        .read_to_end(&mut Vec::new());
    let earlier = {
        let mut all = requests.lock().unwrap();
        let earlier = all.iter().filter(|r| r.path == request.path).count();
        all.push(request.clone());
        earlier
    };
    let response = handler(&request, earlier);
    std::thread::sleep(response.delay);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(&response.body);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn env_with(configure: impl FnOnce(&mut SourceEnv)) -> SourceEnv {
    let mut env = offline_env();
    env.retry = quick_retry();
    configure(&mut env);
    env
}

fn empty_root() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    (dir, root)
}

// ---------------------------------------------------------------------------------------------
// Formats

#[test]
fn mime_multipart_parts_merge_in_order_and_scripts_are_skipped() {
    let bytes = std::fs::read(fixture("mime/user-data")).unwrap();
    let docs = decode(&bytes, "ec2 user-data").unwrap();
    // cloud-config part 1 (ClusterConfiguration), script part 2 skipped, YAML part 3.
    assert_eq!(
        kinds(&docs),
        [
            "ClusterConfiguration",
            "InitConfiguration",
            "ClusterConfiguration"
        ]
    );
    assert_eq!(docs[0].origin, "ec2 user-data part 1");
    assert_eq!(docs[1].origin, "ec2 user-data part 3");
    let merged = merge(docs);
    assert_eq!(
        kinds(&merged),
        ["ClusterConfiguration", "InitConfiguration"]
    );
    let cluster = &merged[0];
    assert_eq!(field(cluster, &["networking", "podSubnet"]), "10.32.0.0/12");
    assert_eq!(
        field(cluster, &["networking", "serviceSubnet"]),
        "10.96.0.0/12"
    );
    assert_eq!(field(cluster, &["kubernetesVersion"]), "v1.34.2");
    assert_eq!(
        cluster.origin,
        "ec2 user-data part 1 + ec2 user-data part 3"
    );
}

#[test]
fn nested_multipart_with_gzip_and_base64_parts() {
    let inner = format!(
        "Content-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: application/x-yaml\nContent-Transfer-Encoding: base64\n\n{}\n--inner--\n",
        b64(&gzip(JOIN.as_bytes()))
    );
    let outer = format!(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\n{inner}\n--outer\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n{}\n--outer--\n",
        b64(&gzip(
            b"#cloud-config\nkubeboot:\n  apiVersion: kubelet.config.k8s.io/v1beta1\n  kind: KubeletConfiguration\n"
        ))
    );
    let docs = decode(outer.as_bytes(), "src").unwrap();
    assert_eq!(kinds(&docs), ["JoinConfiguration", "KubeletConfiguration"]);
    assert_eq!(docs[0].origin, "src part 1.1");
    assert_eq!(docs[1].origin, "src part 2");
    assert_eq!(
        field(
            &docs[0],
            &["discovery", "bootstrapToken", "apiServerEndpoint"]
        ),
        "10.0.0.10:6443"
    );
}

#[test]
fn gzipped_user_data_is_decompressed() {
    let docs = decode(&gzip(JOIN.as_bytes()), "gce").unwrap();
    assert_eq!(kinds(&docs), ["JoinConfiguration"]);
}

fn invalid_reason(bytes: &[u8]) -> String {
    let e = decode(bytes, "ec2 http://imds/latest/user-data").unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config, "{e}");
    let text = e.to_string();
    assert!(text.contains("ec2 http://imds/latest/user-data"), "{text}");
    text
}

#[test]
fn gzip_bomb_stops_at_the_size_cap() {
    // 17 MiB of zeros compresses to ~17 KiB.
    let bomb = gzip(&vec![0u8; 17 << 20]);
    assert!(bomb.len() < 100 << 10);
    let text = invalid_reason(&bomb);
    assert!(text.contains("more than 16 MiB"), "{text}");
}

#[test]
fn gzip_bomb_spread_over_parts_shares_one_cap() {
    let part = b64(&gzip(&vec![b'#'; 9 << 20]));
    let mime = format!(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{part}\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{part}\n--b--\n"
    );
    let text = invalid_reason(mime.as_bytes());
    assert!(text.contains("part 2"), "{text}");
    assert!(text.contains("more than 16 MiB"), "{text}");
}

#[test]
fn truncated_gzip_is_rejected() {
    let full = gzip(JOIN.as_bytes());
    let text = invalid_reason(&full[..full.len() - 6]);
    assert!(text.contains("gzip data is corrupt or truncated"), "{text}");
}

#[test]
fn bad_base64_part_is_rejected_naming_the_part() {
    let mime = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n--b\nContent-Type: application/yaml\nContent-Transfer-Encoding: base64\n\nYXBp*dmVyc2lvbjog\n--b--\n";
    let text = invalid_reason(mime.as_bytes());
    assert!(text.contains("part 2"), "{text}");
    assert!(text.contains("not valid base64"), "{text}");
}

#[test]
fn multipart_without_boundary_is_rejected() {
    let text =
        invalid_reason(b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\n\nhi\n--x--\n");
    assert!(text.contains("no boundary parameter"), "{text}");
}

#[test]
fn truncated_multipart_is_rejected() {
    let text = invalid_reason(b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/yaml\n\nkind: x\n");
    assert!(text.contains("truncated"), "{text}");
}

#[test]
fn binary_junk_is_rejected() {
    let text = invalid_reason(&[0x7f, b'E', b'L', b'F', 0xff, 0x00, 0x93, 0x01]);
    assert!(text.contains("binary data"), "{text}");
}

#[test]
fn two_init_configurations_in_one_part_are_rejected() {
    let part = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n";
    let mime = format!(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/yaml\n\n{part}\n--b--\n"
    );
    let text = invalid_reason(mime.as_bytes());
    assert!(text.contains("part 1"), "{text}");
    assert!(
        text.contains("documents 1 and 3 are both InitConfiguration"),
        "{text}"
    );
}

#[test]
fn part_count_is_capped() {
    let mut mime = String::from("Content-Type: multipart/mixed; boundary=b\n\n");
    for _ in 0..65 {
        mime.push_str("--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n");
    }
    mime.push_str("--b--\n");
    let text = invalid_reason(mime.as_bytes());
    assert!(text.contains("more than 64 MIME parts"), "{text}");
}

#[test]
fn invalid_yaml_names_the_document() {
    let text = invalid_reason(format!("{JOIN}---\nkind: [unclosed\n").as_bytes());
    assert!(text.contains("document 2 is not valid YAML"), "{text}");
}

#[test]
fn errors_never_echo_user_data_secrets() {
    let secret = "abcdef.0123456789abcdef";
    let cases = [
        format!("apiVersion: v1\nkind: X\ntoken: {secret}\n---\napiVersion: v1\nkind: X\n"),
        format!("#cloud-config\nkubeboot: {secret}\n"),
        format!("#cloud-config\nkubeboot:\n- {secret}\n"),
        format!("token: {secret}\n"),
    ];
    for case in cases {
        let text = decode(case.as_bytes(), "src").unwrap_err().to_string();
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// File-based sources

#[test]
fn local_user_data_and_drop_ins_merge_in_lexical_order() {
    let root = Root::new(fixture("local"));
    let found = fetch("local", &root, &offline_env()).unwrap().unwrap();
    let origins: Vec<_> = found.parts.iter().map(|p| p.origin.as_str()).collect();
    assert_eq!(origins.len(), 3, "dotfiles are skipped: {origins:?}");
    assert!(
        origins[0].starts_with("local /etc/kubeboot/user-data (under "),
        "{origins:?}"
    );
    assert!(
        origins[1].contains("user-data.d/10-sans.yaml"),
        "{origins:?}"
    );
    assert!(
        origins[2].contains("user-data.d/20-pods.yaml"),
        "{origins:?}"
    );
    let docs = decode_all(&found);
    assert_eq!(kinds(&docs), ["InitConfiguration", "ClusterConfiguration"]);
    let cluster = &docs[1];
    assert_eq!(
        field(cluster, &["networking", "podSubnet"]),
        "192.168.0.0/16"
    );
    assert_eq!(
        field(cluster, &["networking", "serviceSubnet"]),
        "10.96.0.0/12"
    );
    let sans = field(cluster, &["apiServer", "certSANs"])
        .as_sequence()
        .unwrap();
    assert_eq!(sans.len(), 1, "lists are replaced, not appended");
    assert_eq!(sans[0], "from-drop-in.example.test");
}

#[test]
fn local_source_is_absent_without_files() {
    let (_dir, root) = empty_root();
    assert_eq!(fetch("local", &root, &offline_env()).unwrap(), None);
}

#[test]
fn nocloud_seed_directory_with_meta_data() {
    let root = Root::new(fixture("nocloud"));
    let found = fetch("nocloud", &root, &offline_env()).unwrap().unwrap();
    assert_eq!(found.source, "nocloud");
    assert_eq!(
        found.meta,
        MetaData {
            hostname: Some("worker-1".into()),
            local_ipv4: Some("10.0.0.21".parse().unwrap()),
        }
    );
    let docs = decode_all(&found);
    assert_eq!(kinds(&docs), ["JoinConfiguration"]);
    assert!(
        docs[0]
            .origin
            .contains("/var/lib/cloud/seed/nocloud/user-data")
    );
}

/// A root whose by-label directory has `label` → a device file standing for the medium.
fn root_with_label(label: &str, device_content: &[u8]) -> (tempfile::TempDir, Root, PathBuf) {
    let (dir, root) = empty_root();
    let node = Path::new("/dev/disk/by-label").join(label);
    root.write_atomic(&node, device_content, 0o600).unwrap();
    let real = root.path(&node);
    (dir, root, real)
}

#[test]
fn configdrive_found_by_label_is_read_and_released() {
    let (_dir, root, device) = root_with_label("config-2", b"");
    let mounter = Arc::new(DirMounter {
        dirs: HashMap::from([(device, fixture("configdrive"))]),
        ..Default::default()
    });
    let env = env_with(|e| e.mounter = mounter.clone());
    let found = fetch("configdrive", &root, &env).unwrap().unwrap();
    assert_eq!(found.meta.hostname.as_deref(), Some("worker-2.novalocal"));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
    assert!(
        found.parts[0]
            .origin
            .contains("/dev/disk/by-label/config-2")
    );
    assert_eq!(mounter.mounts.load(Ordering::SeqCst), 1);
    assert_eq!(
        mounter.live.load(Ordering::SeqCst),
        0,
        "unmounted after reading"
    );
}

#[test]
fn a_symlink_on_seed_media_is_refused_not_followed() {
    let (_dir, root, device) = root_with_label("cidata", b"");
    let host = tempfile::tempdir().unwrap();
    let host_file = host.path().join("host-only");
    std::fs::write(&host_file, b"#cloud-config\nhostname: from-the-host\n").unwrap();
    let media = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&host_file, media.path().join("user-data")).unwrap();
    std::fs::write(media.path().join("meta-data"), b"instance-id: iid-1\n").unwrap();
    let mounter = Arc::new(DirMounter {
        dirs: HashMap::from([(device, media.path().to_path_buf())]),
        ..Default::default()
    });
    let env = env_with(|e| e.mounter = mounter.clone());
    let e = fetch("nocloud", &root, &env).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("symbolic link"), "{text}");
    assert!(text.contains("/user-data"), "{text}");
    assert_eq!(mounter.live.load(Ordering::SeqCst), 0, "unmounted");
}

#[test]
fn media_that_fails_to_mount_is_an_error_naming_the_device() {
    let (_dir, root, _device) = root_with_label("CIDATA", b"");
    let env = env_with(|e| e.mounter = Arc::new(DirMounter::default()));
    let e = fetch("nocloud", &root, &env).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Failure);
    let text = e.to_string();
    assert!(text.starts_with("nocloud:"), "{text}");
    assert!(text.contains("/dev/disk/by-label/CIDATA"), "{text}");
}

#[test]
fn media_is_released_when_reading_it_fails() {
    let (_dir, root, device) = root_with_label("cidata", b"");
    let media = tempfile::tempdir().unwrap();
    // A directory where a file is expected: reading fails after the mount.
    std::fs::create_dir(media.path().join("user-data")).unwrap();
    let mounter = Arc::new(DirMounter {
        dirs: HashMap::from([(device, media.path().to_path_buf())]),
        ..Default::default()
    });
    let env = env_with(|e| e.mounter = mounter.clone());
    let e = fetch("nocloud", &root, &env).unwrap_err();
    assert!(e.to_string().contains("user-data"), "{e}");
    assert_eq!(mounter.mounts.load(Ordering::SeqCst), 1);
    assert_eq!(mounter.live.load(Ordering::SeqCst), 0);
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn seed_files(dir: &Path) {
    std::fs::write(
        dir.join("user-data"),
        format!("#cloud-config\nkubeboot:\n{}", indent_list(JOIN)),
    )
    .unwrap();
    std::fs::write(
        dir.join("meta-data"),
        "instance-id: iid-1\nlocal-hostname: img-node\n",
    )
    .unwrap();
}

fn indent_list(doc: &str) -> String {
    let mut out = String::new();
    for (i, line) in doc.lines().enumerate() {
        out.push_str(if i == 0 { "- " } else { "  " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn make_vfat(dir: &Path, label: &str) -> PathBuf {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    seed_files(&files);
    let image = dir.join("seed.img");
    let f = std::fs::File::create(&image).unwrap();
    f.set_len(2 << 20).unwrap();
    let ok = Command::new("mkfs.vfat")
        .args(["-n", label])
        .arg(&image)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "mkfs.vfat failed");
    let ok = Command::new("mcopy")
        .arg("-i")
        .arg(&image)
        .arg(files.join("user-data"))
        .arg(files.join("meta-data"))
        .arg("::/")
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "mcopy failed");
    image
}

fn make_iso(dir: &Path, label: &str) -> PathBuf {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    seed_files(&files);
    let image = dir.join("seed.iso");
    let ok = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", label, "-J", "-r", "-o"])
        .arg(&image)
        .arg(&files)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "xorriso failed");
    image
}

/// Reads a real image through the nocloud source: the image file stands as the device, and
/// the mounter extracts it instead of mounting (mounting is covered separately when possible).
fn read_image_through_nocloud(image: &Path) -> UserData {
    let (_dir, root) = empty_root();
    let node = Path::new("/dev/disk/by-label/cidata");
    root.create_dir_all("/dev/disk/by-label", 0o755).unwrap();
    std::fs::copy(image, root.path(node)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let env = env_with(|e| {
        e.mounter = Arc::new(ExtractingMounter {
            scratch: scratch.path().to_path_buf(),
        })
    });
    fetch("nocloud", &root, &env).unwrap().unwrap()
}

#[test]
fn cidata_vfat_image() {
    if !have("mkfs.vfat") || !have("mcopy") {
        println!("skipped: mkfs.vfat or mcopy not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let found = read_image_through_nocloud(&make_vfat(dir.path(), "cidata"));
    assert_eq!(found.meta.hostname.as_deref(), Some("img-node"));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

#[test]
fn cidata_iso9660_image() {
    if !have("xorriso") {
        println!("skipped: xorriso not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let found = read_image_through_nocloud(&make_iso(dir.path(), "cidata"));
    assert_eq!(found.meta.hostname.as_deref(), Some("img-node"));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

/// A loop device for the image, detached on drop.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).output();
    }
}

fn attach_loop(image: &Path) -> Result<Loop, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not running as root".into());
    }
    let out = Command::new("losetup")
        .args(["--find", "--show", "--read-only"])
        .arg(image)
        .output()
        .map_err(|e| format!("losetup: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "losetup failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Loop(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

fn kernel_has(fstype: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| {
        f.lines()
            .any(|l| l.split_whitespace().last() == Some(fstype))
    })
}

/// The real mount(2) path on a loop device: read-only mount, read, unmount, mount point gone.
/// Where the kernel lacks the filesystem, the same path must fail cleanly, naming the device
/// and leaving nothing mounted or behind.
#[test]
fn cidata_real_mount_on_a_loop_device() {
    if !have("mkfs.vfat") || !have("xorriso") {
        println!("skipped: mkfs.vfat or xorriso not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (fstype, image) in [
        ("vfat", make_vfat(&dir.path().join("v"), "CIDATA")),
        ("iso9660", make_iso(&dir.path().join("i"), "cidata")),
    ] {
        let device = match attach_loop(&image) {
            Ok(d) => d,
            Err(reason) => {
                println!("skipped the real mount of {fstype}: {reason}");
                continue;
            }
        };
        let (_root_dir, root) = empty_root();
        root.create_dir_all("/dev/disk/by-label", 0o755).unwrap();
        std::os::unix::fs::symlink(&device.0, root.path("/dev/disk/by-label/cidata")).unwrap();
        let base = tempfile::tempdir().unwrap();
        let env = env_with(|e| {
            e.mounter = Arc::new(NixMounter {
                base: base.path().to_path_buf(),
            })
        });
        let result = fetch("nocloud", &root, &env);
        let leftovers = std::fs::read_dir(base.path()).unwrap().count();
        assert_eq!(leftovers, 0, "mount point removed after {fstype}");
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(
            !mounts.contains(base.path().to_str().unwrap()),
            "still mounted"
        );
        if kernel_has(fstype) {
            let found = result.unwrap().unwrap();
            assert_eq!(found.meta.hostname.as_deref(), Some("img-node"));
            assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
        } else {
            println!("kernel lacks {fstype}: checked that the mount fails cleanly instead");
            let e = result.unwrap_err().to_string();
            assert!(e.contains("/dev/disk/by-label/cidata"), "{e}");
            assert!(e.contains(fstype), "{e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel command line

fn root_with_cmdline(cmdline: &str) -> (tempfile::TempDir, Root) {
    let (dir, root) = empty_root();
    root.write_atomic("/proc/cmdline", cmdline.as_bytes(), 0o444)
        .unwrap();
    (dir, root)
}

#[test]
fn cmdline_kubeboot_userdata_file_url_is_read_under_the_root() {
    let (_dir, root) =
        root_with_cmdline("BOOT_IMAGE=/vmlinuz ro kubeboot.userdata=file:///srv/ud.yaml quiet\n");
    root.write_atomic("/srv/ud.yaml", JOIN.as_bytes(), 0o600)
        .unwrap();
    let found = fetch("cmdline", &root, &offline_env()).unwrap().unwrap();
    assert_eq!(
        found.parts[0].origin,
        "cmdline kubeboot.userdata=file:///srv/ud.yaml"
    );
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

#[test]
fn cmdline_kubeboot_userdata_missing_file_is_an_error() {
    let (_dir, root) = root_with_cmdline("kubeboot.userdata=file:///srv/none.yaml");
    let e = fetch("cmdline", &root, &offline_env()).unwrap_err();
    assert!(e.to_string().contains("/srv/none.yaml"), "{e}");
}

#[test]
fn cmdline_kubeboot_userdata_unreachable_url_is_an_error() {
    let url = format!("{}/ud", dead_url());
    let (_dir, root) = root_with_cmdline(&format!("kubeboot.userdata={url}"));
    let e = fetch("cmdline", &root, &offline_env()).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Cluster);
    assert!(e.to_string().contains(&url), "{e}");
}

#[test]
fn cmdline_nocloud_net_seed_over_http() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/seed/user-data" => reply(200, gzip(JOIN.as_bytes())),
        "/seed/meta-data" => reply(200, "local-hostname: from-meta\nlocal-ipv4: 10.9.8.7\n"),
        _ => reply(404, ""),
    });
    let (_dir, root) = root_with_cmdline(&format!(
        "ro \"ds=nocloud-net;s={}/seed;h=from-cmdline\" console=ttyS0",
        server.url
    ));
    let found = fetch("cmdline", &root, &env_with(|_| ())).unwrap().unwrap();
    assert_eq!(found.meta.hostname.as_deref(), Some("from-cmdline"));
    assert_eq!(found.meta.local_ipv4, Some("10.9.8.7".parse().unwrap()));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

#[test]
fn cmdline_nocloud_seed_path_and_plain_ds_nocloud() {
    let (_dir, root) = root_with_cmdline("ds=nocloud;s=/var/seed/");
    root.write_atomic("/var/seed/user-data", JOIN.as_bytes(), 0o600)
        .unwrap();
    let found = fetch("cmdline", &root, &offline_env()).unwrap().unwrap();
    assert_eq!(found.parts[0].origin, "cmdline file:///var/seed/user-data");
    let (_dir, root) = root_with_cmdline("ds=nocloud");
    assert_eq!(fetch("cmdline", &root, &offline_env()).unwrap(), None);
    let (_dir, root) = root_with_cmdline("ro quiet");
    assert_eq!(fetch("cmdline", &root, &offline_env()).unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Metadata services

fn ec2_server(token: &'static str, user_data: Option<&'static str>) -> Server {
    Server::start(move |r, _| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/latest/api/token") => {
            if r.header("X-aws-ec2-metadata-token-ttl-seconds").is_none() {
                return reply(400, "missing ttl");
            }
            reply(200, token)
        }
        ("GET", _) if r.header("X-aws-ec2-metadata-token") != Some(token) => reply(401, ""),
        ("GET", "/latest/user-data") => match user_data {
            Some(ud) => reply(200, ud),
            None => reply(404, ""),
        },
        ("GET", "/latest/meta-data/local-hostname") => reply(200, "ip-10-0-0-5.ec2.internal"),
        ("GET", "/latest/meta-data/local-ipv4") => reply(200, "10.0.0.5"),
        _ => reply(404, ""),
    })
}

#[test]
fn ec2_imdsv2_token_flow_with_meta_data() {
    let server = ec2_server("AQAEAHx-token==", Some(JOIN));
    let env = env_with(|e| e.ec2_url = server.url.clone());
    let (_dir, root) = empty_root();
    let found = fetch("ec2", &root, &env).unwrap().unwrap();
    assert_eq!(
        found.meta,
        MetaData {
            hostname: Some("ip-10-0-0-5.ec2.internal".into()),
            local_ipv4: Some("10.0.0.5".parse().unwrap()),
        }
    );
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
    let requests = server.requests();
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(
        requests[0].header("X-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("X-aws-ec2-metadata-token") == Some("AQAEAHx-token=="))
    );
    assert!(
        requests
            .iter()
            .all(|r| r.header("Proxy-Authorization").is_none())
    );
}

#[test]
fn ec2_404_means_no_user_data() {
    let server = ec2_server("t", None);
    let env = env_with(|e| e.ec2_url = server.url.clone());
    let (_dir, root) = empty_root();
    assert_eq!(fetch("ec2", &root, &env).unwrap(), None);
}

#[test]
fn ec2_token_refused_means_not_ec2() {
    // Another cloud's metadata service at the same address answers the PUT with 4xx.
    let server = Server::start(|_, _| reply(405, ""));
    let env = env_with(|e| e.ec2_url = server.url.clone());
    let (_dir, root) = empty_root();
    assert_eq!(fetch("ec2", &root, &env).unwrap(), None);
}

#[test]
fn ec2_rejected_token_is_an_error_naming_the_source() {
    const IMDS_TOKEN: &str = "AQAEAImdsV2SessionT0ken-not-for-logs==";
    let server = Server::start(|r, _| match r.method.as_str() {
        "PUT" => reply(200, IMDS_TOKEN),
        _ if r.header("x-aws-ec2-metadata-token") == Some(IMDS_TOKEN) => reply(401, ""),
        _ => reply(400, "the test expects the session token"),
    });
    let env = env_with(|e| e.ec2_url = server.url.clone());
    let (_dir, root) = empty_root();
    let e = fetch("ec2", &root, &env).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.starts_with("ec2:"), "{text}");
    assert!(text.contains("HTTP 401"), "the token was sent: {text}");
    assert!(!text.contains("SessionT0ken"), "{text}");
}

#[test]
fn server_errors_then_success_are_retried() {
    let server = Server::start(|r, earlier| match r.path.as_str() {
        "/latest/api/token" if earlier < 2 => reply(503, ""),
        "/latest/api/token" => reply(200, "t"),
        "/latest/user-data" if earlier < 1 => reply(500, ""),
        "/latest/user-data" => reply(200, JOIN),
        _ => reply(404, ""),
    });
    let env = env_with(|e| e.ec2_url = server.url.clone());
    let (_dir, root) = empty_root();
    let found = fetch("ec2", &root, &env).unwrap().unwrap();
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
    assert_eq!(server.hits("/latest/api/token"), 3);
    assert_eq!(server.hits("/latest/user-data"), 2);
}

#[test]
fn persistent_server_errors_are_an_error_after_the_deadline() {
    let server = Server::start(|_, _| reply(500, ""));
    let env = env_with(|e| {
        e.ec2_url = server.url.clone();
        e.retry.deadline = Duration::from_millis(300);
    });
    let (_dir, root) = empty_root();
    let e = fetch("ec2", &root, &env).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Cluster);
    let text = e.to_string();
    assert!(text.contains("ec2: PUT"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(server.hits("/latest/api/token") > 1, "retried");
}

#[test]
fn a_server_that_answered_5xx_is_not_reported_absent_when_it_later_times_out() {
    // 500 first, then answers too slow for any attempt: the source is broken, not absent.
    let server = Server::start(|_, earlier| match earlier {
        0 => reply(500, ""),
        _ => reply(500, "").after(Duration::from_secs(2)),
    });
    let env = env_with(|e| {
        e.ec2_url = server.url.clone();
        e.retry.attempt_timeout = Duration::from_millis(200);
        e.retry.deadline = Duration::from_millis(500);
    });
    let (_dir, root) = empty_root();
    let e = fetch("ec2", &root, &env).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Cluster);
    assert!(e.to_string().contains("HTTP 500"), "{e}");
}

#[test]
fn slow_response_is_abandoned_and_retried() {
    let server = Server::start(|r, earlier| match r.path.as_str() {
        "/openstack/latest/user_data" if earlier == 0 => {
            reply(200, "late").after(Duration::from_secs(2))
        }
        "/openstack/latest/user_data" => reply(200, JOIN),
        "/openstack/latest/meta_data.json" => reply(200, r#"{"hostname": "os-1"}"#),
        _ => reply(404, ""),
    });
    let env = env_with(|e| {
        e.openstack_url = server.url.clone();
        e.retry.attempt_timeout = Duration::from_millis(300);
    });
    let (_dir, root) = empty_root();
    let found = fetch("openstack", &root, &env).unwrap().unwrap();
    assert_eq!(found.meta.hostname.as_deref(), Some("os-1"));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
    assert_eq!(server.hits("/openstack/latest/user_data"), 2);
}

#[test]
fn unreachable_metadata_service_is_absent() {
    let (_dir, root) = empty_root();
    let env = offline_env();
    for name in ["ec2", "gce", "azure", "openstack"] {
        assert_eq!(fetch(name, &root, &env).unwrap(), None, "{name}");
    }
}

#[test]
fn oversized_response_is_rejected() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/openstack/latest/user_data" => reply(200, vec![b'a'; (16 << 20) + 1]),
        _ => reply(404, ""),
    });
    let env = env_with(|e| e.openstack_url = server.url.clone());
    let (_dir, root) = empty_root();
    let e = fetch("openstack", &root, &env).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
}

fn gce_server(flavor_header: bool, encoding: Option<&'static str>, user_data: Vec<u8>) -> Server {
    Server::start(move |r, _| {
        let answer = if r.header("Metadata-Flavor") != Some("Google") {
            reply(403, "Missing Metadata-Flavor:Google header.")
        } else {
            match r.path.as_str() {
                "/computeMetadata/v1/instance/attributes/user-data" => {
                    reply(200, user_data.clone())
                }
                "/computeMetadata/v1/instance/attributes/user-data-encoding" => match encoding {
                    Some(e) => reply(200, e),
                    None => reply(404, ""),
                },
                "/computeMetadata/v1/instance/hostname" => reply(200, "gce-1.c.proj.internal"),
                "/computeMetadata/v1/instance/network-interfaces/0/ip" => reply(200, "10.128.0.2"),
                _ => reply(404, ""),
            }
        };
        if flavor_header {
            answer.header("Metadata-Flavor", "Google")
        } else {
            answer
        }
    })
}

#[test]
fn gce_sends_and_checks_metadata_flavor() {
    let server = gce_server(true, None, JOIN.as_bytes().to_vec());
    let env = env_with(|e| e.gce_url = server.url.clone());
    let (_dir, root) = empty_root();
    let found = fetch("gce", &root, &env).unwrap().unwrap();
    assert_eq!(
        found.meta.hostname.as_deref(),
        Some("gce-1.c.proj.internal")
    );
    assert_eq!(found.meta.local_ipv4, Some("10.128.0.2".parse().unwrap()));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("Metadata-Flavor") == Some("Google"))
    );
}

#[test]
fn gce_base64_user_data_encoding() {
    let server = gce_server(true, Some("base64"), b64(JOIN.as_bytes()).into_bytes());
    let env = env_with(|e| e.gce_url = server.url.clone());
    let (_dir, root) = empty_root();
    let found = fetch("gce", &root, &env).unwrap().unwrap();
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

#[test]
fn gce_reply_without_flavor_header_is_not_gce() {
    let server = gce_server(false, None, JOIN.as_bytes().to_vec());
    let env = env_with(|e| e.gce_url = server.url.clone());
    let (_dir, root) = empty_root();
    assert_eq!(fetch("gce", &root, &env).unwrap(), None);
}

#[test]
fn azure_imds_user_data_is_base64() {
    let server = Server::start(|r, _| {
        if r.header("Metadata") != Some("true") {
            return reply(400, "Bad request. Required metadata header not specified");
        }
        match r.path.as_str() {
            "/metadata/instance/compute/userData?api-version=2021-01-01&format=text" => {
                reply(200, b64(JOIN.as_bytes()))
            }
            "/metadata/instance/compute/osProfile/computerName?api-version=2021-01-01&format=text" => {
                reply(200, "az-1")
            }
            "/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-01-01&format=text" => {
                reply(200, "10.1.0.4")
            }
            _ => reply(404, ""),
        }
    });
    let env = env_with(|e| e.azure_url = server.url.clone());
    let (_dir, root) = empty_root();
    let found = fetch("azure", &root, &env).unwrap().unwrap();
    assert_eq!(
        found.meta,
        MetaData {
            hostname: Some("az-1".into()),
            local_ipv4: Some("10.1.0.4".parse().unwrap()),
        }
    );
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

#[test]
fn azure_bad_base64_user_data_is_invalid() {
    let server =
        Server::start(
            |r, _| match r.path.starts_with("/metadata/instance/compute/userData") {
                true => reply(200, "%%%not base64%%%"),
                false => reply(404, ""),
            },
        );
    let env = env_with(|e| e.azure_url = server.url.clone());
    let (_dir, root) = empty_root();
    let e = fetch("azure", &root, &env).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(e.to_string().contains("azure http://"), "{e}");
}

#[test]
fn azure_falls_back_to_custom_data_in_the_seed_dir() {
    // IMDS answers with empty userData: fall back to ovf-env.xml.
    let server = Server::start(|_, _| reply(200, ""));
    let (_dir, root) = empty_root();
    let ovf = std::fs::read(fixture("azure/ovf-env.xml")).unwrap();
    root.write_atomic("/var/lib/cloud/seed/azure/ovf-env.xml", &ovf, 0o600)
        .unwrap();
    let env = env_with(|e| e.azure_url = server.url.clone());
    let found = fetch("azure", &root, &env).unwrap().unwrap();
    assert!(
        found.parts[0]
            .origin
            .starts_with("azure CustomData of /var/lib/cloud/seed/azure/ovf-env.xml (under "),
        "{:?}",
        found.parts
    );
    assert_eq!(found.meta.hostname.as_deref(), Some("azworker-3"));
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
}

#[test]
fn azure_custom_data_on_provisioning_media() {
    let (_dir, root) = empty_root();
    root.write_atomic("/dev/sr0", b"", 0o600).unwrap();
    root.write_atomic("/dev/sr1", b"", 0o600).unwrap();
    let mounter = Arc::new(DirMounter {
        dirs: HashMap::from([(root.path("/dev/sr1"), fixture("azure"))]),
        ..Default::default()
    });
    let env = env_with(|e| {
        e.mounter = mounter.clone();
        e.azure_devices = vec!["/dev/sr0".into(), "/dev/sr1".into()];
    });
    let found = fetch("azure", &root, &env).unwrap().unwrap();
    assert_eq!(found.meta.hostname.as_deref(), Some("azworker-3"));
    assert_eq!(
        found.parts[0].origin,
        "azure CustomData of /dev/sr1:/ovf-env.xml"
    );
    assert_eq!(kinds(&decode_all(&found)), ["JoinConfiguration"]);
    assert_eq!(mounter.live.load(Ordering::SeqCst), 0);
}

#[test]
fn openstack_404_is_absent() {
    let server = Server::start(|_, _| reply(404, ""));
    let env = env_with(|e| e.openstack_url = server.url.clone());
    let (_dir, root) = empty_root();
    assert_eq!(fetch("openstack", &root, &env).unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Probe order and the whole load

type FakeResult = fn() -> Result<Option<UserData>, Error>;

struct Fake {
    name: &'static str,
    result: FakeResult,
    calls: Arc<AtomicUsize>,
}

impl Source for Fake {
    fn name(&self) -> &'static str {
        self.name
    }
    fn fetch(&self, _cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (self.result)()
    }
}

fn fake_data(source: &'static str) -> Result<Option<UserData>, Error> {
    Ok(Some(UserData {
        source,
        parts: Vec::new(),
        meta: MetaData::default(),
    }))
}

fn fakes(results: &[(&'static str, FakeResult)]) -> (Vec<Box<dyn Source>>, Vec<Arc<AtomicUsize>>) {
    let calls: Vec<_> = results
        .iter()
        .map(|_| Arc::new(AtomicUsize::new(0)))
        .collect();
    let sources = results
        .iter()
        .zip(&calls)
        .map(|((name, result), calls)| {
            Box::new(Fake {
                name,
                result: *result,
                calls: calls.clone(),
            }) as Box<dyn Source>
        })
        .collect();
    (sources, calls)
}

fn run_probe(sources: &[Box<dyn Source>]) -> Result<UserData, Error> {
    let (_dir, root) = empty_root();
    let env = offline_env();
    let http = Http::new(env.retry.clone(), Vec::new());
    probe(
        sources,
        &Context {
            root: &root,
            env: &env,
            http: &http,
        },
    )
}

fn count(calls: &[Arc<AtomicUsize>]) -> Vec<usize> {
    calls.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

#[test]
fn probe_first_source_with_data_wins_and_none_falls_through() {
    let (sources, calls) = fakes(&[
        ("a", || Ok(None)),
        ("b", || fake_data("b")),
        ("c", || fake_data("c")),
    ]);
    assert_eq!(run_probe(&sources).unwrap().source, "b");
    assert_eq!(count(&calls), [1, 1, 0]);
}

#[test]
fn probe_error_stops_and_names_the_source() {
    let (sources, calls) = fakes(&[
        ("a", || Ok(None)),
        ("broken", || {
            Err(Error::Local {
                datasource: "broken",
                what: "/dev/x".into(),
                reason: "I/O error".into(),
            })
        }),
        ("c", || fake_data("c")),
    ]);
    let e = run_probe(&sources).unwrap_err();
    assert!(e.to_string().starts_with("broken:"), "{e}");
    assert_eq!(count(&calls), [1, 1, 0]);
}

#[test]
fn probe_with_nothing_anywhere_is_no_user_data() {
    let (sources, _) = fakes(&[("a", || Ok(None)), ("b", || Ok(None))]);
    let e = run_probe(&sources).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::NoUserData);
    assert!(e.to_string().contains("tried a, b"), "{e}");
}

#[test]
fn load_probes_every_source_and_finds_nothing_on_a_bare_machine() {
    let (_dir, root) = empty_root();
    let e = load(&root, &offline_env(), &Selection::Probe).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::NoUserData);
    assert!(
        e.to_string()
            .contains("local, cmdline, nocloud, configdrive, ec2, gce, azure, openstack"),
        "{e}"
    );
}

#[test]
fn load_takes_local_before_nocloud() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    for tree in ["local", "nocloud"] {
        copy_tree(&fixture(tree), dir.path());
    }
    let loaded = load(&root, &offline_env(), &Selection::Probe).unwrap();
    assert_eq!(loaded.source, "local");
    assert_eq!(
        kinds(&loaded.documents),
        ["InitConfiguration", "ClusterConfiguration"]
    );
    let loaded = load(
        &root,
        &offline_env(),
        &Selection::Datasource("nocloud".into()),
    )
    .unwrap();
    assert_eq!(loaded.source, "nocloud");
    assert_eq!(loaded.meta.hostname.as_deref(), Some("worker-1"));
}

#[test]
fn load_user_data_only_for_cloud_init_is_nothing_for_kubeboot() {
    let (_dir, root) = empty_root();
    root.write_atomic("/etc/kubeboot/user-data", b"#!/bin/sh\necho hi\n", 0o600)
        .unwrap();
    let e = load(&root, &offline_env(), &Selection::Probe).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::NoUserData);
    assert!(
        e.to_string().contains("1 part(s) left to cloud-init"),
        "{e}"
    );
}

#[test]
fn load_explicit_user_data_file_and_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ud.yaml");
    std::fs::write(&file, JOIN).unwrap();
    let (_root_dir, root) = empty_root();
    let selection = Selection::from_args(None, Some(file.to_str().unwrap())).unwrap();
    let loaded = load(&root, &offline_env(), &selection).unwrap();
    assert_eq!(
        (loaded.source, kinds(&loaded.documents)),
        ("user-data", vec!["JoinConfiguration"])
    );

    let server = Server::start(|r, _| match r.path.as_str() {
        "/ud" => reply(200, JOIN),
        _ => reply(404, ""),
    });
    let loaded = load(
        &root,
        &env_with(|_| ()),
        &Selection::Location(format!("{}/ud", server.url)),
    )
    .unwrap();
    assert_eq!(kinds(&loaded.documents), ["JoinConfiguration"]);
    let e = load(
        &root,
        &env_with(|_| ()),
        &Selection::Location(format!("{}/missing", server.url)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn a_presigned_user_data_url_is_shown_without_its_credentials() {
    const SIG: &str = "s3cr3tsig";
    let server = Server::start(|r, _| match r.path.as_str() {
        p if p.starts_with("/ok?") => reply(200, JOIN),
        p if p.starts_with("/bad?") => reply(200, "kind: [\n"),
        _ => reply(403, "denied"),
    });
    let (_dir, root) = empty_root();
    let url = |path: &str| {
        format!(
            "http://user:{SIG}@{}/{path}?X-Amz-Signature={SIG}",
            &server.url["http://".len()..]
        )
    };
    let selection = Selection::from_args(None, Some(&url("ok"))).unwrap();
    assert!(!format!("{selection:?}").contains(SIG), "{selection:?}");
    let loaded = load(&root, &env_with(|_| ()), &selection).unwrap();
    assert_eq!(
        loaded.documents[0].origin,
        format!("{}/ok?<redacted>", server.url)
    );
    for path in ["bad", "denied"] {
        let e = load(&root, &env_with(|_| ()), &Selection::Location(url(path))).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains(&format!("/{path}?<redacted>")), "{text}");
        assert!(!text.contains(SIG), "{text}");
    }
}

#[test]
fn load_rejects_malformed_user_data_with_a_config_error() {
    let (_dir, root) = empty_root();
    root.write_atomic(
        "/etc/kubeboot/user-data.d/50-bad.yaml",
        &gzip(b"x")[..10],
        0o600,
    )
    .unwrap();
    let e = load(&root, &offline_env(), &Selection::Probe).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config);
    assert!(e.to_string().contains("50-bad.yaml"), "{e}");
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

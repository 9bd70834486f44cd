//! A tiny HTTPS server on loopback for unit tests: a rustls server thread answering one request
//! per connection through a handler, and certificates made with rcgen.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and what it signed, as PEM and DER.
pub struct TestCa {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    params: CertificateParams,
    key: KeyPair,
}

/// A certificate and its private key.
pub struct TestIdentity {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl TestCa {
    pub fn new(common_name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            params,
            key,
        }
    }

    /// A leaf for `127.0.0.1` and `localhost` (a server, or a client: tests do not check EKUs).
    pub fn issue(&self, common_name: &str) -> TestIdentity {
        self.issue_for(common_name, &["127.0.0.1", "localhost"])
    }

    /// A leaf for these names and addresses.
    pub fn issue_for(&self, common_name: &str, sans: &[&str]) -> TestIdentity {
        let key = KeyPair::generate().unwrap();
        let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        TestIdentity {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send no Content-Length: the body ends when the connection closes.
    pub close_delimited: bool,
}

impl TestResponse {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> TestResponse {
        TestResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            close_delimited: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> TestResponse {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A `metav1.Status` failure, as the API server sends it.
    pub fn status(code: u16, reason: &str, message: &str) -> TestResponse {
        let body = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        });
        TestResponse::json(code, body.to_string())
    }
}

type Handler = Box<dyn FnMut(&TestRequest) -> TestResponse + Send>;

pub struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<TestRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves with `identity`; when `client_ca_pem` is given, requires a client certificate
    /// signed by it.
    pub fn start(
        identity: &TestIdentity,
        client_ca_pem: Option<&str>,
        handler: impl FnMut(&TestRequest) -> TestResponse + Send + 'static,
    ) -> TestServer {
        let config = Arc::new(server_config(identity, client_ca_pem));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Handler = Box::new(handler);
        let thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || serve(listener, config, handler, requests, stop))
        };
        TestServer {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The requests that were read completely, in order.
    pub fn requests(&self) -> Vec<TestRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept() so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn server_config(identity: &TestIdentity, client_ca_pem: Option<&str>) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in crate::api::parse_certificates(pem.as_bytes(), "test CA").unwrap() {
                roots.add(cert).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = vec![CertificateDer::from(identity.cert_der.clone())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone()));
    builder.with_single_cert(chain, key).unwrap()
}

fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    mut handler: Handler,
    requests: Arc<Mutex<Vec<TestRequest>>>,
    stop: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(tcp) = stream else { continue };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
        let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
            continue;
        };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // A failed handshake (the client refused our certificate) is just a closed connection.
        let Some(request) = read_request(&mut tls) else {
            continue;
        };
        requests.lock().unwrap().push(request.clone());
        let response = handler(&request);
        let _ = write_response(&mut tls, &response);
    }
}

fn read_request(stream: &mut impl Read) -> Option<TestRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(TestRequest {
        method,
        path,
        headers,
        body,
    })
}

fn write_response(
    stream: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    response: &TestResponse,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", response.status);
    if !response.close_delimited {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.conn.send_close_notify();
    stream.flush()
}

/// An HTTP CONNECT proxy on loopback that tunnels every request to one upstream address,
/// whatever host the client asked for, and records what it was asked.
pub struct ConnectProxy {
    addr: SocketAddr,
    connects: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectProxy {
    pub fn start(upstream: SocketAddr) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connects, stop) = (Arc::clone(&connects), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = stream else { continue };
                    let connects = Arc::clone(&connects);
                    std::thread::spawn(move || tunnel(client, upstream, &connects));
                }
            })
        };
        ConnectProxy {
            addr,
            connects,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The authorities (`host:port`) clients asked to CONNECT to, in order.
    pub fn connects(&self) -> Vec<String> {
        self.connects.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn tunnel(client: TcpStream, upstream: SocketAddr, connects: &Mutex<Vec<String>>) {
    let timeout = Some(Duration::from_secs(10));
    let _ = client.set_read_timeout(timeout);
    let mut reader = BufReader::new(client);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The request head ends with an empty line.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (Some("CONNECT"), Some(authority)) = (parts.next(), parts.next()) else {
        return;
    };
    connects.lock().unwrap().push(authority.to_string());
    let mut client = reader.into_inner();
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(timeout);
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = upload.join();
}

//! Threads and wiring: the accept loop, one thread per TLS connection, request dispatch
//! (faults, authentication, controllers, REST) and response delivery, including the
//! misbehaving kinds. Every loop polls `stopping`, so dropping the server ends all threads
//! within a poll interval.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::authn::{UserInfo, authenticate, user_from_certificate};
use super::cluster::Version;
use super::controllers::{self, ControllerState, Policies};
use super::faults::{self, Fault, FaultRule, STALL_LIMIT};
use super::http::{self, ReadError, Request, Response};
use super::pki::Ca;
use super::rest;
use super::store::{ApiError, Store};

const POLL: Duration = Duration::from_millis(20);
/// Bounds how long a client that stops reading can hold a connection thread (and Drop).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// One served (or refused, or sabotaged) request, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    pub query: String,
    /// The authenticated user (`system:anonymous` included); `None` if authentication failed.
    pub user: Option<String>,
    /// The status sent; `None` if the connection was closed without an answer.
    pub status: Option<u16>,
    /// The injected fault that hit this request, by [`Fault::name`].
    pub fault: Option<&'static str>,
    /// Which TLS connection (1-based, in accept order) carried it.
    pub connection: usize,
}

pub struct State {
    pub store: Store,
    pub bookkeeping: ControllerState,
    pub policies: Policies,
    pub faults: Vec<FaultRule>,
    pub log: Vec<RequestRecord>,
    pub connections: usize,
    /// Connections after this many are served with the rogue CA's certificate.
    pub mitm_after: Option<usize>,
}

pub struct Shared {
    pub state: Mutex<State>,
    pub stopping: AtomicBool,
    pub ca: Ca,
    pub rogue_ca: Ca,
    pub tls: Arc<ServerConfig>,
    pub rogue_tls: Arc<ServerConfig>,
    pub version: Version,
}

impl Shared {
    /// The state, even if a test thread panicked while holding it.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Runs the controllers; callers hold the lock.
    pub fn sync(&self, state: &mut State) {
        let State {
            store,
            bookkeeping,
            policies,
            ..
        } = state;
        controllers::sync(
            store,
            bookkeeping,
            policies,
            &self.version,
            &self.ca,
            &self.rogue_ca,
        );
    }

    /// Sleeps `d` unless the server stops first; false if it did.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        while !self.stopping() {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::sleep((deadline - now).min(POLL));
        }
        false
    }
}

/// A TLS server config with the cluster's client-certificate verification (optional, as on
/// kube-apiserver), serving `chain`.
pub fn tls_config(
    client_ca: &Ca,
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(client_ca.cert_der.clone().into())
        .expect("test CA certificate is valid");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .expect("client verifier from one valid root");
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("serving certificate matches its key");
    Arc::new(config)
}

pub fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !shared.stopping() {
        match listener.accept() {
            Ok((tcp, _)) => {
                let (index, config) = {
                    let mut state = shared.lock();
                    state.connections += 1;
                    let index = state.connections;
                    let mitm = state.mitm_after.is_some_and(|n| index > n);
                    let config = if mitm { &shared.rogue_tls } else { &shared.tls };
                    (index, config.clone())
                };
                let shared = shared.clone();
                workers.push(thread::spawn(move || {
                    serve_connection(&shared, tcp, config, index)
                }));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
        workers.retain(|w| !w.is_finished());
    }
    for worker in workers {
        let _ = worker.join();
    }
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

fn serve_connection(shared: &Shared, tcp: TcpStream, config: Arc<ServerConfig>, index: usize) {
    let setup = tcp
        .set_nonblocking(false)
        .and_then(|_| tcp.set_read_timeout(Some(POLL)))
        .and_then(|_| tcp.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|_| tcp.set_nodelay(true));
    let (Ok(()), Ok(conn)) = (setup, ServerConnection::new(config)) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut cert_user: Option<Option<UserInfo>> = None;
    loop {
        let request = match http::read_request(&mut tls, &mut buf, &|| shared.stopping()) {
            Ok(request) => request,
            Err(ReadError::Closed | ReadError::Shutdown) => return,
            Err(ReadError::Malformed(why)) => {
                let _ = send(&mut tls, &ApiError::bad_request(why).response());
                return;
            }
            Err(ReadError::TooLarge(status)) => {
                let mut response = ApiError::too_large().response();
                response.status = status;
                let _ = send(&mut tls, &response);
                return;
            }
        };
        // The handshake is complete once a request has been read.
        let cert_user = cert_user.get_or_insert_with(|| {
            tls.conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| user_from_certificate(leaf))
        });
        let (response, delivery) = dispatch(shared, &request, cert_user.as_ref(), index);
        if !deliver(shared, &mut tls, response, delivery) {
            return;
        }
    }
}

/// How a response goes out.
enum Delivery {
    Normal,
    /// Close without sending anything.
    Drop,
    Slow {
        chunk: usize,
        pause: Duration,
    },
    Stall {
        sent: usize,
    },
    Oversized {
        len: usize,
    },
}

fn dispatch(
    shared: &Shared,
    req: &Request,
    cert_user: Option<&UserInfo>,
    connection: usize,
) -> (Option<Response>, Delivery) {
    let mut state = shared.lock();
    let fault = faults::pick(&mut state.faults, &req.method, &req.path);
    let mut record = RequestRecord {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query_string(),
        user: None,
        status: None,
        fault: fault.as_ref().map(Fault::name),
        connection,
    };
    let authenticated = authenticate(&state.store, cert_user, req.header("authorization"));
    record.user = authenticated.as_ref().ok().map(|u| u.name.clone());

    // Faults that stand in for the API server: the request has no effect.
    let stand_in = match &fault {
        Some(Fault::Status(code)) => Some(ApiError::with_code(*code).response()),
        Some(Fault::TooManyRequests { retry_after_secs }) => Some(
            ApiError::with_code(429)
                .response()
                .with_header("Retry-After", &retry_after_secs.to_string()),
        ),
        Some(Fault::Redirect(location)) => {
            Some(Response::text(302, "Found\n").with_header("Location", location))
        }
        Some(Fault::Body { status, body }) => Some(Response {
            status: *status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.clone(),
        }),
        Some(Fault::OversizedBody { .. }) => Some(Response::json(200, &serde_json::json!({}))),
        _ => None,
    };
    if let Some(response) = stand_in {
        record.status = Some(response.status);
        state.log.push(record);
        let delivery = match fault {
            Some(Fault::OversizedBody { len }) => Delivery::Oversized { len },
            _ => Delivery::Normal,
        };
        return (Some(response), delivery);
    }
    if fault == Some(Fault::Reset) {
        state.log.push(record);
        return (None, Delivery::Drop);
    }
    if let Some(Fault::Delay(d)) = fault {
        drop(state);
        if !shared.sleep(d) {
            return (None, Delivery::Drop);
        }
        state = shared.lock();
    }

    let response = match authenticated {
        Err(e) => e.response(),
        Ok(user) => {
            shared.sync(&mut state);
            let State {
                store, bookkeeping, ..
            } = &mut *state;
            let mut ctx = rest::Ctx {
                store,
                bookkeeping,
                version: &shared.version,
            };
            rest::serve(&mut ctx, req, &user)
        }
    };
    let delivery = match fault {
        Some(Fault::ResetAfterHandling) => Delivery::Drop,
        Some(Fault::SlowBody { chunk, pause }) => Delivery::Slow { chunk, pause },
        Some(Fault::StallBody { sent }) => Delivery::Stall { sent },
        _ => Delivery::Normal,
    };
    if !matches!(delivery, Delivery::Drop) {
        record.status = Some(response.status);
    }
    state.log.push(record);
    (Some(response), delivery)
}

/// Sends the response as `delivery` says; false if the connection is done.
fn deliver(shared: &Shared, tls: &mut Tls, response: Option<Response>, delivery: Delivery) -> bool {
    let Some(response) = response else {
        return false;
    };
    match delivery {
        Delivery::Drop => false,
        Delivery::Normal => send(tls, &response).is_ok(),
        Delivery::Slow { chunk, pause } => {
            if write(tls, &response.head(response.body.len())).is_err() {
                return false;
            }
            for piece in response.body.chunks(chunk.max(1)) {
                if write(tls, piece).is_err() || !shared.sleep(pause) {
                    return false;
                }
            }
            true
        }
        Delivery::Stall { sent } => {
            let announced = response.body.len().max(1);
            let sent = sent.min(announced - 1).min(response.body.len());
            let _ = write(tls, &response.head(announced))
                .and_then(|_| write(tls, &response.body[..sent]));
            shared.sleep(STALL_LIMIT);
            false
        }
        Delivery::Oversized { len } => {
            let mut junk = b"{\"kind\":\"ConfigMap\",\"data\":{\"padding\":\"".to_vec();
            junk.resize(16 * 1024, b'x');
            if write(tls, &response.head(len)).is_err() {
                return false;
            }
            let mut remaining = len;
            while remaining > 0 && !shared.stopping() {
                let n = remaining.min(junk.len());
                if write(tls, &junk[..n]).is_err() {
                    return false;
                }
                junk.fill(b'x');
                remaining -= n;
            }
            false
        }
    }
}

fn send(tls: &mut Tls, response: &Response) -> std::io::Result<()> {
    let mut bytes = response.head(response.body.len());
    bytes.extend_from_slice(&response.body);
    write(tls, &bytes)
}

fn write(tls: &mut Tls, bytes: &[u8]) -> std::io::Result<()> {
    tls.write_all(bytes)?;
    tls.flush()
}

//! etcd cluster membership for a control-plane join, as kubeadm's `app/util/etcd/etcd.go` and
//! `app/phases/etcd/local.go` do it: list members, add the joining member (as a learner: kubeadm's
//! `EtcdLearnerMode` is on by default from 1.29 and locked on from 1.32), promote it once it has
//! caught up, remove members, check every endpoint answers, and build `--initial-cluster`.
//!
//! There is no gRPC stack here: every call is a JSON POST to etcd's v3 gRPC gateway on the client
//! port (`/v3/cluster/member/list`, ...), served by every etcd from 3.4 on, over mutual TLS with
//! the etcd CA as the only trust root. 64-bit IDs travel as JSON strings.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::ExitCode;
use crate::retry::{self, Backoff};

/// kubeadm's `EtcdListenClientPort` and `EtcdListenPeerPort`.
pub const CLIENT_PORT: u16 = 2379;
pub const PEER_PORT: u16 = 2380;
/// The annotation on kubeadm's etcd Pods that carries the member's client URL.
pub const ADVERTISE_CLIENT_URLS_ANNOTATION: &str =
    "kubeadm.kubernetes.io/etcd.advertise-client-urls";
/// The label selector kubeadm lists etcd Pods in `kube-system` with.
pub const POD_LABEL_SELECTOR: &str = "component=etcd,tier=control-plane";

/// etcd member lists are small; anything bigger is not etcd.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("etcd client: {what} is not usable: {reason}; check {check}")]
    Setup {
        what: &'static str,
        reason: String,
        check: &'static str,
    },
    #[error("{0:?} is not a valid etcd peer URL like https://10.0.0.2:2380")]
    InvalidPeerUrl(String),
    #[error(
        "etcd {op} at {endpoint}: the server's certificate is not trusted ({reason}); check that \
         the endpoint is this cluster's etcd and that its serving certificate is signed by the \
         etcd CA (/etc/kubernetes/pki/etcd/ca.crt) and names this address"
    )]
    UntrustedServer {
        op: &'static str,
        endpoint: String,
        reason: String,
    },
    #[error(
        "etcd {op} at {endpoint}: the TLS connection failed ({reason}); check that the client \
         certificate is signed by the etcd CA and valid (etcd requires client certificates)"
    )]
    Tls {
        op: &'static str,
        endpoint: String,
        reason: String,
    },
    #[error(
        "etcd {op} at {endpoint}: no answer ({reason}); check that etcd runs there and that its \
         client port is reachable from this node"
    )]
    Unreachable {
        op: &'static str,
        endpoint: String,
        reason: String,
    },
    #[error("etcd {op} at {endpoint} failed: {message} (HTTP {status}){}", hint(.message))]
    Rejected {
        op: &'static str,
        endpoint: String,
        status: u16,
        /// The gRPC status code etcd's gateway reports, when it reports one.
        code: Option<i32>,
        message: String,
    },
    #[error(
        "etcd {op} at {endpoint}: unexpected answer ({reason}); check that the endpoint is an \
         etcd (v3.4 or newer) client URL"
    )]
    BadResponse {
        op: &'static str,
        endpoint: String,
        reason: String,
    },
    #[error("etcd {op} did not succeed within {after:?}: {last}")]
    GaveUp {
        op: &'static str,
        after: Duration,
        last: Box<Error>,
    },
    #[error(
        "etcd member {id:x} is not in the cluster (any more); check `etcdctl member list` for the \
         member this node expects"
    )]
    MemberNotFound { id: u64 },
    #[error(
        "etcd Pods exist, but none has the {ADVERTISE_CLIENT_URLS_ANNOTATION} annotation; check \
         that the control plane was set up by kubeadm (or kubeboot)"
    )]
    NoEndpointAnnotations,
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Setup { .. } | Error::InvalidPeerUrl(_) => ExitCode::Config,
            Error::UntrustedServer { .. } => ExitCode::Trust,
            Error::GaveUp { last, .. } => last.exit_code(),
            _ => ExitCode::Cluster,
        }
    }

    /// Whether trying again later may help: the endpoint did not answer, or etcd answered that
    /// it cannot do it now (no leader, unhealthy, another learner still joining, learner not
    /// caught up yet).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Rejected {
                status,
                code,
                message,
                ..
            } => {
                // gRPC Unavailable and DeadlineExceeded; gateway 5xx other than "not implemented".
                matches!(code, Some(14) | Some(4))
                    || (500..600).contains(status) && *status != 501
                    || TRANSIENT_MESSAGES.iter().any(|m| message.contains(m))
            }
            Error::GaveUp { last, .. } => last.is_transient(),
            _ => false,
        }
    }

    /// Whether the error is about one endpoint (so another endpoint may do better), rather than
    /// a definite answer of the cluster.
    fn is_endpoint_local(&self) -> bool {
        match self {
            Error::UntrustedServer { .. }
            | Error::Tls { .. }
            | Error::Unreachable { .. }
            | Error::BadResponse { .. } => true,
            Error::Rejected { .. } => self.is_transient(),
            _ => false,
        }
    }

    fn rejected_with(&self, needle: &str) -> bool {
        matches!(self, Error::Rejected { message, .. } if message.contains(needle))
    }
}

/// etcd's answers that mean "not now" (`rpctypes` in etcd's API).
const TRANSIENT_MESSAGES: &[&str] = &[
    "etcdserver: unhealthy cluster",
    "etcdserver: too many learner members in cluster",
    "etcdserver: can only promote a learner member which is in sync with leader",
    "etcdserver: no leader",
    "etcdserver: leader changed",
    "etcdserver: request timed out",
    "etcdserver: server stopped",
    "etcdserver: not capable",
    "etcdserver: rpc not supported for learner",
];
const ERR_PEER_URL_EXISTS: &str = "etcdserver: Peer URLs already exists";
const ERR_MEMBER_EXISTS: &str = "etcdserver: member ID already exist";
const ERR_MEMBER_NOT_FOUND: &str = "etcdserver: member not found";
const ERR_NOT_LEARNER: &str = "etcdserver: can only promote a learner member";

fn hint(message: &str) -> &'static str {
    if message.contains("too many learner members") {
        "; another control-plane node is joining: its learner must be promoted or removed first"
    } else if message.contains("unhealthy cluster") || message.contains("no leader") {
        "; a majority of the etcd members must be up before membership can change"
    } else if message.contains("in sync with leader") {
        "; the new member has not caught up with the leader yet"
    } else {
        ""
    }
}

/// One etcd member as `member list` reports it. A member that was added but has not started yet
/// has an empty name and no client URLs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(rename = "ID", default, deserialize_with = "u64_from_json")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
}

impl Member {
    /// etcd has no "started" field: a member gets its name when it first talks to the cluster.
    pub fn is_started(&self) -> bool {
        !self.name.is_empty()
    }

    /// The peer URL kubeadm identifies a member by (its first one).
    pub fn peer_url(&self) -> Option<&str> {
        self.peer_urls.first().map(String::as_str)
    }
}

/// What `/v3/maintenance/status` says about one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub version: String,
    #[serde(default, deserialize_with = "u64_from_json")]
    pub leader: u64,
    #[serde(rename = "raftTerm", default, deserialize_with = "u64_from_json")]
    pub raft_term: u64,
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
    /// Alarms and other errors the member reports (e.g. `NOSPACE`).
    #[serde(default)]
    pub errors: Vec<String>,
}

/// How long and how often a call is tried again after a transient failure: capped exponential
/// backoff with jitter (so a thousand joining nodes do not retry in step), inside a deadline
/// shared by all the retries of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub deadline: Duration,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    /// kubeadm's `EtcdAPICall` timeout (2 min) and `EtcdAPICallRetryInterval` (500 ms).
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_secs(120),
            backoff: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(5),
            },
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0-based): at least half the backoff's ceiling,
    /// the other half jittered, so that a struggling etcd is never asked again at once.
    pub fn pause(&self, retry: u32) -> Duration {
        let ceiling = self.backoff.ceiling(retry);
        let floor = ceiling / 2;
        floor + retry::full_jitter(ceiling - floor)
    }
}

/// A client for one etcd cluster, trying its endpoints in turn.
pub struct EtcdClient {
    endpoints: Vec<String>,
    agent: ureq::Agent,
    /// The same TLS setup as the agent's, for [`refusal_alert`].
    tls: Arc<ClientConfig>,
    request_timeout: Duration,
    retry: RetryPolicy,
    /// The endpoint that answered last; tried first next time.
    preferred: AtomicUsize,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.endpoints)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EtcdClient {
    /// A client for `endpoints` (`https://host:2379`), trusting only the CA certificates in
    /// `ca_pem` and authenticating with `cert_pem`/`key_pem` (kubeadm uses
    /// `etcd/healthcheck-client` for membership; `apiserver-etcd-client` works too). Every
    /// request ends after `request_timeout`; retries follow [`RetryPolicy::default`].
    pub fn new(
        endpoints: Vec<String>,
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
        request_timeout: Duration,
    ) -> Result<Self, Error> {
        let endpoints = endpoints
            .into_iter()
            .map(|e| normalize_endpoint(&e))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(setup("the endpoint list", "it is empty", ENDPOINT_CHECK));
        }
        let (ureq_tls, tls) = tls_configs(ca_pem, cert_pem, key_pem)?;
        let agent = ureq::Agent::config_builder()
            .tls_config(ureq_tls)
            .https_only(true)
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(request_timeout))
            .user_agent(concat!("kubeboot/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(EtcdClient {
            endpoints,
            agent,
            tls,
            request_timeout,
            retry: RetryPolicy::default(),
            preferred: AtomicUsize::new(0),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Adds an endpoint, e.g. the joining member's own client URL once its etcd is started, so
    /// that [`EtcdClient::check_cluster_health`] covers it (kubeadm's `AddMember` does this).
    pub fn add_endpoint(&mut self, endpoint: &str) -> Result<(), Error> {
        let endpoint = normalize_endpoint(endpoint)?;
        if !self.endpoints.contains(&endpoint) {
            self.endpoints.push(endpoint);
        }
        Ok(())
    }

    /// Replaces the endpoints with the client URLs of the started voting members, as
    /// clientv3's `Sync` does. Keeps the old list if the cluster reports none.
    pub fn sync_endpoints(&mut self) -> Result<(), Error> {
        let members = self.list_members()?;
        let urls: Vec<String> = members
            .iter()
            .filter(|m| m.is_started() && !m.is_learner)
            .flat_map(|m| m.client_urls.iter())
            .filter_map(|u| normalize_endpoint(u).ok())
            .collect();
        if !urls.is_empty() {
            log::debug!("[etcd] endpoints read from etcd: {}", urls.join(","));
            self.endpoints = urls;
            self.preferred.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn list_members(&self) -> Result<Vec<Member>, Error> {
        self.retrying("member list", |ep| self.list_once(ep))
    }

    /// The ID of the member whose first peer URL is `peer_url` (kubeadm's `GetMemberID`).
    pub fn member_id(&self, peer_url: &str) -> Result<Option<u64>, Error> {
        let members = self.list_members()?;
        Ok(find_by_peer_url(&members, peer_url).map(|m| m.id))
    }

    /// Announces a new member (`learner`: as a non-voting learner) and returns the full member
    /// list including it. If a member with this peer URL exists already (a re-run after a
    /// crash), nothing is added and the current list is returned, as kubeadm does. `name` is
    /// only used in logs: etcd learns the name when the member starts.
    pub fn add_member(
        &self,
        name: &str,
        peer_url: &str,
        learner: bool,
    ) -> Result<Vec<Member>, Error> {
        validate_peer_url(peer_url)?;
        let kind = if learner { " as learner" } else { "" };
        log::info!("[etcd] Adding etcd member {name:?} with peer URL {peer_url}{kind}");
        self.retrying("member add", |ep| {
            let members = self.list_once(ep)?;
            if find_by_peer_url(&members, peer_url).is_some() {
                log::info!(
                    "[etcd] The peer URL {peer_url} for the added etcd member already exists. \
                     Skipping etcd member addition"
                );
                return Ok(members);
            }
            let body = json!({ "peerURLs": [peer_url], "isLearner": learner });
            match self.post::<MembersResponse>(ep, "member add", "/v3/cluster/member/add", &body) {
                Ok(resp) => Ok(resp.members),
                // An earlier attempt whose answer was lost may have added it after all.
                Err(e)
                    if e.rejected_with(ERR_PEER_URL_EXISTS)
                        || e.rejected_with(ERR_MEMBER_EXISTS) =>
                {
                    self.list_once(ep)
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Makes a learner a voting member, trying again while etcd says it has not caught up with
    /// the leader. A member that votes already is left as it is (kubeadm's `MemberPromote`).
    pub fn promote(&self, id: u64) -> Result<(), Error> {
        self.retrying("member promote", |ep| {
            let members = self.list_once(ep)?;
            let member = members
                .iter()
                .find(|m| m.id == id)
                .ok_or(Error::MemberNotFound { id })?;
            if !member.is_learner {
                log::info!("[etcd] Member {id:x} already promoted");
                return Ok(());
            }
            let body = json!({ "ID": id.to_string() });
            match self.post::<MembersResponse>(
                ep,
                "member promote",
                "/v3/cluster/member/promote",
                &body,
            ) {
                Ok(_) => {
                    log::info!("[etcd] The learner was promoted as a voting member: {id:x}");
                    Ok(())
                }
                Err(e) if e.rejected_with(ERR_NOT_LEARNER) && !e.is_transient() => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// Removes a member and returns the members left. A member that is gone already counts as
    /// removed, so a re-run does not fail.
    pub fn remove(&self, id: u64) -> Result<Vec<Member>, Error> {
        log::info!("[etcd] Removing etcd member {id:x}");
        self.retrying("member remove", |ep| {
            let body = json!({ "ID": id.to_string() });
            match self.post::<MembersResponse>(
                ep,
                "member remove",
                "/v3/cluster/member/remove",
                &body,
            ) {
                Ok(resp) => Ok(resp.members),
                Err(e) if e.rejected_with(ERR_MEMBER_NOT_FOUND) => {
                    log::info!("[etcd] Member {id:x} was already removed");
                    self.list_once(ep)
                }
                Err(e) => Err(e),
            }
        })
    }

    /// The status of one endpoint, tried again on transient failures.
    pub fn status(&self, endpoint: &str) -> Result<Status, Error> {
        let endpoint = normalize_endpoint(endpoint)?;
        self.retry_loop("status", || {
            self.post(&endpoint, "status", "/v3/maintenance/status", &json!({}))
        })
    }

    /// Every endpoint answers a status request (kubeadm's `CheckClusterHealth`): the endpoints'
    /// statuses in order, or the first endpoint that did not answer within the deadline.
    pub fn check_cluster_health(&self) -> Result<Vec<(String, Status)>, Error> {
        self.endpoints
            .iter()
            .map(|ep| self.status(ep).map(|s| (ep.clone(), s)))
            .collect()
    }

    fn list_once(&self, endpoint: &str) -> Result<Vec<Member>, Error> {
        let path = "/v3/cluster/member/list";
        let resp: MembersResponse = self.post(endpoint, "member list", path, &json!({}))?;
        Ok(resp.members)
    }

    /// Runs `call` against the endpoints in turn, starting with the one that answered last,
    /// until one succeeds; repeats with backoff while failures are transient.
    fn retrying<T>(
        &self,
        op: &'static str,
        call: impl Fn(&str) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.retry_loop(op, || {
            let start = self.preferred.load(Ordering::Relaxed);
            let mut last = None;
            for i in 0..self.endpoints.len() {
                let index = (start + i) % self.endpoints.len();
                match call(&self.endpoints[index]) {
                    Ok(v) => {
                        self.preferred.store(index, Ordering::Relaxed);
                        return Ok(v);
                    }
                    Err(e) if e.is_endpoint_local() => {
                        log::debug!("[etcd] {e}");
                        // Report a transient error if there is one: it means "retry".
                        if last
                            .as_ref()
                            .is_none_or(|l: &Error| !l.is_transient() || e.is_transient())
                        {
                            last = Some(e);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| setup("the endpoint list", "it is empty", ENDPOINT_CHECK)))
        })
    }

    fn retry_loop<T>(
        &self,
        op: &'static str,
        mut attempt: impl FnMut() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let deadline = Instant::now() + self.retry.deadline;
        for retry in 0u32.. {
            let err = match attempt() {
                Ok(v) => return Ok(v),
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => e,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::GaveUp {
                    op,
                    after: self.retry.deadline,
                    last: Box::new(err),
                });
            }
            let pause = self.retry.pause(retry).min(left);
            log::debug!("[etcd] {err}; retrying in {pause:?}");
            std::thread::sleep(pause);
        }
        unreachable!("the retry loop only ends by returning")
    }

    fn post<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        op: &'static str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Error> {
        let body = serde_json::to_vec(body).map_err(|e| bad_response(op, endpoint, e))?;
        let mut response = self
            .agent
            .post(format!("{endpoint}{path}"))
            .content_type("application/json")
            .send(&body[..])
            .map_err(|e| self.transport_error(op, endpoint, e))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_error(op, endpoint, e))?;
        if status != 200 {
            return Err(rejected(op, endpoint, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| bad_response(op, endpoint, e))
    }

    /// etcd refuses a client certificate with a TLS alert right after the handshake, but the
    /// client has sent its request by then and usually sees only the closed connection (broken
    /// pipe, reset). So when a connection is closed on us, a handshake without a request tells
    /// whether etcd refuses us: then the node says so instead of "no answer".
    fn transport_error(&self, op: &'static str, endpoint: &str, err: ureq::Error) -> Error {
        if closed_by_peer(&err) {
            if let Some(alert) = refusal_alert(&self.tls, endpoint, self.request_timeout) {
                return tls_error(op, endpoint, &alert);
            }
        }
        transport_error(op, endpoint, err)
    }
}

/// The `--initial-cluster` value for the member `name` at `peer_url`, as kubeadm builds it from
/// the list `add_member` returned: `name=peerURL` per member, comma-joined, in the list's order.
/// The joining member gets `name`; another member that has not started yet (so has no name,
/// e.g. a concurrent join) gets its hex ID as name, as kubeadm's `AddMember` does: etcd matches
/// the other members by peer URL, only the own name must match `--name`. With no members (the
/// first control-plane node), it is `name=peerURL` alone.
pub fn initial_cluster(members: &[Member], name: &str, peer_url: &str) -> String {
    let mut entries: Vec<String> = members
        .iter()
        .filter_map(|m| {
            let url = m.peer_url()?;
            Some(if url == peer_url {
                format!("{name}={peer_url}")
            } else if m.name.is_empty() {
                format!("{:x}={url}", m.id)
            } else {
                format!("{}={url}", m.name)
            })
        })
        .collect();
    if find_by_peer_url(members, peer_url).is_none() {
        entries.push(format!("{name}={peer_url}"));
    }
    entries.join(",")
}

/// kubeadm's `GetClientURLByIP`: `https://<ip>:2379`, IPv6 in brackets.
pub fn client_url(ip: IpAddr) -> String {
    format!("https://{}", SocketAddr::new(ip, CLIENT_PORT))
}

/// kubeadm's `GetPeerURL`: `https://<advertise address>:2380`, IPv6 in brackets.
pub fn peer_url(ip: IpAddr) -> String {
    format!("https://{}", SocketAddr::new(ip, PEER_PORT))
}

/// The etcd client URLs from kubeadm's etcd Pods (a PodList from `kube-system` with
/// [`POD_LABEL_SELECTOR`], as JSON), as kubeadm's `getRawEtcdEndpointsFromPodAnnotation` reads
/// them. No Pods yet gives an empty list (the static Pods may not be mirrored yet: list again
/// later); Pods without the annotation are an error, as in kubeadm.
pub fn endpoints_from_pods(pod_list: &serde_json::Value) -> Result<Vec<String>, Error> {
    let pods = pod_list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let endpoints: Vec<String> = pods
        .iter()
        .filter_map(|p| p["metadata"]["annotations"][ADVERTISE_CLIENT_URLS_ANNOTATION].as_str())
        .map(str::to_string)
        .collect();
    if endpoints.is_empty() && !pods.is_empty() {
        return Err(Error::NoEndpointAnnotations);
    }
    Ok(endpoints)
}

#[derive(Deserialize)]
struct MembersResponse {
    #[serde(default)]
    members: Vec<Member>,
}

/// The body etcd's gateway sends with a non-200 status.
#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    code: Option<i32>,
}

fn find_by_peer_url<'a>(members: &'a [Member], peer_url: &str) -> Option<&'a Member> {
    members.iter().find(|m| m.peer_url() == Some(peer_url))
}

/// protobuf's JSON mapping writes 64-bit integers as strings; accept numbers too.
fn u64_from_json<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Text(String),
        Number(u64),
    }
    match Wire::deserialize(d)? {
        Wire::Text(s) => s.parse().map_err(serde::de::Error::custom),
        Wire::Number(n) => Ok(n),
    }
}

const ENDPOINT_CHECK: &str = "the etcd endpoints (https://<address>:2379)";

fn setup(what: &'static str, reason: impl ToString, check: &'static str) -> Error {
    Error::Setup {
        what,
        reason: reason.to_string(),
        check,
    }
}

fn normalize_endpoint(endpoint: &str) -> Result<String, Error> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    match trimmed.strip_prefix("https://") {
        Some(authority) if !authority.is_empty() && !authority.contains(['/', '?', '#', '@']) => {
            Ok(trimmed.to_string())
        }
        _ => Err(setup(
            "the etcd endpoint",
            format!("{endpoint:?} is not an https://host:port URL"),
            ENDPOINT_CHECK,
        )),
    }
}

fn validate_peer_url(url: &str) -> Result<(), Error> {
    let authority = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match authority {
        Some(a) if !a.is_empty() && !a.contains(['/', '?', '#', '@', ' ', ',', '=']) => Ok(()),
        _ => Err(Error::InvalidPeerUrl(url.to_string())),
    }
}

/// ureq's TLS config and the equivalent rustls config, both trusting only the etcd CA.
fn tls_configs(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<(TlsConfig, Arc<ClientConfig>), Error> {
    const CA_CHECK: &str = "the etcd CA certificate (/etc/kubernetes/pki/etcd/ca.crt)";
    const CERT_CHECK: &str = "the etcd client certificate and key \
        (/etc/kubernetes/pki/etcd/healthcheck-client.crt and .key)";
    let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| setup("the etcd CA", e, CA_CHECK))?;
    let mut roots = RootCertStore::empty();
    for cert in &ca {
        roots
            .add(cert.clone())
            .map_err(|e| setup("the etcd CA", e, CA_CHECK))?;
    }
    if roots.is_empty() {
        return Err(setup("the etcd CA", "no PEM certificate found", CA_CHECK));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| setup("the client certificate", e, CERT_CHECK))?;
    if chain.is_empty() {
        return Err(setup(
            "the client certificate",
            "no PEM certificate found",
            CERT_CHECK,
        ));
    }
    // Never show the parser's error for a key: it is about secret bytes.
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| setup("the client key", "no readable PEM private key", CERT_CHECK))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Building the rustls config here makes a bad key, or a key that does not match the
    // certificate, an error now (ureq would panic on it later).
    let rustls_config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup("the TLS configuration", e, CERT_CHECK))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain.clone(), key)
        .map_err(|e| setup("the client certificate and key", e, CERT_CHECK))?;
    let roots: Vec<Certificate<'static>> = ca
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let chain: Vec<Certificate<'static>> = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    // Same PEM parser as above, so this cannot fail once that succeeded.
    let key = PrivateKey::from_pem(key_pem)
        .map_err(|_| setup("the client key", "no readable PEM private key", CERT_CHECK))?;
    let ureq_config = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
        .build();
    Ok((ureq_config, Arc::new(rustls_config)))
}

/// Connects to `endpoint`, completes a TLS handshake and reads once without sending anything:
/// the fatal alert a server that refuses the client sends then, if any. Bounded by `wait` per
/// step.
fn refusal_alert(
    config: &Arc<ClientConfig>,
    endpoint: &str,
    wait: Duration,
) -> Option<rustls::Error> {
    let (host, port) = host_port(endpoint.strip_prefix("https://")?)?;
    let server_name = ServerName::try_from(host.to_string()).ok()?;
    let addr = (host, port).to_socket_addrs().ok()?.next()?;
    let mut sock = TcpStream::connect_timeout(&addr, wait).ok()?;
    sock.set_read_timeout(Some(wait)).ok()?;
    sock.set_write_timeout(Some(wait)).ok()?;
    let mut tls = ClientConnection::new(config.clone(), server_name).ok()?;
    // The first call ends once our last handshake flight is sent; the second reads the answer
    // to it: an alert, a session ticket (accepted), or nothing until `wait`.
    let outcome = tls
        .complete_io(&mut sock)
        .and_then(|_| tls.complete_io(&mut sock));
    outcome.err().as_ref().and_then(rustls_error).cloned()
}

fn host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.map_or(Some(443), |p| p.parse().ok())?;
    Some((host, port))
}

fn rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

fn closed_by_peer(err: &ureq::Error) -> bool {
    matches!(err, ureq::Error::Io(e) if matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    ))
}

fn tls_error(op: &'static str, endpoint: &str, err: &rustls::Error) -> Error {
    let (endpoint, reason) = (endpoint.to_string(), err.to_string());
    match err {
        rustls::Error::InvalidCertificate(_) => Error::UntrustedServer {
            op,
            endpoint,
            reason,
        },
        _ => Error::Tls {
            op,
            endpoint,
            reason,
        },
    }
}

fn transport_error(op: &'static str, endpoint: &str, err: ureq::Error) -> Error {
    let tls = match &err {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(e) => rustls_error(e),
        _ => None,
    };
    let endpoint = endpoint.to_string();
    match tls {
        Some(e) => tls_error(op, &endpoint, e),
        None => match err {
            ureq::Error::Tls(reason) => Error::Tls {
                op,
                endpoint,
                reason: reason.to_string(),
            },
            ureq::Error::Protocol(_) | ureq::Error::BodyExceedsLimit(_) => Error::BadResponse {
                op,
                endpoint,
                reason: err.to_string(),
            },
            _ => Error::Unreachable {
                op,
                endpoint,
                reason: err.to_string(),
            },
        },
    }
}

fn rejected(op: &'static str, endpoint: &str, status: u16, body: &[u8]) -> Error {
    let (message, code) = match serde_json::from_slice::<GatewayError>(body) {
        Ok(e) if !e.error.is_empty() || !e.message.is_empty() => {
            let message = if e.message.is_empty() {
                e.error
            } else {
                e.message
            };
            (message, e.code)
        }
        _ => (printable_prefix(body), None),
    };
    Error::Rejected {
        op,
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
    }
}

/// The start of an unexpected body, safe for a console line.
fn printable_prefix(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text.trim().to_string()
}

fn bad_response(op: &'static str, endpoint: &str, err: impl ToString) -> Error {
    Error::BadResponse {
        op,
        endpoint: endpoint.to_string(),
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str, peer: &str) -> Member {
        Member {
            id,
            name: name.to_string(),
            peer_urls: vec![peer.to_string()],
            client_urls: vec![],
            is_learner: false,
        }
    }

    #[test]
    fn members_parse_from_gateway_json_with_string_ids() {
        let body = r#"{"header":{"cluster_id":"15118495548433857066"},"members":[
            {"ID":"1843639333039634766","peerURLs":["https://10.0.0.2:2380"],"isLearner":true},
            {"ID":"13668033151171901709","name":"cp-1","peerURLs":["https://10.0.0.1:2380"],
             "clientURLs":["https://10.0.0.1:2379"]}]}"#;
        let resp: MembersResponse = serde_json::from_str(body).unwrap();
        assert_eq!(resp.members.len(), 2);
        let new = &resp.members[0];
        assert_eq!(new.id, 1843639333039634766);
        assert!(new.is_learner && !new.is_started() && new.client_urls.is_empty());
        let old = &resp.members[1];
        assert_eq!(old.id, 13668033151171901709);
        assert_eq!(old.name, "cp-1");
        assert!(!old.is_learner && old.is_started());
    }

    #[test]
    fn numeric_ids_are_accepted_and_garbage_is_not() {
        let m: Member = serde_json::from_str(r#"{"ID":42,"peerURLs":["https://a:2380"]}"#).unwrap();
        assert_eq!(m.id, 42);
        assert!(serde_json::from_str::<Member>(r#"{"ID":"x42"}"#).is_err());
        assert!(serde_json::from_str::<Member>(r#"{"ID":"-1"}"#).is_err());
    }

    #[test]
    fn an_empty_list_answer_has_no_members() {
        let resp: MembersResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(resp.members.is_empty());
    }

    #[test]
    fn initial_cluster_names_the_joining_member_and_unstarted_ones_by_hex_id() {
        let members = vec![
            member(0xabc, "", "https://10.0.0.3:2380"),
            member(1, "cp-1", "https://10.0.0.1:2380"),
            member(0x8e9e05c52164694d, "", "https://10.0.0.2:2380"),
        ];
        assert_eq!(
            initial_cluster(&members, "cp-2", "https://10.0.0.2:2380"),
            "abc=https://10.0.0.3:2380,cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380"
        );
    }

    #[test]
    fn initial_cluster_of_the_first_member_is_itself() {
        assert_eq!(
            initial_cluster(&[], "cp-1", "https://10.0.0.1:2380"),
            "cp-1=https://10.0.0.1:2380"
        );
    }

    #[test]
    fn initial_cluster_includes_the_own_entry_when_the_list_lacks_it() {
        let members = vec![member(1, "cp-1", "https://10.0.0.1:2380")];
        assert_eq!(
            initial_cluster(&members, "cp-2", "https://[fd00::2]:2380"),
            "cp-1=https://10.0.0.1:2380,cp-2=https://[fd00::2]:2380"
        );
    }

    #[test]
    fn urls_follow_kubeadm_ports_and_bracket_ipv6() {
        assert_eq!(
            client_url("10.0.0.1".parse().unwrap()),
            "https://10.0.0.1:2379"
        );
        assert_eq!(
            peer_url("fd00::1".parse().unwrap()),
            "https://[fd00::1]:2380"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_the_upper_half() {
        let p = RetryPolicy {
            deadline: Duration::from_secs(60),
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
            },
        };
        let ms = Duration::from_millis;
        for (retry, floor, ceiling) in [
            (0, ms(50), ms(100)),
            (2, ms(200), ms(400)),
            (3, ms(400), ms(800)),
            (10, ms(500), ms(1000)),
            (u32::MAX, ms(500), ms(1000)),
        ] {
            for _ in 0..20 {
                let pause = p.pause(retry);
                assert!(floor <= pause && pause <= ceiling, "{retry}: {pause:?}");
            }
        }
    }

    fn rejected_msg(status: u16, code: Option<i32>, message: &str) -> Error {
        Error::Rejected {
            op: "member add",
            endpoint: "https://10.0.0.1:2379".into(),
            status,
            code,
            message: message.into(),
        }
    }

    #[test]
    fn etcd_answers_that_mean_not_now_are_transient() {
        assert!(
            rejected_msg(
                412,
                Some(9),
                "etcdserver: too many learner members in cluster"
            )
            .is_transient()
        );
        assert!(rejected_msg(503, Some(14), "etcdserver: unhealthy cluster").is_transient());
        assert!(
            rejected_msg(
                412,
                Some(9),
                "etcdserver: can only promote a learner member which is in sync with leader"
            )
            .is_transient()
        );
        assert!(
            !rejected_msg(
                412,
                Some(9),
                "etcdserver: can only promote a learner member"
            )
            .is_transient()
        );
        assert!(!rejected_msg(404, Some(5), "etcdserver: member not found").is_transient());
        assert!(
            !rejected_msg(400, Some(3), "etcdserver: given member URLs are invalid").is_transient()
        );
    }

    #[test]
    fn gateway_error_bodies_become_messages_with_hints() {
        let body = br#"{"error":"etcdserver: too many learner members in cluster","message":"etcdserver: too many learner members in cluster","code":9}"#;
        let e = rejected("member add", "https://10.0.0.1:2379", 412, body);
        let text = e.to_string();
        assert!(
            text.contains("member add at https://10.0.0.1:2379"),
            "{text}"
        );
        assert!(text.contains("too many learner members"), "{text}");
        assert!(
            text.contains("another control-plane node is joining"),
            "{text}"
        );
        let e = rejected(
            "status",
            "https://h:2379",
            502,
            b"<html>\nbad gateway\n</html>",
        );
        assert!(
            matches!(&e, Error::Rejected { message, code: None, .. } if message == "<html> bad gateway </html>")
        );
        assert!(e.is_transient());
    }

    #[test]
    fn host_and_port_come_from_the_authority() {
        assert_eq!(host_port("10.0.0.1:2379"), Some(("10.0.0.1", 2379)));
        assert_eq!(host_port("[fd00::1]:2379"), Some(("fd00::1", 2379)));
        assert_eq!(host_port("etcd.example"), Some(("etcd.example", 443)));
        assert_eq!(host_port("[fd00::1]"), Some(("fd00::1", 443)));
        assert_eq!(host_port("h:notaport"), None);
    }

    #[test]
    fn endpoints_must_be_https_urls() {
        assert_eq!(
            normalize_endpoint("https://10.0.0.1:2379/").unwrap(),
            "https://10.0.0.1:2379"
        );
        assert!(normalize_endpoint("http://10.0.0.1:2379").is_err());
        assert!(normalize_endpoint("https://").is_err());
        assert!(normalize_endpoint("https://a:1/v3").is_err());
    }

    #[test]
    fn peer_urls_are_checked_before_anything_is_sent() {
        assert!(validate_peer_url("https://10.0.0.2:2380").is_ok());
        assert!(validate_peer_url("https://[fd00::2]:2380").is_ok());
        for bad in [
            "10.0.0.2:2380",
            "https://",
            "https://a:2380,b=https://c:2380",
            "ftp://a",
        ] {
            assert!(
                matches!(validate_peer_url(bad), Err(Error::InvalidPeerUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_tls_material_is_a_setup_error_without_key_bytes() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let ca_pem = ca.cert.pem();
        let cert_pem = ca.cert.pem();
        let key_pem = ca.signing_key.serialize_pem();
        let eps = || vec!["https://127.0.0.1:2379".to_string()];
        let t = Duration::from_secs(1);
        assert!(
            EtcdClient::new(
                eps(),
                ca_pem.as_bytes(),
                cert_pem.as_bytes(),
                key_pem.as_bytes(),
                t
            )
            .is_ok()
        );

        let err =
            EtcdClient::new(eps(), b"", cert_pem.as_bytes(), key_pem.as_bytes(), t).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Setup {
                    what: "the etcd CA",
                    ..
                }
            ),
            "{err}"
        );
        let err =
            EtcdClient::new(eps(), ca_pem.as_bytes(), cert_pem.as_bytes(), b"nope", t).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Setup {
                    what: "the client key",
                    ..
                }
            ),
            "{err}"
        );
        // A key that belongs to another certificate.
        let other_key = other.signing_key.serialize_pem();
        let err = EtcdClient::new(
            eps(),
            ca_pem.as_bytes(),
            cert_pem.as_bytes(),
            other_key.as_bytes(),
            t,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Setup {
                    what: "the client certificate and key",
                    ..
                }
            ),
            "{err}"
        );
        let secret_line = other_key.lines().nth(1).unwrap();
        assert!(!err.to_string().contains(secret_line));
        assert!(!format!("{err:?}").contains(secret_line));
        assert_eq!(err.exit_code(), ExitCode::Config);

        let err = EtcdClient::new(
            vec![],
            ca_pem.as_bytes(),
            cert_pem.as_bytes(),
            key_pem.as_bytes(),
            t,
        )
        .unwrap_err();
        assert!(err.to_string().contains("endpoint list"), "{err}");
    }

    #[test]
    fn debug_output_names_endpoints_only() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        let key_pem = ca.signing_key.serialize_pem();
        let client = EtcdClient::new(
            vec!["https://127.0.0.1:2379".into()],
            ca.cert.pem().as_bytes(),
            ca.cert.pem().as_bytes(),
            key_pem.as_bytes(),
            Duration::from_secs(1),
        )
        .unwrap();
        let debug = format!("{client:?}");
        assert!(debug.contains("https://127.0.0.1:2379"));
        assert!(!debug.contains(key_pem.lines().nth(1).unwrap()));
    }

    #[test]
    fn an_unreachable_endpoint_gives_up_at_the_deadline_naming_it() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        let key_pem = ca.signing_key.serialize_pem();
        // A port nobody listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = format!("https://127.0.0.1:{port}");
        let client = EtcdClient::new(
            vec![endpoint.clone()],
            ca.cert.pem().as_bytes(),
            ca.cert.pem().as_bytes(),
            key_pem.as_bytes(),
            Duration::from_secs(1),
        )
        .unwrap()
        .with_retry(RetryPolicy {
            deadline: Duration::from_millis(200),
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(50),
            },
        });
        let err = client.list_members().unwrap_err();
        match &err {
            Error::GaveUp {
                op: "member list",
                last,
                ..
            } => {
                assert!(matches!(**last, Error::Unreachable { .. }), "{last}")
            }
            other => panic!("expected GaveUp, got {other}"),
        }
        assert!(err.to_string().contains(&endpoint), "{err}");
        assert_eq!(err.exit_code(), ExitCode::Cluster);
    }

    #[test]
    fn endpoints_come_from_etcd_pod_annotations() {
        let pod = |annotated: bool| {
            let annotations = if annotated {
                json!({ADVERTISE_CLIENT_URLS_ANNOTATION: "https://10.0.0.1:2379"})
            } else {
                json!({})
            };
            json!({"metadata": {"name": "etcd-cp1", "annotations": annotations}})
        };
        let list = |pods: &[serde_json::Value]| json!({"kind": "PodList", "items": pods});
        assert_eq!(
            endpoints_from_pods(&list(&[])).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            endpoints_from_pods(&list(&[pod(true), pod(false)])).unwrap(),
            vec!["https://10.0.0.1:2379".to_string()]
        );
        assert!(matches!(
            endpoints_from_pods(&list(&[pod(false)])),
            Err(Error::NoEndpointAnnotations)
        ));
    }
}

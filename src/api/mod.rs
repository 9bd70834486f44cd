//! A small synchronous Kubernetes API client: JSON over HTTPS (ureq + rustls with aws-lc-rs),
//! with paths from k8s-openapi's resource types; objects are sent typed and read back as JSON
//! or as views of the fields used (see [`Client::get_as`]). It trusts only what it is given, never follows redirects, goes
//! through `HTTPS_PROXY` when asked to, unless `NO_PROXY` or loopback exempts the server (as Go
//! clients do; see [`crate::proxy`]), caps response bodies, turns `metav1.Status` answers into
//! [`Error::Status`], and retries 429, 5xx and connection failures (honouring `Retry-After`)
//! inside a deadline.

mod retry;
#[cfg(test)]
pub(crate) mod testserver;
mod tls;

use std::time::Duration;

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ExitCode;
use crate::proxy::ProxyEnv;

pub use retry::RetryPolicy;
pub use tls::{Auth, ClientIdentity, TlsSetupError, Trust, parse_certificates};

/// Default cap on a response body. cluster-info, CSRs and ConfigMaps are a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// A failed API call: the method and URL, what happened, and what to check. Never contains a
/// token or a key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused the request with a `metav1.Status`.
    #[error("{method} {url}: {code} {reason}: {message}")]
    Status {
        method: &'static str,
        url: String,
        code: u16,
        /// `NotFound`, `AlreadyExists`, `Forbidden`, ... (empty when the server gave none).
        reason: String,
        message: String,
    },
    /// An error status without a `metav1.Status` body (a proxy, a load balancer, not an API server).
    #[error(
        "{method} {url}: HTTP {code} ({body:?}); check that the address is the API server itself"
    )]
    Http {
        method: &'static str,
        url: String,
        code: u16,
        /// The start of the body, for the console.
        body: String,
    },
    /// The server's certificate was not accepted (unknown CA, wrong name, expired).
    #[error(
        "{method} {url}: the server's TLS certificate is not trusted ({detail}); check the CA \
         bundle and that this address is the cluster's API server"
    )]
    Trust {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "{method} {url}: TLS handshake failed ({detail}); check the client certificate and that \
         the port serves HTTPS"
    )]
    Tls {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "{method} {url}: cannot connect ({detail}); check that the API server is running and \
         reachable from this node (address, port, firewall, DNS)"
    )]
    Connect {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "{method} {url}: no answer in time ({detail}); check that the API server is healthy and \
         reachable"
    )]
    Timeout {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "{method} {url}: the server answered {code} redirecting to {location:?}; redirects are \
         not followed: use the API server's own address"
    )]
    Redirect {
        method: &'static str,
        url: String,
        code: u16,
        location: String,
    },
    #[error("{method} {url}: the response is larger than {limit} bytes; refused")]
    BodyTooLarge {
        method: &'static str,
        url: String,
        limit: u64,
    },
    #[error("{method} {url}: cannot decode the response: {detail}")]
    Decode {
        method: &'static str,
        url: String,
        detail: String,
    },
    /// The request itself could not be made (bad name, unencodable body, HTTP protocol error).
    #[error("{method} {url}: {detail}")]
    Request {
        method: &'static str,
        url: String,
        detail: String,
    },
    /// A retryable failure that persisted until the attempts or the deadline ran out.
    #[error("{source} (gave up after {attempts} attempts)")]
    GaveUp {
        attempts: u32,
        #[source]
        source: Box<Error>,
    },
    #[error("cannot set up an API client for {server}: {detail}")]
    Setup { server: String, detail: String },
}

impl Error {
    /// The error after retries, if any were made.
    pub fn last(&self) -> &Error {
        match self {
            Error::GaveUp { source, .. } => source.last(),
            other => other,
        }
    }

    /// The HTTP status, for answers that had one.
    pub fn status_code(&self) -> Option<u16> {
        match self.last() {
            Error::Status { code, .. } | Error::Http { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The `metav1.Status` reason (`NotFound`, `AlreadyExists`, ...), if the server sent one.
    pub fn reason(&self) -> Option<&str> {
        match self.last() {
            Error::Status { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status_code() == Some(404)
    }

    pub fn is_already_exists(&self) -> bool {
        self.status_code() == Some(409) && self.reason() == Some("AlreadyExists")
    }

    pub fn is_forbidden(&self) -> bool {
        self.status_code() == Some(403)
    }

    /// The server's certificate was refused: the one failure that must never be retried blindly.
    pub fn is_trust(&self) -> bool {
        matches!(self.last(), Error::Trust { .. })
    }

    /// Trust for an unverifiable server, Config for a client that cannot be set up, Cluster for
    /// everything the API server did or failed to do.
    pub fn exit_code(&self) -> ExitCode {
        match self.last() {
            Error::Trust { .. } => ExitCode::Trust,
            Error::Setup { .. } => ExitCode::Config,
            _ => ExitCode::Cluster,
        }
    }
}

/// The HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A PATCH body and its content type.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// `application/merge-patch+json` (RFC 7386).
    Merge(serde_json::Value),
    /// `application/strategic-merge-patch+json`, as kubeadm patches Nodes.
    Strategic(serde_json::Value),
}

impl Patch {
    fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
        }
    }
    fn value(&self) -> &serde_json::Value {
        match self {
            Patch::Merge(v) | Patch::Strategic(v) => v,
        }
    }
}

/// Everything a [`Client`] needs besides the server URL.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub trust: Trust,
    pub auth: Auth,
    pub retry: RetryPolicy,
    /// TCP connect (and DNS) timeout of one attempt.
    pub connect_timeout: Duration,
    /// Whole-exchange timeout of one attempt, body included.
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    /// The proxy variables deciding whether the server is reached through a proxy: none by
    /// default; the clients kubeadm makes with client-go (discovery, TLS bootstrap, admin.conf)
    /// take the environment's ([`ProxyEnv::from_process`]), its bare health checks do not.
    pub proxy: ProxyEnv,
}

impl ClientOptions {
    pub fn new(trust: Trust, auth: Auth) -> Self {
        ClientOptions {
            trust,
            auth,
            retry: RetryPolicy::standard(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            proxy: ProxyEnv::none(),
        }
    }
}

/// A client for one API server.
pub struct Client {
    agent: ureq::Agent,
    server: String,
    bearer: Option<String>,
    retry: RetryPolicy,
    max_body_bytes: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The `data` of a ConfigMap (`V = String`) or a Secret (`V = ByteString`), read with
/// [`Client::get_as`]. Nobody reads their metadata, and decoding an `ObjectMeta` links in the
/// parsers of its timestamps and managed fields.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct DataView<V> {
    pub data: Option<std::collections::BTreeMap<String, V>>,
}

/// Which resource scopes have a namespace in their URL.
pub trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

impl Client {
    /// `server` is the API server's base URL, `https://host:port`.
    pub fn new(server: &str, options: ClientOptions) -> Result<Client, Error> {
        let setup = |detail: String| Error::Setup {
            server: crate::logging::redact_url(server),
            detail,
        };
        let base = normalize_server(server).map_err(setup)?;
        if !options.trust.verifies_server() && !matches!(options.auth, Auth::Anonymous) {
            // Defence in depth: credentials go only to a server that proved the cluster CA.
            return Err(setup(
                "credentials are never sent to a server whose certificate is not verified (an \
                 unverified connection is only for the anonymous first cluster-info fetch)"
                    .into(),
            ));
        }
        let tls = tls::ureq_tls_config(&options.trust, &options.auth)
            .map_err(|e| setup(e.to_string()))?;
        let proxy = match proxy_for(&base, &options.proxy) {
            Some(p) => {
                log::debug!("[api] Reaching {base} through proxy {p}");
                Some(ureq::Proxy::new(p.url()).map_err(|e| {
                    setup(format!(
                        "invalid proxy \"{p}\" ({e}); check HTTPS_PROXY, or exempt the server \
                         in NO_PROXY"
                    ))
                })?)
            }
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(true)
            .max_redirects(0)
            .proxy(proxy)
            .tls_config(tls)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            .user_agent(concat!("kubeboot/", env!("CARGO_PKG_VERSION")))
            .build();
        let bearer = match options.auth {
            Auth::BearerToken(token) => Some(token),
            Auth::Anonymous | Auth::ClientCertificate(_) => None,
        };
        Ok(Client {
            agent: config.new_agent(),
            server: base,
            bearer,
            retry: options.retry,
            max_body_bytes: options.max_body_bytes,
        })
    }

    /// The base URL, `https://host:port`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// GETs a `K`, decoded as the k8s-openapi type. Each type decoded links its whole decoder
    /// into the binary: for what kubeboot reads back, prefer [`Client::get_as`] with a view.
    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Result<K, Error>
    where
        K: Resource + DeserializeOwned,
        K::Scope: Scope,
    {
        self.get_as::<K, K>(namespace, name)
    }

    /// Like [`Client::get`], with `Ok(None)` when the object does not exist.
    pub fn get_optional<K>(&self, namespace: Option<&str>, name: &str) -> Result<Option<K>, Error>
    where
        K: Resource + DeserializeOwned,
        K::Scope: Scope,
    {
        self.get_optional_as::<K, K>(namespace, name)
    }

    /// GETs a `K`, decoded as `T`: a [`serde_json::Value`] or a view with only the fields the
    /// caller reads. Decoding a whole Node, Deployment or CSR would link the decoders of all
    /// their fields into the binary for a handful of values.
    pub fn get_as<K, T>(&self, namespace: Option<&str>, name: &str) -> Result<T, Error>
    where
        K: Resource,
        K::Scope: Scope,
        T: DeserializeOwned,
    {
        let path = self.object_path::<K>(Method::Get, namespace, Some(name))?;
        self.call_json(Method::Get, &path, None)
    }

    /// Like [`Client::get_as`], with `Ok(None)` when the object does not exist.
    pub fn get_optional_as<K, T>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<T>, Error>
    where
        K: Resource,
        K::Scope: Scope,
        T: DeserializeOwned,
    {
        match self.get_as::<K, T>(namespace, name) {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// POSTs `object` (a `K`, typed or as JSON) to `K`'s collection. Returns the object as the
    /// server stored it, as a JSON tree (see [`Client::get_as`] for why not typed). A retried
    /// create may meet its own first attempt: callers treat [`Error::is_already_exists`] as
    /// kubeadm does.
    pub fn create<K>(
        &self,
        namespace: Option<&str>,
        object: &(impl Serialize + ?Sized),
    ) -> Result<Value, Error>
    where
        K: Resource,
        K::Scope: Scope,
    {
        let path = self.object_path::<K>(Method::Post, namespace, None)?;
        let body = self.encode(Method::Post, &path, object)?;
        self.call_json(Method::Post, &path, Some(("application/json", body)))
    }

    /// PUT: replaces the whole object, as [`Client::create`] creates it.
    pub fn replace<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
        object: &(impl Serialize + ?Sized),
    ) -> Result<Value, Error>
    where
        K: Resource,
        K::Scope: Scope,
    {
        let path = self.object_path::<K>(Method::Put, namespace, Some(name))?;
        let body = self.encode(Method::Put, &path, object)?;
        self.call_json(Method::Put, &path, Some(("application/json", body)))
    }

    /// PATCH. Returns the patched object as [`Client::create`] does.
    pub fn patch<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
    ) -> Result<Value, Error>
    where
        K: Resource,
        K::Scope: Scope,
    {
        let path = self.object_path::<K>(Method::Patch, namespace, Some(name))?;
        let body = self.encode(Method::Patch, &path, patch.value())?;
        self.call_json(Method::Patch, &path, Some((patch.content_type(), body)))
    }

    pub fn delete<K>(&self, namespace: Option<&str>, name: &str) -> Result<(), Error>
    where
        K: Resource,
        K::Scope: Scope,
    {
        let path = self.object_path::<K>(Method::Delete, namespace, Some(name))?;
        self.request(Method::Delete, &path, None).map(drop)
    }

    /// Any request on a path below the server (`/version`, `/healthz`, a subresource), with an
    /// optional `(content type, body)`; returns the response body. Retries and errors as the
    /// typed calls.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Vec<u8>, Error> {
        let url = format!("{}{}", self.server, path);
        if !path.starts_with('/') {
            return Err(Error::Request {
                method: method.as_str(),
                url: crate::logging::redact_url(&url),
                detail: "the request path must start with /".into(),
            });
        }
        let clock = &self.retry.clock;
        let deadline = clock.now() + self.retry.timeout;
        let mut attempts = 0u32;
        loop {
            let failure = match self.attempt(method, &url, body.as_ref()) {
                Ok(bytes) => return Ok(bytes),
                Err(failure) => failure,
            };
            attempts += 1;
            let give_up = |error: Error| {
                if attempts > 1 {
                    Error::GaveUp {
                        attempts,
                        source: Box::new(error),
                    }
                } else {
                    error
                }
            };
            if !failure.retryable || attempts >= self.retry.max_attempts {
                return Err(give_up(failure.error));
            }
            let wait = self
                .retry
                .wait_before_retry(attempts - 1, failure.retry_after);
            if clock.now() + wait >= deadline {
                return Err(give_up(failure.error));
            }
            log::debug!(
                "[api] {} (attempt {attempts}); retrying in {wait:?}",
                failure.error
            );
            clock.sleep(wait);
        }
    }

    fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<T, Error> {
        let bytes = self.request(method, path, body)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            method: method.as_str(),
            url: crate::logging::redact_url(&format!("{}{}", self.server, path)),
            detail: e.to_string(),
        })
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        value: &T,
    ) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(value).map_err(|e| Error::Request {
            method: method.as_str(),
            url: format!("{}{}", self.server, path),
            detail: format!("cannot encode the request body: {e}"),
        })
    }

    fn object_path<K>(
        &self,
        method: Method,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<String, Error>
    where
        K: Resource,
        K::Scope: Scope,
    {
        resource_path::<K>(namespace, name).map_err(|detail| Error::Request {
            method: method.as_str(),
            url: format!("{}/{}", self.server, K::URL_PATH_SEGMENT),
            detail,
        })
    }

    /// One exchange, classified: success, or an error and whether trying again may help.
    fn attempt(
        &self,
        method: Method,
        url: &str,
        body: Option<&(&str, Vec<u8>)>,
    ) -> Result<Vec<u8>, Failure> {
        let m = method.as_str();
        // Errors show the URL without query or userinfo (a presigned discovery-file URL).
        let shown = crate::logging::redact_url(url);
        let mut builder = ureq::http::Request::builder()
            .method(m)
            .uri(url)
            .header("Accept", "application/json");
        if let Some(token) = &self.bearer {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        if let Some((content_type, _)) = body {
            builder = builder.header("Content-Type", *content_type);
        }
        let (parts, ()) = builder
            .body(())
            .map_err(|e| {
                // The http crate's message never includes header values.
                Failure::fatal(Error::Request {
                    method: m,
                    url: shown.clone(),
                    detail: format!("invalid request: {e}"),
                })
            })?
            .into_parts();
        let result = match body {
            Some((_, bytes)) => self
                .agent
                .run(ureq::http::Request::from_parts(parts, bytes.as_slice())),
            None => self.agent.run(ureq::http::Request::from_parts(parts, ())),
        };
        let mut response = result.map_err(|e| transport_failure(m, &shown, &e))?;

        let code = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after").and_then(|v| retry::parse_retry_after(&v));
        let location = header("location");
        let body = read_body(&mut response, self.max_body_bytes, m, &shown)?;

        match code {
            200..=299 => Ok(body),
            300..=399 => Err(Failure::fatal(Error::Redirect {
                method: m,
                url: shown.clone(),
                code,
                location: location.unwrap_or_default(),
            })),
            _ => Err(Failure {
                error: status_error(m, &shown, code, &body),
                retryable: code == 429 || ((500..=599).contains(&code) && code != 501),
                retry_after,
            }),
        }
    }
}

/// One failed attempt.
struct Failure {
    error: Error,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: Error) -> Failure {
        Failure {
            error,
            retryable: false,
            retry_after: None,
        }
    }
}

/// A failure before any HTTP answer: TLS, connection, timeout.
fn transport_failure(method: &'static str, url: &str, e: &ureq::Error) -> Failure {
    let url = url.to_string();
    if let Some(tls) = tls::classify_tls(e) {
        return Failure::fatal(match tls {
            tls::TlsFailure::Untrusted(detail) => Error::Trust {
                method,
                url,
                detail,
            },
            tls::TlsFailure::Other(detail) => Error::Tls {
                method,
                url,
                detail,
            },
        });
    }
    let detail = e.to_string();
    let (error, retryable) = match e {
        ureq::Error::Timeout(_) => (
            Error::Timeout {
                method,
                url,
                detail,
            },
            true,
        ),
        ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => (
            Error::Connect {
                method,
                url,
                detail,
            },
            true,
        ),
        _ => (
            Error::Request {
                method,
                url,
                detail,
            },
            false,
        ),
    };
    Failure {
        error,
        retryable,
        retry_after: None,
    }
}

fn read_body(
    response: &mut ureq::http::Response<ureq::Body>,
    limit: u64,
    method: &'static str,
    url: &str,
) -> Result<Vec<u8>, Failure> {
    let too_large = || {
        Failure::fatal(Error::BodyTooLarge {
            method,
            url: url.to_string(),
            limit,
        })
    };
    if response.body().content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match response.body_mut().with_config().limit(limit).read_to_vec() {
        Ok(bytes) => Ok(bytes),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(too_large()),
        Err(e) => Err(transport_failure(method, url, &e)),
    }
}

/// The `metav1.Status` fields an error answer carries.
#[derive(serde::Deserialize)]
struct StatusBody {
    kind: Option<String>,
    reason: Option<String>,
    message: Option<String>,
}

fn status_error(method: &'static str, url: &str, code: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<StatusBody>(body) {
        Ok(status) if status.kind.as_deref() == Some("Status") => Error::Status {
            method,
            url: url.to_string(),
            code,
            reason: status.reason.unwrap_or_default(),
            message: status.message.unwrap_or_default(),
        },
        _ => Error::Http {
            method,
            url: url.to_string(),
            code,
            body: console_snippet(body),
        },
    }
}

/// At most 200 printable characters of a body, for an error message.
fn console_snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// `https://host[:port]` without a trailing slash; anything else (another scheme, a path, a
/// query, user info) is refused.
fn normalize_server(server: &str) -> Result<String, String> {
    let trimmed = server.trim_end_matches('/');
    let uri: ureq::http::Uri = trimmed
        .parse()
        .map_err(|e| format!("not a URL ({e}); expected https://host:port"))?;
    if uri.scheme_str() != Some("https") {
        return Err("the API server URL must start with https://".into());
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "the URL has no host; expected https://host:port".to_string())?;
    if authority.as_str().contains('@') {
        return Err("user information in the URL is not supported".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("the API server URL must not have a path or query".into());
    }
    Ok(format!("https://{authority}"))
}

/// The proxy for `base` (`https://host:port`, as [`normalize_server`] returns it).
fn proxy_for(base: &str, env: &ProxyEnv) -> Option<crate::proxy::Proxy> {
    let uri: ureq::http::Uri = base.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    env.https_proxy_for(host, uri.port_u16().unwrap_or(443))
}

/// The URL path of a resource collection (`name` = None) or object: `/api/v1/namespaces/<ns>/
/// configmaps/<name>`, `/apis/<group>/<version>/...`.
pub fn resource_path<K>(namespace: Option<&str>, name: Option<&str>) -> Result<String, String>
where
    K: Resource,
    K::Scope: Scope,
{
    let mut path = if K::GROUP.is_empty() {
        format!("/api/{}", K::VERSION)
    } else {
        format!("/apis/{}/{}", K::GROUP, K::VERSION)
    };
    match (K::Scope::NAMESPACED, namespace) {
        (true, Some(ns)) => {
            check_segment("namespace", ns)?;
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        (true, None) => {
            return Err(format!(
                "{} is namespaced: a namespace is required",
                K::KIND
            ));
        }
        (false, Some(ns)) => {
            return Err(format!(
                "{} is cluster-scoped: it has no namespace (got {ns:?})",
                K::KIND
            ));
        }
        (false, None) => {}
    }
    path.push('/');
    path.push_str(K::URL_PATH_SEGMENT);
    if let Some(name) = name {
        check_segment("name", name)?;
        path.push('/');
        path.push_str(name);
    }
    Ok(path)
}

/// Object names and namespaces are DNS-like; anything that could change the URL's meaning is
/// refused rather than escaped.
fn check_segment(what: &str, value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if valid {
        Ok(())
    } else {
        Err(format!("invalid object {what} {value:?}"))
    }
}

#[cfg(test)]
mod tests;

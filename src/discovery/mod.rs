//! Discovery: find the cluster's API server and CA without trusting the network, as kubeadm's
//! `cmd/kubeadm/app/discovery` does.
//!
//! - Token discovery (`token`): fetch `kube-public/cluster-info` anonymously without verifying
//!   TLS, verify its JWS signature with the bootstrap token, check the CA against the pins, then
//!   fetch it again over TLS verified with that CA and require the same bytes.
//!   Deliberate departure from kubeadm: kubeadm trusts the whole CA bundle once one of its
//!   certificates is pinned. Every joining node holds the token and can sign a bundle that adds
//!   its own CA, so kubeboot keeps only the pinned certificates, for the second fetch, `ca.crt`
//!   and kubelet.conf (and warns with the pins of those dropped). Without pins
//!   (`unsafe-skip-ca-verification`), the bundle is taken as is, as kubeadm does.
//! - File discovery (`file`): a kubeconfig on the node or at an https URL (verified with the
//!   system trust store); its cluster is checked by reading cluster-info over TLS with it.
//!
//! The result is the API server URL, the cluster CA and the credentials for TLS bootstrap.

mod file;
pub mod jws;
mod kubeconfig;
pub mod pin;
mod token;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::ExitCode;
use crate::api::{self, Auth, Client, ClientIdentity, ClientOptions, RetryPolicy, Trust};
use crate::config::model::{Discovery, JoinConfiguration};
use crate::fs::{FsError, Root};
use crate::retry::Backoff;

/// Where the system trust store is, for `--discovery-file https://...`.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What discovery learned: where the API server is, which CA it must prove, and what to
/// authenticate with for TLS bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The API server URL, `https://host:port`: cluster-info's `server` for token discovery, the
    /// discovery file's cluster `server` for file discovery (as kubeadm).
    pub server: String,
    /// The cluster CA bundle, PEM.
    pub ca_pem: Vec<u8>,
    pub credentials: BootstrapCredentials,
}

/// The credentials for TLS bootstrap. Debug output never shows them.
#[derive(Clone, PartialEq, Eq)]
pub enum BootstrapCredentials {
    /// A bearer token: the TLS bootstrap token (`id.secret`), or a discovery file's user token.
    Token(String),
    /// A discovery file's client certificate and key, PEM, checked to belong together.
    ClientCertificate { cert_pem: Vec<u8>, key_pem: Vec<u8> },
}

impl fmt::Debug for BootstrapCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootstrapCredentials::Token(_) => f.write_str("Token(<redacted>)"),
            BootstrapCredentials::ClientCertificate { .. } => {
                f.write_str("ClientCertificate(<redacted>)")
            }
        }
    }
}

impl BootstrapCredentials {
    /// The API client authentication for these credentials.
    pub fn auth(&self, origin: &str) -> Result<Auth, api::TlsSetupError> {
        Ok(match self {
            BootstrapCredentials::Token(token) => Auth::BearerToken(token.clone()),
            BootstrapCredentials::ClientCertificate { cert_pem, key_pem } => {
                Auth::ClientCertificate(ClientIdentity::from_pem(cert_pem, key_pem, origin)?)
            }
        })
    }
}

/// How discovery talks to the network, and for how long.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// Retries inside one request (429, 5xx, connection errors); its clock is discovery's clock.
    pub retry: RetryPolicy,
    /// Waits between cluster-info polls (not signed yet, unreachable): jittered, so that many
    /// joining nodes spread out.
    pub poll: Backoff,
    /// Overrides the JoinConfiguration's `timeouts.discovery` (default 5 minutes).
    pub timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// Per request; kubeadm's discovery client uses 10 s.
    pub request_timeout: Duration,
    /// The system trust store on the node, for https discovery files.
    pub system_ca_bundle: PathBuf,
    /// `HTTPS_PROXY`/`NO_PROXY`, which discovery and the TLS bootstrap honour as client-go
    /// does: this process's environment by default.
    pub proxy: crate::proxy::ProxyEnv,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            // Few retries per request: the polling loop retries for the whole deadline anyway.
            retry: RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::standard()
            },
            // kubeadm polls every 5 s; full jitter up to 10 s keeps that mean rate.
            poll: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(10),
            },
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            system_ca_bundle: PathBuf::from(SYSTEM_CA_BUNDLE),
            proxy: crate::proxy::ProxyEnv::from_process(),
        }
    }
}

/// Why discovery failed. Never contains the token secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "discovery.bootstrapToken: the cluster CA must be pinned: set caCertHashes \
         (--discovery-token-ca-cert-hash sha256:<hash>, printed by \"kubeadm token create \
         --print-join-command\" on a control-plane node), or unsafeSkipCAVerification \
         (--discovery-token-unsafe-skip-ca-verification) to trust any API server that knows the \
         token"
    )]
    NoPins,
    #[error("invalid discovery token CA certificate hash: {0}")]
    InvalidPin(#[from] pin::PinError),
    #[error("invalid discovery endpoint {endpoint:?}: {detail}")]
    InvalidEndpoint { endpoint: String, detail: String },
    #[error("invalid discovery file {origin}: {reason}")]
    InvalidDiscoveryFile { origin: String, reason: String },
    #[error(
        "could not find authentication credentials for the TLS bootstrap process: use token \
         discovery, a discovery file with embedded credentials, or a discovery file without \
         credentials together with a TLS bootstrap token (--tls-bootstrap-token)"
    )]
    NoBootstrapCredentials,

    #[error(
        "failed to verify the JWS signature of the cluster-info ConfigMap from {endpoint} for \
         token id {token_id:?}: can't trust this API server; check the token (\"kubeadm token \
         list\" on a control-plane node) and that {endpoint} is that cluster's API server"
    )]
    BadSignature { endpoint: String, token_id: String },
    #[error(
        "the cluster CA in the cluster-info ConfigMap from {endpoint} is not pinned: its public \
         key hash is {found}, which is none of the discovery token CA certificate hashes; check \
         --discovery-token-ca-cert-hash (\"kubeadm token create --print-join-command\" prints it)"
    )]
    PinMismatch { endpoint: String, found: String },
    #[error(
        "the API server at {endpoint} could not prove it holds the cluster CA: possible man in \
         the middle: {source}"
    )]
    Untrusted {
        endpoint: String,
        #[source]
        source: Box<api::Error>,
    },
    #[error(
        "the second kubeconfig from the cluster-info ConfigMap at {endpoint} (fetched over TLS \
         verified against the pinned CA) differs from the first: possible man in the middle, or \
         cluster-info changed during discovery"
    )]
    ChangedBetweenFetches { endpoint: String },
    #[error(
        "the kubeconfig in the cluster-info ConfigMap from {origin} cannot be trusted: {reason}"
    )]
    InvalidClusterInfo { origin: String, reason: String },

    #[error(
        "the cluster-info ConfigMap from {endpoint} has no JWS signature for token id \
         {token_id:?} after {timeout:?}: the token has expired or does not exist (\"kubeadm token \
         list\"), or the bootstrapsigner controller of kube-controller-manager is not running; \
         create a token with \"kubeadm token create\" on a control-plane node"
    )]
    NotSigned {
        endpoint: String,
        token_id: String,
        timeout: Duration,
    },
    #[error(
        "there is no kubeconfig key in the cluster-info ConfigMap from {endpoint}: this API \
         server isn't set up for token bootstrapping"
    )]
    NotBootstrapEnabled { endpoint: String },
    #[error(
        "could not read the cluster-info ConfigMap from {endpoint} within {timeout:?}: {source}"
    )]
    Unreachable {
        endpoint: String,
        timeout: Duration,
        #[source]
        source: Box<api::Error>,
    },
    #[error("could not download the discovery file {url}: {source}")]
    Download {
        url: String,
        #[source]
        source: Box<api::Error>,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::NoPins
            | Error::InvalidPin(_)
            | Error::InvalidEndpoint { .. }
            | Error::InvalidDiscoveryFile { .. }
            | Error::NoBootstrapCredentials => ExitCode::Config,
            Error::BadSignature { .. }
            | Error::PinMismatch { .. }
            | Error::Untrusted { .. }
            | Error::ChangedBetweenFetches { .. }
            | Error::InvalidClusterInfo { .. } => ExitCode::Trust,
            Error::NotSigned { .. }
            | Error::NotBootstrapEnabled { .. }
            | Error::Unreachable { .. } => ExitCode::Cluster,
            Error::Download { source, .. } if source.is_trust() => ExitCode::Trust,
            Error::Download { .. } => ExitCode::Cluster,
            Error::Fs(_) => ExitCode::Filesystem,
        }
    }
}

/// Finds and verifies the cluster named by the JoinConfiguration's `discovery`, within its
/// discovery timeout.
pub fn discover(
    root: &Root,
    cfg: &JoinConfiguration,
    opts: &DiscoveryOptions,
) -> Result<ClusterInfo, Error> {
    let session = Session::new(opts, opts.timeout.unwrap_or(cfg.timeouts.discovery));
    let found = match &cfg.discovery {
        Discovery::BootstrapToken(td) => token::discover(td, &session)?,
        Discovery::File(location) => {
            file::discover(root, location, cfg.tls_bootstrap_token.is_some(), &session)?
        }
    };
    let credentials = bootstrap_credentials(cfg, found.file_credentials)?;
    if let Ok(pins) = pin::hashes_pem(&found.ca_pem) {
        log::debug!("[discovery] Using CA certificate from discovery kubeconfig: {pins:?}");
    }
    Ok(ClusterInfo {
        server: found.server,
        ca_pem: found.ca_pem,
        credentials,
    })
}

/// What a discovery method found, before choosing the TLS bootstrap credentials.
struct Found {
    server: String,
    ca_pem: Vec<u8>,
    file_credentials: Option<BootstrapCredentials>,
}

/// kubeadm's `discovery.For`: the TLS bootstrap token when there is one (it defaults to the
/// discovery token), otherwise the discovery file's own credentials.
fn bootstrap_credentials(
    cfg: &JoinConfiguration,
    file_credentials: Option<BootstrapCredentials>,
) -> Result<BootstrapCredentials, Error> {
    if let Some(token) = &cfg.tls_bootstrap_token {
        log::info!(
            "[discovery] Using provided TLSBootstrapToken as authentication credentials for the \
             join process"
        );
        return Ok(BootstrapCredentials::Token(token.full()));
    }
    match (&cfg.discovery, file_credentials) {
        (Discovery::BootstrapToken(td), _) => Ok(BootstrapCredentials::Token(td.token.full())),
        (Discovery::File(_), Some(credentials)) => Ok(credentials),
        (Discovery::File(_), None) => Err(Error::NoBootstrapCredentials),
    }
}

/// One discovery run: its options and its deadline.
struct Session<'a> {
    opts: &'a DiscoveryOptions,
    timeout: Duration,
    deadline: Instant,
}

impl<'a> Session<'a> {
    fn new(opts: &'a DiscoveryOptions, timeout: Duration) -> Self {
        Session {
            opts,
            timeout,
            deadline: opts.retry.clock.now() + timeout,
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(self.opts.retry.clock.now())
    }

    /// A client whose retries and timeouts all end by the deadline.
    fn client(&self, server: &str, trust: Trust, auth: Auth) -> Result<Client, api::Error> {
        let remaining = self.remaining().max(Duration::from_millis(1));
        let options = ClientOptions {
            retry: RetryPolicy {
                timeout: self.opts.retry.timeout.min(remaining),
                ..self.opts.retry.clone()
            },
            connect_timeout: self.opts.connect_timeout.min(remaining),
            request_timeout: self.opts.request_timeout.min(remaining),
            proxy: self.opts.proxy.clone(),
            ..ClientOptions::new(trust, auth)
        };
        Client::new(server, options)
    }

    /// Waits before poll number `polls` + 1; `false` when that wait would pass the deadline.
    fn wait_before_next_poll(&self, polls: &mut u32) -> bool {
        let wait = self.opts.poll.delay(*polls);
        *polls += 1;
        if wait >= self.remaining() {
            return false;
        }
        self.opts.retry.clock.sleep(wait);
        true
    }
}

#[cfg(test)]
mod tests;

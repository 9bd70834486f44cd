//! The top-level error: one variant per module boundary, each carrying that module's own
//! error, and the documented exit code a script or systemd unit can branch on.

use crate::{
    api, cluster, config, discovery, etcd, fs, join, kubeconfig, kubelet, manifests, online, pki,
    preflight, state, tlsbootstrap, userdata,
};

/// Exit codes (documented in the README; scripts rely on them, keep them stable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Ok = 0,
    /// A failure that fits no class below (a bug, or an unexpected host state).
    Failure = 1,
    /// Bad command line.
    Usage = 2,
    /// The configuration or user-data is invalid: fix it; retrying will not help.
    Config = 3,
    /// Preflight checks failed: fix the host or `--ignore-preflight-errors`.
    Preflight = 4,
    /// A file could not be read or written on the node.
    Filesystem = 5,
    /// The cluster could not be verified (signature, CA pin, certificate mismatch): possible
    /// attack or wrong token/hash. Never retried automatically.
    Trust = 6,
    /// The API server was unreachable, refused us, or did not answer in time: retrying may help.
    Cluster = 7,
    /// TLS bootstrap failed: the CSR was denied, never approved, or the certificate was wrong.
    TlsBootstrap = 8,
    /// No user-data was found in any source.
    NoUserData = 9,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Fs(#[from] fs::FsError),
    #[error(transparent)]
    Preflight(#[from] preflight::Error),
    #[error(transparent)]
    Pki(#[from] pki::Error),
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
    #[error(transparent)]
    Manifests(#[from] manifests::Error),
    #[error(transparent)]
    Kubelet(#[from] kubelet::Error),
    #[error(transparent)]
    Api(#[from] api::Error),
    #[error(transparent)]
    Discovery(#[from] discovery::Error),
    #[error(transparent)]
    TlsBootstrap(#[from] tlsbootstrap::Error),
    #[error(transparent)]
    UserData(#[from] userdata::Error),
    #[error(transparent)]
    State(#[from] state::Error),
    #[error(transparent)]
    Cluster(#[from] cluster::Error),
    #[error(transparent)]
    Etcd(#[from] etcd::Error),
    #[error(transparent)]
    Online(#[from] online::Error),
    #[error(transparent)]
    JoinControlPlane(#[from] join::ControlPlaneError),
    #[error(transparent)]
    JoinWait(#[from] join::WaitError),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Config(_) => ExitCode::Config,
            Error::Fs(_) | Error::State(_) => ExitCode::Filesystem,
            Error::Preflight(_) => ExitCode::Preflight,
            Error::Pki(e) => e.exit_code(),
            Error::Kubeconfig(e) => e.exit_code(),
            Error::Manifests(_) | Error::Kubelet(_) => ExitCode::Filesystem,
            Error::Api(e) => e.exit_code(),
            Error::Discovery(e) => e.exit_code(),
            Error::TlsBootstrap(e) => e.exit_code(),
            Error::UserData(e) => e.exit_code(),
            Error::Cluster(cluster::Error::Fs(_)) => ExitCode::Filesystem,
            Error::Cluster(_) => ExitCode::Config,
            Error::Etcd(e) => e.exit_code(),
            Error::Online(e) => e.exit_code(),
            Error::JoinControlPlane(e) => e.exit_code(),
            Error::JoinWait(e) => e.exit_code(),
        }
    }

    /// What a person at the console should check, by class (the message itself names the path,
    /// URL or field).
    pub fn hint(&self) -> &'static str {
        match self.exit_code() {
            ExitCode::Ok => "",
            ExitCode::Failure => "see the message above; re-run with -v 5 for details",
            ExitCode::Usage => "see kubeboot --help",
            ExitCode::Config => {
                "fix the configuration or user-data named above; retrying will not help"
            }
            ExitCode::Preflight => {
                "fix the host, or list the check in --ignore-preflight-errors / nodeRegistration.ignorePreflightErrors"
            }
            ExitCode::Filesystem => "check the path, free space and permissions under the root",
            ExitCode::Trust => {
                "the cluster could not be verified: check the bootstrap token and the CA pin \
                 (--discovery-token-ca-cert-hash); if both are right, something between this node and \
                 the API server is not the cluster"
            }
            ExitCode::Cluster => {
                "check that the API server endpoint is reachable from this node and healthy; re-running \
                 resumes where this attempt stopped"
            }
            ExitCode::TlsBootstrap => {
                "check the CSR with 'kubectl get csr' and that kube-controller-manager auto-approves node \
                 client certificates (ClusterRoleBinding kubeadm:node-autoapprove-bootstrap)"
            }
            ExitCode::NoUserData => {
                "give this machine user-data (see README: sources), or run with --user-data PATH"
            }
        }
    }

    /// A short class name for `result.json` and the console summary.
    pub fn class(&self) -> &'static str {
        self.exit_code().class()
    }
}

impl ExitCode {
    /// The class name of this exit code in `result.json` and the console summary.
    pub fn class(self) -> &'static str {
        match self {
            ExitCode::Ok => "ok",
            ExitCode::Failure => "failure",
            ExitCode::Usage => "usage",
            ExitCode::Config => "config",
            ExitCode::Preflight => "preflight",
            ExitCode::Filesystem => "filesystem",
            ExitCode::Trust => "trust",
            ExitCode::Cluster => "cluster",
            ExitCode::TlsBootstrap => "tls-bootstrap",
            ExitCode::NoUserData => "no-user-data",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! `kubeadm init`'s online phases: everything init does once the control plane's static Pods
//! are written and the kubelet is started, with kubeadm's phase names and order
//! (`cmd/kubeadm/app/cmd/init.go`):
//!
//! | phase                | sub-phases                      | here                     |
//! |----------------------|---------------------------------|--------------------------|
//! | `wait-control-plane` |                                 | [`wait_control_plane`]   |
//! | `upload-config`      | `kubeadm`, `kubelet`            | [`upload_config`]        |
//! | `upload-certs`       |                                 | [`upload_certs`]         |
//! | `mark-control-plane` |                                 | [`mark_control_plane`]   |
//! | `bootstrap-token`    |                                 | [`bootstrap_token`]      |
//! | `kubelet-finalize`   | `enable-client-cert-rotation`   | [`kubelet_finalize`]     |
//! | `addon`              | `coredns`, `kube-proxy`         | [`addon`]                |
//! | `show-join-command`  |                                 | [`show_join_command`]    |
//!
//! The objects come from [`crate::cluster`]; [`apply`] creates them idempotently, the way
//! kubeadm's `CreateOrUpdate`/`CreateOrRetain` helpers do, so that a run after a crash
//! converges without duplicates. With [`Target::DryRun`] nothing is sent: every object is
//! printed as a `---`-separated YAML stream (Secret values redacted).
//!
//! Secrets: token secrets and the certificate key go to [`OnlineContext::out`] (the user's
//! stdout, as kubeadm prints them) and nowhere else: never to the log, errors or `Debug`.
//! Generated ones are also kept in a 0600 file until init completes, so that a re-run after a
//! crash reuses them ([`prepare_secrets`]).
//!
//! Use: decide the secrets once ([`prepare_secrets`]: missing token values, the certificate
//! key), then run each phase with [`run_phase`] (clients from the root's admin.conf), or build
//! an [`OnlineContext`] and call the phase functions. Phases keep no state between them: each
//! one that needs rights first makes sure admin.conf's `kubeadm:cluster-admins` binding exists
//! (kubeadm's `EnsureAdminClusterRoleBinding`), so a context may be built per phase.

mod admin;
mod apply;
mod finalize;
mod node;
mod phases;
mod secrets;
mod wait;

use std::cell::RefCell;
use std::io::Write;
use std::time::Duration;

use time::OffsetDateTime;

use crate::ExitCode;
use crate::api;
use crate::cluster::{self, CertificateKey};
use crate::config::duration::format_go_duration;
use crate::config::model::InitConfiguration;
use crate::fs::{FsError, Root};
use crate::service::ServiceControl;

pub use admin::{
    ADMIN_CONF, CLUSTER_ADMINS, KubeconfigCredentials, SUPER_ADMIN_CONF, admin_client,
    ensure_cluster_admins, super_admin_client,
};
pub use apply::{Policy, apply, apply_one, print_patch};
pub use finalize::{KUBELET_CLIENT_CURRENT, KUBELET_CONF, kubelet_finalize};
pub(crate) use node::patch_node_with;
pub(crate) use phases::cri_socket_change;
pub use phases::{
    addon, bootstrap_token, mark_control_plane, show_join_command, upload_certs, upload_config,
};
pub use secrets::{Generated, discard_generated_secrets, prepare_secrets};
pub use wait::{
    WAIT_FOR_ALL_CONTROL_PLANE_COMPONENTS, WaitOptions, kubelet_healthz_url, wait_control_plane,
};
pub(crate) use wait::{
    poll_until, wait_for_all_components, wait_for_control_plane_components, wait_for_kubelet,
};

/// The online phases in kubeadm's order, with their sub-phases.
pub const PHASES: &[(&str, &[&str])] = &[
    ("wait-control-plane", &[]),
    ("upload-config", UPLOAD_CONFIG_PHASES),
    ("upload-certs", &[]),
    ("mark-control-plane", &[]),
    ("bootstrap-token", &[]),
    ("kubelet-finalize", KUBELET_FINALIZE_PHASES),
    ("addon", ADDON_PHASES),
    ("show-join-command", &[]),
];
pub const UPLOAD_CONFIG_PHASES: &[&str] = &["kubeadm", "kubelet"];
pub const KUBELET_FINALIZE_PHASES: &[&str] = &["enable-client-cert-rotation"];
pub const ADDON_PHASES: &[&str] = &["coredns", "kube-proxy"];

/// A phase function: `sub` is one sub-phase, or `None` for all of them (or a phase without).
pub type PhaseFn = fn(&OnlineContext, Option<&str>) -> Result<()>;

/// The phase functions, in [`PHASES`] order.
pub const PHASE_FNS: &[(&str, PhaseFn)] = &[
    ("wait-control-plane", wait_control_plane),
    ("upload-config", upload_config),
    ("upload-certs", upload_certs),
    ("mark-control-plane", mark_control_plane),
    ("bootstrap-token", bootstrap_token),
    ("kubelet-finalize", kubelet_finalize),
    ("addon", addon),
    ("show-join-command", show_join_command),
];

/// Where the phases send the cluster's objects.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// The API server, through the admin.conf client ([`admin_client`]).
    Api(&'a api::Client),
    /// Nowhere: print every object that would be created or patched to this writer.
    DryRun(&'a RefCell<dyn Write + 'a>),
}

impl Target<'_> {
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Target::DryRun(_))
    }
}

/// What the online phases read. Build it once per run with [`OnlineContext::new`], then set
/// the fields the command line changes.
pub struct OnlineContext<'a> {
    pub root: &'a Root,
    /// The resolved configuration, every bootstrap token with a value ([`prepare_secrets`]).
    pub cfg: &'a InitConfiguration,
    pub target: Target<'a>,
    /// The super-admin.conf client ([`super_admin_client`]), used only to create the
    /// `kubeadm:cluster-admins` binding when admin.conf cannot yet.
    pub super_admin: Option<&'a api::Client>,
    /// Bootstrap token expirations count from here.
    pub now: OffsetDateTime,
    /// `--upload-certs`.
    pub upload_certs: bool,
    /// The key sealing the uploaded certificates ([`prepare_secrets`]).
    pub certificate_key: Option<&'a CertificateKey>,
    /// `--skip-token-print`: `<value withheld>` instead of token secrets.
    pub skip_token_print: bool,
    /// `--skip-certificate-key-print`.
    pub skip_certificate_key_print: bool,
    /// The user's stdout: join commands, the token and the certificate key are printed here
    /// only, never logged.
    pub out: &'a RefCell<dyn Write + 'a>,
    /// Restarts the kubelet after kubelet-finalize rewrites kubelet.conf.
    pub services: ServiceControl,
    pub wait: WaitOptions,
    /// `*_proxy` variables handed to kube-proxy (kubeadm takes them from its environment).
    pub proxy_env: Vec<crate::config::model::EnvVar>,
    /// The admin.conf the closing message tells the user to copy: the node path, or the file
    /// in the directory of a dry run on the node itself.
    pub admin_conf_shown: String,
}

impl<'a> OnlineContext<'a> {
    /// kubeadm's defaults: the clock now, `upload_certs` from the configuration, the kubelet
    /// health endpoint from the kubelet configuration, the proxy variables of this process,
    /// no service actions.
    pub fn new(
        root: &'a Root,
        cfg: &'a InitConfiguration,
        target: Target<'a>,
        out: &'a RefCell<dyn Write + 'a>,
    ) -> Self {
        OnlineContext {
            root,
            cfg,
            target,
            super_admin: None,
            now: OffsetDateTime::now_utc(),
            upload_certs: cfg.upload_certs,
            certificate_key: None,
            skip_token_print: false,
            skip_certificate_key_print: false,
            out,
            services: ServiceControl::Skip("no service control configured"),
            wait: WaitOptions::for_config(cfg),
            proxy_env: crate::manifests::proxy_env(),
            admin_conf_shown: ADMIN_CONF.to_string(),
        }
    }

    /// The admin client, once its `kubeadm:cluster-admins` binding exists (kubeadm's
    /// `EnsureAdminClusterRoleBinding`, done before the first phase that needs rights).
    fn admin(&self) -> Result<&'a api::Client> {
        match self.target {
            Target::Api(client) => {
                ensure_cluster_admins(client, self.super_admin)?;
                Ok(client)
            }
            Target::DryRun(_) => Err(Error::Internal("an API call was attempted in dry-run")),
        }
    }

    /// Writes user-facing text (never logged) to [`OnlineContext::out`].
    fn print(&self, text: &str) -> Result<()> {
        let mut out = self.out.borrow_mut();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    }
}

/// Runs every online phase in order (all sub-phases).
pub fn run_all(ctx: &OnlineContext) -> Result<()> {
    PHASE_FNS.iter().try_for_each(|(_, run)| run(ctx, None))
}

/// What the command line adds to the configuration for the online phases.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    /// Print the objects instead of sending them (`--dry-run`).
    pub dry_run: bool,
    pub upload_certs: bool,
    /// From [`prepare_secrets`], decided once per init.
    pub certificate_key: Option<&'a CertificateKey>,
    pub skip_token_print: bool,
    pub skip_certificate_key_print: bool,
    pub services: ServiceControl,
    /// See [`OnlineContext::admin_conf_shown`].
    pub admin_conf_shown: &'a str,
}

/// Runs one online phase (`sub`: one sub-phase, or `None` for all) the way `kubeboot init`
/// does: clients from the root's admin.conf and super-admin.conf (read now, after the
/// kubeconfig phase wrote them), user-facing output to stdout.
pub fn run_phase(
    root: &Root,
    cfg: &InitConfiguration,
    opts: &RunOptions,
    phase: &str,
    sub: Option<&str>,
) -> Result<()> {
    let (_, run) = PHASE_FNS
        .iter()
        .find(|(name, _)| *name == phase)
        .ok_or_else(|| Error::UnknownPhase(phase.to_string()))?;
    let stdout = RefCell::new(std::io::stdout());
    let (admin, super_admin) = if opts.dry_run {
        (None, None)
    } else {
        let retry = api::RetryPolicy::standard();
        (
            Some(admin_client(root, retry.clone())?),
            super_admin_client(root, retry)?,
        )
    };
    let target = match &admin {
        Some(client) => Target::Api(client),
        None => Target::DryRun(&stdout),
    };
    // In a dry run stdout is a YAML stream of objects: messages become YAML comments there.
    let comments = RefCell::new(CommentLines::new(std::io::stdout()));
    let out: &RefCell<dyn Write> = if opts.dry_run { &comments } else { &stdout };
    let mut ctx = OnlineContext::new(root, cfg, target, out);
    ctx.super_admin = super_admin.as_ref();
    ctx.upload_certs = opts.upload_certs;
    ctx.certificate_key = opts.certificate_key;
    ctx.skip_token_print = opts.skip_token_print;
    ctx.skip_certificate_key_print = opts.skip_certificate_key_print;
    ctx.services = opts.services;
    ctx.admin_conf_shown = opts.admin_conf_shown.to_string();
    run(&ctx, sub)
}

/// Prefixes every line written through it with `# `, so user-facing text printed between the
/// objects of a dry run keeps stdout a valid YAML stream (`... --dry-run | kubectl apply -f -`).
pub struct CommentLines<W: Write> {
    inner: W,
    at_line_start: bool,
}

impl<W: Write> CommentLines<W> {
    pub fn new(inner: W) -> Self {
        CommentLines {
            inner,
            at_line_start: true,
        }
    }
}

impl<W: Write> Write for CommentLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if self.at_line_start {
                self.inner.write_all(b"# ")?;
            }
            self.inner.write_all(line)?;
            self.at_line_start = line.ends_with(b"\n");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Why an online phase failed: what, where, and what to check. Never holds a token secret or
/// a key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] api::Error),
    #[error(transparent)]
    Cluster(#[from] cluster::Error),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: {reason}; check the file (kubeadm init phase kubeconfig writes it)")]
    Kubeconfig { path: String, reason: String },
    #[error(
        "the ClusterRoleBinding {CLUSTER_ADMINS:?} is missing and admin.conf may not create it, \
         but there is no {SUPER_ADMIN_CONF} to create it with; restore that file or create the \
         binding (group {CLUSTER_ADMINS} → ClusterRole cluster-admin) by other means"
    )]
    NoSuperAdmin,
    #[error("could not initialize a Kubernetes cluster: {detail}\n{}", kubelet_hints(.cri_socket))]
    ControlPlaneUnhealthy { detail: String, cri_socket: String },
    #[error(
        "node {name:?} did not appear in the API server within {} ({last}); check that the \
         kubelet runs ('systemctl status kubelet', 'journalctl -xeu kubelet') and registers \
         with this node name (nodeRegistration.name)",
        format_go_duration(*.timeout)
    )]
    NodeNotRegistered {
        name: String,
        timeout: Duration,
        last: String,
    },
    #[error(
        "{what} already exists and differs from the one this run would create; it was made by \
         another run or another tool: delete it or choose another name"
    )]
    AlreadyExists { what: String },
    #[error("{what} kept changing while it was being updated (HTTP 409 Conflict); try again")]
    KeptConflicting { what: String },
    #[error(
        "bootstrapTokens[{0}] has no token value: kubeboot generates missing tokens before the \
         online phases (prepare_secrets)"
    )]
    TokenMissing(usize),
    #[error(
        "{path} does not hold the secrets an unfinished init generated in the expected form; \
         delete it and run init again (a bootstrap token created with it stays valid until it \
         expires; 'kubeadm token delete <id>' removes it sooner)"
    )]
    GeneratedSecretsCorrupt { path: &'static str },
    #[error(
        "--upload-certs needs a certificate key: none was configured or generated (certificateKey, \
         --certificate-key)"
    )]
    NoCertificateKey,
    #[error(
        "unknown online phase {0:?}; phases are: wait-control-plane, upload-config, \
         upload-certs, mark-control-plane, bootstrap-token, kubelet-finalize, addon, \
         show-join-command"
    )]
    UnknownPhase(String),
    #[error("phase {phase:?} has no sub-phase {sub:?}; sub-phases are: {}", sub_phases(.known))]
    UnknownSubPhase {
        phase: &'static str,
        sub: String,
        known: &'static [&'static str],
    },
    #[error("cannot write to the output: {0}")]
    Output(#[source] std::io::Error),
    #[error("internal error: cannot encode {0} as YAML: {1}")]
    Yaml(&'static str, String),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

fn sub_phases(known: &[&str]) -> String {
    match known {
        [] => "none (run it without one, or with \"all\")".to_string(),
        names => format!("all, {}", names.join(", ")),
    }
}

/// kubeadm's `kubeletFailTempl`: what to look at when the control plane does not come up.
fn kubelet_hints(cri_socket: &str) -> String {
    format!(
        "
{KUBELET_FAIL_HINTS}

Additionally, a control plane component may have crashed or exited when started by the container runtime.
{}",
        crictl_hints(cri_socket)
    )
}

/// kubeadm's advice when the kubelet is not healthy (`kubeletFailMsg`, `kubeadmJoinFailMsg`).
pub(crate) const KUBELET_FAIL_HINTS: &str = "This error is likely caused by:
\t- The kubelet is not running
\t- The kubelet is unhealthy due to a misconfiguration of the node in some way (required cgroups disabled)

If you are on a systemd-powered system, you can try to troubleshoot the error with the following commands:
\t- 'systemctl status kubelet'
\t- 'journalctl -xeu kubelet'";

/// kubeadm's advice for finding a control plane container that crashed (`controlPlaneFailTempl`
/// after its first sentence).
pub(crate) fn crictl_hints(cri_socket: &str) -> String {
    format!(
        "To troubleshoot, list all containers using your preferred container runtimes CLI.
Here is one example how you may list all running Kubernetes containers by using crictl:
\t- 'crictl --runtime-endpoint {cri_socket} ps -a | grep kube | grep -v pause'
\tOnce you have found the failing container, you can inspect its logs with:
\t- 'crictl --runtime-endpoint {cri_socket} logs CONTAINERID'"
    )
}

impl Error {
    /// The documented exit class: API errors keep theirs (trust vs cluster), a control plane
    /// or Node that never came up is a cluster failure, files are filesystem failures.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Api(e) => e.exit_code(),
            Error::Cluster(cluster::Error::Fs(_))
            | Error::Fs(_)
            | Error::Kubeconfig { .. }
            | Error::GeneratedSecretsCorrupt { .. } => ExitCode::Filesystem,
            Error::Cluster(_) | Error::TokenMissing(_) | Error::NoCertificateKey => {
                ExitCode::Config
            }
            Error::UnknownPhase(_) | Error::UnknownSubPhase { .. } => ExitCode::Usage,
            Error::NoSuperAdmin
            | Error::ControlPlaneUnhealthy { .. }
            | Error::NodeNotRegistered { .. }
            | Error::AlreadyExists { .. }
            | Error::KeptConflicting { .. } => ExitCode::Cluster,
            Error::Output(_) | Error::Yaml(..) | Error::Internal(_) => ExitCode::Failure,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `sub`, or every sub-phase in order when it is `None`.
fn each_sub_phase(
    phase: &'static str,
    known: &'static [&'static str],
    sub: Option<&str>,
    mut run: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    match sub {
        None | Some("all") => known.iter().try_for_each(|s| run(s)),
        Some(s) if known.contains(&s) => run(s),
        Some(s) => Err(Error::UnknownSubPhase {
            phase,
            sub: s.to_string(),
            known,
        }),
    }
}

#[cfg(test)]
mod tests;

//! `kubeboot join`: kubeadm's join phases (`cmd/kubeadm/app/cmd/join.go`,
//! `phases/join/kubelet.go`), except that by default kubeboot performs the kubelet's TLS
//! bootstrap itself, so the kubelet starts with its final credentials and the join either
//! ends with a certificate or says why it could not get one.
//!
//! The phases, in order (names for `boot`'s phase journal):
//! 1. `preflight`: kubeadm's join checks.
//! 2. `discovery`: find and verify the cluster (API server URL, CA).
//! 3. `kubelet-config`: with the bootstrap credentials, read kubeadm-config and the kubelet's
//!    ConfigMap; refuse a Ready Node of the same name.
//! 4. `tls-bootstrap`: the node's key, CSR and checked certificate (nothing to do with
//!    `--tls-bootstrap=kubelet`).
//! 5. `kubelet-start`: stop the kubelet, write the CA, the kubelet's files and credentials
//!    (`kubelet.conf`, or kubeadm's `bootstrap-kubelet.conf` for the kubelet's own TLS
//!    bootstrap), start the kubelet, then kubeadm's `kubelet-wait-bootstrap`: wait for the
//!    kubelet to be healthy and to have `kubelet.conf`, and delete `bootstrap-kubelet.conf`
//!    (see [`wait`]; only for a kubelet this join started).
//!
//! Until phase 5, nothing is written but the pending key of the CSR.
//!
//! A control-plane node (`--control-plane`, `controlPlane`) adds kubeadm's control-plane
//! phases around these: see [`control_plane`].

pub mod control_plane;
mod dry_run;
mod kubelet_conf;
mod remote;
#[cfg(test)]
mod tests;
pub mod wait;

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::api::{self, Client, ClientOptions, RetryPolicy, Trust};
use crate::cli::{JoinArgs, TlsBootstrapMode};
use crate::config::model::JoinConfiguration;
use crate::config::{self, ConfigError, HostFacts};
use crate::discovery::{self, BootstrapCredentials, ClusterInfo, DiscoveryOptions};
use crate::fs::{Root, mode};
use crate::kubeconfig;
use crate::kubelet::{self, KubeletHost};
use crate::manifests::args::last_arg;
use crate::preflight::{self, BOOTSTRAP_KUBELET_KUBECONFIG, KUBELET_KUBECONFIG, RealHost};
use crate::retry::Backoff;
use crate::service::{KubeletService, KubeletStart, ServiceControl};
use crate::state::{PhaseObserver, Unobserved};
use crate::tlsbootstrap::{self, CsrWait, IssuedCertificate, KubeletCertDir};
use crate::{Error, Result, etcd};

pub use control_plane::{ControlPlaneOutcome, Error as ControlPlaneError};
pub use dry_run::{PlannedRequest, to_yaml as planned_requests_yaml};
pub use kubelet_conf::TOKEN_USER;
pub use remote::{RemoteConfig, decode_kubelet_configuration, kubelet_config_map_name};
pub use wait::Error as WaitError;

/// kubeboot's join phases, in order, as `boot` records them.
pub const PHASES: [&str; 5] = [
    "preflight",
    "discovery",
    "kubelet-config",
    "tls-bootstrap",
    "kubelet-start",
];

/// The control-plane pre-flight checks, journaled apart from `control-plane-prepare` so that a
/// re-run after they passed does not run them on this node's own files.
pub const CONTROL_PLANE_CHECKS: &str = "control-plane-checks";

/// kubeadm's join phase names, accepted by `--skip-phases`. For a worker, the control-plane
/// phases do nothing; skipping `kubelet-start` skips everything after discovery, as in kubeadm
/// (for a control-plane node, only the TLS bootstrap and the kubelet's files, and so the
/// waits for the kubelet). `kubelet-wait-bootstrap` is a phase of its own only under
/// `ControlPlaneKubeletLocalMode`, as in kubeadm.
const KUBEADM_JOIN_PHASES: &[&str] = &[
    "preflight",
    "control-plane-prepare",
    "control-plane-prepare/all",
    "control-plane-prepare/download-certs",
    "control-plane-prepare/certs",
    "control-plane-prepare/kubeconfig",
    "control-plane-prepare/control-plane",
    "check-etcd",
    "kubelet-start",
    "etcd-join",
    "kubelet-wait-bootstrap",
    "control-plane-join",
    "control-plane-join/all",
    "control-plane-join/etcd",
    "control-plane-join/update-status",
    "control-plane-join/mark-control-plane",
    "wait-control-plane",
];

/// How a join runs: everything that is not the JoinConfiguration. Tests replace the host, the
/// clocks, the timeouts and the retry policies.
pub struct JoinOptions {
    /// Send nothing and write nothing; return the requests that would be made. The
    /// configuration's `dryRun` has the same effect.
    pub dry_run: bool,
    pub tls_bootstrap: TlsBootstrapMode,
    /// Stops and starts the kubelet; the join waits for the kubelet only if this started it.
    pub services: Box<dyn KubeletService>,
    /// The kubelet's health endpoint; `None`: the one its configuration gives
    /// (`healthzBindAddress`, `healthzPort`).
    pub kubelet_healthz: Option<String>,
    /// Waits between polls of the kubelet, its kubeconfig and the control-plane components.
    pub wait_poll: Backoff,
    /// Host facts for preflight.
    pub host: Box<dyn preflight::Host>,
    /// Host facts for the kubelet files.
    pub kubelet_host: KubeletHost,
    pub discovery: DiscoveryOptions,
    /// Retries of each API call made with the bootstrap credentials; its clock also paces the
    /// CSR polls and every wait.
    pub api_retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Waits between CSR polls.
    pub csr_poll: Backoff,
    /// Overrides the JoinConfiguration's `timeouts.tlsBootstrap`.
    pub tls_bootstrap_timeout: Option<Duration>,
    /// Wall-clock time, for the certificate's validity check and the certificate file's name.
    pub wall_clock: fn() -> SystemTime,
    /// Retries of each etcd call of a control-plane join (promotion waits here for the new
    /// member to catch up).
    pub etcd_retry: etcd::RetryPolicy,
    /// An earlier attempt of this join (`kubeboot boot` resuming) completed `kubelet-start`:
    /// the Ready Node of this name is this node's own, not one to refuse taking over.
    pub resumed_after_kubelet_start: bool,
}

impl JoinOptions {
    /// Production options for a join on the machine `root` stands for.
    pub fn new(root: &Root, dry_run: bool, tls_bootstrap: TlsBootstrapMode) -> Self {
        JoinOptions {
            dry_run,
            tls_bootstrap,
            services: Box::new(ServiceControl::for_run(root, dry_run, true)),
            kubelet_healthz: None,
            wait_poll: wait::POLL,
            host: Box::new(RealHost::new(root.clone())),
            kubelet_host: KubeletHost::detect(root),
            discovery: DiscoveryOptions::default(),
            api_retry: RetryPolicy::standard(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            // The approver answers within a second; polls stay at most 5 s apart.
            csr_poll: Backoff {
                initial: Duration::from_millis(250),
                max: Duration::from_secs(5),
            },
            tls_bootstrap_timeout: None,
            wall_clock: SystemTime::now,
            etcd_retry: etcd::RetryPolicy::default(),
            resumed_after_kubelet_start: false,
        }
    }
}

/// What a join did.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinOutcome {
    pub node_name: String,
    pub preflight_warnings: Vec<String>,
    /// The verified API server URL (not known on a dry run).
    pub server: Option<String>,
    /// The CSR whose certificate the kubelet now uses (kubeboot TLS bootstrap only).
    pub csr_name: Option<String>,
    /// `--dry-run`: the requests that would have been made.
    pub planned_requests: Vec<PlannedRequest>,
    /// What a control-plane join added (`None` for a worker, or a dry run).
    pub control_plane: Option<ControlPlaneOutcome>,
    /// The join started the kubelet and waited until it was healthy with its credentials in
    /// `kubelet.conf`.
    pub kubelet_ready: bool,
}

/// `kubeboot join`.
pub fn run_command(root: &Root, args: JoinArgs) -> Result<()> {
    let cfg = config::load_join(&args, &HostFacts::detect())?;
    let opts = JoinOptions::new(root, cfg.dry_run, args.tls_bootstrap);
    let outcome = run(root, &cfg, &opts)?;
    if !outcome.planned_requests.is_empty() {
        print!("{}", planned_requests_yaml(&outcome.planned_requests));
    } else if let Some(control_plane) = &outcome.control_plane {
        print!(
            "{}",
            control_plane::done_message(control_plane.etcd_member.is_some())
        );
    } else if outcome.csr_name.is_some() || outcome.kubelet_ready {
        println!(
            "\nThis node has joined the cluster:\n* Certificate signing request was sent to \
             apiserver and a response was received.\n* The Kubelet was informed of the new secure \
             connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node \
             join the cluster.\n"
        );
    } else if opts.tls_bootstrap == TlsBootstrapMode::Kubelet {
        println!(
            "\nThe kubelet was not started: once started with {BOOTSTRAP_KUBELET_KUBECONFIG}, it \
             sends its own certificate signing request.\n\nRun 'kubectl get nodes' on the \
             control-plane to see this node join the cluster.\n"
        );
    }
    Ok(())
}

/// A join from an already loaded configuration: every phase in order, or, on a dry run, the
/// preflight checks and the plan of requests. Nothing is written on the node until the
/// cluster is verified, its configuration read and (kubeboot TLS bootstrap) the node's
/// certificate issued and checked: a failed join leaves at most the pending key of a CSR that
/// may still be approved. A control-plane join writes its certificates, kubeconfigs and
/// manifests before the CSR, as kubeadm's `control-plane-prepare`, once the whole
/// kubeadm-certs Secret has been decrypted and checked.
pub fn run(root: &Root, cfg: &JoinConfiguration, opts: &JoinOptions) -> Result<JoinOutcome> {
    run_observed(root, cfg, opts, &mut Unobserved)
}

/// [`run`], with each phase reported to `observer` (`boot` times and journals them).
pub fn run_observed(
    root: &Root,
    cfg: &JoinConfiguration,
    opts: &JoinOptions,
    observer: &mut dyn PhaseObserver,
) -> Result<JoinOutcome> {
    let skip = SkipPhases::new(&cfg.skip_phases)?;
    let certificate_key = match &cfg.control_plane {
        Some(cp) => control_plane::check_before_join(cp)?,
        None => None,
    };
    let node_name = node_name(cfg, &opts.kubelet_host);
    let mut outcome = JoinOutcome {
        node_name: node_name.clone(),
        preflight_warnings: Vec::new(),
        server: None,
        csr_name: None,
        planned_requests: Vec::new(),
        control_plane: None,
        kubelet_ready: false,
    };
    if skip.preflight {
        log::info!("[preflight] Skipping phase preflight (--skip-phases)");
    } else {
        observer.phase("preflight", &mut || {
            outcome.preflight_warnings = preflight_phase(root, cfg, opts)?;
            Ok(())
        })?;
    }
    if opts.dry_run || cfg.dry_run {
        log::info!(
            "[dryrun] Dry run: no request is sent and no file is written; the requests a join \
             would make are printed instead"
        );
        outcome.planned_requests = dry_run::plan(cfg, opts.tls_bootstrap, &node_name)?;
        control_plane::extend_plan(&mut outcome.planned_requests, cfg, &node_name);
        return Ok(outcome);
    }
    let mut cluster = None;
    observer.phase("discovery", &mut || {
        cluster = Some(discovery_phase(root, cfg, opts)?);
        Ok(())
    })?;
    let Some(cluster) = cluster else {
        return Ok(outcome);
    };
    outcome.server = Some(cluster.server.clone());
    if skip.kubelet_start && cfg.control_plane.is_none() {
        log::info!("[kubelet-start] Skipping phase kubelet-start (--skip-phases)");
        return Ok(outcome);
    }
    let mut remote = None;
    observer.phase("kubelet-config", &mut || {
        remote = Some(kubelet_config_phase(cfg, &cluster, opts)?);
        Ok(())
    })?;
    let Some(remote) = remote else {
        return Ok(outcome);
    };
    let mut prepared = None;
    if let Some(cp) = &cfg.control_plane {
        observer.phase(CONTROL_PLANE_CHECKS, &mut || {
            let warnings =
                control_plane::check(root, cfg, cp, &remote, certificate_key.as_ref(), opts)?;
            outcome.preflight_warnings.extend(warnings);
            Ok(())
        })?;
        observer.phase("control-plane-prepare", &mut || {
            let bootstrap = bootstrap_client(&cluster, opts)?;
            let done = control_plane::prepare(
                root,
                cfg,
                cp,
                &remote,
                certificate_key.as_ref(),
                &bootstrap,
                opts,
            )?;
            prepared = Some(done);
            Ok(())
        })?;
    }
    // kubeadm's kubelet-wait-bootstrap is a phase of its own under ControlPlaneKubeletLocalMode,
    // after etcd-join: this node's kubelet talks to this node's API server, which needs etcd.
    let wait_apart = control_plane::kubelet_local_mode(&remote.cluster);
    let mut started = KubeletStart::NotStarted("kubelet-start is skipped");
    let kubelet_wait = |started: KubeletStart| -> Result<bool> {
        if wait_apart && skip.kubelet_wait_bootstrap {
            log::info!(
                "[kubelet-wait-bootstrap] Skipping phase kubelet-wait-bootstrap (--skip-phases)"
            );
            return Ok(false);
        }
        wait::kubelet_wait_bootstrap(root, cfg, &remote, started, opts)?;
        Ok(started == KubeletStart::Started)
    };
    if skip.kubelet_start {
        log::info!("[kubelet-start] Skipping phase kubelet-start (--skip-phases)");
    } else {
        let mut issued = None;
        observer.phase("tls-bootstrap", &mut || {
            issued = tls_bootstrap_phase(root, cfg, &cluster, opts)?;
            Ok(())
        })?;
        outcome.csr_name = issued.as_ref().map(|i| i.csr_name.clone());
        observer.phase("kubelet-start", &mut || {
            let for_kubelet = match &prepared {
                Some(prepared) => control_plane::kubelet_cluster(&cluster, &prepared.init)?,
                None => cluster.clone(),
            };
            started = kubelet_start_phase(root, cfg, &for_kubelet, &remote, issued.as_ref(), opts)?;
            if prepared.is_none() || !wait_apart {
                outcome.kubelet_ready = kubelet_wait(started)?;
            }
            Ok(())
        })?;
    }
    let Some(prepared) = &prepared else {
        return Ok(outcome);
    };
    let init = &prepared.init;
    let mut etcd_member = None;
    observer.phase("etcd-join", &mut || {
        etcd_member = control_plane::etcd_join_phase(root, cfg, init, opts)?;
        Ok(())
    })?;
    if wait_apart {
        observer.phase("kubelet-wait-bootstrap", &mut || {
            outcome.kubelet_ready = kubelet_wait(started)?;
            Ok(())
        })?;
    }
    observer.phase("mark-control-plane", &mut || {
        control_plane::mark_control_plane_phase(root, cfg, init, opts)
    })?;
    if control_plane::skips_wait_control_plane(cfg) {
        log::info!("[wait-control-plane] Skipping phase wait-control-plane (--skip-phases)");
    } else {
        observer.phase("wait-control-plane", &mut || {
            wait::wait_control_plane(root, cfg, init, started, opts)
        })?;
    }
    outcome.control_plane = Some(ControlPlaneOutcome { etcd_member });
    Ok(outcome)
}

/// Phase `preflight`: kubeadm's join checks. Returns the warnings.
pub fn preflight_phase(
    root: &Root,
    cfg: &JoinConfiguration,
    opts: &JoinOptions,
) -> Result<Vec<String>> {
    // The configuration carries `--ignore-preflight-errors` merged with its own list.
    Ok(preflight::run_join_checks(
        root,
        opts.host.as_ref(),
        cfg,
        &[],
    )?)
}

/// Phase `discovery`: the verified API server and CA, and the TLS bootstrap credentials.
pub fn discovery_phase(
    root: &Root,
    cfg: &JoinConfiguration,
    opts: &JoinOptions,
) -> Result<ClusterInfo> {
    Ok(discovery::discover(root, cfg, &opts.discovery)?)
}

/// Phase `kubelet-config`: reads the cluster's configuration with the bootstrap credentials,
/// and refuses to take over a Ready Node of the same name, unless this node registered it in
/// an earlier attempt of the same join. Writes nothing.
pub fn kubelet_config_phase(
    cfg: &JoinConfiguration,
    cluster: &ClusterInfo,
    opts: &JoinOptions,
) -> Result<RemoteConfig> {
    let client = bootstrap_client(cluster, opts)?;
    let remote = remote::fetch(&client)?;
    let name = node_name(cfg, &opts.kubelet_host);
    if opts.resumed_after_kubelet_start {
        log::info!(
            "[kubelet-start] Node {name:?} was registered by this node's kubelet in an earlier \
             attempt; resuming the join"
        );
    } else {
        remote::refuse_ready_node(&client, &name)?;
    }
    Ok(remote)
}

/// Phase `tls-bootstrap`: with kubeboot's TLS bootstrap, the node's key, CSR and checked
/// certificate (only the pending key is written); with `--tls-bootstrap=kubelet`, nothing: the
/// kubelet sends its own CSR.
pub fn tls_bootstrap_phase(
    root: &Root,
    cfg: &JoinConfiguration,
    cluster: &ClusterInfo,
    opts: &JoinOptions,
) -> Result<Option<IssuedCertificate>> {
    if opts.tls_bootstrap == TlsBootstrapMode::Kubelet {
        return Ok(None);
    }
    let client = bootstrap_client(cluster, opts)?;
    let wait = CsrWait {
        poll: opts.csr_poll,
        timeout: opts
            .tls_bootstrap_timeout
            .unwrap_or(cfg.timeouts.tls_bootstrap),
        clock: opts.api_retry.clock.clone(),
    };
    let issued = tlsbootstrap::request_node_certificate(
        root,
        &KubeletCertDir::from_kubelet_args(&cfg.node_registration.kubelet_extra_args),
        &client,
        &node_name(cfg, &opts.kubelet_host),
        &cluster.ca_pem,
        &wait,
        (opts.wall_clock)(),
    )?;
    Ok(Some(issued))
}

/// Phase `kubelet-start`, as kubeadm's: stops the kubelet, writes the CA, the kubelet's
/// configuration and its credentials (`kubelet.conf` with the issued certificate, or kubeadm's
/// `bootstrap-kubelet.conf` when there is none), then starts the kubelet. Says whether it did
/// ([`wait::kubelet_wait_bootstrap`] waits for it then).
pub fn kubelet_start_phase(
    root: &Root,
    cfg: &JoinConfiguration,
    cluster: &ClusterInfo,
    remote: &RemoteConfig,
    issued: Option<&IssuedCertificate>,
    opts: &JoinOptions,
) -> Result<KubeletStart> {
    opts.services.stop_kubelet();
    write_ca_certificate(root, cfg, &cluster.ca_pem)?;
    // kubeadm registers a worker's taints through the kubelet flag.
    let register_taints = cfg.control_plane.is_none();
    kubelet::write_kubelet_files(
        root,
        &remote.kubelet,
        &cfg.node_registration,
        &remote.cluster,
        register_taints,
        &opts.kubelet_host,
    )?;
    match issued {
        Some(issued) => write_kubelet_credentials(root, cluster, issued, opts)?,
        None => write_bootstrap_kubeconfig(root, cluster, remote)?,
    }
    Ok(opts.services.start_kubelet())
}

/// The issued certificate in the kubelet's store and `kubelet.conf` pointing at it, then the
/// pending key is dropped.
fn write_kubelet_credentials(
    root: &Root,
    cluster: &ClusterInfo,
    issued: &IssuedCertificate,
    opts: &JoinOptions,
) -> Result<()> {
    issued.store(root, (opts.wall_clock)())?;
    let conf = kubelet_conf::kubelet_conf(
        &cluster.server,
        &cluster.ca_pem,
        &issued.cert_dir().current_client_pem(),
    );
    log::info!("[kubelet-start] Writing kubeconfig file {KUBELET_KUBECONFIG:?}");
    kubeconfig::write(root, Path::new(KUBELET_KUBECONFIG), &conf)?;
    tlsbootstrap::forget_pending_key(root, issued.cert_dir())?;
    Ok(())
}

/// kubeadm's `bootstrap-kubelet.conf`, for the kubelet to perform the TLS bootstrap itself.
fn write_bootstrap_kubeconfig(
    root: &Root,
    cluster: &ClusterInfo,
    remote: &RemoteConfig,
) -> Result<()> {
    let auth = match &cluster.credentials {
        BootstrapCredentials::Token(token) => kubelet_conf::BootstrapAuth::Token(token),
        BootstrapCredentials::ClientCertificate { cert_pem, key_pem } => {
            kubelet_conf::BootstrapAuth::ClientCertificate { cert_pem, key_pem }
        }
    };
    let conf = kubelet_conf::bootstrap_kubelet_conf(
        &cluster.server,
        &cluster.ca_pem,
        &remote.cluster.cluster_name,
        auth,
    );
    log::info!(
        "[kubelet-start] Writing bootstrap kubelet config file at \
         {BOOTSTRAP_KUBELET_KUBECONFIG:?}; the kubelet performs the TLS bootstrap"
    );
    kubeconfig::write(root, Path::new(BOOTSTRAP_KUBELET_KUBECONFIG), &conf)?;
    Ok(())
}

/// The name the kubelet registers with, and so the CSR's subject: a `hostname-override` kubelet
/// argument wins, as in kubeadm's `GetNodeNameAndHostname`.
pub fn node_name(cfg: &JoinConfiguration, host: &KubeletHost) -> String {
    let node = &cfg.node_registration;
    last_arg(&node.kubelet_extra_args, "hostname-override")
        .or((!node.name.is_empty()).then_some(node.name.as_str()))
        .unwrap_or(&host.hostname)
        .to_string()
}

/// An API client for the verified cluster with the TLS bootstrap credentials.
fn bootstrap_client(cluster: &ClusterInfo, opts: &JoinOptions) -> Result<Client> {
    let setup = |detail: String| api::Error::Setup {
        server: cluster.server.clone(),
        detail,
    };
    let trust = Trust::from_pem(&cluster.ca_pem, "the cluster CA from discovery")
        .map_err(|e| setup(e.0))?;
    let auth = cluster
        .credentials
        .auth("the TLS bootstrap credentials")
        .map_err(|e| setup(e.0))?;
    let options = ClientOptions {
        retry: opts.api_retry.clone(),
        connect_timeout: opts.connect_timeout,
        request_timeout: opts.request_timeout,
        proxy: opts.discovery.proxy.clone(),
        ..ClientOptions::new(trust, auth)
    };
    Ok(Client::new(&cluster.server, options)?)
}

/// Writes the cluster CA where the kubelet's `clientCAFile` points. As kubeadm, an existing file
/// is kept (it may be a bundle the administrator placed); it is only reported if it differs.
fn write_ca_certificate(root: &Root, cfg: &JoinConfiguration, ca_pem: &[u8]) -> Result<()> {
    let path = &cfg.ca_cert_path;
    match root.read_optional(path)? {
        Some(existing) if existing != ca_pem => log::warn!(
            "[kubelet-start] {} already exists and differs from the cluster CA found by \
             discovery; keeping it",
            path.display()
        ),
        Some(_) => {}
        None => {
            log::info!(
                "[kubelet-start] Writing CA certificate at {}",
                path.display()
            );
            if let Some(dir) = path.parent() {
                root.create_dir_all(dir, mode::PRIVATE_DIR)?;
            }
            root.write_atomic(path, ca_pem, mode::PUBLIC)?;
        }
    }
    Ok(())
}

/// Which of kubeboot's phases `--skip-phases` turns off.
struct SkipPhases {
    preflight: bool,
    kubelet_start: bool,
    kubelet_wait_bootstrap: bool,
}

impl SkipPhases {
    /// Names must be kubeadm's join phases: a typo must not silently run a phase.
    fn new(names: &[String]) -> Result<Self> {
        let unknown: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !KUBEADM_JOIN_PHASES.contains(n))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Config(ConfigError {
                origin: "--skip-phases / skipPhases".into(),
                document: None,
                kind: None,
                field: Some("skipPhases".into()),
                reason: format!(
                    "{unknown:?} is not a phase of kubeadm join; valid names: {}",
                    KUBEADM_JOIN_PHASES.join(", ")
                ),
            }));
        }
        let has = |n: &str| names.iter().any(|s| s == n);
        Ok(SkipPhases {
            preflight: has("preflight"),
            kubelet_start: has("kubelet-start"),
            kubelet_wait_bootstrap: has("kubelet-wait-bootstrap"),
        })
    }
}

//! `kubeboot boot`: the first-boot job. Find this machine's user-data, decode it, decide init
//! or join, run that flow phase by phase, report the outcome in `/var/lib/kubeboot/` and on the
//! console, and exit. After success every later boot is a no-op; after a failure or a crash a
//! re-run resumes (every phase is idempotent; the journal says where the last attempt stopped).

pub mod decide;

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::Duration;

use crate::cli::{BootArgs, InitArgs, JoinArgs, TlsBootstrapMode};
use crate::config::model::BootConfiguration;
use crate::config::{self, ConfigError, HostFacts};
use crate::fs::Root;
use crate::service::ServiceControl;
use crate::state::{self, ErrorReport, PhaseObserver, Recorder};
use crate::userdata::{self, MetaData, Selection, SourceEnv};
use crate::{Result, init, join, preflight};

use decide::{Facts, Mode};

/// Everything `boot` takes from outside, so tests can point it at fixtures and loopback servers.
pub struct BootOptions {
    pub selection: Selection,
    pub sources: SourceEnv,
    pub dry_run: bool,
    pub ignore_preflight_errors: Vec<String>,
    /// This machine's identity; `HostFacts::detect()` in production.
    pub host: HostFacts,
    /// Addresses on this machine, for matching `BootConfiguration.initializer`.
    pub local_addresses: Vec<IpAddr>,
}

impl BootOptions {
    pub fn from_args(args: &BootArgs) -> Result<Self> {
        Ok(BootOptions {
            selection: Selection::from_args(args.datasource.as_deref(), args.user_data.as_deref())?,
            sources: SourceEnv::default(),
            dry_run: args.dry_run,
            ignore_preflight_errors: args.ignore_preflight_errors.clone(),
            host: HostFacts::detect(),
            local_addresses: local_addresses(),
        })
    }
}

pub fn run_command(root: &Root, args: BootArgs) -> Result<()> {
    run(root, BootOptions::from_args(&args)?)
}

/// The whole first-boot job.
pub fn run(root: &Root, opts: BootOptions) -> Result<()> {
    if state::is_done(root) {
        log::info!(
            "[boot] kubeboot already completed on this node ({} exists): nothing to do",
            state::DONE_MARKER
        );
        return Ok(());
    }
    let mut recorder = Recorder::start(root)?;
    let attempt = recorder.result().attempt;
    if attempt > 1 {
        let done: Vec<&str> = recorder
            .journal()
            .completed
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        log::info!(
            "[boot] Attempt {attempt}: resuming; phases completed before: {}",
            list(&done)
        );
    }
    let mut observer = Journaled {
        recorder: &mut recorder,
        failed_phase: None,
    };
    let outcome = boot(root, &opts, &mut observer);
    let failed_phase = observer.failed_phase.take();
    match outcome {
        Ok(()) => {
            let result = recorder.succeed(opts.dry_run)?;
            eprintln!("{}", state::summary(&result, root.base()));
            Ok(())
        }
        Err(e) => {
            let report = ErrorReport {
                class: e.class().to_string(),
                exit_code: e.exit_code() as u8,
                message: e.to_string(),
                hint: e.hint().to_string(),
                phase: failed_phase,
            };
            let result = recorder.fail(report)?;
            eprintln!("{}", state::summary(&result, root.base()));
            Err(e)
        }
    }
}

fn boot(root: &Root, opts: &BootOptions, observer: &mut Journaled) -> Result<()> {
    let mut loaded = None;
    observer.phase("user-data", &mut || {
        loaded = Some(userdata::load(root, &opts.sources, &opts.selection)?);
        Ok(())
    })?;
    let Some(loaded) = loaded else { return Ok(()) };
    observer.recorder.set_datasource(loaded.source)?;

    let docs = config::decode(&loaded.documents)?;
    let boot_cfg = docs.boot.clone().unwrap_or_default();
    let host = host_facts(&opts.host, &loaded.meta);
    let mut addresses = opts.local_addresses.clone();
    addresses.extend(loaded.meta.local_ipv4);

    let facts = Facts {
        setting: boot_cfg.mode,
        has_init: docs.init.is_some(),
        has_join: docs.join.is_some(),
        join_control_plane: docs
            .join
            .as_ref()
            .is_some_and(|j| j.control_plane.is_some()),
        initializer: boot_cfg.initializer.as_deref(),
        node_name: &host.hostname,
        local_addresses: &addresses,
    };
    let (mode, reason) = decide::decide(&facts).map_err(|e| ConfigError {
        origin: loaded.source.to_string(),
        document: None,
        kind: Some("BootConfiguration".into()),
        field: None,
        reason: e.to_string(),
    })?;
    log::info!("[boot] Mode {mode}: {reason}");
    let _watchdog = boot_cfg.deadlines.total.map(Watchdog::start);

    match mode {
        Mode::Init => {
            let cfg = config::init_from_documents(&docs, &init_args(opts), &host)?;
            observer
                .recorder
                .set_plan("init", &reason, &cfg.node_registration.name)?;
            let preflight_host = preflight::RealHost::new(root.clone());
            init::run(root, cfg, &preflight_host, boot_cfg.start_kubelet, observer)
        }
        Mode::Join | Mode::JoinControlPlane => {
            let mut cfg = config::join_from_documents(&docs, &join_args(opts), &host)?;
            apply_deadlines(&mut cfg, &boot_cfg);
            observer
                .recorder
                .set_plan(&mode.to_string(), &reason, &cfg.node_registration.name)?;
            let mut join_opts =
                join::JoinOptions::new(root, opts.dry_run, TlsBootstrapMode::Kubeboot);
            join_opts.services = Box::new(ServiceControl::for_run(
                root,
                opts.dry_run,
                boot_cfg.start_kubelet,
            ));
            let outcome = join::run_observed(root, &cfg, &join_opts, observer)?;
            if !outcome.planned_requests.is_empty() {
                print!("{}", join::planned_requests_yaml(&outcome.planned_requests));
            }
            Ok(())
        }
    }
}

/// Meta-data from the datasource (the cloud's idea of this instance) is the default identity.
fn host_facts(detected: &HostFacts, meta: &MetaData) -> HostFacts {
    HostFacts {
        hostname: meta
            .hostname
            .clone()
            .unwrap_or_else(|| detected.hostname.clone()),
        default_address: meta.local_ipv4.or(detected.default_address),
    }
}

fn init_args(opts: &BootOptions) -> InitArgs {
    InitArgs {
        ignore_preflight_errors: opts.ignore_preflight_errors.clone(),
        dry_run: opts.dry_run,
        ..InitArgs::default()
    }
}

fn join_args(opts: &BootOptions) -> JoinArgs {
    JoinArgs {
        ignore_preflight_errors: opts.ignore_preflight_errors.clone(),
        dry_run: opts.dry_run,
        ..JoinArgs::default()
    }
}

/// `BootConfiguration.deadlines` tighten (or loosen) kubeadm's own timeouts.
fn apply_deadlines(cfg: &mut config::model::JoinConfiguration, boot: &BootConfiguration) {
    if let Some(d) = boot.deadlines.discovery {
        cfg.timeouts.discovery = d;
    }
    if let Some(d) = boot.deadlines.tls_bootstrap {
        cfg.timeouts.tls_bootstrap = d;
    }
}

/// Times and journals each phase; remembers which one failed for the report.
struct Journaled<'r, 'a> {
    recorder: &'r mut Recorder<'a>,
    failed_phase: Option<String>,
}

impl PhaseObserver for Journaled<'_, '_> {
    fn phase(&mut self, name: &str, run: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        if self.recorder.journal().is_completed(name) {
            log::info!(
                "[boot] Phase {name} completed in an earlier attempt; running it again to verify"
            );
        }
        self.recorder.phase(name, run).map_err(|failed| {
            self.failed_phase = Some(failed.phase);
            failed.error
        })
    }
}

/// Ends the process when `deadlines.total` passes, so a wedged boot cannot hang forever; the
/// journal and `result.json` (status `running`) show how far it got, and a re-run resumes.
/// Dropping it (the boot finished) stops it.
struct Watchdog {
    _cancel: mpsc::Sender<()>,
}

impl Watchdog {
    fn start(total: Duration) -> Watchdog {
        let (cancel, cancelled) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(total) {
                log::error!(
                    "[boot] The total deadline of {}s passed before the boot finished; exiting. \
                     Re-running resumes.",
                    total.as_secs()
                );
                std::process::exit(crate::ExitCode::Cluster as i32);
            }
        });
        Watchdog { _cancel: cancel }
    }
}

/// The machine's unicast addresses, for matching the designated initializer by IP.
fn local_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|sa| {
            sa.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .filter(|ip| !ip.is_loopback())
        .collect()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

//! `kubeboot boot`: the first-boot job. Find this machine's user-data, decode it, decide init
//! or join, run that flow phase by phase, report the outcome in `/var/lib/kubeboot/` and on the
//! console, and exit. After success every later boot is a no-op; after a failure or a crash a
//! re-run resumes (every phase is idempotent; the journal says where the last attempt stopped).

pub mod decide;

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cli::{BootArgs, InitArgs, JoinArgs, TlsBootstrapMode};
use crate::config::duration::format_go_duration;
use crate::config::model::BootConfiguration;
use crate::config::{self, ConfigError, HostFacts};
use crate::fs::Root;
use crate::service::ServiceControl;
use crate::state::{self, AbortHandle, ErrorReport, PhaseObserver, Recorder};
use crate::userdata::{self, MetaData, Selection, SourceEnv};
use crate::{ExitCode, Result, init, join, preflight};

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
    run_reported(root, opts).1
}

/// [`run`], also returning the attempt's report (`None` when the node was already done): what
/// `result.json` holds, or on a dry run, which records nothing, what it would hold.
pub fn run_reported(root: &Root, opts: BootOptions) -> (Option<state::BootResult>, Result<()>) {
    let started = Instant::now();
    if state::is_done(root) {
        log::info!(
            "[boot] kubeboot already completed on this node ({} exists): nothing to do",
            state::DONE_MARKER
        );
        return (None, Ok(()));
    }
    let mut recorder = if opts.dry_run {
        Recorder::dry_run(root)
    } else {
        match Recorder::start(root) {
            Ok(recorder) => recorder,
            Err(e) => return (None, Err(e.into())),
        }
    };
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
    let resume = Resume::from_earlier(recorder.journal());
    let mut observer = Journaled {
        recorder: &mut recorder,
        failed_phase: None,
        preflight_passed_on: resume.preflight_passed_on,
        control_plane_checks_passed: resume.control_plane_checks_passed,
    };
    let outcome = boot(root, &opts, started, &resume, &mut observer);
    let failed_phase = observer.failed_phase.take();
    let recorded = match &outcome {
        Ok(()) => recorder.succeed(),
        Err(e) => recorder.fail(ErrorReport {
            class: e.class().to_string(),
            exit_code: e.exit_code() as u8,
            message: e.to_string(),
            hint: e.hint().to_string(),
            phase: failed_phase,
        }),
    };
    match recorded {
        Ok(result) => {
            eprintln!("{}", state::summary(&result, root.base()));
            (Some(result), outcome)
        }
        // The boot's own error says more than the failure to record it.
        Err(record) => match outcome {
            Ok(()) => (None, Err(record.into())),
            Err(e) => {
                log::error!("[boot] cannot record the outcome: {record}");
                (None, Err(e))
            }
        },
    }
}

/// What earlier attempts of this boot got through, so that a re-run does not trip over their
/// work: every phase is idempotent, but checks that a node is still untouched are not.
#[derive(Debug, Default)]
struct Resume {
    /// The attempt whose preflight checks passed. The phases after them wrote the files and
    /// started the components (manifests, etcd data, ports 6443, 2379, 10250, ...) that the
    /// checks would now refuse as someone else's.
    preflight_passed_on: Option<u32>,
    /// A control-plane join got past its control-plane checks, which its certificates,
    /// kubeconfigs and manifests would now fail, even if it crashed right after them.
    control_plane_checks_passed: bool,
    /// `kubelet-start` completed: the kubelet may have registered this node as a Ready Node.
    kubelet_started: bool,
}

impl Resume {
    fn from_earlier(journal: &state::Journal) -> Resume {
        Resume {
            preflight_passed_on: journal.completed("preflight").map(|p| p.attempt),
            // A journal without the step (an attempt of an older kubeboot) that completed
            // control-plane-prepare had passed them too.
            control_plane_checks_passed: journal.is_completed(join::CONTROL_PLANE_CHECKS)
                || journal.is_completed("control-plane-prepare"),
            kubelet_started: journal.is_completed("kubelet-start"),
        }
    }
}

fn boot(
    root: &Root,
    opts: &BootOptions,
    started: Instant,
    resume: &Resume,
    observer: &mut Journaled,
) -> Result<()> {
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
    // Seed media were mounted and unmounted in the user-data phase, so the watchdog's exit,
    // which skips destructors, cannot leave them mounted; its clock counts from the start.
    let _watchdog = boot_cfg
        .deadlines
        .total
        .map(|total| Watchdog::start(total, started, observer.recorder.abort_handle()));

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
            join_opts.resumed_after_kubelet_start = resume.kubelet_started;
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
    /// Skip `preflight`: it passed on this attempt (see [`Resume`]).
    preflight_passed_on: Option<u32>,
    /// Skip a control-plane join's checks: they passed in an earlier attempt.
    control_plane_checks_passed: bool,
}

impl PhaseObserver for Journaled<'_, '_> {
    fn phase(&mut self, name: &str, run: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        if name == "preflight"
            && let Some(attempt) = self.preflight_passed_on
        {
            let on = if attempt > 0 {
                format!("on attempt {attempt}")
            } else {
                "in an earlier attempt".into()
            };
            log::info!(
                "[preflight] Pre-flight checks passed {on}; not running them again: the files \
                 and components written and started since would fail them"
            );
            return Ok(());
        }
        if name == join::CONTROL_PLANE_CHECKS && self.control_plane_checks_passed {
            log::info!(
                "[preflight] The control-plane pre-flight checks passed in an earlier attempt; \
                 not running them again on the files and components it left"
            );
            return Ok(());
        }
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

/// The exit code of a boot stopped by `deadlines.total`: the cluster did not answer in time,
/// and retrying may help.
const DEADLINE_EXIT: ExitCode = ExitCode::Cluster;
const DEADLINE_HINT: &str = "the phase named above took too long: check that the API server \
    endpoint is reachable from this node and healthy, or raise deadlines.total; re-running \
    resumes where this attempt stopped";

/// Ends the attempt and the process when `deadlines.total` has passed since the boot started,
/// so a wedged boot cannot hang forever: `result.json` and the console summary name the
/// deadline and the phase that was running, the exit code is [`DEADLINE_EXIT`], and a re-run
/// resumes. Dropping it (the boot finished) stops it.
struct Watchdog {
    _cancel: mpsc::Sender<()>,
}

impl Watchdog {
    fn start(total: Duration, started: Instant, attempt: AbortHandle) -> Watchdog {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let left = total.saturating_sub(started.elapsed());
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(left) {
                let message = format!(
                    "the boot did not finish within deadlines.total ({}) of the \
                     BootConfiguration",
                    format_go_duration(total)
                );
                log::error!("[boot] {message}; stopping this attempt");
                attempt.abort(ErrorReport {
                    class: DEADLINE_EXIT.class().to_string(),
                    exit_code: DEADLINE_EXIT as u8,
                    message,
                    hint: DEADLINE_HINT.to_string(),
                    phase: None,
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Journal, PhaseRecord};

    fn journal(phases: &[(&str, u32)]) -> Journal {
        Journal {
            completed: phases
                .iter()
                .map(|(name, attempt)| PhaseRecord {
                    name: name.to_string(),
                    duration_ms: 1,
                    finished_at: "2026-01-01T00:00:00Z".into(),
                    attempt: *attempt,
                })
                .collect(),
            attempts: 2,
        }
    }

    #[test]
    fn checks_that_passed_before_are_not_run_again_and_the_rest_runs() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut recorder = Recorder::start(&root).unwrap();
        let mut observer = Journaled {
            recorder: &mut recorder,
            failed_phase: None,
            preflight_passed_on: None,
            control_plane_checks_passed: true,
        };
        let mut ran = Vec::new();
        for name in [join::CONTROL_PLANE_CHECKS, "control-plane-prepare"] {
            observer
                .phase(name, &mut || {
                    ran.push(name);
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(ran, ["control-plane-prepare"]);
    }

    #[test]
    fn a_first_attempt_skips_nothing() {
        let resume = Resume::from_earlier(&Journal::default());
        assert_eq!(resume.preflight_passed_on, None);
        assert!(!resume.control_plane_checks_passed && !resume.kubelet_started);
    }

    #[test]
    fn a_control_plane_join_failing_after_kubelet_start_skips_every_check_of_a_fresh_node() {
        let done = journal(&[
            ("preflight", 1),
            ("discovery", 1),
            ("kubelet-config", 1),
            (join::CONTROL_PLANE_CHECKS, 1),
            ("control-plane-prepare", 1),
            ("tls-bootstrap", 2),
            ("kubelet-start", 2),
        ]);
        let resume = Resume::from_earlier(&done);
        assert_eq!(resume.preflight_passed_on, Some(1));
        assert!(resume.control_plane_checks_passed && resume.kubelet_started);
    }

    #[test]
    fn control_plane_checks_are_skipped_once_they_passed_whatever_came_after() {
        let before = journal(&[("preflight", 1), ("discovery", 1), ("kubelet-config", 1)]);
        // The checks failed, or never ran: they run again.
        assert!(!Resume::from_earlier(&before).control_plane_checks_passed);
        // They passed, and the attempt then failed or crashed inside control-plane-prepare
        // (half its files written): they must not run on those files.
        let passed = journal(&[
            ("preflight", 1),
            ("discovery", 1),
            ("kubelet-config", 1),
            (join::CONTROL_PLANE_CHECKS, 1),
        ]);
        assert!(Resume::from_earlier(&passed).control_plane_checks_passed);
    }
}

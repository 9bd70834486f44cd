//! What a boot leaves behind under `/var/lib/kubeboot/`: `result.json` (status, mode, node,
//! datasource, phases with durations, error class/message/hint; never a secret), a phase
//! journal so a re-run after a failure or crash knows where the last attempt stopped, and the
//! `done` marker, written only after success, that makes every later boot a no-op. An init
//! that generated a bootstrap token keeps it in its own 0600 file until it completes
//! ([`GENERATED_SECRETS_FILE`]).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fs::{FsError, Root, mode};

pub const STATE_DIR: &str = "/var/lib/kubeboot";
pub const RESULT_FILE: &str = "/var/lib/kubeboot/result.json";
pub const JOURNAL_FILE: &str = "/var/lib/kubeboot/journal.json";
pub const DONE_MARKER: &str = "/var/lib/kubeboot/done";
/// The bootstrap token and certificate key an unfinished `init` generated (0600), so that a
/// re-run reuses them; removed when init completes (`online::prepare_secrets`).
pub const GENERATED_SECRETS_FILE: &str = "/var/lib/kubeboot/generated-secrets.json";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path} is not valid JSON ({reason}); delete it to start the boot afresh")]
    Corrupt { path: &'static str, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Done,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseRecord {
    pub name: String,
    pub duration_ms: u64,
    pub finished_at: String,
    /// The attempt that completed the phase (0 in a journal written before it was recorded).
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    /// The exit-code class (`config`, `trust`, `cluster`, ...).
    pub class: String,
    pub exit_code: u8,
    pub message: String,
    /// What to check.
    pub hint: String,
    /// The phase that failed, when one did.
    pub phase: Option<String>,
}

/// `result.json`. Field names are a contract with monitoring: add, never rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootResult {
    pub status: Status,
    pub mode: Option<String>,
    pub mode_reason: Option<String>,
    pub node_name: Option<String>,
    pub datasource: Option<String>,
    pub phases: Vec<PhaseRecord>,
    pub error: Option<ErrorReport>,
    pub kubeboot_version: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// How many times boot has run until this result (1 = first attempt).
    pub attempt: u32,
}

impl BootResult {
    /// A new attempt's result, before anything is known.
    fn running(attempt: u32) -> BootResult {
        BootResult {
            status: Status::Running,
            mode: None,
            mode_reason: None,
            node_name: None,
            datasource: None,
            phases: Vec::new(),
            error: None,
            kubeboot_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: now_rfc3339(),
            finished_at: None,
            attempt,
        }
    }
}

/// The phases completed by earlier attempts, so a re-run can report where it resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub completed: Vec<PhaseRecord>,
    pub attempts: u32,
}

impl Journal {
    pub fn is_completed(&self, phase: &str) -> bool {
        self.completed(phase).is_some()
    }

    pub fn completed(&self, phase: &str) -> Option<&PhaseRecord> {
        self.completed.iter().find(|p| p.name == phase)
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn read_json<T: for<'de> Deserialize<'de>>(
    root: &Root,
    path: &'static str,
) -> Result<Option<T>, Error> {
    match root.read_optional(path)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path,
                reason: e.to_string(),
            }),
    }
}

fn write_json<T: Serialize>(root: &Root, path: &'static str, value: &T) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Corrupt {
        path,
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    root.write_atomic(path, &bytes, mode::PRIVATE)?;
    Ok(())
}

/// The state directory, 0700 even when the image or an older kubeboot created it wider: the
/// report names nodes, endpoints and errors that are nobody else's business.
fn private_state_dir(root: &Root) -> Result<(), Error> {
    root.create_dir_all(STATE_DIR, mode::PRIVATE_DIR)?;
    let private = std::fs::Permissions::from_mode(mode::PRIVATE_DIR);
    std::fs::set_permissions(root.path(STATE_DIR), private).map_err(|source| FsError {
        op: "restrict the permissions of",
        path: STATE_DIR.into(),
        root: root.base().to_path_buf(),
        source,
    })?;
    Ok(())
}

pub fn is_done(root: &Root) -> bool {
    root.exists(DONE_MARKER)
}

fn read_result(root: &Root) -> Result<Option<BootResult>, Error> {
    read_json(root, RESULT_FILE)
}

/// Records one boot attempt: every change is written through at once, so a crash leaves the
/// last known state on disk for the console, monitoring and the next attempt. A dry run's
/// recorder writes nothing: a rehearsal must not pass for an earlier attempt of the real boot.
pub struct Recorder<'a> {
    root: &'a Root,
    result: BootResult,
    journal: Journal,
    progress: Arc<Mutex<Progress>>,
    /// False for a dry run: nothing is written.
    persist: bool,
}

/// What the recorder shares with an [`AbortHandle`] on another thread. Its lock is held for
/// every write of the state files, so that the two never interleave.
#[derive(Default)]
struct Progress {
    /// The phase running now.
    phase: Option<String>,
    /// The attempt has ended (`succeed` or `fail`): an abort comes too late.
    ended: bool,
}

fn lock(progress: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    // Two plain fields stay consistent whatever a panicking holder did.
    progress.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<'a> Recorder<'a> {
    /// Starts an attempt, carrying over the journal of earlier ones.
    pub fn start(root: &'a Root) -> Result<Self, Error> {
        let journal: Journal = read_json(root, JOURNAL_FILE)?.unwrap_or_default();
        private_state_dir(root)?;
        let rec = Recorder::new(root, journal, true);
        rec.flush()?;
        Ok(rec)
    }

    /// Starts a dry run: a first attempt kept in memory, for the summary only.
    pub fn dry_run(root: &'a Root) -> Self {
        Recorder::new(root, Journal::default(), false)
    }

    fn new(root: &'a Root, mut journal: Journal, persist: bool) -> Self {
        journal.attempts += 1;
        let result = BootResult::running(journal.attempts);
        Recorder {
            root,
            result,
            journal,
            progress: Arc::default(),
            persist,
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn result(&self) -> &BootResult {
        &self.result
    }

    /// A handle with which another thread (the `deadlines.total` watchdog) can end this attempt.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            root: self.root.clone(),
            progress: Arc::clone(&self.progress),
            persist: self.persist,
        }
    }

    fn flush(&self) -> Result<(), Error> {
        let _writing = lock(&self.progress);
        self.write()
    }

    fn write(&self) -> Result<(), Error> {
        if !self.persist {
            return Ok(());
        }
        write_json(self.root, JOURNAL_FILE, &self.journal)?;
        write_json(self.root, RESULT_FILE, &self.result)
    }

    pub fn set_datasource(&mut self, name: &str) -> Result<(), Error> {
        self.result.datasource = Some(name.to_string());
        self.flush()
    }

    pub fn set_plan(&mut self, mode: &str, reason: &str, node_name: &str) -> Result<(), Error> {
        self.result.mode = Some(mode.to_string());
        self.result.mode_reason = Some(reason.to_string());
        self.result.node_name = Some(node_name.to_string());
        self.flush()
    }

    /// Runs one phase, timing it and recording its completion in the journal.
    pub fn phase<T, E>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, PhaseFailed<E>> {
        let started = Instant::now();
        lock(&self.progress).phase = Some(name.to_string());
        let outcome = f();
        lock(&self.progress).phase = None;
        let value = outcome.map_err(|e| PhaseFailed {
            phase: name.to_string(),
            error: e,
        })?;
        let record = PhaseRecord {
            name: name.to_string(),
            duration_ms: duration_ms(started.elapsed()),
            finished_at: now_rfc3339(),
            attempt: self.result.attempt,
        };
        self.journal.completed.retain(|p| p.name != name);
        self.journal.completed.push(record.clone());
        self.result.phases.push(record);
        // A journal that cannot be written must not fail a phase that succeeded; the next
        // flush (success or failure) reports the file system error.
        if let Err(e) = self.flush() {
            log::warn!("[boot] cannot record phase {name}: {e}");
        }
        Ok(value)
    }

    /// Ends the attempt with success and writes the `done` marker last, unless this was a dry
    /// run: a rehearsal must not stop the real first boot from running.
    pub fn succeed(mut self) -> Result<BootResult, Error> {
        self.result.status = Status::Done;
        self.result.finished_at = Some(now_rfc3339());
        let progress = Arc::clone(&self.progress);
        let mut progress = lock(&progress);
        self.write()?;
        progress.ended = true;
        if !self.persist {
            log::info!(
                "[boot] Dry run: nothing is recorded in {STATE_DIR}, so a real boot still runs"
            );
        } else {
            let stamp = self.result.finished_at.as_deref().unwrap_or("");
            self.root
                .write_atomic(DONE_MARKER, stamp.as_bytes(), mode::PRIVATE)?;
        }
        Ok(self.result)
    }

    /// Ends the attempt with an error; the journal stays so the next run resumes.
    pub fn fail(mut self, report: ErrorReport) -> Result<BootResult, Error> {
        self.result.status = Status::Error;
        self.result.finished_at = Some(now_rfc3339());
        self.result.error = Some(report);
        let progress = Arc::clone(&self.progress);
        let mut progress = lock(&progress);
        self.write()?;
        progress.ended = true;
        Ok(self.result)
    }
}

/// Ends a [`Recorder`]'s attempt from another thread, for a watchdog that then exits the
/// process.
pub struct AbortHandle {
    root: Root,
    progress: Arc<Mutex<Progress>>,
    /// False for a dry run: the failure is shown, not recorded.
    persist: bool,
}

impl AbortHandle {
    /// Ends the attempt and the process, unless the attempt has already ended (then it
    /// returns): `result.json` as last written, marked failed with `report` in the phase
    /// running now, the summary on the console, then exit with `report.exit_code`. The lock is
    /// held until the exit, so the recorder writes nothing after the failure; the journal keeps
    /// the completed phases for the next attempt.
    pub fn abort(&self, mut report: ErrorReport) {
        let progress = lock(&self.progress);
        if progress.ended {
            return;
        }
        report.phase = progress.phase.clone();
        let code = report.exit_code;
        match self.record_failure(report) {
            Ok(result) => eprintln!("{}", summary(&result, self.root.base())),
            Err(e) => log::error!("[boot] cannot record the failure in {RESULT_FILE}: {e}"),
        }
        std::process::exit(i32::from(code))
    }

    fn record_failure(&self, report: ErrorReport) -> Result<BootResult, Error> {
        // Recorder::start wrote it; were it gone, the failure is still worth a result.
        let recorded = match self.persist {
            true => read_result(&self.root)?,
            false => None,
        };
        let mut result = recorded.unwrap_or_else(|| BootResult::running(0));
        result.status = Status::Error;
        result.finished_at = Some(now_rfc3339());
        result.error = Some(report);
        if self.persist {
            write_json(&self.root, RESULT_FILE, &result)?;
        }
        Ok(result)
    }
}

/// Runs a phase with its name, so a caller (`boot`) can time and journal each one.
pub trait PhaseObserver {
    fn phase(
        &mut self,
        name: &str,
        run: &mut dyn FnMut() -> crate::Result<()>,
    ) -> crate::Result<()>;
}

/// Runs phases as they come, observing nothing (`init` and `join` run by hand).
pub struct Unobserved;

impl PhaseObserver for Unobserved {
    fn phase(&mut self, _: &str, run: &mut dyn FnMut() -> crate::Result<()>) -> crate::Result<()> {
        run()
    }
}

/// A phase's error with the phase's name attached.
#[derive(Debug)]
pub struct PhaseFailed<E> {
    pub phase: String,
    pub error: E,
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sub-phases (`certs/ca`) folded into their phase, in order, so the summary stays one screen.
fn grouped_phases(phases: &[PhaseRecord]) -> Vec<(&str, u64)> {
    let mut out: Vec<(&str, u64)> = Vec::new();
    for p in phases {
        let name = p.name.split('/').next().unwrap_or(&p.name);
        match out.last_mut() {
            Some((last, ms)) if *last == name => *ms += p.duration_ms,
            _ => out.push((name, p.duration_ms)),
        }
    }
    out
}

/// The one-screen summary printed on the serial console at the end of a boot.
pub fn summary(result: &BootResult, root: &Path) -> String {
    let mut out = String::new();
    let line = "=".repeat(72);
    out.push_str(&line);
    out.push('\n');
    match (&result.status, &result.error) {
        (Status::Done, _) => out.push_str("kubeboot: SUCCESS\n"),
        (_, Some(e)) => out.push_str(&format!(
            "kubeboot: FAILED ({}, exit code {})\n",
            e.class, e.exit_code
        )),
        _ => out.push_str("kubeboot: INCOMPLETE\n"),
    }
    let field =
        |name: &str, v: &Option<String>| format!("  {name:<11} {}\n", v.as_deref().unwrap_or("-"));
    out.push_str(&field("node", &result.node_name));
    out.push_str(&field("mode", &result.mode));
    if let Some(reason) = &result.mode_reason {
        out.push_str(&format!("  {:<11} {reason}\n", "because"));
    }
    out.push_str(&field("user-data", &result.datasource));
    out.push_str(&format!("  {:<11} {}\n", "attempt", result.attempt));
    let phases: Vec<String> = grouped_phases(&result.phases)
        .iter()
        .map(|(name, ms)| format!("{name} ({ms} ms)"))
        .collect();
    out.push_str(&format!(
        "  {:<11} {}\n",
        "phases",
        if phases.is_empty() {
            "-".into()
        } else {
            phases.join(", ")
        }
    ));
    if let Some(e) = &result.error {
        if let Some(phase) = &e.phase {
            out.push_str(&format!("  {:<11} {phase}\n", "failed in"));
        }
        out.push_str(&format!("  {:<11} {}\n", "error", e.message));
        out.push_str(&format!("  {:<11} {}\n", "check", e.hint));
    }
    out.push_str(&format!(
        "  {:<11} {}\n",
        "details",
        root.join(RESULT_FILE.trim_start_matches('/')).display()
    ));
    out.push_str(&line);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ErrorReport {
        ErrorReport {
            class: "cluster".into(),
            exit_code: 7,
            message: "GET https://10.0.0.1:6443/... timed out".into(),
            hint: "is the control plane up?".into(),
            phase: Some("discovery".into()),
        }
    }

    #[test]
    fn success_writes_result_and_done_marker() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut rec = Recorder::start(&root).unwrap();
        assert_eq!(read_result(&root).unwrap().unwrap().status, Status::Running);
        rec.set_datasource("local").unwrap();
        rec.set_plan("join", "only a JoinConfiguration was given", "worker-0")
            .unwrap();
        rec.phase("certs/ca", || Ok::<_, ()>(())).unwrap();
        rec.phase("certs/sa", || Ok::<_, ()>(())).unwrap();
        assert!(!is_done(&root));
        let result = rec.succeed().unwrap();
        assert!(is_done(&root));
        let on_disk = read_result(&root).unwrap().unwrap();
        assert_eq!(on_disk, result);
        assert_eq!(on_disk.status, Status::Done);
        assert_eq!(on_disk.phases[0].name, "certs/ca");
        assert!(
            summary(&result, dir.path()).contains("phases      certs ("),
            "sub-phases are folded"
        );
    }

    #[test]
    fn a_dry_run_records_nothing_and_does_not_mark_the_node_done() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut rec = Recorder::dry_run(&root);
        rec.set_plan("init", "BootConfiguration sets mode: init", "cp-0")
            .unwrap();
        rec.phase("preflight", || Ok::<_, ()>(())).unwrap();
        let result = rec.succeed().unwrap();
        assert_eq!(result.status, Status::Done);
        assert_eq!(result.phases[0].name, "preflight");
        assert!(!is_done(&root));
        assert!(
            !root.exists(STATE_DIR),
            "a dry run records nothing a real boot would read as an earlier attempt"
        );
    }

    #[test]
    fn failure_keeps_the_journal_and_the_next_attempt_resumes_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut rec = Recorder::start(&root).unwrap();
        rec.phase("certs", || Ok::<_, ()>(())).unwrap();
        let failed = rec.phase("discovery", || Err::<(), _>("boom")).unwrap_err();
        assert_eq!(failed.phase, "discovery");
        rec.fail(report()).unwrap();
        assert!(!is_done(&root));
        let on_disk = read_result(&root).unwrap().unwrap();
        assert_eq!(on_disk.status, Status::Error);
        assert_eq!(on_disk.error.unwrap().class, "cluster");

        let again = Recorder::start(&root).unwrap();
        assert_eq!(again.result().attempt, 2);
        assert!(again.journal().is_completed("certs"));
        assert!(!again.journal().is_completed("discovery"));
    }

    #[test]
    fn state_files_are_private_and_an_existing_state_dir_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.create_dir_all(STATE_DIR, mode::DIR).unwrap();
        assert_eq!(root.mode(STATE_DIR).unwrap(), 0o755);
        Recorder::start(&root).unwrap().succeed().unwrap();
        assert_eq!(root.mode(STATE_DIR).unwrap(), 0o700);
        for file in [RESULT_FILE, JOURNAL_FILE, DONE_MARKER] {
            assert_eq!(root.mode(file).unwrap(), 0o600, "{file}");
        }
    }

    #[test]
    fn the_journal_names_the_attempt_that_completed_each_phase() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut rec = Recorder::start(&root).unwrap();
        rec.phase("preflight", || Ok::<_, ()>(())).unwrap();
        rec.fail(report()).unwrap();
        let mut rec = Recorder::start(&root).unwrap();
        rec.phase("discovery", || Ok::<_, ()>(())).unwrap();
        rec.fail(report()).unwrap();
        let third = Recorder::start(&root).unwrap();
        assert_eq!(third.journal().completed("preflight").unwrap().attempt, 1);
        assert_eq!(third.journal().completed("discovery").unwrap().attempt, 2);
    }

    #[test]
    fn an_abort_after_the_attempt_ended_changes_nothing() {
        // (An abort before the end exits the process: tests/boot.rs runs it in the binary.)
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let rec = Recorder::start(&root).unwrap();
        let handle = rec.abort_handle();
        let result = rec.succeed().unwrap();
        handle.abort(report());
        assert_eq!(read_result(&root).unwrap().unwrap(), result);
        assert!(is_done(&root));
    }

    #[test]
    fn result_json_field_names_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let rec = Recorder::start(&root).unwrap();
        rec.fail(report()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&root.read(RESULT_FILE).unwrap()).unwrap();
        for key in [
            "status",
            "mode",
            "modeReason",
            "nodeName",
            "datasource",
            "phases",
            "error",
            "kubebootVersion",
            "startedAt",
            "finishedAt",
            "attempt",
        ] {
            assert!(v.get(key).is_some(), "result.json lacks {key}: {v}");
        }
        for key in ["class", "exitCode", "message", "hint", "phase"] {
            assert!(v["error"].get(key).is_some(), "error lacks {key}");
        }
        assert_eq!(v["status"], "error");
    }

    #[test]
    fn corrupt_journal_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write_atomic(JOURNAL_FILE, b"{not json", mode::PUBLIC)
            .unwrap();
        let e = Recorder::start(&root).err().unwrap().to_string();
        assert!(e.contains("journal.json") && e.contains("delete it"), "{e}");
    }

    #[test]
    fn summary_names_the_failure_and_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let rec = Recorder::start(&root).unwrap();
        let result = rec.fail(report()).unwrap();
        let text = summary(&result, dir.path());
        assert!(text.contains("FAILED (cluster, exit code 7)"), "{text}");
        assert!(
            text.contains("failed in   discovery") && text.contains("is the control plane up?"),
            "{text}"
        );
    }
}

//! Starting the kubelet, as kubeadm's `TryStartKubelet`/`TryStopKubelet`: through `systemctl`,
//! best effort (a node without systemd gets a log line, not an error). It acts only on the
//! real machine: under `--dry-run`, or with a `--root` other than `/`, it says what it would do.

use std::path::Path;
use std::time::Duration;

use crate::fs::Root;
use crate::process::{RunError, run_with_timeout};

/// Whether service actions run, decided once per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceControl {
    /// Run `systemctl` on this machine.
    Systemd,
    /// Only log what would be done (dry run, sandbox root, or `startKubelet: false`).
    Skip(&'static str),
}

impl ServiceControl {
    pub fn for_run(root: &Root, dry_run: bool, start_kubelet: bool) -> Self {
        if dry_run {
            ServiceControl::Skip("dry run")
        } else if root.base() != Path::new("/") {
            ServiceControl::Skip("--root is not /")
        } else if !start_kubelet {
            ServiceControl::Skip("startKubelet is false")
        } else {
            ServiceControl::Systemd
        }
    }

    /// Stops the kubelet before its files are rewritten, so it never reads half a configuration.
    pub fn stop_kubelet(self) {
        if let ServiceControl::Systemd = self {
            if systemd_running() {
                log::info!("[kubelet-start] Stopping the kubelet");
                systemctl(&["stop", "kubelet"]);
            }
        }
    }

    /// Starts (restarts) the kubelet after its files are written, and says whether it did.
    pub fn start_kubelet(self) -> KubeletStart {
        match self {
            ServiceControl::Skip(why) => {
                log::info!("[kubelet-start] Would start the kubelet ({why})");
                KubeletStart::NotStarted(why)
            }
            ServiceControl::Systemd if !systemd_running() => {
                log::warn!(
                    "[kubelet-start] No supported init system detected, won't make sure the kubelet is running properly."
                );
                KubeletStart::NotStarted("no supported init system")
            }
            ServiceControl::Systemd => {
                log::info!("[kubelet-start] Starting the kubelet");
                systemctl(&["daemon-reload"]);
                systemctl(&["enable", "kubelet"]);
                systemctl(&["restart", "kubelet"]);
                KubeletStart::Started
            }
        }
    }
}

/// Whether a kubelet was started, so that what follows knows whether to wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeletStart {
    /// Asked to start on this machine (a failing `systemctl` is only a warning, as in kubeadm:
    /// the wait that follows says whether the kubelet really runs).
    Started,
    /// Nothing was started, for this reason (dry run, a root other than `/`, no systemd).
    NotStarted(&'static str),
}

/// What stops and starts the kubelet for a join: [`ServiceControl`] on a node; tests put a
/// fake kubelet here.
pub trait KubeletService {
    fn stop_kubelet(&self);
    fn start_kubelet(&self) -> KubeletStart;
}

impl KubeletService for ServiceControl {
    fn stop_kubelet(&self) {
        ServiceControl::stop_kubelet(*self)
    }

    fn start_kubelet(&self) -> KubeletStart {
        ServiceControl::start_kubelet(*self)
    }
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// How long one systemctl command may take: a restart waits for the kubelet to stop, which
/// systemd bounds at 90 s by default.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs one systemctl command; failures are warnings, as in kubeadm, but a hung systemctl is
/// killed rather than waited for forever.
fn systemctl(args: &[&str]) {
    let result = run_with_timeout(Path::new("systemctl"), args, SYSTEMCTL_TIMEOUT);
    if let Some(warning) = failure_warning(args, &result) {
        log::warn!("{warning}");
    }
}

/// The warning for a systemctl command that did not succeed.
fn failure_warning(args: &[&str], result: &Result<String, RunError>) -> Option<String> {
    let command = format!("systemctl {}", args.join(" "));
    match result {
        Ok(_) => None,
        Err(e) if e.is_timeout() => Some(format!(
            "[kubelet-start] '{command}' did not finish ({e}); check 'systemctl status kubelet' \
             and 'journalctl -u kubelet'"
        )),
        Err(e @ RunError::Spawn(_)) => Some(format!("[kubelet-start] '{command}': {e}")),
        Err(e) => Some(format!(
            "[kubelet-start] '{command}' failed ({e}); check 'journalctl -u kubelet'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_touched_only_on_the_real_root_outside_dry_run() {
        assert_eq!(
            ServiceControl::for_run(&Root::new("/"), false, true),
            ServiceControl::Systemd
        );
        assert_eq!(
            ServiceControl::for_run(&Root::new("/"), true, true),
            ServiceControl::Skip("dry run")
        );
        assert_eq!(
            ServiceControl::for_run(&Root::new("/tmp/x"), false, true),
            ServiceControl::Skip("--root is not /")
        );
        assert_eq!(
            ServiceControl::for_run(&Root::new("/"), false, false),
            ServiceControl::Skip("startKubelet is false")
        );
    }

    #[test]
    fn a_hung_systemctl_is_killed_and_reported() {
        let result = run_with_timeout(Path::new("/bin/sleep"), &["600"], Duration::from_millis(50));
        let warning = failure_warning(&["restart", "kubelet"], &result).unwrap();
        assert!(
            warning.contains("'systemctl restart kubelet' did not finish"),
            "{warning}"
        );
        assert!(warning.contains("killed"), "{warning}");
    }

    #[test]
    fn a_failed_systemctl_names_the_command_and_its_error() {
        let result = run_with_timeout(
            Path::new("/bin/sh"),
            &["-c", "echo Unit kubelet.service not found. >&2; exit 5"],
            Duration::from_secs(30),
        );
        let warning = failure_warning(&["enable", "kubelet"], &result).unwrap();
        assert!(
            warning.contains("'systemctl enable kubelet' failed"),
            "{warning}"
        );
        assert!(
            warning.contains("Unit kubelet.service not found."),
            "{warning}"
        );
        assert_eq!(
            failure_warning(&["daemon-reload"], &Ok(String::new())),
            None
        );
    }
}

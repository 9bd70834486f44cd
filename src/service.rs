//! Starting the kubelet, as kubeadm's `TryStartKubelet`/`TryStopKubelet`: through `systemctl`,
//! best effort (a node without systemd gets a log line, not an error). It acts only on the
//! real machine: under `--dry-run`, or with a `--root` other than `/`, it says what it would do.

use std::path::Path;
use std::process::Command;

use crate::fs::Root;

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

/// Runs one systemctl command; failures are warnings, as in kubeadm.
fn systemctl(args: &[&str]) {
    match Command::new("systemctl").args(args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => log::warn!(
            "[kubelet-start] 'systemctl {}' failed ({}): {}; check 'journalctl -u kubelet'",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => log::warn!(
            "[kubelet-start] cannot run systemctl {}: {e}",
            args.join(" ")
        ),
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
}

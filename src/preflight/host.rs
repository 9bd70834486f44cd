//! The facts preflight checks need about the machine, behind one trait so tests can inject
//! them. [`RealHost`] splits them by what they are about:
//!
//! - the running kernel and this process (CPUs, memory, uid, ports, `/proc`, `/sys`, kernel
//!   release and config, cgroups, name resolution, environment, the init system) are read from
//!   the live host, whatever `--root` says: a sandbox root has no kernel of its own;
//! - what is installed on the node (binaries in `PATH`, the kubelet binary, systemd unit files,
//!   the CRI socket) is looked up under the [`Root`], like every other node file.

use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, TcpListener, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::fs::Root;
use crate::process::run_with_timeout;

/// The `PATH` kubeboot searches when the environment has none (systemd's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long `kubelet --version` may take before the check gives up on it.
const KUBELET_VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// What the init system knows about a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// No supported init system (systemd) runs this machine.
    NoInitSystem,
    /// The init system has no such unit.
    NotFound,
    Installed {
        enabled: bool,
    },
}

/// The cgroup hierarchy of the running kernel and the controllers it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroups {
    /// Legacy hierarchy: controllers enabled in `/proc/cgroups`.
    V1(Vec<String>),
    /// Unified hierarchy: `cgroup.controllers` of the root, plus the controllers the kernel
    /// provides implicitly (`devices`, and `freezer` from 5.2 on).
    V2(Vec<String>),
}

/// Host facts, as the preflight checks ask for them. Errors are texts for the check's message.
pub trait Host {
    /// Real user id of this process (kubeadm's `os.Getuid`).
    fn uid(&self) -> u32;
    /// CPUs this process may run on (Go's `runtime.NumCPU`: the affinity mask).
    fn cpus(&self) -> usize;
    /// Total usable RAM in MiB.
    fn memory_mb(&self) -> Result<u64, String>;
    /// Whether a TCP listener can be opened on `port` on all addresses, as `net.Listen("tcp",
    /// ":port")` does. The listener is closed at once.
    fn port_free(&self, port: u16) -> bool;
    /// A file of the live kernel (`/proc/...`, `/sys/...`); `None` when it does not exist.
    fn kernel_file(&self, path: &str) -> Option<Vec<u8>>;
    /// `uname -r`.
    fn kernel_release(&self) -> Result<String, String>;
    /// The running kernel's build configuration (`CONFIG_...=y` lines).
    fn kernel_config(&self, release: &str) -> Result<String, String>;
    fn cgroups(&self) -> Result<Cgroups, String>;
    /// Resolves a host name as the C library does.
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String>;
    fn env(&self, name: &str) -> Option<String>;
    /// Whether an executable of this name is in one of the `PATH` directories on the node.
    fn executable_in_path(&self, name: &str) -> bool;
    /// The output of `kubelet --version` (e.g. `Kubernetes v1.34.2`).
    fn kubelet_version(&self) -> Result<String, String>;
    fn service(&self, name: &str) -> ServiceState;
    /// Whether the container runtime listens on `endpoint` (`unix:///run/containerd/...`).
    fn cri_reachable(&self, endpoint: &str) -> Result<(), String>;
}

/// The machine kubeboot runs on, with node files under `root`.
#[derive(Debug, Clone)]
pub struct RealHost {
    root: Root,
}

impl RealHost {
    pub fn new(root: Root) -> Self {
        RealHost { root }
    }

    fn path_dirs(&self) -> Vec<String> {
        let path = self.env("PATH").unwrap_or_else(|| DEFAULT_PATH.to_string());
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(str::to_string)
            .collect()
    }

    /// The real path of `name` in the node's `PATH`, if it is an executable file there.
    fn find_executable(&self, name: &str) -> Option<PathBuf> {
        self.path_dirs()
            .iter()
            .map(|dir| self.root.path(Path::new(dir).join(name)))
            .find(|p| is_executable(p))
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Host for RealHost {
    fn uid(&self) -> u32 {
        nix::unistd::getuid().as_raw()
    }

    fn cpus(&self) -> usize {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse_cpus_allowed(&s))
            .or_else(|| thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1)
    }

    fn memory_mb(&self) -> Result<u64, String> {
        let meminfo = fs::read_to_string("/proc/meminfo")
            .map_err(|e| format!("failed to get system info: cannot read /proc/meminfo: {e}"))?;
        parse_mem_total_mb(&meminfo)
            .ok_or_else(|| "failed to get system info: no MemTotal in /proc/meminfo".to_string())
    }

    fn port_free(&self, port: u16) -> bool {
        // Go's net.Listen("tcp", ":port") takes the port on every IPv4 and IPv6 address. Try
        // each family in turn (an IPv6 socket may be v6-only); without IPv6, IPv4 decides.
        if TcpListener::bind(("0.0.0.0", port)).is_err() {
            return false;
        }
        match TcpListener::bind(("::", port)) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::AddrInUse,
        }
    }

    fn kernel_file(&self, path: &str) -> Option<Vec<u8>> {
        fs::read(path).ok()
    }

    fn kernel_release(&self) -> Result<String, String> {
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("failed to get kernel release: {e}"))
    }

    fn kernel_config(&self, release: &str) -> Result<String, String> {
        let candidates = kernel_config_paths(release);
        for path in &candidates {
            let Ok(data) = fs::read(path) else { continue };
            let text = if path.ends_with(".gz") {
                let mut out = String::new();
                flate2::read::GzDecoder::new(&data[..])
                    .read_to_string(&mut out)
                    .map_err(|e| format!("cannot decompress {path}: {e}"))?;
                out
            } else {
                String::from_utf8_lossy(&data).into_owned()
            };
            return Ok(text);
        }
        Err(format!("no config path in {candidates:?} is available"))
    }

    fn cgroups(&self) -> Result<Cgroups, String> {
        match fs::read_to_string("/sys/fs/cgroup/cgroup.controllers") {
            Ok(controllers) => {
                let mut list = vec!["devices".to_string()];
                let release = self.kernel_release().unwrap_or_default();
                if kernel_at_least(&release, 5, 2) {
                    list.push("freezer".to_string());
                }
                list.extend(controllers.split_whitespace().map(str::to_string));
                Ok(Cgroups::V2(list))
            }
            Err(_) => {
                let table = fs::read_to_string("/proc/cgroups")
                    .map_err(|e| format!("failed to get cgroups v1 subsystems: {e}"))?;
                Ok(Cgroups::V1(parse_proc_cgroups(&table)))
            }
        }
    }

    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        (name, 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|e| format!("lookup {name}: {e}"))
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn executable_in_path(&self, name: &str) -> bool {
        self.find_executable(name).is_some()
    }

    fn kubelet_version(&self) -> Result<String, String> {
        let kubelet = self
            .find_executable("kubelet")
            .ok_or("executable file not found in $PATH")?;
        run_with_timeout(&kubelet, &["--version"], KUBELET_VERSION_TIMEOUT)
            .map_err(|e| e.to_string())
    }

    fn service(&self, name: &str) -> ServiceState {
        // sd_booted(): systemd runs this machine iff /run/systemd/system exists.
        if !Path::new("/run/systemd/system").is_dir() {
            return ServiceState::NoInitSystem;
        }
        systemd_unit_state(&self.root, &format!("{name}.service"))
    }

    fn cri_reachable(&self, endpoint: &str) -> Result<(), String> {
        let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
        if !path.starts_with('/') {
            return Err(format!(
                "unsupported CRI endpoint {endpoint:?}: only unix sockets are supported"
            ));
        }
        UnixStream::connect(self.root.path(path))
            .map(drop)
            .map_err(|e| format!("cannot connect to {endpoint}: {e}"))
    }
}

/// Where the kernel validator of kubeadm looks for the kernel configuration, in its order.
/// kubeboot does not `modprobe configs` when none is found: it loads no kernel modules.
fn kernel_config_paths(release: &str) -> Vec<String> {
    vec![
        "/proc/config.gz".to_string(),
        format!("/boot/config-{release}"),
        format!("/usr/src/linux-{release}/.config"),
        "/usr/src/linux/.config".to_string(),
        format!("/usr/lib/modules/{release}/config"),
        format!("/usr/lib/ostree-boot/config-{release}"),
        format!("/usr/lib/kernel/config-{release}"),
        format!("/usr/src/linux-headers-{release}/.config"),
        format!("/lib/modules/{release}/build/.config"),
    ]
}

/// Directories systemd loads unit files from, most specific first.
const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// A unit's state from its files under `root`: installed if a unit file exists, enabled if
/// some target wants it (a symlink in a `*.wants` directory), as `systemctl is-enabled` reads.
fn systemd_unit_state(root: &Root, unit: &str) -> ServiceState {
    if !UNIT_DIRS
        .iter()
        .any(|dir| root.exists(Path::new(dir).join(unit)))
    {
        return ServiceState::NotFound;
    }
    let enabled = UNIT_DIRS.iter().any(|dir| {
        root.list_dir(dir).unwrap_or_default().iter().any(|entry| {
            entry.ends_with(".wants") && root.exists(Path::new(dir).join(entry).join(unit))
        })
    });
    ServiceState::Installed { enabled }
}

/// Counts the CPUs in `Cpus_allowed_list:` of `/proc/self/status` (`0-3,8,10-11`).
fn parse_cpus_allowed(status: &str) -> Option<usize> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut count: usize = 0;
    for part in list.split(',') {
        let in_part = match part.split_once('-') {
            // A reversed range ("5-3") is malformed, not a huge count.
            Some((a, b)) => {
                let (a, b) = (
                    a.trim().parse::<usize>().ok()?,
                    b.trim().parse::<usize>().ok()?,
                );
                b.checked_sub(a)?.checked_add(1)?
            }
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
        count = count.checked_add(in_part)?;
    }
    (count > 0).then_some(count)
}

/// `MemTotal:` of `/proc/meminfo` (kB) in MiB.
fn parse_mem_total_mb(meminfo: &str) -> Option<u64> {
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024)
}

/// Enabled controllers of `/proc/cgroups` (`#subsys_name hierarchy num_cgroups enabled`).
fn parse_proc_cgroups(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] != "0").then(|| f[0].to_string())
        })
        .collect()
}

/// The leading `major.minor` of a kernel release such as `6.8.0-45-generic`.
pub(crate) fn kernel_major_minor(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    kernel_major_minor(release).is_some_and(|v| v >= (major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_affinity_list_is_counted() {
        let status = "Name:\tx\nCpus_allowed:\tff\nCpus_allowed_list:\t0-3,8,10-11\n";
        assert_eq!(parse_cpus_allowed(status), Some(7));
        assert_eq!(parse_cpus_allowed("Cpus_allowed_list:\t0\n"), Some(1));
        assert_eq!(parse_cpus_allowed("Cpus_allowed_list:\tx\n"), None);
        assert_eq!(parse_cpus_allowed("Cpus_allowed_list:\t5-3\n"), None);
        assert_eq!(
            parse_cpus_allowed("Cpus_allowed_list:\t0-18446744073709551615\n"),
            None
        );
    }

    #[test]
    fn meminfo_total_is_read_in_mib() {
        let meminfo = "MemTotal:        2040296 kB\nMemFree:          100000 kB\n";
        assert_eq!(parse_mem_total_mb(meminfo), Some(1992));
        assert_eq!(parse_mem_total_mb("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn disabled_v1_controllers_are_left_out() {
        let table = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t10\t1\nmemory\t0\t1\t0\npids\t3\t5\t1\n";
        assert_eq!(parse_proc_cgroups(table), vec!["cpu", "pids"]);
    }

    #[test]
    fn kernel_release_versions() {
        assert_eq!(kernel_major_minor("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(kernel_major_minor("4.19.0-17-cloud-amd64"), Some((4, 19)));
        assert_eq!(kernel_major_minor("garbage"), None);
        assert!(kernel_at_least("5.10.1", 5, 2));
        assert!(!kernel_at_least("4.19.1", 5, 2));
    }

    #[test]
    fn systemd_units_are_found_and_enablement_read_from_wants_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert_eq!(
            systemd_unit_state(&root, "kubelet.service"),
            ServiceState::NotFound
        );
        root.write_atomic(
            "/usr/lib/systemd/system/kubelet.service",
            b"[Unit]\n",
            0o644,
        )
        .unwrap();
        assert_eq!(
            systemd_unit_state(&root, "kubelet.service"),
            ServiceState::Installed { enabled: false }
        );
        root.symlink_atomic(
            "/usr/lib/systemd/system/kubelet.service",
            "/etc/systemd/system/multi-user.target.wants/kubelet.service",
        )
        .unwrap();
        assert_eq!(
            systemd_unit_state(&root, "kubelet.service"),
            ServiceState::Installed { enabled: true }
        );
    }

    #[test]
    fn executables_are_searched_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write_atomic("/usr/bin/nsenter", b"#!/bin/sh\n", 0o755)
            .unwrap();
        root.write_atomic("/usr/bin/notexec", b"data", 0o644)
            .unwrap();
        let host = RealHost::new(root);
        assert!(host.find_executable("nsenter").is_some());
        assert!(host.find_executable("notexec").is_none());
        assert!(host.find_executable("missing").is_none());
    }

    #[test]
    fn kubelet_version_runs_the_node_binary() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.write_atomic(
            "/usr/bin/kubelet",
            b"#!/bin/sh\necho 'Kubernetes v1.33.1'\n",
            0o755,
        )
        .unwrap();
        let host = RealHost::new(root);
        // A fork elsewhere in the test process may briefly hold the new file open for
        // writing (ETXTBSY); retry a few times.
        let mut result = host.kubelet_version();
        for _ in 0..5 {
            match &result {
                Err(e) if e.contains("busy") => result = host.kubelet_version(),
                _ => break,
            }
        }
        assert_eq!(result.unwrap().trim(), "Kubernetes v1.33.1");
    }
}

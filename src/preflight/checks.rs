//! The individual checks, named and worded as kubeadm's `Checker`s (`cmd/kubeadm/app/preflight/
//! checks.go`): the name is what `--ignore-preflight-errors` takes, the messages are what a
//! kubeadm user already knows. Where kubeadm speaks of itself, kubeboot says "kubeboot".

use std::io;
use std::path::Path;

use super::host::{Host, ServiceState};
use super::system;
use crate::config::net::Cidr;
use crate::config::validation;
use crate::config::version::{KubeVersion, MAX_MINOR, MIN_MINOR};
use crate::fs::Root;
use crate::proxy::ProxyEnv;

/// kubeadm's `ControlPlaneNumCPU`.
pub const CONTROL_PLANE_NUM_CPU: usize = 2;
/// kubeadm's `ControlPlaneMem`, in MiB.
pub const CONTROL_PLANE_MEM_MB: u64 = 1700;
pub const KUBELET_PORT: u16 = 10250;
pub const IPV4_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
pub const IPV6_DEFAULT_FORWARDING: &str = "/proc/sys/net/ipv6/conf/default/forwarding";
/// kubeadm's label for the external etcd client certificate checks.
pub const EXTERNAL_ETCD_CLIENT_CERTIFICATES: &str = "ExternalEtcdClientCertificates";

/// What one check found. Errors stop init/join unless the check is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

impl Outcome {
    fn error(msg: impl Into<String>) -> Self {
        Outcome {
            warnings: Vec::new(),
            errors: vec![msg.into()],
        }
    }

    fn warning(msg: impl Into<String>) -> Self {
        Outcome {
            warnings: vec![msg.into()],
            errors: Vec::new(),
        }
    }

    fn ok() -> Self {
        Outcome::default()
    }
}

/// One preflight check. Node paths are node-absolute and read through the [`Root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Running as root.
    IsPrivilegedUser,
    /// At least this many CPUs.
    NumCpu(usize),
    /// At least this much RAM, in MiB.
    Mem(u64),
    /// The target version is one kubeboot supports (a newer one is a warning, as in kubeadm).
    KubernetesVersion(KubeVersion),
    /// The TCP port is free.
    Port(u16),
    /// The file does not exist yet.
    FileAvailable(String),
    /// The directory does not exist or is empty.
    DirAvailable(String),
    /// The file exists; `label` replaces the path-derived name.
    FileExisting {
        path: String,
        label: Option<&'static str>,
    },
    /// The live kernel file starts with `content` (sysctls under `/proc/sys`).
    FileContent {
        path: &'static str,
        content: &'static str,
    },
    /// The executable is in `PATH`; a missing optional one is a warning.
    InPath {
        executable: &'static str,
        mandatory: bool,
    },
    /// HTTPS to the host (an IP or name) does not go through a proxy (warning).
    HttpProxy(String),
    /// HTTPS to the first address of the range does not go through a proxy (warning).
    HttpProxyCidr(Cidr),
    /// The container runtime answers on its socket.
    ContainerRuntime { endpoint: String },
    /// Swap is off (warning).
    Swap,
    /// Kernel and cgroups, judged as kubeadm of this minor judges them.
    SystemVerification { minor: u32 },
    /// The node name is well-formed and resolves (warnings).
    Hostname(String),
    /// The kubelet is at least `minimum` and not newer than the control plane.
    KubeletVersion {
        minimum: KubeVersion,
        control_plane: Option<KubeVersion>,
    },
    /// The service exists and is enabled (warnings).
    Service(&'static str),
}

impl Check {
    /// The name `--ignore-preflight-errors` takes, exactly as kubeadm's `Name()`.
    pub fn name(&self) -> String {
        match self {
            Check::IsPrivilegedUser => "IsPrivilegedUser".into(),
            Check::NumCpu(_) => "NumCPU".into(),
            Check::Mem(_) => "Mem".into(),
            Check::KubernetesVersion(_) => "KubernetesVersion".into(),
            Check::Port(port) => format!("Port-{port}"),
            Check::FileAvailable(path) => format!("FileAvailable-{}", dashed(path)),
            Check::DirAvailable(path) => format!("DirAvailable-{}", dashed(path)),
            Check::FileExisting {
                label: Some(label), ..
            } => (*label).into(),
            Check::FileExisting { path, .. } => format!("FileExisting-{}", dashed(path)),
            Check::FileContent { path, .. } => format!("FileContent-{}", dashed(path)),
            Check::InPath { executable, .. } => format!("FileExisting-{}", dashed(executable)),
            Check::HttpProxy(_) => "HTTPProxy".into(),
            Check::HttpProxyCidr(_) => "HTTPProxyCIDR".into(),
            Check::ContainerRuntime { .. } => "CRI".into(),
            Check::Swap => "Swap".into(),
            Check::SystemVerification { .. } => "SystemVerification".into(),
            Check::Hostname(_) => "Hostname".into(),
            Check::KubeletVersion { .. } => "KubeletVersion".into(),
            Check::Service(name) => format!("Service-{}", title(name)),
        }
    }

    /// Runs the check: node files through `root`, everything else through `host`.
    pub fn run(&self, root: &Root, host: &dyn Host) -> Outcome {
        match self {
            Check::IsPrivilegedUser => match host.uid() {
                0 => Outcome::ok(),
                _ => Outcome::error("user is not running as root"),
            },
            Check::NumCpu(min) => check_num_cpu(host.cpus(), *min),
            Check::Mem(min) => match host.memory_mb() {
                Ok(mb) if mb < *min => Outcome::error(format!(
                    "the system RAM ({mb} MB) is less than the minimum {min} MB"
                )),
                Ok(_) => Outcome::ok(),
                Err(e) => Outcome::error(e),
            },
            Check::KubernetesVersion(v) => check_kubernetes_version(v),
            Check::Port(port) => match host.port_free(*port) {
                true => Outcome::ok(),
                false => Outcome::error(format!("Port {port} is in use")),
            },
            Check::FileAvailable(path) => match std::fs::metadata(root.path(path)) {
                Ok(_) => Outcome::error(format!("{path} already exists")),
                Err(_) => Outcome::ok(),
            },
            Check::DirAvailable(path) => check_dir_available(root, path),
            Check::FileExisting { path, .. } => match std::fs::metadata(root.path(path)) {
                Ok(_) => Outcome::ok(),
                Err(_) => Outcome::error(format!("{path} doesn't exist")),
            },
            Check::FileContent { path, content } => check_file_content(host, path, content),
            Check::InPath {
                executable,
                mandatory,
            } => match (host.executable_in_path(executable), mandatory) {
                (true, _) => Outcome::ok(),
                (false, true) => Outcome::error(format!("{executable} not found in system path")),
                (false, false) => {
                    Outcome::warning(format!("{executable} not found in system path"))
                }
            },
            Check::HttpProxy(target) => check_http_proxy(host, target),
            Check::HttpProxyCidr(cidr) => check_http_proxy_cidr(host, cidr),
            Check::ContainerRuntime { endpoint } => match host.cri_reachable(endpoint) {
                Ok(()) => Outcome::ok(),
                Err(e) => Outcome::error(format!("container runtime is not running: {e}")),
            },
            Check::Swap => check_swap(host),
            Check::SystemVerification { minor } => system::verify(host, *minor),
            Check::Hostname(name) => check_hostname(host, name),
            Check::KubeletVersion {
                minimum,
                control_plane,
            } => check_kubelet_version(host, minimum, control_plane.as_ref()),
            Check::Service(name) => check_service(host, name),
        }
    }
}

/// kubeadm's `strings.Replace(path, "/", "-", -1)`.
fn dashed(path: &str) -> String {
    path.replace('/', "-")
}

/// Go's `strings.Title` for one word.
fn title(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A version as Go's `version.Version.String()` prints it (no `v`).
fn semver(v: &KubeVersion) -> String {
    v.to_string().trim_start_matches('v').to_string()
}

fn check_num_cpu(cpus: usize, min: usize) -> Outcome {
    if cpus < min {
        return Outcome::error(format!(
            "the number of available CPUs {cpus} is less than the required {min}"
        ));
    }
    Outcome::ok()
}

fn check_kubernetes_version(v: &KubeVersion) -> Outcome {
    if v.major > 1 || v.minor > MAX_MINOR {
        return Outcome::warning(format!(
            "Kubernetes version is greater than kubeboot supports. Please consider to upgrade \
             kubeboot. Kubernetes version: {}. Kubeboot supports up to: 1.{MAX_MINOR}.x",
            semver(v)
        ));
    }
    if !v.at_least(MIN_MINOR) {
        return Outcome::error(format!(
            "this version of kubeboot only supports deploying clusters with the control plane \
             version >= 1.{MIN_MINOR}.0. Current version: {v}"
        ));
    }
    Outcome::ok()
}

fn check_dir_available(root: &Root, path: &str) -> Outcome {
    let real = root.path(path);
    match std::fs::read_dir(&real) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::ok(),
        Err(e) => Outcome::error(format!("unable to check if {path} is empty: {e}")),
        Ok(mut entries) => match entries.next() {
            None => Outcome::ok(),
            Some(_) => Outcome::error(format!("{path} is not empty")),
        },
    }
}

fn check_file_content(host: &dyn Host, path: &str, content: &str) -> Outcome {
    let Some(data) = host.kernel_file(path) else {
        return Outcome::error(format!("{path} does not exist"));
    };
    if !data.starts_with(content.as_bytes()) {
        return Outcome::error(format!("{path} contents are not set to {content}"));
    }
    Outcome::ok()
}

fn proxy_env(host: &dyn Host) -> ProxyEnv {
    ProxyEnv::from_lookup(|name| host.env(name))
}

/// kubeadm's URL for the proxy decision: `https://host`, IPv6 literals with port 1234.
fn check_http_proxy(host: &dyn Host, target: &str) -> Outcome {
    let (url, port) = match target.parse::<std::net::Ipv6Addr>() {
        Ok(_) => (format!("https://[{target}]:1234"), 1234),
        Err(_) => (format!("https://{target}"), 443),
    };
    match proxy_env(host).https_proxy_for(target, port) {
        Some(p) => Outcome::warning(format!(
            "Connection to {url:?} uses proxy \"{p}\". If that is not intended, adjust your proxy \
             settings"
        )),
        None => Outcome::ok(),
    }
}

fn check_http_proxy_cidr(host: &dyn Host, cidr: &Cidr) -> Outcome {
    let Some(first) = cidr.nth(1) else {
        return Outcome::error(format!(
            "unable to get first IP address from the given CIDR ({cidr})"
        ));
    };
    match proxy_env(host).https_proxy_for(&first.to_string(), 1234) {
        Some(p) => Outcome::warning(format!(
            "connection to \"{cidr}\" uses proxy \"{p}\". This may lead to malfunctional cluster \
             setup. Make sure that Pod and Services IP ranges specified correctly as exceptions \
             in proxy configuration"
        )),
        None => Outcome::ok(),
    }
}

fn check_swap(host: &dyn Host) -> Outcome {
    // No /proc/swaps: no swap to warn about. More than the header line: swap is on.
    let Some(swaps) = host.kernel_file("/proc/swaps") else {
        return Outcome::ok();
    };
    if String::from_utf8_lossy(&swaps).lines().count() > 1 {
        return Outcome::warning(
            "swap is supported for cgroup v2 only. The kubelet must be properly configured to use \
             swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, \
             or disable swap on the node",
        );
    }
    Outcome::ok()
}

fn check_hostname(host: &dyn Host, name: &str) -> Outcome {
    let mut warnings: Vec<String> = validation::qualified_name_errors(name)
        .into_iter()
        .map(|msg| format!("invalid node name format {name:?}: {msg}"))
        .collect();
    match host.resolve(name) {
        Ok(addrs) if !addrs.is_empty() => {}
        Ok(_) => warnings.push(format!("hostname \"{name}\" could not be reached")),
        Err(e) => {
            warnings.push(format!("hostname \"{name}\" could not be reached"));
            warnings.push(format!("hostname \"{name}\": {e}"));
        }
    }
    Outcome {
        warnings,
        errors: Vec::new(),
    }
}

/// Parses `kubelet --version` output (`Kubernetes v1.34.2`), as kubeadm's `GetKubeletVersion`.
pub(crate) fn parse_kubelet_version(output: &str) -> Result<KubeVersion, String> {
    let clean = output.trim();
    let bad = || format!("Unable to parse output from Kubelet: {clean:?}");
    let version = clean.strip_prefix("Kubernetes v").ok_or_else(bad)?;
    // Build metadata (`+k3s1`) does not take part in version comparison.
    let version = version.split('+').next().unwrap_or(version);
    version.parse().map_err(|_| bad())
}

fn check_kubelet_version(
    host: &dyn Host,
    minimum: &KubeVersion,
    control_plane: Option<&KubeVersion>,
) -> Outcome {
    let kubelet = match host
        .kubelet_version()
        .map_err(|e| format!("cannot execute 'kubelet --version': {e}"))
        .and_then(|out| parse_kubelet_version(&out))
    {
        Ok(v) => v,
        Err(e) => return Outcome::error(format!("couldn't get kubelet version: {e}")),
    };
    if kubelet < *minimum {
        return Outcome::error(format!(
            "Kubelet version \"{}\" is lower than kubeboot can support. Please upgrade kubelet",
            semver(&kubelet)
        ));
    }
    if let Some(cp) = control_plane {
        if kubelet.major > cp.major || kubelet.minor > cp.minor {
            return Outcome::error(format!(
                "the kubelet version is higher than the control plane version. This is not a \
                 supported version skew and may lead to a malfunctional cluster. Kubelet version: \
                 \"{}\" Control plane version: \"{}\"",
                semver(&kubelet),
                semver(cp)
            ));
        }
    }
    Outcome::ok()
}

fn check_service(host: &dyn Host, name: &str) -> Outcome {
    match host.service(name) {
        ServiceState::NoInitSystem => {
            Outcome::warning("no supported init system detected, skipping checking for services")
        }
        ServiceState::NotFound => Outcome::warning(format!("{name} service does not exist")),
        ServiceState::Installed { enabled: false } => Outcome::warning(format!(
            "{name} service is not enabled, please run 'systemctl enable {name}.service'"
        )),
        ServiceState::Installed { enabled: true } => Outcome::ok(),
    }
}

/// A node path joined as kubeadm's `filepath.Join` does.
pub(crate) fn join(dir: &str, file: &str) -> String {
    Path::new(dir).join(file).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kubeadms() {
        assert_eq!(Check::Port(6443).name(), "Port-6443");
        assert_eq!(
            Check::FileAvailable("/etc/kubernetes/manifests/kube-apiserver.yaml".into()).name(),
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml"
        );
        assert_eq!(
            Check::DirAvailable("/var/lib/etcd".into()).name(),
            "DirAvailable--var-lib-etcd"
        );
        assert_eq!(
            Check::FileContent {
                path: IPV4_FORWARD,
                content: "1"
            }
            .name(),
            "FileContent--proc-sys-net-ipv4-ip_forward"
        );
        assert_eq!(
            Check::InPath {
                executable: "nsenter",
                mandatory: true
            }
            .name(),
            "FileExisting-nsenter"
        );
        assert_eq!(Check::Service("kubelet").name(), "Service-Kubelet");
        assert_eq!(
            Check::FileExisting {
                path: "/etc/etcd/ca.crt".into(),
                label: Some(EXTERNAL_ETCD_CLIENT_CERTIFICATES)
            }
            .name(),
            "ExternalEtcdClientCertificates"
        );
    }

    #[test]
    fn kubelet_version_output_is_parsed() {
        let v = parse_kubelet_version("Kubernetes v1.34.2\n").unwrap();
        assert_eq!((v.minor, v.patch), (34, 2));
        assert_eq!(
            parse_kubelet_version("Kubernetes v1.33.0+k3s1")
                .unwrap()
                .minor,
            33
        );
        assert_eq!(
            parse_kubelet_version("kubelet 1.2").unwrap_err(),
            "Unable to parse output from Kubelet: \"kubelet 1.2\""
        );
    }

    #[test]
    fn newer_versions_warn_and_older_ones_fail() {
        let v = |s: &str| s.parse::<KubeVersion>().unwrap();
        assert_eq!(check_kubernetes_version(&v("v1.34.2")), Outcome::ok());
        assert_eq!(check_kubernetes_version(&v("v1.36.0")).warnings.len(), 1);
        assert_eq!(check_kubernetes_version(&v("v1.30.9")).errors.len(), 1);
    }
}

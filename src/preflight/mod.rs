//! kubeadm's preflight checks for `init` and `join`: the same checks, names, levels and
//! messages (`cmd/kubeadm/app/preflight/checks.go`), with kubeadm's behaviour for the
//! Kubernetes minor being set up where it changed between 1.31 and 1.35.
//!
//! Where facts come from: node files (`/etc/kubernetes/...`, `/var/lib/etcd`, binaries in
//! `PATH`, systemd unit files, the CRI socket) are read under the [`Root`], so a sandbox root
//! is checked, not the machine; facts about the running kernel and this process (ports,
//! `/proc`, `/sys`, uid, CPUs, memory, kernel release and config, cgroups, name resolution,
//! environment, whether systemd runs the machine) are read from the live host. All of it goes
//! through the [`Host`] trait so tests inject a fake; [`RealHost`] is the machine.
//!
//! Each warning is logged as kubeadm prints it (`[WARNING Swap]: ...`) and returned; any
//! error not ignored fails the run with every failing check listed. `--ignore-preflight-errors`
//! (with `nodeRegistration.ignorePreflightErrors`) turns the errors of the named checks, or of
//! `all`, into warnings. Unlike kubeadm, names that no kubeadm check has are rejected, so a typo
//! in user-data cannot silently fail to ignore what was meant.
//!
//! Not done (kubeadm runs them): `Firewalld` (needs the unit's active state), `ImagePull`
//! (kubeboot pulls no images), `ExternalEtcdVersion` (needs an etcd client),
//! `ContainerRuntimeVersion` (needs the CRI gRPC API). kubeadm itself no longer runs the
//! `bridge-nf-call-iptables` checks (removed in 1.30) nor the join-time
//! `DirAvailable--etc-kubernetes-manifests` check (removed in 1.23); their names stay valid in
//! ignore lists.

mod checks;
mod host;
mod system;

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

pub use checks::{
    CONTROL_PLANE_MEM_MB, CONTROL_PLANE_NUM_CPU, Check, EXTERNAL_ETCD_CLIENT_CERTIFICATES,
    IPV4_FORWARD, IPV6_DEFAULT_FORWARDING, KUBELET_PORT, Outcome,
};
pub use host::{Cgroups, DEFAULT_PATH, Host, RealHost, ServiceState};

use crate::config::model::{
    ClusterConfiguration, Discovery, Etcd, InitConfiguration, JoinConfiguration, NodeRegistration,
};
use crate::config::version::{KubeVersion, MIN_MINOR};
use crate::fs::Root;
use crate::manifests;

pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
pub const BOOTSTRAP_KUBELET_KUBECONFIG: &str = "/etc/kubernetes/bootstrap-kubelet.conf";

/// A failed preflight run or an invalid ignore list.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Checks failed; Display is kubeadm's report, every failing check on its own line.
    #[error("{}", FailureReport(.0))]
    ChecksFailed(Vec<Failure>),
    /// `--ignore-preflight-errors` or `ignorePreflightErrors` is invalid (kubeadm's
    /// `field.Invalid` wording).
    #[error("ignore-preflight-errors: Invalid value: {value:?}: {reason}")]
    InvalidIgnoreList { value: String, reason: String },
    /// The cluster cannot take another control-plane node.
    #[error("{0}")]
    NotReadyForControlPlane(String),
}

/// One error of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: String,
    pub message: String,
}

struct FailureReport<'a>(&'a [Failure]);

impl fmt::Display for FailureReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[preflight] Some fatal errors occurred:")?;
        for failure in self.0 {
            writeln!(f, "\t[ERROR {}]: {}", failure.check, failure.message)?;
        }
        write!(
            f,
            "[preflight] If you know what you are doing, you can make a check non-fatal with \
             `--ignore-preflight-errors=...`"
        )
    }
}

/// The validated, lowercased set of checks whose errors become warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreSet {
    names: BTreeSet<String>,
}

impl IgnoreSet {
    /// Whether errors of `check` become warnings (case-insensitive, or `all`).
    pub fn covers(&self, check: &str) -> bool {
        self.names.contains("all") || self.names.contains(&check.to_ascii_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Names of kubeadm checks that are not derived from a path, port or service (init, join,
/// upgrade and reset, current and recently removed), lowercased.
const FIXED_CHECK_NAMES: &[&str] = &[
    "all",
    "controlplanenodesready",
    "containerruntimeversion",
    "corednsmigration",
    "corednsunsupportedplugins",
    "createjob",
    "cri",
    "externaletcdclientcertificates",
    "externaletcdversion",
    "firewalld",
    "hostname",
    "httpproxy",
    "httpproxycidr",
    "imagepull",
    "isdockersystemdcheck",
    "isprivilegeduser",
    "kubeletversion",
    "kubernetesversion",
    "mem",
    "numcpu",
    "requiredipvskernelmodulesavailable",
    "swap",
    "systemverification",
];

/// Families of names kubeadm derives from a port, path, binary or service.
const CHECK_NAME_PREFIXES: &[&str] = &[
    "port-",
    "diravailable-",
    "fileavailable-",
    "fileexisting-",
    "filecontent-",
    "service-",
];

fn is_known_check_name(lower: &str) -> bool {
    FIXED_CHECK_NAMES.contains(&lower)
        || CHECK_NAME_PREFIXES
            .iter()
            .any(|p| lower.len() > p.len() && lower.starts_with(p))
}

/// kubeadm's `ValidateIgnorePreflightErrors`: names are case-insensitive, `all` cannot be
/// mixed with others. kubeboot also rejects names no kubeadm check has.
pub fn validate_ignore_list(names: &[String]) -> Result<IgnoreSet, Error> {
    let names: BTreeSet<String> = names
        .iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.contains("all") && names.len() > 1 {
        return Err(Error::InvalidIgnoreList {
            value: names.iter().cloned().collect::<Vec<_>>().join(","),
            reason: "don't specify individual checks if 'all' is used".into(),
        });
    }
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !is_known_check_name(n))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::InvalidIgnoreList {
            value: unknown.join(","),
            reason: "no preflight check has this name; use a name printed in a [WARNING ...] or \
                     [ERROR ...] line (e.g. Swap, NumCPU, Port-6443, \
                     FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml) or all"
                .into(),
        });
    }
    Ok(IgnoreSet { names })
}

/// The ignore set of a run: the command line's names plus the configuration's.
fn ignore_set(cli: &[String], node: &NodeRegistration) -> Result<IgnoreSet, Error> {
    let all: Vec<String> = cli
        .iter()
        .chain(&node.ignore_preflight_errors)
        .cloned()
        .collect();
    validate_ignore_list(&all)
}

/// Runs checks in order; logs and returns the warnings, or fails with every error.
pub fn run_checks(
    checks: &[Check],
    root: &Root,
    host: &dyn Host,
    ignore: &IgnoreSet,
) -> Result<Vec<String>, Error> {
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    for check in checks {
        let name = check.name();
        log::debug!("[preflight] running check {name}");
        let Outcome {
            warnings: mut warned,
            errors,
        } = check.run(root, host);
        if ignore.covers(&name) {
            warned.extend(errors);
        } else {
            failures.extend(errors.into_iter().map(|message| Failure {
                check: name.clone(),
                message,
            }));
        }
        for w in warned {
            let line = format!("[WARNING {name}]: {w}");
            log::warn!("{line}");
            warnings.push(line);
        }
    }
    if failures.is_empty() {
        Ok(warnings)
    } else {
        Err(Error::ChecksFailed(failures))
    }
}

/// kubeadm's `RunRootCheckOnly`: run first and alone, so a non-root user gets one clear error.
pub fn run_root_check_only(
    root: &Root,
    host: &dyn Host,
    ignore: &IgnoreSet,
) -> Result<Vec<String>, Error> {
    run_checks(&[Check::IsPrivilegedUser], root, host, ignore)
}

/// `kubeadm init` preflight: the root check, then kubeadm's `InitNodeChecks`. `ignore` is the
/// `--ignore-preflight-errors` list; `nodeRegistration.ignorePreflightErrors` is added to it.
/// Returns the warnings.
pub fn run_init_checks(
    root: &Root,
    host: &dyn Host,
    cfg: &InitConfiguration,
    ignore: &[String],
) -> Result<Vec<String>, Error> {
    let ignore = ignore_set(ignore, &cfg.node_registration)?;
    log::info!("[preflight] Running pre-flight checks");
    let mut warnings = run_root_check_only(root, host, &ignore)?;
    warnings.extend(run_checks(
        &init_node_checks(cfg, false, false),
        root,
        host,
        &ignore,
    )?);
    Ok(warnings)
}

/// `kubeadm join` preflight: the root check, then kubeadm's `JoinNodeChecks`. For a
/// control-plane join, run [`run_join_control_plane_checks`] once the cluster's configuration
/// is known, as kubeadm does.
pub fn run_join_checks(
    root: &Root,
    host: &dyn Host,
    cfg: &JoinConfiguration,
    ignore: &[String],
) -> Result<Vec<String>, Error> {
    let ignore = ignore_set(ignore, &cfg.node_registration)?;
    log::info!("[preflight] Running pre-flight checks");
    let mut warnings = run_root_check_only(root, host, &ignore)?;
    let tooling = join_tooling_version(host);
    warnings.extend(run_checks(
        &join_node_checks(cfg, &tooling),
        root,
        host,
        &ignore,
    )?);
    Ok(warnings)
}

/// The control-plane part of `kubeadm join --control-plane` preflight: the init checks of a
/// secondary control-plane node against the cluster's configuration merged with this node's
/// (`cfg`), after [`check_ready_for_additional_control_plane`].
pub fn run_join_control_plane_checks(
    root: &Root,
    host: &dyn Host,
    cfg: &InitConfiguration,
    has_certificate_key: bool,
    ignore: &[String],
) -> Result<Vec<String>, Error> {
    let ignore = ignore_set(ignore, &cfg.node_registration)?;
    check_ready_for_additional_control_plane(root, &cfg.cluster, has_certificate_key)?;
    log::info!(
        "[preflight] Running pre-flight checks before initializing the new control plane instance"
    );
    run_checks(
        &init_node_checks(cfg, true, has_certificate_key),
        root,
        host,
        &ignore,
    )
}

/// kubeadm's `checkIfReadyForAdditionalControlPlane`: the cluster needs a stable endpoint, and
/// without a certificate key to download them, the shared certificates must already be here.
pub fn check_ready_for_additional_control_plane(
    root: &Root,
    cluster: &ClusterConfiguration,
    has_certificate_key: bool,
) -> Result<(), Error> {
    if cluster
        .control_plane_endpoint
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        return Err(Error::NotReadyForControlPlane(
            "unable to add a new control plane instance to a cluster that doesn't have a stable \
             controlPlaneEndpoint address"
                .into(),
        ));
    }
    if has_certificate_key {
        return Ok(());
    }
    let pki = cluster.certificates_dir.to_string_lossy().into_owned();
    let mut shared = vec![
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
    ];
    if matches!(cluster.etcd, Etcd::Local(_)) {
        shared.extend(["etcd/ca.crt", "etcd/ca.key"]);
    }
    let missing: Vec<String> = shared
        .iter()
        .map(|f| checks::join(&pki, f))
        .filter(|p| !root.exists(p))
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotReadyForControlPlane(format!(
            "unable to add a new control plane instance: the shared certificates {} are missing; \
             copy them from an existing control-plane node or join with --certificate-key",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// kubeadm's `InitNodeChecks` for `cfg`. `secondary` is a control-plane join (no common node
/// checks, which join already ran); `download_certs` skips the external etcd certificate files.
pub fn init_node_checks(
    cfg: &InitConfiguration,
    secondary: bool,
    download_certs: bool,
) -> Vec<Check> {
    let cluster = &cfg.cluster;
    let version = &cluster.kubernetes_version;
    let mut checks = vec![
        Check::NumCpu(CONTROL_PLANE_NUM_CPU),
        Check::Mem(CONTROL_PLANE_MEM_MB),
        Check::KubernetesVersion(version.clone()),
        Check::Port(cfg.local_api_endpoint.bind_port),
        Check::Port(manifests::KUBE_SCHEDULER_PORT),
        Check::Port(manifests::KUBE_CONTROLLER_MANAGER_PORT),
    ];
    // The four static Pods of a control-plane node, in kubeadm's check order.
    checks.extend(
        [
            manifests::KUBE_APISERVER,
            manifests::KUBE_CONTROLLER_MANAGER,
            manifests::KUBE_SCHEDULER,
            manifests::ETCD,
        ]
        .map(|component| Check::FileAvailable(manifests::manifest_path(component))),
    );
    if let Some(addr) = cfg.local_api_endpoint.advertise_address {
        checks.push(Check::HttpProxy(addr.to_string()));
    }

    // Forwarding must be on for every family the cluster uses: the families of the service
    // and Pod subnets and of the advertise address.
    let subnets = cluster
        .networking
        .service_subnet
        .0
        .iter()
        .chain(cluster.networking.pod_subnet.iter().flat_map(|p| &p.0));
    let mut ipv4 = false;
    let mut ipv6 = false;
    for cidr in subnets {
        checks.push(Check::HttpProxyCidr(*cidr));
        ipv4 |= cidr.addr.is_ipv4();
        ipv6 |= cidr.addr.is_ipv6();
    }

    if !secondary {
        checks.extend(common_checks(
            &cfg.node_registration,
            version,
            Some(version),
        ));
        match cfg.local_api_endpoint.advertise_address {
            Some(IpAddr::V4(_)) => ipv4 = true,
            Some(IpAddr::V6(_)) => ipv6 = true,
            None => {}
        }
        checks.extend(forwarding_checks(ipv4, ipv6));
    }

    match &cluster.etcd {
        Etcd::Local(local) => checks.extend([
            Check::Port(crate::etcd::CLIENT_PORT),
            Check::Port(crate::etcd::PEER_PORT),
            Check::DirAvailable(local.data_dir.to_string_lossy().into_owned()),
        ]),
        Etcd::External(ext) if !(secondary && download_certs) => {
            checks.extend(
                [&ext.ca_file, &ext.cert_file, &ext.key_file]
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| Check::FileExisting {
                        path: p.clone(),
                        label: Some(EXTERNAL_ETCD_CLIENT_CERTIFICATES),
                    }),
            );
        }
        Etcd::External(_) => {}
    }
    checks
}

/// kubeadm's `JoinNodeChecks`, with the behaviour of kubeadm `tooling` (see
/// [`run_join_checks`]: the node's kubelet version).
pub fn join_node_checks(cfg: &JoinConfiguration, tooling: &KubeVersion) -> Vec<Check> {
    let mut checks = vec![
        Check::FileAvailable(KUBELET_KUBECONFIG.into()),
        Check::FileAvailable(BOOTSTRAP_KUBELET_KUBECONFIG.into()),
    ];
    checks.extend(common_checks(&cfg.node_registration, tooling, None));
    if cfg.control_plane.is_none() {
        checks.push(Check::FileAvailable(
            cfg.ca_cert_path.to_string_lossy().into_owned(),
        ));
    }
    if let Discovery::BootstrapToken(token) = &cfg.discovery {
        if let Some(host) = endpoint_host(&token.api_server_endpoint) {
            checks.push(Check::HttpProxy(host.to_string()));
            match host.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => checks.extend(forwarding_checks(true, false)),
                Ok(IpAddr::V6(_)) => checks.extend(forwarding_checks(false, true)),
                Err(_) => {}
            }
        }
    }
    checks
}

/// Go's `net.SplitHostPort` host part: `host:port` or `[v6]:port`; `None` without a port.
fn endpoint_host(endpoint: &str) -> Option<&str> {
    if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return (!port.is_empty()).then_some(host);
    }
    let (host, port) = endpoint.rsplit_once(':')?;
    (!host.contains(':') && !port.is_empty()).then_some(host)
}

/// kubeadm's `addCommonChecks`. `tooling` picks the checks of that kubeadm minor;
/// `control_plane` is the version being deployed (init only: kubeadm passes "" on join).
fn common_checks(
    node: &NodeRegistration,
    tooling: &KubeVersion,
    control_plane: Option<&KubeVersion>,
) -> Vec<Check> {
    let mut checks = vec![
        Check::ContainerRuntime {
            endpoint: node.cri_socket.clone(),
        },
        Check::Swap,
    ];
    checks.extend(exec_checks(tooling, control_plane));
    checks.extend([
        Check::SystemVerification {
            minor: tooling.minor,
        },
        Check::Hostname(node.name.clone()),
        Check::KubeletVersion {
            minimum: minimum_kubelet_version(tooling),
            control_plane: control_plane.cloned(),
        },
        Check::Service("kubelet"),
        Check::Port(KUBELET_PORT),
    ]);
    checks
}

/// kubeadm's `addExecChecks` on Linux, by kubeadm minor:
/// conntrack until 1.32 (deploying < 1.32 only), ip/iptables (errors) and ethtool/tc
/// (warnings) until 1.33, socat/ebtables never (removed in 1.31 patches), mount/nsenter
/// always, touch always (warning).
fn exec_checks(tooling: &KubeVersion, control_plane: Option<&KubeVersion>) -> Vec<Check> {
    let required = |executable| Check::InPath {
        executable,
        mandatory: true,
    };
    let optional = |executable| Check::InPath {
        executable,
        mandatory: false,
    };
    let mut checks = Vec::new();
    if control_plane.is_some_and(|v| !v.at_least(32)) {
        checks.push(required("conntrack"));
    }
    let before_1_33 = !tooling.at_least(33);
    if before_1_33 {
        checks.extend([required("ip"), required("iptables")]);
    }
    checks.extend([required("mount"), required("nsenter")]);
    if before_1_33 {
        checks.extend([optional("ethtool"), optional("tc")]);
    }
    checks.push(optional("touch"));
    checks
}

/// kubeadm's `MinimumKubeletVersion` (three minors of skew), and never below kubeboot's floor.
fn minimum_kubelet_version(tooling: &KubeVersion) -> KubeVersion {
    KubeVersion {
        major: 1,
        minor: tooling.minor.saturating_sub(3).max(MIN_MINOR),
        patch: 0,
        pre: String::new(),
    }
}

fn forwarding_checks(ipv4: bool, ipv6: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    if ipv4 {
        checks.push(Check::FileContent {
            path: IPV4_FORWARD,
            content: "1",
        });
    }
    if ipv6 {
        checks.push(Check::FileContent {
            path: IPV6_DEFAULT_FORWARDING,
            content: "1",
        });
    }
    checks
}

/// The kubeadm release a join behaves as: the one matching the node's kubelet, or kubeboot's
/// default version when the kubelet cannot tell (the KubeletVersion check reports why).
fn join_tooling_version(host: &dyn Host) -> KubeVersion {
    host.kubelet_version()
        .ok()
        .and_then(|out| checks::parse_kubelet_version(&out).ok())
        .unwrap_or_else(KubeVersion::default_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_hosts_split_as_go() {
        assert_eq!(endpoint_host("10.0.0.1:6443"), Some("10.0.0.1"));
        assert_eq!(endpoint_host("[fd00::1]:6443"), Some("fd00::1"));
        assert_eq!(
            endpoint_host("api.example.com:443"),
            Some("api.example.com")
        );
        assert_eq!(endpoint_host("10.0.0.1"), None);
        assert_eq!(endpoint_host("fd00::1"), None);
    }

    #[test]
    fn exec_checks_follow_the_kubeadm_minor() {
        let v = |s: &str| s.parse::<KubeVersion>().unwrap();
        let names = |tooling: &str, cp: Option<&str>| -> Vec<String> {
            exec_checks(&v(tooling), cp.map(v).as_ref())
                .iter()
                .map(Check::name)
                .collect()
        };
        assert_eq!(
            names("v1.31.4", Some("v1.31.4")),
            [
                "FileExisting-conntrack",
                "FileExisting-ip",
                "FileExisting-iptables",
                "FileExisting-mount",
                "FileExisting-nsenter",
                "FileExisting-ethtool",
                "FileExisting-tc",
                "FileExisting-touch"
            ]
        );
        assert_eq!(
            names("v1.32.0", None),
            [
                "FileExisting-ip",
                "FileExisting-iptables",
                "FileExisting-mount",
                "FileExisting-nsenter",
                "FileExisting-ethtool",
                "FileExisting-tc",
                "FileExisting-touch"
            ]
        );
        assert_eq!(
            names("v1.34.2", Some("v1.34.2")),
            [
                "FileExisting-mount",
                "FileExisting-nsenter",
                "FileExisting-touch"
            ]
        );
    }

    #[test]
    fn minimum_kubelet_is_three_minors_back_but_not_below_kubeboots_floor() {
        let v = |s: &str| s.parse::<KubeVersion>().unwrap();
        assert_eq!(
            minimum_kubelet_version(&v("v1.35.0")).to_string(),
            "v1.32.0"
        );
        assert_eq!(
            minimum_kubelet_version(&v("v1.31.0")).to_string(),
            format!("v1.{MIN_MINOR}.0")
        );
    }
}

//! kubeadm's `SystemVerification` check: the kernel validator (release and build config) and
//! the cgroups validator of `k8s.io/system-validators`, with the behaviour of the validators
//! release each Kubernetes minor vendors:
//!
//! - 1.31: kernel 3.10 or newer, else an error;
//! - 1.32, 1.33: kernel 4.19 or newer, else an error;
//! - 1.34 and later: kernel 4.19 or newer, else an error, and a warning for kernels outside the
//!   suggested LTS lines (5.4, 5.10, 5.15, 6.x and later);
//! - cgroups v1: a warning, an error from kubelet 1.35 on (the kubelet refuses v1 by default).
//!
//! kubeadm also runs `modprobe configs` when no kernel config file exists; kubeboot loads no
//! kernel modules, so that case is reported as an error naming the paths searched.

use super::checks::Outcome;
use super::host::{Cgroups, Host, kernel_major_minor};

/// Kernel options every supported kernel must have (`KernelSpec.Required`), with aliases.
const REQUIRED_CONFIG: &[&[&str]] = &[
    &["NAMESPACES"],
    &["NET_NS"],
    &["PID_NS"],
    &["IPC_NS"],
    &["UTS_NS"],
    &["CPUSETS"],
    &["MEMCG"],
    &["INET"],
    &["EXT4_FS"],
    &["PROC_FS"],
    &["NETFILTER_XT_TARGET_REDIRECT", "IP_NF_TARGET_REDIRECT"],
    &["NETFILTER_XT_MATCH_COMMENT"],
    &["FAIR_GROUP_SCHED"],
];
const REQUIRED_CONFIG_CGROUPS_V1: &[&str] = &[
    "CGROUPS",
    "CGROUP_CPUACCT",
    "CGROUP_DEVICE",
    "CGROUP_FREEZER",
    "CGROUP_PIDS",
    "CGROUP_SCHED",
];
const REQUIRED_CONFIG_CGROUPS_V2: &[&str] =
    &["CGROUPS", "CGROUP_BPF", "CGROUP_PIDS", "CGROUP_SCHED"];

const CGROUPS_V1_REQUIRED: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
];
const CGROUPS_V1_OPTIONAL: &[&str] = &["hugetlb", "blkio"];
const CGROUPS_V2_REQUIRED: &[&str] = &["cpu", "cpuset", "devices", "freezer", "memory", "pids"];
const CGROUPS_V2_OPTIONAL: &[&str] = &["hugetlb", "io"];

const CGROUPS_V1_MAINTENANCE: &str =
    "cgroups v1 support is in maintenance mode, please migrate to cgroups v2";
const CGROUPS_V1_UNSUPPORTED: &str = "cgroups v1 support is deprecated and will be removed in a \
     future release. Please migrate to cgroups v2. To explicitly enable cgroups v1 support for \
     kubelet v1.35 or newer, you must set the kubelet configuration option 'FailCgroupV1' to \
     'false'. You must also explicitly skip this validation. For more information, see \
     https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1";

/// Runs the validators as kubeadm `minor` would (see the module doc).
pub(crate) fn verify(host: &dyn Host, minor: u32) -> Outcome {
    let mut out = Outcome::default();
    let cgroups = host.cgroups();
    match host.kernel_release() {
        Ok(release) => {
            check_kernel_version(&release, minor, &mut out);
            check_kernel_config(host, &release, cgroups.as_ref().ok(), &mut out);
        }
        Err(e) => out.errors.push(e),
    }
    match cgroups {
        Ok(cgroups) => check_cgroups(&cgroups, minor, &mut out),
        Err(e) => out.errors.push(e),
    }
    out
}

fn check_kernel_version(release: &str, minor: u32, out: &mut Outcome) {
    let Some((major, kminor)) = kernel_major_minor(release) else {
        out.errors
            .push(format!("unsupported kernel release: {release}"));
        return;
    };
    let supported = if minor <= 31 {
        major >= 4 || (major == 3 && kminor >= 10)
    } else {
        major >= 5 || (major == 4 && kminor >= 19)
    };
    if !supported {
        out.errors
            .push(format!("unsupported kernel release: {release}"));
    } else if minor >= 34 && !is_suggested_kernel(release, major) {
        out.warnings
            .push(format!("unsuggested kernel release: {release}"));
    }
}

/// The validators' suggested versions: `^5\.4.*`, `^5\.10.*`, `^5\.15.*`, or 6.x and later.
fn is_suggested_kernel(release: &str, major: u32) -> bool {
    major >= 6
        || ["5.4", "5.10", "5.15"]
            .iter()
            .any(|p| release.starts_with(p))
}

fn check_kernel_config(
    host: &dyn Host,
    release: &str,
    cgroups: Option<&Cgroups>,
    out: &mut Outcome,
) {
    let config = match host.kernel_config(release) {
        Ok(c) => c,
        Err(e) => {
            out.errors
                .push(format!("failed to parse kernel config: {e}"));
            return;
        }
    };
    let cgroup_options = match cgroups {
        Some(Cgroups::V1(_)) => REQUIRED_CONFIG_CGROUPS_V1,
        _ => REQUIRED_CONFIG_CGROUPS_V2,
    };
    let required = REQUIRED_CONFIG
        .iter()
        .copied()
        .chain(cgroup_options.iter().map(std::slice::from_ref));
    let missing: Vec<String> = required
        .filter(|names| !names.iter().any(|n| config_enabled(&config, n)))
        .map(|names| format!("CONFIG_{}", names[0]))
        .collect();
    if !missing.is_empty() {
        out.errors
            .push(format!("unexpected kernel config: {}", missing.join(" ")));
    }
}

/// `CONFIG_<name>=y` or `=m`.
fn config_enabled(config: &str, name: &str) -> bool {
    let key = format!("CONFIG_{name}=");
    config.lines().any(|l| {
        l.trim()
            .strip_prefix(&key)
            .is_some_and(|v| v.starts_with('y') || v.starts_with('m'))
    })
}

fn check_cgroups(cgroups: &Cgroups, minor: u32, out: &mut Outcome) {
    let (present, required, optional) = match cgroups {
        Cgroups::V2(c) => (c, CGROUPS_V2_REQUIRED, CGROUPS_V2_OPTIONAL),
        Cgroups::V1(c) => {
            if minor >= 35 {
                out.errors.push(CGROUPS_V1_UNSUPPORTED.to_string());
            } else {
                out.warnings.push(CGROUPS_V1_MAINTENANCE.to_string());
            }
            (c, CGROUPS_V1_REQUIRED, CGROUPS_V1_OPTIONAL)
        }
    };
    let missing_required = missing_controllers(present, required);
    if !missing_required.is_empty() {
        out.errors.push(format!(
            "missing required cgroups: {}",
            missing_required.join(" ")
        ));
    }
    let missing_optional = missing_controllers(present, optional);
    if !missing_optional.is_empty() {
        out.warnings.push(format!(
            "missing optional cgroups: {}",
            missing_optional.join(" ")
        ));
    }
}

fn missing_controllers<'a>(present: &[String], wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|w| !present.iter().any(|p| p == w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_floor_follows_the_kubeadm_minor() {
        let check = |release: &str, minor: u32| {
            let mut out = Outcome::default();
            check_kernel_version(release, minor, &mut out);
            (out.warnings, out.errors)
        };
        assert_eq!(check("4.4.0-96-generic", 31), (vec![], vec![]));
        assert_eq!(
            check("4.4.0-96-generic", 32).1,
            vec!["unsupported kernel release: 4.4.0-96-generic"]
        );
        assert_eq!(check("4.19.0-17-cloud-amd64", 33), (vec![], vec![]));
        assert_eq!(
            check("4.19.0-17-cloud-amd64", 34).0,
            vec!["unsuggested kernel release: 4.19.0-17-cloud-amd64"]
        );
        assert_eq!(check("5.15.0-1", 34), (vec![], vec![]));
        assert_eq!(check("6.8.0-45-generic", 35), (vec![], vec![]));
        assert_eq!(check("3.2.0", 31).1.len(), 1);
    }

    #[test]
    fn kernel_config_lists_every_missing_required_option() {
        let mut config: String = REQUIRED_CONFIG
            .iter()
            .map(|n| format!("CONFIG_{}=y\n", n[n.len() - 1]))
            .collect();
        config.push_str("CONFIG_CGROUPS=y\nCONFIG_CGROUP_BPF=m\nCONFIG_CGROUP_PIDS=y\n");
        config.push_str("CONFIG_CGROUP_SCHED=n\n# CONFIG_MEMCG is not set\n");
        let config = config.replace("CONFIG_MEMCG=y\n", "");
        let missing: Vec<&str> = REQUIRED_CONFIG
            .iter()
            .copied()
            .chain(REQUIRED_CONFIG_CGROUPS_V2.iter().map(std::slice::from_ref))
            .filter(|names| !names.iter().any(|n| config_enabled(&config, n)))
            .map(|names| names[0])
            .collect();
        assert_eq!(missing, vec!["MEMCG", "CGROUP_SCHED"]);
    }

    #[test]
    fn cgroups_v1_is_a_warning_until_1_35() {
        let v1 = Cgroups::V1(
            CGROUPS_V1_REQUIRED
                .iter()
                .chain(CGROUPS_V1_OPTIONAL)
                .map(|s| s.to_string())
                .collect(),
        );
        let mut out = Outcome::default();
        check_cgroups(&v1, 34, &mut out);
        assert_eq!(out.warnings, vec![CGROUPS_V1_MAINTENANCE]);
        assert!(out.errors.is_empty());
        let mut out = Outcome::default();
        check_cgroups(&v1, 35, &mut out);
        assert_eq!(out.errors, vec![CGROUPS_V1_UNSUPPORTED]);
    }

    #[test]
    fn missing_cgroup_controllers_are_named() {
        let v2 = Cgroups::V2(vec!["cpu".into(), "devices".into(), "freezer".into()]);
        let mut out = Outcome::default();
        check_cgroups(&v2, 34, &mut out);
        assert_eq!(
            out.errors,
            vec!["missing required cgroups: cpuset memory pids"]
        );
        assert_eq!(out.warnings, vec!["missing optional cgroups: hugetlb io"]);
    }
}

//! The parts every kubeadm static Pod shares (`util/staticpod/utils.go`): the Pod wrapper,
//! HTTP probes, CPU requests, environment merging, and the YAML kubeadm writes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, Pod, PodSecurityContext, PodSpec, PodStatus,
    Probe, ResourceRequirements, SeccompProfile, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::config::model;
use crate::config::version::KubeVersion;

/// Priority of the `system-node-critical` class, set explicitly as kubeadm does.
const SYSTEM_NODE_CRITICAL_PRIORITY: i32 = 2_000_001_000;
/// The named container port every probe targets (kubeadm ≥ 1.34).
pub const PROBE_PORT_NAME: &str = "probe-port";

/// Wraps one container into a control-plane static Pod in `kube-system`.
pub fn component_pod(
    container: Container,
    volumes: Vec<Volume>,
    annotations: Option<BTreeMap<String, String>>,
) -> Pod {
    let labels = BTreeMap::from([
        ("component".to_string(), container.name.clone()),
        ("tier".to_string(), "control-plane".to_string()),
    ]);
    Pod {
        metadata: ObjectMeta {
            name: Some(container.name.clone()),
            namespace: Some("kube-system".to_string()),
            labels: Some(labels),
            annotations,
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![container],
            priority: Some(SYSTEM_NODE_CRITICAL_PRIORITY),
            priority_class_name: Some("system-node-critical".to_string()),
            host_network: Some(true),
            volumes: (!volumes.is_empty()).then_some(volumes),
            security_context: Some(PodSecurityContext {
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            ..PodSpec::default()
        }),
        status: Some(PodStatus::default()),
    }
}

/// Where a probe connects: the component's port, by number (kubeadm < 1.34) or through the
/// container port named `probe-port` (kubeadm ≥ 1.34).
#[derive(Debug, Clone, Copy)]
pub struct ProbeTarget {
    pub port: i32,
    pub named: bool,
}

impl ProbeTarget {
    pub fn for_version(port: i32, version: &KubeVersion) -> Self {
        ProbeTarget {
            port,
            named: version.at_least(34),
        }
    }

    fn port(&self) -> IntOrString {
        if self.named {
            IntOrString::String(PROBE_PORT_NAME.to_string())
        } else {
            IntOrString::Int(self.port)
        }
    }

    /// The container ports declaring the named probe port; none for numbered probes.
    pub fn container_ports(&self) -> Option<Vec<ContainerPort>> {
        self.named.then(|| {
            vec![ContainerPort {
                name: Some(PROBE_PORT_NAME.to_string()),
                container_port: self.port,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            }]
        })
    }
}

/// Go's `omitempty` for the int32 probe fields: zero is not written.
fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

#[allow(clippy::too_many_arguments)]
fn http_probe(
    host: &str,
    path: &str,
    target: ProbeTarget,
    scheme: &str,
    initial_delay: i32,
    timeout: i32,
    failure_threshold: i32,
    period: i32,
) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            host: (!host.is_empty()).then(|| host.to_string()),
            path: Some(path.to_string()),
            port: target.port(),
            scheme: Some(scheme.to_string()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: nonzero(initial_delay),
        timeout_seconds: nonzero(timeout),
        failure_threshold: nonzero(failure_threshold),
        period_seconds: nonzero(period),
        ..Probe::default()
    }
}

pub fn liveness_probe(host: &str, path: &str, target: ProbeTarget, scheme: &str) -> Probe {
    http_probe(host, path, target, scheme, 10, 15, 8, 10)
}

pub fn readiness_probe(host: &str, path: &str, target: ProbeTarget, scheme: &str) -> Probe {
    // No initial delay: users' infrastructure looks for "ready" on these Pods.
    http_probe(host, path, target, scheme, 0, 15, 3, 1)
}

/// Fails only after the whole control-plane health-check timeout has passed.
pub fn startup_probe(
    host: &str,
    path: &str,
    target: ProbeTarget,
    scheme: &str,
    health_check_timeout: Duration,
) -> Probe {
    const PERIOD: i32 = 10;
    let failure_threshold = (health_check_timeout.as_secs_f64() / f64::from(PERIOD)).ceil() as i32;
    http_probe(
        host,
        path,
        target,
        scheme,
        PERIOD,
        15,
        failure_threshold,
        PERIOD,
    )
}

/// CPU (and optionally memory) requests.
pub fn requests(cpu: &str, memory: Option<&str>) -> ResourceRequirements {
    let mut requests = BTreeMap::from([("cpu".to_string(), Quantity(cpu.to_string()))]);
    if let Some(memory) = memory {
        requests.insert("memory".to_string(), Quantity(memory.to_string()));
    }
    ResourceRequirements {
        requests: Some(requests),
        ..ResourceRequirements::default()
    }
}

/// kubeadm's `GetProxyEnvVars` for this process: the non-empty `*_proxy` variables of its
/// environment (any case). Variables that are not UTF-8 are skipped. They may hold proxy
/// credentials: never log them.
pub fn proxy_env() -> Vec<model::EnvVar> {
    proxy_env_from(
        std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }),
    )
}

/// The non-empty `*_proxy` variables (any case) of `vars`, last value per name, sorted by name
/// as [`merge_env`] would leave them.
pub fn proxy_env_from(vars: impl IntoIterator<Item = (String, String)>) -> Vec<model::EnvVar> {
    let merged: BTreeMap<String, String> = vars
        .into_iter()
        .filter(|(name, value)| name.to_ascii_lowercase().ends_with("_proxy") && !value.is_empty())
        .collect();
    merged
        .into_iter()
        .map(|(name, value)| model::EnvVar { name, value })
        .collect()
}

/// kubeadm's `MergeKubeadmEnvVars`: later lists override earlier ones by name; sorted by name;
/// `None` when empty (the field is omitted).
pub fn merge_env(lists: &[&[model::EnvVar]]) -> Option<Vec<EnvVar>> {
    let mut merged = BTreeMap::new();
    for env in lists.iter().flat_map(|l| l.iter()) {
        merged.insert(env.name.clone(), env.value.clone());
    }
    (!merged.is_empty()).then(|| {
        merged
            .into_iter()
            .map(|(name, value)| EnvVar {
                name,
                value: Some(value),
                ..EnvVar::default()
            })
            .collect()
    })
}

/// An address a probe may target: kubeadm leaves the host empty for the unspecified address,
/// so the kubelet probes the Pod IP.
pub fn probe_address(addr: &str) -> &str {
    if addr == "0.0.0.0" || addr == "::" {
        ""
    } else {
        addr
    }
}

/// The manifest as kubeadm writes it: keys sorted at every level (kubeadm marshals through
/// JSON), `status: {}`, and `creationTimestamp: null` for kubeadm before 1.33, whose
/// apimachinery still wrote the zero timestamp.
pub fn manifest_yaml(pod: &Pod, version: &KubeVersion) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(pod)?;
    if !version.at_least(33) {
        if let Some(metadata) = value
            .get_mut("metadata")
            .and_then(serde_json::Value::as_object_mut)
        {
            metadata.insert("creationTimestamp".to_string(), serde_json::Value::Null);
        }
    }
    serde_yaml::to_string(&value).map_err(serde::ser::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn startup_probe_covers_the_whole_health_check_timeout() {
        let t = ProbeTarget::for_version(6443, &v("v1.33.0"));
        let p = startup_probe("", "/livez", t, "HTTPS", Duration::from_secs(4 * 60));
        assert_eq!(p.failure_threshold, Some(24));
        let p = startup_probe("", "/livez", t, "HTTPS", Duration::from_secs(95));
        assert_eq!(p.failure_threshold, Some(10));
        assert_eq!(p.http_get.unwrap().host, None);
    }

    #[test]
    fn readiness_probe_omits_zero_initial_delay_and_uses_named_port_from_1_34() {
        let t = ProbeTarget::for_version(10259, &v("v1.34.2"));
        let p = readiness_probe("127.0.0.1", "/readyz", t, "HTTPS");
        assert_eq!(p.initial_delay_seconds, None);
        assert_eq!(p.period_seconds, Some(1));
        assert_eq!(
            p.http_get.unwrap().port,
            IntOrString::String("probe-port".into())
        );
        let ports = t.container_ports().unwrap();
        assert_eq!(ports[0].container_port, 10259);
        assert!(
            ProbeTarget::for_version(10259, &v("v1.33.9"))
                .container_ports()
                .is_none()
        );
    }

    #[test]
    fn env_merge_overrides_by_name_and_sorts() {
        let proxy = [model::EnvVar {
            name: "https_proxy".into(),
            value: "http://proxy:3128".into(),
        }];
        let user = [
            model::EnvVar {
                name: "https_proxy".into(),
                value: "".into(),
            },
            model::EnvVar {
                name: "GOMAXPROCS".into(),
                value: "2".into(),
            },
        ];
        let env = merge_env(&[&proxy, &user]).unwrap();
        assert_eq!(env[0].name, "GOMAXPROCS");
        assert_eq!(env[1].name, "https_proxy");
        assert_eq!(env[1].value.as_deref(), Some(""));
        assert!(merge_env(&[&[], &[]]).is_none());
    }

    #[test]
    fn proxy_env_keeps_set_proxy_variables_sorted() {
        let env = proxy_env_from([
            ("PATH".to_string(), "/bin".to_string()),
            ("no_proxy".to_string(), "10.0.0.0/8".to_string()),
            ("HTTPS_PROXY".to_string(), "http://proxy:3128".to_string()),
            ("FTP_PROXY".to_string(), String::new()),
        ]);
        let names: Vec<_> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["HTTPS_PROXY", "no_proxy"]);
    }

    #[test]
    fn unspecified_bind_addresses_leave_the_probe_host_empty() {
        assert_eq!(probe_address("0.0.0.0"), "");
        assert_eq!(probe_address("::"), "");
        assert_eq!(probe_address("10.0.0.1"), "10.0.0.1");
    }
}

//! The KubeletConfiguration kubeadm writes (`componentconfigs/kubelet.go`): kubeadm's defaults
//! under the user's document, field by field (the user wins, except `rotateCertificates`, which
//! kubeadm forces on), then the node-local changes made just before writing the file
//! (`resolvConf` for systemd-resolved, the instance `containerRuntimeEndpoint`).
//!
//! Only fields kubeadm sets are written: the zero values Go's encoder adds (`cacheTTL: 0s`,
//! `logging: {}`, ...) mean "kubelet default" to the kubelet, exactly like an absent field.

use serde_yaml::{Mapping, Value};

use crate::config::model::ClusterConfiguration;
use crate::config::sorted_keys;

pub const API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
pub const KIND: &str = "KubeletConfiguration";
const STATIC_POD_PATH: &str = "/etc/kubernetes/manifests";
/// The kubelet's health endpoint, as kubeadm (and the kubelet itself) default it.
pub const HEALTHZ_BIND_ADDRESS: &str = "127.0.0.1";
pub const HEALTHZ_PORT: u64 = 10248;
/// kubeadm's fallback when the service CIDR has no tenth address.
const DEFAULT_CLUSTER_DNS: &str = "10.96.0.10";
/// Where systemd-resolved keeps the real upstream servers (its stub resolver on 127.0.0.53 is
/// unreachable from Pods).
pub const SYSTEMD_RESOLVED_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn mapping<const N: usize>(entries: [(&str, Value); N]) -> Mapping {
    entries.into_iter().map(|(k, v)| (s(k), v)).collect()
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(mapping(entries))
}

/// The cluster DNS address: the tenth address of the primary service CIDR (kubeadm's
/// `GetDNSIP`; the secondary family of a dual-stack cluster gets none).
pub fn cluster_dns(cfg: &ClusterConfiguration) -> String {
    cfg.networking
        .service_subnet
        .primary()
        .nth(10)
        .map_or_else(|| DEFAULT_CLUSTER_DNS.to_string(), |ip| ip.to_string())
}

fn kubeadm_defaults(cfg: &ClusterConfiguration) -> Mapping {
    let client_ca = cfg.certificates_dir.join("ca.crt");
    mapping([
        ("apiVersion", s(API_VERSION)),
        ("kind", s(KIND)),
        (
            "authentication",
            map([
                ("anonymous", map([("enabled", Value::Bool(false))])),
                ("webhook", map([("enabled", Value::Bool(true))])),
                (
                    "x509",
                    map([("clientCAFile", s(&client_ca.to_string_lossy()))]),
                ),
            ]),
        ),
        ("authorization", map([("mode", s("Webhook"))])),
        ("cgroupDriver", s("systemd")),
        ("clusterDNS", Value::Sequence(vec![s(&cluster_dns(cfg))])),
        ("clusterDomain", s(&cfg.networking.dns_domain)),
        ("healthzBindAddress", s(HEALTHZ_BIND_ADDRESS)),
        ("healthzPort", Value::Number(HEALTHZ_PORT.into())),
        ("rotateCertificates", Value::Bool(true)),
        ("staticPodPath", s(STATIC_POD_PATH)),
    ])
}

/// The cluster-wide KubeletConfiguration (the `kubelet-config` ConfigMap): kubeadm's defaults
/// merged under the user's document, keys sorted as kubeadm writes them.
pub fn defaulted_kubelet_config(cfg: &ClusterConfiguration, user: &Mapping) -> Mapping {
    warn_about_overridden_recommendations(cfg, user);
    let mut merged = merge_under(kubeadm_defaults(cfg), user);
    // kubeadm cannot tell an explicit false from unset here, and needs rotation: always on.
    merged.insert(s("rotateCertificates"), Value::Bool(true));
    merged.insert(s("apiVersion"), s(API_VERSION));
    merged.insert(s("kind"), s(KIND));
    sorted_keys(&merged)
}

/// `defaults` with every field the user set replacing it; nested mappings merge field by
/// field. A user `null`, or `""` where kubeadm defaults a string, counts as unset (kubeadm's
/// Go fields cannot tell them from absent), and nulls are not written.
fn merge_under(mut defaults: Mapping, user: &Mapping) -> Mapping {
    for (key, value) in user {
        let merged = match (defaults.get(key), value) {
            (_, Value::Null) => continue,
            (Some(Value::String(_)), Value::String(v)) if v.is_empty() => continue,
            (Some(Value::Mapping(d)), Value::Mapping(u)) => {
                Value::Mapping(merge_under(d.clone(), u))
            }
            (_, Value::Mapping(u)) => Value::Mapping(merge_under(Mapping::new(), u)),
            _ => value.clone(),
        };
        defaults.insert(key.clone(), merged);
    }
    defaults
}

/// Applies what kubeadm's `Mutate` and the kubelet instance configuration change on this node
/// just before writing `config.yaml`.
pub fn node_local_config(
    config: &Mapping,
    systemd_resolved_active: bool,
    container_runtime_endpoint: Option<&str>,
) -> Mapping {
    let mut config = config.clone();
    if systemd_resolved_active {
        match config.get("resolvConf") {
            None | Some(Value::Null) => {
                config.insert(s("resolvConf"), s(SYSTEMD_RESOLVED_RESOLV_CONF));
            }
            Some(other) => warn_recommended("resolvConf", SYSTEMD_RESOLVED_RESOLV_CONF, other),
        }
    }
    if let Some(endpoint) = container_runtime_endpoint {
        config.insert(s("containerRuntimeEndpoint"), s(endpoint));
    }
    sorted_keys(&config)
}

/// The user's value at `path`, when set (not absent, not null).
fn user_value<'a>(user: &'a Mapping, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut current = user;
    for key in parents {
        current = current.get(*key)?.as_mapping()?;
    }
    current.get(*last).filter(|v| !v.is_null())
}

/// kubeadm's warnings when a user value departs from what kubeadm recommends.
fn warn_about_overridden_recommendations(cfg: &ClusterConfiguration, user: &Mapping) {
    let client_ca = cfg.certificates_dir.join("ca.crt");
    let client_ca = client_ca.to_string_lossy();
    let dns = Value::Sequence(vec![s(&cluster_dns(cfg))]);
    let mut checks: Vec<(&[&str], Value)> = vec![
        (&["staticPodPath"], s(STATIC_POD_PATH)),
        (&["clusterDNS"], dns),
        (&["authentication", "x509", "clientCAFile"], s(&client_ca)),
        (
            &["authentication", "anonymous", "enabled"],
            Value::Bool(false),
        ),
        (&["authorization", "mode"], s("Webhook")),
        (&["authentication", "webhook", "enabled"], Value::Bool(true)),
        (&["healthzBindAddress"], s(HEALTHZ_BIND_ADDRESS)),
        (&["healthzPort"], Value::Number(HEALTHZ_PORT.into())),
        (&["readOnlyPort"], Value::Number(0.into())),
    ];
    if !cfg.networking.dns_domain.is_empty() {
        checks.push((&["clusterDomain"], s(&cfg.networking.dns_domain)));
    }
    for (path, recommended) in checks {
        match user_value(user, path) {
            Some(Value::String(v)) if v.is_empty() => {}
            Some(v) if *v != recommended => {
                warn_recommended(&path.join("."), &go_format(&recommended), v)
            }
            _ => {}
        }
    }
}

fn warn_recommended(field: &str, recommended: &str, provided: &Value) {
    log::warn!(
        "The recommended value for {field:?} in {KIND:?} is: {recommended}; the provided value is: {}",
        go_format(provided)
    );
}

/// A value as Go's `%v` prints it: `[a b]` for lists, plain scalars.
fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(seq) => {
            let items: Vec<String> = seq.iter().map(go_format).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Mapping(_) | Value::Tagged(_) => serde_yaml::to_string(value)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::testutil::cluster;

    fn yaml(text: &str) -> Mapping {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_follow_the_cluster_configuration() {
        let mut cfg = cluster();
        cfg.networking.service_subnet = "10.100.0.0/16,fd00:100::/112".parse().unwrap();
        cfg.networking.dns_domain = "corp.example".into();
        let c = defaulted_kubelet_config(&cfg, &Mapping::new());
        assert_eq!(c["clusterDNS"], Value::Sequence(vec![s("10.100.0.10")]));
        assert_eq!(c["clusterDomain"], s("corp.example"));
        assert_eq!(
            c["authentication"]["x509"]["clientCAFile"],
            s("/etc/kubernetes/pki/ca.crt")
        );
        assert_eq!(c["cgroupDriver"], s("systemd"));
        assert_eq!(c["staticPodPath"], s("/etc/kubernetes/manifests"));
        let keys: Vec<&str> = c.keys().filter_map(Value::as_str).collect();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort();
        assert_eq!(keys, sorted_keys);
    }

    #[test]
    fn user_fields_win_field_by_field_except_rotation() {
        let user = yaml(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
             cgroupDriver: cgroupfs\nrotateCertificates: false\nmaxPods: 250\n\
             staticPodPath: \"\"\nresolvConf: null\n\
             authentication:\n  webhook:\n    cacheTTL: 30s\n",
        );
        let c = defaulted_kubelet_config(&cluster(), &user);
        assert_eq!(c["cgroupDriver"], s("cgroupfs"));
        assert_eq!(c["rotateCertificates"], Value::Bool(true));
        assert_eq!(c["maxPods"], Value::Number(250.into()));
        assert_eq!(c["staticPodPath"], s("/etc/kubernetes/manifests"));
        assert_eq!(c["authentication"]["webhook"]["cacheTTL"], s("30s"));
        assert_eq!(c["authentication"]["webhook"]["enabled"], Value::Bool(true));
        assert_eq!(
            c["authentication"]["anonymous"]["enabled"],
            Value::Bool(false)
        );
        assert!(c.get("resolvConf").is_none(), "nulls are not written");
    }

    #[test]
    fn node_local_changes_resolv_conf_only_when_resolved_runs_and_unset() {
        let base = defaulted_kubelet_config(&cluster(), &Mapping::new());
        let c = node_local_config(&base, true, None);
        assert_eq!(c["resolvConf"], s(SYSTEMD_RESOLVED_RESOLV_CONF));
        assert!(c.get("containerRuntimeEndpoint").is_none());
        let c = node_local_config(&base, false, Some("unix:///run/crio/crio.sock"));
        assert!(c.get("resolvConf").is_none());
        assert_eq!(
            c["containerRuntimeEndpoint"],
            s("unix:///run/crio/crio.sock")
        );
        let own = defaulted_kubelet_config(&cluster(), &yaml("resolvConf: /etc/resolv.conf\n"));
        let c = node_local_config(&own, true, None);
        assert_eq!(c["resolvConf"], s("/etc/resolv.conf"));
    }

    #[test]
    fn go_formatting_of_values_in_warnings() {
        assert_eq!(
            go_format(&Value::Sequence(vec![s("10.96.0.10"), s("fd00::a")])),
            "[10.96.0.10 fd00::a]"
        );
        assert_eq!(go_format(&Value::Bool(true)), "true");
    }
}

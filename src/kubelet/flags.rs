//! `/var/lib/kubelet/kubeadm-flags.env`: the node-specific kubelet flags kubeadm passes
//! through `KUBELET_KUBEADM_ARGS` (`phases/kubelet/flags.go`).

use crate::config::model::{Arg, ClusterConfiguration, NodeRegistration, Taint};
use crate::manifests::args::{arg, arguments_to_command, last_arg};
use crate::manifests::images;

/// Whether kubeadm's `NodeLocalCRISocket` feature is on: the CRI socket moves from the flags
/// file to `/var/lib/kubelet/instance-config.yaml`. The gate appeared (alpha, off) in kubeadm
/// 1.32 and is beta, on by default, from 1.34.
pub fn node_local_cri_socket(cluster: &ClusterConfiguration) -> bool {
    let version = &cluster.kubernetes_version;
    if !version.at_least(32) {
        return false;
    }
    cluster
        .feature_gates
        .get("NodeLocalCRISocket")
        .copied()
        .unwrap_or(version.at_least(34))
}

/// The name the node registers with: the node name, or a `hostname-override` kubelet extra
/// argument, else the hostname.
fn node_name<'a>(node: &'a NodeRegistration, hostname: &'a str) -> &'a str {
    last_arg(&node.kubelet_extra_args, "hostname-override")
        .or((!node.name.is_empty()).then_some(node.name.as_str()))
        .unwrap_or(hostname)
}

/// `key=value:Effect`, or `key:Effect` without a value (Go's `Taint.ToString`).
fn taint_string(taint: &Taint) -> String {
    match &taint.value {
        Some(value) if !value.is_empty() => format!("{}={}:{}", taint.key, value, taint.effect),
        _ => format!("{}:{}", taint.key, taint.effect),
    }
}

/// The flags kubeadm computes for this node, before the user's `kubeletExtraArgs`.
/// `register_taints` is kubeadm's worker-join case, where taints go through the flag.
pub fn kubeadm_flags(
    node: &NodeRegistration,
    cluster: &ClusterConfiguration,
    register_taints: bool,
    hostname: &str,
) -> Vec<Arg> {
    let mut flags = Vec::new();
    if !node_local_cri_socket(cluster) && !node.cri_socket.is_empty() {
        flags.push(arg("container-runtime-endpoint", &node.cri_socket));
    }
    // Older kubelets need it to keep the sandbox image from garbage collection.
    if images::kubelet_takes_pod_infra_image(&cluster.kubernetes_version) {
        flags.push(arg(
            "pod-infra-container-image",
            images::pause_image(cluster),
        ));
    }
    if register_taints {
        if let Some(taints) = node.taints.as_ref().filter(|t| !t.is_empty()) {
            let taints: Vec<String> = taints.iter().map(taint_string).collect();
            flags.push(arg("register-with-taints", taints.join(",")));
        }
    }
    let name = node_name(node, hostname);
    if name != hostname {
        flags.push(arg("hostname-override", name));
    }
    flags
}

/// The file's content: `KUBELET_KUBEADM_ARGS="..."` with kubeadm's flags and the user's
/// `kubeletExtraArgs` merged and sorted, quoted as Go's `%q`.
pub fn flags_env(
    node: &NodeRegistration,
    cluster: &ClusterConfiguration,
    register_taints: bool,
    hostname: &str,
) -> String {
    let defaults = kubeadm_flags(node, cluster, register_taints, hostname);
    let args = arguments_to_command(&defaults, &node.kubelet_extra_args);
    format!("KUBELET_KUBEADM_ARGS={}\n", go_quote(&args.join(" ")))
}

/// Go's `strconv.Quote`: a double-quoted string a shell `EnvironmentFile` reads back intact.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::testutil::init_config;

    #[test]
    fn v1_34_keeps_the_pause_image_and_moves_the_cri_socket_out() {
        let cfg = init_config();
        let env = flags_env(&cfg.node_registration, &cfg.cluster, false, "cp-1");
        assert_eq!(
            env,
            "KUBELET_KUBEADM_ARGS=\"--pod-infra-container-image=registry.k8s.io/pause:3.10.1\"\n"
        );
    }

    #[test]
    fn cri_socket_stays_a_flag_before_1_34_or_with_the_gate_off() {
        let mut cfg = init_config();
        cfg.cluster.kubernetes_version = "v1.33.3".parse().unwrap();
        let env = flags_env(&cfg.node_registration, &cfg.cluster, false, "cp-1");
        assert_eq!(
            env,
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
             --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
        );
        cfg.cluster.kubernetes_version = "v1.35.0".parse().unwrap();
        cfg.cluster
            .feature_gates
            .insert("NodeLocalCRISocket".into(), false);
        assert!(!node_local_cri_socket(&cfg.cluster));
        let env = flags_env(&cfg.node_registration, &cfg.cluster, false, "cp-1");
        assert_eq!(
            env,
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock\"\n"
        );
    }

    #[test]
    fn the_alpha_gate_can_be_turned_on_from_1_32_only() {
        let mut cfg = init_config();
        cfg.cluster
            .feature_gates
            .insert("NodeLocalCRISocket".into(), true);
        cfg.cluster.kubernetes_version = "v1.32.0".parse().unwrap();
        assert!(node_local_cri_socket(&cfg.cluster));
        cfg.cluster.kubernetes_version = "v1.31.9".parse().unwrap();
        assert!(!node_local_cri_socket(&cfg.cluster));
        cfg.cluster.feature_gates.clear();
        cfg.cluster.kubernetes_version = "v1.33.0".parse().unwrap();
        assert!(!node_local_cri_socket(&cfg.cluster));
    }

    #[test]
    fn hostname_override_only_when_the_node_name_differs() {
        let mut cfg = init_config();
        let flags = kubeadm_flags(&cfg.node_registration, &cfg.cluster, false, "ip-10-0-0-1");
        assert!(flags.contains(&arg("hostname-override", "cp-1")));
        cfg.node_registration
            .kubelet_extra_args
            .push(arg("hostname-override", "ip-10-0-0-1"));
        let flags = kubeadm_flags(&cfg.node_registration, &cfg.cluster, false, "ip-10-0-0-1");
        assert!(!flags.iter().any(|f| f.name == "hostname-override"));
    }

    #[test]
    fn worker_join_registers_taints_and_extra_args_win() {
        let mut cfg = init_config();
        cfg.node_registration.taints = Some(vec![
            Taint {
                key: "dedicated".into(),
                value: Some("gpu".into()),
                effect: "NoSchedule".into(),
            },
            Taint {
                key: "spot".into(),
                value: None,
                effect: "PreferNoSchedule".into(),
            },
        ]);
        cfg.node_registration.kubelet_extra_args = vec![
            arg("node-ip", "10.0.0.7"),
            arg("pod-infra-container-image", "mirror.local/pause:3.10.1"),
        ];
        let env = flags_env(&cfg.node_registration, &cfg.cluster, true, "cp-1");
        assert_eq!(
            env,
            "KUBELET_KUBEADM_ARGS=\"--node-ip=10.0.0.7 \
             --pod-infra-container-image=mirror.local/pause:3.10.1 \
             --register-with-taints=dedicated=gpu:NoSchedule,spot:PreferNoSchedule\"\n"
        );
        let init = flags_env(&cfg.node_registration, &cfg.cluster, false, "cp-1");
        assert!(!init.contains("register-with-taints"));
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\u{1}"), "\"tab\\there\\x01\"");
        assert_eq!(go_quote("ü"), "\"ü\"");
    }
}

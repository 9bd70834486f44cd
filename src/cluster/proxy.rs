//! `kubeadm init phase addon kube-proxy`: the kube-proxy ConfigMap (its KubeProxyConfiguration
//! and an in-cluster kubeconfig), DaemonSet, ServiceAccount and RBAC, as kubeadm's
//! `phases/addons/proxy` creates them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use serde_json::Value;

use super::rbac::{cluster_role_binding, get_named, group, role, role_binding, service_account};
use super::uploadconfig::sign_config_map;
use super::{BOOTSTRAPPERS_GROUP, Error, NS_SYSTEM, Object, Result, meta, yaml_quote};
use crate::config::model::{ApiEndpoint, ClusterConfiguration, EnvVar};
use crate::kubeconfig;
use crate::manifests::{self, images};

pub const KUBE_PROXY: &str = "kube-proxy";
/// `KubeProxyClusterRoleBindingName` → `KubeProxyClusterRoleName`.
pub const NODE_PROXIER_BINDING: &str = "kubeadm:node-proxier";
pub const NODE_PROXIER_ROLE: &str = "system:node-proxier";
const CONFIG_KEY: &str = "config.conf";
const KUBECONFIG_KEY: &str = "kubeconfig.conf";
const KUBECONFIG_PATH: &str = "/var/lib/kube-proxy/kubeconfig.conf";

/// The KubeProxyConfiguration kubeadm generates when the user gives none: an empty
/// `kubeproxy.config.k8s.io/v1alpha1` object with kubeadm's three defaults (bindAddress
/// `0.0.0.0`, or `::` when the advertise address is IPv6; clusterCIDR = podSubnet;
/// clientConnection.kubeconfig), marshalled as kubeadm does: every field, keys sorted, zero
/// values written out (the kube-proxy binary applies its own defaults when it loads it).
pub fn kube_proxy_config(cfg: &ClusterConfiguration, local: &ApiEndpoint) -> String {
    let bind = match local.advertise_address {
        Some(IpAddr::V6(_)) => "'::'",
        _ => "0.0.0.0",
    };
    let cluster_cidr = match &cfg.networking.pod_subnet {
        Some(cidrs) => cidrs.to_string(),
        None => "\"\"".to_string(),
    };
    KUBE_PROXY_CONFIGURATION
        .replace("@BIND_ADDRESS@", bind)
        .replace("@CLUSTER_CIDR@", &cluster_cidr)
        .replace("@KUBECONFIG@", KUBECONFIG_PATH)
}

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: \
         /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    server: {server}\n  name: \
         default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    \
         user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n  \
         user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
}

/// The kube-proxy addon in kubeadm's order: ConfigMap `kube-proxy` (signed), DaemonSet
/// `kube-proxy` (with `proxy_env`, sorted and deduplicated as kubeadm merges it, appended to its environment), ServiceAccount `kube-proxy`,
/// ClusterRoleBinding `kubeadm:node-proxier`, Role and RoleBinding `kube-proxy` (bootstrap
/// tokens may read the ConfigMap). Empty when `proxy.disabled`.
pub fn kube_proxy_objects(
    cfg: &ClusterConfiguration,
    local: &ApiEndpoint,
    proxy_env: &[EnvVar],
) -> Result<Vec<Object>> {
    if cfg.proxy_disabled {
        return Ok(Vec::new());
    }
    let server =
        kubeconfig::control_plane_endpoint(cfg, local).map_err(Error::ControlPlaneEndpoint)?;
    // kubeadm embeds both documents in `|-` block scalars: no trailing newline.
    let config = kube_proxy_config(cfg, local);
    let mut config_map = ConfigMap {
        metadata: meta(Some(NS_SYSTEM), KUBE_PROXY),
        data: Some(BTreeMap::from([
            (KUBECONFIG_KEY.to_string(), kubeconfig(&server)),
            (
                CONFIG_KEY.to_string(),
                config.trim_end_matches('\n').to_string(),
            ),
        ])),
        ..Default::default()
    };
    config_map.metadata.labels = Some(BTreeMap::from([("app".into(), KUBE_PROXY.into())]));
    sign_config_map(&mut config_map);

    let mut daemon_set = Object::from_template::<DaemonSet>(
        "kube-proxy DaemonSet",
        &DAEMON_SET.replace(
            "@IMAGE@",
            &yaml_quote(&images::kubernetes_image(cfg, KUBE_PROXY)),
        ),
    )?;
    // The template's container has an `env` list (NODE_NAME) for the proxy variables to join.
    if let Some(env) = daemon_set
        .body_mut()
        .pointer_mut("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array_mut)
    {
        env.extend(
            manifests::merge_env(&[proxy_env])
                .unwrap_or_default()
                .iter()
                .filter_map(|e| serde_json::to_value(e).ok()),
        );
    }

    Ok(vec![
        config_map.into(),
        daemon_set,
        ServiceAccount {
            metadata: meta(Some(NS_SYSTEM), KUBE_PROXY),
            ..Default::default()
        }
        .into(),
        cluster_role_binding(
            NODE_PROXIER_BINDING,
            NODE_PROXIER_ROLE,
            vec![service_account(NS_SYSTEM, KUBE_PROXY)],
        )
        .into(),
        role(
            NS_SYSTEM,
            KUBE_PROXY,
            vec![get_named("configmaps", KUBE_PROXY)],
        )
        .into(),
        role_binding(NS_SYSTEM, KUBE_PROXY, vec![group(BOOTSTRAPPERS_GROUP)]).into(),
    ])
}

/// `kubeproxy.config.k8s.io/v1alpha1` KubeProxyConfiguration as Go's JSON→YAML marshalling
/// prints the kubeadm-defaulted object for 1.31..=1.35 (fields without `omitempty` appear with
/// their zero values; `featureGates` and `windowsRunAsService` are omitted when empty).
const KUBE_PROXY_CONFIGURATION: &str = r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: @BIND_ADDRESS@
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: @KUBECONFIG@
  qps: 0
clusterCIDR: @CLUSTER_CIDR@
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: ""
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
"#;

const DAEMON_SET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  labels:
    k8s-app: kube-proxy
  name: kube-proxy
  namespace: kube-system
spec:
  selector:
    matchLabels:
      k8s-app: kube-proxy
  updateStrategy:
    type: RollingUpdate
  template:
    metadata:
      labels:
        k8s-app: kube-proxy
    spec:
      priorityClassName: system-node-critical
      containers:
      - name: kube-proxy
        image: @IMAGE@
        imagePullPolicy: IfNotPresent
        command:
        - /usr/local/bin/kube-proxy
        - --config=/var/lib/kube-proxy/config.conf
        - --hostname-override=$(NODE_NAME)
        securityContext:
          privileged: true
        volumeMounts:
        - mountPath: /var/lib/kube-proxy
          name: kube-proxy
        - mountPath: /run/xtables.lock
          name: xtables-lock
          readOnly: false
        - mountPath: /lib/modules
          name: lib-modules
          readOnly: true
        env:
          - name: NODE_NAME
            valueFrom:
              fieldRef:
                fieldPath: spec.nodeName
      hostNetwork: true
      serviceAccountName: kube-proxy
      volumes:
      - name: kube-proxy
        configMap:
          name: kube-proxy
      - name: xtables-lock
        hostPath:
          path: /run/xtables.lock
          type: FileOrCreate
      - name: lib-modules
        hostPath:
          path: /lib/modules
      tolerations:
      - operator: Exists
      nodeSelector:
        kubernetes.io/os: linux
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests_support::{cluster_config, local_endpoint, typed};

    #[test]
    fn config_follows_pod_subnet_and_address_family() {
        let cfg = cluster_config();
        let text = kube_proxy_config(&cfg, &local_endpoint());
        assert!(text.contains("\nbindAddress: 0.0.0.0\n"));
        assert!(text.contains("\nclusterCIDR: 10.244.0.0/16\n"));
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["clientConnection"]["kubeconfig"], KUBECONFIG_PATH);
        let mut v6 = cluster_config();
        v6.networking.pod_subnet = None;
        let local = ApiEndpoint {
            advertise_address: Some("fd00::10".parse().unwrap()),
            bind_port: 6443,
        };
        let v: serde_yaml::Value = serde_yaml::from_str(&kube_proxy_config(&v6, &local)).unwrap();
        assert_eq!(v["bindAddress"], "::");
        assert_eq!(v["clusterCIDR"], "");
    }

    #[test]
    fn image_and_env_land_in_the_daemonset() {
        let cfg = cluster_config();
        let env =
            manifests::proxy_env_from([("HTTP_PROXY".to_string(), "http://p:3128".to_string())]);
        let objects = kube_proxy_objects(&cfg, &local_endpoint(), &env).unwrap();
        assert_eq!(objects[1].body()["kind"], "DaemonSet");
        let ds: DaemonSet = typed(&objects[1]);
        let c = &ds
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        assert_eq!(
            c.image.as_deref(),
            Some("registry.k8s.io/kube-proxy:v1.34.2")
        );
        let names: Vec<_> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["NODE_NAME", "HTTP_PROXY"]);
        let mut off = cfg.clone();
        off.proxy_disabled = true;
        assert!(
            kube_proxy_objects(&off, &local_endpoint(), &[])
                .unwrap()
                .is_empty()
        );
    }
}

//! `kubeadm init phase addon coredns`: kubeadm's CoreDNS templates (`phases/addons/dns`), filled
//! in as kubeadm does and decoded into API objects.
//!
//! Differences inside 1.31..=1.35: the CoreDNS version; since 1.33 the Corefile keeps the
//! cluster domain out of the cache (`disable success/denial`); since 1.34 the Deployment names
//! the probe ports (`liveness-probe` 8080, `readiness-probe` 8181) and lists them.

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};

use super::markcontrolplane::LABEL_CONTROL_PLANE;
use super::{Error, Object, Result, yaml_quote};
use crate::config::model::ClusterConfiguration;
use crate::config::version::KubeVersion;
use crate::manifests::images;

/// `coreDNSReplicas`: a fresh cluster has no DNS Deployment whose replicas to keep.
const REPLICAS: u32 = 2;

/// `kubeadmconstants.GetDNSIP`: the 10th address of the (first) service subnet.
pub fn dns_service_ip(cfg: &ClusterConfiguration) -> Result<IpAddr> {
    let subnet = cfg.networking.service_subnet.primary();
    subnet
        .nth(10)
        .ok_or_else(|| Error::ServiceSubnetTooSmall(subnet.to_string()))
}

/// The CoreDNS addon in kubeadm's order: ConfigMap `coredns`, ClusterRole and
/// ClusterRoleBinding `system:coredns`, ServiceAccount `coredns`, Deployment `coredns`, Service
/// `kube-dns`. Empty when `dns.disabled`.
pub fn coredns_objects(cfg: &ClusterConfiguration) -> Result<Vec<Object>> {
    if cfg.dns.disabled {
        return Ok(Vec::new());
    }
    let v = &cfg.kubernetes_version;
    let domain = checked_dns_domain(&cfg.networking.dns_domain)?;
    let ip = dns_service_ip(cfg)?;

    Ok(vec![
        Object::from_template::<ConfigMap>("CoreDNS ConfigMap", &corefile_config_map(v, domain))?,
        Object::from_template::<ClusterRole>("CoreDNS ClusterRole", CLUSTER_ROLE)?,
        Object::from_template::<ClusterRoleBinding>(
            "CoreDNS ClusterRoleBinding",
            CLUSTER_ROLE_BINDING,
        )?,
        Object::from_template::<ServiceAccount>("CoreDNS ServiceAccount", SERVICE_ACCOUNT)?,
        Object::from_template::<Deployment>("CoreDNS Deployment", &deployment_yaml(v, cfg))?,
        Object::from_template::<Service>(
            "CoreDNS Service",
            &SERVICE.replace("@DNS_IP@", &yaml_quote(&ip.to_string())),
        )?,
    ])
}

/// The domain goes into the Corefile block scalar unquoted: only DNS name characters may.
fn checked_dns_domain(domain: &str) -> Result<&str> {
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(domain)
    } else {
        Err(Error::InvalidField {
            field: "networking.dnsDomain",
            value: domain.to_string(),
            reason: "must be a DNS name such as cluster.local (lowercase letters, digits, '-', '.')",
        })
    }
}

fn corefile_config_map(v: &KubeVersion, domain: &str) -> String {
    let cache = if v.at_least(33) {
        format!(
            "cache 30 {{\n           disable success {domain}\n           disable denial {domain}\n        }}"
        )
    } else {
        "cache 30".to_string()
    };
    CONFIG_MAP
        .replace("@DNS_DOMAIN@", domain)
        .replace("@CACHE@", &cache)
}

fn deployment_yaml(v: &KubeVersion, cfg: &ClusterConfiguration) -> String {
    let (probe_ports, liveness, readiness) = if v.at_least(34) {
        (PROBE_CONTAINER_PORTS, "liveness-probe", "readiness-probe")
    } else {
        ("", "8080", "8181")
    };
    DEPLOYMENT
        .replace("@REPLICAS@", &REPLICAS.to_string())
        .replace("@CONTROL_PLANE_TAINT_KEY@", LABEL_CONTROL_PLANE)
        .replace("@IMAGE@", &yaml_quote(&images::coredns_image(cfg)))
        .replace("@PROBE_PORTS@", probe_ports)
        .replace("@LIVENESS_PORT@", liveness)
        .replace("@READINESS_PORT@", readiness)
}

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    kubernetes.io/name: "CoreDNS"
  name: kube-dns
  namespace: kube-system
  annotations:
    prometheus.io/port: "9153"
    prometheus.io/scrape: "true"
  # Without this resourceVersion value, an update of the Service between versions will yield:
  #   Service "kube-dns" is invalid: metadata.resourceVersion: Invalid value: "": must be specified for an update
  resourceVersion: "0"
spec:
  clusterIP: @DNS_IP@
  ports:
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 53
  - name: dns-tcp
    port: 53
    protocol: TCP
    targetPort: 53
  - name: metrics
    port: 9153
    protocol: TCP
    targetPort: 9153
  selector:
    k8s-app: kube-dns
"#;

const PROBE_CONTAINER_PORTS: &str = "
        - containerPort: 8080
          name: liveness-probe
          protocol: TCP
        - containerPort: 8181
          name: readiness-probe
          protocol: TCP";

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  replicas: @REPLICAS@
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              labelSelector:
                matchExpressions:
                - key: k8s-app
                  operator: In
                  values: ["kube-dns"]
              topologyKey: kubernetes.io/hostname
      tolerations:
      - key: CriticalAddonsOnly
        operator: Exists
      - key: @CONTROL_PLANE_TAINT_KEY@
        effect: NoSchedule
      nodeSelector:
        kubernetes.io/os: linux
      containers:
      - name: coredns
        image: @IMAGE@
        imagePullPolicy: IfNotPresent
        resources:
          limits:
            memory: 170Mi
          requests:
            cpu: 100m
            memory: 70Mi
        args: [ "-conf", "/etc/coredns/Corefile" ]
        volumeMounts:
        - name: config-volume
          mountPath: /etc/coredns
          readOnly: true
        ports:
        - containerPort: 53
          name: dns
          protocol: UDP
        - containerPort: 53
          name: dns-tcp
          protocol: TCP
        - containerPort: 9153
          name: metrics
          protocol: TCP@PROBE_PORTS@
        livenessProbe:
          httpGet:
            path: /health
            port: @LIVENESS_PORT@
            scheme: HTTP
          initialDelaySeconds: 60
          timeoutSeconds: 5
          successThreshold: 1
          failureThreshold: 5
        readinessProbe:
          httpGet:
            path: /ready
            port: @READINESS_PORT@
            scheme: HTTP
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            add:
            - NET_BIND_SERVICE
            drop:
            - ALL
          readOnlyRootFilesystem: true
      dnsPolicy: Default
      volumes:
        - name: config-volume
          configMap:
            name: coredns
            items:
            - key: Corefile
              path: Corefile
"#;

const CONFIG_MAP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        errors
        health {
           lameduck 5s
        }
        ready
        kubernetes @DNS_DOMAIN@ in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
           ttl 30
        }
        prometheus :9153
        forward . /etc/resolv.conf {
           max_concurrent 1000
        }
        @CACHE@
        loop
        reload
        loadbalance
    }
"#;

const CLUSTER_ROLE: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups:
  - ""
  resources:
  - endpoints
  - services
  - pods
  - namespaces
  verbs:
  - list
  - watch
- apiGroups:
  - discovery.k8s.io
  resources:
  - endpointslices
  verbs:
  - list
  - watch
"#;

const CLUSTER_ROLE_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
"#;

const SERVICE_ACCOUNT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests_support::{cluster_config, typed};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn at(minor: u32) -> ClusterConfiguration {
        let mut cfg = cluster_config();
        cfg.kubernetes_version = format!("v1.{minor}.0").parse().unwrap();
        cfg
    }

    #[test]
    fn dns_service_takes_the_tenth_service_address() {
        assert_eq!(
            dns_service_ip(&cluster_config()).unwrap().to_string(),
            "10.96.0.10"
        );
        let mut cfg = cluster_config();
        cfg.networking.service_subnet = "fd00:10:96::/112,10.96.0.0/16".parse().unwrap();
        assert_eq!(dns_service_ip(&cfg).unwrap().to_string(), "fd00:10:96::a");
        cfg.networking.service_subnet = "10.0.0.0/29".parse().unwrap();
        assert!(matches!(
            dns_service_ip(&cfg),
            Err(Error::ServiceSubnetTooSmall(_))
        ));
    }

    #[test]
    fn corefile_and_probes_follow_the_version() {
        for minor in 31..=35 {
            let objects = coredns_objects(&at(minor)).unwrap();
            let cm: ConfigMap = typed(&objects[0]);
            let corefile = &cm.data.as_ref().unwrap()["Corefile"];
            assert!(corefile.starts_with(".:53 {\n    errors\n"), "{corefile}");
            assert!(corefile.ends_with("    loadbalance\n}\n"), "{corefile}");
            assert!(corefile.contains("kubernetes cluster.local in-addr.arpa ip6.arpa {"));
            assert_eq!(
                corefile.contains("    cache 30 {\n       disable success cluster.local\n       disable denial cluster.local\n    }\n    loop\n"),
                minor >= 33,
                "1.{minor}: {corefile}"
            );
            let d: Deployment = typed(&objects[4]);
            let c = &d
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers[0];
            let port = c
                .liveness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .port
                .clone();
            let expected = if minor >= 34 {
                IntOrString::String("liveness-probe".into())
            } else {
                IntOrString::Int(8080)
            };
            assert_eq!(port, expected, "1.{minor}");
            assert_eq!(
                c.ports.as_ref().unwrap().len(),
                if minor >= 34 { 5 } else { 3 }
            );
        }
    }

    #[test]
    fn templates_hold_the_kind_they_are_sent_as() {
        for o in coredns_objects(&cluster_config()).unwrap() {
            assert_eq!(o.body()["kind"], o.kind(), "{o:?}");
        }
        let objects = coredns_objects(&cluster_config()).unwrap();
        let _: ClusterRole = typed(&objects[1]);
        let _: ClusterRoleBinding = typed(&objects[2]);
        let _: ServiceAccount = typed(&objects[3]);
        let _: Service = typed(&objects[5]);
    }

    #[test]
    fn disabled_dns_creates_nothing_and_bad_domains_are_refused() {
        let mut cfg = cluster_config();
        cfg.dns.disabled = true;
        assert!(coredns_objects(&cfg).unwrap().is_empty());
        let mut cfg = cluster_config();
        cfg.networking.dns_domain = "cluster.local\n    hosts".into();
        assert!(matches!(
            coredns_objects(&cfg),
            Err(Error::InvalidField { .. })
        ));
    }

    #[test]
    fn a_hostile_image_repository_cannot_inject_fields() {
        let mut cfg = cluster_config();
        cfg.image_repository = "evil\n      hostNetwork: true\n#".into();
        let objects = coredns_objects(&cfg).unwrap();
        let d: Deployment = typed(&objects[4]);
        let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(spec.host_network, None);
        assert!(
            spec.containers[0]
                .image
                .as_deref()
                .unwrap()
                .starts_with("evil\n")
        );
    }
}

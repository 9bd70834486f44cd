//! The ClusterConfiguration document `upload-config` stores in `kube-system/kubeadm-config`,
//! as kubeadm 1.31+ marshals it: `kubeadm.k8s.io/v1beta4` whatever the input version, keys
//! sorted, `omitempty` fields left out, durations in Go's notation (`8760h0m0s`). Joining
//! control-plane nodes and `kubeadm upgrade` read it back.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Error, Result};
use crate::config::model::{
    ClusterConfiguration, ControlPlaneComponent, EncryptionAlgorithm, Etcd, ImageMeta,
};

/// The ClusterConfiguration as kubeadm uploads it.
pub fn cluster_configuration_yaml(cfg: &ClusterConfiguration) -> Result<String> {
    let mut doc = json!({
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "apiServer": component(&cfg.api_server.component, &cfg.api_server.cert_sans),
        "caCertificateValidityPeriod": go_duration(cfg.ca_certificate_validity_period),
        "certificateValidityPeriod": go_duration(cfg.certificate_validity_period),
        "certificatesDir": cfg.certificates_dir.to_string_lossy(),
        "clusterName": cfg.cluster_name,
        "controllerManager": component(&cfg.controller_manager, &[]),
        "dns": dns(cfg),
        "encryptionAlgorithm": encryption_algorithm(cfg.encryption_algorithm),
        "etcd": etcd(&cfg.etcd),
        "imageRepository": cfg.image_repository,
        "kubernetesVersion": cfg.kubernetes_version.to_string(),
        "networking": networking(cfg),
        "proxy": if cfg.proxy_disabled { json!({"disabled": true}) } else { json!({}) },
        "scheduler": component(&cfg.scheduler, &[]),
    });
    if let Some(endpoint) = cfg
        .control_plane_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
    {
        doc["controlPlaneEndpoint"] = json!(endpoint);
    }
    if !cfg.feature_gates.is_empty() {
        doc["featureGates"] = json!(cfg.feature_gates);
    }
    serde_yaml::to_string(&doc).map_err(|e| Error::Yaml("the ClusterConfiguration", e.to_string()))
}

/// `kubeadmapi.ControlPlaneComponent` (+ `certSANs` for the API server), empty lists omitted.
fn component(c: &ControlPlaneComponent, cert_sans: &[String]) -> Value {
    let mut m = Map::new();
    put_list(
        &mut m,
        "extraArgs",
        c.extra_args
            .iter()
            .map(|a| json!({"name": a.name, "value": a.value})),
    );
    put_list(
        &mut m,
        "extraVolumes",
        c.extra_volumes.iter().map(|v| {
            let mut vol =
                json!({"name": v.name, "hostPath": v.host_path, "mountPath": v.mount_path});
            if v.read_only {
                vol["readOnly"] = json!(true);
            }
            if !v.path_type.is_empty() {
                vol["pathType"] = json!(v.path_type);
            }
            vol
        }),
    );
    put_list(&mut m, "extraEnvs", envs(&c.extra_envs));
    put_list(&mut m, "certSANs", cert_sans.iter().map(|s| json!(s)));
    Value::Object(m)
}

fn envs(list: &[crate::config::model::EnvVar]) -> impl Iterator<Item = Value> + '_ {
    list.iter().map(|e| {
        let mut env = json!({"name": e.name});
        if !e.value.is_empty() {
            env["value"] = json!(e.value);
        }
        env
    })
}

fn put_list(m: &mut Map<String, Value>, key: &str, items: impl Iterator<Item = Value>) {
    let items: Vec<Value> = items.collect();
    if !items.is_empty() {
        m.insert(key.to_string(), Value::Array(items));
    }
}

fn image_meta(m: &mut Map<String, Value>, image: &ImageMeta) {
    for (key, value) in [
        ("imageRepository", &image.image_repository),
        ("imageTag", &image.image_tag),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            m.insert(key.to_string(), json!(v));
        }
    }
}

fn dns(cfg: &ClusterConfiguration) -> Value {
    let mut m = Map::new();
    image_meta(&mut m, &cfg.dns.image);
    if cfg.dns.disabled {
        m.insert("disabled".into(), json!(true));
    }
    Value::Object(m)
}

fn etcd(etcd: &Etcd) -> Value {
    match etcd {
        Etcd::Local(local) => {
            let mut m = Map::new();
            image_meta(&mut m, &local.image);
            m.insert("dataDir".into(), json!(local.data_dir.to_string_lossy()));
            put_list(
                &mut m,
                "extraArgs",
                local
                    .extra_args
                    .iter()
                    .map(|a| json!({"name": a.name, "value": a.value})),
            );
            put_list(&mut m, "extraEnvs", envs(&local.extra_envs));
            put_list(
                &mut m,
                "serverCertSANs",
                local.server_cert_sans.iter().map(|s| json!(s)),
            );
            put_list(
                &mut m,
                "peerCertSANs",
                local.peer_cert_sans.iter().map(|s| json!(s)),
            );
            json!({ "local": m })
        }
        // None of these fields is omitempty in kubeadm's types.
        Etcd::External(ext) => json!({ "external": {
            "endpoints": ext.endpoints,
            "caFile": ext.ca_file,
            "certFile": ext.cert_file,
            "keyFile": ext.key_file,
        }}),
    }
}

fn networking(cfg: &ClusterConfiguration) -> Value {
    let n = &cfg.networking;
    let mut m = Map::new();
    m.insert("serviceSubnet".into(), json!(n.service_subnet.to_string()));
    if let Some(pods) = &n.pod_subnet {
        m.insert("podSubnet".into(), json!(pods.to_string()));
    }
    if !n.dns_domain.is_empty() {
        m.insert("dnsDomain".into(), json!(n.dns_domain));
    }
    Value::Object(m)
}

fn encryption_algorithm(a: EncryptionAlgorithm) -> &'static str {
    match a {
        EncryptionAlgorithm::Rsa2048 => "RSA-2048",
        EncryptionAlgorithm::Rsa3072 => "RSA-3072",
        EncryptionAlgorithm::Rsa4096 => "RSA-4096",
        EncryptionAlgorithm::EcdsaP256 => "ECDSA-P256",
        EncryptionAlgorithm::EcdsaP384 => "ECDSA-P384",
    }
}

/// A duration as Go's `time.Duration.String` prints it: `4m0s`, `87600h0m0s`, `1.5s`,
/// `500ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, per) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", decimal(nanos, per));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    let s = decimal(
        u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `value / per` with the fraction's trailing zeros dropped (`per` a power of ten).
fn decimal(value: u128, per: u128) -> String {
    let (int, frac) = (value / per, value % per);
    if frac == 0 {
        return int.to_string();
    }
    let width = per.ilog10() as usize;
    let frac = format!("{frac:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests_support::cluster_config;

    #[test]
    fn durations_print_as_go_does() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(240), "4m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(8760 * 3600), "8760h0m0s"),
            (Duration::from_secs(3723), "1h2m3s"),
        ];
        for (d, s) in cases {
            assert_eq!(go_duration(d), s, "{d:?}");
        }
    }

    #[test]
    fn defaults_marshal_as_kubeadm_uploads_them() {
        let mut cfg = cluster_config();
        cfg.networking.pod_subnet = None;
        assert_eq!(
            cluster_configuration_yaml(&cfg).unwrap(),
            "apiServer: {}
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 8760h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns: {}
encryptionAlgorithm: RSA-2048
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.34.2
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
proxy: {}
scheduler: {}
"
        );
    }

    #[test]
    fn set_fields_appear_and_external_etcd_keeps_empty_paths() {
        let mut cfg = cluster_config();
        cfg.control_plane_endpoint = Some("cp.example:6443".into());
        cfg.feature_gates
            .insert("WaitForAllControlPlaneComponents".into(), false);
        cfg.api_server.cert_sans = vec!["10.0.0.1".into()];
        cfg.api_server.component.extra_args = vec![crate::config::model::Arg {
            name: "v".into(),
            value: "2".into(),
        }];
        cfg.etcd = Etcd::External(crate::config::model::ExternalEtcd {
            endpoints: vec!["https://10.0.0.5:2379".into()],
            ca_file: "/etc/etcd/ca.pem".into(),
            cert_file: String::new(),
            key_file: String::new(),
        });
        cfg.proxy_disabled = true;
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&cluster_configuration_yaml(&cfg).unwrap()).unwrap();
        assert_eq!(doc["controlPlaneEndpoint"], "cp.example:6443");
        assert_eq!(
            doc["featureGates"]["WaitForAllControlPlaneComponents"],
            false
        );
        assert_eq!(doc["apiServer"]["certSANs"][0], "10.0.0.1");
        assert_eq!(doc["apiServer"]["extraArgs"][0]["name"], "v");
        assert_eq!(doc["etcd"]["external"]["keyFile"], "");
        assert_eq!(doc["networking"]["podSubnet"], "10.244.0.0/16");
        assert_eq!(doc["proxy"]["disabled"], true);
    }
}

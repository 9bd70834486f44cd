//! The `ClusterConfiguration` key of the `kube-system/kubeadm-config` ConfigMap: written as
//! kubeadm's upload-config phase marshals it (v1beta4, keys sorted, empty fields omitted,
//! no secrets), and read back by joining control-plane nodes from any kubeadm that wrote it
//! (v1beta2, v1beta3, v1beta4).

use serde_yaml::{Mapping, Value};

use super::ConfigError;
use super::convert::encryption_algorithm_name;
use super::de::{self, DecodeError};
use super::documents::{self, CLUSTER_CONFIGURATION, KUBEADM_V1BETA4};
use super::duration::format_go_duration;
use super::model::{
    Arg, ClusterConfiguration, ControlPlaneComponent, EnvVar, Etcd, HostPathMount, ImageMeta,
};

/// kubeadm's `MarshalKubeadmConfigObject(ClusterConfiguration, v1beta4)`.
pub fn cluster_configuration_yaml(cfg: &ClusterConfiguration) -> String {
    let mut m = Mapping::new();
    put(&mut m, "apiVersion", KUBEADM_V1BETA4);
    put(&mut m, "kind", CLUSTER_CONFIGURATION);
    let mut api = component(&cfg.api_server.component);
    put(&mut api, "certSANs", strings(&cfg.api_server.cert_sans));
    put(&mut m, "apiServer", api);
    put(
        &mut m,
        "caCertificateValidityPeriod",
        format_go_duration(cfg.ca_certificate_validity_period),
    );
    put(
        &mut m,
        "certificateValidityPeriod",
        format_go_duration(cfg.certificate_validity_period),
    );
    put(
        &mut m,
        "certificatesDir",
        cfg.certificates_dir.to_string_lossy().as_ref(),
    );
    put(&mut m, "clusterName", cfg.cluster_name.as_str());
    if let Some(endpoint) = &cfg.control_plane_endpoint {
        put(&mut m, "controlPlaneEndpoint", endpoint.as_str());
    }
    put(
        &mut m,
        "controllerManager",
        component(&cfg.controller_manager),
    );
    let mut dns = image(&cfg.dns.image);
    if cfg.dns.disabled {
        put(&mut dns, "disabled", true);
    }
    put(&mut m, "dns", dns);
    put(
        &mut m,
        "encryptionAlgorithm",
        encryption_algorithm_name(cfg.encryption_algorithm),
    );
    put(&mut m, "etcd", etcd(&cfg.etcd));
    if !cfg.feature_gates.is_empty() {
        let gates: Mapping = cfg
            .feature_gates
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), Value::from(*v)))
            .collect();
        put(&mut m, "featureGates", gates);
    }
    put(&mut m, "imageRepository", cfg.image_repository.as_str());
    put(
        &mut m,
        "kubernetesVersion",
        cfg.kubernetes_version.to_string(),
    );
    let mut net = Mapping::new();
    put(&mut net, "dnsDomain", cfg.networking.dns_domain.as_str());
    if let Some(pods) = &cfg.networking.pod_subnet {
        put(&mut net, "podSubnet", pods.to_string());
    }
    put(
        &mut net,
        "serviceSubnet",
        cfg.networking.service_subnet.to_string(),
    );
    put(&mut m, "networking", net);
    let mut proxy = Mapping::new();
    if cfg.proxy_disabled {
        put(&mut proxy, "disabled", true);
    }
    put(&mut m, "proxy", proxy);
    put(&mut m, "scheduler", component(&cfg.scheduler));
    // Go's YAML marshaller (through JSON) writes every mapping's keys sorted.
    serde_yaml::to_string(&sorted_keys(&m)).unwrap_or_default()
}

/// Reads the ConfigMap's `ClusterConfiguration` (`kubeadm.k8s.io/v1beta2`, `v1beta3` or
/// `v1beta4`), defaulted as kubeadm does. Fields this kubeboot does not know (written by a
/// newer kubeadm) are dropped with a warning rather than refused: the cluster already runs.
/// The version range is not checked here: it is the cluster's, not a choice.
pub fn cluster_configuration_from_yaml(
    s: &str,
    origin: &str,
) -> Result<ClusterConfiguration, ConfigError> {
    let docs = documents::split_documents(s.as_bytes(), origin)?;
    let [doc] = docs.as_slice() else {
        return Err(ConfigError {
            origin: origin.to_string(),
            document: None,
            kind: Some(CLUSTER_CONFIGURATION.into()),
            field: None,
            reason: format!(
                "expected one ClusterConfiguration document, found {}",
                docs.len()
            ),
        });
    };
    let fail = |field: Option<String>, reason: String| ConfigError {
        origin: origin.to_string(),
        document: Some(doc.index),
        kind: Some(doc.kind().unwrap_or(CLUSTER_CONFIGURATION).to_string()),
        field,
        reason,
    };
    if doc.kind() != Some(CLUSTER_CONFIGURATION) {
        return Err(fail(None, "kind must be ClusterConfiguration".into()));
    }
    let api_version = doc.api_version().unwrap_or_default().to_string();
    let mut value = doc.value.clone();
    // Bounded: each pass removes one field.
    for _ in 0..64 {
        let Some(result) = documents::cluster_part_from_value(&api_version, &value) else {
            return Err(fail(
                Some("apiVersion".into()),
                format!(
                    "unsupported apiVersion {api_version:?}: expected kubeadm.k8s.io/v1beta2, v1beta3 or v1beta4"
                ),
            ));
        };
        match result {
            Ok(part) => return Ok(part.cluster),
            Err(e) if e.unknown_field && de::remove_at(&mut value, &e.path) => {
                log::warn!(
                    "[config] WARNING: {origin}: ignoring unknown field {} in ClusterConfiguration",
                    e.path
                );
            }
            Err(DecodeError { path, reason, .. }) => {
                let field = path.to_string();
                return Err(fail((!field.is_empty()).then_some(field), reason));
            }
        }
    }
    Err(fail(None, "too many unknown fields".into()))
}

fn put(m: &mut Mapping, key: &str, value: impl Into<Value>) {
    let value = value.into();
    let empty = match &value {
        Value::Sequence(s) => s.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if !empty {
        m.insert(Value::from(key), value);
    }
}

fn strings(list: &[String]) -> Value {
    Value::Sequence(list.iter().map(|s| Value::from(s.as_str())).collect())
}

fn args(list: &[Arg]) -> Value {
    Value::Sequence(
        list.iter()
            .map(|a| {
                let mut m = Mapping::new();
                m.insert("name".into(), a.name.as_str().into());
                m.insert("value".into(), a.value.as_str().into());
                Value::Mapping(m)
            })
            .collect(),
    )
}

fn envs(list: &[EnvVar]) -> Value {
    Value::Sequence(
        list.iter()
            .map(|e| {
                let mut m = Mapping::new();
                m.insert("name".into(), e.name.as_str().into());
                put(&mut m, "value", e.value.as_str());
                Value::Mapping(m)
            })
            .collect(),
    )
}

fn volumes(list: &[HostPathMount]) -> Value {
    Value::Sequence(
        list.iter()
            .map(|v| {
                let mut m = Mapping::new();
                m.insert("hostPath".into(), v.host_path.as_str().into());
                m.insert("mountPath".into(), v.mount_path.as_str().into());
                m.insert("name".into(), v.name.as_str().into());
                put(&mut m, "pathType", v.path_type.as_str());
                if v.read_only {
                    m.insert("readOnly".into(), true.into());
                }
                Value::Mapping(m)
            })
            .collect(),
    )
}

fn component(c: &ControlPlaneComponent) -> Mapping {
    let mut m = Mapping::new();
    put(&mut m, "extraArgs", args(&c.extra_args));
    put(&mut m, "extraEnvs", envs(&c.extra_envs));
    put(&mut m, "extraVolumes", volumes(&c.extra_volumes));
    m
}

fn image(i: &ImageMeta) -> Mapping {
    let mut m = Mapping::new();
    if let Some(r) = &i.image_repository {
        put(&mut m, "imageRepository", r.as_str());
    }
    if let Some(t) = &i.image_tag {
        put(&mut m, "imageTag", t.as_str());
    }
    m
}

fn etcd(e: &Etcd) -> Mapping {
    let mut m = Mapping::new();
    match e {
        Etcd::Local(l) => {
            let mut local = image(&l.image);
            // dataDir has no omitempty in kubeadm's types.
            local.insert(
                "dataDir".into(),
                l.data_dir.to_string_lossy().as_ref().into(),
            );
            put(&mut local, "extraArgs", args(&l.extra_args));
            put(&mut local, "extraEnvs", envs(&l.extra_envs));
            put(&mut local, "peerCertSANs", strings(&l.peer_cert_sans));
            put(&mut local, "serverCertSANs", strings(&l.server_cert_sans));
            m.insert("local".into(), Value::Mapping(local));
        }
        Etcd::External(x) => {
            // None of these is omitempty.
            let mut ext = Mapping::new();
            ext.insert("caFile".into(), x.ca_file.as_str().into());
            ext.insert("certFile".into(), x.cert_file.as_str().into());
            ext.insert("endpoints".into(), strings(&x.endpoints));
            ext.insert("keyFile".into(), x.key_file.as_str().into());
            m.insert("external".into(), Value::Mapping(ext));
        }
    }
    m
}

/// Keys sorted at every level, as Go's YAML writers order them (kubeadm and client-go marshal
/// through JSON, whose encoder sorts map keys). Non-string keys sort by their YAML text.
pub fn sorted_keys(mapping: &Mapping) -> Mapping {
    let mut entries: Vec<(&Value, &Value)> = mapping.iter().collect();
    entries.sort_by_key(|(k, _)| key_text(k));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), sorted_value(v)))
        .collect()
}

fn sorted_value(value: &Value) -> Value {
    match value {
        Value::Mapping(m) => Value::Mapping(sorted_keys(m)),
        Value::Sequence(items) => Value::Sequence(items.iter().map(sorted_value).collect()),
        other => other.clone(),
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(k) => k.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

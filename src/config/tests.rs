//! Behaviour of the configuration API as a user meets it: documents in, a configuration or
//! an error naming the document, kind and field out.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::*;
use super::*;
use crate::cli::{InitArgs, JoinArgs};

fn host() -> HostFacts {
    HostFacts {
        hostname: "Node-A".into(),
        default_address: Some("192.0.2.50".parse().unwrap()),
    }
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn docs(yaml: &str) -> Result<Documents, ConfigError> {
    decode(&split_documents(yaml.as_bytes(), "test.yaml")?)
}

fn init_yaml(yaml: &str) -> Result<InitConfiguration, ConfigError> {
    init_from_documents(&docs(yaml)?, &InitArgs::default(), &host())
}

fn join_yaml(yaml: &str) -> Result<JoinConfiguration, ConfigError> {
    join_from_documents(&docs(yaml)?, &JoinArgs::default(), &host())
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

const INIT4: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n";
const CLUSTER4: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
const JOIN4: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n";
const HASH: &str = "sha256:7a4bb0d4c9a1d1ab7e5f8d8d7e4e0a9b6ad7e9a66bf47e4e1c1fa0b3c8a3e0f1";

fn join_with_discovery(discovery: &str) -> String {
    format!("{JOIN4}discovery:\n{discovery}")
}

fn good_join() -> String {
    join_with_discovery(&format!(
        "  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    caCertHashes: [\"{HASH}\"]\n"
    ))
}

#[track_caller]
fn assert_error(
    e: &ConfigError,
    document: Option<usize>,
    kind: Option<&str>,
    field: &str,
    words: &str,
) {
    assert_eq!(e.document, document, "{e}");
    assert_eq!(e.kind.as_deref(), kind, "{e}");
    assert_eq!(e.field.as_deref(), Some(field), "{e}");
    assert!(e.reason.contains(words), "{e}");
}

// ---------------------------------------------------------------------------------------
// Splitting and decoding

#[test]
fn empty_documents_are_skipped_but_counted() {
    let raw = split_documents(b"---\n# nothing\n---\nkind: A\n---\n\n---\nkind: B\n", "f").unwrap();
    let found: Vec<(usize, Option<&str>)> = raw.iter().map(|d| (d.index, d.kind())).collect();
    assert_eq!(found, vec![(2, Some("A")), (4, Some("B"))]);
    assert!(split_documents(b"", "f").unwrap().is_empty());
}

#[test]
fn invalid_yaml_names_origin_document_and_line() {
    let e = split_documents(b"a: 1\n---\nb: [1\nc: 2\n", "user-data part 1").unwrap_err();
    assert_eq!(e.origin, "user-data part 1");
    assert_eq!(e.document, Some(2));
    assert!(e.reason.contains("line"), "{e}");
}

#[test]
fn unknown_field_is_an_error_naming_document_kind_and_path() {
    let e = docs(&format!(
        "{CLUSTER4}---\n{INIT4}nodeRegistration:\n  nmae: x\n"
    ))
    .unwrap_err();
    assert_eq!(e.origin, "test.yaml");
    assert_error(
        &e,
        Some(2),
        Some("InitConfiguration"),
        "nodeRegistration.nmae",
        "unknown field",
    );
    assert!(
        e.to_string()
            .contains("test.yaml, document 2 (InitConfiguration), field nodeRegistration.nmae")
    );
}

#[test]
fn v1beta4_only_fields_are_unknown_in_v1beta3() {
    let e = docs("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nencryptionAlgorithm: RSA-2048\n")
        .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "encryptionAlgorithm",
        "unknown field",
    );
}

#[test]
fn wrong_api_version_is_an_error() {
    let e = docs("apiVersion: kubeadm.k8s.io/v1beta9\nkind: InitConfiguration\n").unwrap_err();
    assert_eq!(
        (e.document, e.kind.as_deref()),
        (Some(1), Some("InitConfiguration"))
    );
    assert!(e.reason.contains("unknown configuration kind"), "{e}");
    let e = docs("apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n").unwrap_err();
    assert!(
        e.reason.contains("old API spec") && e.reason.contains("v1.22"),
        "{e}"
    );
    let e = docs("apiVersion: kubeadm.k8s.io/v1beta4\nkind: Initconfiguration\n").unwrap_err();
    assert!(e.reason.contains("unknown configuration kind"), "{e}");
    let e = docs("kind: InitConfiguration\n").unwrap_err();
    assert!(e.reason.contains("apiVersion"), "{e}");
    let e = docs("- a\n- b\n").unwrap_err();
    assert!(e.reason.contains("mapping"), "{e}");
}

#[test]
fn two_init_configurations_are_an_error() {
    let e = docs(&format!("{INIT4}---\n{INIT4}")).unwrap_err();
    assert_eq!(
        (e.document, e.kind.as_deref()),
        (Some(2), Some("InitConfiguration"))
    );
    assert!(e.reason.contains("specified twice"), "{e}");
}

#[test]
fn v1beta3_and_v1beta4_documents_may_be_mixed_as_in_kubeadm() {
    let d = docs(&format!(
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: mixed\n---\n{INIT4}dryRun: true\n"
    ))
    .unwrap();
    let init = d.init.unwrap();
    assert_eq!(init.cluster.cluster_name, "mixed");
    assert!(init.dry_run);
    assert!(d.cluster_present);
}

#[test]
fn reset_and_upgrade_documents_are_ignored() {
    let d = docs(&format!(
        "{INIT4}---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\n"
    ))
    .unwrap();
    assert!(d.init.is_some());
}

#[test]
fn tags_nulls_and_types() {
    let e = docs(&format!("{INIT4}localAPIEndpoint:\n  bindPort: \"6443\"\n")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("localAPIEndpoint.bindPort"));
    // Go's decoder reads null as the zero value.
    let d = docs(&format!(
        "{CLUSTER4}apiServer:\n  extraArgs:\ncontrollerManager:\n"
    ))
    .unwrap();
    assert!(
        d.init
            .unwrap()
            .cluster
            .api_server
            .component
            .extra_args
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Full examples

#[test]
fn v1beta4_full_example_decodes_every_field() {
    let d = docs(&fixture("v1beta4-init-full.yaml")).unwrap();
    let init = d.init.clone().unwrap();
    let c = &init.cluster;
    assert_eq!(c.kubernetes_version.to_string(), "v1.33.4");
    assert_eq!(c.cluster_name, "prod");
    assert_eq!(
        c.control_plane_endpoint.as_deref(),
        Some("cp.example.com:6443")
    );
    assert_eq!(c.image_repository, "registry.example.com/k8s");
    assert_eq!(c.encryption_algorithm, EncryptionAlgorithm::EcdsaP256);
    assert_eq!(
        c.certificate_validity_period,
        Duration::from_secs(4380 * 3600)
    );
    assert_eq!(
        c.ca_certificate_validity_period,
        Duration::from_secs(43800 * 3600)
    );
    assert_eq!(
        c.networking.service_subnet.to_string(),
        "10.96.0.0/16,fd00:10:96::/112"
    );
    assert_eq!(c.networking.pod_subnet.as_ref().unwrap().0.len(), 2);
    assert_eq!(c.networking.dns_domain, "cluster.example");
    assert!(c.proxy_disabled);
    assert_eq!(
        c.feature_gates.get("ControlPlaneKubeletLocalMode"),
        Some(&true)
    );
    let Etcd::Local(etcd) = &c.etcd else {
        panic!("local etcd")
    };
    assert_eq!(etcd.data_dir, PathBuf::from("/var/lib/etcd-data"));
    assert_eq!(etcd.image.image_tag.as_deref(), Some("3.5.21-0"));
    assert_eq!(etcd.extra_envs[0].name, "ETCD_QUOTA_BACKEND_BYTES");
    assert_eq!(c.api_server.cert_sans.len(), 3);
    assert_eq!(c.api_server.component.extra_args[0].name, "audit-log-path");
    assert_eq!(
        c.api_server.component.extra_envs[0].value,
        "http://proxy.example.com:3128"
    );
    assert_eq!(
        c.api_server.component.extra_volumes[0].path_type,
        "DirectoryOrCreate"
    );
    assert!(c.scheduler.extra_volumes[0].read_only);
    assert_eq!(
        c.dns.image.image_repository.as_deref(),
        Some("registry.example.com/coredns")
    );

    assert_eq!(init.bootstrap_tokens.len(), 2);
    let t0 = &init.bootstrap_tokens[0];
    assert_eq!(t0.token.as_ref().unwrap().full(), "abcdef.0123456789abcdef");
    assert_eq!(t0.ttl, Some(Duration::from_secs(7200)));
    let t1 = &init.bootstrap_tokens[1];
    assert_eq!(
        (t1.ttl, t1.expires.as_deref()),
        (None, Some("2030-01-02T15:04:05Z"))
    );
    assert_eq!(t1.usages, ["signing"]);
    assert!(t1.groups.is_empty());
    let n = &init.node_registration;
    assert_eq!(n.name, "cp-1");
    assert_eq!(
        n.taints.as_ref().unwrap()[1].value.as_deref(),
        Some("infra")
    );
    assert_eq!(
        n.kubelet_extra_args[0],
        Arg {
            name: "v".into(),
            value: "2".into()
        }
    );
    assert_eq!(n.image_pull_policy, "Never");
    assert_eq!(init.local_api_endpoint.advertise_address, ip("192.0.2.10"));
    assert_eq!(init.local_api_endpoint.bind_port, 6444);
    assert_eq!(init.skip_phases, ["addon/kube-proxy"]);
    assert_eq!(init.timeouts.kubernetes_api_call, Duration::from_secs(90));
    assert_eq!(init.timeouts.etcd_api_call, Duration::from_secs(150));
    assert_eq!(
        init.kubelet.get("maxPods").and_then(|v| v.as_u64()),
        Some(200)
    );
    assert_eq!(
        init.kube_proxy.get("mode").and_then(|v| v.as_str()),
        Some("ipvs")
    );

    let boot = d.boot.unwrap();
    assert_eq!(boot.mode, BootMode::Auto);
    assert_eq!(boot.initializer.as_deref(), Some("cp-1"));
    assert_eq!(boot.deadlines.tls_bootstrap, Some(Duration::from_secs(150)));
    assert_eq!(boot.deadlines.total, Some(Duration::from_secs(1800)));
    assert!(!boot.start_kubelet);

    // And it validates end to end.
    let cfg = init_from_documents(
        &docs(&fixture("v1beta4-init-full.yaml")).unwrap(),
        &InitArgs::default(),
        &host(),
    )
    .unwrap();
    assert_eq!(cfg.node_registration.ignore_preflight_errors, ["swap"]);
}

/// The same cluster written in v1beta3 converts to the same model, except for what v1beta3
/// cannot say (it gets kubeadm's defaults instead).
#[test]
fn v1beta3_and_v1beta4_full_examples_convert_alike() {
    let mut v4 = init_yaml(&fixture("v1beta4-init-full.yaml")).unwrap();
    let v3 = init_yaml(&fixture("v1beta3-init-full.yaml")).unwrap();
    // What v1beta3 has no field for.
    v4.cluster.encryption_algorithm = EncryptionAlgorithm::Rsa2048;
    v4.cluster.certificate_validity_period = defaults::CERTIFICATE_VALIDITY;
    v4.cluster.ca_certificate_validity_period = defaults::CA_CERTIFICATE_VALIDITY;
    v4.cluster.proxy_disabled = false;
    v4.cluster.api_server.component.extra_envs.clear();
    if let Etcd::Local(l) = &mut v4.cluster.etcd {
        l.extra_envs.clear();
    }
    v4.timeouts = Timeouts {
        control_plane_component_health_check: Duration::from_secs(300),
        ..Timeouts::default()
    };
    v4.kubelet.clear();
    v4.kube_proxy.clear();
    // v1beta3 maps are sorted by name, as kubeadm converts them.
    v4.node_registration
        .kubelet_extra_args
        .sort_by(|a, b| a.name.cmp(&b.name));
    v4.cluster
        .controller_manager
        .extra_args
        .sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(v3, v4);

    let j4 = join_yaml(&fixture("v1beta4-join-full.yaml")).unwrap();
    let j3 = join_yaml(&fixture("v1beta3-join-full.yaml")).unwrap();
    assert_eq!(j3.timeouts.discovery, Duration::from_secs(600));
    assert_eq!(j4.timeouts.tls_bootstrap, Duration::from_secs(180));
    assert_eq!(
        j3,
        JoinConfiguration {
            timeouts: j3.timeouts.clone(),
            ..j4.clone()
        }
    );
    assert_eq!(j4.node_registration.name, "worker-7");
    assert_eq!(j4.node_registration.taints, Some(vec![]));
    assert_eq!(j4.tls_bootstrap_token.as_ref().unwrap().id, "123456");
    let Discovery::BootstrapToken(b) = &j4.discovery else {
        panic!("token discovery")
    };
    assert_eq!(b.api_server_endpoint, "cp.example.com:6443");
    let cp = j4.control_plane.as_ref().unwrap();
    assert_eq!(cp.local_api_endpoint.advertise_address, ip("192.0.2.11"));
}

// ---------------------------------------------------------------------------------------
// kubeadm-config ConfigMap

#[test]
fn kubeadm_config_of_defaults_is_what_kubeadm_uploads() {
    let cfg = defaults::cluster_configuration();
    assert_eq!(
        cluster_configuration_yaml(&cfg),
        fixture("kubeadm-config-defaults-v1beta4.yaml")
    );
}

#[test]
fn kubeadm_config_of_test_defaults_is_what_kubeadm_uploads() {
    let mut cfg = crate::cluster::tests_support::cluster_config();
    cfg.networking.pod_subnet = None;
    assert_eq!(
        cluster_configuration_yaml(&cfg),
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
fn kubeadm_config_set_fields_appear_and_external_etcd_keeps_empty_paths() {
    let mut cfg = crate::cluster::tests_support::cluster_config();
    cfg.control_plane_endpoint = Some("cp.example:6443".into());
    cfg.feature_gates
        .insert("WaitForAllControlPlaneComponents".into(), false);
    cfg.api_server.cert_sans = vec!["10.0.0.1".into()];
    cfg.api_server.component.extra_args = vec![Arg {
        name: "v".into(),
        value: "2".into(),
    }];
    cfg.etcd = Etcd::External(ExternalEtcd {
        endpoints: vec!["https://10.0.0.5:2379".into()],
        ca_file: "/etc/etcd/ca.pem".into(),
        cert_file: String::new(),
        key_file: String::new(),
    });
    cfg.proxy_disabled = true;
    let doc: serde_yaml::Value = serde_yaml::from_str(&cluster_configuration_yaml(&cfg)).unwrap();
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

#[test]
fn kubeadm_config_round_trips_and_holds_no_secrets() {
    let init = init_yaml(&fixture("v1beta4-init-full.yaml")).unwrap();
    let yaml = cluster_configuration_yaml(&init.cluster);
    assert!(!yaml.contains("0123456789abcdef"), "{yaml}");
    assert!(yaml.contains("encryptionAlgorithm: ECDSA-P256"), "{yaml}");
    assert!(
        yaml.contains("- name: audit-log-path\n    value: /var/log/kubernetes/audit.log"),
        "{yaml}"
    );
    let back = cluster_configuration_from_yaml(&yaml, "kubeadm-config").unwrap();
    assert_eq!(back, init.cluster);

    let mut external = defaults::cluster_configuration();
    external.etcd = Etcd::External(ExternalEtcd {
        endpoints: vec!["http://127.0.0.1:2379".into()],
        ca_file: String::new(),
        cert_file: String::new(),
        key_file: String::new(),
    });
    let yaml = cluster_configuration_yaml(&external);
    assert!(yaml.contains("external:\n    caFile: ''\n    certFile: ''\n    endpoints:\n    - http://127.0.0.1:2379\n    keyFile: ''"), "{yaml}");
    assert_eq!(
        cluster_configuration_from_yaml(&yaml, "x").unwrap(),
        external
    );
}

#[test]
fn golden_v1_19_kubeadm_config_decodes() {
    let json: serde_json::Value =
        serde_json::from_str(&fixture("golden-k8s-v1.19-kube-system-configmaps.json")).unwrap();
    let item = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "kubeadm-config")
        .unwrap();
    let text = item["data"]["ClusterConfiguration"].as_str().unwrap();
    let c = cluster_configuration_from_yaml(text, "kube-system/kubeadm-config").unwrap();
    assert_eq!(c.kubernetes_version.to_string(), "v1.19.0");
    assert_eq!(c.image_repository, "k8s.gcr.io");
    assert_eq!(c.control_plane_endpoint.as_deref(), Some("127.0.0.1:6443"));
    assert_eq!(c.api_server.cert_sans, ["127.0.0.1", "localhost"]);
    assert_eq!(c.networking.service_subnet.to_string(), "10.96.0.0/12");
    let Etcd::External(e) = &c.etcd else {
        panic!("external etcd")
    };
    assert_eq!(e.endpoints, ["http://127.0.0.1:2379"]);
    assert_eq!(c.encryption_algorithm, EncryptionAlgorithm::Rsa2048);
}

#[test]
fn kubeadm_config_from_a_newer_kubeadm_drops_unknown_fields() {
    let yaml = format!("{CLUSTER4}clusterName: c\nfutureField: 1\napiServer:\n  futureNested: x\n");
    let c = cluster_configuration_from_yaml(&yaml, "cm").unwrap();
    assert_eq!(c.cluster_name, "c");
    let e = cluster_configuration_from_yaml(INIT4, "cm").unwrap_err();
    assert!(e.reason.contains("ClusterConfiguration"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Defaults and host facts

#[test]
fn defaults_as_kubeadm_with_host_facts() {
    let cfg = load_init(&InitArgs::default(), &host()).unwrap();
    assert_eq!(cfg.node_registration.name, "node-a");
    assert_eq!(cfg.local_api_endpoint.advertise_address, ip("192.0.2.50"));
    assert_eq!(cfg.local_api_endpoint.bind_port, 6443);
    assert_eq!(cfg.cluster, defaults::cluster_configuration());
    assert_eq!(cfg.bootstrap_tokens.len(), 1);
    let t = &cfg.bootstrap_tokens[0];
    assert_eq!(t.token, None);
    assert_eq!(
        t.description,
        "The default bootstrap token generated by 'kubeadm init'."
    );
    assert_eq!(t.ttl, Some(Duration::from_secs(86_400)));
    assert_eq!(cfg.node_registration.taints, None);
    assert!(!cfg.dry_run && !cfg.upload_certs);
}

#[test]
fn no_default_route_and_no_address_is_an_error_saying_what_to_set() {
    let facts = HostFacts {
        hostname: "n".into(),
        default_address: None,
    };
    let e = load_init(&InitArgs::default(), &facts).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("--apiserver-advertise-address"));
    assert!(e.reason.contains("default route"), "{e}");
}

#[test]
fn a_host_name_that_is_not_a_node_name_says_so() {
    let facts = HostFacts {
        hostname: "bad_host".into(),
        ..host()
    };
    let e = load_init(&InitArgs::default(), &facts).unwrap_err();
    assert!(e.reason.contains("host name"), "{e}");
}

#[test]
fn dynamic_defaults_port_sans_and_cri_scheme() {
    let cfg = init_yaml(&format!(
        "{INIT4}localAPIEndpoint:\n  bindPort: 7443\nnodeRegistration:\n  criSocket: /run/crio/crio.sock\n---\n{CLUSTER4}controlPlaneEndpoint: lb.example.com\napiServer:\n  certSANs: [API.Example.com]\n"
    ))
    .unwrap();
    assert_eq!(
        cfg.cluster.control_plane_endpoint.as_deref(),
        Some("lb.example.com:7443")
    );
    assert_eq!(cfg.cluster.api_server.cert_sans, ["api.example.com"]);
    assert_eq!(
        cfg.node_registration.cri_socket,
        "unix:///run/crio/crio.sock"
    );
}

// ---------------------------------------------------------------------------------------
// Validation, one rule per test

#[test]
fn bad_cidr() {
    let e = init_yaml(&format!(
        "{CLUSTER4}networking:\n  serviceSubnet: 10.96.0.0/33\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "networking.serviceSubnet",
        "not a subnet",
    );
}

#[test]
fn dual_stack_needs_two_families() {
    let e = init_yaml(&format!(
        "{CLUSTER4}networking:\n  podSubnet: 10.244.0.0/16,10.245.0.0/16\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "networking.podSubnet",
        "dual-stack",
    );
}

#[test]
fn service_subnet_too_large_or_small() {
    let e = init_yaml(&format!(
        "{CLUSTER4}networking:\n  serviceSubnet: 10.0.0.0/8\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "networking.serviceSubnet",
        "too large",
    );
    let e = init_yaml(&format!(
        "{CLUSTER4}networking:\n  serviceSubnet: 10.96.0.0/30\n"
    ))
    .unwrap_err();
    assert!(e.reason.contains("too small"), "{e}");
}

#[test]
fn pod_subnet_smaller_than_node_mask() {
    let e = init_yaml(&format!(
        "{CLUSTER4}networking:\n  podSubnet: 10.244.0.0/25\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "networking.podSubnet",
        "node subnet",
    );
    // Without node CIDR allocation the mask does not matter.
    init_yaml(&format!("{CLUSTER4}networking:\n  podSubnet: 10.244.0.0/25\ncontrollerManager:\n  extraArgs:\n  - name: allocate-node-cidrs\n    value: \"false\"\n")).unwrap();
}

#[test]
fn bad_node_name() {
    let e = init_yaml(&format!("{INIT4}nodeRegistration:\n  name: node_1\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "nodeRegistration.name",
        "RFC 1123",
    );
}

#[test]
fn port_out_of_range() {
    let e = init_yaml(&format!("{INIT4}localAPIEndpoint:\n  bindPort: 70000\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "localAPIEndpoint.bindPort",
        "between 1 and 65535",
    );
}

#[test]
fn bad_control_plane_endpoint() {
    let e = init_yaml(&format!("{CLUSTER4}controlPlaneEndpoint: \"lb:99999\"\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "controlPlaneEndpoint",
        "endpoint is not valid",
    );
}

#[test]
fn bad_advertise_address() {
    let e = init_yaml(&format!(
        "{INIT4}localAPIEndpoint:\n  advertiseAddress: 10.0.0\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "localAPIEndpoint.advertiseAddress",
        "IPv4 or IPv6",
    );
    let e = init_yaml(&format!(
        "{INIT4}localAPIEndpoint:\n  advertiseAddress: 224.0.0.1\n"
    ))
    .unwrap_err();
    assert!(e.reason.contains("bind address"), "{e}");
    let e = init_yaml(&format!(
        "{INIT4}localAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n"
    ))
    .unwrap_err();
    assert!(e.reason.contains("loopback"), "{e}");
}

#[test]
fn bad_cert_san() {
    let e = init_yaml(&format!(
        "{CLUSTER4}apiServer:\n  certSANs: [\"bad_name\"]\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "apiServer.certSANs",
        "altname",
    );
}

#[test]
fn unsupported_kubernetes_version() {
    let e = init_yaml(&format!("{CLUSTER4}kubernetesVersion: v1.29.0\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "kubernetesVersion",
        "v1.31 to v1.35",
    );
    let e = init_yaml(&format!("{CLUSTER4}kubernetesVersion: stable-1\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "kubernetesVersion",
        "name a release",
    );
}

#[test]
fn bad_token() {
    let e = init_yaml(&format!(
        "{INIT4}bootstrapTokens:\n- token: abcdef.SECRETSECRETSECRE\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "bootstrapTokens[0].token",
        "invalid",
    );
    assert!(!e.to_string().contains("SECRET"), "{e}");
}

#[test]
fn token_ttl_and_expires_exclusive_and_usages_known() {
    let e = init_yaml(&format!(
        "{INIT4}bootstrapTokens:\n- ttl: 1h\n  expires: \"2030-01-01T00:00:00Z\"\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "bootstrapTokens[0]",
        "mutually exclusive",
    );
    let e = init_yaml(&format!(
        "{INIT4}bootstrapTokens:\n- usages: [signing, sudo]\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "bootstrapTokens[0].usages",
        "sudo",
    );
    let e = init_yaml(&format!(
        "{INIT4}bootstrapTokens:\n- usages: [signing]\n  groups: [\"system:bootstrappers:x\"]\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "bootstrapTokens[0].groups",
        "authentication",
    );
}

#[test]
fn bad_certificate_key_is_refused_without_echo() {
    let e = init_yaml(&format!("{INIT4}certificateKey: notHEXsecretvalue\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "certificateKey",
        "64 hex",
    );
    assert!(!e.to_string().contains("notHEXsecretvalue"));
}

#[test]
fn bad_taint_effect() {
    let e = init_yaml(&format!(
        "{INIT4}nodeRegistration:\n  taints:\n  - key: a\n    effect: NoWay\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "nodeRegistration.taints[0].effect",
        "NoSchedule",
    );
}

#[test]
fn bad_pull_policy_and_cri_socket() {
    let e = init_yaml(&format!(
        "{INIT4}nodeRegistration:\n  imagePullPolicy: Sometimes\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "nodeRegistration.imagePullPolicy",
        "pull policy",
    );
    let e = init_yaml(&format!(
        "{INIT4}nodeRegistration:\n  criSocket: tcp://1.2.3.4:5\n"
    ))
    .unwrap_err();
    assert!(e.to_string().contains("criSocket"), "{e}");
}

#[test]
fn etcd_local_and_external_are_exclusive() {
    let e = init_yaml(&format!(
        "{CLUSTER4}etcd:\n  local: {{}}\n  external:\n    endpoints: [\"https://e:2379\"]\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "etcd",
        "mutually exclusive",
    );
    let e = init_yaml(&format!(
        "{CLUSTER4}etcd:\n  external:\n    endpoints: [\"http://e:2379\"]\n    caFile: /ca.crt\n"
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "etcd.external.endpoints",
        "HTTPS",
    );
}

#[test]
fn bad_encryption_algorithm() {
    let e = init_yaml(&format!("{CLUSTER4}encryptionAlgorithm: DSA-1024\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("ClusterConfiguration"),
        "encryptionAlgorithm",
        "ECDSA-P384",
    );
    assert_eq!(
        init_yaml(&format!("{CLUSTER4}encryptionAlgorithm: ECDSA-P384\n"))
            .unwrap()
            .cluster
            .encryption_algorithm,
        EncryptionAlgorithm::EcdsaP384
    );
}

#[test]
fn patches_are_refused_rather_than_ignored() {
    let e = init_yaml(&format!("{INIT4}patches:\n  directory: /etc/patches\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("InitConfiguration"),
        "patches.directory",
        "not supported",
    );
}

#[test]
fn ignore_all_with_others_is_an_error() {
    let e = init_yaml(&format!(
        "{INIT4}nodeRegistration:\n  ignorePreflightErrors: [all, Swap]\n"
    ))
    .unwrap_err();
    assert!(e.reason.contains("'all'"), "{e}");
}

#[test]
fn missing_discovery_credential() {
    let e = join_yaml(&join_with_discovery(
        "  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n",
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery.bootstrapToken.caCertHashes",
        "unsafeSkipCAVerification",
    );
    let ok = join_yaml(&join_with_discovery(
        "  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n",
    ))
    .unwrap();
    assert_eq!(
        ok.tls_bootstrap_token.unwrap().full(),
        "abcdef.0123456789abcdef"
    );
}

#[test]
fn discovery_needs_exactly_one_method() {
    let e = join_yaml(&format!("{JOIN4}caCertPath: /etc/kubernetes/pki/ca.crt\n")).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery",
        "must be set",
    );
    let e = join_yaml(&join_with_discovery(&format!(
        "  bootstrapToken:\n    apiServerEndpoint: a:1\n    token: abcdef.0123456789abcdef\n    caCertHashes: [\"{HASH}\"]\n  file:\n    kubeConfigPath: /etc/k.conf\n"
    )))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery",
        "cannot both",
    );
}

#[test]
fn bad_join_token() {
    let e = join_yaml(&join_with_discovery(&format!(
        "  bootstrapToken:\n    apiServerEndpoint: a:1\n    token: abcdef\n    caCertHashes: [\"{HASH}\"]\n"
    )))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery.bootstrapToken.token",
        "invalid",
    );
}

#[test]
fn bad_hash() {
    let e = join_yaml(&join_with_discovery(
        "  bootstrapToken:\n    apiServerEndpoint: a:6443\n    token: abcdef.0123456789abcdef\n    caCertHashes: [\"sha256:1234\"]\n",
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery.bootstrapToken.caCertHashes[0]",
        "64 hex",
    );
}

#[test]
fn api_server_endpoint_needs_a_port() {
    let e = join_yaml(&join_with_discovery(&format!(
        "  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1\n    token: abcdef.0123456789abcdef\n    caCertHashes: [\"{HASH}\"]\n"
    )))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery.bootstrapToken.apiServerEndpoint",
        "missing port",
    );
}

#[test]
fn file_discovery_must_be_https_or_absolute() {
    let e = join_yaml(&join_with_discovery(
        "  file:\n    kubeConfigPath: http://x/k.conf\n",
    ))
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "discovery.file.kubeConfigPath",
        "https",
    );
    let j = join_yaml(&join_with_discovery(
        "  file:\n    kubeConfigPath: file:///etc/kubernetes/discovery.conf\n",
    ))
    .unwrap();
    assert_eq!(
        j.discovery,
        Discovery::File("/etc/kubernetes/discovery.conf".into())
    );
    assert_eq!(j.tls_bootstrap_token, None);
}

#[test]
fn ca_cert_path_must_be_an_absolute_crt() {
    let e = join_yaml(&format!("{}caCertPath: ca.pem\n", good_join())).unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("JoinConfiguration"),
        "caCertPath",
        "absolute",
    );
}

#[test]
fn join_defaults() {
    let j = join_yaml(&good_join()).unwrap();
    assert_eq!(j.ca_cert_path, PathBuf::from("/etc/kubernetes/pki/ca.crt"));
    assert_eq!(j.node_registration.name, "node-a");
    assert_eq!(
        j.node_registration.cri_socket,
        "unix:///var/run/containerd/containerd.sock"
    );
    assert_eq!(j.timeouts, Timeouts::default());
    assert_eq!(j.control_plane, None);
}

#[test]
fn boot_configuration_rules() {
    let d = docs("apiVersion: kubeboot.io/v1alpha1\nkind: BootConfiguration\n").unwrap();
    assert_eq!(d.boot.unwrap(), BootConfiguration::default());
    let e = docs("apiVersion: kubeboot.io/v1alpha1\nkind: BootConfiguration\nmode: sometimes\n")
        .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("BootConfiguration"),
        "mode",
        "init, join or auto",
    );
    let e = docs(
        "apiVersion: kubeboot.io/v1alpha1\nkind: BootConfiguration\ninitializer: not_a_name\n",
    )
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("BootConfiguration"),
        "initializer",
        "node name or an IP",
    );
    let e = docs(
        "apiVersion: kubeboot.io/v1alpha1\nkind: BootConfiguration\ndeadlines:\n  total: 1d\n",
    )
    .unwrap_err();
    assert_error(
        &e,
        Some(1),
        Some("BootConfiguration"),
        "deadlines.total",
        "unit",
    );
    let d = docs("apiVersion: kubeboot.io/v1alpha1\nkind: BootConfiguration\nmode: join\ninitializer: 10.0.0.1\n").unwrap();
    assert_eq!(d.boot.unwrap().mode, BootMode::Join);
}

#[test]
fn unknown_kubelet_fields_are_kept_and_reported() {
    let d = docs("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 10\nmaxPodz: 11\n").unwrap();
    let kubelet = d.kubelet.unwrap();
    assert_eq!(unknown_kubelet_fields(&kubelet), ["maxPodz"]);
    assert_eq!(kubelet.len(), 4);
}

#[test]
fn user_data_with_only_a_boot_document_inits_with_defaults() {
    let d = docs("apiVersion: kubeboot.io/v1alpha1\nkind: BootConfiguration\nmode: init\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 10\n").unwrap();
    let cfg = init_from_documents(&d, &InitArgs::default(), &host()).unwrap();
    assert_eq!(cfg.cluster, defaults::cluster_configuration());
    assert_eq!(
        cfg.kubelet.get("maxPods").and_then(|v| v.as_u64()),
        Some(10)
    );
    let e = join_from_documents(&d, &JoinArgs::default(), &host()).unwrap_err();
    assert!(e.reason.contains("no JoinConfiguration"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Flags

#[test]
fn init_flags_fill_the_defaults() {
    let args = InitArgs {
        node_name: Some("CP-9".into()),
        apiserver_advertise_address: Some("10.1.2.3".into()),
        apiserver_bind_port: Some(8443),
        control_plane_endpoint: Some("lb.example.com".into()),
        service_cidr: Some("10.100.0.0/16".into()),
        pod_network_cidr: Some("10.200.0.0/16".into()),
        service_dns_domain: Some("corp.local".into()),
        apiserver_cert_extra_sans: vec!["api.corp".into(), "10.9.9.9".into()],
        cert_dir: Some("/etc/pki-k8s".into()),
        kubernetes_version: Some("v1.32.1".into()),
        image_repository: Some("mirror.local/k8s".into()),
        cri_socket: Some("unix:///run/containerd/containerd.sock".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        token_ttl: Some("0".into()),
        upload_certs: true,
        certificate_key: Some("ab".repeat(32)),
        skip_phases: vec!["addon/kube-proxy".into()],
        ignore_preflight_errors: vec!["Swap".into(), "NumCPU".into()],
        dry_run: true,
        ..Default::default()
    };
    let cfg = load_init(&args, &host()).unwrap();
    assert_eq!(cfg.node_registration.name, "cp-9");
    assert_eq!(cfg.local_api_endpoint.advertise_address, ip("10.1.2.3"));
    assert_eq!(cfg.local_api_endpoint.bind_port, 8443);
    assert_eq!(
        cfg.cluster.control_plane_endpoint.as_deref(),
        Some("lb.example.com:8443")
    );
    assert_eq!(
        cfg.cluster.networking.service_subnet.to_string(),
        "10.100.0.0/16"
    );
    assert_eq!(
        cfg.cluster.networking.pod_subnet.unwrap().to_string(),
        "10.200.0.0/16"
    );
    assert_eq!(cfg.cluster.networking.dns_domain, "corp.local");
    assert_eq!(cfg.cluster.api_server.cert_sans, ["api.corp", "10.9.9.9"]);
    assert_eq!(cfg.cluster.certificates_dir, PathBuf::from("/etc/pki-k8s"));
    assert_eq!(cfg.cluster.kubernetes_version.to_string(), "v1.32.1");
    assert_eq!(cfg.cluster.image_repository, "mirror.local/k8s");
    assert_eq!(
        cfg.node_registration.cri_socket,
        "unix:///run/containerd/containerd.sock"
    );
    let t = &cfg.bootstrap_tokens[0];
    assert_eq!(t.token.as_ref().unwrap().id, "abcdef");
    assert_eq!(t.ttl, Some(Duration::ZERO));
    assert!(cfg.upload_certs && cfg.dry_run);
    assert_eq!(cfg.certificate_key, Some("ab".repeat(32)));
    assert_eq!(cfg.skip_phases, ["addon/kube-proxy"]);
    assert_eq!(
        cfg.node_registration.ignore_preflight_errors,
        ["numcpu", "swap"]
    );
}

#[test]
fn bad_init_flags_name_the_flag() {
    let args = InitArgs {
        service_cidr: Some("10.96.0.0".into()),
        ..Default::default()
    };
    let e = load_init(&args, &host()).unwrap_err();
    assert_eq!(
        (e.origin.as_str(), e.field.as_deref()),
        ("command line", Some("--service-cidr"))
    );
    let args = InitArgs {
        token_ttl: Some("1 day".into()),
        ..Default::default()
    };
    assert_eq!(
        load_init(&args, &host()).unwrap_err().field.as_deref(),
        Some("--token-ttl")
    );
    let args = InitArgs {
        node_name: Some("a_b".into()),
        ..Default::default()
    };
    assert_eq!(
        load_init(&args, &host()).unwrap_err().field.as_deref(),
        Some("--node-name")
    );
    let args = InitArgs {
        token: Some("nope".into()),
        ..Default::default()
    };
    assert_eq!(
        load_init(&args, &host()).unwrap_err().field.as_deref(),
        Some("--token")
    );
}

fn config_file(yaml: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, yaml.as_bytes()).unwrap();
    f
}

#[test]
fn config_file_and_the_flags_kubeadm_allows_beside_it() {
    let f = config_file(&format!(
        "{INIT4}dryRun: false\nskipPhases: [preflight]\nnodeRegistration:\n  name: from-file\n  ignorePreflightErrors: [Swap]\n"
    ));
    let args = InitArgs {
        config: Some(f.path().to_path_buf()),
        node_name: Some("From-Flag".into()),
        ignore_preflight_errors: vec!["NumCPU".into(), "swap".into()],
        skip_phases: vec!["addon/coredns".into()],
        dry_run: true,
        upload_certs: true,
        ..Default::default()
    };
    let cfg = load_init(&args, &host()).unwrap();
    assert_eq!(cfg.node_registration.name, "from-flag");
    assert_eq!(
        cfg.node_registration.ignore_preflight_errors,
        ["numcpu", "swap"]
    );
    assert_eq!(cfg.skip_phases, ["addon/coredns"]);
    assert!(cfg.dry_run && cfg.upload_certs);
    // Without --skip-phases the file's list stands.
    let args = InitArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    };
    assert_eq!(
        load_init(&args, &host()).unwrap().skip_phases,
        ["preflight"]
    );
}

#[test]
fn config_file_refuses_other_flags() {
    let f = config_file(INIT4);
    let args = InitArgs {
        config: Some(f.path().to_path_buf()),
        service_cidr: Some("10.0.0.0/16".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        ..Default::default()
    };
    let e = load_init(&args, &host()).unwrap_err();
    assert_eq!(e.origin, f.path().display().to_string());
    assert!(
        e.reason
            .contains("can not mix '--config' with arguments [service-cidr token]"),
        "{e}"
    );
    let args = JoinArgs {
        config: Some(f.path().to_path_buf()),
        control_plane: true,
        ..Default::default()
    };
    let e = load_join(&args, &host()).unwrap_err();
    assert!(e.reason.contains("[control-plane]"), "{e}");
}

#[test]
fn config_file_must_hold_init_or_cluster_for_init() {
    let f = config_file(&good_join());
    let args = InitArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    };
    let e = load_init(&args, &host()).unwrap_err();
    assert!(
        e.reason
            .contains("no InitConfiguration or ClusterConfiguration"),
        "{e}"
    );
    let args = InitArgs {
        config: Some("/nonexistent/kubeboot.yaml".into()),
        ..Default::default()
    };
    let e = load_init(&args, &host()).unwrap_err();
    assert_eq!(e.origin, "/nonexistent/kubeboot.yaml");
    assert!(e.reason.contains("unable to read"), "{e}");
}

#[test]
fn join_token_flag_sets_both_tokens_and_endpoint_argument_sets_the_server() {
    let args = JoinArgs {
        api_server_endpoint: Some("10.0.0.1:6443".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        discovery_token_ca_cert_hash: vec![HASH.into()],
        ..Default::default()
    };
    let j = load_join(&args, &host()).unwrap();
    let Discovery::BootstrapToken(b) = &j.discovery else {
        panic!("token discovery")
    };
    assert_eq!(b.api_server_endpoint, "10.0.0.1:6443");
    assert_eq!(b.token.full(), "abcdef.0123456789abcdef");
    assert_eq!(b.ca_cert_hashes, [HASH]);
    assert_eq!(
        j.tls_bootstrap_token.unwrap().full(),
        "abcdef.0123456789abcdef"
    );

    // The specific flags win over --token.
    let args = JoinArgs {
        tls_bootstrap_token: Some("123456.abcdefabcdefabcd".into()),
        ..args
    };
    let j = load_join(&args, &host()).unwrap();
    assert_eq!(j.tls_bootstrap_token.unwrap().id, "123456");
}

#[test]
fn join_flags_for_file_discovery_and_control_plane() {
    let args = JoinArgs {
        discovery_file: Some("https://example.com/cluster-info.yaml".into()),
        tls_bootstrap_token: Some("abcdef.0123456789abcdef".into()),
        control_plane: true,
        certificate_key: Some("cd".repeat(32)),
        apiserver_bind_port: Some(7443),
        node_name: Some("cp-2".into()),
        dry_run: true,
        ..Default::default()
    };
    let j = load_join(&args, &host()).unwrap();
    assert_eq!(
        j.discovery,
        Discovery::File("https://example.com/cluster-info.yaml".into())
    );
    let cp = j.control_plane.unwrap();
    assert_eq!(cp.local_api_endpoint.advertise_address, ip("192.0.2.50"));
    assert_eq!(cp.local_api_endpoint.bind_port, 7443);
    assert_eq!(cp.certificate_key, Some("cd".repeat(32)));
    assert!(j.dry_run);
}

#[test]
fn join_flag_errors_name_the_flag() {
    let e = load_join(&JoinArgs::default(), &host()).unwrap_err();
    assert_eq!(
        (e.origin.as_str(), e.field.as_deref()),
        ("command line", None)
    );
    assert!(e.reason.contains("--discovery-file"), "{e}");
    let args = JoinArgs {
        api_server_endpoint: Some("10.0.0.1:6443".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        ..Default::default()
    };
    let e = load_join(&args, &host()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("--discovery-token-ca-cert-hash"));
    let args = JoinArgs {
        api_server_endpoint: Some("10.0.0.1:6443".into()),
        ..Default::default()
    };
    let e = load_join(&args, &host()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("--discovery-token or --token"));
}

#[test]
fn join_config_with_an_endpoint_argument_is_refused() {
    let f = config_file(&good_join());
    let args = JoinArgs {
        config: Some(f.path().to_path_buf()),
        api_server_endpoint: Some("10.9.9.9:6443".into()),
        ..Default::default()
    };
    let e = load_join(&args, &host()).unwrap_err();
    assert!(e.reason.contains("apiServerEndpoint"), "{e}");
    let args = JoinArgs {
        config: Some(f.path().to_path_buf()),
        node_name: Some("w-1".into()),
        skip_phases: vec!["preflight".into()],
        ..Default::default()
    };
    let j = load_join(&args, &host()).unwrap();
    assert_eq!(j.node_registration.name, "w-1");
    assert_eq!(j.skip_phases, ["preflight"]);
}

#[test]
fn a_flag_set_beside_the_config_is_blamed_on_the_flag() {
    let d = docs(INIT4).unwrap();
    let args = InitArgs {
        node_name: Some("bad_name".into()),
        ..Default::default()
    };
    let e = init_from_documents(&d, &args, &host()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("--node-name"));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let j = join_yaml(&fixture("v1beta4-join-full.yaml")).unwrap();
    let i = init_yaml(&fixture("v1beta4-init-full.yaml")).unwrap();
    let d = docs(&fixture("v1beta4-init-full.yaml")).unwrap();
    for debug in [format!("{j:?}"), format!("{i:?}"), format!("{d:?}")] {
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(!debug.contains("abcdefabcdefabcd"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
    // Undecoded documents show where they came from and their kind, no field at all.
    let raw = split_documents(fixture("v1beta4-init-full.yaml").as_bytes(), "x").unwrap();
    let debug = format!("{raw:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(!debug.contains("abcdefabcdefabcd"), "{debug}");
    assert!(
        debug.contains("kind: Some(\"InitConfiguration\")"),
        "{debug}"
    );
}

#[test]
fn a_discovery_file_url_is_shown_without_its_credentials() {
    let url = "https://u:s3cr3t@h/discovery.yaml?X-Amz-Signature=s3cr3t";
    let j = join_yaml(&join_with_discovery(&format!(
        "  file:\n    kubeConfigPath: {url}\n"
    )))
    .unwrap();
    assert_eq!(j.discovery, Discovery::File(url.into()));
    let debug = format!("{j:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(
        debug.contains("https://h/discovery.yaml?<redacted>"),
        "{debug}"
    );
    let e = join_yaml(&join_with_discovery(
        "  file:\n    kubeConfigPath: http://h/d.yaml?sig=s3cr3t\n",
    ))
    .unwrap_err();
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    assert!(e.to_string().contains("must be https"), "{e}");
}

#[test]
fn a_token_in_the_wrong_place_is_not_echoed() {
    let secret = "0123456789abcdef";
    for (yaml, field) in [
        (
            format!("{INIT4}bootstrapTokens: [\"abcdef.{secret}\"]\n"),
            "bootstrapTokens[0]",
        ),
        (
            format!("{JOIN4}discovery:\n  bootstrapToken: \"abcdef.{secret}\"\n"),
            "discovery.bootstrapToken",
        ),
        (
            format!("{JOIN4}discovery:\n  tlsBootstrapToken: [abcdef.{secret}]\n"),
            "discovery.tlsBootstrapToken",
        ),
        (
            format!("{INIT4}certificateKey: {{key: {secret}{secret}}}\n"),
            "certificateKey",
        ),
    ] {
        let e = docs(&yaml).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.reason.contains("invalid type"), "{e}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn split_documents_at_most_counts_empty_documents_too() {
    let yaml = "kind: A\n---\n---\nkind: B\n";
    let docs = split_documents_at_most(yaml.as_bytes(), "x", 3).unwrap();
    assert_eq!(docs.iter().map(|d| d.index).collect::<Vec<_>>(), [1, 3]);
    let e = split_documents_at_most(yaml.as_bytes(), "x", 2).unwrap_err();
    assert_eq!(e.reason, "more than 2 YAML documents");
}

#[test]
fn sorted_keys_orders_every_level_as_go_writes_yaml() {
    let doc: serde_yaml::Mapping =
        serde_yaml::from_str("b: 1\na:\n  z: [ {y: 1, x: 2} ]\n  c: 3\n").unwrap();
    assert_eq!(
        serde_yaml::to_string(&sorted_keys(&doc)).unwrap(),
        "a:\n  c: 3\n  z:\n  - x: 2\n    y: 1\nb: 1\n"
    );
}

#[test]
fn a_token_typed_as_an_endpoint_is_not_echoed() {
    let token = "abcdef.0123456789abcdef";
    let err = validation::split_host_port(token).unwrap_err();
    assert!(err.contains("<redacted>") && !err.contains(token), "{err}");
    let err = validation::split_host_port(&format!("10.0.0.1:{token}")).unwrap_err();
    assert!(!err.contains(token), "{err}");
    let err = validation::split_host_port("10.0.0.1").unwrap_err();
    assert!(err.contains("address 10.0.0.1: missing port"), "{err}");
}

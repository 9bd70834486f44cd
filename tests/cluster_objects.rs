//! The API objects of `kubeadm init`'s online phases: golden YAML per phase
//! (`tests/golden/cluster/`, rewritten with `KUBEBOOT_BLESS=1`), and the real-cluster vectors in
//! `../shared/golden/k8s-v1.19` (cluster-info kubeconfig byte for byte, bootstrap token Secret
//! data field by field).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kubeboot::cluster::{self, CertificateKey, JoinCommand, Object, SecretOwner};
use kubeboot::config::defaults;
use kubeboot::config::model::*;
use kubeboot::fs::{Root, mode};
use time::macros::datetime;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/golden/k8s-v1.19");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/cluster");

fn shared(name: &str) -> Vec<u8> {
    let path = Path::new(SHARED).join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "real-cluster vector {} is missing ({e}): shared/ must sit beside the repository",
            path.display()
        )
    })
}

/// The object decoded into its k8s-openapi type, to assert on typed fields.
fn typed<K>(object: &Object) -> K
where
    K: k8s_openapi::Resource + serde::de::DeserializeOwned,
{
    assert!(object.is::<K>(), "{object:?} is not a {}", K::KIND);
    serde_json::from_value(object.body().clone()).unwrap()
}

/// Compares with `tests/golden/cluster/<name>`, or rewrites it when `KUBEBOOT_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(GOLDEN).join(name);
    if std::env::var_os("KUBEBOOT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(GOLDEN).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with KUBEBOOT_BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output first at line {}:\n expected: {:?}\n   actual: {:?}\n\
             (KUBEBOOT_BLESS=1 rewrites it if the change is intended)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn cluster_config(version: &str) -> ClusterConfiguration {
    let mut cluster = defaults::cluster_configuration();
    cluster.kubernetes_version = version.parse().unwrap();
    cluster.control_plane_endpoint = Some("cp.example.internal".into());
    cluster.networking.pod_subnet = Some("10.244.0.0/16".parse().unwrap());
    cluster
}

fn local_endpoint() -> ApiEndpoint {
    ApiEndpoint {
        advertise_address: Some("192.168.0.10".parse().unwrap()),
        bind_port: 6443,
    }
}

fn golden_token() -> BootstrapToken {
    BootstrapToken {
        token: Some(cluster::parse_token("abcdef.0123456789abcdef").unwrap()),
        description: "golden bootstrap token for join-agent tests".into(),
        ttl: Some(Duration::from_secs(24 * 3600)),
        expires: None,
        usages: vec!["authentication".into(), "signing".into()],
        groups: vec!["system:bootstrappers:kubeadm:default-node-token".into()],
    }
}

fn yaml(objects: &[Object]) -> String {
    cluster::to_yaml_stream(objects).unwrap()
}

fn names(objects: &[Object]) -> Vec<String> {
    objects.iter().map(Object::describe).collect()
}

#[test]
fn cluster_info_kubeconfig_is_byte_for_byte_what_kubeadm_wrote() {
    let ca = shared("ca.crt");
    let real: serde_json::Value = serde_json::from_slice(&shared("cluster-info.json")).unwrap();
    let expected = real["data"]["kubeconfig"].as_str().unwrap();
    assert_eq!(
        cluster::cluster_info_kubeconfig(&ca, "https://127.0.0.1:6443"),
        expected
    );
    let objects = cluster::cluster_info_objects(&ca, "https://127.0.0.1:6443");
    assert_eq!(
        names(&objects),
        [
            "ConfigMap kube-public/cluster-info",
            "Role kube-public/kubeadm:bootstrap-signer-clusterinfo",
            "RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo",
        ]
    );
    assert_eq!(
        objects[0].api_path(),
        "/api/v1/namespaces/kube-public/configmaps"
    );
    golden("cluster-info.yaml", &yaml(&objects));
}

#[test]
fn bootstrap_token_secret_matches_the_real_cluster_field_by_field() {
    let real: serde_json::Value =
        serde_json::from_slice(&shared("bootstrap-token-secret.json")).unwrap();
    let created = datetime!(2026-11-23 09:37:15 UTC);
    let t = golden_token();
    let secret = cluster::bootstrap_token_secret(t.token.as_ref().unwrap(), &t, created).unwrap();
    let ours = serde_json::to_value(&secret).unwrap();
    for field in ["apiVersion", "kind", "type", "data"] {
        assert_eq!(ours[field], real[field], "field {field}");
    }
    for field in ["name", "namespace"] {
        assert_eq!(
            ours["metadata"][field], real["metadata"][field],
            "metadata.{field}"
        );
    }
}

#[test]
fn bootstrap_token_phase_objects_in_kubeadm_order() {
    let objects =
        cluster::bootstrap_token_objects(&[golden_token()], datetime!(2026-11-23 09:37:15 UTC))
            .unwrap();
    assert_eq!(
        names(&objects),
        [
            "Secret kube-system/bootstrap-token-abcdef",
            "ClusterRole kubeadm:get-nodes",
            "ClusterRoleBinding kubeadm:get-nodes",
            "ClusterRoleBinding kubeadm:kubelet-bootstrap",
            "ClusterRoleBinding kubeadm:node-autoapprove-bootstrap",
            "ClusterRoleBinding kubeadm:node-autoapprove-certificate-rotation",
        ]
    );
    golden("bootstrap-token.yaml", &yaml(&objects));
}

#[test]
fn upload_config_and_kubelet_config() {
    let mut objects = cluster::upload_config_objects(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.2\n",
    );
    objects.extend(cluster::kubelet_config_objects(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
        false,
    ));
    objects.push(cluster::admin_cluster_role_binding().into());
    assert_eq!(
        names(&objects),
        [
            "ConfigMap kube-system/kubeadm-config",
            "Role kube-system/kubeadm:nodes-kubeadm-config",
            "RoleBinding kube-system/kubeadm:nodes-kubeadm-config",
            "ConfigMap kube-system/kubelet-config",
            "Role kube-system/kubeadm:kubelet-config",
            "RoleBinding kube-system/kubeadm:kubelet-config",
            "ClusterRoleBinding kubeadm:cluster-admins",
        ]
    );
    golden("upload-config.yaml", &yaml(&objects));
}

#[test]
fn coredns_per_version() {
    for minor in 31..=35 {
        let cfg = cluster_config(&format!("v1.{minor}.0"));
        let objects = cluster::coredns_objects(&cfg).unwrap();
        assert_eq!(
            names(&objects),
            [
                "ConfigMap kube-system/coredns",
                "ClusterRole system:coredns",
                "ClusterRoleBinding system:coredns",
                "ServiceAccount kube-system/coredns",
                "Deployment kube-system/coredns",
                "Service kube-system/kube-dns",
            ]
        );
        golden(&format!("coredns-v1.{minor}.yaml"), &yaml(&objects));
    }
}

#[test]
fn kube_dns_service_takes_the_tenth_service_ip() {
    let mut cfg = cluster_config("v1.34.2");
    cfg.networking.service_subnet = "172.20.0.0/16".parse().unwrap();
    let objects = cluster::coredns_objects(&cfg).unwrap();
    let svc: Service = typed(&objects[5]);
    let spec = svc.spec.as_ref().unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("172.20.0.10"));
    let ports: Vec<_> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            format!(
                "{}:{}/{}",
                p.name.as_deref().unwrap(),
                p.port,
                p.protocol.as_deref().unwrap()
            )
        })
        .collect();
    assert_eq!(ports, ["dns:53/UDP", "dns-tcp:53/TCP", "metrics:9153/TCP"]);
    assert_eq!(svc.metadata.labels.as_ref().unwrap()["k8s-app"], "kube-dns");
}

#[test]
fn kube_proxy_objects_and_config() {
    let cfg = cluster_config("v1.34.2");
    let objects = cluster::kube_proxy_objects(&cfg, &local_endpoint(), &[]).unwrap();
    assert_eq!(
        names(&objects),
        [
            "ConfigMap kube-system/kube-proxy",
            "DaemonSet kube-system/kube-proxy",
            "ServiceAccount kube-system/kube-proxy",
            "ClusterRoleBinding kubeadm:node-proxier",
            "Role kube-system/kube-proxy",
            "RoleBinding kube-system/kube-proxy",
        ]
    );
    let cm: ConfigMap = typed(&objects[0]);
    let data = cm.data.as_ref().unwrap();
    assert!(
        data["kubeconfig.conf"].contains("    server: https://cp.example.internal:6443\n"),
        "{}",
        data["kubeconfig.conf"]
    );
    assert!(
        data["config.conf"].contains("\nclusterCIDR: 10.244.0.0/16\n"),
        "{}",
        data["config.conf"]
    );
    golden("kube-proxy.yaml", &yaml(&objects));
    golden(
        "kube-proxy-config.conf",
        &cluster::kube_proxy_config(&cfg, &local_endpoint()),
    );
}

#[test]
fn disabled_addons_create_nothing() {
    let mut cfg = cluster_config("v1.34.2");
    cfg.dns.disabled = true;
    cfg.proxy_disabled = true;
    assert!(cluster::coredns_objects(&cfg).unwrap().is_empty());
    assert!(
        cluster::kube_proxy_objects(&cfg, &local_endpoint(), &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn mark_control_plane_keeps_existing_taints() {
    let node = serde_json::json!({
        "metadata": {"name": "cp1", "labels": {"kubernetes.io/hostname": "cp1"}},
        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}
    });
    let patch =
        cluster::mark_control_plane_patch_for(&node, &cluster::control_plane_taints(None)).unwrap();
    golden(
        "mark-control-plane.json",
        &format!("{}\n", serde_json::to_string_pretty(&patch).unwrap()),
    );
}

#[test]
fn upload_certs_seals_every_file_under_the_certificate_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = cluster_config("v1.34.2");
    let present = [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "etcd/ca.crt",
        "etcd/ca.key",
    ];
    for name in present {
        root.create_dir_all("/etc/kubernetes/pki/etcd", mode::PRIVATE_DIR)
            .unwrap();
        root.write_atomic(
            format!("/etc/kubernetes/pki/{name}"),
            format!("contents of {name}\n").as_bytes(),
            mode::PRIVATE,
        )
        .unwrap();
    }
    let files = cluster::read_certs_to_upload(&root, &cfg).unwrap();
    assert_eq!(files["front-proxy-ca.crt"], None);
    assert_eq!(
        files["etcd-ca.key"].as_deref(),
        Some(&b"contents of etcd/ca.key\n"[..])
    );

    let key = CertificateKey::generate().unwrap();
    let token = cluster::generate_token().unwrap();
    let now = datetime!(2026-11-23 09:37:15 UTC);
    let token_objects = cluster::upload_certs_token_objects(&token, now).unwrap();
    let token_secret: Secret = typed(&token_objects[0]);
    let token_data = token_secret.data.as_ref().unwrap();
    assert_eq!(token_data["expiration"].0, b"2026-11-23T11:37:15Z");
    assert!(!token_data.keys().any(|k| k.starts_with("usage-")));

    let owner = SecretOwner {
        name: token_secret.metadata.name.clone().unwrap(),
        uid: "6b9f7a0e-2f7e-4d4b-9d55-1a2b3c4d5e6f".into(),
    };
    let objects = cluster::upload_certs_objects(&key, &files, &owner).unwrap();
    let certs: Secret = typed(&objects[0]);
    let owner_ref = &certs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner_ref.kind.as_str(),
            owner_ref.name.as_str(),
            owner_ref.controller,
            owner_ref.block_owner_deletion
        ),
        ("Secret", owner.name.as_str(), Some(true), Some(true))
    );
    for (name, sealed) in certs.data.as_ref().unwrap() {
        match &files[name] {
            Some(plain) => {
                assert_eq!(&cluster::open(key.as_bytes(), &sealed.0).unwrap(), plain);
                assert_eq!(sealed.0.len(), 12 + plain.len() + 16, "{name}");
            }
            None => assert!(sealed.0.is_empty(), "{name}"),
        }
    }

    // The sealed values vary with every run: the golden file shows their sizes.
    let mut normalized = objects.clone();
    let mut s = certs.clone();
    let sizes = s.data.take().into_iter().flatten();
    s.string_data = Some(
        sizes
            .map(|(k, v)| (k, format!("<sealed: {} bytes>", v.0.len())))
            .collect(),
    );
    s.metadata.owner_references.as_mut().unwrap()[0].name = "bootstrap-token-<id>".into();
    normalized[0] = s.into();
    golden("upload-certs.yaml", &yaml(&normalized));
    let text = format!("{:?} {:?}", objects, key);
    assert!(!text.contains(&key.to_hex()) && !text.contains("contents of"));
}

#[test]
fn open_accepts_kubeadms_layout_nonce_ciphertext_tag() {
    // NIST GCM test case 13: 256-bit zero key, zero nonce, 16 zero bytes of plaintext.
    let hex = |s: &str| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let mut sealed = vec![0u8; 12];
    sealed.extend(hex("cea7403d4d606b6e074ec5d3baf39d18"));
    sealed.extend(hex("d0d1c8a799996bf0265b98b5d48ab919"));
    assert_eq!(cluster::open(&[0u8; 32], &sealed).unwrap(), vec![0u8; 16]);
}

#[test]
fn sealed_data_fails_to_open_when_tampered_wrong_key_or_short() {
    let key = CertificateKey::parse(&"5a".repeat(32)).unwrap();
    let sealed = cluster::seal(key.as_bytes(), b"-----BEGIN RSA PRIVATE KEY-----").unwrap();
    assert_eq!(
        cluster::open(key.as_bytes(), &sealed).unwrap(),
        b"-----BEGIN RSA PRIVATE KEY-----"
    );
    assert_ne!(
        cluster::seal(key.as_bytes(), b"x").unwrap(),
        cluster::seal(key.as_bytes(), b"x").unwrap(),
        "every seal draws a fresh nonce"
    );
    for i in [0, 11, 12, sealed.len() - 1] {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        assert!(
            matches!(
                cluster::open(key.as_bytes(), &tampered),
                Err(cluster::Error::OpenFailed)
            ),
            "byte {i}"
        );
    }
    let other = CertificateKey::generate().unwrap();
    assert!(matches!(
        cluster::open(other.as_bytes(), &sealed),
        Err(cluster::Error::OpenFailed)
    ));
    assert!(matches!(
        cluster::open(key.as_bytes(), &sealed[..11]),
        Err(cluster::Error::SealedDataTooShort)
    ));
    assert!(matches!(
        cluster::open(key.as_bytes(), &sealed[..27]),
        Err(cluster::Error::OpenFailed)
    ));
    assert!(matches!(
        cluster::open(key.as_bytes(), &sealed[..sealed.len() - 1]),
        Err(cluster::Error::OpenFailed)
    ));
}

#[test]
fn generated_tokens_have_kubeadms_shape_and_use_every_character() {
    let mut counts = BTreeMap::<char, usize>::new();
    let mut seen = std::collections::HashSet::new();
    let n = 2000;
    for _ in 0..n {
        let t = cluster::generate_token().unwrap();
        let full = t.full();
        assert_eq!(cluster::parse_token(&full).unwrap(), t, "{}", t.id);
        assert!(seen.insert(full.clone()), "duplicate token");
        for c in full.chars().filter(|&c| c != '.') {
            *counts.entry(c).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), 36, "{counts:?}");
    // 44,000 draws over 36 characters: ~1222 each, σ ≈ 35. Folding bytes ≥ 252 would lift
    // '0'..'3' by ~1.6%, too little to see here; the unit test checks the rejection itself.
    let expected = (n * 22) as f64 / 36.0;
    for (c, k) in &counts {
        let dev = (*k as f64 - expected).abs();
        assert!(dev < 10.0 * expected.sqrt(), "{c}: {k} vs ~{expected}");
    }
}

#[test]
fn join_commands_render_as_kubeadm_prints_them() {
    let token = cluster::parse_token(String::from_utf8(shared("token")).unwrap().trim()).unwrap();
    let hashes = [String::from_utf8(shared("ca-hash"))
        .unwrap()
        .trim()
        .to_string()];
    let cmd = JoinCommand {
        server: "https://127.0.0.1:6443",
        token: &token,
        ca_cert_hashes: &hashes,
        skip_token_print: false,
    };
    let worker = cluster::join_worker_command(&cmd);
    // The real command, as kubeadm printed it, with the template's line break folded.
    let real = String::from_utf8(shared("join-command")).unwrap();
    assert_eq!(worker.replace(" \\\n\t", " ").trim_end(), real.trim_end());

    let key = CertificateKey::parse(&"0f".repeat(32)).unwrap();
    let control_plane = cluster::join_control_plane_command(&cmd, Some(&key), false);
    golden(
        "init-done.txt",
        &cluster::init_done_message(
            "/etc/kubernetes/admin.conf",
            true,
            true,
            &control_plane,
            &worker,
        ),
    );
}

#[test]
fn object_paths_for_the_apply_loop() {
    let objects =
        cluster::kube_proxy_objects(&cluster_config("v1.34.2"), &local_endpoint(), &[]).unwrap();
    let paths: Vec<_> = objects.iter().map(Object::item_path).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
            "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy",
            "/api/v1/namespaces/kube-system/serviceaccounts/kube-proxy",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:node-proxier",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles/kube-proxy",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/kube-proxy",
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&objects[1].to_json().unwrap()).unwrap();
    assert_eq!(json["apiVersion"], "apps/v1");
    assert_eq!(json["kind"], "DaemonSet");
}

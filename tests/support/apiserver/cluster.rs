//! What a cluster holds before the code under test talks to it: the API server's own bootstrap
//! policy, and what `kubeadm init` uploads (cluster-info, kubeadm-config, kubelet-config and the
//! RBAC that lets bootstrap tokens and nodes join).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::authn::{
    ANONYMOUS, AUTHENTICATED, DEFAULT_NODE_TOKEN_GROUP, MASTERS, NODES, UNAUTHENTICATED,
};
use super::authz::{named_rule, path_rule, rule};
use super::store::{Store, lookup_kind};

pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";

/// Stores `obj` by its apiVersion and kind. Panics on a kind the server does not serve: a
/// test bug.
pub fn put(store: &mut Store, obj: Value) -> Value {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let rt = lookup_kind(api_version, kind)
        .unwrap_or_else(|| panic!("test bug: the test server does not serve {api_version} {kind}"));
    let namespace = obj["metadata"]["namespace"].as_str().unwrap_or("");
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let key = rt.key(namespace, name);
    store.put(rt, key, obj)
}

/// Namespaces and the RBAC kube-apiserver creates at startup (the part of its bootstrap
/// policy that matters to joining and initializing nodes).
pub fn seed_apiserver(store: &mut Store) {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        put(
            store,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
    }
    let discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let csr = "certificates.k8s.io";
    let roles = [
        (
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), path_rule(&["*"], &["*"])],
        ),
        (
            "system:discovery",
            vec![path_rule(&["get"], &discovery_urls)],
        ),
        (
            "system:public-info-viewer",
            vec![path_rule(&["get"], &public_urls)],
        ),
        (
            "system:basic-user",
            vec![rule(
                &["create"],
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            )],
        ),
        (
            "system:node-bootstrapper",
            vec![rule(
                &["create", "get", "list", "watch"],
                &[csr],
                &["certificatesigningrequests"],
            )],
        ),
        (
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![rule(
                &["create"],
                &[csr],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        (
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![rule(
                &["create"],
                &[csr],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
    ];
    for (name, rules) in roles {
        put(store, cluster_role(name, rules));
    }
    put(
        store,
        cluster_role_binding("cluster-admin", "cluster-admin", &[group(MASTERS)]),
    );
    put(
        store,
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            &[group(AUTHENTICATED)],
        ),
    );
    put(
        store,
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            &[group(AUTHENTICATED)],
        ),
    );
    put(
        store,
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[group(AUTHENTICATED), group(UNAUTHENTICATED)],
        ),
    );
}

/// What `kubeadm init` leaves behind for joining nodes (phases upload-config, bootstrap-token,
/// kubelet-start), with the names kubeadm uses for `version`.
pub fn seed_kubeadm(store: &mut Store, server_url: &str, ca_pem: &str, version: &Version) {
    let host_port = server_url.trim_start_matches("https://");
    let kubelet_config = version.kubelet_config_name();
    put(
        store,
        config_map(
            "kube-public",
            "cluster-info",
            json!({"kubeconfig": cluster_info_kubeconfig(server_url, ca_pem)}),
        ),
    );
    put(
        store,
        config_map(
            "kube-system",
            "kubeadm-config",
            json!({"ClusterConfiguration": cluster_configuration(host_port, version)}),
        ),
    );
    put(
        store,
        config_map(
            "kube-system",
            &kubelet_config,
            json!({"kubelet": kubelet_configuration()}),
        ),
    );

    let token_group = group(DEFAULT_NODE_TOKEN_GROUP);
    let nodes = group(NODES);
    put(
        store,
        cluster_role_binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            std::slice::from_ref(&token_group),
        ),
    );
    put(
        store,
        cluster_role_binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            std::slice::from_ref(&token_group),
        ),
    );
    put(
        store,
        cluster_role_binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            std::slice::from_ref(&nodes),
        ),
    );
    put(
        store,
        cluster_role("kubeadm:get-nodes", vec![rule(&["get"], &[""], &["nodes"])]),
    );
    put(
        store,
        cluster_role_binding(
            "kubeadm:get-nodes",
            "kubeadm:get-nodes",
            std::slice::from_ref(&token_group),
        ),
    );
    put(
        store,
        cluster_role_binding(CLUSTER_ADMINS, "cluster-admin", &[group(CLUSTER_ADMINS)]),
    );
    let readers = [token_group.clone(), nodes.clone()];
    for (ns, role_name, configmap, subjects) in [
        (
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo".to_string(),
            "cluster-info".to_string(),
            vec![user(ANONYMOUS)],
        ),
        (
            "kube-system",
            "kubeadm:nodes-kubeadm-config".to_string(),
            "kubeadm-config".to_string(),
            readers.to_vec(),
        ),
        (
            "kube-system",
            format!("kubeadm:{kubelet_config}"),
            kubelet_config.clone(),
            readers.to_vec(),
        ),
    ] {
        put(
            store,
            role(
                ns,
                &role_name,
                vec![named_rule(&["get"], &[""], &["configmaps"], &[&configmap])],
            ),
        );
        put(
            store,
            role_binding(ns, &role_name, "Role", &role_name, &subjects),
        );
    }
}

/// The cluster-info kubeconfig exactly as kubeadm writes it (see the golden cluster-info.json):
/// one cluster named "", no contexts, no users, trailing newline.
pub fn cluster_info_kubeconfig(server_url: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server_url}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n",
        STANDARD.encode(ca_pem)
    )
}

fn cluster_configuration(control_plane_endpoint: &str, version: &Version) -> String {
    format!(
        "apiServer: {{}}\napiVersion: kubeadm.k8s.io/{}\ncertificatesDir: /etc/kubernetes/pki\n\
         clusterName: kubernetes\ncontrolPlaneEndpoint: {control_plane_endpoint}\n\
         controllerManager: {{}}\ndns: {{}}\netcd:\n  local:\n    dataDir: /var/lib/etcd\n\
         imageRepository: registry.k8s.io\nkind: ClusterConfiguration\nkubernetesVersion: {}\n\
         networking:\n  dnsDomain: cluster.local\n  serviceSubnet: 10.96.0.0/12\n\
         proxy: {{}}\nscheduler: {{}}\n",
        version.kubeadm_api_version(),
        version.git_version
    )
}

fn kubelet_configuration() -> String {
    "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n  \
     webhook:\n    cacheTTL: 0s\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\n\
     authorization:\n  mode: Webhook\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\n\
     clusterDomain: cluster.local\nkind: KubeletConfiguration\nrotateCertificates: true\n\
     staticPodPath: /etc/kubernetes/manifests\n"
        .to_string()
}

/// The Kubernetes version the test cluster pretends to run.
#[derive(Clone, Debug)]
pub struct Version {
    pub git_version: String,
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// Panics on a malformed version: a test bug.
    pub fn parse(git_version: &str) -> Version {
        let bare = git_version.trim_start_matches('v');
        let mut parts = bare.split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => Version {
                git_version: git_version.to_string(),
                major,
                minor,
            },
            _ => panic!("test bug: {git_version:?} is not a version like v1.34.2"),
        }
    }

    /// `kubelet-config` since v1.24, `kubelet-config-1.<minor>` before.
    pub fn kubelet_config_name(&self) -> String {
        if self.minor >= 24 {
            "kubelet-config".into()
        } else {
            format!("kubelet-config-{}.{}", self.major, self.minor)
        }
    }

    fn kubeadm_api_version(&self) -> &'static str {
        match self.minor {
            31.. => "v1beta4",
            22.. => "v1beta3",
            _ => "v1beta2",
        }
    }

    /// Kubelet client CSRs without "key encipherment" (what kubelets send for EC keys) are
    /// approved by newer clusters; a v1.19 cluster left them pending (golden README).
    pub fn accepts_usages_without_key_encipherment(&self) -> bool {
        self.minor >= 27
    }
}

pub fn config_map(namespace: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": namespace}, "data": data})
}

pub fn group(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

pub fn user(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

pub fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": name}, "rules": rules})
}

pub fn role(namespace: &str, name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
           "metadata": {"name": name, "namespace": namespace}, "rules": rules})
}

pub fn cluster_role_binding(name: &str, role_name: &str, subjects: &[Value]) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": name},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
           "subjects": subjects})
}

pub fn role_binding(
    namespace: &str,
    name: &str,
    role_kind: &str,
    role_name: &str,
    subjects: &[Value],
) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": name, "namespace": namespace},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
           "subjects": subjects})
}

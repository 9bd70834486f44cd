//! A strict, in-process Kubernetes API server for integration tests.
//!
//! It serves HTTPS on 127.0.0.1 with its own cluster CA and behaves like a kubeadm-made
//! cluster where it matters to a node: bootstrap token and client certificate
//! authentication, Node + RBAC authorization evaluated from stored RBAC objects, the
//! NodeRestriction and CSR admission checks, validation, resourceVersion conflicts, the
//! bootstrapsigner and the CSR approving/signing controllers. Faults can be injected per
//! path and request count; every request is logged for assertions.
//!
//! ```ignore
//! let srv = TestApiServer::builder()
//!     .token("abcdef.0123456789abcdef", TokenOpts::default())
//!     .csr_policy(CsrPolicy::Auto)
//!     .start();
//! srv.inject(Fault::Status(503).on(CLUSTER_INFO_PATH).times(2));
//! // ... point the code under test at srv.url(), pin srv.ca_hash() ...
//! assert!(srv.requests().iter().all(|r| r.user.is_some()));
//! ```

mod authn;
mod authz;
mod cluster;
mod controllers;
mod faults;
mod http;
mod pki;
mod rest;
mod server;
mod store;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

pub use authn::TokenOpts;
pub use cluster::CLUSTER_ADMINS;
pub use controllers::{CsrIssue, CsrPolicy, Signing, detached_jws};
pub use faults::{Fault, FaultRule, STALL_LIMIT};
pub use pki::ClientIdentity;
pub use server::RequestRecord;

use server::{Shared, State};

/// Builders for the objects tests most often add: RBAC (to extend what identities may do,
/// exactly as on a real cluster), ConfigMaps and bootstrap token Secrets.
pub mod objects {
    pub use super::authn::bootstrap_token_secret;
    pub use super::authz::{named_rule, path_rule, rule};
    pub use super::cluster::{
        cluster_role, cluster_role_binding, config_map, group, role, role_binding, user,
    };
}

/// Where anonymous discovery reads cluster-info.
pub const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";
pub const CSR_PATH: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
pub const DEFAULT_VERSION: &str = "v1.34.2";

pub struct Builder {
    tokens: Vec<(String, TokenOpts)>,
    policies: controllers::Policies,
    version: String,
    kubeadm_state: bool,
}

impl Builder {
    /// A bootstrap token Secret `kube-system/bootstrap-token-<id>` for `token` (`<id>.<secret>`).
    pub fn token(mut self, token: &str, opts: TokenOpts) -> Builder {
        self.tokens.push((token.to_string(), opts));
        self
    }

    pub fn csr_policy(mut self, policy: CsrPolicy) -> Builder {
        self.policies.csr = policy;
        self
    }

    pub fn csr_issue(mut self, issue: CsrIssue) -> Builder {
        self.policies.issue = issue;
        self
    }

    pub fn signing(mut self, signing: Signing) -> Builder {
        self.policies.signing = signing;
        self
    }

    /// The version `/version` reports; it also picks kubeadm's object names
    /// (`kubelet-config` vs `kubelet-config-1.X`) and which CSR usages are approved.
    pub fn kubernetes_version(mut self, version: &str) -> Builder {
        self.version = version.to_string();
        self
    }

    /// A control plane that `kubeadm init` has not configured yet: namespaces and the API
    /// server's bootstrap RBAC only (no cluster-info, kubeadm-config, kubelet-config, no
    /// kubeadm RBAC, so `kubeadm:cluster-admins` has no rights yet).
    pub fn bare(mut self) -> Builder {
        self.kubeadm_state = false;
        self
    }

    pub fn start(self) -> TestApiServer {
        let version = cluster::Version::parse(&self.version);
        let ca = pki::Ca::new("kubernetes");
        let rogue_ca = pki::Ca::new("kubernetes");
        let (chain, key) = ca.serving_cert();
        let tls = server::tls_config(&ca, chain, key);
        let (rogue_chain, rogue_key) = rogue_ca.serving_cert();
        let rogue_tls = server::tls_config(&ca, rogue_chain, rogue_key);

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("bound listener has an address");
        let url = format!("https://{addr}");

        let mut store = store::Store::default();
        cluster::seed_apiserver(&mut store);
        if self.kubeadm_state {
            cluster::seed_kubeadm(&mut store, &url, &ca.cert_pem, &version);
        }
        for (token, opts) in &self.tokens {
            cluster::put(&mut store, authn::bootstrap_token_secret(token, opts));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                store,
                bookkeeping: controllers::ControllerState::default(),
                policies: self.policies,
                faults: Vec::new(),
                log: Vec::new(),
                connections: 0,
                mitm_after: None,
            }),
            stopping: AtomicBool::new(false),
            ca,
            rogue_ca,
            tls,
            rogue_tls,
            version,
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || server::accept_loop(shared, listener))
        };
        TestApiServer {
            shared,
            addr,
            url,
            acceptor: Some(acceptor),
        }
    }
}

/// How [`TestApiServer::forged_cluster_info`] tampers with cluster-info.
#[derive(Clone, Debug)]
pub enum Forgery {
    /// The rogue CA in the kubeconfig, the genuine signatures kept (they no longer match).
    RogueCaStaleSignatures,
    /// The rogue CA in the kubeconfig, re-signed with `token`: an attacker who knows the
    /// token but not the CA; only the CA pin can catch it.
    RogueCaSignedWith(String),
    /// The genuine CA and the rogue CA in one bundle, re-signed with `token`: a joining node
    /// (it has the token) adding its CA next to the pinned one.
    RogueCaAddedSignedWith(String),
    /// Another server URL in the kubeconfig, the genuine signatures kept.
    OtherServer(String),
}

/// A running test API server. Dropping it stops every thread it started.
pub struct TestApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    acceptor: Option<JoinHandle<()>>,
}

impl TestApiServer {
    pub fn builder() -> Builder {
        Builder {
            tokens: Vec::new(),
            policies: controllers::Policies {
                signing: Signing::Immediate,
                csr: CsrPolicy::Auto,
                issue: CsrIssue::Honest,
            },
            version: DEFAULT_VERSION.to_string(),
            kubeadm_state: true,
        }
    }

    /// `https://127.0.0.1:<port>`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, as in `kubeadm join <endpoint>`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn version(&self) -> &str {
        &self.shared.version.git_version
    }

    /// The cluster CA certificate (`/etc/kubernetes/pki/ca.crt`).
    pub fn ca_pem(&self) -> &str {
        &self.shared.ca.cert_pem
    }

    /// The cluster CA's private key (`/etc/kubernetes/pki/ca.key` of a control-plane node).
    pub fn ca_key_pem(&self) -> String {
        self.shared.ca.key_pem()
    }

    pub fn ca_der(&self) -> &[u8] {
        &self.shared.ca.cert_der
    }

    /// `sha256:<hex>` of the CA's SubjectPublicKeyInfo: `--discovery-token-ca-cert-hash`.
    pub fn ca_hash(&self) -> String {
        self.shared.ca.spki_hash()
    }

    /// The CA behind the man-in-the-middle certificate and forged cluster-info.
    pub fn rogue_ca_pem(&self) -> &str {
        &self.shared.rogue_ca.cert_pem
    }

    pub fn rogue_ca_hash(&self) -> String {
        self.shared.rogue_ca.spki_hash()
    }

    /// A client certificate for `system:masters` (kubeadm's super-admin.conf identity).
    pub fn admin_client_cert(&self) -> ClientIdentity {
        self.client_cert("kubernetes-super-admin", &[authn::MASTERS])
    }

    /// A client certificate signed by the cluster CA: user `common_name`, groups
    /// `organizations` (at most one is encoded).
    pub fn client_cert(&self, common_name: &str, organizations: &[&str]) -> ClientIdentity {
        self.shared.ca.client_identity(common_name, organizations)
    }

    /// A kubelet identity: `system:node:<node>` in `system:nodes`.
    pub fn node_client_cert(&self, node: &str) -> ClientIdentity {
        self.client_cert(&format!("system:node:{node}"), &[authn::NODES])
    }

    /// A client certificate from the rogue CA: must be refused at the TLS handshake.
    pub fn rogue_client_cert(&self, common_name: &str, organizations: &[&str]) -> ClientIdentity {
        self.shared
            .rogue_ca
            .client_identity(common_name, organizations)
    }

    /// A kubeconfig for this server with an embedded client certificate, as kubeadm writes
    /// admin.conf.
    pub fn kubeconfig_with_cert(&self, identity: &ClientIdentity) -> String {
        let user = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            STANDARD.encode(&identity.cert_pem),
            STANDARD.encode(&identity.key_pem)
        );
        self.kubeconfig("kubernetes-admin", &user)
    }

    /// A kubeconfig for this server with a bearer token, as bootstrap-kubelet.conf.
    pub fn kubeconfig_with_token(&self, token: &str) -> String {
        self.kubeconfig("tls-bootstrap-token-user", &format!("    token: {token}\n"))
    }

    fn kubeconfig(&self, user: &str, credentials: &str) -> String {
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: kubernetes\n\
             contexts:\n- context:\n    cluster: kubernetes\n    user: {user}\n  name: {user}@kubernetes\n\
             current-context: {user}@kubernetes\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n{credentials}",
            STANDARD.encode(self.ca_pem()),
            self.url
        )
    }

    /// Adds (or replaces) a bootstrap token Secret at run time.
    pub fn add_token(&self, token: &str, opts: TokenOpts) {
        self.put_object(authn::bootstrap_token_secret(token, &opts));
    }

    pub fn set_csr_policy(&self, policy: CsrPolicy) {
        self.shared.lock().policies.csr = policy;
    }

    pub fn set_csr_issue(&self, issue: CsrIssue) {
        self.shared.lock().policies.issue = issue;
    }

    pub fn set_signing(&self, signing: Signing) {
        self.shared.lock().policies.signing = signing;
    }

    /// Adds a fault rule; earlier rules win when several hit the same request.
    pub fn inject(&self, rule: impl Into<FaultRule>) {
        self.shared.lock().faults.push(rule.into());
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Connections after the first `n` get a certificate from the rogue CA (a
    /// man-in-the-middle appearing after discovery).
    pub fn mitm_after_connections(&self, n: usize) {
        self.shared.lock().mitm_after = Some(n);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.clone()
    }

    /// Accepted TCP connections so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// The stored object, after the controllers have run (as a client would see it).
    /// `api_version` is "v1", "certificates.k8s.io/v1", ...; `resource` the plural.
    pub fn get_object(
        &self,
        api_version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let rt = resource_type(api_version, resource);
        let mut state = self.shared.lock();
        self.shared.sync(&mut state);
        state
            .store
            .get(&rt.key(namespace.unwrap_or(""), name))
            .cloned()
    }

    pub fn list_objects(
        &self,
        api_version: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let rt = resource_type(api_version, resource);
        let mut state = self.shared.lock();
        self.shared.sync(&mut state);
        state
            .store
            .list(rt, namespace)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Every object of the kinds `kubeboot init` creates, passed through `normalize` (to drop
    /// what varies between runs), by `Kind namespace/name`. Objects that `normalize` gives the
    /// same name (each run's random upload-certs token) count once.
    pub fn init_objects(
        &self,
        normalize: impl Fn(Value) -> Value,
    ) -> std::collections::BTreeMap<String, Value> {
        let rbac = "rbac.authorization.k8s.io/v1";
        let mut all = std::collections::BTreeMap::new();
        for (api_version, resource) in [
            ("v1", "configmaps"),
            ("v1", "secrets"),
            ("v1", "serviceaccounts"),
            ("v1", "services"),
            ("v1", "nodes"),
            (rbac, "roles"),
            (rbac, "rolebindings"),
            (rbac, "clusterroles"),
            (rbac, "clusterrolebindings"),
            ("apps/v1", "deployments"),
            ("apps/v1", "daemonsets"),
        ] {
            for object in self.list_objects(api_version, resource, None) {
                let object = normalize(object);
                let key = format!(
                    "{} {}/{}",
                    object["kind"].as_str().unwrap_or(resource),
                    object["metadata"]["namespace"].as_str().unwrap_or(""),
                    object["metadata"]["name"].as_str().unwrap_or("")
                );
                all.insert(key, object);
            }
        }
        all
    }

    /// Creates or replaces an object (by its apiVersion, kind, namespace and name) without
    /// authorization or validation; returns it as stored.
    pub fn put_object(&self, obj: Value) -> Value {
        cluster::put(&mut self.shared.lock().store, obj)
    }

    /// True if the object existed.
    pub fn delete_object(
        &self,
        api_version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let rt = resource_type(api_version, resource);
        let key = rt.key(namespace.unwrap_or(""), name);
        self.shared.lock().store.delete(rt, &key).is_ok()
    }

    /// The cluster-info kubeconfig as stored (what the signatures cover).
    pub fn cluster_info_kubeconfig(&self) -> String {
        self.get_object("v1", "configmaps", Some("kube-public"), "cluster-info")
            .and_then(|cm| cm["data"]["kubeconfig"].as_str().map(String::from))
            .unwrap_or_default()
    }

    /// A tampered cluster-info ConfigMap body, to serve with
    /// `Fault::Body { status: 200, body }`.
    pub fn forged_cluster_info(&self, forgery: Forgery) -> Vec<u8> {
        let mut cm = self
            .get_object("v1", "configmaps", Some("kube-public"), "cluster-info")
            .unwrap_or_else(|| panic!("test bug: forging cluster-info on a server without it"));
        let rogue_kubeconfig =
            || cluster::cluster_info_kubeconfig(&self.url, &self.shared.rogue_ca.cert_pem);
        match forgery {
            Forgery::RogueCaStaleSignatures => {
                cm["data"]["kubeconfig"] = json!(rogue_kubeconfig());
            }
            Forgery::RogueCaSignedWith(token) => {
                resign(&mut cm, &token, rogue_kubeconfig());
            }
            Forgery::RogueCaAddedSignedWith(token) => {
                let bundle = format!("{}{}", self.ca_pem(), self.shared.rogue_ca.cert_pem);
                resign(
                    &mut cm,
                    &token,
                    cluster::cluster_info_kubeconfig(&self.url, &bundle),
                );
            }
            Forgery::OtherServer(server) => {
                cm["data"]["kubeconfig"] =
                    json!(cluster::cluster_info_kubeconfig(&server, self.ca_pem()));
            }
        }
        serde_json::to_vec(&cm).expect("JSON values always serialize")
    }
}

/// Puts `kubeconfig` in cluster-info with a valid signature for `token`.
fn resign(cm: &mut serde_json::Value, token: &str, kubeconfig: String) {
    let (id, secret) = authn::parse_token(token)
        .unwrap_or_else(|| panic!("test bug: {token:?} is not a bootstrap token"));
    cm["data"][format!("jws-kubeconfig-{id}")] = json!(detached_jws(&kubeconfig, id, secret));
    cm["data"]["kubeconfig"] = json!(kubeconfig);
}

fn resource_type(api_version: &str, resource: &str) -> &'static store::ResourceType {
    store::lookup_api_version(api_version, resource).unwrap_or_else(|| {
        panic!("test bug: the test server does not serve {api_version} {resource}")
    })
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

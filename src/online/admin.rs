//! The admin credentials kubeadm's online phases use: `/etc/kubernetes/admin.conf` (and
//! `super-admin.conf` for the one ClusterRoleBinding admin.conf cannot create itself), read
//! through the node's root.
//!
//! What the online phases take from such a file (read with [`crate::kubeconfig`]): the current
//! context's cluster (server, CA) and user (client certificate and key, embedded or as files).

use std::fmt;
use std::path::Path;

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;

use super::{Error, Result};
use crate::api::{self, Auth, ClientIdentity, ClientOptions, RetryPolicy, Trust};
use crate::cluster;
use crate::fs::Root;
use crate::kubeconfig;

pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
pub const SUPER_ADMIN_CONF: &str = "/etc/kubernetes/super-admin.conf";
/// The group admin.conf's user is in, and its ClusterRoleBinding (1.29+).
pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";

/// What a kubeconfig on the node says about its current context: the API server, the CA that
/// must prove it, and the client certificate to authenticate with. `Debug` hides the key.
#[derive(Clone)]
pub struct KubeconfigCredentials {
    /// The node path it was read from, for messages.
    pub path: String,
    /// `https://host:port`, as written.
    pub server: String,
    /// The cluster CA bundle, PEM.
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for KubeconfigCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeconfigCredentials")
            .field("path", &self.path)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl KubeconfigCredentials {
    /// Reads `path` (a node path) through `root`.
    pub fn load(root: &Root, path: &str) -> Result<Self> {
        let bytes = root.read(path)?;
        Self::parse(root, path, &bytes)
    }

    /// Like [`KubeconfigCredentials::load`], `None` when the file does not exist.
    pub fn load_optional(root: &Root, path: &str) -> Result<Option<Self>> {
        match root.read_optional(path)? {
            Some(bytes) => Self::parse(root, path, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn parse(root: &Root, path: &str, bytes: &[u8]) -> Result<Self> {
        let invalid = |reason: String| Error::Kubeconfig {
            path: path.to_string(),
            reason,
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| invalid("not a valid kubeconfig: not UTF-8 text".into()))?;
        let config = kubeconfig::parse(text).map_err(|e| match e {
            kubeconfig::Error::Parse { reason, .. } => {
                invalid(format!("not a valid kubeconfig: {reason}"))
            }
            other => invalid(other.to_string()),
        })?;
        let context_name = &config.current_context;
        if context_name.is_empty() {
            return Err(invalid("current-context is not set".into()));
        }
        let context = config
            .current()
            .ok_or_else(|| invalid(format!("current-context {context_name:?} is not defined")))?;
        // As clientcmd reads it: the current context's cluster and user.
        let cluster = config
            .current_cluster()
            .ok_or_else(|| invalid(format!("cluster {:?} is not defined", context.cluster)))?;
        let user = config
            .current_user()
            .ok_or_else(|| invalid(format!("user {:?} is not defined", context.user)))?;
        if cluster.server.is_empty() {
            return Err(invalid("the cluster has no server".into()));
        }
        let ca_pem = embedded_or_file(
            root,
            path,
            "certificate-authority",
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        )?;
        let cert_pem = embedded_or_file(
            root,
            path,
            "client-certificate",
            &user.client_certificate_data,
            &user.client_certificate,
        )?;
        let key_pem = embedded_or_file(
            root,
            path,
            "client-key",
            &user.client_key_data,
            &user.client_key,
        )?;
        Ok(KubeconfigCredentials {
            path: path.to_string(),
            server: cluster.server.clone(),
            ca_pem,
            cert_pem,
            key_pem,
        })
    }

    /// A client for this kubeconfig's server, trusting only its CA, authenticating with its
    /// client certificate.
    pub fn client(&self, retry: RetryPolicy) -> Result<api::Client> {
        let setup = |e: api::TlsSetupError| Error::Kubeconfig {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let trust = Trust::from_pem(&self.ca_pem, &self.path).map_err(setup)?;
        let identity =
            ClientIdentity::from_pem(&self.cert_pem, &self.key_pem, &self.path).map_err(setup)?;
        let options = ClientOptions {
            retry,
            proxy: crate::proxy::ProxyEnv::from_process(),
            ..ClientOptions::new(trust, Auth::ClientCertificate(identity))
        };
        Ok(api::Client::new(&self.server, options)?)
    }
}

/// A `<field>-data` value or, failing that, the file `<field>` names.
fn embedded_or_file(
    root: &Root,
    path: &str,
    field: &str,
    data: &Option<Vec<u8>>,
    file: &Option<String>,
) -> Result<Vec<u8>> {
    if let Some(data) = data.as_ref().filter(|d| !d.is_empty()) {
        return Ok(data.clone());
    }
    match file.as_deref().filter(|f| !f.is_empty()) {
        Some(file) => Ok(root.read(Path::new(file))?),
        None => Err(Error::Kubeconfig {
            path: path.to_string(),
            reason: format!("the current context has no {field}(-data)"),
        }),
    }
}

/// The admin.conf client for the online phases, with `retry` for each request.
pub fn admin_client(root: &Root, retry: RetryPolicy) -> Result<api::Client> {
    KubeconfigCredentials::load(root, ADMIN_CONF)?.client(retry)
}

/// The super-admin.conf client (`system:masters`), when that file exists. Only used to create
/// the `kubeadm:cluster-admins` binding admin.conf needs.
pub fn super_admin_client(root: &Root, retry: RetryPolicy) -> Result<Option<api::Client>> {
    KubeconfigCredentials::load_optional(root, SUPER_ADMIN_CONF)?
        .map(|c| c.client(retry))
        .transpose()
}

/// kubeadm's `EnsureAdminClusterRoleBinding`: admin.conf's user is in the
/// `kubeadm:cluster-admins` group, which has no rights until its ClusterRoleBinding exists, and
/// creating that binding needs rights. Try with admin.conf (already bound: AlreadyExists; still
/// unbound: Forbidden), then with super-admin.conf. Safe to call any number of times.
pub fn ensure_cluster_admins(admin: &api::Client, super_admin: Option<&api::Client>) -> Result<()> {
    let binding = cluster::admin_cluster_role_binding();
    match admin.create::<ClusterRoleBinding>(None, &binding) {
        Ok(_) => return Ok(()),
        Err(e) if e.is_already_exists() => return Ok(()),
        Err(e) if e.is_forbidden() => {}
        Err(e) => return Err(e.into()),
    }
    let super_admin = super_admin.ok_or(Error::NoSuperAdmin)?;
    log::info!("[init] Creating the ClusterRoleBinding {CLUSTER_ADMINS:?} with {SUPER_ADMIN_CONF}");
    match super_admin.create::<ClusterRoleBinding>(None, &binding) {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n";

    fn kubeconfig(user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    \
             server: https://10.0.0.1:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    \
             user: admin\n  name: admin@kubernetes\ncurrent-context: admin@kubernetes\nusers:\n- name: admin\n  user:\n{user}",
            STANDARD.encode(CA)
        )
    }

    #[test]
    fn reads_embedded_and_file_credentials_of_the_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let embedded = kubeconfig(&format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            STANDARD.encode("CERT"),
            STANDARD.encode("KEY")
        ));
        root.write_atomic(ADMIN_CONF, embedded.as_bytes(), 0o600)
            .unwrap();
        let c = KubeconfigCredentials::load(&root, ADMIN_CONF).unwrap();
        assert_eq!(c.server, "https://10.0.0.1:6443");
        assert_eq!(c.ca_pem, CA.as_bytes());
        assert_eq!(c.cert_pem, b"CERT");
        assert_eq!(c.key_pem, b"KEY");
        assert!(!format!("{c:?}").contains("KEY"));

        let files = kubeconfig(
            "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    \
             client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
        );
        root.write_atomic("/etc/kubernetes/kubelet.conf", files.as_bytes(), 0o600)
            .unwrap();
        root.write_atomic(
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            b"BOTH",
            0o600,
        )
        .unwrap();
        let c = KubeconfigCredentials::load(&root, "/etc/kubernetes/kubelet.conf").unwrap();
        assert_eq!(
            (c.cert_pem.as_slice(), c.key_pem.as_slice()),
            (&b"BOTH"[..], &b"BOTH"[..])
        );
    }

    #[test]
    fn broken_kubeconfigs_are_refused_with_the_path_and_without_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let cases = [
            ("clusters: [", "YAML error"),
            (
                "current-context: x\n",
                "current-context \"x\" is not defined",
            ),
            ("kind: Config\n", "current-context is not set"),
            (
                &kubeconfig("    client-key-data: c2VjcmV0LWtleQ==\n"),
                "no client-certificate",
            ),
            (
                &kubeconfig("    client-certificate-data: '!!'\n    client-key-data: x\n"),
                "client-certificate-data is not valid base64",
            ),
        ];
        for (content, expected) in cases {
            root.write_atomic(ADMIN_CONF, content.as_bytes(), 0o600)
                .unwrap();
            let e = KubeconfigCredentials::load(&root, ADMIN_CONF)
                .unwrap_err()
                .to_string();
            assert!(e.contains(ADMIN_CONF) && e.contains(expected), "{e}");
            assert!(!e.contains("secret-key"), "{e}");
        }
        assert!(
            KubeconfigCredentials::load_optional(&root, SUPER_ADMIN_CONF)
                .unwrap()
                .is_none()
        );
    }
}

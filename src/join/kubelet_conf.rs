//! The two kubeconfigs a worker join writes: `kubelet.conf` as the kubelet writes it after
//! its own TLS bootstrap (`writeKubeconfigFromBootstrapping`), and `bootstrap-kubelet.conf` as
//! kubeadm writes it for the kubelet to bootstrap itself.

use crate::kubeconfig::KubeConfig;

/// The user name kubeadm gives the bootstrap token (`discovery.TokenUser`).
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";
/// kubeadm's default cluster name, kept in the bootstrap context's name.
const DEFAULT_CLUSTER_NAME: &str = "kubernetes";

/// How the bootstrap kubeconfig authenticates.
pub enum BootstrapAuth<'a> {
    Token(&'a str),
    ClientCertificate {
        cert_pem: &'a [u8],
        key_pem: &'a [u8],
    },
}

/// `/etc/kubernetes/kubelet.conf` as the kubelet writes it after TLS bootstrap: the cluster CA
/// embedded, the client certificate and key both read from the store's `current` link, and
/// the kubelet's own names (`default-cluster`, `default-auth`, `default-context` in namespace
/// `default`).
pub fn kubelet_conf(server: &str, ca_pem: &[u8], pem_path: &str) -> KubeConfig {
    let mut config = KubeConfig::with_client_cert_files(
        server,
        "default-cluster",
        "default-auth",
        ca_pem,
        pem_path,
        pem_path,
    );
    for named in &mut config.contexts {
        named.name = "default-context".into();
        named.context.namespace = Some("default".into());
    }
    config.current_context = "default-context".into();
    config
}

/// `/etc/kubernetes/bootstrap-kubelet.conf` as kubeadm writes it: `CreateWithToken(server,
/// "kubernetes", "tls-bootstrap-token-user", ca, token)`, then the cluster renamed to the
/// cluster's `clusterName` (the context keeps its name).
pub fn bootstrap_kubelet_conf(
    server: &str,
    ca_pem: &[u8],
    cluster_name: &str,
    auth: BootstrapAuth,
) -> KubeConfig {
    let mut config = match auth {
        BootstrapAuth::Token(token) => {
            KubeConfig::with_token(server, DEFAULT_CLUSTER_NAME, TOKEN_USER, ca_pem, token)
        }
        BootstrapAuth::ClientCertificate { cert_pem, key_pem } => {
            KubeConfig::with_embedded_client_cert(
                server,
                DEFAULT_CLUSTER_NAME,
                TOKEN_USER,
                ca_pem,
                cert_pem,
                key_pem,
            )
        }
    };
    for named in &mut config.clusters {
        named.name = cluster_name.into();
    }
    for named in &mut config.contexts {
        named.context.cluster = cluster_name.into();
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_conf_is_the_kubelets_layout() {
        let yaml = kubelet_conf(
            "https://10.0.0.1:6443",
            b"CA",
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
        )
        .to_yaml()
        .unwrap();
        assert_eq!(
            yaml,
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    \
             server: https://10.0.0.1:6443\n  name: default-cluster\ncontexts:\n- context:\n    \
             cluster: default-cluster\n    namespace: default\n    user: default-auth\n  \
             name: default-context\ncurrent-context: default-context\nkind: Config\n\
             preferences: {}\nusers:\n- name: default-auth\n  user:\n    \
             client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    \
             client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n"
        );
    }

    #[test]
    fn bootstrap_conf_names_the_context_as_kubeadm() {
        let yaml = bootstrap_kubelet_conf(
            "https://10.0.0.1:6443",
            b"CA",
            "prod",
            BootstrapAuth::Token("abcdef.0123456789abcdef"),
        )
        .to_yaml()
        .unwrap();
        assert_eq!(
            yaml,
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    \
             server: https://10.0.0.1:6443\n  name: prod\ncontexts:\n- context:\n    \
             cluster: prod\n    user: tls-bootstrap-token-user\n  \
             name: tls-bootstrap-token-user@kubernetes\n\
             current-context: tls-bootstrap-token-user@kubernetes\nkind: Config\n\
             preferences: {}\nusers:\n- name: tls-bootstrap-token-user\n  user:\n    \
             token: abcdef.0123456789abcdef\n"
        );
    }
}

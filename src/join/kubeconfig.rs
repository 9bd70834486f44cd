//! The two kubeconfigs a worker join writes, in client-go's layout (`clientcmd.Write`):
//! `kubelet.conf` as the kubelet writes it after its own TLS bootstrap
//! (`writeKubeconfigFromBootstrapping`), and `bootstrap-kubelet.conf` as kubeadm writes it for
//! the kubelet to bootstrap itself.
//!
//! TODO(lead): unify with `crate::kubeconfig` once it has a writer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// The user name kubeadm gives the bootstrap token (`discovery.TokenUser`).
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";
/// kubeadm's default cluster name, used in the bootstrap context name.
const DEFAULT_CLUSTER_NAME: &str = "kubernetes";

#[derive(Serialize)]
struct Config<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    clusters: Vec<NamedCluster<'a>>,
    contexts: Vec<NamedContext<'a>>,
    #[serde(rename = "current-context")]
    current_context: &'a str,
    kind: &'static str,
    preferences: serde_yaml::Mapping,
    users: Vec<NamedUser<'a>>,
}

#[derive(Serialize)]
struct NamedCluster<'a> {
    cluster: Cluster<'a>,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster<'a> {
    certificate_authority_data: String,
    server: &'a str,
}

#[derive(Serialize)]
struct NamedContext<'a> {
    context: Context<'a>,
    name: &'a str,
}

#[derive(Serialize)]
struct Context<'a> {
    cluster: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    user: &'a str,
}

#[derive(Serialize)]
struct NamedUser<'a> {
    name: &'a str,
    user: User<'a>,
}

/// A kubeconfig user. Holds secrets: no Debug.
#[derive(Default, Serialize)]
#[serde(rename_all = "kebab-case")]
struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_certificate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_certificate_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

/// How the bootstrap kubeconfig authenticates.
pub enum BootstrapAuth<'a> {
    Token(&'a str),
    ClientCertificate {
        cert_pem: &'a [u8],
        key_pem: &'a [u8],
    },
}

fn render(config: &Config) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(config)
}

/// `/etc/kubernetes/kubelet.conf` as the kubelet writes it after TLS bootstrap: the cluster CA
/// embedded, the client certificate and key both read from the store's `current` link.
pub fn kubelet_conf(
    server: &str,
    ca_pem: &[u8],
    pem_path: &str,
) -> Result<String, serde_yaml::Error> {
    render(&Config {
        api_version: "v1",
        clusters: vec![NamedCluster {
            cluster: Cluster {
                certificate_authority_data: STANDARD.encode(ca_pem),
                server,
            },
            name: "default-cluster",
        }],
        contexts: vec![NamedContext {
            context: Context {
                cluster: "default-cluster",
                namespace: Some("default"),
                user: "default-auth",
            },
            name: "default-context",
        }],
        current_context: "default-context",
        kind: "Config",
        preferences: serde_yaml::Mapping::new(),
        users: vec![NamedUser {
            name: "default-auth",
            user: User {
                client_certificate: Some(pem_path),
                client_key: Some(pem_path),
                ..User::default()
            },
        }],
    })
}

/// `/etc/kubernetes/bootstrap-kubelet.conf` as kubeadm writes it: `CreateWithToken(server,
/// "kubernetes", "tls-bootstrap-token-user", ca, token)` with the cluster then renamed to the
/// cluster's `clusterName`.
pub fn bootstrap_kubelet_conf(
    server: &str,
    ca_pem: &[u8],
    cluster_name: &str,
    auth: BootstrapAuth,
) -> Result<String, serde_yaml::Error> {
    let context_name = format!("{TOKEN_USER}@{DEFAULT_CLUSTER_NAME}");
    let user = match auth {
        BootstrapAuth::Token(token) => User {
            token: Some(token),
            ..User::default()
        },
        BootstrapAuth::ClientCertificate { cert_pem, key_pem } => User {
            client_certificate_data: Some(STANDARD.encode(cert_pem)),
            client_key_data: Some(STANDARD.encode(key_pem)),
            ..User::default()
        },
    };
    render(&Config {
        api_version: "v1",
        clusters: vec![NamedCluster {
            cluster: Cluster {
                certificate_authority_data: STANDARD.encode(ca_pem),
                server,
            },
            name: cluster_name,
        }],
        contexts: vec![NamedContext {
            context: Context {
                cluster: cluster_name,
                namespace: None,
                user: TOKEN_USER,
            },
            name: &context_name,
        }],
        current_context: &context_name,
        kind: "Config",
        preferences: serde_yaml::Mapping::new(),
        users: vec![NamedUser {
            name: TOKEN_USER,
            user,
        }],
    })
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

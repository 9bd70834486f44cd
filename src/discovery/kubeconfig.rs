//! The few kubeconfig fields discovery reads (the cluster-info kubeconfig and `--discovery-file`),
//! and kubeadm's rule for which cluster a kubeconfig means (`GetClusterFromKubeConfig`): the
//! unnamed cluster if there is one, otherwise the current context's. Anything that could mean two
//! different clusters is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct NamedCluster {
    #[serde(default)]
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Cluster {
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub certificate_authority_data: Option<String>,
    /// A CA file path, embedded by file discovery.
    #[serde(default)]
    pub certificate_authority: Option<String>,
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct NamedContext {
    #[serde(default)]
    name: String,
    context: Context,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Context {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Clone, Deserialize)]
struct NamedUser {
    #[serde(default)]
    name: String,
    user: User,
}

/// A kubeconfig user. Holds secrets: no Debug.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct User {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default)]
    pub client_certificate_data: Option<String>,
    #[serde(default)]
    pub client_key_data: Option<String>,
    #[serde(default)]
    pub client_certificate: Option<String>,
    #[serde(default)]
    pub client_key: Option<String>,
}

impl std::fmt::Debug for NamedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedUser({:?}, <redacted>)", self.name)
    }
}

impl Kubeconfig {
    /// Parses a kubeconfig; the error says why (never quoting the content, which may hold keys).
    pub fn parse(bytes: &[u8]) -> Result<Kubeconfig, String> {
        serde_yaml::from_slice(bytes).map_err(|e| match e.location() {
            Some(at) => format!(
                "not a valid kubeconfig (YAML error at line {}, column {})",
                at.line(),
                at.column()
            ),
            None => "not a valid kubeconfig (YAML error)".to_string(),
        })
    }

    pub fn cluster_count(&self) -> usize {
        self.clusters.as_ref().map_or(0, Vec::len)
    }

    /// The cluster this kubeconfig is about, with its name.
    pub fn selected_cluster(&self) -> Result<(&str, &Cluster), String> {
        let clusters = self.clusters.as_deref().unwrap_or_default();
        for (i, c) in clusters.iter().enumerate() {
            if clusters[..i].iter().any(|other| other.name == c.name) {
                return Err(format!("cluster {:?} is defined twice", c.name));
            }
        }
        let find = |name: &str| clusters.iter().find(|c| c.name == name);
        let from_context = self.current_context().map(|ctx| ctx.cluster.as_str());
        match (find(""), from_context) {
            (Some(_), Some(name)) if !name.is_empty() && find(name).is_some() => Err(format!(
                "both an unnamed cluster and the current context's cluster {name:?} are defined"
            )),
            (Some(unnamed), _) => Ok(("", &unnamed.cluster)),
            (None, Some(name)) => find(name)
                .map(|c| (c.name.as_str(), &c.cluster))
                .ok_or_else(|| format!("no cluster {name:?} for the current context")),
            (None, None) => Err(format!(
                "no unnamed cluster and no context {:?} to choose one",
                self.current_context.as_deref().unwrap_or_default()
            )),
        }
    }

    fn current_context(&self) -> Option<&Context> {
        let name = self.current_context.as_deref()?;
        self.contexts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
    }

    /// The current context's user (kubeadm's `getCurrentAuthInfo`).
    pub fn current_user(&self) -> Option<&User> {
        let name = &self.current_context()?.user;
        self.users
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|u| &u.name == name)
            .map(|u| &u.user)
    }
}

/// Decodes a kubeconfig `*-data` field (standard base64, as Go encodes `[]byte`).
pub(crate) fn decode_data(field: &str, value: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(value.trim())
        .map_err(|e| format!("{field} is not valid base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Kubeconfig {
        let path = format!(
            "{}/tests/fixtures/discovery/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        Kubeconfig::parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The kubeconfig a real v1.19 cluster served in cluster-info.
    fn golden_cluster_info_kubeconfig() -> Kubeconfig {
        let path = format!(
            "{}/../shared/golden/k8s-v1.19/cluster-info.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let cm: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        Kubeconfig::parse(cm["data"]["kubeconfig"].as_str().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn the_unnamed_cluster_of_cluster_info_is_selected() {
        let kc = golden_cluster_info_kubeconfig();
        let (name, cluster) = kc.selected_cluster().unwrap();
        assert_eq!(name, "");
        assert_eq!(cluster.server, "https://127.0.0.1:6443");
        assert!(cluster.certificate_authority_data.is_some());
        assert_eq!(kc.cluster_count(), 1);
        assert!(kc.current_user().is_none());
    }

    #[test]
    fn the_current_contexts_cluster_and_user_are_selected() {
        let kc = fixture("discovery-file-two-clusters.yaml");
        let (name, cluster) = kc.selected_cluster().unwrap();
        assert_eq!(name, "prod");
        assert_eq!(cluster.server, "https://10.0.0.10:6443");
        assert_eq!(
            kc.current_user().unwrap().token.as_deref(),
            Some("abcdef.0123456789abcdef")
        );
    }

    #[test]
    fn ambiguous_kubeconfigs_are_refused() {
        for (name, reason) in [
            (
                "ambiguous-unnamed-and-context.yaml",
                "both an unnamed cluster",
            ),
            ("ambiguous-duplicate-cluster.yaml", "defined twice"),
            (
                "no-current-context.yaml",
                "no unnamed cluster and no context",
            ),
        ] {
            let err = fixture(name).selected_cluster().unwrap_err();
            assert!(err.contains(reason), "{name}: {err}");
        }
    }

    #[test]
    fn parse_errors_do_not_quote_the_content() {
        let err = Kubeconfig::parse(b"clusters: [\n  secret-key-material: {").unwrap_err();
        assert!(!err.contains("secret-key-material"), "{err}");
    }
}

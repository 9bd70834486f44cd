//! kubeadm's rule for which cluster a kubeconfig means (`GetClusterFromKubeConfig`), for the
//! cluster-info kubeconfig and `--discovery-file`: the unnamed cluster if there is one,
//! otherwise the current context's. Anything that could mean two different clusters is refused.
//! The file format itself is [`crate::kubeconfig`]'s.

use crate::kubeconfig::{self, Cluster, KubeConfig};

/// Parses a kubeconfig; the error says why (never quoting the content, which may hold keys).
pub(crate) fn parse(bytes: &[u8]) -> Result<KubeConfig, String> {
    let invalid = |reason: String| format!("not a valid kubeconfig: {reason}");
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
    kubeconfig::parse(text).map_err(|e| match e {
        kubeconfig::Error::Parse { reason, .. } => invalid(reason),
        other => invalid(other.to_string()),
    })
}

/// The cluster `config` is about, with its name.
pub(crate) fn selected_cluster(config: &KubeConfig) -> Result<(&str, &Cluster), String> {
    let clusters = &config.clusters;
    for (i, c) in clusters.iter().enumerate() {
        if clusters[..i].iter().any(|other| other.name == c.name) {
            return Err(format!("cluster {:?} is defined twice", c.name));
        }
    }
    let find = |name: &str| clusters.iter().find(|c| c.name == name);
    let from_context = config.current().map(|ctx| ctx.cluster.as_str());
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
            config.current_context
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> KubeConfig {
        let path = format!(
            "{}/tests/fixtures/discovery/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The kubeconfig a real v1.19 cluster served in cluster-info.
    fn golden_cluster_info_kubeconfig() -> KubeConfig {
        let path = format!(
            "{}/../shared/golden/k8s-v1.19/cluster-info.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let cm: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        parse(cm["data"]["kubeconfig"].as_str().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn the_unnamed_cluster_of_cluster_info_is_selected() {
        let kc = golden_cluster_info_kubeconfig();
        let (name, cluster) = selected_cluster(&kc).unwrap();
        assert_eq!(name, "");
        assert_eq!(cluster.server, "https://127.0.0.1:6443");
        assert!(cluster.certificate_authority_data.is_some());
        assert_eq!(kc.clusters.len(), 1);
        assert!(kc.current_user().is_none());
    }

    #[test]
    fn the_current_contexts_cluster_and_user_are_selected() {
        let kc = fixture("discovery-file-two-clusters.yaml");
        let (name, cluster) = selected_cluster(&kc).unwrap();
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
            let err = selected_cluster(&fixture(name)).unwrap_err();
            assert!(err.contains(reason), "{name}: {err}");
        }
    }

    #[test]
    fn parse_errors_do_not_quote_the_content() {
        let err = parse(b"clusters: [\n  secret-key-material: {").unwrap_err();
        assert!(!err.contains("secret-key-material"), "{err}");
    }
}

//! `kubeboot join --dry-run`: the requests a join would make, printed instead of sent. Nothing
//! touches the network; the CSR is made with a fresh key that is thrown away.

use serde::Serialize;

use crate::api;
use crate::cli::TlsBootstrapMode;
use crate::config::model::{Discovery, JoinConfiguration};
use crate::discovery::{self, pin::PinSet};
use crate::tlsbootstrap;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node};

/// One request a join would make. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRequest {
    pub method: &'static str,
    /// `https://host:port`, or where the server would come from.
    pub server: String,
    pub path: String,
    /// Who the request would authenticate as (the token id only).
    pub auth: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

fn path<K>(namespace: Option<&str>, name: Option<&str>) -> Result<String, api::Error>
where
    K: k8s_openapi::Resource,
    K::Scope: api::Scope,
{
    api::resource_path::<K>(namespace, name).map_err(|detail| api::Error::Request {
        method: "GET",
        url: K::URL_PATH_SEGMENT.to_string(),
        detail,
    })
}

/// The requests of a join, in order. Configuration errors that the real join would find before
/// the network (pins, names) are returned here too.
pub fn plan(
    cfg: &JoinConfiguration,
    mode: TlsBootstrapMode,
    node_name: &str,
) -> crate::Result<Vec<PlannedRequest>> {
    let cluster_info = path::<ConfigMap>(Some("kube-public"), Some("cluster-info"))?;
    let mut requests = Vec::new();
    let server = match &cfg.discovery {
        Discovery::BootstrapToken(td) => {
            let pins = PinSet::parse(&td.ca_cert_hashes).map_err(discovery::Error::from)?;
            if pins.is_empty() && !td.unsafe_skip_ca_verification {
                return Err(discovery::Error::NoPins.into());
            }
            let endpoint = format!("https://{}", td.api_server_endpoint);
            requests.push(PlannedRequest {
                method: "GET",
                server: endpoint.clone(),
                path: cluster_info.clone(),
                auth: "anonymous".into(),
                note: Some(format!(
                    "unverified TLS; the kubeconfig's JWS signature is checked with token id \
                     {:?} and its CA against the pins",
                    td.token.id
                )),
                body: None,
            });
            if !pins.is_empty() {
                requests.push(PlannedRequest {
                    method: "GET",
                    server: endpoint,
                    path: cluster_info,
                    auth: "anonymous".into(),
                    note: Some(
                        "TLS verified against the pinned CA; must return the same kubeconfig"
                            .into(),
                    ),
                    body: None,
                });
            }
            "<the server named in cluster-info>".to_string()
        }
        Discovery::File(location) => {
            requests.push(PlannedRequest {
                method: "GET",
                server: "<the server of the discovery file>".into(),
                path: cluster_info,
                auth: "anonymous".into(),
                note: Some(format!(
                    "TLS verified against the CA of discovery file {}",
                    crate::logging::redact_url(location)
                )),
                body: None,
            });
            "<the server of the discovery file>".to_string()
        }
    };
    let auth = bootstrap_identity(cfg);
    let request = |method, path: String, note: Option<String>, body| PlannedRequest {
        method,
        server: server.clone(),
        path,
        auth: auth.clone(),
        note,
        body,
    };
    requests.push(request(
        "GET",
        path::<ConfigMap>(Some("kube-system"), Some("kubeadm-config"))?,
        None,
        None,
    ));
    requests.push(request(
        "GET",
        path::<ConfigMap>(Some("kube-system"), Some("kubelet-config"))?,
        Some("kubelet-config-1.<minor> for clusters older than 1.24".into()),
        None,
    ));
    requests.push(request(
        "GET",
        path::<Node>(None, Some(node_name))?,
        Some("the join is refused if this Node exists and is Ready".into()),
        None,
    ));
    if mode == TlsBootstrapMode::Kubeboot {
        let csr = tlsbootstrap::new_node_csr(node_name)?;
        requests.push(request(
            "POST",
            path::<CertificateSigningRequest>(None, None)?,
            Some(
                "made with a fresh key for this dry run; a real join persists its key first".into(),
            ),
            Some(tlsbootstrap::csr_object(&csr)),
        ));
        requests.push(request(
            "GET",
            path::<CertificateSigningRequest>(None, Some(&csr.name))?,
            Some("polled until approved and issued, denied, or timeouts.tlsBootstrap".into()),
            None,
        ));
    }
    Ok(requests)
}

/// The TLS bootstrap identity, without its secret.
fn bootstrap_identity(cfg: &JoinConfiguration) -> String {
    let token = cfg.tls_bootstrap_token.as_ref().or(match &cfg.discovery {
        Discovery::BootstrapToken(td) => Some(&td.token),
        Discovery::File(_) => None,
    });
    match token {
        Some(t) => format!("bootstrap token {}.<redacted>", t.id),
        None => "the credentials of the discovery file".into(),
    }
}

/// The plan as a multi-document YAML stream.
pub fn to_yaml(requests: &[PlannedRequest]) -> String {
    requests
        .iter()
        .map(|r| serde_yaml::to_string(r).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

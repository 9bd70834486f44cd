//! Token discovery, as kubeadm's `discovery/token/token.go`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use rustls_pki_types::CertificateDer;

use super::kubeconfig::selected_cluster;
use super::pin::{PinSet, Selection};
use super::{Error, Found, Session, jws};
use crate::api::{self, Auth, Trust};
use crate::config::model::{BootstrapTokenDiscovery, BootstrapTokenString};

const NAMESPACE: &str = "kube-public";
const CLUSTER_INFO: &str = "cluster-info";
const KUBECONFIG_KEY: &str = "kubeconfig";

pub(super) fn discover(td: &BootstrapTokenDiscovery, session: &Session) -> Result<Found, Error> {
    // Everything that can be refused without the network is refused first.
    let pins = PinSet::parse(&td.ca_cert_hashes)?;
    if pins.is_empty() && !td.unsafe_skip_ca_verification {
        return Err(Error::NoPins);
    }
    let endpoint = td.api_server_endpoint.as_str();
    let url = format!("https://{endpoint}");
    let token = &td.token;

    log::info!(
        "[discovery] Created cluster-info discovery client, requesting info from {endpoint:?}"
    );
    let insecure =
        fetch_signed_cluster_info(session, &url, endpoint, Trust::any_certificate(), token)?;
    let kubeconfig = verified_kubeconfig(&insecure, endpoint, token)?;
    let (cluster, ca_certs) = read_cluster(kubeconfig, endpoint)?;

    if pins.is_empty() {
        log::info!(
            "[discovery] Cluster info signature and contents are valid and no TLS pinning was \
             specified, will use API Server {endpoint:?}"
        );
        return Ok(cluster);
    }

    let selection = pins
        .select(&ca_certs)
        .map_err(|mismatch| Error::PinMismatch {
            endpoint: endpoint.to_string(),
            found: mismatch.found.join(", "),
        })?;
    let cluster = keep_pinned_certificates(cluster, &ca_certs, &selection, endpoint);

    log::info!(
        "[discovery] Requesting info from {endpoint:?} again to validate TLS against the pinned \
         public key"
    );
    let trust = Trust::from_pem(&cluster.ca_pem, "certificate-authority-data").map_err(|e| {
        Error::InvalidClusterInfo {
            origin: endpoint.to_string(),
            reason: e.0,
        }
    })?;
    let secure = fetch_signed_cluster_info(session, &url, endpoint, trust, token)?;
    if secure.get(KUBECONFIG_KEY).map(String::as_bytes) != Some(kubeconfig.as_bytes()) {
        return Err(Error::ChangedBetweenFetches {
            endpoint: endpoint.to_string(),
        });
    }
    log::info!(
        "[discovery] Cluster info signature and contents are valid and TLS certificate validates \
         against pinned roots, will use API Server {endpoint:?}"
    );
    Ok(cluster)
}

/// Narrows the cluster CA bundle to its pinned certificates. kubeadm trusts the whole bundle once
/// one certificate is pinned; but every joining node holds the token and can sign a cluster-info
/// that adds its own CA next to the real one, so an unpinned CA is never trusted nor written.
fn keep_pinned_certificates(
    mut cluster: Found,
    ca_certs: &[CertificateDer<'static>],
    selection: &Selection,
    endpoint: &str,
) -> Found {
    if selection.unpinned.is_empty() && selection.pinned.len() == ca_certs.len() {
        return cluster;
    }
    let unreadable = ca_certs.len() - selection.pinned.len() - selection.unpinned.len();
    log::warn!(
        "[discovery] Ignoring {} CA certificate(s) of the cluster-info of {endpoint:?} whose \
         public keys match no --discovery-token-ca-cert-hash: [{}]{}",
        ca_certs.len() - selection.pinned.len(),
        selection.unpinned.join(", "),
        if unreadable > 0 {
            format!(" and {unreadable} that cannot be parsed")
        } else {
            String::new()
        }
    );
    cluster.ca_pem = selection
        .pinned
        .iter()
        .map(|&i| crate::pki::encode_pem("CERTIFICATE", &ca_certs[i]))
        .collect::<String>()
        .into_bytes();
    cluster
}

/// Polls cluster-info until it carries a signature for the token id. Network failures and a
/// missing signature are retried until the deadline; a TLS trust failure is not.
fn fetch_signed_cluster_info(
    session: &Session,
    url: &str,
    endpoint: &str,
    trust: Trust,
    token: &BootstrapTokenString,
) -> Result<BTreeMap<String, String>, Error> {
    let signature_key = jws::signature_key(&token.id);
    let mut polls = 0;
    loop {
        log::debug!(
            "[discovery] Waiting for the cluster-info ConfigMap to receive a JWS signature for \
             token ID {:?}",
            token.id
        );
        let client = session
            .client(url, trust.clone(), Auth::Anonymous)
            .map_err(|e| Error::InvalidEndpoint {
                endpoint: endpoint.to_string(),
                detail: e.to_string(),
            })?;
        let failure = match client
            .get_as::<ConfigMap, api::DataView<String>>(Some(NAMESPACE), CLUSTER_INFO)
        {
            Ok(cm) => {
                let data = cm.data.unwrap_or_default();
                if data.get(&signature_key).is_some_and(|s| !s.is_empty()) {
                    return Ok(data);
                }
                log::info!(
                    "[discovery] Retrying due to error: could not find a JWS signature in the \
                     cluster-info ConfigMap for token ID {:?}",
                    token.id
                );
                Error::NotSigned {
                    endpoint: endpoint.to_string(),
                    token_id: token.id.clone(),
                    timeout: session.timeout,
                }
            }
            Err(e) if e.is_trust() => {
                return Err(Error::Untrusted {
                    endpoint: endpoint.to_string(),
                    source: Box::new(e),
                });
            }
            Err(e) => {
                log::info!(
                    "[discovery] Retrying due to error: failed to request the cluster-info \
                     ConfigMap: {e}"
                );
                Error::Unreachable {
                    endpoint: endpoint.to_string(),
                    timeout: session.timeout,
                    source: Box::new(e),
                }
            }
        };
        if !session.wait_before_next_poll(&mut polls) {
            return Err(failure);
        }
    }
}

/// The kubeconfig string of cluster-info, once its signature is verified for the token.
fn verified_kubeconfig<'a>(
    data: &'a BTreeMap<String, String>,
    endpoint: &str,
    token: &BootstrapTokenString,
) -> Result<&'a str, Error> {
    let kubeconfig = data
        .get(KUBECONFIG_KEY)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Error::NotBootstrapEnabled {
            endpoint: endpoint.to_string(),
        })?;
    let signature = data
        .get(&jws::signature_key(&token.id))
        .map(String::as_str)
        .unwrap_or_default();
    if !jws::detached_signature_is_valid(signature, kubeconfig, &token.id, token.secret()) {
        return Err(Error::BadSignature {
            endpoint: endpoint.to_string(),
            token_id: token.id.clone(),
        });
    }
    Ok(kubeconfig)
}

/// The one cluster of the signed kubeconfig: its server and CA (PEM, and parsed).
fn read_cluster(
    kubeconfig: &str,
    endpoint: &str,
) -> Result<(Found, Vec<CertificateDer<'static>>), Error> {
    let invalid = |reason: String| Error::InvalidClusterInfo {
        origin: endpoint.to_string(),
        reason,
    };
    let config = super::kubeconfig::parse(kubeconfig.as_bytes()).map_err(invalid)?;
    if config.clusters.len() != 1 {
        return Err(invalid(format!(
            "it must define exactly one cluster, found {}",
            config.clusters.len()
        )));
    }
    let (_, cluster) = selected_cluster(&config).map_err(invalid)?;
    if !cluster.server.starts_with("https://") {
        return Err(invalid(format!(
            "the cluster server {:?} is not an https:// URL",
            cluster.server
        )));
    }
    let ca_pem = cluster
        .certificate_authority_data
        .clone()
        .ok_or_else(|| invalid("the cluster has no certificate-authority-data".into()))?;
    let ca_certs =
        api::parse_certificates(&ca_pem, "certificate-authority-data").map_err(|e| invalid(e.0))?;
    let found = Found {
        server: cluster.server.clone(),
        ca_pem,
        file_credentials: None,
    };
    Ok((found, ca_certs))
}

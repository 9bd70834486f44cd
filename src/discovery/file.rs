//! File discovery, as kubeadm's `discovery/file/file.go` and `discovery/https/https.go`: a
//! kubeconfig on the node or at an https URL (verified with the system trust store). Its
//! cluster's CA and server are validated by reading cluster-info over TLS with them (and with
//! the file's credentials, if it has some); cluster-info may supply a CA the file lacks.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;

use super::kubeconfig::{self, selected_cluster};
use super::{BootstrapCredentials, Error, Found, Session};
use crate::api::{Auth, DataView, Method, Trust};
use crate::fs::Root;
use crate::kubeconfig::{AuthInfo, Cluster, KubeConfig};
use crate::logging::redact_url;

pub(super) fn discover(
    root: &Root,
    location: &str,
    has_tls_bootstrap_token: bool,
    session: &Session,
) -> Result<Found, Error> {
    let (bytes, base_dir) = if is_https_url(location) {
        (download(root, location, session)?, PathBuf::from("/"))
    } else {
        let dir = Path::new(location)
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        (root.read(location)?, dir)
    };
    // A presigned URL carries its credentials in the query: messages show it without them.
    let shown = redact_url(location);
    let invalid = |reason: String| Error::InvalidDiscoveryFile {
        origin: shown.clone(),
        reason,
    };
    let config = kubeconfig::parse(&bytes).map_err(invalid)?;
    let file = DiscoveryFile::read(root, &config, &base_dir).map_err(invalid)?;
    if file.credentials.is_none() && !has_tls_bootstrap_token {
        return Err(Error::NoBootstrapCredentials);
    }
    validate_config_info(root, file, &shown, session)
}

/// Go's `url.Parse(s).Scheme == "https"` (schemes are case-insensitive).
fn is_https_url(location: &str) -> bool {
    location
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

fn system_trust(root: &Root, session: &Session) -> Result<Trust, Error> {
    let path = &session.opts.system_ca_bundle;
    let pem = root.read(path)?;
    Trust::from_pem(&pem, &path.display().to_string()).map_err(|e| Error::InvalidDiscoveryFile {
        origin: path.display().to_string(),
        reason: e.0,
    })
}

/// GETs an https discovery file, verified with the system trust store, redirects not followed.
fn download(root: &Root, url: &str, session: &Session) -> Result<Vec<u8>, Error> {
    let shown = redact_url(url);
    let invalid = |reason: String| Error::InvalidDiscoveryFile {
        origin: shown.clone(),
        reason,
    };
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| invalid(format!("not a URL: {e}")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("the URL has no host".into()))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let client = session
        .client(
            &format!("https://{authority}"),
            system_trust(root, session)?,
            Auth::Anonymous,
        )
        .map_err(|e| invalid(e.to_string()))?;
    client
        .request(Method::Get, path, None)
        // The client's errors show the URL redacted already.
        .map_err(|source| Error::Download {
            url: shown.clone(),
            source: Box::new(source),
        })
}

/// What the discovery file says, with every referenced file embedded (kubeadm's
/// `EnsureCertificateAuthorityIsEmbedded`, `EnsureAuthenticationInfoAreEmbedded`).
struct DiscoveryFile {
    server: String,
    ca_pem: Option<Vec<u8>>,
    credentials: Option<BootstrapCredentials>,
}

impl DiscoveryFile {
    fn read(root: &Root, config: &KubeConfig, base_dir: &Path) -> Result<DiscoveryFile, String> {
        if config.clusters.is_empty() {
            return Err(
                "the provided kubeconfig file must have at least one Cluster defined".into(),
            );
        }
        let (_, cluster) = selected_cluster(config)
            .map_err(|e| format!("the provided kubeconfig file is malformed: {e}"))?;
        if cluster.insecure_skip_tls_verify {
            return Err(
                "insecure-skip-tls-verify is set: kubeboot never joins a cluster it has \
                        not verified; embed the cluster CA (certificate-authority-data)"
                    .into(),
            );
        }
        if !cluster.server.starts_with("https://") {
            return Err(format!(
                "the cluster server {:?} is not an https:// URL",
                cluster.server
            ));
        }
        Ok(DiscoveryFile {
            server: cluster.server.clone(),
            ca_pem: embedded_ca(root, cluster, base_dir)?,
            credentials: match config.current_user() {
                Some(user) => embedded_credentials(root, user, base_dir)?,
                None => None,
            },
        })
    }
}

fn read_referenced(
    root: &Root,
    base_dir: &Path,
    field: &str,
    path: &str,
) -> Result<Vec<u8>, String> {
    // Relative paths are relative to the kubeconfig's directory, as clientcmd resolves them.
    let node_path = base_dir.join(path);
    root.read(&node_path)
        .map_err(|e| format!("cannot read its {field}: {e}"))
}

fn embedded_ca(root: &Root, cluster: &Cluster, base_dir: &Path) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = &cluster.certificate_authority_data {
        return Ok(Some(data.clone()));
    }
    match cluster.certificate_authority.as_deref() {
        Some(path) if !path.is_empty() => {
            read_referenced(root, base_dir, "certificate-authority", path).map(Some)
        }
        _ => Ok(None),
    }
}

/// The user's token or client certificate, if complete (kubeadm's
/// `HasAuthenticationCredentials`; basic auth is gone from Kubernetes and not supported).
fn embedded_credentials(
    root: &Root,
    user: &AuthInfo,
    base_dir: &Path,
) -> Result<Option<BootstrapCredentials>, String> {
    if let Some(token) = user.token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(BootstrapCredentials::Token(token.to_string())));
    }
    if let Some(path) = user.token_file.as_deref().filter(|p| !p.is_empty()) {
        let bytes = read_referenced(root, base_dir, "tokenFile", path)?;
        let token = String::from_utf8(bytes)
            .map_err(|_| "its tokenFile is not text".to_string())?
            .trim()
            .to_string();
        return Ok((!token.is_empty()).then_some(BootstrapCredentials::Token(token)));
    }
    let cert = data_or_file(
        root,
        base_dir,
        user.client_certificate_data.as_deref(),
        ("client-certificate", user.client_certificate.as_deref()),
    )?;
    let key = data_or_file(
        root,
        base_dir,
        user.client_key_data.as_deref(),
        ("client-key", user.client_key.as_deref()),
    )?;
    Ok(match (cert, key) {
        (Some(cert_pem), Some(key_pem)) => {
            Some(BootstrapCredentials::ClientCertificate { cert_pem, key_pem })
        }
        _ => None,
    })
}

fn data_or_file(
    root: &Root,
    base_dir: &Path,
    data: Option<&[u8]>,
    (file_field, file): (&str, Option<&str>),
) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        return Ok(Some(data.to_vec()));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(path) => read_referenced(root, base_dir, file_field, path).map(Some),
        None => Ok(None),
    }
}

/// kubeadm's `ValidateConfigInfo`: proves the file's cluster by reading cluster-info over TLS
/// with its CA (or the system trust store) and credentials, and takes the CA from cluster-info
/// when the file has none.
fn validate_config_info(
    root: &Root,
    file: DiscoveryFile,
    origin: &str,
    session: &Session,
) -> Result<Found, Error> {
    let invalid = |reason: String| Error::InvalidDiscoveryFile {
        origin: origin.to_string(),
        reason,
    };
    let trust = match &file.ca_pem {
        Some(pem) => Trust::from_pem(pem, "its certificate authority").map_err(|e| invalid(e.0))?,
        None => system_trust(root, session)?,
    };
    let auth = match &file.credentials {
        Some(credentials) => {
            log::info!(
                "[discovery] Using authentication credentials from the discovery file for \
                 validating TLS connection"
            );
            credentials.auth(origin).map_err(|e| invalid(e.0))?
        }
        None => {
            log::info!(
                "[discovery] Discovery file does not contains authentication credentials, using \
                 unauthenticated request for validating TLS connection"
            );
            Auth::Anonymous
        }
    };

    let server = file.server.as_str();
    log::info!(
        "[discovery] Created cluster-info discovery client, requesting info from {server:?}"
    );
    let cluster_info = read_cluster_info(session, server, &trust, &auth)?;

    let mut ca_pem = file.ca_pem;
    if let Some(refreshed) = cluster_info.and_then(|cm| refreshed_cluster(&cm)) {
        let (_, refreshed) =
            selected_cluster(&refreshed).map_err(|reason| Error::InvalidClusterInfo {
                origin: server.to_string(),
                reason: format!("malformed kubeconfig in the cluster-info ConfigMap: {reason}"),
            })?;
        if refreshed.server != server {
            log::warn!(
                "[discovery] the API Server endpoint {server:?} in use is different from the \
                 endpoint {:?} which defined in the cluster-info ConfigMap",
                refreshed.server
            );
        }
        let missing_ca = ca_pem.is_none();
        if let Some(pem) = refreshed
            .certificate_authority_data
            .clone()
            .filter(|_| missing_ca)
        {
            log::info!(
                "[discovery] Synced CertificateAuthorityData from the cluster-info ConfigMap"
            );
            ca_pem = Some(pem);
        }
    }
    let ca_pem = ca_pem.ok_or_else(|| {
        invalid(
            "it has no certificate-authority(-data) and the cluster-info ConfigMap provided none; \
             embed the cluster CA"
                .into(),
        )
    })?;
    Ok(Found {
        server: file.server,
        ca_pem,
        file_credentials: file.credentials,
    })
}

/// cluster-info, or `None` when the cluster forbids reading it (the TLS connection was valid, so
/// the file is trusted as it is). Retried until the deadline, except trust failures.
fn read_cluster_info(
    session: &Session,
    server: &str,
    trust: &Trust,
    auth: &Auth,
) -> Result<Option<DataView<String>>, Error> {
    let mut polls = 0;
    loop {
        let client = session
            .client(server, trust.clone(), auth.clone())
            .map_err(|e| Error::InvalidEndpoint {
                endpoint: server.to_string(),
                detail: e.to_string(),
            })?;
        let error = match client.get_as::<ConfigMap, _>(Some("kube-public"), "cluster-info") {
            Ok(cm) => return Ok(Some(cm)),
            Err(e) if e.is_forbidden() => {
                log::warn!(
                    "[discovery] Could not access the cluster-info ConfigMap for refreshing the \
                     cluster-info information, but the TLS cert is valid so proceeding..."
                );
                return Ok(None);
            }
            Err(e) if e.is_trust() => {
                return Err(Error::Untrusted {
                    endpoint: server.to_string(),
                    source: Box::new(e),
                });
            }
            Err(e) => e,
        };
        log::info!("[discovery] Error reading the cluster-info ConfigMap, will try again: {error}");
        if !session.wait_before_next_poll(&mut polls) {
            return Err(Error::Unreachable {
                endpoint: server.to_string(),
                timeout: session.timeout,
                source: Box::new(error),
            });
        }
    }
}

/// The kubeconfig in cluster-info, if it has a usable one (kubeadm's
/// `tryParseClusterInfoFromConfigMap`); otherwise the file is used as it is.
fn refreshed_cluster(cm: &DataView<String>) -> Option<KubeConfig> {
    let parsed = cm
        .data
        .as_ref()
        .and_then(|d| d.get("kubeconfig"))
        .filter(|k| !k.is_empty())
        .ok_or_else(|| "no kubeconfig key in ConfigMap".to_string())
        .and_then(|k| kubeconfig::parse(k.as_bytes()));
    match parsed {
        Ok(config) => Some(config),
        Err(reason) => {
            log::info!(
                "[discovery] The cluster-info ConfigMap isn't set up properly ({reason}), but the \
                 TLS cert is valid so proceeding..."
            );
            None
        }
    }
}

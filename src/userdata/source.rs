//! The sources, their probe order, and the whole load: probe, decode, merge.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::http::{Http, HttpError, Method, RetryPolicy};
use super::media::{self, Mounter, NixMounter};
use super::{Blob, Error, Loaded, UserData, azure, cloud, cmdline, format, local, seed};
use crate::fs::Root;
use crate::logging::redact_url;

/// A place user-data may come from.
pub trait Source {
    fn name(&self) -> &'static str;
    /// `Ok(None)`: nothing here, try the next source. `Err`: the source is present but broken
    /// (or was asked for explicitly and failed); the probe stops.
    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error>;
}

/// Everything a source may touch: the node's root, where things are, and the HTTP client.
pub struct Context<'a> {
    pub root: &'a Root,
    pub env: &'a SourceEnv,
    pub http: &'a Http,
}

/// Where the sources look. [`Default`] is production; tests point these at loopback servers,
/// fixture directories and a fake mounter. Files and devices are node paths (under the root).
#[derive(Debug, Clone)]
pub struct SourceEnv {
    /// EC2 instance metadata service.
    pub ec2_url: String,
    /// GCE metadata server.
    pub gce_url: String,
    /// Azure instance metadata service.
    pub azure_url: String,
    /// OpenStack metadata service.
    pub openstack_url: String,
    /// udev's by-label directory, where `cidata` and `config-2` media appear.
    pub by_label: PathBuf,
    /// Directory that may hold Azure's `ovf-env.xml` (cloud-init's seed directory).
    pub azure_seed_dir: PathBuf,
    /// Devices that may be Azure's provisioning media (udf or iso9660 holding `ovf-env.xml`).
    pub azure_devices: Vec<PathBuf>,
    pub mounter: Arc<dyn Mounter>,
    pub retry: RetryPolicy,
    /// CA bundles trusted for https user-data URLs; the first that exists is used.
    pub ca_bundles: Vec<PathBuf>,
}

impl Default for SourceEnv {
    fn default() -> Self {
        SourceEnv {
            ec2_url: "http://169.254.169.254".into(),
            gce_url: "http://metadata.google.internal".into(),
            azure_url: "http://169.254.169.254".into(),
            openstack_url: "http://169.254.169.254".into(),
            by_label: "/dev/disk/by-label".into(),
            azure_seed_dir: "/var/lib/cloud/seed/azure".into(),
            azure_devices: vec!["/dev/sr0".into()],
            mounter: Arc::new(NixMounter::default()),
            retry: RetryPolicy::default(),
            ca_bundles: [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from)
            .to_vec(),
        }
    }
}

/// The documented probe order, by name (also the names `--datasource` accepts).
pub const PROBE_ORDER: [&str; 8] = [
    "local",
    "cmdline",
    "nocloud",
    "configdrive",
    "ec2",
    "gce",
    "azure",
    "openstack",
];

/// Which sources to use, from `--datasource` and `--user-data`. `Debug` shows a URL without
/// its credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every source in [`PROBE_ORDER`].
    Probe,
    /// Only this one (`--datasource NAME`).
    Datasource(String),
    /// Only this file or http(s) URL (`--user-data PATH|URL`).
    Location(String),
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selection::Probe => f.write_str("Probe"),
            Selection::Datasource(name) => f.debug_tuple("Datasource").field(name).finish(),
            Selection::Location(location) => f
                .debug_tuple("Location")
                .field(&redact_url(location))
                .finish(),
        }
    }
}

impl Selection {
    pub fn from_args(datasource: Option<&str>, user_data: Option<&str>) -> Result<Self, Error> {
        match (datasource, user_data) {
            (Some(_), Some(_)) => Err(Error::Usage(
                "--datasource and --user-data exclude each other: give one".into(),
            )),
            (Some(name), None) => Ok(Selection::Datasource(name.to_string())),
            (None, Some(location)) => Ok(Selection::Location(location.to_string())),
            (None, None) => Ok(Selection::Probe),
        }
    }
}

pub fn source_by_name(name: &str) -> Option<Box<dyn Source>> {
    Some(match name {
        "local" => Box::new(local::Local),
        "cmdline" => Box::new(cmdline::Cmdline),
        "nocloud" => Box::new(seed::NoCloud),
        "configdrive" => Box::new(seed::ConfigDrive),
        "ec2" => Box::new(cloud::Ec2),
        "gce" => Box::new(cloud::Gce),
        "azure" => Box::new(azure::Azure),
        "openstack" => Box::new(cloud::OpenStack),
        _ => return None,
    })
}

/// The sources to probe, in order.
pub fn sources(selection: &Selection) -> Result<Vec<Box<dyn Source>>, Error> {
    match selection {
        Selection::Probe => Ok(PROBE_ORDER
            .iter()
            .filter_map(|name| source_by_name(name))
            .collect()),
        Selection::Datasource(name) => source_by_name(name).map(|s| vec![s]).ok_or_else(|| {
            Error::Usage(format!(
                "unknown --datasource {name:?}; use one of {}",
                PROBE_ORDER.join(", ")
            ))
        }),
        Selection::Location(location) => Ok(vec![Box::new(Explicit {
            location: location.clone(),
        })]),
    }
}

/// Tries sources in order: the first with user-data wins, `Ok(None)` passes on, an error stops.
pub fn probe(sources: &[Box<dyn Source>], cx: &Context<'_>) -> Result<UserData, Error> {
    for source in sources {
        log::debug!("[user-data] Looking for user-data in {}", source.name());
        if let Some(found) = source.fetch(cx)? {
            log::info!(
                "[user-data] Using user-data from {} ({} part(s))",
                found.source,
                found.parts.len()
            );
            return Ok(found);
        }
    }
    let tried: Vec<&str> = sources.iter().map(|s| s.name()).collect();
    Err(Error::NoUserData {
        tried: tried.join(", "),
    })
}

/// Finds the user-data, decodes every part and merges the documents.
pub fn load(root: &Root, env: &SourceEnv, selection: &Selection) -> Result<Loaded, Error> {
    let sources = sources(selection)?;
    let http = Http::new(env.retry.clone(), trusted_roots(root, &env.ca_bundles));
    let cx = Context {
        root,
        env,
        http: &http,
    };
    let found = probe(&sources, &cx)?;
    let mut documents = Vec::new();
    let mut skipped = 0;
    for part in &found.parts {
        let decoded = format::decode_with_limits(&part.bytes, &part.origin, &Default::default())?;
        documents.extend(decoded.documents);
        skipped += decoded.skipped;
    }
    if documents.is_empty() {
        let origins: Vec<&str> = found.parts.iter().map(|p| p.origin.as_str()).collect();
        return Err(Error::NothingForKubeboot {
            origin: origins.join(", "),
            skipped,
        });
    }
    Ok(Loaded {
        source: found.source,
        documents: format::merge(documents),
        meta: found.meta,
    })
}

/// CA certificates of the first bundle found; none is fine until an https URL is used.
fn trusted_roots(root: &Root, bundles: &[PathBuf]) -> Vec<CertificateDer<'static>> {
    for bundle in bundles {
        if let Ok(Some(pem)) = root.read_optional(bundle) {
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect();
            log::debug!(
                "[user-data] Trusting {} CA certificates from {} for https",
                certs.len(),
                bundle.display()
            );
            return certs;
        }
    }
    Vec::new()
}

/// `--user-data PATH|URL`: exactly this, nothing else.
struct Explicit {
    location: String,
}

impl Source for Explicit {
    fn name(&self) -> &'static str {
        "user-data"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let location = self.location.as_str();
        let shown = redact_url(location);
        let is_url = location.starts_with("http://") || location.starts_with("https://");
        let bytes = if is_url || location.starts_with("file:") {
            fetch_location(self.name(), cx, location)?
        } else {
            // A path on the command line means the file as the shell sees it, like kubeadm's
            // --config: relative to the working directory, not under --root.
            let path = std::path::absolute(location).map_err(|e| Error::Local {
                datasource: self.name(),
                what: shown.clone(),
                reason: e.to_string(),
            })?;
            media::read_limited(self.name(), &Root::new("/"), &path)?
        };
        let bytes = bytes.ok_or_else(|| Error::Local {
            datasource: self.name(),
            what: shown.clone(),
            reason: "it does not exist; check the --user-data argument".into(),
        })?;
        Ok(Some(UserData {
            source: self.name(),
            parts: vec![Blob {
                origin: shown,
                bytes,
            }],
            meta: Default::default(),
        }))
    }
}

/// Reads a `file:` URL (a node path) or GETs an `http(s):` URL that someone configured on
/// purpose: `Ok(None)` only for a missing file or HTTP 404; unreachable or failing is an error.
pub(crate) fn fetch_location(
    datasource: &'static str,
    cx: &Context<'_>,
    location: &str,
) -> Result<Option<Vec<u8>>, Error> {
    if let Some(path) = file_url_path(location) {
        return media::read_limited(datasource, cx.root, path);
    }
    if !(location.starts_with("http://") || location.starts_with("https://")) {
        return Err(Error::invalid(
            datasource,
            format!(
                "{:?} is not a file:, http: or https: URL",
                redact_url(location)
            ),
        ));
    }
    let reply = cx
        .http
        .send(Method::Get, location, &[], 5)
        .map_err(|e| http_failure(datasource, Method::Get, location, e))?;
    match reply.status {
        200..=299 => Ok(Some(reply.body)),
        404 => Ok(None),
        status => Err(Error::Unavailable {
            datasource,
            what: format!("GET {}", redact_url(location)),
            reason: format!("HTTP {status}"),
            hint: "check the URL and that the server allows this node to read it",
        }),
    }
}

/// `file:///p`, `file:/p` → `/p`.
fn file_url_path(location: &str) -> Option<&Path> {
    let rest = location.strip_prefix("file:")?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    Some(Path::new(path))
}

/// An HTTP failure as a source error.
pub(crate) fn http_failure(
    datasource: &'static str,
    method: Method,
    url: &str,
    e: HttpError,
) -> Error {
    let url = redact_url(url);
    let what = format!(
        "{} {url}",
        match method {
            Method::Get => "GET",
            Method::Put => "PUT",
        }
    );
    match e {
        HttpError::TooLarge => Error::invalid(format!("{datasource} {url}"), e.to_string()),
        HttpError::Unreachable { .. } => Error::Unavailable {
            datasource,
            what,
            reason: e.to_string(),
            hint: "check the network is up and the server is reachable from this node",
        },
        HttpError::Server { .. } => Error::Unavailable {
            datasource,
            what,
            reason: e.to_string(),
            hint: "the server is failing; check its status, or retry the boot later",
        },
        HttpError::Fatal(_) => Error::Unavailable {
            datasource,
            what,
            reason: e.to_string(),
            hint: "check the URL and, for https, the CA bundle in /etc/ssl/certs",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_order_is_the_documented_one() {
        let names: Vec<_> = sources(&Selection::Probe)
            .unwrap()
            .iter()
            .map(|s| s.name())
            .collect();
        assert_eq!(names, PROBE_ORDER);
    }

    #[test]
    fn selection_from_flags() {
        assert_eq!(Selection::from_args(None, None).unwrap(), Selection::Probe);
        assert!(matches!(
            Selection::from_args(Some("ec2"), Some("/x")),
            Err(Error::Usage(_))
        ));
        let e = sources(&Selection::Datasource("aws".into())).err().unwrap();
        assert!(e.to_string().contains("local, cmdline"), "{e}");
        assert_eq!(e.exit_code(), crate::ExitCode::Usage);
    }

    #[test]
    fn file_urls() {
        assert_eq!(file_url_path("file:///etc/x"), Some(Path::new("/etc/x")));
        assert_eq!(file_url_path("file:/etc/x"), Some(Path::new("/etc/x")));
        assert_eq!(file_url_path("http://x"), None);
    }
}

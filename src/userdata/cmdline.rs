//! `cmdline`: user-data named on the kernel command line, either kubeboot's own
//! `kubeboot.userdata=<file:|http:|https: URL>` or cloud-init's NoCloud seed
//! `ds=nocloud;s=<seed>;h=<hostname>` (also `ds=nocloud-net`, `seedfrom=`, `local-hostname=`).

use super::media::read_limited;
use super::seed::parse_meta_data;
use super::source::{Context, Source, fetch_location};
use super::{Blob, Error, MetaData, UserData};
use crate::logging::redact_url;

const CMDLINE: &str = "/proc/cmdline";
const USERDATA_PARAM: &str = "kubeboot.userdata";

pub(crate) struct Cmdline;

impl Source for Cmdline {
    fn name(&self) -> &'static str {
        "cmdline"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let Some(bytes) = read_limited(self.name(), cx.root, CMDLINE)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let params = split_params(&text);
        if let Some(url) = param(&params, USERDATA_PARAM) {
            return self.fetch_url(cx, url).map(Some);
        }
        match param(&params, "ds").and_then(NoCloudSeed::parse) {
            Some(seed) => self.fetch_seed(cx, &seed),
            None => Ok(None),
        }
    }
}

impl Cmdline {
    fn fetch_url(&self, cx: &Context<'_>, url: &str) -> Result<UserData, Error> {
        let shown = redact_url(url);
        let origin = format!("cmdline {USERDATA_PARAM}={shown}");
        let bytes = fetch_location(self.name(), cx, url)?.ok_or_else(|| Error::Local {
            datasource: self.name(),
            what: shown,
            reason: format!("not found; check {USERDATA_PARAM}= on the kernel command line"),
        })?;
        Ok(UserData {
            source: self.name(),
            parts: vec![Blob { origin, bytes }],
            meta: MetaData::default(),
        })
    }

    fn fetch_seed(&self, cx: &Context<'_>, seed: &NoCloudSeed) -> Result<Option<UserData>, Error> {
        let Some(base) = seed.seed_url() else {
            // `ds=nocloud` alone points at local seeds, which the `nocloud` source reads.
            return Ok(None);
        };
        let user_data_url = format!("{base}user-data");
        let bytes = fetch_location(self.name(), cx, &user_data_url)?.ok_or_else(|| {
            Error::Local {
                datasource: self.name(),
                what: redact_url(&user_data_url),
                reason: "the NoCloud seed named by ds=...;s= on the kernel command line has no user-data".into(),
            }
        })?;
        let meta_url = format!("{base}meta-data");
        let mut meta = match fetch_location(self.name(), cx, &meta_url)? {
            Some(meta) => parse_meta_data(&meta, &redact_url(&meta_url)),
            None => MetaData::default(),
        };
        if let Some(hostname) = &seed.hostname {
            meta.hostname = MetaData::checked_hostname(hostname, "the kernel command line");
        }
        Ok(Some(UserData {
            source: self.name(),
            parts: vec![Blob {
                origin: format!("cmdline {}", redact_url(&user_data_url)),
                bytes,
            }],
            meta,
        }))
    }
}

/// Kernel parameters, split on spaces; double quotes group and are removed, as the kernel does.
fn split_params(cmdline: &str) -> Vec<String> {
    let mut params = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    params.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        params.push(current);
    }
    params
}

/// The value of the last `name=value` (later parameters override earlier ones).
fn param<'a>(params: &'a [String], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

/// cloud-init's `ds=nocloud[-net];key=value;...`.
#[derive(Debug, PartialEq, Eq)]
struct NoCloudSeed {
    seed: Option<String>,
    hostname: Option<String>,
}

impl NoCloudSeed {
    fn parse(ds: &str) -> Option<NoCloudSeed> {
        let mut fields = ds.split(';');
        let name = fields.next()?;
        if !(name.eq_ignore_ascii_case("nocloud") || name.eq_ignore_ascii_case("nocloud-net")) {
            return None;
        }
        let mut seed = NoCloudSeed {
            seed: None,
            hostname: None,
        };
        for field in fields {
            match field.split_once('=') {
                Some(("s" | "seedfrom", v)) => seed.seed = Some(v.to_string()),
                Some(("h" | "local-hostname", v)) => seed.hostname = Some(v.to_string()),
                _ => {}
            }
        }
        Some(seed)
    }

    /// The seed as a URL ending in `/`, so that `user-data` and `meta-data` can be appended;
    /// a bare path becomes a `file://` URL.
    fn seed_url(&self) -> Option<String> {
        let seed = self.seed.as_deref().filter(|s| !s.is_empty())?;
        let url = if seed.starts_with('/') {
            format!("file://{seed}")
        } else {
            seed.to_string()
        };
        Some(if url.ends_with('/') { url } else { url + "/" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_split_on_spaces_outside_quotes() {
        let p = split_params("ro root=/dev/sda1 \"ds=nocloud;s=http://a/ b/\" quiet\n");
        assert_eq!(
            p,
            ["ro", "root=/dev/sda1", "ds=nocloud;s=http://a/ b/", "quiet"]
        );
        assert_eq!(param(&p, "root"), Some("/dev/sda1"));
        assert_eq!(param(&p, "ro"), None);
    }

    #[test]
    fn nocloud_seed_forms() {
        let s = NoCloudSeed::parse("nocloud-net;s=http://10.0.0.1:8000;h=node-1;i=iid").unwrap();
        assert_eq!(s.seed_url().as_deref(), Some("http://10.0.0.1:8000/"));
        assert_eq!(s.hostname.as_deref(), Some("node-1"));
        let s = NoCloudSeed::parse("nocloud;seedfrom=/var/seed/").unwrap();
        assert_eq!(s.seed_url().as_deref(), Some("file:///var/seed/"));
        assert_eq!(NoCloudSeed::parse("nocloud").unwrap().seed_url(), None);
        assert_eq!(NoCloudSeed::parse("ec2;s=x"), None);
    }
}

//! Metadata services on the link-local address: `ec2` (IMDSv2), `gce`, `openstack`.
//!
//! A service that never answers, or answers like another cloud's, is not here (`Ok(None)`);
//! one that identifies itself and then fails is broken (`Err`).

use super::http::{HttpError, Method, Reply};
use super::seed::parse_openstack_meta;
use super::source::{Context, Source, http_failure};
use super::{Blob, Error, MetaData, UserData, format};

/// Lifetime asked for the IMDSv2 session token (6 hours, cloud-init's value).
const EC2_TOKEN_TTL: &str = "21600";

pub(crate) struct Ec2;

impl Source for Ec2 {
    fn name(&self) -> &'static str {
        "ec2"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let base = cx.env.ec2_url.trim_end_matches('/');
        let token_url = format!("{base}/latest/api/token");
        let reply = match cx.http.send(
            Method::Put,
            &token_url,
            &[("X-aws-ec2-metadata-token-ttl-seconds", EC2_TOKEN_TTL)],
            0,
        ) {
            Err(e @ HttpError::Unreachable { .. }) => {
                return Ok(absent(self.name(), &token_url, &e));
            }
            other => other.map_err(|e| http_failure(self.name(), Method::Put, &token_url, e))?,
        };
        let token = match reply.status {
            200 => token_text(&reply.body).ok_or_else(|| Error::Unavailable {
                datasource: self.name(),
                what: format!("PUT {token_url}"),
                reason: "the IMDSv2 token is empty or not text".into(),
                hint: "check the instance metadata service",
            })?,
            status => {
                log::debug!("[user-data] Not EC2 IMDSv2: PUT {token_url} answered HTTP {status}");
                return Ok(None);
            }
        };
        let auth = [("X-aws-ec2-metadata-token", token.as_str())];
        let url = format!("{base}/latest/user-data");
        let reply = cx
            .http
            .send(Method::Get, &url, &auth, 0)
            .map_err(|e| http_failure(self.name(), Method::Get, &url, e))?;
        let bytes = match reply.status {
            200 => reply.body,
            404 => {
                log::info!("[user-data] The EC2 instance has no user-data ({url}: HTTP 404)");
                return Ok(None);
            }
            status => {
                return Err(Error::Unavailable {
                    datasource: self.name(),
                    what: format!("GET {url}"),
                    reason: format!("HTTP {status}"),
                    hint: "check the instance metadata options (IMDSv2 tokens, hop limit)",
                });
            }
        };
        let meta = MetaData {
            hostname: meta_text(
                cx,
                &format!("{base}/latest/meta-data/local-hostname"),
                &auth,
            )
            .and_then(|h| MetaData::checked_hostname(&h, "EC2 local-hostname")),
            local_ipv4: meta_text(cx, &format!("{base}/latest/meta-data/local-ipv4"), &auth)
                .and_then(|ip| MetaData::checked_ipv4(&ip, "EC2 local-ipv4")),
        };
        Ok(Some(found(self.name(), url, bytes, meta)))
    }
}

/// The token as a header value: visible ASCII only, so it can never break the header.
fn token_text(body: &[u8]) -> Option<String> {
    let token = std::str::from_utf8(body).ok()?.trim();
    (!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())).then(|| token.to_string())
}

const GCE_FLAVOR: (&str, &str) = ("Metadata-Flavor", "Google");

pub(crate) struct Gce;

impl Source for Gce {
    fn name(&self) -> &'static str {
        "gce"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let base = format!(
            "{}/computeMetadata/v1/instance",
            cx.env.gce_url.trim_end_matches('/')
        );
        let url = format!("{base}/attributes/user-data");
        let Some(reply) = self.get(cx, &url)? else {
            return Ok(None);
        };
        let bytes = match reply.status {
            200 => reply.body,
            404 => {
                log::info!(
                    "[user-data] The GCE instance has no user-data attribute ({url}: HTTP 404)"
                );
                return Ok(None);
            }
            status => {
                return Err(Error::Unavailable {
                    datasource: self.name(),
                    what: format!("GET {url}"),
                    reason: format!("HTTP {status}"),
                    hint: "check the GCE metadata server",
                });
            }
        };
        // cloud-init's convention: attribute `user-data-encoding: base64`.
        let encoding = meta_text(
            cx,
            &format!("{base}/attributes/user-data-encoding"),
            &[GCE_FLAVOR],
        );
        let bytes = if encoding.as_deref() == Some("base64") {
            format::decode_base64(&bytes).map_err(|r| Error::invalid(format!("gce {url}"), r))?
        } else {
            bytes
        };
        let meta = MetaData {
            hostname: meta_text(cx, &format!("{base}/hostname"), &[GCE_FLAVOR])
                .and_then(|h| MetaData::checked_hostname(&h, "GCE hostname")),
            local_ipv4: meta_text(
                cx,
                &format!("{base}/network-interfaces/0/ip"),
                &[GCE_FLAVOR],
            )
            .and_then(|ip| MetaData::checked_ipv4(&ip, "GCE network-interfaces/0/ip")),
        };
        Ok(Some(found(self.name(), url, bytes, meta)))
    }
}

impl Gce {
    /// A reply from the GCE metadata server, or `None` when what answered is not one: no
    /// answer at all, or no `Metadata-Flavor: Google` header in the reply.
    fn get(&self, cx: &Context<'_>, url: &str) -> Result<Option<Reply>, Error> {
        let reply = match cx.http.send(Method::Get, url, &[GCE_FLAVOR], 0) {
            Err(e @ HttpError::Unreachable { .. }) => return Ok(absent(self.name(), url, &e)),
            other => other.map_err(|e| http_failure(self.name(), Method::Get, url, e))?,
        };
        if reply.header(GCE_FLAVOR.0) != Some(GCE_FLAVOR.1) {
            log::debug!(
                "[user-data] Not GCE: {url} answered HTTP {} without {}: {}",
                reply.status,
                GCE_FLAVOR.0,
                GCE_FLAVOR.1
            );
            return Ok(None);
        }
        Ok(Some(reply))
    }
}

pub(crate) struct OpenStack;

impl Source for OpenStack {
    fn name(&self) -> &'static str {
        "openstack"
    }

    fn fetch(&self, cx: &Context<'_>) -> Result<Option<UserData>, Error> {
        let base = format!(
            "{}/openstack/latest",
            cx.env.openstack_url.trim_end_matches('/')
        );
        let url = format!("{base}/user_data");
        let reply = match cx.http.send(Method::Get, &url, &[], 0) {
            Err(e @ HttpError::Unreachable { .. }) => return Ok(absent(self.name(), &url, &e)),
            other => other.map_err(|e| http_failure(self.name(), Method::Get, &url, e))?,
        };
        if reply.status != 200 {
            log::info!(
                "[user-data] No OpenStack user-data ({url}: HTTP {})",
                reply.status
            );
            return Ok(None);
        }
        let meta_url = format!("{base}/meta_data.json");
        let meta = match cx.http.send(Method::Get, &meta_url, &[], 0) {
            Ok(r) if r.status == 200 => parse_openstack_meta(&r.body, &meta_url),
            _ => MetaData::default(),
        };
        Ok(Some(found(self.name(), url, reply.body, meta)))
    }
}

fn found(source: &'static str, url: String, bytes: Vec<u8>, meta: MetaData) -> UserData {
    UserData {
        source,
        parts: vec![Blob {
            origin: format!("{source} {url}"),
            bytes,
        }],
        meta,
    }
}

/// Logs that nothing answered and reports the source absent.
fn absent<T>(source: &str, url: &str, e: &HttpError) -> Option<T> {
    log::info!("[user-data] No {source} metadata service: {url}: {e}");
    None
}

/// An optional meta-data value as trimmed text; missing or failing values are only logged,
/// since they merely provide defaults.
pub(crate) fn meta_text(cx: &Context<'_>, url: &str, headers: &[(&str, &str)]) -> Option<String> {
    match cx.http.send(Method::Get, url, headers, 0) {
        Ok(reply) if reply.status == 200 => match String::from_utf8(reply.body) {
            Ok(text) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
            Err(_) => {
                log::warn!("[user-data] Ignoring {url}: not text");
                None
            }
        },
        Ok(reply) => {
            log::debug!("[user-data] No meta-data at {url} (HTTP {})", reply.status);
            None
        }
        Err(e) => {
            log::warn!("[user-data] Could not read meta-data {url}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imds_token_must_be_a_header_safe_word() {
        assert_eq!(token_text(b"AQAEAN==\n").as_deref(), Some("AQAEAN=="));
        assert_eq!(token_text(b""), None);
        assert_eq!(token_text(b"a\r\nX-Evil: 1"), None);
    }
}

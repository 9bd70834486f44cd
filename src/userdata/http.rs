//! HTTP for metadata services and user-data URLs: plain ureq, no proxies (metadata services
//! are link-local), every response bounded in size and time, and transient failures retried
//! with capped exponential backoff and full jitter inside one deadline shared by the whole
//! probe, because the network may come up late at boot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::format::MAX_SIZE;
use crate::logging::redact_url;
use crate::retry::Backoff;

/// How long and how often to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait between attempts.
    pub backoff: Backoff,
    /// Time from the start of the probe after which requests are tried once more, not
    /// retried.
    pub deadline: Duration,
    /// Limit for one request, connect to last body byte.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff {
                initial: Duration::from_millis(250),
                max: Duration::from_secs(5),
            },
            deadline: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
        }
    }
}

/// One HTTP response, body read in full (at most [`MAX_SIZE`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Bodies can be user-data or tokens: Debug shows only status and size.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply({}, {} bytes)", self.status, self.body.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// No HTTP answer at all (refused, unreachable, timed out) until the deadline.
    #[error("no answer after {attempts} attempt(s): {last}")]
    Unreachable { attempts: u32, last: String },
    /// The server kept answering 5xx or 429 until the deadline.
    #[error("HTTP {status} after {attempts} attempt(s)")]
    Server { status: u16, attempts: u32 },
    /// The body exceeds [`MAX_SIZE`]; not retried.
    #[error("response larger than {} MiB", MAX_SIZE >> 20)]
    TooLarge,
    /// A failure retrying cannot fix (bad URL, TLS verification).
    #[error("{0}")]
    Fatal(String),
}

/// The HTTP client shared by all sources of one probe.
#[derive(Debug)]
pub struct Http {
    agent: ureq::Agent,
    policy: RetryPolicy,
    deadline: Instant,
}

impl Http {
    /// `roots` verify https URLs (user-data URLs only; metadata services are plain http).
    /// The deadline starts now.
    pub fn new(policy: RetryPolicy, roots: Vec<CertificateDer<'static>>) -> Http {
        let roots = roots
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .user_agent(concat!("kubeboot/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
            deadline: Instant::now() + policy.deadline,
            policy,
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends a request, retrying transport failures, 5xx and 429 with backoff until the
    /// deadline (at least one attempt, even after it). Any other answer is returned as is.
    /// `redirects` is how many redirects to follow (0 for metadata services, whose headers
    /// must not travel elsewhere).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        redirects: u32,
    ) -> Result<Reply, HttpError> {
        let mut attempt: u32 = 0;
        // The last HTTP status seen: a server that answered 5xx is reported as such even when
        // the final attempt, cut short by the deadline, got no answer at all.
        let mut answered: Option<u16> = None;
        loop {
            attempt += 1;
            let failure = match self.attempt(method, url, headers, redirects) {
                Ok(reply) if reply.status >= 500 || reply.status == 429 => {
                    answered = Some(reply.status);
                    HttpError::Server {
                        status: reply.status,
                        attempts: attempt,
                    }
                }
                Ok(reply) => return Ok(reply),
                Err(Attempt::Transient(last)) => match answered {
                    Some(status) => HttpError::Server {
                        status,
                        attempts: attempt,
                    },
                    None => HttpError::Unreachable {
                        attempts: attempt,
                        last,
                    },
                },
                Err(Attempt::Final(e)) => return Err(e),
            };
            let Some(pause) = self.backoff(attempt) else {
                return Err(failure);
            };
            log::debug!(
                "[user-data] {} {}: {failure}; retrying in {pause:?}",
                method.as_str(),
                redact_url(url)
            );
            std::thread::sleep(pause);
        }
    }

    /// The pause after attempt `attempt` (1-based), or `None` when the deadline leaves no room.
    fn backoff(&self, attempt: u32) -> Option<Duration> {
        let remaining = self.deadline.checked_duration_since(Instant::now())?;
        let pause = self.policy.backoff.delay(attempt.saturating_sub(1));
        (pause < remaining).then_some(pause)
    }

    fn attempt(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        redirects: u32,
    ) -> Result<Reply, Attempt> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = if remaining.is_zero() {
            self.policy.attempt_timeout
        } else {
            self.policy.attempt_timeout.min(remaining)
        };
        let response = match method {
            Method::Get => {
                let mut request = self.agent.get(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request
                    .config()
                    .timeout_global(Some(timeout))
                    .max_redirects(redirects)
                    .build()
                    .call()
            }
            Method::Put => {
                let mut request = self.agent.put(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request
                    .config()
                    .timeout_global(Some(timeout))
                    .max_redirects(redirects)
                    .build()
                    .send_empty()
            }
        };
        let mut response = response.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_SIZE as u64)
            .read_to_vec()
            .map_err(classify)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

enum Attempt {
    Transient(String),
    Final(HttpError),
}

fn classify(e: ureq::Error) -> Attempt {
    match e {
        ureq::Error::BodyExceedsLimit(_) => Attempt::Final(HttpError::TooLarge),
        // Its message quotes the URL, which may hold credentials.
        ureq::Error::BadUri(_) => Attempt::Final(HttpError::Fatal("not a valid URL".into())),
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyStalled => Attempt::Transient(e.to_string()),
        other => Attempt::Final(HttpError::Fatal(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_stops_at_the_deadline() {
        let policy = RetryPolicy {
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(400),
            },
            deadline: Duration::from_secs(3600),
            attempt_timeout: Duration::from_secs(1),
        };
        let http = Http::new(policy.clone(), Vec::new());
        for attempt in 1..40 {
            let pause = http.backoff(attempt).unwrap();
            assert!(pause <= Duration::from_millis(400), "{attempt}: {pause:?}");
        }
        let expired = Http::new(
            RetryPolicy {
                deadline: Duration::ZERO,
                ..policy
            },
            Vec::new(),
        );
        assert_eq!(expired.backoff(1), None);
    }

    #[test]
    fn reply_debug_hides_the_body() {
        let reply = Reply {
            status: 200,
            headers: vec![],
            body: b"secret-token".to_vec(),
        };
        assert_eq!(format!("{reply:?}"), "Reply(200, 12 bytes)");
    }
}

//! Injectable misbehaviour: what networks, load balancers, overloaded API servers and
//! attackers do to a node's requests.

use std::time::Duration;

/// One kind of misbehaviour. Apply it to requests with [`Fault::on`] and friends, or inject it
/// as is to hit every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long, then serve the request normally.
    Delay(Duration),
    /// Answer with this status (5xx usually) and a `Status` body; the request has no effect.
    Status(u16),
    /// 429 with `Retry-After: <secs>`; the request has no effect.
    TooManyRequests { retry_after_secs: u32 },
    /// Close the connection without answering; the request has no effect.
    Reset,
    /// Serve the request (its effects happen), then close without answering: the client
    /// cannot know whether e.g. its CSR was created.
    ResetAfterHandling,
    /// Serve normally, but dribble the body: `chunk` bytes, then a `pause`, and so on.
    SlowBody { chunk: usize, pause: Duration },
    /// Announce the full Content-Length, send only the first `sent` bytes (at most all but
    /// one), then hang until the server is dropped (bounded by [`STALL_LIMIT`]).
    StallBody { sent: usize },
    /// Answer 200 with a body of `len` bytes of junk (sent as long as the client reads).
    OversizedBody { len: usize },
    /// 302 to `location` (e.g. another host or port); the request has no effect.
    Redirect(String),
    /// Answer with these exact bytes as `application/json`; the request has no effect.
    Body { status: u16, body: Vec<u8> },
}

/// Stalled responses give up after this long even if the server is not dropped.
pub const STALL_LIMIT: Duration = Duration::from_secs(30);

impl Fault {
    /// Only for requests whose path starts with `path_prefix`.
    pub fn on(self, path_prefix: &str) -> FaultRule {
        FaultRule::from(self).on(path_prefix)
    }

    /// Only for this HTTP method, on every path.
    pub fn method(self, method: &str) -> FaultRule {
        FaultRule::from(self).method(method)
    }

    /// Every path, after the first `n` requests.
    pub fn after(self, n: usize) -> FaultRule {
        FaultRule::from(self).after(n)
    }

    /// Every path, `n` requests only.
    pub fn times(self, n: usize) -> FaultRule {
        FaultRule::from(self).times(n)
    }

    /// Short name for the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Delay(_) => "delay",
            Fault::Status(_) => "status",
            Fault::TooManyRequests { .. } => "too-many-requests",
            Fault::Reset => "reset",
            Fault::ResetAfterHandling => "reset-after-handling",
            Fault::SlowBody { .. } => "slow-body",
            Fault::StallBody { .. } => "stall-body",
            Fault::OversizedBody { .. } => "oversized-body",
            Fault::Redirect(_) => "redirect",
            Fault::Body { .. } => "body",
        }
    }
}

/// A fault and the requests it hits: method, path prefix, and a window over the requests
/// matching those (skip the first `after`, then hit `times` of them, or all).
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub fault: Fault,
    path_prefix: String,
    method: Option<String>,
    after: usize,
    times: Option<usize>,
    seen: usize,
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            path_prefix: "/".into(),
            method: None,
            after: 0,
            times: None,
            seen: 0,
        }
    }
}

impl FaultRule {
    pub fn on(mut self, path_prefix: &str) -> FaultRule {
        self.path_prefix = path_prefix.to_string();
        self
    }

    /// Only for this HTTP method ("GET", "POST", ...).
    pub fn method(mut self, method: &str) -> FaultRule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Let the first `n` matching requests through untouched.
    pub fn after(mut self, n: usize) -> FaultRule {
        self.after = n;
        self
    }

    /// Hit only `n` matching requests (after the skipped ones).
    pub fn times(mut self, n: usize) -> FaultRule {
        self.times = Some(n);
        self
    }

    /// Counts the request if it matches; true if this one is hit.
    pub(super) fn hits(&mut self, method: &str, path: &str) -> bool {
        let matches = path.starts_with(&self.path_prefix)
            && self.method.as_deref().is_none_or(|m| m == method);
        if !matches {
            return false;
        }
        let n = self.seen;
        self.seen += 1;
        n >= self.after && self.times.is_none_or(|t| n < self.after + t)
    }
}

/// Every rule counts the requests it matches; the first rule that hits wins.
pub(super) fn pick(rules: &mut [FaultRule], method: &str, path: &str) -> Option<Fault> {
    let mut picked = None;
    for rule in rules.iter_mut() {
        if rule.hits(method, path) && picked.is_none() {
            picked = Some(rule.fault.clone());
        }
    }
    picked
}

//! When an API call is tried again and how long to wait: [`crate::retry`]'s backoff, or the
//! server's `Retry-After`, all inside a deadline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::retry::{Backoff, Clock, system_clock};

/// How an API call is retried: which waits, how long a server's `Retry-After` may hold us, and
/// the total time one call may take including all its retries.
#[derive(Clone)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// A server's `Retry-After` is honoured up to this long.
    pub max_retry_after: Duration,
    /// Total time for one call, all attempts and waits included.
    pub timeout: Duration,
    /// Attempts per call, the first included; at least one is always made.
    pub max_attempts: u32,
    pub clock: Arc<dyn Clock>,
}

impl RetryPolicy {
    /// Production defaults: kubeadm's 60 s API call timeout, waits from 0.5 s up to 10 s.
    pub fn standard() -> Self {
        RetryPolicy {
            backoff: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(10),
            },
            max_retry_after: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            max_attempts: 20,
            clock: system_clock(),
        }
    }

    /// One attempt, no retry.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::standard()
        }
    }

    /// For tests: `attempts` tries with no wait at all.
    pub fn immediate(attempts: u32) -> Self {
        RetryPolicy {
            backoff: Backoff::ZERO,
            max_retry_after: Duration::ZERO,
            max_attempts: attempts,
            ..Self::standard()
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wait before retry `attempt` (0-based): the server's `Retry-After` when it sent one
    /// (capped), otherwise the jittered backoff.
    pub(crate) fn wait_before_retry(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_retry_after),
            None => self.backoff.delay(attempt),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::standard()
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("backoff", &self.backoff)
            .field("max_retry_after", &self.max_retry_after)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// `Retry-After` in delta-seconds, the form the API server sends. HTTP dates are not used by
/// Kubernetes and are ignored (the backoff applies instead).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(30),
            ..RetryPolicy::standard()
        };
        assert_eq!(
            policy.wait_before_retry(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.wait_before_retry(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}

//! When to try again and how long to wait: capped exponential backoff with full jitter, so that
//! thousands of nodes booting together spread their retries instead of hitting the API server in
//! waves, all inside a deadline. Time is read and spent through a [`Clock`] so that tests run
//! without sleeping.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads the time and sleeps. Production uses [`SystemClock`]; tests inject a clock that
/// records the sleeps and advances a virtual time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The clock used when none is injected.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// Capped exponential backoff with full jitter: before retry `n` (0-based) wait a random time
/// in `[0, min(max, initial * 2^n)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// No waiting at all (tests).
    pub const ZERO: Backoff = Backoff {
        initial: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The upper bound of the wait before retry `attempt` (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The jittered wait before retry `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        full_jitter(self.ceiling(attempt))
    }
}

/// A uniformly random duration in `[0, ceiling]`, from the system's CSPRNG (aws-lc-rs). If the
/// random source fails, the full ceiling is used: waiting longer is always safe.
fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return ceiling;
    }
    let random = u64::from_le_bytes(bytes);
    Duration::from_nanos(random % nanos.saturating_add(1))
}

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
pub(crate) mod fake {
    use super::*;
    use std::sync::Mutex;

    /// A virtual clock: `sleep` records the wait and moves time forward without waiting.
    pub struct FakeClock {
        start: Instant,
        state: Mutex<(Duration, Vec<Duration>)>,
    }

    impl FakeClock {
        pub fn new() -> Arc<Self> {
            Arc::new(FakeClock {
                start: Instant::now(),
                state: Mutex::new((Duration::ZERO, Vec::new())),
            })
        }
        pub fn sleeps(&self) -> Vec<Duration> {
            self.state.lock().unwrap().1.clone()
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + self.state.lock().unwrap().0
        }
        fn sleep(&self, duration: Duration) {
            let mut state = self.state.lock().unwrap();
            state.0 += duration;
            state.1.push(duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(500));
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(4), Duration::from_secs(8));
        assert_eq!(b.ceiling(5), Duration::from_secs(10));
        assert_eq!(b.ceiling(200), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        for attempt in 0..50 {
            assert!(b.delay(attempt) <= b.ceiling(attempt));
        }
        assert_eq!(Backoff::ZERO.delay(3), Duration::ZERO);
    }

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

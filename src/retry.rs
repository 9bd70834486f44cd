//! Waiting between attempts, shared by every retry loop (API calls, discovery, TLS bootstrap,
//! etcd membership, user-data): capped exponential backoff with full jitter, so that thousands
//! of nodes booting together spread their retries instead of hitting a server in waves, and a
//! [`Clock`] through which time is read and spent, so that tests run without sleeping.

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

/// A uniformly random duration in `[0, ceiling]`, from the system's CSPRNG (aws-lc-rs).
pub fn full_jitter(ceiling: Duration) -> Duration {
    if ceiling.is_zero() {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    let random = aws_lc_rs::rand::fill(&mut bytes)
        .ok()
        .map(|()| u64::from_le_bytes(bytes));
    jitter(ceiling, random)
}

/// `random` scaled into `[0, ceiling]`. Without randomness the full ceiling is used: waiting
/// longer is always safe.
fn jitter(ceiling: Duration, random: Option<u64>) -> Duration {
    let Some(random) = random else {
        return ceiling;
    };
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(random % nanos.saturating_add(1))
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
pub(crate) use fake::FakeClock;

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
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
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
        let ceiling = Duration::from_millis(800);
        for random in [0, 1, 799, 800, 801, u64::MAX] {
            assert!(jitter(ceiling, Some(random)) <= ceiling);
        }
        assert_eq!(jitter(Duration::ZERO, Some(12345)), Duration::ZERO);
        assert_eq!(jitter(ceiling, None), ceiling);
    }
}

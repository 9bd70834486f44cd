//! A time that only moves when slept: waits cost nothing and stay bounded.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubeboot::retry::Clock;

pub struct VirtualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl VirtualClock {
    pub fn new() -> Arc<VirtualClock> {
        Arc::new(VirtualClock {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

    /// How long the code under test has slept.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn sleep(&self, d: Duration) {
        *self.elapsed.lock().unwrap() += d;
    }
}

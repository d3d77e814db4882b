//! Wall time for sessions, behind a trait so tests can move it by hand.
//!
//! Session positions and production pacing are wall-clock quantities, never media
//! timestamps: they are `Duration`s since an arbitrary monotonic epoch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub trait Clock: Send + Sync {
    /// Monotonic time since the clock's own epoch.
    fn now(&self) -> Duration;
    /// Milliseconds since the Unix epoch (for `server_time_ms`).
    fn unix_ms(&self) -> u64;
}

/// The real clock.
pub struct SystemClock {
    epoch: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            epoch: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
    fn unix_ms(&self) -> u64 {
        crate::catalog::video::now_ms()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<Mutex<Duration>>,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.now.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock()
    }
    fn unix_ms(&self) -> u64 {
        1_700_000_000_000 + self.now().as_millis() as u64
    }
}

//! Wall time for sessions, behind a trait so tests can move it by hand.
//!
//! Session positions and production pacing are wall-clock quantities, never media
//! timestamps. They are `Duration`s since the Unix epoch: with `--redis` a session's
//! position model is shared by instances on several machines, which must read the same
//! clock (NTP-synchronized, as channel schedules already need).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

pub trait Clock: Send + Sync {
    /// Wall time since the clock's epoch (the Unix epoch for the real clock).
    fn now(&self) -> Duration;
    /// Milliseconds since the Unix epoch (for `server_time_ms`).
    fn unix_ms(&self) -> u64;
}

/// The real clock: the system's wall clock.
#[derive(Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        // A clock set before 1970 reads as the epoch rather than failing.
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
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

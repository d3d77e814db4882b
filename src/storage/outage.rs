//! Failing fast while a bucket is away.
//!
//! A read of a bucket that does not answer waits out `--store-timeout-seconds` (its
//! retries) before it fails. Behind a CDN, every player and edge asking at once would each
//! hold a connection that long, for the same answer. So once a read has failed, reads
//! fail at once for a while; one read a second still goes to the bucket to find out
//! whether it is back, and the first that gets an answer ends the outage (a circuit
//! breaker, half-open). What the memory cache holds is served all along.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often a read goes through to the bucket during an outage.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Whether the bucket is away, as the last reads found it.
#[derive(Default)]
pub struct Outage {
    /// During an outage: when the next read may go through.
    next_probe: Mutex<Option<Instant>>,
}

impl Outage {
    /// Whether a read may go to the bucket now: always outside an outage; within one,
    /// one read per [`PROBE_EVERY`].
    pub fn admit(&self) -> bool {
        let mut next = self.next_probe.lock();
        match *next {
            None => true,
            Some(at) if Instant::now() >= at => {
                *next = Some(Instant::now() + PROBE_EVERY);
                true
            }
            Some(_) => false,
        }
    }

    /// A read failed: an outage starts, or goes on.
    pub fn failed(&self) {
        let mut next = self.next_probe.lock();
        if next.is_none() {
            *next = Some(Instant::now() + PROBE_EVERY);
        }
    }

    /// The bucket answered (an object, or "no such object"): the outage, if any, ends.
    pub fn answered(&self) {
        *self.next_probe.lock() = None;
    }

    /// Whether reads fail fast now.
    pub fn is_on(&self) -> bool {
        self.next_probe.lock().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_failure_one_read_a_second_goes_through_until_one_is_answered() {
        let outage = Outage::default();
        assert!(outage.admit() && outage.admit(), "no outage: every read goes");
        outage.failed();
        assert!(outage.is_on());
        assert!(!outage.admit(), "fails fast");
        std::thread::sleep(PROBE_EVERY + Duration::from_millis(20));
        assert!(outage.admit(), "a probe after a second");
        assert!(!outage.admit(), "one probe at a time");
        outage.failed(); // the probe failed too: still on, the next probe a second later
        assert!(!outage.admit());
        std::thread::sleep(PROBE_EVERY + Duration::from_millis(20));
        assert!(outage.admit());
        outage.answered();
        assert!(!outage.is_on());
        assert!(outage.admit() && outage.admit());
    }
}

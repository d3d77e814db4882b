//! Where a session is: the position a player shows, from the wall clock.
//!
//! `position = start + (time streamed since the first byte − pauses) × rate`. The clock
//! starts with the first byte of a stream; a pause freezes it; a seek restarts it from the
//! new position at the next stream's first byte; a rate change re-anchors it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The playback position model of one session (all times from its [`super::clock::Clock`]:
/// wall time, so that instances sharing a session through Redis agree on it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Position when the clock last stopped or was re-anchored, in media seconds.
    base: f64,
    /// Wall time at which `base` was taken, while the clock runs.
    running_since: Option<Duration>,
    paused: bool,
    /// Whether a stream has delivered its first byte since the last seek.
    started: bool,
    rate: f64,
    /// Media duration: the position never passes it.
    duration: f64,
}

impl Position {
    pub fn new(start: f64, rate: f64, duration: f64) -> Position {
        Position {
            base: start.clamp(0.0, duration.max(0.0)),
            running_since: None,
            paused: false,
            started: false,
            rate,
            duration,
        }
    }

    /// Position in media seconds at wall time `now`.
    pub fn at(&self, now: Duration) -> f64 {
        let p = match self.running_since {
            Some(since) => self.base + now.saturating_sub(since).as_secs_f64() * self.rate,
            None => self.base,
        };
        p.min(self.duration.max(self.base))
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The first byte of a stream went out: the clock starts (unless paused).
    pub fn first_byte(&mut self, now: Duration) {
        if !self.started {
            self.started = true;
            if !self.paused {
                self.running_since = Some(now);
            }
        }
    }

    pub fn pause(&mut self, now: Duration) {
        self.base = self.at(now);
        self.running_since = None;
        self.paused = true;
    }

    pub fn resume(&mut self, now: Duration) {
        self.base = self.at(now);
        self.paused = false;
        if self.started {
            self.running_since = Some(now);
        }
    }

    /// Jumps to `to`; the clock waits for the next stream's first byte.
    pub fn seek(&mut self, to: f64) {
        self.base = to.clamp(0.0, self.duration.max(0.0));
        self.running_since = None;
        self.started = false;
    }

    pub fn set_rate(&mut self, now: Duration, rate: f64) {
        self.base = self.at(now);
        if self.running_since.is_some() {
            self.running_since = Some(now);
        }
        self.rate = rate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(f64) -> Duration = Duration::from_secs_f64;

    #[test]
    fn clock_starts_at_first_byte_and_pauses_freeze_it() {
        let mut p = Position::new(6.0, 1.0, 100.0);
        assert_eq!(p.at(S(5.0)), 6.0, "no byte sent yet");
        p.first_byte(S(10.0));
        assert!((p.at(S(12.5)) - 8.5).abs() < 1e-9);
        p.pause(S(13.0));
        assert!((p.at(S(20.0)) - 9.0).abs() < 1e-9);
        p.resume(S(20.0));
        assert!((p.at(S(21.0)) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn rate_scales_and_seek_waits_for_the_next_stream() {
        let mut p = Position::new(0.0, 2.0, 100.0);
        p.first_byte(S(0.0));
        assert!((p.at(S(3.0)) - 6.0).abs() < 1e-9);
        p.set_rate(S(3.0), 1.0);
        assert!((p.at(S(4.0)) - 7.0).abs() < 1e-9);
        p.seek(30.0);
        assert_eq!(p.at(S(50.0)), 30.0);
        p.first_byte(S(50.0));
        assert!((p.at(S(51.0)) - 31.0).abs() < 1e-9);
        assert_eq!(p.at(S(500.0)), 100.0, "clamped to the duration");
    }
}

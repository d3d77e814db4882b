//! One media clock for the whole engine: 90 kHz ticks.
//!
//! Every stream arrives with its own time base (1/15360 for an MP4 video track, 1/44100
//! for audio...). We convert to [`Ts90k`] once, at the edge where a timestamp leaves
//! libav, and back once where it re-enters (the encoder or the muxer), always naming the
//! time base we convert from. Wall time (sessions, schedules) is never a `Ts90k`.

use ffmpeg_next::{Rational, Rescale};
use serde::{Deserialize, Serialize};

/// Ticks per second of the internal media clock.
pub const HZ: i64 = 90_000;

/// The engine's own time base, 1/90000 s.
pub const TIME_BASE_90K: Rational = Rational(1, HZ as i32);

/// A media timestamp or duration in 90 kHz ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Ts90k(pub i64);

impl Ts90k {
    pub const ZERO: Ts90k = Ts90k(0);

    /// Converts `ts`, counted in `time_base`, to 90 kHz (rounding to nearest).
    pub fn from_time_base(ts: i64, time_base: Rational) -> Self {
        Ts90k(ts.rescale(time_base, TIME_BASE_90K))
    }

    /// Converts back to a count of `time_base` units.
    pub fn to_time_base(self, time_base: Rational) -> i64 {
        self.0.rescale(TIME_BASE_90K, time_base)
    }

    /// `ms` milliseconds, exactly (90 ticks each).
    pub fn from_millis(ms: u64) -> Self {
        Ts90k(i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(HZ / 1000))
    }

    pub fn from_secs(secs: f64) -> Self {
        Ts90k((secs * HZ as f64).round() as i64)
    }

    pub fn secs(self) -> f64 {
        self.0 as f64 / HZ as f64
    }
}

impl std::ops::Add for Ts90k {
    type Output = Ts90k;
    fn add(self, rhs: Ts90k) -> Ts90k {
        Ts90k(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Ts90k {
    type Output = Ts90k;
    fn sub(self, rhs: Ts90k) -> Ts90k {
        Ts90k(self.0 - rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_from_mp4_time_base_and_back() {
        let tb = Rational(1, 15360);
        let t = Ts90k::from_time_base(15360 * 4, tb);
        assert_eq!(t, Ts90k(360_000));
        assert_eq!(t.to_time_base(tb), 15360 * 4);
        assert_eq!(Ts90k::from_secs(1.5).secs(), 1.5);
    }
}

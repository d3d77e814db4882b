//! Synchronized channels: everyone watching sees the same item at the same moment.
//!
//! * [`schedule`]: what plays when, a pure function of persisted epochs and the clock;
//! * [`retime`]: shifts fMP4 segments onto the channel timeline as they are served.

pub mod likes;
pub mod live_playlist;
pub mod retime;
pub mod schedule;

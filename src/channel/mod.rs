//! Synchronized channels: everyone watching sees the same item at the same moment.
//!
//! * [`schedule`]: what plays when, a pure function of persisted epochs and the clock.

pub mod schedule;

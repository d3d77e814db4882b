//! Synchronized channels: everyone watching sees the same item at the same moment.
//!
//! * [`hub::Channels`]: every channel's schedule, items, likes and SSE broadcast;
//! * [`live_playlist`]: `live.m3u8` for mpv and VLC, from the items' existing segments;
//! * [`likes`]: durable like/dislike counts;
//! * [`schedule`]: what plays when, a pure function of persisted epochs and the clock;
//! * [`retime`]: shifts fMP4 segments onto the channel timeline as they are served.

pub mod hub;
pub mod likes;
pub mod live_playlist;
pub mod retime;
pub mod schedule;

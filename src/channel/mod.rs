//! Synchronized channels: everyone watching sees the same item at the same moment.
//!
//! * [`guide`]: the lineup and the XMLTV programme guide for Live TV clients;
//! * [`hub::Channels`]: every channel's schedule, items, likes and SSE broadcast;
//! * [`live_playlist`]: `live.m3u8` for mpv and VLC, from the items' existing segments;
//! * [`likes`]: durable like/dislike counts;
//! * [`schedule`]: what plays when, a pure function of persisted epochs and the clock;
//! * [`retime`]: shifts fMP4 segments onto the channel timeline as they are served;
//! * [`ts_stream`]: `stream.ts`, the channel as one continuous MPEG-TS stream (remuxed, paced);
//! * [`inband`]: puts each item's SPS/PPS in its segments, for players that keep the first init;
//! * [`mp4box`]: the box reading both need.

pub mod guide;
pub mod hub;
pub mod inband;
pub mod likes;
pub mod live_playlist;
pub mod mp4box;
pub mod retime;
pub mod schedule;
pub mod ts_stream;

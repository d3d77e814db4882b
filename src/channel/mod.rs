//! Synchronized channels: everyone watching sees the same item at the same moment.
//!
//! * [`guide`]: the lineup and the XMLTV programme guide for Live TV clients;
//! * [`hub::Channels`]: every channel's schedule, items, likes and SSE broadcast;
//! * [`live_playlist`]: `live.m3u8` for mpv and VLC, from the items' existing segments;
//! * [`likes`]: durable like/dislike counts;
//! * [`schedule`]: what plays when, a pure function of persisted epochs and the clock;
//! * [`ts_stream`]: `stream.ts`, the channel as one continuous MPEG-TS stream (remuxed, paced);
//!
//! The fMP4 window of earlier playlists (`live/shift/...`) moves segments along the
//! timeline and puts each item's SPS/PPS in band with [`crate::mp4`].

pub mod guide;
pub mod hub;
pub mod likes;
pub mod live_playlist;
pub mod schedule;
pub mod ts_stream;

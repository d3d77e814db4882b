//! Synchronized channels: everyone watching sees the same item at the same moment.
//!
//! * [`guide`]: the lineup and the XMLTV programme guide for Live TV clients;
//! * [`hub::Channels`]: every channel's schedule, items, likes and SSE broadcast;
//! * [`live_playlist`]: `live.m3u8` for mpv and VLC, from the items' existing segments;
//! * [`likes`]: like/dislike counts, in a file or in Redis;
//! * [`epochs`]: where schedules are kept, in files or in Redis, replaced by compare-and-set;
//! * [`schedule`]: what plays when, a pure function of persisted epochs and the clock;
//! * [`ts_stream`]: `stream.ts`, the channel as one continuous MPEG-TS stream (remuxed, paced);
//!
//! The fMP4 window of earlier playlists (`live/shift/...`) moves segments along the
//! timeline and puts each item's SPS/PPS in band with [`crate::mp4`].

pub mod epochs;
pub mod guide;
pub mod hub;
pub mod likes;
pub mod live_playlist;
pub mod schedule;
pub mod ts_stream;
pub mod vote_limit;

/// Why channel state (likes, schedules) could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// `--redis` is set and Redis is not answering.
    #[error(transparent)]
    Unavailable(#[from] crate::redis_link::Unavailable),
}

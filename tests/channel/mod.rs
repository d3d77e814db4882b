//! Channels: schedule, retimed segments, live playlists.

mod retime;

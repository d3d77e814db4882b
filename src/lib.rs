//! reel: a video server on an in-process libav engine.
//!
//! * [`engine`]: probe, decode-once/encode-many HLS ladders, the job pool, test clips;
//! * [`hls`]: renditions, segments, playlists, CODECS strings;
//! * [`catalog`]: the video records (`manifest.json`) the CLI and the server share;
//! * [`storage`]: the media store, a folder or an S3-compatible bucket, behind one interface;
//! * [`mp4`]: the one reader and rewriter of MP4 boxes, H.264 parameter sets and AAC configs;
//! * [`redis_link`]: the connection to the Redis that joins instances (`--redis`), and its keys;
//! * [`cli`]: `reel serve | transcode | probe | sample`;
//! * [`service`]: the composition root of `reel serve`, which builds every part and hands
//!   them to [`http`].
//!
//! `docs/architecture.md` draws how the pieces and threads fit together.

#![deny(unsafe_code)]

pub mod atomic_file;
pub mod catalog;
pub mod channel;
pub mod cli;
pub mod engine;
pub mod hls;
pub mod http;
pub mod live;
pub mod mp4;
pub mod redis_link;
pub mod service;
pub mod storage;
pub mod time;

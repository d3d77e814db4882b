//! reel's integration tests: one test binary, one module per area.
//!
//! Every test generates its media with the engine (lavfi sources) and checks reel's
//! output with independent judges (`ffprobe`, `m3u8-rs`, real HTTP clients).

mod browser;
mod engine;
mod judge;

//! reel's integration tests: one test binary, one module per area (ripgrep's layout).
//!
//! Every test generates its media with the engine (lavfi sources) and checks reel's
//! output with independent judges (`ffprobe`, `m3u8-rs`, real HTTP clients).
//!
//! * `engine`: the engine end to end; `judge`: the independent judges;
//! * `http`: the HTTP front, driven over the network against a real `reel serve` process;
//! * `browser`: the dashboard in headless Chromium against a real `reel serve`;
//! * `util`: shared helpers (server process, raw HTTP client, clips, ffprobe).

mod browser;
mod engine;
mod http;
mod judge;
mod util;

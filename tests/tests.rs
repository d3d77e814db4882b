//! reel's integration tests: one test binary, one module per area (ripgrep's layout).
//!
//! Every test generates its media with the engine (lavfi sources) and checks reel's output
//! with independent judges (`ffprobe`, `m3u8-rs`, real HTTP clients, mpv, Chromium).
//!
//! * `engine`: the media engine in-process;
//! * `http`: the HTTP front, driven over the network against a real `reel serve` process;
//! * `browser`: the dashboard in headless Chromium (Playwright), against `reel serve`;
//! * `channel`: channel pieces judged by ffprobe;
//! * `cluster`: two `reel serve` processes joined through a real redis-server;
//! * `judge`: ffprobe and HLS-parser checks of a ladder;
//! * `util`: shared helpers (server process, raw HTTP client, clips, ffprobe).

mod browser;
mod channel;
mod cluster;
mod engine;
mod http;
mod judge;
mod live;
mod util;

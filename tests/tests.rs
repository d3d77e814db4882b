//! Integration tests: one test binary, one module per area (ripgrep's layout).
//!
//! * `http`: the HTTP front, driven over the network against a real `reel serve` process;
//! * `util`: shared helpers (server process, raw HTTP client, clips, ffprobe).

mod http;
mod util;

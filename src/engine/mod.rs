//! The media engine: everything that touches libav, behind a small safe API.
//!
//! * [`probe`](probe::probe) describes a file, [`Limits`] say which files are too much;
//! * [`transcode`](transcode::transcode) turns it into an HLS ladder (decode once, one
//!   encoder thread per rung);
//! * [`pool::Pool`] runs transcodes on dedicated threads fed by a bounded queue;
//! * [`sample::write_sample`] generates test clips from lavfi sources.
//!
//! Nothing outside this module sees an ffmpeg type; raw `ffmpeg-sys-next` calls live in
//! [`ffi`] only.

mod encoders;
pub mod error;
#[allow(unsafe_code)]
mod ffi;
mod filters;
pub mod ladder;
pub mod limits;
pub mod live;
pub mod pool;
mod poster;
pub mod probe;
pub mod sample;
mod scale;
mod segmenter;
mod source;
pub mod storyboard;
pub mod transcode;
pub mod ts_remux;

pub use encoders::DEFAULT_PRESET;
pub use error::EngineError;
pub use ffi::duplicate_connection_socket;
pub use limits::Limits;
pub use probe::{probe, probe_within, Probe};
pub use transcode::{transcode, CancelToken, LadderState, TranscodeOptions};

use std::sync::Once;

/// Initialises libav once per process and keeps its logging quiet unless `RUST_LOG`
/// asks for debug output. On AMD CPUs, tells libav that AVX2 gathers are slow: swscale
/// then downscales with its SSSE3/SSE4 horizontal filters instead of the AVX2 gather
/// ones, which on this project's AMD EPYC machine took 1.6 times as long for 1080p to
/// 720p (same output, bit for bit).
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        ffmpeg_next::init().expect("libav initialises");
        let level = if log::log_enabled!(log::Level::Debug) {
            ffmpeg_next::util::log::Level::Info
        } else {
            ffmpeg_next::util::log::Level::Error
        };
        ffmpeg_next::util::log::set_level(level);
        if ffi::cpu_is_amd() {
            ffi::mark_gathers_slow();
        }
    });
}

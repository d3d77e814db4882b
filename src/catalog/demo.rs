//! The demo video: with `--demo` and an empty media root, `reel serve` makes a short test
//! clip in-process ([`write_sample`](crate::engine::sample::write_sample)) and queues it
//! like an upload, so a newcomer has something to play within seconds. Opt-in: a real
//! deployment's channel `main` must show only what its users uploaded. It runs on its own
//! thread; startup never waits for it.

use std::thread::JoinHandle;

use super::jobs::{Jobs, Upload};
use crate::engine::sample::{write_sample, SampleSpec};
use crate::hls::SegmentFormat;

/// What the demo clip is: big enough for a two-rung ladder, short enough to be ready fast.
pub fn demo_spec() -> SampleSpec {
    SampleSpec {
        width: 640,
        height: 360,
        seconds: 12.0,
        ..SampleSpec::default()
    }
}

/// Generates and queues the demo clip on a background thread.
pub fn queue_demo(jobs: Jobs) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("demo".into())
        .spawn(move || {
            if let Err(e) = make_demo(&jobs) {
                log::warn!("could not make the demo video: {e}");
            }
        })
        .expect("spawning the demo thread")
}

fn make_demo(jobs: &Jobs) -> Result<(), String> {
    let file = tempfile::Builder::new()
        .prefix("demo-")
        .suffix(".mp4")
        .tempfile_in(jobs.store().layout().uploads_dir())
        .map_err(|e| e.to_string())?
        .into_temp_path();
    write_sample(&file, &demo_spec()).map_err(|e| e.to_string())?;
    let video = jobs
        .accept(Upload {
            file,
            extension: "mp4".into(),
            title: "Demo: test pattern".into(),
            heights: None,
            segment_seconds: 4.0,
            format: SegmentFormat::Fmp4,
            subtitles: Vec::new(),
        })
        .map_err(|e| e.to_string())?;
    log::info!("queued the demo video {} (--demo)", video.id);
    Ok(())
}

//! The engine end to end: clips generated with `reel::engine::sample`, transcoded with
//! `reel::engine::transcode`, judged by ffprobe and an HLS parser (tests/judge).

mod cli;
mod errors;
mod footage;
mod ladder;
mod live;
mod pool;
mod storyboard;
mod tracks;

use std::path::{Path, PathBuf};

use reel::engine::{sample::SampleSpec, CancelToken, LadderState, TranscodeOptions};
use reel::hls::SegmentFormat;

/// Writes a generated clip named `name` into `dir`.
pub fn clip(dir: &Path, name: &str, spec: SampleSpec) -> PathBuf {
    let path = dir.join(name);
    reel::engine::sample::write_sample(&path, &spec).expect("sample clip");
    path
}

pub fn spec(width: u32, height: u32, seconds: f64) -> SampleSpec {
    SampleSpec {
        width,
        height,
        seconds,
        ..SampleSpec::default()
    }
}

pub fn opts(heights: Option<&[u32]>, segment_seconds: f64, format: SegmentFormat) -> TranscodeOptions {
    TranscodeOptions {
        heights: heights.map(<[u32]>::to_vec),
        segment_seconds,
        format,
        ..TranscodeOptions::default()
    }
}

/// Transcodes `input` into `dir/out`, returning the final state.
pub fn transcode(
    input: &Path,
    dir: &Path,
    o: &TranscodeOptions,
) -> (PathBuf, reel::engine::error::Result<LadderState>) {
    let out = dir.join("out");
    let result = reel::engine::transcode(input, &objects(dir, "out"), o, &mut |_| {}, &CancelToken::new());
    (out, result)
}

/// Video `id` of a folder store at `dir`: its objects land in `dir/id/`.
pub fn objects(dir: &Path, id: &str) -> reel::storage::VideoObjects {
    reel::storage::VideoObjects::new(reel::storage::MediaStore::folder(dir).unwrap(), id)
}

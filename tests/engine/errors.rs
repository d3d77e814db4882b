//! Bad input gets a typed error and leaves nothing behind.

use reel::engine::sample::SampleSpec;
use reel::engine::{CancelToken, EngineError};
use reel::hls::SegmentFormat;
use tempfile::tempdir;

use super::{clip, opts, spec, transcode};

#[test]
fn random_bytes_are_not_a_video_and_leave_no_output() {
    let dir = tempdir().unwrap();
    let src = dir.path().join("junk.mp4");
    std::fs::write(
        &src,
        (0..50_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let (out, result) = transcode(&src, dir.path(), &opts(None, 4.0, SegmentFormat::Fmp4));
    assert!(matches!(result, Err(EngineError::NotAVideo(_))), "{result:?}");
    assert!(!out.exists());
}

#[test]
fn audio_only_is_no_video_stream() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "audio.mp4",
        SampleSpec {
            video: false,
            ..spec(320, 180, 1.0)
        },
    );
    let (out, result) = transcode(&src, dir.path(), &opts(None, 4.0, SegmentFormat::Fmp4));
    assert!(matches!(result, Err(EngineError::NoVideoStream)), "{result:?}");
    assert!(!out.exists());
    assert!(matches!(
        reel::engine::probe(&src),
        Err(EngineError::NoVideoStream)
    ));
}

#[test]
fn mp4_cut_before_its_moov_is_a_typed_error() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "whole.mp4", spec(320, 180, 3.0));
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (out, result) = transcode(&cut, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let err = result.unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    assert!(
        !err.to_string().contains(dir.path().to_str().unwrap()),
        "error names a path: {err}"
    );
    assert!(!out.exists());
}

#[test]
fn truncated_stream_becomes_exactly_what_was_decodable() {
    // A Matroska file cut in half still opens; the ladder must describe only what
    // decodes, and ffprobe (check_ladder) must agree with the duration we report.
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "whole.mkv", spec(320, 180, 4.0));
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (out, result) = transcode(&cut, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let state = result.unwrap();
    assert!(
        state.duration > 0.5 && state.duration < 3.5,
        "duration {}",
        state.duration
    );
    let checked = crate::judge::check_ladder(&out, &cut, 1.0);
    assert!((checked[0].total - state.duration).abs() < 0.05);
    // The seek previews stop where the video does, not where the file said it would.
    crate::judge::check_storyboard(&out, state.duration);
}

/// Transcodes an 8 s clip into `dir/out` and calls `stop` on the job's token once its
/// first segment is stored.
fn stopped_after_first_segment(
    dir: &std::path::Path,
    stop: fn(&CancelToken),
) -> reel::engine::error::Result<reel::engine::LadderState> {
    let src = clip(dir, "in.mp4", spec(640, 360, 8.0));
    let cancel = CancelToken::new();
    let c = cancel.clone();
    reel::engine::transcode(
        &src,
        &super::objects(dir, "out"),
        &opts(None, 1.0, SegmentFormat::Fmp4),
        &mut |s| {
            if !s.renditions[0].segments.is_empty() {
                stop(&c);
            }
        },
        &cancel,
    )
}

#[test]
fn cancel_stops_the_job_and_removes_its_output() {
    let dir = tempdir().unwrap();
    let result = stopped_after_first_segment(dir.path(), CancelToken::cancel);
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_abandoned_job_stops_and_leaves_its_output_alone() {
    let dir = tempdir().unwrap();
    let result = stopped_after_first_segment(dir.path(), CancelToken::abandon);
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    assert!(
        dir.path().join("out").exists(),
        "another worker's objects now: kept"
    );
}

#[test]
fn bad_options_are_refused_before_any_work() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(320, 180, 1.0));
    for o in [
        opts(None, 0.5, SegmentFormat::Fmp4),
        opts(None, 31.0, SegmentFormat::Fmp4),
        opts(Some(&[]), 4.0, SegmentFormat::Fmp4),
    ] {
        let (out, result) = transcode(&src, dir.path(), &o);
        assert!(matches!(result, Err(EngineError::InvalidOption(_))), "{result:?}");
        assert!(!out.exists());
    }
}

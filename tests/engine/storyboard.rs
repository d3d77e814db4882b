//! Seek previews: the storyboard a transcode leaves beside the ladder, judged by ffprobe
//! and a WebVTT parser of the tests' own (tests/judge).

use reel::engine::sample::SampleSpec;
use reel::hls::SegmentFormat;
use tempfile::tempdir;

use super::{clip, opts, spec, transcode};
use crate::judge::check_storyboard;

#[test]
fn a_landscape_video_gets_160x90_tiles_every_2_s_covering_its_duration() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(640, 360, 9.0));
    let (out, state) = transcode(&src, dir.path(), &opts(Some(&[240]), 2.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    let board = check_storyboard(&out, state.duration);
    let starts: Vec<u64> = board.cues.iter().map(|c| c.start_ms).collect();
    assert_eq!(starts, [0, 2000, 4000, 6000, 8000]);
    assert_eq!(board.cues[1].sprite, "storyboard/sprite-000.jpg");
    assert_eq!(board.cues[1].rect, (160, 0, 160, 90));
    // One sheet, one row, as wide as its five tiles.
    assert_eq!(
        board.sprites,
        [("storyboard/sprite-000.jpg".to_string(), 800, 90)]
    );
}

#[test]
fn portrait_and_tiny_sources_get_tiles_of_their_own_shape() {
    let dir = tempdir().unwrap();
    // Portrait by rotation: stored 320x180, shown 180x320.
    let turned = clip(
        dir.path(),
        "turned.mp4",
        SampleSpec {
            rotation: 90,
            ..spec(320, 180, 3.0)
        },
    );
    let (out, state) = transcode(&turned, dir.path(), &opts(Some(&[180]), 1.0, SegmentFormat::Ts));
    let board = check_storyboard(&out, state.unwrap().duration);
    assert_eq!(board.cues[0].rect, (0, 0, 90, 160));
    assert_eq!(board.sprites[0].1, 180); // two tiles across
    std::fs::remove_dir_all(&out).unwrap();

    // Smaller than a tile: never enlarged.
    let tiny = clip(
        dir.path(),
        "tiny.mp4",
        SampleSpec {
            audio_tracks: 0,
            ..spec(32, 18, 5.0)
        },
    );
    let (out, state) = transcode(&tiny, dir.path(), &opts(None, 2.0, SegmentFormat::Fmp4));
    let board = check_storyboard(&out, state.unwrap().duration);
    assert_eq!(board.cues.len(), 3);
    assert_eq!(board.cues[2].rect, (64, 0, 32, 18));
}

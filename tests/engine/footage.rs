//! Real camera footage (../shared/media, CC BY 4.0 © Intel Corporation), when present.
//! A user's clone has no ../shared: these tests then skip, saying so.

use reel::hls::SegmentFormat;
use tempfile::tempdir;

use super::{opts, transcode};
use crate::judge::check_ladder;

fn footage() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/media/car-detection.mp4");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

#[test]
fn traffic_footage_at_12_5_fps_makes_a_clean_ladder() {
    let Some(src) = footage() else { return };
    let dir = tempdir().unwrap();
    let (out, state) = transcode(
        &src,
        dir.path(),
        &opts(Some(&[360, 240]), 4.0, SegmentFormat::Fmp4),
    );
    let state = state.unwrap();
    let checked = check_ladder(&out, &src, 4.0);
    assert_eq!(checked.len(), 2);
    assert_eq!(checked[0].segments, 10, "30.2 s: 1, 1, 2 s, six of 4 s, 2.2 s");
    assert!((state.duration - 30.2).abs() < 0.1, "{}", state.duration);
    assert!((state.renditions[0].frame_rate - 12.5).abs() < 0.01);
}

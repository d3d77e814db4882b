//! Retimed ladder segments, judged by ffprobe.

use std::path::Path;

use reel::hls::SegmentFormat;
use reel::mp4;
use reel::time::Ts90k;
use tempfile::tempdir;

use crate::engine::{clip, opts, spec, transcode};
use crate::judge;

#[test]
fn a_shifted_segment_plays_later_by_exactly_the_offset_on_both_tracks() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(320, 180, 3.0));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    state.unwrap();
    let rung = out.join("180p");
    let init = std::fs::read(rung.join("init.mp4")).unwrap();
    let scales = mp4::timescales(&init).unwrap();
    let probe_first = |seg: &[u8], name: &str| -> (f64, f64) {
        let path = dir.path().join(name);
        std::fs::write(&path, [init.as_slice(), seg].concat()).unwrap();
        let first = |sel: &str| {
            let v = judge::ffprobe(
                Path::new(&path),
                &["-select_streams", sel, "-show_entries", "packet=pts_time"],
            );
            v["packets"][0]["pts_time"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        };
        (first("v:0"), first("a:0"))
    };
    let original = std::fs::read(rung.join("seg00001.m4s")).unwrap();
    let (v0, a0) = probe_first(&original, "orig.mp4");
    let mut shifted = original.clone();
    mp4::shift_decode_times(&mut shifted, &scales, Ts90k::from_millis(100_250)).unwrap();
    let (v1, a1) = probe_first(&shifted, "shifted.mp4");
    assert!((v1 - v0 - 100.25).abs() < 0.001, "video {v0} -> {v1}");
    assert!((a1 - a0 - 100.25).abs() < 0.001, "audio {a0} -> {a1}");
    assert_eq!(shifted.len(), original.len());
}

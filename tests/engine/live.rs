//! The live pipeline at engine level: fragmented MP4 on the source's timeline.

use reel::engine::live::{stream_fmp4, LiveRequest};
use reel::engine::sample::SampleSpec;
use reel::engine::CancelToken;
use tempfile::tempdir;

use super::{clip, spec};
use crate::judge;

#[test]
fn stream_from_six_seconds_starts_at_six_and_parses_as_fragmented_mp4() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "in.mp4",
        SampleSpec {
            audio_tracks: 2,
            ..spec(640, 360, 10.0)
        },
    );
    let mut bytes = Vec::new();
    let mut paced = Vec::new();
    let req = LiveRequest {
        input: src,
        start: 6.0,
        height: Some(240),
        audio_track: 1,
    };
    stream_fmp4(
        &req,
        &mut bytes,
        &mut |t| {
            paced.push(t);
            true
        },
        &CancelToken::new(),
    )
    .unwrap();
    let saved = dir.path().join("stream.mp4");
    std::fs::write(&saved, &bytes).unwrap();
    let packets = judge::video_packets(&saved);
    assert!(packets[0].key);
    let first = packets.iter().map(|p| p.pts).fold(f64::MAX, f64::min);
    assert!((first - 6.0).abs() < 0.1, "first pts {first}");
    let (w, h, codec, _) = judge::video_stream(&saved);
    assert_eq!((w, h, codec.as_str()), (426, 240, "h264"));
    assert_eq!(judge::audio_streams(&saved), 1);
    // Fragmented: a moov with mvex, then moof boxes, one per second of media or so.
    let moofs = bytes.windows(4).filter(|w| w == b"moof").count();
    assert!((3..=6).contains(&moofs), "{moofs} fragments for 4 s");
    assert!(paced.first().is_some_and(|t| (t - 6.0).abs() < 0.1));
}

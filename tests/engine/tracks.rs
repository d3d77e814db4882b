//! Hostile tracks (issue 13): what a file with too many audio tracks or subtitles with
//! absurd timestamps costs is capped, and the ladder still comes out.

use std::process::Command;

use reel::engine::sample::SampleSpec;
use reel::engine::transcode::MAX_AUDIO_TRACKS;
use reel::hls::SegmentFormat;
use tempfile::tempdir;

use super::{clip, opts, spec, transcode};
use crate::judge;
use crate::util::clips::have;

#[test]
fn forty_audio_tracks_give_eight_renditions_and_a_note_for_the_rest() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "forty.mkv",
        SampleSpec {
            audio_tracks: 40,
            ..spec(160, 90, 2.0)
        },
    );
    assert_eq!(reel::engine::probe(&src).unwrap().audio_tracks.len(), 40);
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    assert_eq!(state.audio.len(), MAX_AUDIO_TRACKS);
    let skipped: Vec<_> = state
        .skipped_tracks
        .iter()
        .filter(|t| t.kind == "audio")
        .collect();
    assert_eq!(skipped.len(), 40 - MAX_AUDIO_TRACKS);
    assert_eq!(skipped[0].index, MAX_AUDIO_TRACKS);
    assert!(skipped[0].reason.contains("limit"), "{:?}", skipped[0]);
    let (audio, _) = judge::check_media_renditions(&out);
    assert_eq!(audio.len(), MAX_AUDIO_TRACKS);
    // Names are unique in the group: English, French, German, Spanish, English (2)...
    assert_eq!(audio[4].name, "English (2)");
}

#[test]
fn subtitles_with_absurd_timestamps_and_huge_cues_are_cut_down_not_fatal() {
    if !have("ffmpeg") {
        eprintln!("ffmpeg is absent: the fixture cannot be made");
        return;
    }
    let dir = tempdir().unwrap();
    let video = clip(dir.path(), "in.mp4", spec(160, 90, 3.0));
    let long_text = "x".repeat(10_000);
    let srt = format!(
        "1\n00:00:00,500 --> 00:00:01,000\nnormal\n\n\
         2\n99999:00:00,000 --> 99999:00:05,000\nfar future\n\n\
         3\n00:00:01,500 --> 00:00:01,200\nends before it starts\n\n\
         4\n00:00:02,000 --> 00:00:02,500\n{long_text}\n"
    );
    let srt_path = dir.path().join("hostile.srt");
    std::fs::write(&srt_path, srt).unwrap();
    let src = dir.path().join("hostile.mkv");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&video)
        .arg("-i")
        .arg(&srt_path)
        .args(["-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    assert_eq!(state.subtitles.len(), 1);
    let (_, subtitles) = judge::check_media_renditions(&out);
    let texts: Vec<&str> = subtitles[0].cues.iter().flatten().map(|c| c.2.as_str()).collect();
    assert_eq!(texts[0], "normal");
    assert!(!texts.contains(&"far future"), "{texts:?}");
    // A cue without a usable end (the muxer keeps none for one that ends before it
    // starts) shows for a default time, not forever.
    let longest = subtitles[0]
        .cues
        .iter()
        .flatten()
        .map(|c| c.1 - c.0)
        .fold(0.0, f64::max);
    assert!(longest <= 5.0, "a cue lasts {longest} s");
    let long = texts
        .iter()
        .find(|t| t.starts_with("xxx"))
        .expect("the long cue, cut");
    assert!(
        long.len() <= reel::hls::webvtt::MAX_CUE_TEXT_BYTES,
        "{} bytes",
        long.len()
    );
}

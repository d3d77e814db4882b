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

/// A 7.1 source in MPEG-TS: its surround rendition is AC-3 5.1 (stream type 0x81) cut on
/// the video's boundaries beside the stereo AAC one; `surround: false` leaves the one
/// track muxed into the rungs as a stereo source's is.
#[test]
fn a_7_1_source_in_ts_gets_an_ac3_5_1_rendition_unless_turned_off() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "seven.mkv",
        SampleSpec {
            audio_channels: 8,
            ..spec(320, 180, 4.0)
        },
    );
    assert_eq!(reel::engine::probe(&src).unwrap().audio_tracks[0].channels, 8);
    let (out, state) = transcode(&src, dir.path(), &opts(Some(&[180]), 2.0, SegmentFormat::Ts));
    let state = state.unwrap();
    let audio: Vec<_> = state
        .audio
        .iter()
        .map(|a| {
            (
                a.codec.as_str(),
                a.channels,
                a.group.as_str(),
                a.playlist.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        audio,
        [
            ("aac", 2, "audio", Some("audio0/index.m3u8")),
            ("ac3", 6, "audio-surround", Some("audio0-surround/index.m3u8"))
        ]
    );
    let (checked, _) = judge::check_media_renditions(&out);
    assert_eq!(checked.len(), 2);
    assert_eq!((checked[1].codec.as_str(), checked[1].channels), ("ac3", 6));
    // The PMT says AC-3 the ATSC way (0x81), what HLS players look for.
    let seg = out.join("audio0-surround/seg00000.ts");
    let probe = Command::new("ffprobe")
        .args(["-v", "debug"])
        .arg(&seg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stderr);
    assert!(text.contains("stream_type=81"), "{text}");
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(
        master.contains(",ac-3\",") && master.contains("AUDIO=\"audio-surround\""),
        "{master}"
    );

    // Turned off: what a stereo source gives, one track muxed into every rung.
    let off = tempdir().unwrap();
    let o = reel::engine::TranscodeOptions {
        surround: false,
        ..opts(Some(&[180]), 2.0, SegmentFormat::Ts)
    };
    let (out, state) = transcode(&src, off.path(), &o);
    let state = state.unwrap();
    assert_eq!(state.audio.len(), 1);
    assert_eq!(
        (state.audio[0].channels, state.audio[0].playlist.as_deref()),
        (2, None)
    );
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(
        !master.contains("EXT-X-MEDIA") && !master.contains("ac-3"),
        "{master}"
    );
}

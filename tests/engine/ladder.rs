//! Ladders that must come out right, one source shape at a time.

use reel::engine::sample::SampleSpec;
use reel::hls::SegmentFormat;
use tempfile::tempdir;

use super::{clip, opts, spec, transcode};
use crate::judge::{self, check_ladder};

fn sizes(r: &[judge::CheckedRendition]) -> Vec<(u64, u64)> {
    r.iter().map(|c| (c.width, c.height)).collect()
}

#[test]
fn landscape_with_audio_makes_the_default_ladder_up_to_the_source() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(640, 360, 5.0));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 2.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    let checked = check_ladder(&out, &src, 2.0);
    assert_eq!(sizes(&checked), vec![(640, 360), (426, 240)]);
    assert!(checked.iter().all(|c| c.segments == 4)); // 1, 1, 2, 1 s
    assert!((state.duration - 5.0).abs() < 0.05, "duration {}", state.duration);
    // Audio muxed into every rung, AAC-LC advertised.
    for r in &state.renditions {
        assert!(r.codecs.ends_with(",mp4a.40.2"), "{}", r.codecs);
        let seg = out.join(&r.segments[0].uri);
        let mut bytes = std::fs::read(out.join(r.init.as_ref().unwrap())).unwrap();
        bytes.extend(std::fs::read(&seg).unwrap());
        let joined = dir.path().join("joined.mp4");
        std::fs::write(&joined, bytes).unwrap();
        assert_eq!(judge::audio_streams(&joined), 1);
        // The advertised CODECS profile and level are the stream's own (ffprobe's view).
        let v = judge::ffprobe(
            &joined,
            &["-select_streams", "v:0", "-show_entries", "stream=profile,level"],
        );
        let level = v["streams"][0]["level"].as_i64().unwrap();
        assert_eq!(v["streams"][0]["profile"], "High");
        assert!(
            r.codecs.starts_with(&format!("avc1.6400{level:02x}")),
            "{} vs level {level}",
            r.codecs
        );
    }
    // Poster: a real JPEG of a non-black frame.
    let poster = out.join("poster.jpg");
    let (w, _, codec, _) = judge::video_stream(&poster);
    assert_eq!((w, codec.as_str()), (640, "mjpeg"));
    // Bandwidth: measured peak >= average > 0, and the master carries them.
    for r in &state.renditions {
        assert!(r.bandwidth >= r.average_bandwidth && r.average_bandwidth > 0);
    }
}

#[test]
fn no_audio_odd_size_keeps_aspect_with_even_dimensions() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "odd.mp4",
        SampleSpec {
            audio_tracks: 0,
            ..spec(854, 481, 3.0)
        },
    );
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    let checked = check_ladder(&out, &src, 1.0);
    assert_eq!(sizes(&checked), vec![(852, 480), (640, 360), (426, 240)]);
    assert!(state.renditions.iter().all(|r| !r.codecs.contains("mp4a")));
    assert_eq!(judge::audio_streams(&out.join("480p/init.mp4")), 0);
}

#[test]
fn portrait_source_rung_number_is_the_short_side() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "portrait.mp4", spec(360, 640, 2.0));
    let (out, state) = transcode(
        &src,
        dir.path(),
        &opts(Some(&[720, 360, 240]), 1.0, SegmentFormat::Fmp4),
    );
    let state = state.unwrap();
    assert_eq!(state.skipped_heights, vec![720]);
    assert_eq!(
        sizes(&check_ladder(&out, &src, 1.0)),
        vec![(360, 640), (240, 426)]
    );
}

#[test]
fn rotated_source_is_turned_upright() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "rotated.mp4",
        SampleSpec {
            rotation: 90,
            ..spec(640, 360, 2.0)
        },
    );
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    assert_eq!(state.source.video.rotation, 90);
    assert_eq!(
        sizes(&check_ladder(&out, &src, 1.0)),
        vec![(360, 640), (240, 426)]
    );
    // No rotation tag survives into the output: the pixels themselves are upright.
    let v = judge::ffprobe(&out.join("360p/init.mp4"), &["-show_entries", "stream_side_data"]);
    assert!(!v.to_string().contains("Display Matrix"), "{v}");
}

#[test]
fn ten_bit_and_444_sources_become_8_bit_420() {
    for pix in ["yuv420p10le", "yuv444p"] {
        let dir = tempdir().unwrap();
        let src = clip(
            dir.path(),
            "deep.mkv",
            SampleSpec {
                pix_fmt: pix.into(),
                ..spec(320, 240, 2.0)
            },
        );
        assert_eq!(judge::video_stream(&src).3, pix);
        let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
        state.unwrap();
        // check_ladder asserts yuv420p, 8-bit H.264 in every segment.
        assert_eq!(sizes(&check_ladder(&out, &src, 1.0)), vec![(320, 240)]);
    }
}

#[test]
fn variable_frame_rate_keeps_boundaries_on_pts() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "vfr.mkv",
        SampleSpec {
            vfr: true,
            ..spec(320, 180, 6.0)
        },
    );
    let (out, state) = transcode(&src, dir.path(), &opts(Some(&[180]), 2.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    let checked = check_ladder(&out, &src, 2.0);
    assert_eq!(checked[0].segments, 4); // 1, 1, 2, 2 s
    judge::check_storyboard(&out, state.duration);
}

#[test]
fn clip_shorter_than_one_segment_is_the_short_first_segments() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "short.mp4", spec(320, 180, 1.5));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 4.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    assert_eq!(check_ladder(&out, &src, 4.0)[0].segments, 2);
    let durations: Vec<f64> = state.renditions[0].segments.iter().map(|s| s.duration).collect();
    assert!(
        (durations[0] - 1.0).abs() < 0.04 && (durations[1] - 0.5).abs() < 0.04,
        "{durations:?}"
    );
}

/// Issue 9: every rung's first segment must land soon after the job starts, so the first
/// segments are short (1 s, 1 s, 2 s) and the rest keep the chosen length; the IDRs that
/// start them fall on the same instants on every rung, so a player can switch anywhere.
#[test]
fn the_first_segments_are_short_and_start_at_the_same_instants_on_every_rung() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(640, 360, 10.0));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 4.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    assert_eq!(state.segment_seconds, 4.0, "the video keeps the chosen length");
    // check_ladder: 1, 1, 2, 4, 2 s within a frame; EXTINF <= TARGETDURATION; one IDR each.
    let checked = check_ladder(&out, &src, 4.0);
    assert_eq!(sizes(&checked), vec![(640, 360), (426, 240)]);
    let frame = 1.0 / 30.0;
    let mut instants = Vec::new();
    for r in &state.renditions {
        let playlist = judge::parse_media(&out.join(&r.playlist));
        assert_eq!(playlist.target_duration, 4, "TARGETDURATION is the chosen length");
        let keys = judge::keyframe_times(&out.join(&r.playlist));
        let from_first: Vec<f64> = keys.iter().map(|k| k - keys[0]).collect();
        assert_eq!(from_first.len(), 5, "{}: keyframes at {keys:?}", r.playlist);
        for (got, want) in from_first.iter().zip([0.0, 1.0, 2.0, 4.0, 8.0]) {
            assert!(
                (got - want).abs() < frame / 2.0,
                "{}: keyframes at {keys:?}",
                r.playlist
            );
        }
        instants.push(keys);
    }
    assert!(
        instants.windows(2).all(|w| w[0] == w[1]),
        "IDRs differ between rungs: {instants:?}"
    );
}

#[test]
fn two_audio_tracks_and_two_subrip_tracks_become_renditions_on_the_video_boundaries() {
    let dir = tempdir().unwrap();
    let src = clip(
        dir.path(),
        "two.mkv",
        SampleSpec {
            audio_tracks: 2,
            tone_step: 440,
            subtitle_tracks: 2,
            ..spec(320, 180, 5.0)
        },
    );
    let p = reel::engine::probe(&src).unwrap();
    assert_eq!(p.audio_tracks.len(), 2);
    assert_eq!(p.audio_tracks[1].index, 1);
    assert_eq!(p.audio_tracks[1].language.as_deref(), Some("fra"));
    assert_eq!(p.subtitle_tracks.len(), 2);
    assert!(
        p.subtitle_tracks.iter().all(|t| t.text),
        "{:?}",
        p.subtitle_tracks
    );
    for format in [SegmentFormat::Fmp4, SegmentFormat::Ts] {
        let dir = tempdir().unwrap();
        let (out, state) = transcode(&src, dir.path(), &opts(None, 2.0, format));
        let state = state.unwrap();
        check_ladder(&out, &src, 2.0);
        // The video renditions carry no audio; the renditions of the tracks do.
        let first = &state.renditions[0];
        let video_only = match format {
            SegmentFormat::Fmp4 => out.join(first.init.as_ref().unwrap()),
            SegmentFormat::Ts => out.join(&first.segments[1].uri),
        };
        assert_eq!(judge::audio_streams(&video_only), 0, "{format:?}");
        assert!(first.codecs.ends_with(",mp4a.40.2"), "{}", first.codecs);
        let (audio, subtitles) = judge::check_media_renditions(&out);
        let summary: Vec<_> = audio
            .iter()
            .map(|a| (a.language.as_deref(), a.name.as_str(), a.default))
            .collect();
        assert_eq!(
            summary,
            [(Some("en"), "English", true), (Some("fr"), "French", false)],
            "{format:?}"
        );
        assert!(
            (audio[0].pitch - 440.0).abs() < 5.0,
            "{format:?} track 0: {} Hz",
            audio[0].pitch
        );
        assert!(
            (audio[1].pitch - 880.0).abs() < 5.0,
            "{format:?} track 1: {} Hz",
            audio[1].pitch
        );
        assert_eq!(subtitles.len(), 2);
        assert_eq!(subtitles[1].language.as_deref(), Some("fr"));
        // Segments of 1, 1, 2, 1 s; the cue from 0.5 to 1.5 s is in both the first two.
        let texts: Vec<Vec<&str>> = subtitles[1]
            .cues
            .iter()
            .map(|segment| segment.iter().map(|c| c.2.as_str()).collect())
            .collect();
        assert_eq!(
            texts,
            [
                vec!["fra subtitle 1"],
                vec!["fra subtitle 1"],
                vec!["fra subtitle 2"],
                vec!["fra subtitle 3"]
            ]
        );
        let (start, end, _) = &subtitles[0].cues[2][0];
        assert!(
            (start - 2.5).abs() < 0.002 && (end - 3.5).abs() < 0.002,
            "{start}..{end}"
        );
        // The video object's view of the same.
        assert_eq!(state.audio.len(), 2);
        assert!(state
            .audio
            .iter()
            .all(|a| a.playlist.is_some() && a.channels == 2));
        assert_eq!(state.subtitles[0].playlist, "subtitles0/index.m3u8");
        assert!(state.skipped_tracks.is_empty());
    }
}

#[test]
fn one_audio_track_stays_muxed_and_is_described() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "one.mp4", spec(320, 180, 2.0));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Fmp4));
    let state = state.unwrap();
    assert_eq!(state.audio.len(), 1);
    let a = &state.audio[0];
    assert!(a.playlist.is_none() && a.default && a.language.as_deref() == Some("en"));
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(!master.contains("EXT-X-MEDIA"), "{master}");
    assert_eq!(judge::audio_streams(&out.join("180p/init.mp4")), 1);
}

#[test]
fn transport_stream_segments_stand_alone() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(320, 180, 3.0));
    let (out, state) = transcode(&src, dir.path(), &opts(None, 1.0, SegmentFormat::Ts));
    let state = state.unwrap();
    assert!(state.renditions[0].init.is_none());
    assert!(state.renditions[0].segments[0].uri.ends_with(".ts"));
    let checked = check_ladder(&out, &src, 1.0);
    assert_eq!(checked[0].segments, 3);
    // Each .ts segment carries audio on its own (no init segment to lean on).
    assert_eq!(judge::audio_streams(&out.join("180p/seg00002.ts")), 1);
}

#[test]
fn playlists_are_event_playlists_while_the_job_runs() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(640, 360, 4.0));
    let out = dir.path().join("out");
    let (mut seen_growing, mut seen_without_master) = (false, false);
    let result = reel::engine::transcode(
        &src,
        &super::objects(dir.path(), "out"),
        &opts(None, 1.0, SegmentFormat::Fmp4),
        &mut |state| {
            // The master names playlists only once each lists a segment (issue 9).
            let all_listed = state.renditions.iter().all(|r| !r.segments.is_empty());
            assert_eq!(
                out.join("master.m3u8").exists(),
                all_listed,
                "master.m3u8 present while rungs list {:?} segments",
                state
                    .renditions
                    .iter()
                    .map(|r| r.segments.len())
                    .collect::<Vec<_>>()
            );
            seen_without_master |= !all_listed;
            let r = &state.renditions[0];
            if state.progress < 1.0 && !r.segments.is_empty() && r.segments.len() < 4 {
                let text = std::fs::read_to_string(out.join(&r.playlist)).unwrap();
                let playlist = crate::judge::parse_media(&out.join(&r.playlist));
                assert!(
                    text.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !playlist.end_list,
                    "{text}"
                );
                assert_eq!(playlist.start.map(|s| s.time_offset), Some(0.0), "{text}");
                // Every listed segment is already complete on disk.
                for s in &playlist.segments {
                    assert!(out.join("360p").join(&s.uri).metadata().unwrap().len() > 0);
                }
                seen_growing = true;
            }
        },
        &reel::engine::CancelToken::new(),
    );
    result.unwrap();
    assert!(seen_growing, "never saw a partial playlist");
    assert!(seen_without_master, "never saw the job before its first segments");
}

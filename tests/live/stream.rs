//! What a session's stream carries: fragmented MP4 from a keyframe on the source's
//! timeline, a seek that ends the old response and starts the next one there, an audio
//! track switch (judged by pitch), a clock that runs at `rate`, and the re-use path.

use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::tempdir;

use super::*;
use crate::judge;

#[test]
fn a_stream_is_fragmented_mp4_from_a_keyframe_on_the_source_timeline() {
    let clip = library_clip("live-6s.mp4", 320, 180, 6.0, 1);
    let server = server_with_library(&clip, &[]);
    let session = create(&server, &clip, json!({}));
    let id = session["id"].as_str().unwrap();
    assert_eq!(session["paused"], false);
    assert_eq!(session["position"], 0.0);
    assert_eq!(session["duration"], 6.0);
    assert_eq!(session["mode"], "encode");
    assert_eq!(session["links"]["stream"], format!("/api/sessions/{id}/stream"));
    // What would make the stream fail is refused at creation.
    let name = clip.file_name().unwrap().to_string_lossy().into_owned();
    for bad in [
        json!({"library": name, "height": 8}),
        json!({"library": name, "rate": 0}),
        json!({"library": name, "start": -2}),
        json!({"library": name, "audio_track": 3}),
        json!({"library": "no/such.mp4"}),
    ] {
        let (code, body) = post(&server, "/api/sessions", bad.clone());
        assert!(code == 400 || code == 404, "{bad} → {code} {body}");
    }

    let mut stream = StreamClient::open(server.addr, &format!("/api/sessions/{id}/stream"), None);
    assert_eq!(stream.status, 200);
    assert!(
        stream.headers.contains("content-type: video/mp4"),
        "{}",
        stream.headers
    );
    // 6 s of media is within the 10 s lead: it is produced at once and the body ends.
    stream.read_to_end(Duration::from_secs(30));

    let boxes: Vec<String> = top_level_boxes(&stream.body).into_iter().map(|b| b.0).collect();
    assert_eq!(&boxes[..2], ["ftyp", "moov"], "{boxes:?}");
    let moov = &stream.body[..top_level_boxes(&stream.body)[1].1 + top_level_boxes(&stream.body)[1].2];
    assert!(
        moov.windows(4).any(|w| w == b"mvex"),
        "a fragmented moov has mvex"
    );
    let moofs = boxes.iter().filter(|b| *b == "moof").count();
    assert!(
        (5..=8).contains(&moofs),
        "{moofs} fragments for 6 s (about one a second)"
    );
    assert!(
        boxes[2..].chunks(2).all(|pair| pair == ["moof", "mdat"]),
        "moof/mdat pairs after the moov: {boxes:?}"
    );

    let dir = tempdir().unwrap();
    let saved = stream.save(&dir.path().join("stream.mp4"));
    let (pts, key) = first_video_packet(&saved);
    assert!(key, "the stream starts with a keyframe");
    assert!(pts.abs() < 0.05, "first pts {pts}");
    let (w, h, codec, _) = judge::video_stream(&saved);
    assert_eq!((w, h, codec.as_str()), (320, 180, "h264"));
    assert_eq!(judge::audio_streams(&saved), 1);
    let decoded = judge::decoded_video_duration(&saved);
    assert!((decoded - 6.0).abs() < 0.2, "decoded {decoded} s of video");
    // Every fragment starts with a keyframe (one IDR a second).
    let packets = judge::video_packets(&saved);
    let keys = packets.iter().filter(|p| p.key).count();
    assert_eq!(keys, moofs, "one keyframe per fragment");
}

#[test]
fn a_seek_ends_the_response_and_the_next_stream_starts_there() {
    let clip = library_clip("live-20s.mp4", 320, 180, 20.0, 1);
    let server = server_with_library(&clip, &[]);
    let id = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/sessions/{id}/stream");

    let mut first = StreamClient::open(server.addr, &path, None);
    assert!(first.read_until(Duration::from_secs(20), |c| c.fragments() >= 2));
    let sought = act(&server, &id, "seek", json!({"position": 6.0}));
    assert_eq!(
        position(&sought),
        6.0,
        "the clock waits at 6 s for the next stream"
    );
    let at = Instant::now();
    first.read_to_end(Duration::from_secs(5));
    let ended_after = at.elapsed();
    assert!(
        ended_after < Duration::from_secs(2),
        "the old response took {ended_after:?} to end"
    );
    assert!(!first.body.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        position(&status(&server, &id)),
        6.0,
        "no stream open: the clock waits"
    );

    let mut next = StreamClient::open(server.addr, &path, None);
    assert_eq!(next.status, 200);
    assert!(next.read_until(Duration::from_secs(20), |c| c.fragments() >= 3));
    let dir = tempdir().unwrap();
    let saved = next.save(&dir.path().join("from6.mp4"));
    let (pts, key) = first_video_packet(&saved);
    assert!(key);
    assert!(
        (pts - 6.0).abs() <= 1.0,
        "the stream after a seek to 6 s starts at {pts}"
    );
    let p = position(&status(&server, &id));
    assert!(
        (6.0..9.0).contains(&p),
        "position {p} after the next stream started"
    );

    // Out-of-range answers are refused with a sentence.
    let (code, body) = post(
        &server,
        &format!("/api/sessions/{id}/seek"),
        json!({"position": -1}),
    );
    assert_eq!(code, 400, "{body}");
}

#[test]
fn an_audio_track_switch_restarts_the_stream_with_the_other_track() {
    // Track 0 is a 440 Hz sine, track 1 a 660 Hz one.
    let clip = library_clip("live-2tracks.mp4", 320, 180, 12.0, 2);
    let server = server_with_library(&clip, &[]);
    let session = create(&server, &clip, json!({}));
    let id = session["id"].as_str().unwrap().to_string();
    let tracks = session["tracks"]["audio_tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2, "{session}");
    assert_eq!(session["tracks"]["audio_track"], 0);
    let path = format!("/api/sessions/{id}/stream");
    let dir = tempdir().unwrap();

    let mut first = StreamClient::open(server.addr, &path, None);
    assert!(first.read_until(Duration::from_secs(20), |c| c.fragments() >= 3));
    let switched = act(&server, &id, "tracks", json!({"audio_track": 1}));
    assert_eq!(switched["tracks"]["audio_track"], 1);
    first.read_to_end(Duration::from_secs(5));
    let at = position(&switched);

    let mut second = StreamClient::open(server.addr, &path, None);
    assert!(second.read_until(Duration::from_secs(20), |c| c.fragments() >= 3));
    let a = first.save(&dir.path().join("track0.mp4"));
    let b = second.save(&dir.path().join("track1.mp4"));
    assert_eq!(
        judge::audio_streams(&b),
        1,
        "the stream carries the chosen track only"
    );
    let (pa, pb) = (pitch(&a), pitch(&b));
    assert!((pa - 440.0).abs() < 10.0, "track 0 sounds at {pa:.1} Hz");
    assert!((pb - 660.0).abs() < 10.0, "track 1 sounds at {pb:.1} Hz");
    let (pts, _) = first_video_packet(&b);
    assert!(
        (pts - at).abs() <= 1.0,
        "the new stream starts where the switch was ({at}): {pts}"
    );

    let (code, body) = post(
        &server,
        &format!("/api/sessions/{id}/tracks"),
        json!({"audio_track": 2}),
    );
    assert_eq!(code, 400, "{body}");
}

#[test]
fn the_clock_runs_at_the_rate() {
    let clip = library_clip("live-20s.mp4", 320, 180, 20.0, 1);
    let server = server_with_library(&clip, &[]);
    let id = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stream = StreamClient::open(server.addr, &format!("/api/sessions/{id}/stream"), None);
    stream.read_for(Duration::from_millis(300));

    // Position gained per second of server time, over `wall`.
    let speed = |wall: Duration| {
        let a = status(&server, &id);
        std::thread::sleep(wall);
        let b = status(&server, &id);
        let dt = (b["server_time_ms"].as_f64().unwrap() - a["server_time_ms"].as_f64().unwrap()) / 1000.0;
        (position(&b) - position(&a)) / dt
    };
    let r = act(&server, &id, "rate", json!({"rate": 2.0}));
    assert_eq!(r["rate"], 2.0);
    let double = speed(Duration::from_millis(1500));
    assert!(
        (double - 2.0).abs() < 0.1,
        "at rate 2 the clock ran at {double:.3}x"
    );
    act(&server, &id, "rate", json!({"rate": 1.0}));
    let single = speed(Duration::from_millis(1000));
    assert!(
        (single - 1.0).abs() < 0.1,
        "at rate 1 the clock ran at {single:.3}x"
    );

    let (code, body) = post(&server, &format!("/api/sessions/{id}/rate"), json!({"rate": 10}));
    assert_eq!(code, 400, "{body}");
    // A session created at a rate runs at it from its first byte.
    let fast = create(&server, &clip, json!({"rate": 0.5, "start": 2.0}));
    assert_eq!(fast["rate"], 0.5);
    assert_eq!(position(&fast), 2.0);
}

#[test]
fn a_ready_video_at_a_rung_height_streams_its_ladder_as_it_is() {
    let clip = library_clip("live-ladder.mp4", 320, 180, 6.0, 1);
    // One encoder may run: the re-use path must not need one.
    let server = server_with_library(&clip, &["--max-live-encoders", "1"]);
    let id = crate::util::upload_ok(&server, &clip, &[("heights", "180"), ("segment_seconds", "2")]);
    let video = crate::util::wait_ready(&server, &id);
    let rendition = &video["renditions"][0];
    assert_eq!(rendition["height"], 180, "{video}");

    // Hold the one encoder with a library session.
    let busy = create(&server, &clip, json!({}));
    let mut encoding = StreamClient::open(
        server.addr,
        &format!("/api/sessions/{}/stream", busy["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(encoding.status, 200);
    encoding.read_for(Duration::from_millis(100));

    let (code, session) = post(
        &server,
        "/api/sessions",
        json!({"video": id, "height": 180, "start": 2.0}),
    );
    assert_eq!(code, 201, "{session}");
    assert_eq!(session["mode"], "reuse", "{session}");
    let sid = session["id"].as_str().unwrap();
    let mut stream = StreamClient::open(server.addr, &format!("/api/sessions/{sid}/stream"), None);
    assert_eq!(stream.status, 200, "re-use does not take an encoder");
    stream.read_to_end(Duration::from_secs(20));

    // Byte for byte: the init segment, then the segments from the one holding 2 s.
    let dir = server.media.join(&id);
    let playlist = crate::judge::parse_media(&dir.join(rendition["playlist"].as_str().unwrap()));
    let rung_dir = dir
        .join(rendition["playlist"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    let mut expected = std::fs::read(rung_dir.join("init.mp4")).unwrap();
    let mut t = 0.0;
    for segment in &playlist.segments {
        if t + segment.duration as f64 > 2.0 + 1e-6 {
            expected.extend(std::fs::read(rung_dir.join(&segment.uri)).unwrap());
        }
        t += segment.duration as f64;
    }
    assert_eq!(stream.body.len(), expected.len());
    assert!(
        stream.body == expected,
        "the re-used stream is the ladder's bytes"
    );
    let saved = stream.save(&server.dir.join("reuse.mp4"));
    let (pts, key) = first_video_packet(&saved);
    // The ladder's pictures carry its encoder's B-frame delay (2 frames, 67 ms at 30 fps:
    // fragmented output has no edit list to take it off), and re-use keeps its bytes.
    assert!(key && (pts - 2.0).abs() < 0.1, "first pts {pts}");
}

/// Issue 13: a ready video whose audio tracks are renditions of their own (its rungs carry
/// no audio): `audio_track` picks among the same tracks as the video object's `audio`,
/// and the stream is the rung's segments with the chosen track's joined in, from the
/// segment holding the position (no encoder).
#[test]
fn a_session_on_a_video_with_audio_renditions_plays_the_chosen_track() {
    let clip = crate::util::clips::clip_with(
        "live-renditions.mkv",
        reel::engine::sample::SampleSpec {
            width: 320,
            height: 180,
            seconds: 10.0,
            audio_tracks: 2,
            tone_step: 440,
            ..Default::default()
        },
    );
    let server = server_with_library(&clip, &[]);
    let id = crate::util::upload_ok(&server, &clip, &[("heights", "180"), ("segment_seconds", "2")]);
    let video = crate::util::wait_ready(&server, &id);
    assert_eq!(video["audio"].as_array().unwrap().len(), 2, "{video}");

    let (code, session) = post(
        &server,
        "/api/sessions",
        json!({"video": id, "height": 180, "audio_track": 1}),
    );
    assert_eq!(code, 201, "{session}");
    assert_eq!(session["mode"], "reuse", "{session}");
    let tracks = session["tracks"]["audio_tracks"].as_array().unwrap();
    let languages: Vec<_> = tracks.iter().map(|t| t["language"].as_str()).collect();
    assert_eq!(languages, [Some("en"), Some("fr")], "{session}");
    let names: Vec<_> = tracks.iter().map(|t| t["name"].as_str()).collect();
    let ladder: Vec<_> = video["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names, ladder,
        "the session names tracks as the ladder does: {session}"
    );
    assert!(names.iter().all(Option::is_some), "{session}");
    let sid = session["id"].as_str().unwrap().to_string();
    let path = format!("/api/sessions/{sid}/stream");
    let dir = tempdir().unwrap();

    let mut french = StreamClient::open(server.addr, &path, None);
    assert!(french.read_until(Duration::from_secs(30), |c| c.fragments() >= 3));
    std::thread::sleep(Duration::from_millis(2500));
    let at = position(&act(&server, &sid, "tracks", json!({"audio_track": 0})));
    french.read_to_end(Duration::from_secs(5));
    let mut english = StreamClient::open(server.addr, &path, None);
    assert!(english.read_until(Duration::from_secs(30), |c| c.fragments() >= 3));
    let (fr, en) = (
        french.save(&dir.path().join("fr.mp4")),
        english.save(&dir.path().join("en.mp4")),
    );
    assert_eq!(judge::audio_streams(&fr), 1);
    // The second stream starts with the segment holding the switch's position (2 s long
    // there; the ladder's pictures carry x264's 2-frame delay).
    let (pts, key) = first_video_packet(&en);
    assert!(
        key && pts <= at + 0.1 && pts > at - 2.1,
        "the stream after the switch at {at} starts at {pts}"
    );
    let (pf, pe) = (pitch(&fr), pitch(&en));
    assert!((pf - 880.0).abs() < 10.0, "track 1 sounds at {pf:.1} Hz");
    assert!((pe - 440.0).abs() < 10.0, "track 0 sounds at {pe:.1} Hz");
}

/// A ready video with a 5.1 track (a stereo AAC rendition and an AC-3 5.1 one): a
/// session lists and plays the stereo one only, re-using its segments; the AC-3 one is
/// no track of its.
#[test]
fn a_session_on_a_5_1_video_plays_its_stereo_rendition() {
    let clip = crate::util::clips::clip_with(
        "live-surround.mp4",
        reel::engine::sample::SampleSpec {
            width: 320,
            height: 180,
            seconds: 6.0,
            audio_channels: 6,
            ..Default::default()
        },
    );
    let server = server_with_library(&clip, &[]);
    let id = crate::util::upload_ok(&server, &clip, &[("heights", "180"), ("segment_seconds", "2")]);
    let video = crate::util::wait_ready(&server, &id);
    assert_eq!(video["audio"][1]["codec"], "ac3", "{video}");

    let (code, refused) = post(
        &server,
        "/api/sessions",
        json!({"video": id, "height": 180, "audio_track": 1}),
    );
    assert_eq!(
        code, 400,
        "the AC-3 rendition is no track of a session: {refused}"
    );
    let (code, session) = post(&server, "/api/sessions", json!({"video": id, "height": 180}));
    assert_eq!(code, 201, "{session}");
    assert_eq!(session["mode"], "reuse", "{session}");
    let tracks = session["tracks"]["audio_tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 1, "{session}");
    assert_eq!(
        (&tracks[0]["codec"], &tracks[0]["channels"], &tracks[0]["name"]),
        (&json!("aac"), &json!(2), &video["audio"][0]["name"]),
        "{session}"
    );
    let sid = session["id"].as_str().unwrap().to_string();
    let mut stream = StreamClient::open(server.addr, &format!("/api/sessions/{sid}/stream"), None);
    assert!(stream.read_until(Duration::from_secs(30), |c| c.fragments() >= 3));
    let dir = tempdir().unwrap();
    let saved = stream.save(&dir.path().join("stereo.mp4"));
    assert_eq!(judge::audio_streams(&saved), 1);
    let v = judge::ffprobe(
        &saved,
        &[
            "-show_entries",
            "stream=codec_name,channels",
            "-select_streams",
            "a",
        ],
    );
    assert_eq!(
        (&v["streams"][0]["codec_name"], &v["streams"][0]["channels"]),
        (&json!("aac"), &json!(2)),
        "{v}"
    );
}

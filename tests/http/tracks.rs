//! Issue 13 over HTTP: an upload with two audio tracks (English 440 Hz, French 880 Hz) and
//! two SubRip tracks becomes a ladder with audio and subtitle renditions. The video object
//! describes them; every audio and WebVTT segment is served with its type and read by
//! ffprobe; mpv and VLC list the tracks from the master playlist.

use std::process::Command;

use reel::engine::sample::SampleSpec;

use crate::judge;
use crate::util::clips::{clip_with, have};
use crate::util::*;

/// Each object of the array `list` as its `keys`' values, space-separated.
fn fields(list: &serde_json::Value, keys: &[&str]) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            keys.iter()
                .map(|k| match &o[*k] {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn two_track_clip() -> std::path::PathBuf {
    clip_with(
        "http-tracks.mkv",
        SampleSpec {
            width: 320,
            height: 180,
            seconds: 6.0,
            audio_tracks: 2,
            tone_step: 440,
            subtitle_tracks: 2,
            ..SampleSpec::default()
        },
    )
}

#[test]
fn audio_and_subtitle_renditions_are_described_served_and_listed_by_mpv_and_vlc() {
    let server = Server::new();
    let id = upload_ok(
        &server,
        &two_track_clip(),
        &[("heights", "180"), ("segment_seconds", "2")],
    );
    let video = wait_ready(&server, &id);
    let keys = ["index", "language", "name", "channels", "default", "playlist"];
    assert_eq!(
        fields(&video["audio"], &keys),
        [
            "0 en English 2 true audio0/index.m3u8",
            "1 fr French 2 false audio1/index.m3u8"
        ],
        "{video}"
    );
    assert_eq!(
        fields(&video["subtitles"], &["index", "language", "name", "playlist"]),
        [
            "0 en English subtitles0/index.m3u8",
            "1 fr French subtitles1/index.m3u8"
        ]
    );
    assert_eq!(video["skipped_tracks"], serde_json::json!([]));
    // The video renditions: what every player fetches, with the audio in BANDWIDTH.
    crate::util::ladder::check_ladder(&server, &video);
    let (checked_audio, checked_subtitles) = judge::check_media_renditions(&server.media.join(&id));
    assert_eq!(checked_audio.len(), 2);
    assert_eq!(checked_subtitles.len(), 2);

    // Every rendition's files over HTTP, with their types; ffprobe reads each.
    let base = format!("/media/{id}");
    for (playlist, segment_type) in [
        ("audio0/index.m3u8", "video/iso.segment"),
        ("audio1/index.m3u8", "video/iso.segment"),
        ("subtitles0/index.m3u8", "text/vtt; charset=utf-8"),
        ("subtitles1/index.m3u8", "text/vtt; charset=utf-8"),
    ] {
        let res = server.get(&format!("{base}/{playlist}"));
        assert_eq!(res.status, 200, "{playlist}");
        assert_eq!(res.header("content-type"), Some("application/vnd.apple.mpegurl"));
        let Ok(m3u8_rs::Playlist::MediaPlaylist(media)) = m3u8_rs::parse_playlist_res(&res.body) else {
            panic!("{playlist} is not a media playlist");
        };
        let dir = playlist.rsplit_once('/').unwrap().0;
        let init = media.segments[0]
            .map
            .as_ref()
            .map(|m| server.get(&format!("{base}/{dir}/{}", m.uri)).body)
            .unwrap_or_default();
        for s in &media.segments {
            let res = server.get(&format!("{base}/{dir}/{}", s.uri));
            assert_eq!(res.status, 200, "{dir}/{}", s.uri);
            assert_eq!(res.header("content-type"), Some(segment_type), "{dir}/{}", s.uri);
            let file = server.dir.join(format!("probe-{}", s.uri.replace('/', "-")));
            std::fs::write(&file, [init.as_slice(), &res.body].concat()).unwrap();
            let streams = judge::ffprobe(&file, &["-show_entries", "stream=codec_name"]);
            let codec = streams["streams"][0]["codec_name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            assert!(codec == "aac" || codec == "webvtt", "{dir}/{}: {streams}", s.uri);
        }
    }

    let master = format!("http://{}/media/{id}/master.m3u8", server.addr);
    if have("mpv") {
        // libavformat 5.1's HLS demuxer (mpv's) takes a master's audio renditions but not
        // its subtitle ones ("Can't support the subtitle"): those it reads as a sub-file.
        let out = Command::new("timeout")
            .arg("30")
            .args(["mpv", "--no-config", "--vo=null", "--ao=null", "--frames=10"])
            .arg(format!(
                "--sub-file=http://{}/media/{id}/subtitles1/index.m3u8",
                server.addr
            ))
            .arg(&master)
            .output()
            .expect("mpv runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("--aid=1 --alang=en"), "mpv lists English:\n{text}");
        assert!(text.contains("--aid=2 --alang=fr"), "mpv lists French:\n{text}");
        assert!(
            text.contains("(webvtt)"),
            "mpv reads the WebVTT playlist:\n{text}"
        );
    } else {
        eprintln!("mpv is absent: its part is skipped");
    }
    if crate::channel::have_vlc() {
        let text = crate::channel::vlc_commands(&master, 3.0, &["atrack", "strack"]);
        let section = |title: &str| -> Vec<String> {
            text.split(&format!("+----[ {title} ]"))
                .nth(1)
                .and_then(|rest| rest.split("+----[ end of").next())
                .map(|body| {
                    body.lines()
                        .filter(|l| l.starts_with("| ") && !l.contains("Disable"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (audio, subs) = (section("Audio Track"), section("Subtitle Track"));
        assert!(
            audio.len() == 2
                && audio.iter().any(|l| l.contains("English"))
                && audio.iter().any(|l| l.contains("French")),
            "VLC's audio tracks: {audio:?}\n{text}"
        );
        assert!(
            subs.len() == 2
                && subs.iter().any(|l| l.contains("English"))
                && subs.iter().any(|l| l.contains("French")),
            "VLC's subtitle tracks: {subs:?}\n{text}"
        );
    } else {
        eprintln!("VLC is absent: its part is skipped");
    }
}

/// Subtitle files with an upload: a SubRip one with a `subtitles_language` field and a
/// WebVTT one whose name says its language become WebVTT renditions after the source's
/// own; a file that is neither is a 400 that names the field.
#[test]
fn uploaded_srt_and_vtt_files_become_subtitle_renditions() {
    let server = Server::new();
    let clip = crate::util::clips::small_clip();
    let srt =
        b"1\n00:00:00,500 --> 00:00:01,500\nHallo <i>Welt</i>\n\n2\n00:00:02,000 --> 00:00:02,800\nZwei\n";
    let vtt = b"WEBVTT\n\n00:00.300 --> 00:01.200\nHola\n";
    let form = crate::util::multipart::Form::new()
        .text("heights", "180")
        .text("segment_seconds", "1")
        .file("subtitles", "film.srt", srt)
        .text("subtitles_language", "ger")
        .file("subtitles", "film.es.vtt", vtt)
        .file("file", "small.mp4", &std::fs::read(&clip).unwrap());
    let res = post_form(&server, form, &[]);
    assert_eq!(res.status, 202, "{}", res.text());
    let id = res.json()["id"].as_str().unwrap().to_string();
    let video = wait_ready(&server, &id);
    assert_eq!(
        fields(&video["subtitles"], &["index", "language", "name", "file"]),
        ["0 de German film.srt", "1 es Spanish film.es.vtt"],
        "{video}"
    );
    // One audio track: muxed, no audio group; the subtitles are in the master.
    assert!(video["audio"][0]["playlist"].is_null(), "{video}");
    let (audio, checked) = judge::check_media_renditions(&server.media.join(&id));
    assert!(audio.is_empty());
    let texts = |k: usize| -> Vec<String> { checked[k].cues.iter().flatten().map(|c| c.2.clone()).collect() };
    // Segments of 1 s: the cues from 0.5 and 0.3 s span the first boundary, so they are in
    // both first segments; SubRip's markup becomes plain text.
    assert_eq!(texts(0), ["Hallo Welt", "Hallo Welt", "Zwei"]);
    assert_eq!(texts(1), ["Hola", "Hola"]);
    let (start, end, _) = &checked[0].cues[0][0];
    assert!(
        (start - 0.5).abs() < 0.002 && (end - 1.5).abs() < 0.002,
        "{start}..{end}"
    );

    // Not a subtitle file: refused, nothing kept.
    let form = crate::util::multipart::Form::new()
        .file("subtitles", "notes.srt", b"these are not subtitles")
        .file("file", "small.mp4", &std::fs::read(&clip).unwrap());
    let res = post_form(&server, form, &[]);
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(res.text().contains("subtitles"), "{}", res.text());
    let form = crate::util::multipart::Form::new()
        .text("subtitles_language", "\"en\"")
        .file("file", "small.mp4", &std::fs::read(&clip).unwrap());
    assert_eq!(post_form(&server, form, &[]).status, 400);
}

/// A 5.1 upload (one track, a pitch per channel) keeps its surround: beside the stereo AAC
/// rendition an AC-3 5.1 one in a group of its own, every variant listed once with each
/// group; a stereo upload's output is as before (muxed, no group).
#[test]
fn a_5_1_upload_gets_an_ac3_rendition_beside_the_stereo_one() {
    let server = Server::new();
    let source = clip_with(
        "http-surround.mp4",
        SampleSpec {
            width: 640,
            height: 360,
            seconds: 5.0,
            audio_channels: 6,
            ..SampleSpec::default()
        },
    );
    let id = upload_ok(
        &server,
        &source,
        &[("heights", "360,180"), ("segment_seconds", "2")],
    );
    let video = wait_ready(&server, &id);
    assert_eq!(video["source"]["audio_tracks"][0]["channels"], 6, "{video}");
    let keys = [
        "index", "codec", "channels", "group", "codecs", "default", "playlist",
    ];
    assert_eq!(
        fields(&video["audio"], &keys),
        [
            "0 aac 2 audio mp4a.40.2 true audio0/index.m3u8",
            "0 ac3 6 audio-surround ac-3 true audio0-surround/index.m3u8"
        ],
        "{video}"
    );
    // The stereo variants are fetched as for any upload.
    crate::util::ladder::check_ladder(&server, &video);
    // Both renditions: AAC stereo and AC-3 5.1, 48 kHz, as many segments as the video
    // and each as long as the video's.
    let (audio, _) = judge::check_media_renditions(&server.media.join(&id));
    let found: Vec<_> = audio
        .iter()
        .map(|a| (a.group.as_str(), a.codec.as_str(), a.channels, a.default))
        .collect();
    assert_eq!(
        found,
        [("audio", "aac", 2, true), ("audio-surround", "ac3", 6, true)]
    );

    // The master, as m3u8-rs reads it: both groups, every variant with each.
    let res = server.get(&format!("/media/{id}/master.m3u8"));
    let Ok(m3u8_rs::Playlist::MasterPlaylist(master)) = m3u8_rs::parse_playlist_res(&res.body) else {
        panic!("not a master playlist: {}", res.text());
    };
    let groups: Vec<_> = master
        .alternatives
        .iter()
        .map(|a| (a.group_id.as_str(), a.channels.as_deref(), a.uri.as_deref()))
        .collect();
    assert_eq!(
        groups,
        [
            ("audio", Some("2"), Some("audio0/index.m3u8")),
            ("audio-surround", Some("6"), Some("audio0-surround/index.m3u8"))
        ]
    );
    let renditions = video["renditions"].as_array().unwrap();
    assert_eq!(master.variants.len(), 2 * renditions.len(), "{}", res.text());
    let (stereo, surround) = master.variants.split_at(renditions.len());
    for ((s, a), r) in stereo.iter().zip(surround).zip(renditions) {
        let video_codecs = r["codecs"].as_str().unwrap().split(',').next().unwrap();
        assert_eq!(s.uri, r["playlist"].as_str().unwrap());
        assert_eq!(a.uri, s.uri);
        assert_eq!(s.audio.as_deref(), Some("audio"));
        assert_eq!(a.audio.as_deref(), Some("audio-surround"));
        assert_eq!(
            s.codecs.as_deref(),
            Some(format!("{video_codecs},mp4a.40.2").as_str())
        );
        assert_eq!(a.codecs.as_deref(), Some(format!("{video_codecs},ac-3").as_str()));
        // BANDWIDTH: the video's plus the largest rendition of the group named.
        let audio_bandwidth = |k: usize| video["audio"][k]["bandwidth"].as_u64().unwrap();
        assert_eq!(
            a.bandwidth - s.bandwidth,
            audio_bandwidth(1) - audio_bandwidth(0),
            "{}",
            res.text()
        );
        assert!(audio_bandwidth(1) > 300_000, "AC-3 at 384 kb/s: {video}");
    }

    // Each surround segment over HTTP: AC-3, 6 channels, 48 kHz.
    let base = format!("/media/{id}/audio0-surround");
    let Ok(m3u8_rs::Playlist::MediaPlaylist(media)) =
        m3u8_rs::parse_playlist_res(&server.get(&format!("{base}/index.m3u8")).body)
    else {
        panic!("not a media playlist");
    };
    let init = server.get(&format!("{base}/init.mp4"));
    assert_eq!(init.status, 200);
    for s in &media.segments {
        let res = server.get(&format!("{base}/{}", s.uri));
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("video/iso.segment"));
        let file = server.dir.join(format!("surround-{}", s.uri));
        std::fs::write(&file, [init.body.as_slice(), &res.body].concat()).unwrap();
        let v = judge::ffprobe(
            &file,
            &["-show_entries", "stream=codec_name,channels,sample_rate"],
        );
        let st = &v["streams"][0];
        assert_eq!(
            (&st["codec_name"], &st["channels"], &st["sample_rate"]),
            (
                &serde_json::json!("ac3"),
                &serde_json::json!(6),
                &serde_json::json!("48000")
            ),
            "{}",
            s.uri
        );
    }

    // A stereo upload: one track muxed into the rungs, no group, as before.
    let id = upload_ok(
        &server,
        &crate::util::clips::small_clip(),
        &[("heights", "180"), ("segment_seconds", "2")],
    );
    let video = wait_ready(&server, &id);
    assert_eq!(
        fields(&video["audio"], &keys),
        ["0 aac 2 audio mp4a.40.2 true null"],
        "{video}"
    );
    let master = server.get(&format!("/media/{id}/master.m3u8")).text();
    assert!(
        !master.contains("EXT-X-MEDIA") && !master.contains("AUDIO=") && !master.contains("ac-3"),
        "{master}"
    );
}

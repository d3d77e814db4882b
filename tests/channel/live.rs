//! `live.m3u8`: judged by m3u8-rs (window, numbers, discontinuities, program date time),
//! ffprobe (timestamps run on across items) and mpv (plays across an item boundary).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use m3u8_rs::{MediaPlaylist, Playlist};

use super::*;
use crate::judge;
use crate::util::clips::have;

fn media_playlist(server: &Server, path: &str) -> MediaPlaylist {
    let res = server.get(path);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/vnd.apple.mpegurl"));
    match m3u8_rs::parse_playlist_res(&res.body).expect("a playlist") {
        Playlist::MediaPlaylist(p) => p,
        Playlist::MasterPlaylist(_) => panic!("{path} is a master playlist"),
    }
}

/// Sequence number and discontinuity number of every segment, by URI.
fn numbers(p: &MediaPlaylist) -> HashMap<String, (u64, u64)> {
    let mut disc = p.discontinuity_sequence;
    p.segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.discontinuity {
                disc += 1;
            }
            (s.uri.clone(), (p.media_sequence + i as u64, disc))
        })
        .collect()
}

#[test]
fn the_live_playlist_slides_and_marks_each_item_boundary() {
    let (server, ids) = channel_server(&[("alpha", 3.0), ("bravo", 3.0)]);
    let master = server.get("/channels/main/live.m3u8");
    assert_eq!(master.status, 200);
    let Playlist::MasterPlaylist(master) = m3u8_rs::parse_playlist_res(&master.body).unwrap() else {
        panic!("live.m3u8 is not a master playlist");
    };
    let uris: Vec<&str> = master.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(uris, ["live/180.m3u8"]);

    let view = channel(&server);
    let p1 = media_playlist(&server, "/channels/main/live/180.m3u8");
    assert!(!p1.end_list, "a live playlist has no end");
    assert!(p1.segments.iter().all(|s| s.program_date_time.is_some()));
    // Three segments ahead of the one playing: with 1 s segments and 3 s items, the next
    // item is always listed, after a discontinuity. Segments are self-contained MPEG-TS:
    // no init segment anywhere.
    // (The window starts at the schedule's start: before bravo joined, alpha looped
    // alone, so the first boundaries may be alpha → alpha.)
    let item_of = |uri: &str| ids.iter().find(|id| uri.contains(id.as_str())).cloned();
    let b = (1..p1.segments.len())
        .find(|&i| {
            p1.segments[i].discontinuity && item_of(&p1.segments[i].uri) != item_of(&p1.segments[i - 1].uri)
        })
        .expect("a boundary between the two items in the window");
    assert!(p1
        .segments
        .iter()
        .all(|s| s.map.is_none() && s.uri.ends_with(".ts")));
    let after = &p1.segments[b];
    // The boundary's wall-clock date is the schedule's.
    let next = &view["next"];
    let date = after.program_date_time.unwrap().timestamp_millis() as u64;
    if item_of(&after.uri).as_deref() == next["video"].as_str() {
        assert_eq!(date, next["started_at_ms"].as_u64().unwrap());
    }

    // Every listed segment is served: MPEG-TS, the same bytes for the same URI.
    let seg = server.get(&format!("/channels/main/live/{}", after.uri));
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert!(seg.body.len() % 188 == 0 && seg.body[0] == 0x47, "not MPEG-TS");
    assert_eq!(
        server.get(&format!("/channels/main/live/{}", after.uri)).body,
        seg.body
    );
    // The fMP4 route of earlier playlists still answers, for players holding one.
    let fmp4 = after.uri.replacen("ts/", "shift/", 1).replace(".ts", ".m4s");
    let old = server.get(&format!("/channels/main/live/{fmp4}"));
    assert_eq!(
        (old.status, old.header("content-type")),
        (200, Some("video/iso.segment")),
        "{fmp4}"
    );
    for hostile in [
        "ts/0/..%2f..%2fetc/passwd.ts",
        "ts/0/x/y/z/w.ts",
        "ts/0/nope/180p/seg00000.ts",
    ] {
        let status = server.get(&format!("/channels/main/live/{hostile}")).status;
        assert!(matches!(status, 400 | 403 | 404), "{hostile}: {status}");
    }

    // After the next boundary, the window has grown at its live edge; its back edge stays
    // at the schedule's start until the channel is older than the window (30 s: it used to
    // start at the current item and then jump back, a media sequence that decreased), so
    // the media sequence holds; no segment changed its numbers. The sliding itself, and
    // RFC 8216's rules at every instant, are the property test's
    // (`channel::live_playlist::tests::rfc8216`).
    let moved_on = next["started_at_ms"].as_u64().unwrap() + 1_200;
    std::thread::sleep(Duration::from_millis(moved_on.saturating_sub(unix_ms())));
    let p2 = media_playlist(&server, "/channels/main/live/180.m3u8");
    assert_eq!(
        p2.media_sequence, p1.media_sequence,
        "a young channel's window starts at its start"
    );
    assert_eq!(p2.segments[0].uri, p1.segments[0].uri);
    assert!(
        p2.segments.len() > p1.segments.len(),
        "the live edge did not move"
    );
    assert!(p2.discontinuity_sequence >= p1.discontinuity_sequence);
    let (n1, n2) = (numbers(&p1), numbers(&p2));
    let common: Vec<_> = n1.keys().filter(|k| n2.contains_key(*k)).collect();
    assert!(!common.is_empty());
    for uri in common {
        assert_eq!(n1[uri], n2[uri], "{uri} was renumbered");
    }

    // ffprobe, reading the live stream itself: video timestamps only go forward, with no
    // gap or jump back where one item hands over to the next.
    if !have("ffprobe") {
        eprintln!("skipping the ffprobe part: no ffprobe");
        return;
    }
    let url = format!("http://{}/channels/main/live/180.m3u8", server.addr);
    let probe = judge::ffprobe(
        Path::new(&url),
        &[
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+4.5",
            "-show_entries",
            "packet=dts_time,duration_time",
        ],
    );
    let packets = probe["packets"].as_array().expect("packets");
    let time = |p: &Value, k: &str| p[k].as_str().unwrap().parse::<f64>().unwrap();
    assert!(packets.len() > 90, "{} packets", packets.len());
    for pair in packets.windows(2) {
        let (a, b) = (time(&pair[0], "dts_time"), time(&pair[1], "dts_time"));
        let step = b - a;
        assert!(
            step > 0.0 && step < 0.1,
            "video dts {a:.3} -> {b:.3}: not continuous across items"
        );
    }
}

/// Regression: an item's audio ran up to ~75 ms past its last video frame, into the next
/// item's slot, so the last segment of an item overlapped the first of the next by that
/// much (`live/ts/...` and the fMP4 `live/shift/...` alike). Each item's audio now ends
/// where its slot does.
#[test]
fn an_items_audio_ends_where_its_slot_ends() {
    if !have("ffprobe") {
        eprintln!("skipping: no ffprobe");
        return;
    }
    let (server, _) = channel_server(&[("alpha", 3.0), ("bravo", 3.0)]);
    let p = media_playlist(&server, "/channels/main/live/180.m3u8");
    let boundaries: Vec<usize> = (1..p.segments.len())
        .filter(|&i| p.segments[i].discontinuity)
        .collect();
    assert!(!boundaries.is_empty(), "no item boundary in the window");
    // (start, end) of each audio packet, in seconds on the channel timeline.
    let audio = |bytes: &[u8], name: &str| -> Vec<(f64, f64)> {
        let path = server.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let probe = judge::ffprobe(
            &path,
            &[
                "-select_streams",
                "a:0",
                "-show_entries",
                "packet=pts_time,duration_time",
            ],
        );
        let time = |p: &Value, k: &str| p[k].as_str().and_then(|t| t.parse::<f64>().ok());
        let packets = probe["packets"].as_array().expect("packets").clone();
        assert!(!packets.is_empty(), "{name} has no audio");
        packets
            .iter()
            .map(|p| {
                let pts = time(p, "pts_time").unwrap_or_else(|| panic!("{name}: a packet without pts"));
                // ffprobe gives the first audio packet of an fMP4 fragment no duration.
                (pts, pts + time(p, "duration_time").unwrap_or(0.0))
            })
            .collect()
    };
    // The item that starts at a boundary starts at the offset its URIs carry.
    let offset_of = |uri: &str| -> f64 { uri.split('/').nth(1).unwrap().parse::<f64>().unwrap() / 1000.0 };
    for b in boundaries {
        let (last, first) = (&p.segments[b - 1].uri, &p.segments[b].uri);
        let slot_end = offset_of(first);
        let get = |uri: &str| server.get(&format!("/channels/main/live/{uri}")).body;
        let before = audio(&get(last), "last.ts");
        let after = audio(&get(first), "first.ts");
        let end = before.iter().map(|a| a.1).fold(f64::MIN, f64::max);
        assert!(
            end <= slot_end + 0.0001,
            "{last}: audio runs {:.1} ms past its slot's end into {first}",
            (end - slot_end) * 1000.0
        );
        assert!(slot_end - end < 0.022, "{last}: more than an AAC frame cut");
        assert!(after[0].0 >= slot_end - 0.0001, "{first} starts before its slot");

        // The fMP4 route of earlier playlists: the same, read with the item's init segment.
        let fmp4 = |uri: &str| uri.replacen("ts/", "shift/", 1).replace(".ts", ".m4s");
        let init_of = |uri: &str| {
            let rung = uri.split('/').skip(2).take(2).collect::<Vec<_>>().join("/");
            server.get(&format!("/media/{rung}/init.mp4")).body
        };
        let segment = [init_of(last), get(&fmp4(last))].concat();
        let before = audio(&segment, "last.mp4");
        let end = before.iter().map(|a| a.1).fold(f64::MIN, f64::max);
        assert!(
            end <= slot_end + 0.0001,
            "{}: audio runs {:.1} ms past its slot's end",
            fmp4(last),
            (end - slot_end) * 1000.0
        );
        // Its video is whole: as many frames as the MPEG-TS segment's.
        let frames = |name: &str| {
            let probe = judge::ffprobe(
                &server.dir.join(name),
                &[
                    "-select_streams",
                    "v:0",
                    "-count_packets",
                    "-show_entries",
                    "stream=nb_read_packets",
                ],
            );
            probe["streams"][0]["nb_read_packets"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(frames("last.mp4"), frames("last.ts"), "{}", fmp4(last));
    }
}

#[test]
fn mpv_plays_the_live_playlist_across_an_item_boundary() {
    if !have("mpv") {
        eprintln!("skipping: mpv is not installed");
        return;
    }
    // Items that differ in picture size (and SPS): mpv keeps the first item's init
    // segment, so it must find each item's parameter sets in band.
    let (server, alpha, bravo, view) = two_sizes_channel();
    let ids = [alpha, bravo];
    let remaining = view["now"]["duration"].as_f64().unwrap() - view["now"]["position"].as_f64().unwrap();
    // mpv joins at the segment playing now; playing this long must cross into the next item.
    let length = remaining + 2.5;
    let log = server.dir.join("mpv.log");
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg("40")
        .args(["mpv", "--no-config", "--vo=null", "--ao=null", "--really-quiet"])
        .arg(format!("--length={length:.1}"))
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("http://{}/channels/main/live.m3u8", server.addr))
        .output()
        .expect("mpv runs");
    let took = started.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = text.lines().rev().take(40).collect::<Vec<_>>().join("\n");
    assert!(
        out.status.success() && text.contains("finished playback, success"),
        "mpv failed ({}): {}\n{tail}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // It played in real time (a live stream), not to a premature end.
    assert!(took.as_secs_f64() > length - 1.0, "mpv stopped after {took:?}");
    // It fetched segments of both items...
    let segments_of = |id: &str| {
        text.lines()
            .filter(|l| l.contains("/live/ts/") && l.contains(&format!("/{id}/")))
            .count()
    };
    for id in &ids {
        assert!(segments_of(id) > 0, "mpv fetched no segment of {id}\n{tail}");
    }
    // ...and its decoders saw no timestamp go back at the boundary.
    for complaint in ["Invalid video timestamp", "Invalid audio PTS", "timestamp reset"] {
        assert!(!text.contains(complaint), "mpv: {complaint}\n{tail}");
    }
    // Both pictures decoded cleanly: the video output took each item's size in turn.
    for complaint in ["error while decoding", "concealing"] {
        assert!(!text.contains(complaint), "mpv: {complaint}\n{tail}");
    }
    for size in ["VO: [null] 320x180", "VO: [null] 640x360"] {
        assert!(text.contains(size), "mpv never showed {size}\n{tail}");
    }
}

/// VLC 3 (Debian's) plays `live.m3u8` across item boundaries. With the fMP4 window it
/// decoded nothing ("no moov before mdat": it took the first item's init segment for a
/// segment of the next); with self-contained MPEG-TS segments it plays with no frame lost.
/// VLC runs with `--no-drop-late-frames`, so that a frame a loaded test machine decodes
/// late is shown late rather than counted as lost: what is counted is what the stream
/// itself loses (a gap, a broken boundary).
#[test]
fn vlc_plays_the_live_playlist_across_item_boundaries() {
    if !have_vlc() {
        assert!(std::env::var_os("CI").is_none(), "cvlc is absent (vlc-bin)");
        eprintln!("skipping: VLC is not installed");
        return;
    }
    let (server, _, _, _) = two_sizes_channel();
    let secs = 14.0;
    let stats = vlc_stats(&format!("http://{}/channels/main/live.m3u8", server.addr), secs);
    let (decoded, displayed, lost) = vlc_counts(&stats);
    assert!(
        displayed as f64 >= 20.0 * (secs - 4.0),
        "VLC displayed {displayed} frames:\n{stats}"
    );
    assert!(decoded >= displayed, "VLC:\n{stats}");
    // About four boundaries in 14 s of 3 s items.
    assert_eq!(lost, 0, "VLC lost frames:\n{stats}");
}

/// Issue 13: an item whose source had two audio tracks has silent video segments and
/// audio renditions of its own; the channel's MPEG-TS segments carry its first track (the
/// audio segment of the same number muxed in), and `stream.ts` too.
#[test]
fn an_item_with_audio_renditions_plays_its_first_track_on_the_channel() {
    let server = Server::new();
    let clip = crate::util::clips::clip_with(
        "channel-two-tracks.mkv",
        reel::engine::sample::SampleSpec {
            width: 320,
            height: 180,
            seconds: 4.0,
            audio_tracks: 2,
            tone_step: 440,
            ..Default::default()
        },
    );
    let id = upload_ok(&server, &clip, &[("heights", "180"), ("segment_seconds", "1")]);
    let video = wait_ready(&server, &id);
    assert!(video["audio"][0]["playlist"].is_string(), "{video}");
    wait_listed(&server, 1);

    let (_dir, file, saved) = item_as_played(&server, &id);
    assert_eq!(judge::audio_streams(&file), 1, "the segments carry audio");
    let hz = judge::pitch(&file);
    assert!(
        (hz - 440.0).abs() < 10.0,
        "the first track (440 Hz) plays: {hz:.1} Hz"
    );

    // stream.ts: the same item as one stream.
    assert_eq!(judge::audio_streams(&saved), 1, "stream.ts carries audio");
    let hz = judge::pitch(&saved);
    assert!(
        (hz - 440.0).abs() < 10.0,
        "stream.ts plays the first track: {hz:.1} Hz"
    );
}

/// An item whose source had a 5.1 track (a stereo AAC rendition and an AC-3 5.1 one): the
/// channel's MPEG-TS segments and `stream.ts` carry the stereo AAC one, never the AC-3.
#[test]
fn an_item_with_a_surround_rendition_plays_its_stereo_one_on_the_channel() {
    let server = Server::new();
    let clip = crate::util::clips::clip_with(
        "channel-surround.mp4",
        reel::engine::sample::SampleSpec {
            width: 320,
            height: 180,
            seconds: 4.0,
            audio_channels: 6,
            ..Default::default()
        },
    );
    let id = upload_ok(&server, &clip, &[("heights", "180"), ("segment_seconds", "1")]);
    let video = wait_ready(&server, &id);
    assert_eq!(video["audio"][1]["codec"], "ac3", "{video}");
    wait_listed(&server, 1);
    let audio_of = |file: &std::path::Path| {
        let v = judge::ffprobe(
            file,
            &[
                "-select_streams",
                "a",
                "-show_entries",
                "stream=codec_name,channels",
            ],
        );
        let streams = v["streams"].as_array().unwrap().clone();
        assert_eq!(streams.len(), 1, "one audio stream: {v}");
        (
            streams[0]["codec_name"].as_str().unwrap().to_string(),
            streams[0]["channels"].as_u64().unwrap(),
        )
    };

    let (_dir, file, saved) = item_as_played(&server, &id);
    assert_eq!(audio_of(&file), ("aac".to_string(), 2));
    assert_eq!(audio_of(&saved), ("aac".to_string(), 2));
}

/// What the channel plays of item `id` (the only one): its first three `live.m3u8`
/// segments (180p) joined into one file, and 3 s of `stream.ts` (curl stops it); the
/// temp dir that holds both.
fn item_as_played(server: &Server, id: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let p = media_playlist(server, "/channels/main/live/180.m3u8");
    let mut joined = Vec::new();
    for s in p.segments.iter().filter(|s| s.uri.contains(id)).take(3) {
        let res = server.get(&format!("/channels/main/live/{}", s.uri));
        assert_eq!(res.status, 200, "{}", s.uri);
        joined.extend(res.body);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("joined.ts");
    std::fs::write(&file, &joined).unwrap();
    let saved = dir.path().join("stream.ts");
    let curl = Command::new("curl")
        .args(["-s", "--max-time", "3", "-o"])
        .arg(&saved)
        .arg(format!("http://{}/channels/main/stream.ts", server.addr))
        .status()
        .unwrap();
    assert!(matches!(curl.code(), Some(0) | Some(28)), "curl: {curl}");
    (dir, file, saved)
}

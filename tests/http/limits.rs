//! Hostile media (issue 9): limits on what a source may demand of the server, checked
//! through a real `reel serve` with clips the engine makes (black pictures keep hostile
//! sizes tiny and fast to make). Memory is the server process's own, read from /proc.

use std::time::{Duration, Instant};

use crate::judge;
use crate::util::clips::{clip, clip_with};
use crate::util::*;
use reel::engine::sample::SampleSpec;

const MB: u64 = 1 << 20;

fn black(name: &str, width: u32, height: u32, seconds: f64, fps: u32) -> std::path::PathBuf {
    clip_with(
        name,
        SampleSpec {
            width,
            height,
            seconds,
            fps,
            black: true,
            ..SampleSpec::default()
        },
    )
}

/// How much the server's peak RSS grew since `peak_before` (printed for the record).
fn peak_growth(server: &Server, peak_before: u64, what: &str) -> u64 {
    let (_, peak) = server.memory();
    eprintln!(
        "{what}: peak RSS {} MB before, {} MB after",
        peak_before / MB,
        peak / MB
    );
    peak - peak_before
}

/// A 200 KB H.264 file of 3 s of black at 8192x8192 took reel's RSS to 9 GB.
#[test]
fn an_8192x8192_upload_is_refused_at_once_for_little_memory() {
    let file = black("black-8192x8192.mp4", 8192, 8192, 3.0, 2);
    assert!(std::fs::metadata(&file).unwrap().len() < 400_000);
    let server = Server::new();
    let (_, peak_before) = server.memory();
    let asked = Instant::now();
    let res = upload(&server, &file, &[]);
    let body = assert_error(&server, &res, 415, "source_too_large");
    assert!(asked.elapsed() < Duration::from_secs(10), "{:?}", asked.elapsed());
    let sentence = body["error"].as_str().unwrap();
    assert!(sentence.contains("8192x8192"), "{sentence}");
    let growth = peak_growth(&server, peak_before, "8192x8192 refusal");
    assert!(growth < 100 * MB, "{} MB", growth / MB);
    assert_nothing_kept(&server);
}

/// The largest picture allowed by default becomes a ladder topped by 2160 (never 4320),
/// and its transcode stays within 2 GB, peak, for the whole server process.
#[test]
fn an_8192x4320_upload_gets_a_2160_top_rung_within_2_gb() {
    let file = black("black-8192x4320.mp4", 8192, 4320, 2.0, 15);
    let server = Server::new();
    let id = upload_ok(&server, &file, &[]);
    let video = wait_for("the 8K video to be ready", READY_TIMEOUT, || {
        let (_, peak) = server.memory();
        assert!(peak < 2048 * MB, "peak RSS {} MB", peak / MB);
        let v = video(&server, &id);
        match v["status"].as_str() {
            Some("ready") => Some(v),
            Some("failed") => panic!("the video failed: {}", v["error"]),
            _ => None,
        }
    });
    let (_, peak) = server.memory();
    eprintln!("8192x4320 transcode: peak RSS {} MB", peak / MB);
    assert!(peak < 2048 * MB, "peak RSS {} MB", peak / MB);
    let heights: Vec<_> = video["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, vec![2160, 1080, 720, 480, 360, 240]);
    assert_eq!(video["renditions"][0]["width"], 4096);
    assert_eq!(video["source"]["width"], 8192);
    check_ladder(&server, &video);
}

/// A 64x64 file at 1000 fps got a 1000 fps rung no device decodes: it now plays at 60
/// fps, frames dropped and the duration kept.
#[test]
fn a_1000_fps_source_plays_at_60_fps_for_as_long() {
    let file = clip_with(
        "fast-1000fps.mp4",
        SampleSpec {
            width: 64,
            height: 64,
            seconds: 2.0,
            fps: 1000,
            ..SampleSpec::default()
        },
    );
    let server = Server::new();
    let id = upload_ok(&server, &file, &[]);
    let video = wait_ready(&server, &id);
    let rendition = &video["renditions"][0];
    assert_eq!(rendition["frame_rate"], 60.0, "{rendition}");
    let master = server.get(video["links"]["master"].as_str().unwrap()).text();
    assert!(master.contains("FRAME-RATE=60"), "{master}");
    check_ladder(&server, &video);

    // The rung as a player gets it: init segment and media segments, end to end.
    let dir = server.media.join(&id);
    let mut bytes = std::fs::read(dir.join(rendition["init"].as_str().unwrap())).unwrap();
    for s in rendition["segments"].as_array().unwrap() {
        bytes.extend(std::fs::read(dir.join(s["uri"].as_str().unwrap())).unwrap());
    }
    let joined = server.dir.join("rung.mp4");
    std::fs::write(&joined, bytes).unwrap();
    let v = judge::ffprobe(
        &joined,
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,r_frame_rate:format=duration",
        ],
    );
    let frames: f64 = v["streams"][0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let duration: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    eprintln!("1000 fps source: {frames} frames over {duration} s, {v}");
    assert_eq!(v["streams"][0]["r_frame_rate"], "60/1", "{v}");
    assert!((duration - 2.0).abs() < 0.1, "slowed or cut: {duration} s");
    assert!((frames / 2.0 - 60.0).abs() <= 1.0, "{frames} frames in 2 s");
    assert!(
        (video["duration"].as_f64().unwrap() - 2.0).abs() < 0.1,
        "{}",
        video["duration"]
    );
}

#[test]
fn max_duration_seconds_refuses_a_longer_source() {
    let server = Server::start(Options::args(&["--max-duration-seconds", "2"]));
    let res = upload(&server, &clip("three-seconds.mp4", 160, 90, 3.0), &[]);
    let body = assert_error(&server, &res, 413, "source_too_long");
    assert!(
        body["error"].as_str().unwrap().contains("over the limit of 2 s"),
        "{body}"
    );
    assert_nothing_kept(&server);
    let res = upload(&server, &clip("one-second.mp4", 160, 90, 1.0), &[]);
    assert_eq!(res.status, 202, "{}", res.text());
}

/// A stream may declare a small picture and grow mid-way (a second SPS): 286 KB of
/// MPEG-TS, 160x90 then 8192x4320, took 450 MB to transcode. Its pictures larger than what
/// the transcode was sized for (the probe's, or 1080p) are not decoded.
#[test]
fn a_stream_that_grows_mid_way_cannot_outgrow_its_probe() {
    let small = std::fs::read(clip("grow-small.ts", 160, 90, 2.0)).unwrap();
    let big = std::fs::read(black("grow-big.ts", 8192, 4320, 1.0, 10)).unwrap();
    let server = Server::new();
    let grown = server.dir.join("grown.ts");
    std::fs::write(&grown, [small, big].concat()).unwrap();
    let (_, peak_before) = server.memory();
    let id = upload_ok(&server, &grown, &[]);
    let video = wait_ready(&server, &id);
    assert_eq!(video["source"]["width"], 160);
    let growth = peak_growth(&server, peak_before, "160x90 growing to 8192x4320");
    assert!(growth < 200 * MB, "{} MB", growth / MB);
}

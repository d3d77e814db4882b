//! Uploads, from the 202 to a ladder a player can use, and the life of a video after it:
//! events, listing, deletion, the queue's limit.

use std::time::Duration;

use m3u8_rs::{MediaPlaylistType, Playlist};

use crate::util::client::EventStream;
use crate::util::clips::{clip, clip_with, small_clip};
use crate::util::*;

/// A clip long enough that its transcode is still running when the test looks.
fn long_clip() -> std::path::PathBuf {
    clip("long.mp4", 1280, 720, 10.0)
}

#[test]
fn an_upload_becomes_a_ladder_whose_every_playlist_and_segment_checks_out() {
    let server = Server::new();
    let res = upload(
        &server,
        &small_clip(),
        &[("heights", "180"), ("segment_seconds", "1")],
    );
    assert_eq!(res.status, 202, "{}", res.text());
    let accepted = res.json();
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(res.header("location"), Some(format!("/api/videos/{id}").as_str()));
    assert!(matches!(
        accepted["status"].as_str(),
        Some("queued" | "processing")
    ));
    assert_eq!(accepted["title"], "small");
    assert_eq!(accepted["source"]["video"]["width"], 320);
    assert_eq!(accepted["links"]["master"], format!("/media/{id}/master.m3u8"));
    assert_eq!(accepted["links"]["events"], format!("/api/videos/{id}/events"));

    // Events: progress (maybe none, if the job was quick), then one ready, then the end.
    let events = EventStream::open(server.addr, &format!("/api/videos/{id}/events"));
    assert_eq!(events.status, 200);
    let events = events.collect();
    let (last, earlier) = events.split_last().expect("at least the closing event");
    assert_eq!(last.name, "ready", "{events:?}");
    assert!(earlier.iter().all(|e| e.name == "progress"), "{events:?}");
    assert_eq!(last.data["status"], "ready");

    let video = wait_ready(&server, &id);
    assert_eq!(video["progress"], 1.0);
    assert!(
        (video["duration"].as_f64().unwrap() - 3.0).abs() < 0.2,
        "{}",
        video["duration"]
    );
    assert_eq!(video["segment_seconds"], 1.0);
    assert_eq!(video["renditions"][0]["height"], 180);
    assert!(check_ladder(&server, &video) >= 3);

    let manifest = server.get(video["links"]["manifest"].as_str().unwrap());
    assert_eq!(manifest.header("content-type"), Some("application/json"));
    assert_eq!(manifest.json(), video, "manifest.json is the video object");
    let poster = server.get(video["links"]["poster"].as_str().unwrap());
    assert_eq!(poster.status, 200);
    assert_eq!(poster.header("content-type"), Some("image/jpeg"));
    assert!(poster.body.starts_with(&[0xFF, 0xD8]), "a JPEG");
    // Seek previews: the thumbnails track, and sprites a CDN may keep for ever.
    assert_eq!(
        video["links"]["storyboard"],
        format!("/media/{id}/storyboard.vtt")
    );
    let track = server.get(video["links"]["storyboard"].as_str().unwrap());
    assert_eq!(track.status, 200);
    assert_eq!(track.header("content-type"), Some("text/vtt; charset=utf-8"));
    let cues = crate::judge::parse_thumbnails_vtt(&track.text());
    assert_eq!(cues.len(), 2, "a 3 s video, a tile every 2 s");
    let sprite = server.get(&format!("/media/{id}/{}", cues[0].sprite));
    assert_eq!(sprite.header("content-type"), Some("image/jpeg"));
    assert_eq!(
        sprite.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // Nothing left behind but the video's own tree.
    assert_eq!(uploads_in_flight(&server), 0);
    assert_eq!(count_entries(&server.media.join(".jobs")), 0);
}

/// Issue 9: `source.width`, `source.height` and `source.codec` were missing from the top
/// of `source`, where API.md puts them (they sat only under `source.video`).
#[test]
fn the_source_says_its_shown_size_and_codec_at_the_top() {
    let portrait = clip_with(
        "turned.mp4",
        reel::engine::sample::SampleSpec {
            width: 320,
            height: 180,
            seconds: 1.0,
            rotation: 90,
            ..Default::default()
        },
    );
    let mut server = Server::new();
    let check = |source: &serde_json::Value| {
        assert_eq!(source["width"], 180, "rotation applied: {source}");
        assert_eq!(source["height"], 320, "{source}");
        assert_eq!(source["codec"], "h264", "{source}");
        assert_eq!(source["video"]["width"], 320, "the details stay: {source}");
        assert_eq!(source["video"]["rotation"], 90, "{source}");
    };
    let res = upload(&server, &portrait, &[("heights", "180")]);
    assert_eq!(res.status, 202, "{}", res.text());
    check(&res.json()["source"]);
    let id = res.json()["id"].as_str().unwrap().to_string();
    check(&wait_ready(&server, &id)["source"]);
    check(&server.get("/api/videos").json()["videos"][0]["source"]);

    // A manifest written before the summary existed gets it when read back.
    let manifest = server.media.join(&id).join("manifest.json");
    let mut old: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for key in ["width", "height", "codec"] {
        old["source"].as_object_mut().unwrap().remove(key);
    }
    std::fs::write(&manifest, serde_json::to_vec(&old).unwrap()).unwrap();
    server.restart();
    check(&video(&server, &id)["source"]);
}

#[test]
fn transport_stream_segments_each_start_with_a_keyframe() {
    let server = Server::new();
    let id = upload_ok(
        &server,
        &small_clip(),
        &[("heights", "180"), ("segment_seconds", "1"), ("format", "ts")],
    );
    let video = wait_ready(&server, &id);
    assert_eq!(video["format"], "ts");
    assert!(check_ladder(&server, &video) >= 3);
}

#[test]
fn fields_may_come_after_the_file() {
    let server = Server::new();
    let bytes = std::fs::read(small_clip()).unwrap();
    let form = Form::new()
        .file("file", "after.mp4", &bytes)
        .text("heights", "180")
        .text("segment_seconds", "2")
        .text("format", "ts")
        .text("title", "Fields last");
    let res = post_form(&server, form, &[]);
    assert_eq!(res.status, 202, "{}", res.text());
    let v = res.json();
    assert_eq!(v["segment_seconds"], 2.0);
    assert_eq!(v["format"], "ts");
    assert_eq!(v["title"], "Fields last");
    let v = wait_ready(&server, v["id"].as_str().unwrap());
    let heights: Vec<u64> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, [180]);
}

#[test]
fn the_first_segments_play_while_the_rest_is_still_transcoding() {
    let server = Server::new();
    let id = upload_ok(
        &server,
        &long_clip(),
        &[("heights", "720,360"), ("segment_seconds", "1")],
    );
    let playlist = format!("/media/{id}/360p/index.m3u8");
    let seen_early = wait_for("a segment served while processing", READY_TIMEOUT, || {
        let status = video(&server, &id)["status"].as_str().unwrap().to_string();
        assert_ne!(status, "failed");
        if status == "ready" {
            return Some(false);
        }
        // The master appears once every rung lists a segment (tests/http/progressive.rs).
        let master = server.get(&format!("/media/{id}/master.m3u8"));
        if master.status != 200 || status != "processing" {
            return None;
        }
        let res = server.get(&playlist);
        assert_eq!(res.status, 200);
        let Ok(Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&res.body) else {
            panic!("{}", res.text());
        };
        let first = p
            .segments
            .first()
            .expect("a segment in every playlist the master names");
        if p.end_list {
            return Some(false); // finished between the two requests
        }
        assert_eq!(p.playlist_type, Some(MediaPlaylistType::Event));
        assert_eq!(res.header("cache-control"), Some("no-cache"));
        let init = server.get(&format!("/media/{id}/360p/init.mp4"));
        assert_eq!(init.status, 200);
        let seg = server.get(&format!("/media/{id}/360p/{}", first.uri));
        assert_eq!(seg.status, 200);
        assert!(!seg.body.is_empty());
        Some(true)
    });
    assert!(
        seen_early,
        "the job finished before any segment could be seen processing"
    );
    let video = wait_ready(&server, &id);
    check_ladder(&server, &video);
}

#[test]
fn the_list_is_newest_first_and_delete_removes_every_file() {
    let server = Server::new();
    let first = upload_ok(&server, &small_clip(), &[("heights", "180"), ("title", "first")]);
    std::thread::sleep(Duration::from_millis(5));
    let second = upload_ok(&server, &small_clip(), &[("heights", "180"), ("title", "second")]);
    let list = server.get("/api/videos").json();
    let ids: Vec<&str> = list["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    wait_ready(&server, &first);

    let res = server.request("DELETE", &format!("/api/videos/{first}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    assert!(
        !server.media.join(&first).exists(),
        "files are gone when 204 is sent"
    );
    assert_error(
        &server,
        &server.get(&format!("/api/videos/{first}")),
        404,
        "not_found",
    );
    assert_error(
        &server,
        &server.get(&format!("/media/{first}/master.m3u8")),
        404,
        "not_found",
    );
    let again = server.request("DELETE", &format!("/api/videos/{first}"), &[], b"");
    assert_error(&server, &again, 404, "not_found");
    let list = server.get("/api/videos").json();
    assert_eq!(list["videos"].as_array().unwrap().len(), 1);
}

#[test]
fn deleting_a_video_while_it_transcodes_stops_the_job_and_leaves_nothing() {
    let server = Server::new();
    let id = upload_ok(
        &server,
        &long_clip(),
        &[("heights", "720,360"), ("segment_seconds", "1")],
    );
    wait_for("the job to write segments", READY_TIMEOUT, || {
        let v = video(&server, &id);
        assert_ne!(v["status"], "ready", "the job ended too soon for this test");
        (v["renditions"][0]["segments"]
            .as_array()
            .is_some_and(|s| !s.is_empty()))
        .then_some(())
    });
    let mut events = EventStream::open(server.addr, &format!("/api/videos/{id}/events"));
    assert_eq!(events.next_event().unwrap().name, "progress");

    let res = server.request("DELETE", &format!("/api/videos/{id}"), &[], b"");
    assert_eq!(res.status, 204);
    assert!(!server.media.join(&id).exists());
    assert!(!server.media.join(".jobs").join(&id).exists());
    let rest = events.collect();
    let last = rest.last().expect("a closing event");
    assert_eq!(last.name, "failed");
    assert_eq!(last.data["error"], "the video was deleted");
    // The cancelled job must not write anything afterwards.
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !server.media.join(&id).exists(),
        "the cancelled job wrote files after the delete"
    );
    assert_eq!(server.get("/api/videos").json()["videos"], serde_json::json!([]));
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_keeps_nothing() {
    let server = Server::start(Options::args(&["--workers", "1", "--queue", "1"]));
    let running = upload_ok(&server, &long_clip(), &[("heights", "720,360")]);
    wait_for("the first job to start", READY_TIMEOUT, || {
        (video(&server, &running)["status"] == "processing").then_some(())
    });
    let waiting = upload_ok(&server, &small_clip(), &[("heights", "180")]);
    assert_eq!(video(&server, &waiting)["status"], "queued");
    let res = upload(&server, &small_clip(), &[("heights", "180")]);
    if video(&server, &running)["status"] == "processing" {
        let body = assert_error(&server, &res, 503, "queue_full");
        assert!(body["error"].as_str().unwrap().contains("queue"));
        assert!(res
            .header("retry-after")
            .is_some_and(|s| s.parse::<u32>().is_ok()));
        assert_eq!(
            server.get("/api/videos").json()["videos"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(count_entries(&server.media.join(".jobs")), 2);
        assert_eq!(uploads_in_flight(&server), 0);
    }
    wait_ready(&server, &waiting);
}

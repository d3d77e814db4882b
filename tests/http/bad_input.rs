//! Every way an upload can be wrong gets its status and a JSON error that names no server
//! path, and leaves nothing behind: no temp file, no video.

use std::io::Write;
use std::time::Duration;

use crate::util::client;
use crate::util::clips::{clip, small_clip};
use crate::util::*;

#[test]
fn an_upload_without_a_file_is_400() {
    let server = Server::new();
    let res = post_form(&server, Form::new().text("heights", "180"), &[]);
    assert_error(&server, &res, 400, "missing_file");
    let res = post_form(&server, Form::new(), &[]);
    assert_error(&server, &res, 400, "missing_file");
    let res = post_form(
        &server,
        Form::new().file("video", "clip.mp4", b"not under the right name"),
        &[],
    );
    assert_error(&server, &res, 400, "missing_file");
    let res = post_form(&server, Form::new().file("file", "empty.mp4", b""), &[]);
    assert_error(&server, &res, 400, "invalid_field");
    assert_nothing_kept(&server);
}

#[test]
fn a_bad_field_is_400_naming_the_field_and_why() {
    let server = Server::new();
    let bytes = std::fs::read(small_clip()).unwrap();
    let cases = [
        ("heights", "abc"),
        ("heights", "720,x"),
        ("heights", "8"),
        ("heights", ""),
        ("segment_seconds", "0"),
        ("segment_seconds", "31"),
        ("segment_seconds", "four"),
        ("segment_seconds", "inf"),
        ("format", "mkv"),
    ];
    for (field, value) in cases {
        for file_first in [false, true] {
            let form = if file_first {
                Form::new().file("file", "clip.mp4", &bytes).text(field, value)
            } else {
                Form::new().text(field, value).file("file", "clip.mp4", &bytes)
            };
            let res = post_form(&server, form, &[]);
            let body = assert_error(&server, &res, 400, "invalid_field");
            let sentence = body["error"].as_str().unwrap();
            assert!(sentence.contains(field), "{field}={value:?}: {sentence}");
        }
    }
    assert_nothing_kept(&server);
}

#[test]
fn a_body_that_is_not_multipart_is_415() {
    let server = Server::new();
    for content_type in [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "video/mp4",
    ] {
        let res = server.request(
            "POST",
            "/api/videos",
            &[("Content-Type", content_type)],
            b"{\"file\": 1}",
        );
        assert_error(&server, &res, 415, "not_multipart");
    }
    let res = server.request("POST", "/api/videos", &[], b"raw bytes");
    assert_error(&server, &res, 415, "not_multipart");
    assert_nothing_kept(&server);
}

#[test]
fn content_that_is_not_a_video_is_415_whatever_its_name() {
    let server = Server::new();
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cases: [(&str, &[u8]); 4] = [
        ("clip.mp4", &noise),
        ("film.mkv", b"hello, I am a text file and not a film at all\n"),
        ("movie.mov", &[0u8; 4096]),
        ("song.mp4", b"ID3\x03\x00\x00\x00\x00\x00\x00"),
    ];
    for (name, bytes) in cases {
        let res = post_form(&server, Form::new().file("file", name, bytes), &[]);
        assert_error(&server, &res, 415, "not_a_video");
    }
    assert_nothing_kept(&server);
}

#[test]
fn an_upload_over_the_limit_is_413_and_leaves_nothing() {
    let server = Server::start(Options::args(&["--max-upload-bytes", "100000"]));
    let clip = small_clip();
    assert!(std::fs::metadata(&clip).unwrap().len() > 150_000);
    // Judged by Content-Length before any byte is read...
    let res = upload(&server, &clip, &[]);
    let body = assert_error(&server, &res, 413, "too_large");
    assert!(body["error"].as_str().unwrap().contains("100000"));
    // ...and by counting, when the body is chunked and its size unknown.
    let (content_type, bytes) = Form::new()
        .file("file", "clip.mp4", &std::fs::read(&clip).unwrap())
        .finish();
    let mut stream = client::connect(server.addr);
    client::write_head(
        &mut stream,
        "POST",
        "/api/videos",
        &[("Content-Type", &content_type), ("Transfer-Encoding", "chunked")],
        None,
    );
    for chunk in bytes.chunks(16 * 1024) {
        if write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|()| stream.write_all(chunk))
            .and_then(|()| stream.write_all(b"\r\n"))
            .is_err()
        {
            break; // the server answered and closed early: fine
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let res = client::read_response(&mut std::io::BufReader::new(stream), false);
    assert_error(&server, &res, 413, "too_large");
    assert_nothing_kept(&server);
}

#[test]
fn a_truncated_mp4_is_refused_and_a_truncated_ts_describes_what_decodes() {
    let server = Server::new();
    let mp4 = std::fs::read(small_clip()).unwrap();
    let res = post_form(
        &server,
        Form::new().file("file", "half.mp4", &mp4[..mp4.len() / 2]),
        &[],
    );
    assert_error(&server, &res, 415, "not_a_video");

    let full_seconds = 4.0;
    let ts = std::fs::read(clip("small.ts", 320, 180, full_seconds)).unwrap();
    let res = post_form(
        &server,
        Form::new()
            .text("heights", "180")
            .text("segment_seconds", "1")
            .file("file", "half.ts", &ts[..ts.len() / 2]),
        &[],
    );
    if res.status == 415 {
        return; // refusing is allowed too
    }
    assert_eq!(res.status, 202, "{}", res.text());
    let video = wait_finished(&server, res.json()["id"].as_str().unwrap());
    match video["status"].as_str().unwrap() {
        "ready" => {
            let duration = video["duration"].as_f64().unwrap();
            assert!(duration > 0.5 && duration < full_seconds - 0.5, "{duration}");
            let listed: f64 = video["renditions"][0]["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["duration"].as_f64().unwrap())
                .sum();
            assert!(
                (listed - duration).abs() < 0.05,
                "segments {listed}s vs duration {duration}s"
            );
            check_ladder(&server, &video);
        }
        _ => assert!(video["error"].as_str().is_some_and(|e| !e.is_empty())),
    }
}

#[test]
fn a_client_hanging_up_mid_upload_leaves_nothing() {
    let server = Server::new();
    let form = Form::new();
    let head = form.file_head("file", "clip.mp4");
    let mut stream = client::connect(server.addr);
    client::write_head(
        &mut stream,
        "POST",
        "/api/videos",
        &[("Content-Type", &form.content_type())],
        Some(50_000_000),
    );
    stream.write_all(head.as_bytes()).unwrap();
    let block = vec![7u8; 256 * 1024];
    for _ in 0..12 {
        stream.write_all(&block).unwrap();
    }
    wait_for("the upload to reach the disk", Duration::from_secs(10), || {
        (uploads_in_flight(&server) == 1).then_some(())
    });
    drop(stream);
    assert_nothing_kept(&server);
}

#[test]
fn a_large_upload_streams_to_disk_in_flat_memory() {
    let server = Server::new();
    // Warm up the same path (thread pools, buffers, allocator arenas) with a small
    // upload that is refused the same way; no transcode, whose peak would hide ours.
    let res = post_form(
        &server,
        Form::new().file("file", "warm.mp4", &vec![0u8; 4 << 20]),
        &[],
    );
    assert_eq!(res.status, 415);
    let (_, peak_before) = server.memory();

    let form = Form::new();
    let head = form.file_head("file", "big.mp4");
    let tail = form.tail();
    let size: u64 = 256 << 20;
    let mut stream = client::connect(server.addr);
    let length = head.len() as u64 + size + tail.len() as u64;
    client::write_head(
        &mut stream,
        "POST",
        "/api/videos",
        &[("Content-Type", &form.content_type())],
        Some(length),
    );
    stream.write_all(head.as_bytes()).unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        stream.write_all(&block).unwrap();
    }
    stream.write_all(tail.as_bytes()).unwrap();
    let res = client::read_response(&mut std::io::BufReader::new(stream), false);
    assert_error(&server, &res, 415, "not_a_video");
    let (_, peak_after) = server.memory();
    let growth = peak_after.saturating_sub(peak_before);
    eprintln!(
        "peak RSS {} KiB before, {} KiB after a 256 MiB upload",
        peak_before >> 10,
        peak_after >> 10
    );
    assert!(
        growth < 16 << 20,
        "a 256 MiB upload grew the server's peak RSS by {} KiB",
        growth >> 10
    );
    assert_eq!(uploads_in_flight(&server), 0);
}

//! Live sessions across instances (`--redis`): a session created through A is seen and
//! controlled through B, a pause through B stops the stream A produces, a seek through B
//! ends it, a stream asked of B is produced by B, and Redis going away leaves a flowing
//! stream flowing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::judge;
use crate::live::{library_clip, position, post, StreamClient};
use crate::util::redis::RedisServer;
use crate::util::*;

/// Two instances on one folder store, one Redis and the same library folder.
fn pair_with_library(redis: &RedisServer, library: &std::path::Path) -> super::Pair {
    super::pair_with(redis, &["--library", &library.to_string_lossy()])
}

fn status(server: &Server, id: &str) -> Value {
    let res = server.get(&format!("/api/sessions/{id}/status"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

fn act(server: &Server, id: &str, action: &str, body: Value) -> Value {
    let (code, session) = post(server, &format!("/api/sessions/{id}/{action}"), body);
    assert_eq!(code, 200, "{action}: {session}");
    session
}

/// Reads `stream` until it has gone `quiet` with no byte, at most `within`; returns how
/// long that took.
fn read_until_quiet(stream: &mut StreamClient, quiet: Duration, within: Duration) -> Duration {
    let started = Instant::now();
    let mut last_growth = Instant::now();
    while last_growth.elapsed() < quiet {
        assert!(
            started.elapsed() < within,
            "the stream still delivers after {within:?} ({} bytes)",
            stream.body.len()
        );
        if stream.read_for(Duration::from_millis(100)) > 0 {
            last_growth = Instant::now();
        }
    }
    started.elapsed()
}

#[test]
fn a_session_is_controlled_through_any_instance_and_its_stream_follows() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let clip = library_clip("cluster-session.mp4", 640, 360, 40.0, 1);
    let super::Pair { a, b, _store } = pair_with_library(&redis, clip.parent().unwrap());
    let name = clip.file_name().unwrap().to_string_lossy().into_owned();
    let (code, created) = post(&a, "/api/sessions", json!({"library": name, "height": 360}));
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    // B knows it at once, as A created it.
    let seen = status(&b, &id);
    assert_eq!(seen["library"], name.as_str());
    assert_eq!(
        (seen["paused"].clone(), seen["streaming"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(seen["duration"], created["duration"]);

    // A produces the stream; B sees it streaming and agrees on the position.
    let mut stream = StreamClient::open(a.addr, &format!("/api/sessions/{id}/stream"), None);
    assert_eq!(stream.status, 200);
    assert!(stream.read_until(Duration::from_secs(20), |c| c.fragments() >= 1));
    let mut agreed = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !agreed {
        stream.read_for(Duration::from_millis(200));
        let (sa, sb) = (status(&a, &id), status(&b, &id));
        let moment = |s: &Value| s["server_time_ms"].as_f64().unwrap() / 1000.0;
        let drift = position(&sb) - position(&sa) - (moment(&sb) - moment(&sa));
        agreed = sb["streaming"] == true && position(&sa) > 0.0 && drift.abs() < 0.05;
    }
    assert!(agreed, "B never agreed with A on a running stream");

    // A pause through B reaches A with no request to A: its clock stops and production
    // stops (the client reads all along, so only the pace can hold it back), where
    // without the pause it would go on at one second of media a second.
    let paused = act(&b, &id, "pause", json!({}));
    assert_eq!(paused["paused"], true);
    let frozen = position(&paused);
    let drained = read_until_quiet(&mut stream, Duration::from_millis(1500), Duration::from_secs(20));
    let before = stream.body.len();
    let reported = status(&b, &id)["stream_bytes"].clone();
    stream.read_for(Duration::from_secs(3));
    assert_eq!(stream.body.len(), before, "A's stream delivered while paused");
    let held = status(&b, &id);
    assert_eq!(
        held["stream_bytes"], reported,
        "A's production stopped (its beat says)"
    );
    assert_eq!(held["streaming"], true, "the connection stays open");
    let on_a = status(&a, &id);
    assert_eq!(on_a["paused"], true);
    assert!((position(&on_a) - frozen).abs() < 1e-6, "{on_a}");
    let dir = tempfile::tempdir().unwrap();
    let media = judge::video_packets(&stream.save(&dir.path().join("paused.mp4")));
    let last = media.last().unwrap().pts;
    assert!(
        last <= frozen + 10.0 + 1.5,
        "media up to {last:.2} s handed over while paused at {frozen:.2} (10 s lead)"
    );
    eprintln!("paused at {frozen:.2} s: quiet after {drained:?}, media handed over up to {last:.2} s");

    // Resume through B: the same connection on A delivers again.
    assert_eq!(act(&b, &id, "resume", json!({}))["paused"], false);
    assert!(
        stream.read_until(Duration::from_secs(15), |c| c.body.len() > before + 50_000),
        "A's stream did not deliver after a resume through B"
    );

    // A seek through B ends A's stream; the next stream, asked of B, is produced by B
    // from there.
    assert_eq!(position(&act(&b, &id, "seek", json!({"position": 24.0}))), 24.0);
    let ended = Instant::now();
    stream.read_to_end(Duration::from_secs(5));
    eprintln!("a seek through B ended A's stream within {:?}", ended.elapsed());
    let mut from_b = StreamClient::open(b.addr, &format!("/api/sessions/{id}/stream"), None);
    assert_eq!(from_b.status, 200);
    assert!(from_b.read_until(Duration::from_secs(20), |c| c.fragments() >= 2));
    let first = judge::video_packets(&from_b.save(&dir.path().join("seeked.mp4")))[0];
    assert!((first.pts - 24.0).abs() < 1.0 && first.key, "{first:?}");
    wait_for("A to see B streaming", Duration::from_secs(5), || {
        let s = status(&a, &id);
        (s["streaming"] == true && s["stream_bytes"].as_u64() > Some(0)).then_some(())
    });

    // Redis goes away: B's stream flows on; controls and status answer 503 with a reason.
    redis.stop();
    assert!(
        from_b.read_for(Duration::from_secs(2)) > 0 || from_b.ended,
        "B's stream stopped with Redis"
    );
    let refused = a.get(&format!("/api/sessions/{id}/status"));
    let body = assert_error(&a, &refused, 503, "shared_state_unavailable");
    assert!(refused.header("retry-after").is_some(), "{body}");
    redis.restart();
    wait_for("status through A again", Duration::from_secs(15), || {
        (a.get(&format!("/api/sessions/{id}/status")).status == 200).then_some(())
    });

    // DELETE through A ends B's stream and the session everywhere.
    let res = a.request("DELETE", &format!("/api/sessions/{id}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    from_b.read_to_end(Duration::from_secs(5));
    for server in [&a, &b] {
        let gone = server.get(&format!("/api/sessions/{id}/status"));
        assert_error(server, &gone, 404, "not_found");
    }
}

/// A session of an uploaded video, created through B: A finds the video in its own
/// catalog and streams it.
#[test]
fn a_video_session_made_on_one_instance_streams_from_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let clip = library_clip("cluster-session-video.mp4", 640, 360, 6.0, 1);
    let super::Pair { a, b, _store } = pair_with_library(&redis, clip.parent().unwrap());
    let id = upload_ok(&a, &clip, &[("segment_seconds", "2")]);
    wait_ready(&a, &id);
    wait_ready(&b, &id);
    let (code, created) = post(&b, "/api/sessions", json!({"video": id, "start": 2.0}));
    assert_eq!(code, 201, "{created}");
    let session = created["id"].as_str().unwrap();
    let mut stream = StreamClient::open(a.addr, &format!("/api/sessions/{session}/stream"), None);
    assert_eq!(stream.status, 200);
    stream.read_to_end(Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let packets = judge::video_packets(&stream.save(&dir.path().join("video.mp4")));
    assert!((packets[0].pts - 2.0).abs() < 0.5, "{:?}", packets[0]);
    assert!(packets.last().unwrap().pts > 5.0, "{:?}", packets.last());
    assert_eq!(status(&b, session)["video"], id.as_str());

    // mpv, a player of nobody's making here, plays a session made through B from A.
    let (code, created) = post(&b, "/api/sessions", json!({"video": id}));
    assert_eq!(code, 201, "{created}");
    super::mpv_plays(&format!(
        "http://{}/api/sessions/{}/stream",
        a.addr,
        created["id"].as_str().unwrap()
    ));
}

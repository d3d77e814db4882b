//! When a session and its stream end: DELETE, the client going away (reading or paused),
//! idle expiry; and the limit of encoders (503 with Retry-After).

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::util::assert_error;

const FREED_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn delete_and_a_client_going_away_free_the_stream_thread() {
    let clip = library_clip("live-20s.mp4", 320, 180, 20.0, 1);
    let server = server_with_library(&clip, &[]);
    let stream_of = |id: &str| format!("/api/sessions/{id}/stream");

    // DELETE while the client is not reading (its stream is blocked on a full socket).
    let a = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stalled = StreamClient::open(server.addr, &stream_of(&a), Some(4096));
    assert_eq!(stalled.status, 200);
    wait_for("the stream to start", Duration::from_secs(20), || {
        (status(&server, &a)["stream_bytes"].as_u64().unwrap() > 0).then_some(())
    });
    assert_eq!(metric(&server, "reel_open_streams{kind=\"session\"}"), 1.0);
    // The stream thread, and the threads libav started from it (they inherit its name).
    assert!(session_threads(&server) >= 1);
    let res = server.request("DELETE", &format!("/api/sessions/{a}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    wait_all_streams_freed(&server, FREED_WITHIN);
    stalled.read_to_end(Duration::from_secs(10));
    assert_error(
        &server,
        &server.get(&format!("/api/sessions/{a}/status")),
        404,
        "not_found",
    );
    assert_error(&server, &server.get(&stream_of(&a)), 404, "not_found");

    // A client that disconnects while reading: the thread ends, and the clock stops where
    // the client left (the next stream goes on from there, not from where the wall
    // clock would have got to).
    let b = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut reading = StreamClient::open(server.addr, &stream_of(&b), None);
    reading.read_for(Duration::from_millis(1500));
    drop(reading);
    wait_all_streams_freed(&server, FREED_WITHIN);
    let left = status(&server, &b);
    assert_eq!(left["streaming"], false);
    std::thread::sleep(Duration::from_millis(700));
    let later = status(&server, &b);
    assert_eq!(
        position(&later),
        position(&left),
        "the clock stopped with the client"
    );
    assert!((1.0..4.0).contains(&position(&left)), "{left}");
}

#[test]
fn a_client_gone_while_paused_frees_the_thread_and_idle_sessions_expire() {
    let clip = library_clip("live-20s.mp4", 320, 180, 20.0, 1);
    let server = server_with_library(&clip, &["--session-idle-seconds", "1"]);
    let id = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stream = StreamClient::open(server.addr, &format!("/api/sessions/{id}/stream"), None);
    stream.read_for(Duration::from_millis(1000));
    act(&server, &id, "pause", json!({}));
    // Production runs on to the lead, then waits for the frozen clock; the client leaves.
    stream.read_for(Duration::from_millis(1000));
    drop(stream);
    wait_all_streams_freed(&server, FREED_WITHIN);
    // No stream open: the session expires a second later (the reaper runs every second).
    wait_for("the idle session to expire", Duration::from_secs(5), || {
        (server.get(&format!("/api/sessions/{id}/status")).status == 404).then_some(())
    });

    // A session never streamed expires too.
    let never = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("the unused session to expire", Duration::from_secs(5), || {
        (server.get(&format!("/api/sessions/{never}")).status == 404).then_some(())
    });
    assert_eq!(session_threads(&server), 0);
}

#[test]
fn a_full_house_of_encoders_answers_503_with_retry_after() {
    let clip = library_clip("live-20s.mp4", 320, 180, 20.0, 1);
    let server = server_with_library(&clip, &["--max-live-encoders", "1"]);
    let a = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = create(&server, &clip, json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut first = StreamClient::open(server.addr, &format!("/api/sessions/{a}/stream"), None);
    assert_eq!(first.status, 200);
    first.read_for(Duration::from_millis(200));

    let refused = server.get(&format!("/api/sessions/{b}/stream"));
    assert_error(&server, &refused, 503, "busy");
    let retry: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1);

    // The session that holds the encoder may seek and reopen at once, again and again:
    // its winding-down stream does not count against it.
    for to in [5.0, 9.0, 2.0] {
        act(&server, &a, "seek", json!({"position": to}));
        first = StreamClient::open(server.addr, &format!("/api/sessions/{a}/stream"), None);
        assert_eq!(
            first.status, 200,
            "reopening after a seek to {to}: {}",
            first.headers
        );
        first.read_for(Duration::from_millis(100));
    }

    // Once it is gone, the other session gets the encoder.
    drop(first);
    wait_all_streams_freed(&server, FREED_WITHIN);
    let mut second = StreamClient::open(server.addr, &format!("/api/sessions/{b}/stream"), None);
    assert_eq!(second.status, 200);
    assert!(second.read_until(Duration::from_secs(20), |c| c.fragments() >= 1));
}

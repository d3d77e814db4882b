//! Health, metrics, CORS, events of finished videos, and JSON errors for unknown routes.

use crate::util::client::EventStream;
use crate::util::clips::small_clip;
use crate::util::*;

#[test]
fn health_answers_ok() {
    let server = Server::new();
    let res = server.get("/healthz");
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), serde_json::json!({"status": "ok"}));
}

#[test]
fn metrics_count_uploads_jobs_and_bytes() {
    let server = Server::new();
    let id = upload_ok(&server, &small_clip(), &[("heights", "180")]);
    wait_ready(&server, &id);
    let rejected = post_form(&server, Form::new().file("file", "x.mp4", b"nope"), &[]);
    assert_eq!(rejected.status, 415);
    let served = server.get(&format!("/media/{id}/master.m3u8")).body.len();
    let res = server.get("/metrics");
    assert_eq!(res.status, 200);
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = res.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("reel_uploads_total{outcome=\"accepted\"}"), 1.0);
    assert_eq!(value("reel_uploads_total{outcome=\"rejected\"}"), 1.0);
    assert_eq!(value("reel_jobs_total{outcome=\"ready\"}"), 1.0);
    assert_eq!(value("reel_queue_depth"), 0.0);
    assert_eq!(value("reel_transcode_jobs_total{rung=\"180p\"}"), 1.0);
    assert!(value("reel_transcode_seconds_total{rung=\"180p\"}") > 0.0);
    assert!(value("reel_served_bytes_total{area=\"media\"}") >= served as f64);
    assert_eq!(value("reel_open_streams{kind=\"events\"}"), 0.0);
    // Segments come from the memory cache from their second read on; playlists never do.
    let hits = value("reel_file_cache_blocks_total{result=\"hit\"}");
    let segment = format!("/media/{id}/180p/seg00000.m4s");
    server.get(&segment);
    server.get(&segment);
    let text = server.get("/metrics").text();
    for line in [
        format!("reel_file_cache_blocks_total{{result=\"hit\"}} {}", hits + 1.0),
        "reel_file_cache_blocks_total{result=\"miss\"} 1\n".to_string(),
    ] {
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    for family in [
        "reel_upload_bytes_total",
        "reel_jobs_running",
        "reel_transcode_media_seconds_total",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
}

#[test]
fn events_of_a_finished_video_close_at_once() {
    let server = Server::new();
    let id = upload_ok(&server, &small_clip(), &[("heights", "180")]);
    wait_ready(&server, &id);
    let stream = EventStream::open(server.addr, &format!("/api/videos/{id}/events"));
    assert_eq!(stream.status, 200);
    let content_type = stream
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone());
    assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    let events = stream.collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].name, "ready");
    assert_eq!(events[0].data["id"], id.as_str());
    assert_error(&server, &server.get("/api/videos/nope/events"), 404, "not_found");
}

#[test]
fn cors_answers_every_origin_by_default_and_preflights() {
    let server = Server::new();
    let res = server.request("GET", "/api/videos", &[("Origin", "https://app.example")], b"");
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    let res = server.request(
        "HEAD",
        "/media/x/master.m3u8",
        &[("Origin", "https://app.example")],
        b"",
    );
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("*"),
        "errors carry CORS too"
    );
    let res = server.request(
        "OPTIONS",
        "/api/videos",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization, content-type"),
        ],
        b"",
    );
    assert_eq!(res.status, 204);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert!(res
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(res
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
}

#[test]
fn cors_can_name_its_origins() {
    let server = Server::start(Options::args(&[
        "--cors-origin",
        "https://a.example,https://b.example",
    ]));
    let from = |origin: &str| server.request("GET", "/healthz", &[("Origin", origin)], b"");
    assert_eq!(
        from("https://b.example").header("access-control-allow-origin"),
        Some("https://b.example")
    );
    assert!(from("https://evil.example")
        .header("access-control-allow-origin")
        .is_none());
    assert_eq!(from("https://a.example").header("vary"), Some("Origin"));
}

#[test]
fn unknown_routes_and_methods_answer_json() {
    let server = Server::new();
    assert_error(&server, &server.get("/nothing/here"), 404, "not_found");
    assert_error(&server, &server.get("/api/videos/unknown"), 404, "not_found");
    assert_error(
        &server,
        &server.request("PUT", "/api/videos", &[], b""),
        405,
        "method_not_allowed",
    );
    assert_error(
        &server,
        &server.request("POST", "/healthz", &[], b""),
        405,
        "method_not_allowed",
    );
}

/// Issue 9: a real deployment's channel `main` played a test pattern nobody uploaded.
#[test]
fn a_fresh_server_adds_no_video_of_its_own() {
    let server = Server::new();
    // The demo used to appear as a temp file at once and as a video within seconds.
    let demo_files = || {
        std::fs::read_dir(server.media.join(".uploads"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|run| std::fs::read_dir(run.path()).into_iter().flatten().flatten())
            .filter(|f| f.file_name().to_string_lossy().starts_with("demo-"))
            .count()
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while std::time::Instant::now() < until {
        assert_eq!(demo_files(), 0, "a demo clip is being made");
        let list = server.get("/api/videos").json();
        assert_eq!(list["videos"], serde_json::json!([]), "{list}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        server.get("/api/channels/main").json()["items"],
        serde_json::json!([])
    );
}

#[test]
fn demo_flag_adds_a_demo_video_to_an_empty_root() {
    let server = Server::start(Options {
        demo: true,
        ..Options::default()
    });
    let id = wait_for("the demo video", READY_TIMEOUT, || {
        let list = server.get("/api/videos").json();
        list["videos"][0]["id"].as_str().map(str::to_string)
    });
    let video = wait_ready(&server, &id);
    assert!(video["title"].as_str().unwrap().contains("Demo"));
    check_ladder(&server, &video);
}

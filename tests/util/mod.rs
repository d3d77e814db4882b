//! Helpers shared by the integration tests: a real server process ([`server`]), a raw
//! HTTP client ([`client`]), multipart bodies ([`multipart`]), generated clips and
//! ffprobe ([`clips`]), a real S3 server ([`s3`]), a real redis-server ([`redis`]), and
//! the API steps most tests take ([`upload`], [`wait_ready`]).

#![allow(dead_code)]

pub mod browser;
pub mod client;
pub mod clips;
pub mod ladder;
pub mod multipart;
pub mod redis;
pub mod s3;
pub mod server;

use std::path::Path;
use std::time::Duration;

pub use client::Response;
pub use ladder::check_ladder;
pub use multipart::Form;
pub use server::{wait_for, Options, Server};

/// How long a small test transcode may take, generously (debug builds, 2 busy cores).
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// POSTs a form to `/api/videos`.
pub fn post_form(server: &Server, form: Form, headers: &[(&str, &str)]) -> Response {
    let (content_type, body) = form.finish();
    let mut all = vec![("Content-Type", content_type.as_str())];
    all.extend_from_slice(headers);
    server.request("POST", "/api/videos", &all, &body)
}

/// Uploads a file with extra text fields; returns the response.
pub fn upload(server: &Server, path: &Path, fields: &[(&str, &str)]) -> Response {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    post_form(server, form.file("file", &name, &bytes), &[])
}

/// Uploads and expects 202; returns the video id.
pub fn upload_ok(server: &Server, path: &Path, fields: &[(&str, &str)]) -> String {
    let res = upload(server, path, fields);
    assert_eq!(res.status, 202, "{}", res.text());
    res.json()["id"].as_str().unwrap().to_string()
}

/// The video object.
pub fn video(server: &Server, id: &str) -> serde_json::Value {
    let res = server.get(&format!("/api/videos/{id}"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// Polls until the video is ready (panics if it fails or takes too long).
pub fn wait_ready(server: &Server, id: &str) -> serde_json::Value {
    wait_for("the video to be ready", READY_TIMEOUT, || {
        let v = video(server, id);
        match v["status"].as_str() {
            Some("ready") => Some(v),
            Some("failed") => panic!("the video failed: {}", v["error"]),
            _ => None,
        }
    })
}

/// Polls until the video has finished, ready or failed.
pub fn wait_finished(server: &Server, id: &str) -> serde_json::Value {
    wait_for("the video to finish", READY_TIMEOUT, || {
        let v = video(server, id);
        matches!(v["status"].as_str(), Some("ready" | "failed")).then_some(v)
    })
}

/// Asserts an error answer: its status, a JSON body with a sentence and a snake_case code,
/// and no trace of the server's disk.
pub fn assert_error(server: &Server, res: &Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status, status, "{}", res.text());
    assert!(
        res.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        res.headers
    );
    let body = res.json();
    assert_eq!(body["code"], code, "{body}");
    let sentence = body["error"].as_str().expect("an error sentence");
    assert!(sentence.len() > 10, "{sentence}");
    let text = res.text();
    let dir = server.dir.to_string_lossy();
    for leak in [dir.as_ref(), "/tmp", ".uploads", ".jobs", "panicked", "src/"] {
        assert!(!text.contains(leak), "the error leaks {leak:?}: {text}");
    }
    body
}

/// Asserts that refused uploads left nothing behind: no temp file, no job, no video.
pub fn assert_nothing_kept(server: &Server) {
    wait_for("temp uploads to be removed", Duration::from_secs(5), || {
        (uploads_in_flight(server) == 0).then_some(())
    });
    assert_eq!(count_entries(&server.media.join(".jobs")), 0);
    assert_eq!(server.get("/api/videos").json()["videos"], serde_json::json!([]));
}

/// Number of entries in a directory (0 when it does not exist).
pub fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Files of uploads being received under the media root (every process's directory of
/// `.uploads/`, their lock files aside).
pub fn uploads_in_flight(server: &Server) -> usize {
    let Ok(entries) = std::fs::read_dir(server.media.join(".uploads")) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.path().is_dir() {
            true => std::fs::read_dir(e.path())
                .map(|d| d.flatten().filter(|f| f.file_name() != ".lock").count())
                .unwrap_or(0),
            false => 1,
        })
        .sum()
}

/// XMLTV's time of a Unix-ms instant: `YYYYMMDDhhmmss +0000` (whole seconds, UTC).
pub fn xmltv_time(ms: u64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms as i64)
        .single()
        .unwrap()
        .format("%Y%m%d%H%M%S +0000")
        .to_string()
}

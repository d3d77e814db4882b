//! Restart safety: the catalog is rebuilt from the media root; a job interrupted by
//! SIGKILL or SIGTERM runs again from its kept source (or fails saying why), and is never
//! left processing forever; temp files of unfinished uploads are cleaned at start.

use std::time::Duration;

use crate::util::clips::{clip, small_clip};
use crate::util::*;

fn long_clip() -> std::path::PathBuf {
    clip("long.mp4", 1280, 720, 10.0)
}

/// Uploads the long clip and waits until its job has written a segment.
fn start_long_job(server: &Server) -> String {
    let id = upload_ok(
        server,
        &long_clip(),
        &[("heights", "720,360"), ("segment_seconds", "1")],
    );
    wait_for("the job to be mid-way", READY_TIMEOUT, || {
        let v = video(server, &id);
        assert_ne!(v["status"], "ready", "the job ended too soon for this test");
        (v["renditions"][0]["segments"]
            .as_array()
            .is_some_and(|s| !s.is_empty()))
        .then_some(())
    });
    id
}

fn status_on_disk(server: &Server, id: &str) -> String {
    let text = std::fs::read_to_string(server.media.join(id).join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["status"].as_str().unwrap().to_string()
}

#[test]
fn a_job_killed_mid_transcode_resumes_after_a_restart() {
    let mut server = Server::new();
    let id = start_long_job(&server);
    server.kill();
    assert_eq!(status_on_disk(&server, &id), "processing");
    std::fs::write(
        server.media.join(".uploads").join("upload-half"),
        b"half an upload",
    )
    .unwrap();

    server.restart();
    assert_eq!(
        count_entries(&server.media.join(".uploads")),
        0,
        "stale uploads are removed at start"
    );
    let v = video(&server, &id);
    assert!(
        matches!(v["status"].as_str(), Some("queued" | "processing")),
        "{}",
        v["status"]
    );
    let video = wait_ready(&server, &id);
    check_ladder(&server, &video);
    assert!((video["duration"].as_f64().unwrap() - 10.0).abs() < 0.2);
    assert_eq!(count_entries(&server.media.join(".jobs")), 0);
    assert!(server.log_text().contains("resuming"));
}

#[test]
fn sigterm_drains_and_the_job_resumes_at_the_next_start() {
    let mut server = Server::new();
    let id = start_long_job(&server);
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(status_on_disk(&server, &id), "queued");
    assert!(server.media.join(".jobs").join(&id).join("job.json").is_file());

    server.restart();
    let video = wait_ready(&server, &id);
    check_ladder(&server, &video);
}

#[test]
fn an_interrupted_job_whose_source_is_gone_fails_saying_why() {
    let mut server = Server::new();
    let id = start_long_job(&server);
    server.kill();
    std::fs::remove_dir_all(server.media.join(".jobs").join(&id)).unwrap();

    server.restart();
    let v = video(&server, &id);
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("upload"), "{}", v["error"]);
    assert_eq!(v["renditions"], serde_json::json!([]));
    // No half-written playlists stay reachable.
    assert_error(
        &server,
        &server.get(&format!("/media/{id}/master.m3u8")),
        404,
        "not_found",
    );
    assert_error(
        &server,
        &server.get(&format!("/media/{id}/360p/index.m3u8")),
        404,
        "not_found",
    );
}

#[test]
fn the_catalog_is_rebuilt_from_the_media_root() {
    let mut server = Server::new();
    let id = upload_ok(&server, &small_clip(), &[("heights", "180")]);
    let before = wait_ready(&server, &id);
    // What an atomic write interrupted by a crash leaves: a hidden temp file.
    let stale = server.media.join(&id).join("180p").join(".tmp-interrupted");
    std::fs::write(&stale, b"half a playlist").unwrap();
    server.restart();
    assert!(!stale.exists(), "temp files are cleaned at start");
    assert_eq!(
        server.get("/api/videos").json()["videos"],
        serde_json::json!([before])
    );
    check_ladder(&server, &before);
}

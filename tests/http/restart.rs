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
    // The killed process's uploads directory, with half an upload in it.
    let dead = std::fs::read_dir(server.media.join(".uploads"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the server's uploads directory");
    std::fs::write(dead.join("upload-half"), b"half an upload").unwrap();

    server.restart();
    assert!(!dead.exists(), "stale uploads are removed at start");
    assert_eq!(uploads_in_flight(&server), 0);
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
    // What an atomic write interrupted by a crash leaves: a hidden temp file, old enough
    // not to be another process's write in progress.
    let stale = server.media.join(&id).join("180p").join(".tmp-interrupted");
    std::fs::write(&stale, b"half a playlist").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(an_hour_ago))
        .unwrap();
    server.restart();
    assert!(!stale.exists(), "temp files are cleaned at start");
    assert_eq!(
        server.get("/api/videos").json()["videos"],
        serde_json::json!([before])
    );
    check_ladder(&server, &before);
}

#[test]
fn a_second_process_on_the_same_root_leaves_the_first_ones_jobs_and_uploads_alone() {
    use std::io::Write;
    let first = Server::new();
    let id = start_long_job(&first);
    // Half an upload in flight on the first process...
    let clip = std::fs::read(small_clip()).unwrap();
    let form = Form::new().text("heights", "180");
    let (head, tail) = (form.file_head("file", "late.mp4"), form.tail());
    let (content_type, fields) = form.finish_fields();
    let length = fields.len() + head.len() + clip.len() + tail.len();
    let mut stream = crate::util::client::connect(first.addr);
    crate::util::client::write_head(
        &mut stream,
        "POST",
        "/api/videos",
        &[("Content-Type", &content_type)],
        Some(length as u64),
    );
    stream.write_all(&fields).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&clip[..clip.len() / 2]).unwrap();
    wait_for("the upload to reach the disk", Duration::from_secs(10), || {
        (uploads_in_flight(&first) == 1).then_some(())
    });

    // ...when a second process starts on the same root.
    let second = first.another(Options::default());
    assert_eq!(video(&second, &id)["status"], "processing");
    stream.write_all(&clip[clip.len() / 2..]).unwrap();
    stream.write_all(tail.as_bytes()).unwrap();
    let res = crate::util::client::read_response(&mut std::io::BufReader::new(stream), false);
    assert_eq!(
        res.status,
        202,
        "the upload survived the second start: {}",
        res.text()
    );

    let video = wait_ready(&first, &id);
    check_ladder(&first, &video);
    wait_ready(&first, res.json()["id"].as_str().unwrap());
    let log = std::fs::read_to_string(first.dir.join("server-2.log")).unwrap();
    assert!(
        !log.contains("resuming"),
        "the second process took over a live job:\n{log}"
    );
    assert!(log.contains("another reel process"), "{log}");
}

#[test]
fn a_video_deleted_through_another_process_stops_its_job_there_and_stays_gone() {
    let first = Server::new();
    let id = start_long_job(&first);
    let second = first.another(Options::default());
    assert_eq!(video(&second, &id)["status"], "processing");
    let res = second.request("DELETE", &format!("/api/videos/{id}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    wait_for("the first process to forget it", Duration::from_secs(10), || {
        (first.get(&format!("/api/videos/{id}")).status == 404).then_some(())
    });
    // The job stopped; nothing of the video came back (no failed manifest, no segments).
    std::thread::sleep(Duration::from_secs(3));
    assert!(!first.media.join(&id).exists(), "the video's directory came back");
    assert!(!first.media.join(".jobs").join(&id).exists());
    for server in [&first, &second] {
        assert_eq!(server.get(&format!("/api/videos/{id}")).status, 404);
    }
    assert!(first
        .log_text()
        .contains(&format!("video {id} was deleted through another reel process")));
}

//! `--library DIR` serves a folder of ready files with the same range semantics as media:
//! mpv plays and seeks over HTTP, and an MP4 whose `moov` trails its `mdat` is reported.

use std::process::Command;
use std::time::Duration;

use crate::util::clips::{clip, have};
use crate::util::*;

fn library_server() -> (Server, tempfile::TempDir) {
    let library = tempfile::tempdir().unwrap();
    std::fs::copy(clip("film.mkv", 640, 360, 6.0), library.path().join("film.mkv")).unwrap();
    // The engine's sample MP4 has its moov after the mdat, as many cameras write it.
    std::fs::copy(
        clip("film.mp4", 640, 360, 6.0),
        library.path().join("Late Moov.mp4"),
    )
    .unwrap();
    let server = Server::start(Options::args(&["--library", library.path().to_str().unwrap()]));
    (server, library)
}

#[test]
fn library_files_are_served_with_ranges_and_validators() {
    let (server, library) = library_server();
    let bytes = std::fs::read(library.path().join("film.mkv")).unwrap();
    let full = server.get("/library/film.mkv");
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), Some("video/x-matroska"));
    assert_eq!(full.body, bytes);
    let res = server.request("GET", "/library/film.mkv", &[("Range", "bytes=1000-1999")], b"");
    assert_eq!(res.status, 206);
    assert_eq!(res.body, bytes[1000..2000]);
    let etag = full.header("etag").unwrap();
    let res = server.request("GET", "/library/film.mkv", &[("If-None-Match", etag)], b"");
    assert_eq!(res.status, 304);
    let head = server.request("HEAD", "/library/Late%20Moov.mp4", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    let res = server.request(
        "GET",
        "/library/film.mkv",
        &[("Range", format!("bytes={}-", bytes.len()).as_str())],
        b"",
    );
    assert_eq!(res.status, 416);
    assert_error(&server, &server.get("/library/missing.mkv"), 404, "not_found");
}

#[test]
fn mpv_plays_and_seeks_library_files_over_http() {
    if !have("mpv") {
        eprintln!("skipped: mpv is not installed (scripts/setup --test installs it)");
        return;
    }
    let (server, _library) = library_server();
    for file in ["film.mkv", "Late%20Moov.mp4"] {
        let url = format!("http://{}/library/{file}", server.addr);
        let out = Command::new("mpv")
            .args([
                "--no-config",
                "--vo=null",
                "--ao=null",
                "--start=2",
                "--length=1",
                "--msg-level=all=v",
            ])
            .arg(&url)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "mpv failed on {file}:\n{log}");
        assert!(
            !log.contains("Failed to open") && !log.contains("Errors when loading file"),
            "{log}"
        );
        assert!(
            log.contains("Starting playback"),
            "mpv did not play {file}:\n{log}"
        );
    }
    let ranged = server
        .log_text()
        .lines()
        .filter(|l| l.contains("/library/") && l.contains(" 206 "))
        .count();
    assert!(ranged > 0, "mpv seeks with range requests");
}

#[test]
fn a_library_mp4_with_its_moov_at_the_end_is_reported_in_the_log() {
    let (server, _library) = library_server();
    assert_eq!(server.get("/library/Late%20Moov.mp4").status, 200);
    assert_eq!(server.get("/library/film.mkv").status, 200);
    wait_for("the moov warning", Duration::from_secs(5), || {
        let log = server.log_text();
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("Late Moov.mp4") && l.contains("moov"))
            .then_some(())
    });
    let warnings = server
        .log_text()
        .lines()
        .filter(|l| l.contains("moov atom"))
        .count();
    assert_eq!(warnings, 1);
}

#[test]
fn a_library_file_replaced_on_disk_is_served_fresh() {
    let (server, library) = library_server();
    let path = library.path().join("notes.txt");
    std::fs::write(&path, "first version").unwrap();
    assert_eq!(server.get("/library/notes.txt").text(), "first version");
    assert_eq!(server.get("/library/notes.txt").text(), "first version");
    // Same length, rewritten in place: the memory cache must not answer with the old bytes.
    std::fs::write(&path, "later version").unwrap();
    assert_eq!(server.get("/library/notes.txt").text(), "later version");
    let replacement = library.path().join("notes.new");
    std::fs::write(&replacement, "third version").unwrap();
    std::fs::rename(&replacement, &path).unwrap();
    assert_eq!(server.get("/library/notes.txt").text(), "third version");
}

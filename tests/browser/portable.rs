//! One self-contained binary: the test build's `reel`, copied into a folder outside the
//! checkout and run there with an empty media root, no `web/` beside it and no `REEL_WEB`,
//! serves its own pages; `node tests/browser/portable.mjs` then plays an upload on the
//! dashboard with the built-in hls.js and with the browser's own HLS (`?player=native`,
//! also on a video still processing), and the channel page plays. Screenshots land in `target/screenshots/portable/`.

use std::time::Duration;

use crate::util::browser::{can_run, run_script, screenshots};
use crate::util::clips::clip;
use crate::util::*;

#[test]
fn a_copied_binary_serves_its_own_pages_and_they_play_in_chromium() {
    if !can_run("the copied-binary browser test") {
        return;
    }
    let away = tempfile::Builder::new().prefix("reel-copied-").tempdir().unwrap();
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    assert!(
        !away.path().canonicalize().unwrap().starts_with(&checkout),
        "the copy must live outside the checkout"
    );
    let binary = away.path().join("reel");
    std::fs::copy(env!("CARGO_BIN_EXE_reel"), &binary).unwrap();
    let server = Server::start(Options {
        binary: Some(binary),
        cwd: Some(away.path().to_path_buf()),
        ..Options::default()
    });
    assert!(!away.path().join("web").exists());
    let log = server.log_text();
    assert!(
        log.contains("pages built in"),
        "the copy did not serve its built-in pages:\n{log}"
    );
    let hls_version = std::fs::read_to_string(checkout.join("web/vendor/hls.js/VERSION")).unwrap();

    // The media root starts empty: nothing is listed until something is uploaded.
    let listed = server.get("/api/videos").json();
    assert_eq!(listed["videos"].as_array().map(Vec::len), Some(0), "{listed}");
    let path = clip("portable.mp4", 640, 360, 8.0);
    let id = upload_ok(
        &server,
        &path,
        &[("heights", "360,240"), ("segment_seconds", "2")],
    );
    wait_ready(&server, &id);
    wait_for("channel main to list the upload", Duration::from_secs(20), || {
        let v = server.get("/api/channels/main").json();
        (v["items"].as_array().map(Vec::len) == Some(1)).then_some(())
    });

    // Long enough to be still processing while the page opens it.
    let long = clip("portable long.mp4", 1280, 720, 40.0);
    let processing = upload_ok(&server, &long, &[("heights", "720,360")]);
    run_script(
        "portable.mjs",
        &[
            format!("http://{}", server.addr).into(),
            screenshots("portable").into_os_string(),
            id.into(),
            processing.into(),
            hls_version.trim().into(),
        ],
        &server.dir.join("portable-browser.log"),
        Duration::from_secs(180),
    );
}

//! Strangers as judges (issue 9): HLS players on a page that is not reel's must play its
//! output. `reel serve` with two ready ladders (fMP4 and MPEG-TS), then `node
//! tests/browser/players.mjs`, which runs video.js 8 (VHS) and Shaka Player (web/'s
//! devDependencies, which reel does not ship) and hls.js (the pinned copy) in Debian's
//! Chromium on a test page of its own origin: on an upload's master from the moment it
//! answers 200 while the video is still `processing`, and on each ready ladder. Every
//! player must start within the first second and play on for 1.5 s without an error. Same
//! prerequisites and skipping rules as the dashboard test; screenshots
//! (`<case>-<player>.png`) and the log (`players.log`) land in `target/screenshots/players/`.

use std::time::Duration;

use crate::util::browser::{can_run, run_script, screenshots};
use crate::util::clips::clip;
use crate::util::*;

#[test]
fn hlsjs_videojs_and_shaka_play_a_processing_upload_and_ready_fmp4_and_ts_ladders() {
    if !can_run("the strangers' players browser test") {
        return;
    }
    let server = Server::new();
    // Two small ready ladders, two rungs each, 2 s segments.
    let short = clip("players-ready.mp4", 640, 360, 8.0);
    let fields = |format| {
        [
            ("heights", "360,240"),
            ("segment_seconds", "2"),
            ("format", format),
        ]
    };
    let fmp4 = upload_ok(&server, &short, &fields("fmp4"));
    let ts = upload_ok(&server, &short, &fields("ts"));
    wait_ready(&server, &fmp4);
    wait_ready(&server, &ts);
    // Long enough that its transcode (three rungs, default segment length) is still running
    // when the players start on its master: players.mjs uploads it and checks.
    let long = clip("players-processing.mp4", 1280, 720, 30.0);
    let shots = screenshots("players");
    let log = server.dir.join("players-browser.log");
    run_script(
        "players.mjs",
        &[
            format!("http://{}", server.addr).into(),
            shots.clone().into_os_string(),
            long.into_os_string(),
            "720,480,360".into(),
            fmp4.into(),
            ts.into(),
        ],
        &log,
        Duration::from_secs(240),
    );
    // What each player did, beside its screenshot (a failure prints it instead).
    std::fs::copy(&log, shots.join("players.log")).expect("copying the players' log");
}

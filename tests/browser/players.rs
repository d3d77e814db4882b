//! Strangers as judges (issue 9): HLS players on a page that is not reel's must play its
//! output. `reel serve` with two ready ladders (fMP4 and MPEG-TS), then `node
//! tests/browser/players.mjs`, which runs video.js 8 (VHS) and Shaka Player (web/'s
//! devDependencies, which reel does not ship) and hls.js (the pinned copy) in Debian's
//! Chromium on a test page of its own origin: on an upload's master from the moment it
//! answers 200 while the video is still `processing`, and on each ready ladder. Every
//! player must start within the first second and play on for 1.5 s without an error. Same
//! prerequisites and skipping rules as the dashboard test; screenshots
//! (`<case>-<player>.png`) and the log (`players.log`) land in `target/screenshots/players/`.
//!
//! Issue 13: a source with two audio tracks (440 and 880 Hz sines, English and French)
//! and two SubRip tracks, as fMP4 and MPEG-TS ladders: each player must list the tracks
//! with their languages, sound the right pitch before and after switching to French, and
//! show a French cue at its time (`tracks-<format>` cases, see players.mjs).

use std::time::Duration;

use reel::engine::sample::SampleSpec;

use crate::util::browser::{can_run, run_script, screenshots};
use crate::util::clips::{clip, clip_with};
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
    // Audio and subtitle renditions: long enough to play, switch and wait for a cue.
    let tracks = clip_with(
        "players-tracks.mkv",
        SampleSpec {
            width: 640,
            height: 360,
            seconds: 24.0,
            audio_tracks: 2,
            tone_step: 440,
            subtitle_tracks: 2,
            ..SampleSpec::default()
        },
    );
    let tracks_fmp4 = upload_ok(&server, &tracks, &fields("fmp4"));
    let tracks_ts = upload_ok(&server, &tracks, &fields("ts"));
    for id in [&fmp4, &ts, &tracks_fmp4, &tracks_ts] {
        wait_ready(&server, id);
    }
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
            tracks_fmp4.into(),
            tracks_ts.into(),
        ],
        &log,
        Duration::from_secs(420),
    );
    // What each player did, beside its screenshot (a failure prints it instead).
    std::fs::copy(&log, shots.join("players.log")).expect("copying the players' log");
}

//! Surround sound where it cannot be decoded: a 5.1 source's ladder (stereo AAC renditions
//! and AC-3 5.1 ones, every variant listed with each group), as fMP4 and MPEG-TS, in
//! headless Chromium, whose MSE has no AC-3. `node tests/browser/surround.mjs` runs
//! hls.js, video.js (VHS) and Shaka Player on each master: each must play the stereo
//! variants from the first second, with sound, as for any upload. Screenshots and the log
//! land in `target/screenshots/surround/`.

use std::time::Duration;

use reel::engine::sample::SampleSpec;

use crate::util::browser::{can_run, run_script, screenshots};
use crate::util::clips::clip_with;
use crate::util::*;

#[test]
fn hlsjs_videojs_and_shaka_play_the_stereo_variants_of_a_5_1_ladder_in_chromium() {
    if !can_run("the surround browser test") {
        return;
    }
    let server = Server::new();
    let source = clip_with(
        "browser-surround.mp4",
        SampleSpec {
            width: 640,
            height: 360,
            seconds: 10.0,
            audio_channels: 6,
            ..SampleSpec::default()
        },
    );
    let fields = |format| {
        [
            ("heights", "360,240"),
            ("segment_seconds", "2"),
            ("format", format),
        ]
    };
    let ids: Vec<String> = ["fmp4", "ts"]
        .into_iter()
        .map(|format| upload_ok(&server, &source, &fields(format)))
        .collect();
    for id in &ids {
        let video = wait_ready(&server, id);
        assert_eq!(video["audio"][1]["codec"], "ac3", "{video}");
    }
    let shots = screenshots("surround");
    let log = server.dir.join("surround-browser.log");
    let mut args = vec![
        format!("http://{}", server.addr).into(),
        shots.clone().into_os_string(),
    ];
    args.extend(ids.into_iter().map(Into::into));
    run_script("surround.mjs", &args, &log, Duration::from_secs(300));
    std::fs::copy(&log, shots.join("surround.log")).expect("copying the log");
}

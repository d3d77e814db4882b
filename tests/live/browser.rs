//! The live session page (`/live`) in headless Chromium: starts `reel serve` with a
//! library holding a generated two-track clip, then runs `node tests/browser/live.mjs
//! <base-url> <screenshot-dir> <library-file>` (playwright-core, Debian's Chromium) and
//! fails if it fails. Screenshots land in `target/screenshots/live/`.
//!
//! Prerequisites and skipping rules: `tests/util/browser.rs`.

use std::time::Duration;

use super::library_clip;
use crate::util::browser::{can_run, run_script, screenshots, web_env};
use crate::util::{Options, Server};

#[test]
fn the_live_page_plays_pauses_seeks_switches_track_and_rate_with_clocks_together() {
    if !can_run("the live page test") {
        return;
    }
    // Two audio tracks: 440 Hz and 660 Hz sines, which the page's audio is judged by.
    let clip = library_clip("live-browser.mp4", 640, 360, 30.0, 2);
    let server = Server::start(Options {
        args: vec![
            "--library".into(),
            clip.parent().unwrap().to_string_lossy().into_owned(),
        ],
        envs: vec![web_env()],
        ..Options::default()
    });
    let shots = screenshots("live");
    run_script(
        "live.mjs",
        &[
            format!("http://{}", server.addr).into(),
            shots.into_os_string(),
            clip.file_name().unwrap().into(),
        ],
        &server.dir.join("live-page.log"),
        Duration::from_secs(180),
    );
    super::wait_all_streams_freed(&server, Duration::from_secs(5));
}

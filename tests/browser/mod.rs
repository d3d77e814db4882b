//! The dashboard in a real browser: starts the real `reel serve` (`util::Server`: port 0,
//! a temporary media root), then runs `node tests/browser/dashboard.mjs <base-url>
//! <screenshot-dir>` (headless Debian Chromium through playwright-core) and fails if it
//! fails. Screenshots land in `target/screenshots/`.
//!
//! Prerequisites and skipping rules: `tests/util/browser.rs`.

mod channel;
mod players;
mod portable;
mod s3;
mod surround;

use std::time::Duration;

use crate::util::browser::{can_run, run_script, screenshots, web_env};
use crate::util::{Options, Server};

#[test]
fn dashboard_uploads_plays_switches_rungs_and_folds_in_chromium() {
    if !can_run("the dashboard browser test") {
        return;
    }
    let server = Server::start(Options {
        envs: vec![web_env()],
        ..Options::default()
    });
    let base = format!("http://{}", server.addr);
    let shots = screenshots("");
    run_script(
        "dashboard.mjs",
        &[base.into(), shots.into_os_string()],
        &server.dir.join("dashboard.log"),
        Duration::from_secs(600),
    );
}

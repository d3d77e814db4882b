//! The channel pages in a real browser: `reel serve` with a `main` channel of three short
//! items, then `node tests/browser/channel.mjs <base-url> <screenshot-dir>` (two pages in
//! step across item boundaries, unmute, like, narrow screen, the ambient page). Same
//! prerequisites and skipping rules as the dashboard test; screenshots and the measured
//! sync figures (`sync.json`) land in `target/screenshots/channel/`.

use std::time::Duration;

use crate::util::browser::{can_run, run_script, screenshots, web_env};
use crate::util::clips::clip;
use crate::util::*;

#[test]
fn two_channel_pages_stay_in_step_and_the_ambient_page_titles_each_item() {
    if !can_run("the channel browser test") {
        return;
    }
    let server = Server::start(Options {
        envs: vec![web_env()],
        ..Options::default()
    });
    // Three 5 s items: 12 s of sampling crosses at least two boundaries.
    for name in ["Harbour at dawn", "Night market", "Rain on tin"] {
        let path = clip(&format!("{name}.mp4"), 640, 360, 5.0);
        let id = upload_ok(&server, &path, &[("heights", "360"), ("segment_seconds", "1")]);
        wait_ready(&server, &id);
    }
    wait_for("main to list the three items", Duration::from_secs(20), || {
        let v = server.get("/api/channels/main").json();
        (v["items"].as_array().map(Vec::len) == Some(3)).then_some(())
    });
    let shots = screenshots("channel");
    run_script(
        "channel.mjs",
        &[format!("http://{}", server.addr).into(), shots.into_os_string()],
        &server.dir.join("channel-browser.log"),
        Duration::from_secs(180),
    );
}

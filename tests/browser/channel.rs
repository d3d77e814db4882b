//! The channel pages in a real browser: `reel serve` with a `main` channel of three short
//! items, then `node tests/browser/channel.mjs <base-url> <screenshot-dir>` (two pages in
//! step across item boundaries, unmute, like, narrow screen, the ambient page). Same
//! prerequisites and skipping rules as the dashboard test; screenshots and the measured
//! sync figures (`sync.json`) land in `target/screenshots/channel/`.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{prerequisites, root, REEL};
use crate::util::clips::clip;
use crate::util::*;

const WHOLE_RUN: Duration = Duration::from_secs(180);

#[test]
fn two_channel_pages_stay_in_step_and_the_ambient_page_titles_each_item() {
    if let Err(gap) = prerequisites() {
        let required = std::env::var_os("CI").is_some() || std::env::var_os("REEL_REQUIRE_BROWSER").is_some();
        assert!(
            !required,
            "the browser test cannot run: {gap} (scripts/setup --test installs it)"
        );
        eprintln!("skipping the channel browser test: {gap} (scripts/setup --test installs it)");
        return;
    }
    let web = root().join("web").to_string_lossy().into_owned();
    let server = Server::start(Options {
        envs: vec![("REEL_WEB".into(), web)],
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

    let shots = std::path::Path::new(REEL)
        .parent()
        .and_then(std::path::Path::parent)
        .map(|t| t.join("screenshots/channel"))
        .unwrap_or_else(|| root().join("target/screenshots/channel"));
    let node_log = server.dir.join("channel-browser.log");
    let out = std::fs::File::create(&node_log).expect("node log file");
    let mut node = Command::new("node")
        .arg(root().join("tests/browser/channel.mjs"))
        .arg(format!("http://{}", server.addr))
        .arg(&shots)
        .current_dir(root())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + WHOLE_RUN;
    let status = loop {
        if let Some(status) = node.try_wait().expect("waiting for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            let _ = node.wait();
            panic!(
                "the channel browser test took longer than {WHOLE_RUN:?}:\n{}",
                std::fs::read_to_string(&node_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "tests/browser/channel.mjs failed ({status}):\n{}\nscreenshots in {} (the server log follows)",
        std::fs::read_to_string(&node_log).unwrap_or_default(),
        shots.display(),
    );
}

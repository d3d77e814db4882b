//! The live session page (`/live`) in headless Chromium: starts `reel serve` with a
//! library holding a generated two-track clip, then runs `node tests/browser/live.mjs
//! <base-url> <screenshot-dir> <library-file>` (playwright-core, Debian's Chromium) and
//! fails if it fails. Screenshots land in `target/screenshots/live/`.
//!
//! Like the dashboard's browser test, a machine without Chromium, node or
//! `web/node_modules` skips it, saying why; with `CI` or `REEL_REQUIRE_BROWSER` set it
//! fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::library_clip;
use crate::util::{Options, Server};

const REEL: &str = env!("CARGO_BIN_EXE_reel");
const WHOLE_RUN: Duration = Duration::from_secs(180);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prerequisites() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} is absent"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is absent".into());
    }
    let playwright = root().join("web/node_modules/playwright-core/package.json");
    if !playwright.exists() {
        return Err(format!(
            "{} is absent (npm install in web/)",
            playwright.display()
        ));
    }
    Ok(())
}

#[test]
fn the_live_page_plays_pauses_seeks_switches_track_and_rate_with_clocks_together() {
    if let Err(gap) = prerequisites() {
        let required = std::env::var_os("CI").is_some() || std::env::var_os("REEL_REQUIRE_BROWSER").is_some();
        assert!(
            !required,
            "the live page test cannot run: {gap} (scripts/setup --test installs it)"
        );
        eprintln!("skipping the live page test: {gap} (scripts/setup --test installs it)");
        return;
    }
    // Two audio tracks: 440 Hz and 660 Hz sines, which the page's audio is judged by.
    let clip = library_clip("live-browser.mp4", 640, 360, 30.0, 2);
    let server = Server::start(Options {
        args: vec![
            "--library".into(),
            clip.parent().unwrap().to_string_lossy().into_owned(),
        ],
        envs: vec![(
            "REEL_WEB".into(),
            root().join("web").to_string_lossy().into_owned(),
        )],
        ..Options::default()
    });
    let base = format!("http://{}", server.addr);
    let shots = Path::new(REEL)
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("screenshots/live"))
        .unwrap_or_else(|| root().join("target/screenshots/live"));
    let node_log = server.dir.join("live-page.log");
    let out = std::fs::File::create(&node_log).expect("node log file");
    let mut node = Command::new("node")
        .arg(root().join("tests/browser/live.mjs"))
        .arg(&base)
        .arg(&shots)
        .arg(clip.file_name().unwrap())
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
                "the live page test took longer than {WHOLE_RUN:?}:\n{}",
                std::fs::read_to_string(&node_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "tests/browser/live.mjs failed ({status}):\n{}\nscreenshots in {} (the server log follows)",
        std::fs::read_to_string(&node_log).unwrap_or_default(),
        shots.display(),
    );
    super::wait_all_streams_freed(&server, Duration::from_secs(5));
}

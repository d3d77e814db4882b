//! The dashboard in a real browser: starts the real `reel serve` (`util::Server`: port 0,
//! a temporary media root), then runs `node tests/browser/dashboard.mjs <base-url>
//! <screenshot-dir>` (headless Debian Chromium through playwright-core) and fails if it
//! fails. Screenshots land in `target/screenshots/`.
//!
//! Node, Chromium and `web/node_modules` (hls.js, playwright-core) come from
//! `scripts/setup --test`, which `scripts/test` runs first. A bare `cargo test` on a
//! machine without them skips this test, saying why; with `CI` or
//! `REEL_REQUIRE_BROWSER` set it fails instead.

mod channel;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{Options, Server};

const REEL: &str = env!("CARGO_BIN_EXE_reel");
const WHOLE_RUN: Duration = Duration::from_secs(600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What the browser test needs that is not ours to install here; `Err` names the first gap.
fn prerequisites() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} is absent"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is absent".into());
    }
    for package in ["hls.js/dist/hls.min.js", "playwright-core/package.json"] {
        let p = root().join("web/node_modules").join(package);
        if !p.exists() {
            return Err(format!("{} is absent (npm install in web/)", p.display()));
        }
    }
    Ok(())
}

#[test]
fn dashboard_uploads_plays_switches_rungs_and_folds_in_chromium() {
    if let Err(gap) = prerequisites() {
        let required = std::env::var_os("CI").is_some() || std::env::var_os("REEL_REQUIRE_BROWSER").is_some();
        assert!(
            !required,
            "the browser test cannot run: {gap} (scripts/setup --test installs it)"
        );
        eprintln!("skipping the browser test: {gap} (scripts/setup --test installs it)");
        return;
    }
    let web = root().join("web").to_string_lossy().into_owned();
    let server = Server::start(Options {
        envs: vec![("REEL_WEB".into(), web)],
        ..Options::default()
    });
    let base = format!("http://{}", server.addr);

    // target/debug/reel → target/screenshots
    let shots = Path::new(REEL)
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("screenshots"))
        .unwrap_or_else(|| root().join("target/screenshots"));
    // Its running commentary is kept for a failure, not poured into a passing run.
    let node_log = server.dir.join("dashboard.log");
    let out = std::fs::File::create(&node_log).expect("node log file");
    let mut node = Command::new("node")
        .arg(root().join("tests/browser/dashboard.mjs"))
        .arg(&base)
        .arg(&shots)
        .env("REEL_BIN", REEL)
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
                "the browser test took longer than {WHOLE_RUN:?}:\n{}",
                std::fs::read_to_string(&node_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "tests/browser/dashboard.mjs failed ({status}):\n{}\nscreenshots in {} (the server log follows)",
        std::fs::read_to_string(&node_log).unwrap_or_default(),
        shots.display(),
    );
}

//! Running a Playwright script (headless Debian Chromium through playwright-core) against a
//! real `reel serve`, for the browser tests of the dashboard, the live page, the channel
//! pages and the strangers' players.
//!
//! Node, Chromium and `web/node_modules` (playwright-core and the players under test:
//! video.js, Shaka Player) come from `scripts/setup --test`, which `scripts/test` runs
//! first. A bare `cargo test` on a machine without them skips a browser test, saying why;
//! with `CI` or `REEL_REQUIRE_BROWSER` set it fails instead.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const REEL: &str = env!("CARGO_BIN_EXE_reel");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment for `reel serve` to find the pages of this checkout.
pub fn web_env() -> (String, String) {
    (
        "REEL_WEB".into(),
        root().join("web").to_string_lossy().into_owned(),
    )
}

/// The npm packages (in `web/node_modules`) the browser tests drive or judge with.
const TEST_PACKAGES: &[&str] = &[
    "playwright-core/package.json",
    "video.js/dist/video.min.js",
    "shaka-player/dist/shaka-player.compiled.js",
];

/// What a browser test needs that is not ours to install here; `Err` names the first gap.
fn prerequisites() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} is absent"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is absent".into());
    }
    for package in TEST_PACKAGES {
        let p = root().join("web/node_modules").join(package);
        if !p.exists() {
            return Err(format!("{} is absent (npm install in web/)", p.display()));
        }
    }
    Ok(())
}

/// True when the browser test `what` can run; false (after saying why) when it must skip.
/// Panics when it cannot run but must (`CI` or `REEL_REQUIRE_BROWSER` set).
pub fn can_run(what: &str) -> bool {
    match prerequisites() {
        Ok(()) => true,
        Err(gap) => {
            let required =
                std::env::var_os("CI").is_some() || std::env::var_os("REEL_REQUIRE_BROWSER").is_some();
            assert!(
                !required,
                "{what} cannot run: {gap} (scripts/setup --test installs it)"
            );
            eprintln!("skipping {what}: {gap} (scripts/setup --test installs it)");
            false
        }
    }
}

/// `target/screenshots/<sub>` (next to the test binary's target directory).
pub fn screenshots(sub: &str) -> PathBuf {
    Path::new(REEL)
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("screenshots"))
        .unwrap_or_else(|| root().join("target/screenshots"))
        .join(sub)
}

/// Runs `node tests/browser/<script> <args...>` within `limit`, its output kept in `log`
/// for a failure; panics with that output if it fails or overruns.
pub fn run_script(script: &str, args: &[OsString], log: &Path, limit: Duration) {
    let out = std::fs::File::create(log).expect("node log file");
    let mut node = Command::new("node")
        .arg(root().join("tests/browser").join(script))
        .args(args)
        .env("REEL_BIN", REEL)
        .current_dir(root())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = node.try_wait().expect("waiting for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            let _ = node.wait();
            panic!(
                "{script} took longer than {limit:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "tests/browser/{script} failed ({status}):\n{}\n(the server log follows)",
        std::fs::read_to_string(log).unwrap_or_default(),
    );
}

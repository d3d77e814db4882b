//! Test clips, generated in-process by the engine (`reel::engine::sample`) once per test
//! binary run and shared between tests, and `ffprobe` as an outside judge of what the
//! server produced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use reel::engine::sample::{write_sample, SampleSpec};

/// A generated clip's path; `name` must end in the container's extension.
pub fn clip(name: &str, width: u32, height: u32, seconds: f64) -> PathBuf {
    clip_with(
        name,
        SampleSpec {
            width,
            height,
            seconds,
            ..SampleSpec::default()
        },
    )
}

pub fn clip_with(name: &str, spec: SampleSpec) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static MADE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::Builder::new().prefix("reel-clips-").tempdir().unwrap());
    let made = MADE.get_or_init(Default::default);
    let mut made = made.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = made.get(name) {
        return p.clone();
    }
    let path = dir.path().join(name);
    write_sample(&path, &spec).unwrap_or_else(|e| panic!("making {name}: {e}"));
    made.insert(name.to_string(), path.clone());
    path
}

/// A short, small clip: the default upload of most tests.
pub fn small_clip() -> PathBuf {
    clip("small.mp4", 320, 180, 3.0)
}

/// What ffprobe says about the first video frame of a file: (key_frame, pict_type, pts_time).
pub fn first_video_frame(path: &Path) -> (bool, String, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_frames",
            "-read_intervals",
            "%+#1",
        ])
        .args([
            "-show_entries",
            "frame=key_frame,pict_type,pts_time,best_effort_timestamp_time",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe is installed (scripts/setup --test)");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frame = &v["frames"][0];
    let time = frame["pts_time"]
        .as_str()
        .or(frame["best_effort_timestamp_time"].as_str())
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::NAN);
    (
        frame["key_frame"].as_i64() == Some(1),
        frame["pict_type"].as_str().unwrap_or("").to_string(),
        time,
    )
}

/// ffprobe's container duration of a file, in seconds.
pub fn probe_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

/// True when a program can be run (the test judges are optional outside CI).
pub fn have(program: &str) -> bool {
    // GNU style, or FFmpeg's (`ffprobe --version` is an error: it wants `-version`).
    ["--version", "-version"].iter().any(|flag| {
        Command::new(program)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

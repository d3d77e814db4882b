//! mpv, a player written against nothing of ours, plays a session's stream URL headless.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::util::clips::have;

/// Runs `mpv --vo=null --ao=null --length=3 [extra] URL`; returns its output, all its
/// text and how long it ran.
fn mpv(url: &str, extra: &[&str]) -> std::thread::JoinHandle<(Output, String, Duration)> {
    let url = url.to_string();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let started = Instant::now();
        let out = Command::new("mpv")
            .args([
                "--no-config",
                "--vo=null",
                "--ao=null",
                "--length=3",
                "--term-status-msg=",
            ])
            .args(&extra)
            .arg(&url)
            .output()
            .expect("mpv runs");
        let took = started.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text, took)
    })
}

#[test]
fn mpv_plays_a_session_stream_headless() {
    if !have("mpv") {
        let required = std::env::var_os("CI").is_some() || std::env::var_os("REEL_REQUIRE_BROWSER").is_some();
        assert!(!required, "mpv is absent (scripts/setup --test installs it)");
        eprintln!("skipping: mpv is absent (scripts/setup --test installs it)");
        return;
    }
    let clip = library_clip("live-20s.mp4", 320, 180, 20.0, 1);
    let server = server_with_library(&clip, &[]);
    let url = |s: &Value| {
        format!(
            "http://{}/api/sessions/{}/stream",
            server.addr,
            s["id"].as_str().unwrap()
        )
    };
    let from_start = create(&server, &clip, json!({}));
    let from_four = create(&server, &clip, json!({"start": 4.0}));
    // The two play at once. A stream that starts at 4 s has pts from 4 s, and mpv counts
    // `--length` from the file's start time, which it learns for MP4 only when told to
    // probe the stream (by default it assumes 0 and would stop before the first frame).
    let plain = mpv(&url(&from_start), &[]);
    let later = mpv(&url(&from_four), &["--demuxer-lavf-probe-info=yes"]);

    for (session, run, start) in [(from_start, plain, 0.0), (from_four, later, 4.0)] {
        let (out, text, took) = run.join().unwrap();
        assert!(out.status.success(), "mpv failed ({}):\n{text}", out.status);
        assert!(text.contains("Video --vid=1"), "mpv found no video:\n{text}");
        assert!(text.contains("Audio --aid=1"), "mpv found no audio:\n{text}");
        assert!(
            text.contains("(End of file)"),
            "mpv did not play to its --length:\n{text}"
        );
        // It played in real time: 3 s of media took at least about 3 s.
        assert!(
            took >= Duration::from_millis(2800),
            "mpv was done in {took:?}:\n{text}"
        );
        // The session saw its client for those seconds: the clock ran from the start,
        // then stopped when mpv hung up.
        let id = session["id"].as_str().unwrap();
        wait_for("mpv's stream to end", Duration::from_secs(5), || {
            (status(&server, id)["streaming"] == false).then_some(())
        });
        let p = position(&status(&server, id)) - start;
        assert!(
            (2.5..8.0).contains(&p),
            "the clock ran {p} s while mpv played 3 s"
        );
    }
    wait_all_streams_freed(&server, Duration::from_secs(5));
}

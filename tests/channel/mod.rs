//! Channels: retimed segments judged by ffprobe (`retime`), and the channel API, its SSE
//! stream, likes, restarts and two processes over HTTP against real `reel serve`
//! processes (`api`), the live playlist judged by m3u8-rs, ffprobe and mpv (`live`).
//!
//! Channel items are short generated clips (320x180, 3–4 s, 1 s segments, one 180p rung)
//! so that item boundaries come every few seconds and each test crosses some.

mod api;
mod iptv;
mod library;
mod live;
mod retime;
mod stream_ts;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::client::{Event, EventStream};
use crate::util::clips::clip;
use crate::util::*;

/// A clip of `seconds` named `{name}-{seconds}s.mp4` (the item's title is the stem). Clips
/// are made once per test run and shared by name, so the name carries the length.
pub fn item_clip(name: &str, seconds: f64) -> std::path::PathBuf {
    clip(&format!("{name}-{seconds}s.mp4"), 320, 180, seconds)
}

/// Uploads a clip as a channel item (one 180p rung, 1 s segments); returns its id.
pub fn upload_item(server: &Server, name: &str, seconds: f64) -> String {
    upload_ok(
        server,
        &item_clip(name, seconds),
        &[("heights", "180"), ("segment_seconds", "1")],
    )
}

/// A server whose `main` channel holds these clips (name, seconds), in this order, ready,
/// listed and in rotation (the last one playing now or next). Returns the server and the
/// video ids.
pub fn channel_server(items: &[(&str, f64)]) -> (Server, Vec<String>) {
    channel_server_with(Options::default(), items)
}

/// [`channel_server`] with more `reel serve` options.
pub fn channel_server_with(options: Options, items: &[(&str, f64)]) -> (Server, Vec<String>) {
    let server = Server::start(options);
    let mut ids = Vec::new();
    // One at a time, so that upload order (the channel's order) is the order given.
    for (name, seconds) in items {
        let id = upload_item(&server, name, *seconds);
        wait_ready(&server, &id);
        ids.push(id);
    }
    wait_listed(&server, ids.len());
    // In rotation: the last item joins after the part of the schedule already fixed.
    if let Some(last) = ids.last().filter(|_| ids.len() > 1) {
        wait_for("the last item to be in rotation", Duration::from_secs(40), || {
            let v = channel(&server);
            (v["now"]["video"] == last.as_str() || v["next"]["video"] == last.as_str()).then_some(())
        });
    }
    (server, ids)
}

/// The channel object of `main`.
pub fn channel(server: &Server) -> Value {
    let res = server.get("/api/channels/main");
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// Waits until `main` lists `n` items (the hub follows the catalog every second).
pub fn wait_listed(server: &Server, n: usize) -> Value {
    wait_for(
        &format!("main to list {n} items"),
        Duration::from_secs(20),
        || {
            let v = channel(server);
            (v["items"].as_array().map(Vec::len) == Some(n) && !v["now"].is_null()).then_some(v)
        },
    )
}

/// Waits until `id` is the item after the one playing now (a new item joins after the
/// part of the schedule already fixed: `schedule::FIXED_AHEAD_MS`); returns the channel.
pub fn wait_next(server: &Server, id: &str) -> Value {
    wait_for(
        &format!("{id} to play next on main"),
        Duration::from_secs(40),
        || {
            let v = channel(server);
            (v["next"]["video"] == id).then_some(v)
        },
    )
}

/// A server whose `main` holds a 320x180 item (alpha, 180p) and a 640x360 one (bravo,
/// 360p), 3 s each with 1 s segments, waiting until bravo plays next: a boundary where the
/// picture size and the SPS/PPS change comes within 3 s. Returns the ids and the channel.
pub fn two_sizes_channel() -> (Server, String, String, Value) {
    let server = Server::new();
    let alpha = upload_item(&server, "alpha", 3.0);
    wait_ready(&server, &alpha);
    let bravo = upload_ok(
        &server,
        &clip("bravo-360p-3s.mp4", 640, 360, 3.0),
        &[("heights", "360"), ("segment_seconds", "1")],
    );
    wait_ready(&server, &bravo);
    wait_listed(&server, 2);
    let view = wait_next(&server, &bravo);
    (server, alpha, bravo, view)
}

/// `(video id, started_at_ms)` of a slot (`now` or `next`).
pub fn slot(v: &Value) -> (String, u64) {
    (
        v["video"].as_str().expect("a video item").to_string(),
        v["started_at_ms"].as_u64().expect("started_at_ms"),
    )
}

/// Milliseconds of an item's slot, as the schedule rounds them.
pub fn duration_ms(v: &Value) -> u64 {
    (v["duration"].as_f64().unwrap() * 1000.0).round() as u64
}

/// What the channel object `view` says plays at instant `t_ms`, by walking its item list
/// from its `now` (valid while the list does not change).
pub fn expected_at(view: &Value, t_ms: u64) -> (String, u64) {
    let items = view["items"].as_array().unwrap();
    let now = &view["now"];
    let mut index = now["index"].as_u64().unwrap() as usize;
    let mut started = now["started_at_ms"].as_u64().unwrap();
    assert!(t_ms >= started, "{t_ms} is before the view's now");
    loop {
        let d = duration_ms(&items[index]);
        if t_ms < started + d {
            return (items[index]["video"].as_str().unwrap().to_string(), started);
        }
        started += d;
        index = (index + 1) % items.len();
    }
}

/// An SSE client of `main` whose events are stamped with their arrival.
pub struct Watcher {
    stream: EventStream,
}

impl Watcher {
    pub fn open(server: &Server) -> Watcher {
        let stream = EventStream::open(server.addr, "/api/channels/main/events");
        assert_eq!(stream.status, 200);
        assert!(stream
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("text/event-stream")));
        Watcher { stream }
    }

    /// The next event and when it arrived.
    pub fn next(&mut self) -> (Event, Instant, u64) {
        let e = self.stream.next_event().expect("the stream stays open");
        (e, Instant::now(), unix_ms())
    }

    /// The next `update` event (skipping ticks).
    pub fn next_update(&mut self) -> (Event, Instant, u64) {
        loop {
            let got = self.next();
            if got.0.name == "update" {
                return got;
            }
            assert_eq!(got.0.name, "tick");
        }
    }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Whether VLC is installed (`cvlc --version` cannot tell: VLC refuses to run as root).
pub fn have_vlc() -> bool {
    Command::new("sh")
        .args(["-c", "command -v cvlc"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// VLC (`cvlc`, its oldrc interface) plays `url` for `secs`, then prints its statistics
/// (decoded, displayed and lost frames). VLC refuses to run as root: then as `nobody`.
fn vlc_stats(url: &str, secs: f64) -> String {
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let runner = if as_root { "runuser -u nobody -- " } else { "" };
    let script = format!(
        "( sleep {secs:.1}; echo stats; sleep 0.5; echo quit ) | timeout {} {runner}cvlc -I oldrc \
         --rc-fake-tty --vout=dummy --aout=dummy --no-video-title-show --no-drop-late-frames --no-skip-frames '{url}'",
        secs as u64 + 15
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("cvlc runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(video decoded, frames displayed, frames lost)` from VLC's statistics.
pub fn vlc_counts(stats: &str) -> (u64, u64, u64) {
    let count = |name: &str| -> u64 {
        stats
            .lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("VLC's stats have no {name:?}:\n{stats}"))
    };
    (
        count("video decoded"),
        count("frames displayed"),
        count("frames lost"),
    )
}

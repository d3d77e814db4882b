//! Several instances joined through Redis (`--redis`): two `reel serve` processes on one
//! folder store (`--store file:///...`, each its own `--media`) and one real
//! `redis-server` (`util::redis`). Likes through either add up, both report the same `now`
//! for a channel, also after an upload through the other appends an epoch, and Redis can
//! go away and come back under them.
//!
//! Skipped (with a line saying so) where `redis-server` is not installed.

mod redis_restart;
mod sessions;

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::channel::{expected_at, slot, upload_item};
use crate::util::client::EventStream;
use crate::util::clips::clip;
use crate::util::redis::RedisServer;
use crate::util::s3::S3Server;
use crate::util::*;

/// Two instances on one store and one Redis; the temp dir of the store goes with them.
struct Pair {
    a: Server,
    b: Server,
    _store: tempfile::TempDir,
}

fn pair(redis: &RedisServer) -> Pair {
    pair_with(redis, &[])
}

/// [`pair`] with more options for both.
fn pair_with(redis: &RedisServer, extra: &[&str]) -> Pair {
    let store = tempfile::Builder::new().prefix("reel-store-").tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let options = || {
        let mut args = vec!["--store", &url, "--redis"];
        let redis_url = redis.url();
        args.push(&redis_url);
        args.extend_from_slice(extra);
        Options::args(&args)
    };
    Pair {
        a: Server::start(options()),
        b: Server::start(options()),
        _store: store,
    }
}

fn channel_of(server: &Server) -> Value {
    let res = server.get("/api/channels/main");
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// Waits until both instances list `n` items on `main` and play one of them.
fn wait_both_list(pair: &Pair, n: usize) {
    for server in [&pair.a, &pair.b] {
        wait_for(
            &format!("main to list {n} items on both"),
            Duration::from_secs(30),
            || {
                let v = channel_of(server);
                (v["items"].as_array().map(Vec::len) == Some(n) && !v["now"].is_null()).then_some(())
            },
        );
    }
}

/// Asks both instances for `main` at (nearly) the same moment and asserts they agree on
/// what plays and where: the item and its start, and the position within 50 ms once the
/// moments of the two answers are allowed for. Returns A's view.
fn assert_now_agrees(pair: &Pair) -> Value {
    let a = channel_of(&pair.a);
    let b = channel_of(&pair.b);
    let (t_a, t_b) = (
        a["server_time_ms"].as_u64().unwrap(),
        b["server_time_ms"].as_u64().unwrap(),
    );
    // What A's schedule says plays at B's moment is what B says (a boundary may fall
    // between the two requests).
    assert_eq!(
        expected_at(&a, t_b),
        slot(&b["now"]),
        "A and B disagree on what plays:\nA {a}\nB {b}"
    );
    if a["now"]["started_at_ms"] == b["now"]["started_at_ms"] {
        let pos = |v: &Value| v["now"]["position"].as_f64().unwrap();
        let drift = pos(&b) - pos(&a) - (t_b as f64 - t_a as f64) / 1000.0;
        assert!(drift.abs() <= 0.05, "positions {drift:.3} s apart: A {a}\nB {b}");
    }
    a
}

fn vote(server: &Server, which: &str) -> crate::util::Response {
    server.request("POST", &format!("/api/channels/main/items/0/{which}"), &[], b"")
}

/// `(likes, dislikes)` of item 0 as `server` shows it.
fn counts(server: &Server) -> (u64, u64) {
    let v = channel_of(server);
    let item = &v["items"][0];
    (
        item["likes"].as_u64().unwrap(),
        item["dislikes"].as_u64().unwrap(),
    )
}

#[test]
fn likes_through_two_instances_add_up_and_survive_redis_going_away() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let pair = pair(&redis);
    let id = upload_item(&pair.a, "alpha", 3.0);
    wait_ready(&pair.a, &id);
    wait_both_list(&pair, 1);

    for (server, which) in [
        (&pair.a, "like"),
        (&pair.b, "like"),
        (&pair.a, "like"),
        (&pair.b, "dislike"),
    ] {
        let res = vote(server, which);
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // The answer to a vote carries the sum of every instance's votes.
    assert_eq!(
        vote(&pair.b, "like").json(),
        serde_json::json!({"likes": 4, "dislikes": 1})
    );
    // Each shows the sum within a second (it re-reads the counters).
    for server in [&pair.a, &pair.b] {
        wait_for("the counts to add up", Duration::from_secs(5), || {
            (counts(server) == (4, 1)).then_some(())
        });
    }

    // Redis goes away: the channels play on and agree, the last counts show, and a vote
    // is refused at once with a sentence and a 503.
    redis.stop();
    std::thread::sleep(Duration::from_millis(1500)); // a refresh or more without Redis
    let during = Instant::now();
    while during.elapsed() < Duration::from_secs(4) {
        assert_now_agrees(&pair);
        assert_eq!(counts(&pair.a), (4, 1));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        pair.a.get("/healthz").json(),
        serde_json::json!({"status": "ok", "redis": "away"})
    );
    let live = pair.b.get("/channels/main/live.m3u8");
    assert_eq!(live.status, 200, "{}", live.text());
    let asked = Instant::now();
    let refused = vote(&pair.a, "like");
    assert!(asked.elapsed() < Duration::from_secs(3), "{:?}", asked.elapsed());
    let body = assert_error(&pair.a, &refused, 503, "shared_state_unavailable");
    assert!(refused.header("retry-after").is_some(), "{body}");
    assert!(!refused.text().contains("127.0.0.1"), "{}", refused.text());

    // Redis comes back (with its data): votes count again, without restarting reel.
    redis.restart();
    let res = wait_for("a vote to be counted again", Duration::from_secs(15), || {
        let res = vote(&pair.a, "like");
        (res.status == 200).then_some(res)
    });
    assert_eq!(res.json()["likes"], 5);
    assert_eq!(pair.a.get("/healthz").json()["redis"], "ok");
    wait_for("B to show the new count", Duration::from_secs(5), || {
        (counts(&pair.b) == (5, 1)).then_some(())
    });
    assert_now_agrees(&pair);
}

#[test]
fn channel_now_agrees_on_two_instances_also_after_an_upload_through_the_other() {
    let Some(redis) = RedisServer::start() else { return };
    let pair = pair(&redis);
    for name in ["alpha", "bravo"] {
        let id = upload_item(&pair.a, name, 3.0);
        wait_ready(&pair.a, &id);
    }
    wait_both_list(&pair, 2);
    // Across a few item boundaries.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        assert_now_agrees(&pair);
        std::thread::sleep(Duration::from_millis(250));
    }

    // A catalog change through B: the epoch one of them appends is the one both play.
    let charlie = upload_item(&pair.b, "charlie", 3.0);
    wait_ready(&pair.b, &charlie);
    wait_both_list(&pair, 3);
    let mut played = None;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(40) {
        let a = assert_now_agrees(&pair);
        if a["now"]["video"] == charlie.as_str() {
            played = Some(slot(&a["now"]));
        }
        if played.is_some() && a["now"]["video"] != charlie.as_str() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, started) = played.expect("charlie played on both");
    let in_b = channel_of(&pair.b);
    assert!(in_b["server_time_ms"].as_u64().unwrap() > started);
}

/// Fronts and workers over one bucket and one Redis: an upload through front A (which
/// runs no jobs) is listed by front B within a second and B's `/events` stream its
/// progress as worker W1 transcodes it; W1 is SIGKILLed halfway, W2 takes the job over
/// once its lease has run out, and the video ends ready with a complete ladder.
#[test]
fn a_job_outlives_the_worker_that_dies_running_it() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let Some(s3) = S3Server::start("the cluster jobs test") else {
        return;
    };
    let url = redis.url();
    let front = || s3.serve_options("svc", &["--redis", &url, "--workers", "0"]);
    let worker = || Options {
        worker: true,
        ..s3.serve_options(
            "svc",
            &["--redis", &url, "--workers", "1", "--job-lease-seconds", "3"],
        )
    };
    let a = Server::start(front());
    let b = Server::start(front());
    let mut w1 = Server::start(worker());
    assert_eq!(w1.get("/healthz").status, 200);
    assert_eq!(w1.get("/api/videos").status, 404, "a worker serves no catalog");

    let source = clip("cluster-long.mp4", 960, 540, 16.0);
    let id = upload_ok(&a, &source, &[("segment_seconds", "2")]);
    let listed = Instant::now();
    wait_for("B to list the upload", Duration::from_secs(2), || {
        let list = b.get("/api/videos").json();
        list.as_array()
            .or_else(|| list["videos"].as_array())
            .is_some_and(|l| l.iter().any(|v| v["id"] == id.as_str()))
            .then_some(())
    });
    assert!(
        listed.elapsed() <= Duration::from_millis(1500),
        "{:?}",
        listed.elapsed()
    );

    // B streams the progress W1 makes.
    let mut events = EventStream::open(b.addr, &format!("/api/videos/{id}/events"));
    assert_eq!(events.status, 200);
    let progressed = loop {
        let event = events.next_event().expect("progress before the end");
        assert_ne!(
            event.name, "ready",
            "finished before W1 could be killed: {event:?}"
        );
        if event.data["progress"].as_f64().is_some_and(|p| p > 0.0) {
            break event;
        }
    };
    assert_eq!(progressed.data["status"], "processing");
    drop(events);

    w1.kill();
    let killed = Instant::now();
    let w2 = Server::start(worker());
    let video = wait_ready(&b, &id);
    assert!(w2.log_text().contains("taken over"), "W2 took the job over");
    assert!(
        killed.elapsed() >= Duration::from_secs(3),
        "not before the lease ran out"
    );
    assert_eq!(video, wait_ready(&a, &id), "both fronts show the same video");
    assert!(check_ladder(&b, &video) >= 8);
    mpv_plays(&format!(
        "http://{}{}",
        b.addr,
        video["links"]["master"].as_str().unwrap()
    ));

    // Redis goes away: what exists is served, uploads are refused with 503 and
    // Retry-After, and nothing of the refused upload stays in the bucket.
    redis.stop();
    assert_eq!(a.get(&format!("/api/videos/{id}")).status, 200);
    assert_eq!(b.get(video["links"]["master"].as_str().unwrap()).status, 200);
    let small = clip("cluster-small.mp4", 320, 180, 2.0);
    let refused = upload(&a, &small, &[]);
    let body = assert_error(&a, &refused, 503, "shared_state_unavailable");
    assert!(refused.header("retry-after").is_some(), "{body}");
    let bucket = s3.client();
    assert!(
        bucket.keys("svc/.jobs/").is_empty(),
        "{:?}",
        bucket.keys("svc/.jobs/")
    );

    // It comes back: uploads are taken again and run.
    redis.restart();
    let again = wait_for("an upload to be taken again", Duration::from_secs(15), || {
        let res = upload(&a, &small, &[]);
        (res.status == 202).then_some(res)
    });
    let second = again.json()["id"].as_str().unwrap().to_string();
    // B hears of it (reading the store again once its subscription is back, if it was
    // still reconnecting when A announced it).
    wait_for("B to know the second upload", Duration::from_secs(3), || {
        (b.get(&format!("/api/videos/{second}")).status == 200).then_some(())
    });
    wait_ready(&b, &second);
}

/// A video deleted through one front while a worker transcodes it: the worker stops, and
/// nothing of it stays in the bucket or in any front's list.
#[test]
fn a_delete_through_any_front_stops_the_worker_and_leaves_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(s3) = S3Server::start("the cluster delete test") else {
        return;
    };
    let url = redis.url();
    let front = || s3.serve_options("svc", &["--redis", &url, "--workers", "0"]);
    let a = Server::start(front());
    let b = Server::start(front());
    let w = Server::start(Options {
        worker: true,
        ..s3.serve_options(
            "svc",
            &["--redis", &url, "--workers", "1", "--job-lease-seconds", "3"],
        )
    });
    let source = clip("cluster-long.mp4", 960, 540, 16.0);
    let id = upload_ok(&a, &source, &[("segment_seconds", "2")]);
    wait_for("the worker to make progress", Duration::from_secs(30), || {
        let v = video(&b, &id);
        (v["status"] == "processing" && v["progress"].as_f64().is_some_and(|p| p > 0.0)).then_some(())
    });
    let res = b.request("DELETE", &format!("/api/videos/{id}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    let deleted = Instant::now();
    // A hears of it through Redis, not by reading the store: within the second the
    // issue allows, from B's answer.
    wait_for("A to forget it", Duration::from_secs(1), || {
        let listed = a.get("/api/videos").text().contains(id.as_str());
        (a.get(&format!("/api/videos/{id}")).status == 404 && !listed).then_some(())
    });
    eprintln!("A stopped listing it {:?} after B's 204", deleted.elapsed());
    let bucket = s3.client();
    wait_for("nothing of it in the bucket", Duration::from_secs(10), || {
        let left: Vec<String> = bucket
            .keys("svc/")
            .into_iter()
            .filter(|k| k.contains(id.as_str()))
            .collect();
        left.is_empty().then_some(())
    });
    assert!(
        !w.log_text().contains(&format!("video {id} ready")),
        "the worker stopped"
    );
}

/// A worker stopped gracefully (SIGTERM) mid-transcode gives its job back at once: the
/// other worker runs it without waiting for the lease (30 s here) to run out. Both
/// workers run before the upload, so nothing starts inside the window between progress
/// and the signal; whichever claimed the job is the one stopped.
#[test]
fn a_worker_stopped_gracefully_hands_its_job_back_at_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(s3) = S3Server::start("the cluster SIGTERM test") else {
        return;
    };
    let url = redis.url();
    let a = Server::start(s3.serve_options("svc", &["--redis", &url, "--workers", "0"]));
    let worker = || Options {
        worker: true,
        ..s3.serve_options(
            "svc",
            &["--redis", &url, "--workers", "1", "--job-lease-seconds", "30"],
        )
    };
    let mut workers = [Server::start(worker()), Server::start(worker())];
    let source = clip("cluster-long.mp4", 960, 540, 16.0);
    let id = upload_ok(&a, &source, &[("segment_seconds", "2")]);
    wait_for("a worker to make progress", Duration::from_secs(30), || {
        let v = video(&a, &id);
        (v["status"] == "processing" && v["progress"].as_f64().is_some_and(|p| p > 0.0)).then_some(())
    });
    // The claimer brings the job's source from the bucket, and says so.
    let claimed = format!("video {id}: its source came back from the store");
    let holder = workers
        .iter()
        .position(|w| w.log_text().contains(&claimed))
        .expect("a worker claimed the job");
    let (held, other) = match &mut workers {
        [w1, w2] if holder == 0 => (w1, w2),
        [w1, w2] => (w2, w1),
    };
    assert!(!other.log_text().contains(&claimed), "claimed once");

    let signalled = Instant::now();
    assert!(held.terminate(Duration::from_secs(15)).success());
    let exited = signalled.elapsed();
    wait_for(
        "the other worker to claim the job",
        Duration::from_secs(10),
        || other.log_text().contains(&claimed).then_some(()),
    );
    let handed = signalled.elapsed();
    assert!(
        held.log_text().contains("they run again elsewhere"),
        "{}",
        held.log_text()
    );
    let video = wait_ready(&a, &id);
    wait_for("the other worker to have run it", Duration::from_secs(5), || {
        other
            .log_text()
            .contains(&format!("video {id} ready"))
            .then_some(())
    });
    assert!(!held.log_text().contains(&format!("video {id} ready")));
    assert!(check_ladder(&a, &video) >= 8);
    eprintln!(
        "SIGTERM: the worker exited {exited:?} after the signal, the other had the job {handed:?} after it (lease 30 s)"
    );
}

/// mpv, a player of nobody's making here, plays `url` headless for two seconds (skipped,
/// saying so, where mpv is absent).
fn mpv_plays(url: &str) {
    if !crate::util::clips::have("mpv") {
        eprintln!("skipping the mpv part: mpv is absent (scripts/setup --test installs it)");
        return;
    }
    let out = std::process::Command::new("mpv")
        .args([
            "--no-config",
            "--vo=null",
            "--ao=null",
            "--length=2",
            "--term-status-msg=",
        ])
        .arg(url)
        .output()
        .expect("mpv runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mpv failed on {url}:\n{text}");
    assert!(
        text.contains("Video --vid=1") && text.contains("(End of file)"),
        "mpv did not play {url}:\n{text}"
    );
}

/// One client has 30 votes a minute across the instances, not 30 on each: the limit is
/// counted in Redis (behind a trusted proxy, per forwarded address).
#[test]
fn the_vote_limit_is_one_across_instances() {
    let Some(redis) = RedisServer::start() else { return };
    let pair = pair_with(&redis, &["--trusted-proxy", "127.0.0.1"]);
    let id = upload_item(&pair.a, "alpha", 2.0);
    wait_ready(&pair.a, &id);
    wait_both_list(&pair, 1);
    let vote_as = |server: &Server, client: &str| {
        server
            .request(
                "POST",
                "/api/channels/main/items/0/like",
                &[("X-Forwarded-For", client)],
                b"",
            )
            .status
    };
    // The counters are per Unix minute: start well inside one.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 50_000 {
        std::thread::sleep(Duration::from_millis(60_500 - into_minute as u64));
    }
    for i in 0..30 {
        let server = if i % 3 == 0 { &pair.b } else { &pair.a };
        assert_eq!(vote_as(server, "203.0.113.5"), 200, "vote {i}");
    }
    assert_eq!(vote_as(&pair.a, "203.0.113.5"), 429);
    assert_eq!(vote_as(&pair.b, "203.0.113.5"), 429);
    assert_eq!(vote_as(&pair.b, "203.0.113.6"), 200, "another client");
    wait_for("A to show every counted vote", Duration::from_secs(5), || {
        (counts(&pair.a).0 == 31).then_some(())
    });
}

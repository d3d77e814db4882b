//! Redis stopped and started again under a running service (one bucket on s3s-fs, fronts
//! with `--workers 0`, a `reel worker`): no accepted upload is lost, whether Redis comes
//! back with its data (persistence: `stop` saves, `restart` loads) or without it (the
//! queue, its consumer group and the leases are gone; the instances requeue what the
//! bucket says is unfinished).
//!
//! Skipped (with a line saying so) where `redis-server` or `s3s-fs` is not installed.

use std::time::{Duration, Instant};

use crate::util::clips::clip;
use crate::util::redis::RedisServer;
use crate::util::s3::S3Server;
use crate::util::*;

/// How long a job's lease lasts in these tests (`--job-lease-seconds`).
const LEASE: Duration = Duration::from_secs(3);

/// A front, and a worker with one job thread (so that uploads wait in the queue while it
/// transcodes the first).
struct Service<'a> {
    s3: &'a S3Server,
    url: String,
    front: Server,
    worker: Server,
}

impl<'a> Service<'a> {
    fn start(s3: &'a S3Server, redis: &RedisServer) -> Service<'a> {
        let url = redis.url();
        let front = Server::start(s3.serve_options("svc", &["--redis", &url, "--workers", "0"]));
        let worker = Server::start(Options {
            worker: true,
            ..s3.serve_options(
                "svc",
                &[
                    "--redis",
                    &url,
                    "--workers",
                    "1",
                    "--job-lease-seconds",
                    &LEASE.as_secs().to_string(),
                ],
            )
        });
        Service {
            s3,
            url,
            front,
            worker,
        }
    }

    fn another_front(&self) -> Server {
        Server::start(
            self.s3
                .serve_options("svc", &["--redis", &self.url, "--workers", "0"]),
        )
    }
}

/// Uploads: one long enough to be cut in the middle, then two small ones that wait
/// behind it. Returns their ids, the long one first, once it is being transcoded.
fn uploads_with_one_running(front: &Server) -> Vec<String> {
    let long = clip("restart-long.mp4", 640, 360, 12.0);
    let small = clip("restart-small.mp4", 320, 180, 3.0);
    let first = upload_ok(front, &long, &[("segment_seconds", "2")]);
    let mut ids = vec![first.clone()];
    for _ in 0..2 {
        ids.push(upload_ok(front, &small, &[("segment_seconds", "1")]));
    }
    wait_for("the worker to make progress", Duration::from_secs(60), || {
        let v = video(front, &first);
        (v["status"] == "processing" && v["progress"].as_f64().is_some_and(|p| p > 0.0)).then_some(())
    });
    ids
}

/// An upload of a small clip while Redis stops: accepted (202, then it must end ready)
/// or refused with 503 (then it is not the service's to keep).
fn upload_racing(front: &Server, stop: impl FnOnce()) -> Option<String> {
    let small = clip("restart-racing.mp4", 320, 180, 2.0);
    let res = std::thread::scope(|scope| {
        let uploading = scope.spawn(|| upload(front, &small, &[]));
        std::thread::sleep(Duration::from_millis(30));
        stop();
        uploading.join().unwrap()
    });
    match res.status {
        202 => Some(res.json()["id"].as_str().unwrap().to_string()),
        _ => {
            assert_error(front, &res, 503, "shared_state_unavailable");
            None
        }
    }
}

/// Every accepted upload ends ready with a complete ladder; returns how long the last
/// took from `since`.
fn all_ready(front: &Server, ids: &[String], since: Instant) -> Duration {
    for id in ids {
        let video = wait_ready(front, id);
        assert!(check_ladder(front, &video) >= 2, "{id}");
    }
    since.elapsed()
}

/// Redis with persistence stopped mid-transcode, for longer than a lease, and started
/// again: the running job is taken up again, the queued ones run, an upload accepted
/// right after the restart runs, and a front starting meanwhile leaves the jobs Redis
/// holds to their claimer (it neither fetches their sources nor marks them lost).
#[test]
fn redis_stopped_and_restarted_mid_run_loses_no_accepted_upload() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let Some(s3) = S3Server::start("the redis restart test") else {
        return;
    };
    let service = Service::start(&s3, &redis);
    let mut ids = uploads_with_one_running(&service.front);
    ids.extend(upload_racing(&service.front, || redis.stop()));

    // Down for longer than a lease: the running job loses its lease and stops.
    std::thread::sleep(LEASE + Duration::from_secs(1));
    let refused = upload(&service.front, &clip("restart-small.mp4", 320, 180, 3.0), &[]);
    assert_error(&service.front, &refused, 503, "shared_state_unavailable");
    redis.restart();
    let back = Instant::now();
    let after = wait_for("an upload to be taken again", Duration::from_secs(15), || {
        let res = upload(&service.front, &clip("restart-small.mp4", 320, 180, 3.0), &[]);
        (res.status == 202).then(|| res.json()["id"].as_str().unwrap().to_string())
    });
    ids.push(after);

    // A front starting now, while the worker holds or waits for every job.
    let late = service.another_front();
    let took = all_ready(&service.front, &ids, back);
    eprintln!(
        "redis back with its data: {} accepted uploads ready {took:?} later",
        ids.len()
    );
    for id in &ids {
        wait_ready(&late, id);
    }
    let log = late.log_text();
    assert!(!log.contains("came back from the store"), "{log}");
    assert!(!log.contains("marking it failed"), "{log}");
    assert!(!log.contains("resuming the job"), "{log}");
    no_job_files(&s3);
}

/// Redis without persistence killed mid-transcode and started again empty: the stream,
/// its group, the leases and the set of live jobs are gone. The instances notice (the
/// group's epoch changed), wait a lease (the old holder has stopped by then) and requeue
/// what the bucket says is queued or processing: every accepted upload ends ready.
#[test]
fn redis_coming_back_empty_loses_no_accepted_upload() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let Some(s3) = S3Server::start("the empty redis test") else {
        return;
    };
    let service = Service::start(&s3, &redis);
    let mut ids = uploads_with_one_running(&service.front);
    ids.extend(upload_racing(&service.front, || redis.kill()));
    std::thread::sleep(Duration::from_millis(500));
    redis.restart_empty();
    let back = Instant::now();
    assert_eq!(redis.command("EXISTS reel:jobs:queue").unwrap(), ":0");

    let requeued = wait_for("the jobs to be queued again", Duration::from_secs(20), || {
        let log = service.worker.log_text() + &service.front.log_text();
        log.contains("queued again (redis had lost its job)")
            .then(|| back.elapsed())
    });
    assert!(requeued >= LEASE, "not before a lease: {requeued:?}");
    let took = all_ready(&service.front, &ids, back);
    eprintln!(
        "redis back empty: jobs requeued {requeued:?} later, {} accepted uploads ready {took:?} later",
        ids.len()
    );
    no_job_files(&s3);
    // Queued once each: nothing left in the queue, nothing live.
    wait_for("the queue to be empty", Duration::from_secs(5), || {
        (redis.command("SCARD reel:jobs:live").unwrap() == ":0").then_some(())
    });
}

/// Every job's files are removed from the bucket once it ended.
fn no_job_files(s3: &S3Server) {
    let bucket = s3.client();
    wait_for("the job files to be removed", Duration::from_secs(5), || {
        bucket.keys("svc/.jobs/").is_empty().then_some(())
    });
}

//! [`Jobs`] over a real redis-server (`redis_link::test_server`) and a folder store: what
//! its job threads and its start do with jobs that Redis holds. Skipped (saying so) where
//! `redis-server` is not installed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::coordination::{CatalogChange, Claim, Coordination, Refused, Ticket, Unreachable};
use super::spec::JobSpec;
use super::{Jobs, RedisCoordination};
use crate::catalog::layout::{new_id, Layout};
use crate::catalog::store::Store;
use crate::catalog::video::{Status, Video};
use crate::engine::Limits;
use crate::hls::SegmentFormat;
use crate::redis_link::test_server::TestRedis;
use crate::redis_link::RedisLink;
use crate::storage::MediaStore;

const LEASE: Duration = Duration::from_secs(30);

fn coordination(server: &TestRedis) -> RedisCoordination {
    RedisCoordination::new(RedisLink::connect(&server.url(), Some("t")).unwrap(), LEASE, 8)
}

fn spec() -> JobSpec {
    JobSpec::example("clip")
}

/// A ticket as another instance submits it (its lock file in a folder of its own).
fn ticket(id: &str) -> Ticket {
    let dir = tempfile::tempdir().unwrap();
    Ticket {
        id: id.into(),
        spec: spec(),
        dir_lock: std::fs::File::create(dir.path().join("lock")).unwrap(),
    }
}

/// A folder store whose catalog holds a video in each of `statuses` (their manifests
/// written before the catalog is read, as another instance left them); their ids.
fn store_with(root: &std::path::Path, statuses: &[Status]) -> (Arc<Store>, Vec<String>) {
    let media = MediaStore::folder(root).unwrap();
    let mut ids = Vec::new();
    for status in statuses {
        let id = new_id();
        let mut video = Video::new(&id, "clip", 1, 4.0, SegmentFormat::Fmp4);
        video.status = *status;
        video.write_manifest(&media, &id).unwrap();
        ids.push(id);
    }
    let store = Store::load(Layout::create(root).unwrap(), media).unwrap();
    (Arc::new(store), ids)
}

fn status_in_store(store: &Store, id: &str) -> Status {
    Video::read_manifest(store.media(), id).unwrap().unwrap().status
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A claimed job whose video's manifest already says ready (or failed) ended while Redis
/// could not hear of it: its claimer ends it without running it again (which here, with
/// no source, would have marked the ready video failed).
#[test]
fn a_claimed_job_whose_video_already_ended_is_finished_not_run_again() {
    let Some(server) = TestRedis::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let (store, ids) = store_with(root.path(), &[Status::Ready, Status::Failed]);
    for id in &ids {
        std::fs::create_dir_all(store.layout().job_dir(id)).unwrap();
        spec().write(&store.layout().job_dir(id)).unwrap();
    }
    let other = coordination(&server);
    let jobs = Jobs::new(
        store.clone(),
        Arc::new(coordination(&server)),
        1,
        Limits::default(),
    );
    for id in &ids {
        other.submit(ticket(id)).unwrap();
    }
    wait_until("both jobs to end", Duration::from_secs(10), || {
        ids.iter().all(|id| !other.has_job(id))
    });
    jobs.shutdown(Duration::from_secs(5));
    assert_eq!(status_in_store(&store, &ids[0]), Status::Ready);
    assert_eq!(status_in_store(&store, &ids[1]), Status::Failed);
    let stats = jobs.stats();
    assert_eq!(
        (
            stats.ready.load(Ordering::SeqCst),
            stats.failed.load(Ordering::SeqCst)
        ),
        (0, 0),
        "not run"
    );
    for id in &ids {
        assert!(
            !store.layout().job_dir(id).exists(),
            "its job directory is removed"
        );
    }
}

/// At start, a queued video without a job directory here whose job Redis holds (a worker
/// runs it; its files are where that worker got them) is left to its claimer: not
/// resumed, not queued again, not marked lost.
#[test]
fn at_start_a_video_whose_job_redis_holds_is_left_to_its_claimer() {
    let Some(server) = TestRedis::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let (store, ids) = store_with(root.path(), &[Status::Queued, Status::Processing]);
    let worker = coordination(&server);
    for id in &ids {
        worker.submit(ticket(id)).unwrap();
    }
    let held = worker.claim(Duration::from_secs(2)).unwrap();
    let front = Jobs::new(
        store.clone(),
        Arc::new(coordination(&server)),
        0,
        Limits::default(),
    );
    front.resume_interrupted().join().unwrap();
    for (id, status) in ids.iter().zip([Status::Queued, Status::Processing]) {
        assert_eq!(store.status(id), Some(status), "{id}");
        assert_eq!(status_in_store(&store, id), status, "{id}");
    }
    assert_eq!(front.stats().resumed.load(Ordering::SeqCst), 0);
    // Still one job each: the held one stays its claimer's, the other is claimed once.
    assert_eq!(held.lease.renew(), Ok(()));
    let next = worker.claim(Duration::from_secs(2)).unwrap();
    assert_ne!(next.id, held.id);
    assert!(
        worker.claim(Duration::from_millis(400)).is_none(),
        "not queued twice"
    );
}

/// The coordination over Redis, with a slow hand-over of each claim to the job thread
/// (as over a slow link): the claim is in Redis, pending under this instance's name,
/// well before the job thread has it.
struct SlowHandOver {
    redis: RedisCoordination,
    delay: Duration,
}

impl Coordination for SlowHandOver {
    fn submit(&self, ticket: Ticket) -> Result<(), Refused> {
        self.redis.submit(ticket)
    }
    fn claim(&self, wait: Duration) -> Option<Claim> {
        let claim = self.redis.claim(wait);
        if claim.is_some() {
            std::thread::sleep(self.delay);
        }
        claim
    }
    fn cancel(&self, id: &str) {
        self.redis.cancel(id)
    }
    fn cancelled(&self, id: &str) -> bool {
        self.redis.cancelled(id)
    }
    fn has_job(&self, id: &str) -> bool {
        self.redis.has_job(id)
    }
    fn queued(&self) -> usize {
        self.redis.queued()
    }
    fn is_full(&self) -> bool {
        self.redis.is_full()
    }
    fn announce(&self, change: &CatalogChange) {
        self.redis.announce(change)
    }
    fn changes(&self, wait: Duration) -> Vec<CatalogChange> {
        self.redis.changes(wait)
    }
    fn spans_machines(&self) -> bool {
        true
    }
    fn requeue(&self, id: &str, spec: &JobSpec) -> Result<bool, Unreachable> {
        self.redis.requeue(id, spec)
    }
}

/// How many entries of the queue are pending (claimed), as Redis says.
fn pending(server: &TestRedis) -> i64 {
    let link = RedisLink::connect(&server.url(), Some("t")).unwrap();
    let (key, mut con) = (link.key(&["jobs", "queue"]), link.connection());
    let summary: redis::Value = link
        .block_on(async move {
            redis::cmd("XPENDING")
                .arg(key)
                .arg("reel-workers")
                .query_async(&mut con)
                .await
        })
        .unwrap();
    match summary {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

/// A shutdown while a claim is on its way to a job thread waits for it and gives it
/// back: another worker gets the job at once, not a lease (30 s) later.
#[test]
fn a_shutdown_gives_back_a_claim_on_its_way_in() {
    let Some(server) = TestRedis::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let (store, _) = store_with(root.path(), &[]);
    let slow = SlowHandOver {
        redis: coordination(&server),
        delay: Duration::from_millis(1500),
    };
    let jobs = Jobs::new(store, Arc::new(slow), 1, Limits::default());
    let other = coordination(&server);
    let id = new_id();
    other.submit(ticket(&id)).unwrap();
    wait_until("the job to be claimed", Duration::from_secs(5), || {
        pending(&server) == 1
    });
    let stopping = Instant::now();
    jobs.shutdown(Duration::from_secs(10));
    let took = stopping.elapsed();
    let again = other
        .claim(Duration::from_millis(300))
        .expect("given back at once");
    assert_eq!(again.id, id);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

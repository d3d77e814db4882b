//! [`RedisCoordination`]: the [`Coordination`] of instances joined through Redis
//! (`--redis`). Any instance with workers runs any instance's jobs; a worker that dies
//! loses its jobs to the others once their lease runs out.
//!
//! ```text
//! submit ─► script: SADD jobs:live id, and if new: XADD jobs:queue * id ID spec JSON
//! claim  ─► XAUTOCLAIM jobs:queue reel-workers ME lease 0-0 COUNT 1   (takeover of an
//!           │   (again from its cursor: each looks  entry idle longer than a lease)
//!           │    at 10 pending entries)
//!           └ else XREADGROUP GROUP reel-workers ME COUNT 1 STREAMS jobs:queue >
//!           (polled every 200 ms: a BLOCK would hold up the instance's one connection)
//! renew  ─► script: XPENDING of the entry names ME ? XCLAIM .. 0 entry JUSTID : lost
//! finish ─► script, if still ME's: XACK, XDEL; Done: SREM jobs:live, jobs:cancelled;
//!                                  Again: XADD the same fields anew (claimed at once)
//! cancel ─► script: SADD jobs:cancelled id (if live); PUBLISH events {"cancel"}
//! announce ─► PUBLISH events {"created"|"changed"|"deleted", from: ME}
//! group  ─► script: XGROUP CREATE (unless it exists); a group made anew gets a new
//!           jobs:epoch. Read again every second: an epoch that changed (or a group that
//!           is gone) means Redis came back without its data; the instance then requeues,
//!           once a lease has passed, what the store says is unfinished (`requeue`)
//! changes ◄─ the "reel-redis-events" thread: SUBSCRIBE events on a connection of its
//!            own, reconnecting when it is lost; cancels flip the local claim's token
//! ```
//!
//! Keys (under the link's prefix): `jobs:queue` (stream, consumer group `reel-workers`),
//! `jobs:live` (set of submitted, unfinished ids), `jobs:cancelled` (set), `jobs:epoch`
//! (a token made with the group); channel `events`. Needs Redis 6.2 or later
//! (`XAUTOCLAIM`).
//!
//! When Redis is away: `submit` refuses ([`Refused::Unavailable`]: the upload gets 503),
//! claims find nothing, a running job keeps its lease for as long as a lease lasts since
//! its last good renewal, then stops (another worker may have it by then).
//! When it comes back without its data, the first look at the group (a claim's
//! `NOGROUP`, the depth's epoch) makes it anew with a new epoch; a held lease's next
//! renewal finds no entry and is lost; [`Coordination::forgot_jobs`] then tells the
//! instance to requeue, a lease later, what the store says is unfinished.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use redis::Value;
use serde::{Deserialize, Serialize};

use super::coordination::{
    CatalogChange, Claim, Coordination, Ending, Lease, LeaseLost, Refused, Ticket, Unreachable,
};
use super::spec::JobSpec;
use crate::catalog::video::Video;
use crate::engine::CancelToken;
use crate::redis_link::RedisLink;

/// The consumer group every instance's workers read the queue in.
const GROUP: &str = "reel-workers";
/// How often a waiting claim looks at the queue again.
const POLL: Duration = Duration::from_millis(200);
/// How often the queue's depth is read again for `queued` and `is_full`.
const DEPTH_EVERY: Duration = Duration::from_secs(1);
/// The most XAUTOCLAIM calls of one look for a lease run out (each looks at 10 pending
/// entries: jobs running across the service).
const TAKEOVER_SCANS: usize = 100;

/// KEYS: queue, epoch. ARGV: group, a fresh epoch. Makes the group (and the stream)
/// unless it exists; an existing one is no error (which the link would take for Redis
/// being away). A group made now gets a new epoch, so that every instance that knew the
/// old one learns that Redis lost its jobs (restarted without its data). Returns the
/// epoch.
static CREATE_GROUP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local made = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(made) == 'table' and made.err then
  redis.call('SET', KEYS[2], ARGV[2], 'NX')
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return redis.call('GET', KEYS[2])
",
    )
});

/// KEYS: live, queue. ARGV: id, spec. Queues a job unless it is live (queued or claimed)
/// already: two instances resuming or requeueing the same job queue it once. 1: queued.
static SUBMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'spec', ARGV[2])
return 1
",
    )
});

/// KEYS: queue. ARGV: group, entry, consumer. 1: renewed; 0: not ours any more (also
/// when the group is gone: Redis lost it, and the job is requeued from the store).
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if p.err or #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
",
    )
});

/// KEYS: queue, live, cancelled. ARGV: group, entry, consumer, id, again (0|1).
static FINISH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[5] == '1' and #e > 0 then
  redis.call('XADD', KEYS[1], '*', unpack(e[1][2]))
else
  redis.call('SREM', KEYS[2], ARGV[4])
  redis.call('SREM', KEYS[3], ARGV[4])
end
return 1
",
    )
});

/// KEYS: live, cancelled. ARGV: channel, id, message.
static CANCEL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then redis.call('SADD', KEYS[2], ARGV[2]) end
redis.call('PUBLISH', ARGV[1], ARGV[3])
return 1
",
    )
});

/// What goes over the `events` channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    Created { from: String, video: Box<Video> },
    Changed { from: String, video: Box<Video> },
    Deleted { from: String, id: String },
    Cancel { id: String },
}

/// The [`Coordination`] over Redis (see the module docs).
pub struct RedisCoordination {
    shared: Arc<Shared>,
    events: Receiver<CatalogChange>,
}

struct Shared {
    link: Arc<RedisLink>,
    /// This instance's consumer name in the group, and the `from` of its announcements.
    me: String,
    queue_key: String,
    live_key: String,
    cancelled_key: String,
    epoch_key: String,
    channel: String,
    lease: Duration,
    capacity: usize,
    group_ready: AtomicBool,
    /// The group's epoch as this instance last saw it (`None` before the first answer).
    epoch: Mutex<Option<String>>,
    /// Set when Redis lost the jobs (a new epoch): taken by [`Coordination::forgot_jobs`].
    forgot: AtomicBool,
    /// Set when `has_job` could not ask Redis (the start-up resume skipped what it could
    /// not check): the first epoch seen then counts as a loss too.
    unsure: AtomicBool,
    /// The cancel tokens of the jobs claimed here.
    tokens: Mutex<HashMap<String, CancelToken>>,
    /// Ids known cancelled (they stay so).
    cancelled: Mutex<HashSet<String>>,
    /// Waiting jobs across the service, as last read, and when.
    depth: AtomicUsize,
    depth_read: Mutex<Option<Instant>>,
    /// Set when the events subscription came back after a loss: changes were missed.
    missed: AtomicBool,
    /// Set once Redis refused XAUTOCLAIM (older than 6.2, not checked at a start it
    /// missed), so the error is logged once.
    refused_takeover: AtomicBool,
}

impl RedisCoordination {
    /// Joins the queue and events of `link`'s deployment, as a consumer of its own; a job
    /// whose lease is not renewed within `lease` is taken over; `capacity` bounds the
    /// jobs waiting across the service.
    pub fn new(link: Arc<RedisLink>, lease: Duration, capacity: usize) -> RedisCoordination {
        let me = crate::redis_link::instance_name();
        let shared = Arc::new(Shared {
            queue_key: link.key(&["jobs", "queue"]),
            live_key: link.key(&["jobs", "live"]),
            cancelled_key: link.key(&["jobs", "cancelled"]),
            epoch_key: link.key(&["jobs", "epoch"]),
            channel: link.key(&["events"]),
            link,
            me,
            lease,
            capacity,
            group_ready: AtomicBool::new(false),
            epoch: Mutex::new(None),
            forgot: AtomicBool::new(false),
            unsure: AtomicBool::new(false),
            tokens: Mutex::new(HashMap::new()),
            cancelled: Mutex::new(HashSet::new()),
            depth: AtomicUsize::new(0),
            depth_read: Mutex::new(None),
            missed: AtomicBool::new(false),
            refused_takeover: AtomicBool::new(false),
        });
        let (tx, events) = unbounded();
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("reel-redis-events".into())
            .spawn(move || subscribe(weak, tx))
            .expect("spawning the redis events thread");
        RedisCoordination { shared, events }
    }

    /// This instance's consumer name.
    pub fn consumer(&self) -> &str {
        &self.shared.me
    }
}

impl Shared {
    fn query<T: redis::FromRedisValue + Send + 'static>(&self, cmd: redis::Cmd) -> Result<T, String> {
        let mut con = self.link.connection();
        self.link
            .block_on(async move { cmd.query_async::<T>(&mut con).await })
            .map_err(|e| e.to_string())
    }

    fn ensure_group(&self) -> Result<(), String> {
        if self.group_ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (queue, epoch, mut con) = (
            self.queue_key.clone(),
            self.epoch_key.clone(),
            self.link.connection(),
        );
        let fresh = crate::catalog::layout::new_id();
        let epoch = self
            .link
            .block_on(async move {
                CREATE_GROUP
                    .key(queue)
                    .key(epoch)
                    .arg(GROUP)
                    .arg(fresh)
                    .invoke_async::<String>(&mut con)
                    .await
            })
            .map_err(|e| e.to_string())?;
        self.note_epoch(&epoch);
        self.group_ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Compares the group's epoch with the one last seen: another means Redis lost the
    /// jobs (restarted empty), and the instance must requeue the unfinished ones.
    fn note_epoch(&self, epoch: &str) {
        let mut known = self.epoch.lock();
        let lost = match known.as_deref() {
            Some(k) => k != epoch,
            None => self.unsure.load(Ordering::SeqCst),
        };
        if lost {
            log::warn!(
                "redis lost the job queue (restarted without its data?): the unfinished jobs \
                 of the media store are queued again once a lease has passed"
            );
            self.forgot.store(true, Ordering::SeqCst);
        }
        *known = Some(epoch.to_string());
    }

    /// A query that makes the group again when Redis lost it (restarted empty).
    fn group_query(&self, cmd: redis::Cmd) -> Result<Value, String> {
        self.ensure_group()?;
        let got = self.query::<Value>(cmd);
        if let Err(e) = &got {
            self.notice_lost_group(e);
        }
        got
    }

    /// After an error naming a missing group: make it (and compare epochs) at the next
    /// call.
    fn notice_lost_group(&self, error: &str) {
        if error.contains("NOGROUP") {
            self.group_ready.store(false, Ordering::SeqCst);
        }
    }

    /// One look at the queue: an entry idle longer than a lease first (its worker is
    /// gone), else a new one.
    fn try_claim(&self) -> Option<(String, String, Option<JobSpec>)> {
        // XAUTOCLAIM looks at no more than 10 pending entries per COUNT and answers where
        // to go on from: the cursor is followed through every pending entry, or a lease
        // run out behind 10 running jobs would not be taken over while they run.
        let mut start = "0-0".to_string();
        for _ in 0..TAKEOVER_SCANS {
            let mut takeover = redis::cmd("XAUTOCLAIM");
            takeover
                .arg(&self.queue_key)
                .arg(GROUP)
                .arg(&self.me)
                .arg(self.lease.as_millis() as u64)
                .arg(&start)
                .arg("COUNT")
                .arg(1);
            let parts = match self.group_query(takeover) {
                Ok(Value::Array(parts)) => parts,
                Err(e) if e.contains("unknown command") => {
                    if !self.refused_takeover.swap(true, Ordering::Relaxed) {
                        log::error!(
                            "redis at {} refuses XAUTOCLAIM ({e}): it is older than 6.2, and a dead \
                             worker's jobs will never be taken over; upgrade it",
                            self.link.label()
                        );
                    }
                    break;
                }
                _ => break,
            };
            if let Some(Value::Array(entries)) = parts.get(1) {
                if let Some(entry) = entries.first().and_then(parse_entry) {
                    log::info!("job {}: taken over from a worker whose lease ran out", entry.1);
                    return Some(entry);
                }
            }
            match parts.first().and_then(text) {
                Some(next) if next != "0-0" => start = next,
                _ => break,
            }
        }
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(GROUP)
            .arg(&self.me)
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(&self.queue_key)
            .arg(">");
        match self.group_query(read) {
            // [[stream, [[entry, fields]]]]
            Ok(Value::Array(streams)) => {
                let Some(Value::Array(stream)) = streams.into_iter().next() else {
                    return None;
                };
                let Some(Value::Array(entries)) = stream.get(1) else {
                    return None;
                };
                entries.first().and_then(parse_entry)
            }
            Ok(Value::Map(streams)) => {
                let (_, entries) = streams.into_iter().next()?;
                let Value::Array(entries) = entries else {
                    return None;
                };
                entries.first().and_then(parse_entry)
            }
            _ => None,
        }
    }

    fn is_cancelled(&self, id: &str) -> bool {
        if self.cancelled.lock().contains(id) {
            return true;
        }
        let mut cmd = redis::cmd("SISMEMBER");
        cmd.arg(&self.cancelled_key).arg(id);
        let yes = self.query::<bool>(cmd).unwrap_or(false);
        if yes {
            self.cancelled.lock().insert(id.to_string());
        }
        yes
    }

    fn publish(&self, message: &Message) {
        let Ok(json) = serde_json::to_string(message) else {
            return;
        };
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(json);
        if let Err(e) = self.query::<i64>(cmd) {
            log::debug!("publishing a catalog change: {e}");
        }
    }

    /// Reads how many jobs wait (the queue's length less those claimed), at most once
    /// per [`DEPTH_EVERY`].
    fn refresh_depth(&self) {
        {
            let mut read = self.depth_read.lock();
            if read.is_some_and(|t| t.elapsed() < DEPTH_EVERY) {
                return;
            }
            *read = Some(Instant::now());
        }
        if self.ensure_group().is_err() {
            return;
        }
        // The epoch too: every instance (a front that never claims as well) learns within
        // a second that Redis lost the jobs.
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&self.epoch_key);
        pipe.cmd("XLEN").arg(&self.queue_key);
        pipe.cmd("XPENDING").arg(&self.queue_key).arg(GROUP);
        let mut con = self.link.connection();
        let got = self
            .link
            .block_on(async move { pipe.query_async::<(Option<String>, usize, Value)>(&mut con).await });
        match got {
            Ok((epoch, len, summary)) => {
                if epoch.is_none() || epoch != *self.epoch.lock() {
                    self.group_ready.store(false, Ordering::SeqCst);
                    let _ = self.ensure_group();
                }
                let pending = match summary {
                    Value::Array(summary) => match summary.first() {
                        Some(Value::Int(n)) => *n as usize,
                        _ => 0,
                    },
                    _ => 0,
                };
                self.depth.store(len.saturating_sub(pending), Ordering::Relaxed);
            }
            Err(e) => self.notice_lost_group(&e.to_string()),
        }
    }

    /// Queues a job unless it is live already; `Ok(true)` when queued now.
    fn submit_once(&self, id: &str, spec: &JobSpec) -> Result<bool, String> {
        let json = serde_json::to_string(spec).map_err(|e| e.to_string())?;
        self.ensure_group()?;
        let (live, queue, id, mut con) = (
            self.live_key.clone(),
            self.queue_key.clone(),
            id.to_string(),
            self.link.connection(),
        );
        let queued = self
            .link
            .block_on(async move {
                SUBMIT
                    .key(live)
                    .key(queue)
                    .arg(id)
                    .arg(json)
                    .invoke_async::<i64>(&mut con)
                    .await
            })
            .map_err(|e| e.to_string())?;
        if queued == 1 {
            self.depth.fetch_add(1, Ordering::Relaxed);
        }
        Ok(queued == 1)
    }
}

/// `[entry, [field, value, ...]]` → (entry, job id, spec). An entry whose fields are gone
/// (deleted while pending) or unreadable gives `None` for the spec.
fn parse_entry(v: &Value) -> Option<(String, String, Option<JobSpec>)> {
    let Value::Array(parts) = v else { return None };
    let entry = text(parts.first()?)?;
    let mut id = None;
    let mut spec = None;
    if let Some(Value::Array(fields)) = parts.get(1) {
        for pair in fields.chunks(2) {
            match (pair.first().and_then(text).as_deref(), pair.get(1)) {
                (Some("id"), Some(v)) => id = text(v),
                (Some("spec"), Some(v)) => spec = text(v).and_then(|s| serde_json::from_str(&s).ok()),
                _ => {}
            }
        }
    }
    Some((entry, id.unwrap_or_default(), spec))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The events thread: subscribes on a connection of its own, turns messages into changes
/// (and cancels into flipped tokens), reconnects when the connection is lost; ends once
/// the coordination is gone.
fn subscribe(shared: Weak<Shared>, out: Sender<CatalogChange>) {
    let mut lost_logged = false;
    loop {
        let Some((link, channel, me)) = shared
            .upgrade()
            .map(|s| (s.link.clone(), s.channel.clone(), s.me.clone()))
        else {
            return;
        };
        let connected = link.dedicated(Duration::from_secs(1)).and_then(|con| {
            con.set_read_timeout(Some(Duration::from_millis(500)))?;
            Ok(con)
        });
        let mut con = match connected {
            Ok(con) => con,
            Err(e) => {
                if !lost_logged {
                    log::warn!("catalog events from redis: {e}; trying again");
                    lost_logged = true;
                }
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
        };
        drop(link);
        let mut pubsub = con.as_pubsub();
        if pubsub.subscribe(&channel).is_err() {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        if std::mem::take(&mut lost_logged) {
            log::info!("catalog events from redis flow again");
            if let Some(shared) = shared.upgrade() {
                shared.missed.store(true, Ordering::SeqCst);
            }
        }
        loop {
            let message = match pubsub.get_message() {
                Ok(m) => m,
                Err(e) if e.is_timeout() => {
                    if shared.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    log::warn!("catalog events from redis: {e}; reconnecting");
                    lost_logged = true;
                    break;
                }
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Message>(&payload) else {
                log::debug!("an unreadable catalog event: {payload}");
                continue;
            };
            let change = match message {
                Message::Cancel { id } => {
                    if let Some(shared) = shared.upgrade() {
                        if let Some(token) = shared.tokens.lock().get(&id) {
                            token.cancel();
                        }
                    }
                    continue;
                }
                Message::Created { from, .. }
                | Message::Changed { from, .. }
                | Message::Deleted { from, .. }
                    if from == me =>
                {
                    continue;
                }
                Message::Created { video, .. } => CatalogChange::Created(*video),
                Message::Changed { video, .. } => CatalogChange::Changed(*video),
                Message::Deleted { id, .. } => CatalogChange::Deleted { id },
            };
            if out.send(change).is_err() {
                return;
            }
        }
    }
}

impl Coordination for RedisCoordination {
    fn submit(&self, ticket: Ticket) -> Result<(), Refused> {
        if self.is_full() {
            return Err(Refused::Full(Box::new(ticket)));
        }
        // The job's files are where every claimer finds them (a shared folder, or the
        // store): the lock on this machine's copy is not needed any more once queued.
        match self.shared.submit_once(&ticket.id, &ticket.spec) {
            Ok(true) => Ok(()),
            Ok(false) => {
                log::info!("job {} is queued or running already", ticket.id);
                Ok(())
            }
            Err(e) => Err(Refused::Unavailable(Box::new(ticket), e)),
        }
    }

    fn claim(&self, wait: Duration) -> Option<Claim> {
        let shared = &self.shared;
        let deadline = Instant::now() + wait;
        loop {
            if let Some((entry, id, spec)) = shared.try_claim() {
                let lease = RedisLease {
                    shared: shared.clone(),
                    id: id.clone(),
                    entry,
                    last_renewed: Mutex::new(Instant::now()),
                    finished: AtomicBool::new(false),
                };
                match spec {
                    Some(spec) if crate::catalog::layout::is_valid_id(&id) => {
                        let cancel = CancelToken::new();
                        shared.tokens.lock().insert(id.clone(), cancel.clone());
                        if shared.is_cancelled(&id) {
                            cancel.cancel();
                        }
                        return Some(Claim {
                            id,
                            spec,
                            cancel,
                            lease: Box::new(lease),
                        });
                    }
                    _ => {
                        log::warn!("dropping an unreadable job entry {} ({id:?})", lease.entry);
                        lease.finish(Ending::Done);
                        continue;
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::sleep(left.min(POLL));
        }
    }

    fn cancel(&self, id: &str) {
        let shared = &self.shared;
        if let Some(token) = shared.tokens.lock().get(id) {
            token.cancel();
        }
        let Ok(message) = serde_json::to_string(&Message::Cancel { id: id.to_string() }) else {
            return;
        };
        let (live, cancelled, channel, id) = (
            shared.live_key.clone(),
            shared.cancelled_key.clone(),
            shared.channel.clone(),
            id.to_string(),
        );
        let mut con = shared.link.connection();
        let done = shared.link.block_on(async move {
            CANCEL
                .key(live)
                .key(cancelled)
                .arg(channel)
                .arg(id)
                .arg(message)
                .invoke_async::<i64>(&mut con)
                .await
        });
        if let Err(e) = done {
            log::warn!("cancelling a job through redis: {e}");
        }
    }

    fn cancelled(&self, id: &str) -> bool {
        self.shared.is_cancelled(id)
    }

    fn has_job(&self, id: &str) -> bool {
        if self.shared.tokens.lock().contains_key(id) {
            return true;
        }
        let mut cmd = redis::cmd("SISMEMBER");
        cmd.arg(&self.shared.live_key).arg(id);
        // Not knowing, say yes (the job is not submitted twice), and look again once Redis
        // answers (the first epoch seen then requeues what is unfinished).
        self.shared.query::<bool>(cmd).unwrap_or_else(|_| {
            self.shared.unsure.store(true, Ordering::SeqCst);
            true
        })
    }

    fn queued(&self) -> usize {
        self.shared.depth.load(Ordering::Relaxed)
    }

    /// From the depth last read (never waits for Redis: uploads ask on an actix worker).
    fn is_full(&self) -> bool {
        self.queued() >= self.shared.capacity
    }

    fn announce(&self, change: &CatalogChange) {
        let from = self.shared.me.clone();
        let message = match change {
            CatalogChange::Created(v) => Message::Created {
                from,
                video: Box::new(v.clone()),
            },
            CatalogChange::Changed(v) => Message::Changed {
                from,
                video: Box::new(v.clone()),
            },
            CatalogChange::Deleted { id } => Message::Deleted { from, id: id.clone() },
        };
        self.shared.publish(&message);
    }

    fn changes(&self, wait: Duration) -> Vec<CatalogChange> {
        self.shared.refresh_depth();
        let first = match self.events.recv_timeout(wait) {
            Ok(change) => change,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return Vec::new(),
        };
        let mut changes = vec![first];
        changes.extend(self.events.try_iter());
        changes
    }

    fn spans_machines(&self) -> bool {
        true
    }

    fn take_missed(&self) -> bool {
        self.shared.missed.swap(false, Ordering::SeqCst)
    }

    /// A lease: by then every former holder's renewal has failed and it has stopped.
    fn forgot_jobs(&self) -> Option<Duration> {
        self.shared
            .forgot
            .swap(false, Ordering::SeqCst)
            .then_some(self.shared.lease)
    }

    fn requeue(&self, id: &str, spec: &JobSpec) -> Result<bool, Unreachable> {
        self.shared.submit_once(id, spec).map_err(Unreachable)
    }
}

/// A claim's lease: the stream entry, pending under this instance's consumer name.
struct RedisLease {
    shared: Arc<Shared>,
    id: String,
    entry: String,
    /// When Redis last confirmed the lease: without an answer it is kept for a lease's
    /// length from there, no longer.
    last_renewed: Mutex<Instant>,
    finished: AtomicBool,
}

impl RedisLease {
    fn end(&self, again: bool) {
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = &self.shared;
        shared.tokens.lock().remove(&self.id);
        let (queue, live, cancelled) = (
            shared.queue_key.clone(),
            shared.live_key.clone(),
            shared.cancelled_key.clone(),
        );
        let (entry, me, id) = (self.entry.clone(), shared.me.clone(), self.id.clone());
        let mut con = shared.link.connection();
        let done = shared.link.block_on(async move {
            FINISH
                .key(queue)
                .key(live)
                .key(cancelled)
                .arg(GROUP)
                .arg(entry)
                .arg(me)
                .arg(id)
                .arg(if again { "1" } else { "0" })
                .invoke_async::<i64>(&mut con)
                .await
        });
        match done {
            Ok(1) => {}
            Ok(_) => log::info!("job {}: its lease had passed to another worker", self.id),
            // The entry stays pending: taken over once the lease runs out.
            Err(e) => log::warn!("job {}: ending its lease: {e}", self.id),
        }
    }
}

impl Lease for RedisLease {
    fn renew_every(&self) -> Option<Duration> {
        Some((self.shared.lease / 3).max(Duration::from_millis(100)))
    }

    fn renew(&self) -> Result<(), LeaseLost> {
        let shared = &self.shared;
        let (queue, entry, me) = (shared.queue_key.clone(), self.entry.clone(), shared.me.clone());
        let mut con = shared.link.connection();
        let renewed = shared.link.block_on(async move {
            RENEW
                .key(queue)
                .arg(GROUP)
                .arg(entry)
                .arg(me)
                .invoke_async::<i64>(&mut con)
                .await
        });
        match renewed {
            Ok(1) => {
                *self.last_renewed.lock() = Instant::now();
                Ok(())
            }
            Ok(_) => Err(LeaseLost),
            Err(_) if self.last_renewed.lock().elapsed() < shared.lease => Ok(()),
            Err(_) => Err(LeaseLost),
        }
    }

    fn finish(&self, ending: Ending) {
        self.end(ending == Ending::Again);
    }
}

impl Drop for RedisLease {
    /// Dropped unfinished (a job thread that died): back to the queue at once.
    fn drop(&mut self) {
        self.end(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::SegmentFormat;
    use crate::redis_link::test_server::TestRedis;

    fn spec(title: &str) -> JobSpec {
        JobSpec::example(title)
    }

    fn ticket(id: &str) -> Ticket {
        let dir = tempfile::tempdir().unwrap();
        let dir_lock = std::fs::File::create(dir.path().join("lock")).unwrap();
        Ticket {
            id: id.into(),
            spec: spec(id),
            dir_lock,
        }
    }

    fn instance(server: &TestRedis, lease: Duration) -> RedisCoordination {
        let link = RedisLink::connect(&server.url(), Some("t")).unwrap();
        RedisCoordination::new(link, lease, 8)
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn a_job_is_claimed_once_and_finished_for_good() {
        let Some(server) = TestRedis::start() else { return };
        let (a, b) = (
            instance(&server, Duration::from_secs(30)),
            instance(&server, Duration::from_secs(30)),
        );
        a.submit(ticket("job1")).unwrap();
        assert!(a.has_job("job1") && b.has_job("job1"));
        let claim = b.claim(Duration::from_secs(2)).expect("b claims it");
        assert_eq!((claim.id.as_str(), &claim.spec), ("job1", &spec("job1")));
        assert!(!claim.cancel.is_cancelled());
        assert!(a.claim(Duration::from_millis(500)).is_none(), "claimed once");
        assert_eq!(claim.lease.renew(), Ok(()));
        claim.lease.finish(Ending::Done);
        assert!(!a.has_job("job1"));
        assert!(b.claim(Duration::from_millis(300)).is_none(), "off the queue");
    }

    #[test]
    fn a_job_given_back_is_claimed_again_at_once() {
        let Some(server) = TestRedis::start() else { return };
        let (a, b) = (
            instance(&server, Duration::from_secs(30)),
            instance(&server, Duration::from_secs(30)),
        );
        a.submit(ticket("job1")).unwrap();
        let first = a.claim(Duration::from_secs(2)).unwrap();
        first.lease.finish(Ending::Again);
        let second = b.claim(Duration::from_secs(2)).expect("claimed again");
        assert_eq!(second.id, "job1");
        assert!(b.has_job("job1"));
        // A claim dropped unfinished goes back too.
        drop(second);
        assert_eq!(a.claim(Duration::from_secs(2)).unwrap().id, "job1");
    }

    #[test]
    fn a_lease_not_renewed_is_taken_over_and_the_old_holder_loses_it() {
        let Some(server) = TestRedis::start() else { return };
        let lease = Duration::from_millis(700);
        let (a, b) = (instance(&server, lease), instance(&server, lease));
        a.submit(ticket("job1")).unwrap();
        let old = a.claim(Duration::from_secs(2)).unwrap();
        // Renewed in time: nobody takes it.
        for _ in 0..3 {
            std::thread::sleep(lease / 2);
            assert_eq!(old.lease.renew(), Ok(()));
            assert!(b.claim(NOW).is_none(), "a live lease is not taken over");
        }
        std::thread::sleep(lease + Duration::from_millis(200));
        let new = b.claim(Duration::from_secs(2)).expect("taken over");
        assert_eq!(new.id, "job1");
        assert_eq!(old.lease.renew(), Err(LeaseLost));
        // The old holder's ending changes nothing: the job is the new holder's.
        old.lease.finish(Ending::Done);
        assert!(a.has_job("job1"));
        assert_eq!(new.lease.renew(), Ok(()));
        new.lease.finish(Ending::Done);
        assert!(!a.has_job("job1"));
    }

    #[test]
    fn a_lease_run_out_behind_ten_running_jobs_is_taken_over() {
        let Some(server) = TestRedis::start() else { return };
        let lease = Duration::from_millis(700);
        let link = |_| RedisLink::connect(&server.url(), Some("t")).unwrap();
        let [a, b, c] = [0, 1, 2].map(|n| RedisCoordination::new(link(n), lease, 32));
        for n in 0..12 {
            a.submit(ticket(&format!("job{n:02}"))).unwrap();
        }
        // A runs the 11 oldest, B the newest; B dies (renews no more), A renews.
        let running: Vec<Claim> = (0..11)
            .map(|_| a.claim(Duration::from_secs(2)).unwrap())
            .collect();
        let dead = b.claim(Duration::from_secs(2)).unwrap();
        assert_eq!(dead.id, "job11");
        std::thread::sleep(lease + Duration::from_millis(200));
        for claim in &running {
            assert_eq!(claim.lease.renew(), Ok(()));
        }
        let new = c
            .claim(NOW)
            .expect("the newest, behind 11 live leases, taken over");
        assert_eq!(new.id, "job11");
        assert_eq!(dead.lease.renew(), Err(LeaseLost));
    }

    #[test]
    fn cancelling_reaches_queued_and_running_jobs_on_every_instance() {
        let Some(server) = TestRedis::start() else { return };
        let (a, b) = (
            instance(&server, Duration::from_secs(30)),
            instance(&server, Duration::from_secs(30)),
        );
        std::thread::sleep(Duration::from_millis(300)); // the subscribers are listening
        a.submit(ticket("running")).unwrap();
        let running = b.claim(Duration::from_secs(2)).unwrap();
        a.submit(ticket("queued")).unwrap();
        a.cancel("queued");
        assert!(a.cancelled("queued") && b.cancelled("queued"));
        let queued = b.claim(Duration::from_secs(2)).unwrap();
        assert_eq!(queued.id, "queued");
        assert!(queued.cancel.is_cancelled(), "handed over already cancelled");

        assert!(!running.cancel.is_cancelled());
        a.cancel("running");
        let deadline = Instant::now() + Duration::from_secs(2);
        while !running.cancel.is_cancelled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(running.cancel.is_cancelled(), "the runner's token flipped");
        assert!(b.cancelled("running"));
        a.cancel("unknown");
        assert!(!b.cancelled("unknown"));
    }

    #[test]
    fn changes_reach_the_other_instances() {
        let Some(server) = TestRedis::start() else { return };
        let (a, b) = (
            instance(&server, Duration::from_secs(30)),
            instance(&server, Duration::from_secs(30)),
        );
        std::thread::sleep(Duration::from_millis(300));
        let video = Video::new("v1", "clip", 1, 4.0, SegmentFormat::Fmp4);
        a.announce(&CatalogChange::Created(video.clone()));
        a.announce(&CatalogChange::Deleted { id: "v1".into() });
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while got.len() < 2 && Instant::now() < deadline {
            got.extend(b.changes(Duration::from_millis(200)));
        }
        assert_eq!(
            got,
            [
                CatalogChange::Created(video),
                CatalogChange::Deleted { id: "v1".into() }
            ]
        );
        assert!(a.changes(Duration::from_millis(200)).is_empty(), "not our own");
    }

    #[test]
    fn a_lease_without_answers_holds_for_one_lease_then_is_lost() {
        let Some(server) = TestRedis::start() else { return };
        let lease = Duration::from_millis(1500);
        let a = instance(&server, lease);
        a.submit(ticket("job1")).unwrap();
        let claim = a.claim(Duration::from_secs(2)).unwrap();
        assert_eq!(claim.lease.renew(), Ok(()));
        drop(server); // Redis goes away
        assert_eq!(claim.lease.renew(), Ok(()), "within a lease of the last answer");
        std::thread::sleep(lease);
        assert_eq!(
            claim.lease.renew(),
            Err(LeaseLost),
            "another worker may have it by now"
        );
    }

    fn flushall(server: &TestRedis) {
        let link = RedisLink::connect(&server.url(), None).unwrap();
        let mut con = link.connection();
        link.block_on(async move { redis::cmd("FLUSHALL").query_async::<()>(&mut con).await })
            .unwrap();
    }

    #[test]
    fn a_redis_that_lost_its_jobs_is_noticed_everywhere_and_each_job_is_requeued_once() {
        let Some(server) = TestRedis::start() else { return };
        let lease = Duration::from_secs(30);
        let (front, worker) = (instance(&server, lease), instance(&server, lease));
        front.submit(ticket("job1")).unwrap();
        // Submitted again (two instances resuming it at once): queued once.
        front.submit(ticket("job1")).unwrap();
        front.submit(ticket("job2")).unwrap();
        let held = worker.claim(Duration::from_secs(2)).unwrap();
        assert_eq!(held.id, "job1");
        assert!(front.changes(NOW).is_empty());
        assert_eq!(front.forgot_jobs(), None, "nothing lost yet");

        flushall(&server); // what a restart without persistence leaves
        assert_eq!(
            held.lease.renew(),
            Err(LeaseLost),
            "its entry is gone: lost at once"
        );
        assert!(worker.claim(Duration::from_millis(300)).is_none());
        assert_eq!(worker.forgot_jobs(), Some(lease), "a claimer notices");
        assert_eq!(worker.forgot_jobs(), None, "once");
        std::thread::sleep(DEPTH_EVERY);
        front.changes(NOW);
        assert_eq!(
            front.forgot_jobs(),
            Some(lease),
            "a front that never claims notices too"
        );

        // Every instance requeues what the store says is unfinished: each job once.
        assert!(front.requeue("job2", &spec("job2")).unwrap());
        assert!(!worker.requeue("job2", &spec("job2")).unwrap(), "queued already");
        assert!(worker.requeue("job1", &spec("job1")).unwrap());
        let mut claimed: Vec<String> = [
            worker.claim(Duration::from_secs(2)),
            front.claim(Duration::from_secs(2)),
        ]
        .into_iter()
        .flatten()
        .map(|c| {
            c.lease.finish(Ending::Done);
            c.id.clone()
        })
        .collect();
        claimed.sort();
        assert_eq!(claimed, ["job1", "job2"]);
        assert!(
            worker.claim(Duration::from_millis(300)).is_none(),
            "queued once each"
        );
        drop(held);
        assert!(!front.has_job("job1") && !front.has_job("job2"));
    }

    #[test]
    fn without_redis_a_job_is_refused_and_the_ticket_comes_back() {
        let link = RedisLink::connect("redis://127.0.0.1:1/0", None).unwrap();
        let queue = RedisCoordination::new(link, Duration::from_secs(30), 8);
        let refused = queue.submit(ticket("job1")).unwrap_err();
        assert!(matches!(&refused, Refused::Unavailable(t, _) if t.id == "job1"));
        assert!(queue.claim(NOW).is_none());
    }
}

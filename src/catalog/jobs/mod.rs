//! [`Jobs`]: from an accepted upload to a ready (or failed) video, across restarts and
//! across the instances of one service.
//!
//! ```text
//! accept ── probe, plan ──► .jobs/{id}/{source.ext, job.json} ──► {id}/manifest.json (queued)
//!   (admission.rs)                                                 │ Store + Coordination::submit
//!                                                                  ▼
//!        job thread (worker.rs): claim ── transcode ── on_progress ──► Store (processing) ─► SSE
//!                                                  └─ on_done (completion.rs) ─► ready | failed
//!                                                                       | queued again (shutdown)
//!        start (resume.rs): queued/processing videos whose job survives ─► submit again
//!        Redis came back empty (requeue.rs): unfinished videos nobody holds ─► submit again
//!        upkeep thread (sync.rs): other instances' changes ─► Store
//! ```
//!
//! The one seam between instances is [`Coordination`] (coordination.rs): the job queue
//! with its leases and cancels, and the catalog changes each instance announces.
//! [`LocalCoordination`] (local.rs) is the in-process one: a bounded queue, `flock`s and
//! manifest polling for several processes on one folder. What a job needs to run is a
//! [`JobSpec`] (spec.rs); what it keeps meanwhile, on this machine and in a remote store,
//! is job_files.rs.
//!
//! Everything here blocks (probing, renames, engine calls): the HTTP layer calls it from
//! `web::block`, never from an actix worker.
//!
//! Restart safety: a job's source and description stay in `.jobs/{id}/` until it ends, so
//! [`Jobs::resume_interrupted`] can run again whatever a crash (or SIGKILL) interrupted,
//! and marks failed (with the reason) whatever it cannot. [`Jobs::shutdown`] cancels the
//! running jobs and leaves them queued, so SIGTERM loses nothing either.

mod admission;
mod completion;
pub mod coordination;
mod job_files;
pub mod local;
pub mod redis;
mod requeue;
mod resume;
pub mod spec;
mod sync;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::store::Store;
use super::video::Status;
use crate::engine::{CancelToken, Limits};
pub use admission::{AcceptError, Upload, UploadedSubtitles};
pub use coordination::{CatalogChange, Coordination};
pub use local::LocalCoordination;
pub use redis::RedisCoordination;
pub use spec::{JobSpec, SubtitleFileSpec};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct JobStats {
    pub accepted: AtomicU64,
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    /// Deleted while queued or running.
    pub cancelled: AtomicU64,
    /// Stopped by a shutdown, to run again at the next start.
    pub interrupted: AtomicU64,
    /// Picked up again at start after an unclean stop.
    pub resumed: AtomicU64,
    pub running: AtomicI64,
    rungs: Mutex<BTreeMap<u32, RungTime>>,
}

/// Wall time spent on ladders that included a rung. Rungs encode in parallel, so each
/// rung of a job is charged the job's whole wall time.
#[derive(Debug, Default, Clone, Copy)]
pub struct RungTime {
    pub seconds: f64,
    pub media_seconds: f64,
    pub jobs: u64,
}

impl JobStats {
    pub fn rung_times(&self) -> BTreeMap<u32, RungTime> {
        self.rungs.lock().clone()
    }
}

/// Cheap to clone; every clone drives the same jobs.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    coordination: Arc<dyn Coordination>,
    /// What a source may demand; checked at accept time and again by the engine.
    limits: Limits,
    /// The jobs this instance's job threads are running.
    active: Mutex<HashMap<String, Arc<JobCell>>>,
    /// Videos this instance is deleting: changes from other instances must not bring them
    /// back while their files are being removed.
    deleting: Mutex<HashSet<String>>,
    /// Job threads between asking the coordination for a job and having started it (in
    /// `active`) or given it back: a shutdown waits for them, or a claim that arrives
    /// as the process exits would wait out its lease before another worker got it.
    /// Changed under the `active` lock.
    claiming: AtomicUsize,
    /// Signalled whenever a job leaves `active`, and when a claim in flight settles.
    finished: Condvar,
    shutting_down: AtomicBool,
    stats: JobStats,
}

/// A running job, shared between its callbacks and the catalog.
struct JobCell {
    /// The claim's token: a cancel through any instance, a shutdown, a lost lease.
    cancel: CancelToken,
    /// Set at the first progress report: the engine is writing files.
    started: AtomicBool,
    started_at: Mutex<Option<Instant>>,
    /// Set when the job's lease was lost: another worker runs it now.
    lease_lost: Arc<AtomicBool>,
}

impl JobCell {
    fn new(cancel: CancelToken) -> JobCell {
        JobCell {
            cancel,
            started: AtomicBool::new(false),
            started_at: Mutex::new(None),
            lease_lost: Arc::new(AtomicBool::new(false)),
        }
    }
}

fn coordination_spans(inner: &Inner) -> bool {
    inner.coordination.spans_machines()
}

impl Jobs {
    /// The jobs of this instance: `workers` job threads that run what `coordination`
    /// hands them, within `limits`.
    pub fn new(
        store: Arc<Store>,
        coordination: Arc<dyn Coordination>,
        workers: usize,
        limits: Limits,
    ) -> Jobs {
        let inner = Arc::new(Inner {
            store,
            coordination,
            limits,
            active: Mutex::new(HashMap::new()),
            deleting: Mutex::new(HashSet::new()),
            claiming: AtomicUsize::new(0),
            finished: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            stats: JobStats::default(),
        });
        // Alone, an instance runs its own jobs; joined with others, 0 makes it a front
        // whose jobs run elsewhere.
        let workers = if coordination_spans(&inner) {
            workers
        } else {
            workers.max(1)
        };
        worker::spawn(&inner, workers);
        Jobs { inner }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    pub fn stats(&self) -> &JobStats {
        &self.inner.stats
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.inner.coordination.queued()
    }

    /// Library renditions queued or being prepared (by this process or another).
    pub fn library_jobs_in_progress(&self) -> usize {
        self.inner
            .store
            .count(|v| v.library.is_some() && matches!(v.status, Status::Queued | Status::Processing))
    }

    /// True when a new job would be refused right now (a cheap early answer for uploads).
    pub fn is_full(&self) -> bool {
        self.inner.coordination.is_full()
    }

    /// Deletes a video: forgets it (its SSE streams end), stops its job, removes its files.
    /// False for an unknown id. Blocking.
    pub fn delete(&self, id: &str) -> bool {
        self.inner.deleting.lock().insert(id.to_string());
        let known = self.inner.store.remove(id).is_some();
        if known {
            self.cancel_and_wait(id, Duration::from_secs(10));
            self.inner.store.remove_files(id);
            job_files::forget(&self.inner.store, id);
            self.inner
                .coordination
                .announce(&CatalogChange::Deleted { id: id.to_string() });
            log::info!("video {id} deleted");
        }
        self.inner.deleting.lock().remove(id);
        known
    }

    /// Refuses new uploads from now on (the first step of a graceful stop).
    pub fn stop_accepting(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Cancels a video's job wherever it is queued or running, and waits (up to
    /// `patience`) until a job running here has stopped writing. Call after removing the
    /// video from the store.
    pub fn cancel_and_wait(&self, id: &str, patience: Duration) {
        self.inner.coordination.cancel(id);
        let mut active = self.inner.active.lock();
        let Some(cell) = active.get(id).cloned() else {
            return;
        };
        cell.cancel.cancel();
        if !cell.started.load(Ordering::SeqCst) {
            // Not writing yet: the engine stops before it does.
            return;
        }
        let deadline = Instant::now() + patience;
        while active.contains_key(id) {
            if self.inner.finished.wait_until(&mut active, deadline).timed_out() {
                log::warn!("video {id}: the cancelled job has not stopped yet");
                break;
            }
        }
    }

    /// Stops taking work, cancels every running job and waits (up to `patience`) until
    /// they have recorded themselves as queued again and given their leases back, so that
    /// they run again at once on another instance (or at the next start, with the
    /// in-process coordination). A claim on its way in is given back too. Jobs still
    /// waiting stay queued.
    pub fn shutdown(&self, patience: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let mut active = self.inner.active.lock();
        let settled = |active: &HashMap<String, Arc<JobCell>>| {
            active.is_empty() && self.inner.claiming.load(Ordering::SeqCst) == 0
        };
        if settled(&active) {
            return;
        }
        if !active.is_empty() {
            log::info!(
                "stopping {} job(s); they run again elsewhere or at the next start",
                active.len()
            );
        }
        for cell in active.values() {
            cell.cancel.cancel();
        }
        let deadline = Instant::now() + patience;
        while !settled(&active) {
            if self.inner.finished.wait_until(&mut active, deadline).timed_out() {
                log::warn!(
                    "{} job(s) and {} claim(s) did not settle in time",
                    active.len(),
                    self.inner.claiming.load(Ordering::SeqCst)
                );
                break;
            }
        }
    }
}

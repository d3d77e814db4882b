//! The worker side of [`Jobs`](super::Jobs): job threads that claim jobs from the
//! coordination and run them on the engine, a recorder that turns progress into the
//! catalog, and the keeper that renews a claim's lease while its job runs.
//!
//! ```text
//! job-N thread: claim ─► start: JobCell in `active` ─► engine::pool::run: transcode
//!                 │         LeaseKeeper ── renew every ─► (lost: cancel, write nothing)
//!                 │         ProgressRecorder ◄── on_progress ── Store, manifest, announce
//!                 └──────── Completion ◄────── on_done (completion.rs) ── lease.finish
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use super::completion::Completion;
use super::coordination::{CatalogChange, Claim, Coordination, Ending, Lease};
use super::job_files;
use super::{Inner, JobCell};
use crate::catalog::video::Status;
use crate::engine::pool::{self, BesideFn, Job};
use crate::engine::{CancelToken, LadderState};
use crate::storage::VideoObjects;

/// How long a job thread waits for a job before it looks again (and notices a shutdown).
const CLAIM_WAIT: Duration = Duration::from_secs(1);

/// Starts `count` job threads fed by `inner`'s coordination. They hold `inner` only while
/// they start a job, and end once it is gone or shutting down.
pub(super) fn spawn(inner: &Arc<Inner>, count: usize) {
    let coordination = inner.coordination.clone();
    let inner = Arc::downgrade(inner);
    pool::spawn_workers(count, move || next_job(&*coordination, &inner));
}

fn next_job(coordination: &dyn Coordination, inner: &Weak<Inner>) -> Option<Job> {
    loop {
        // Not a new claim once stopping: the process may end before it could give it back
        // (with Redis, it would then wait for its lease to run out). Counted while in
        // flight, so that a shutdown waits for it to be started or given back.
        let in_flight = ClaimInFlight::enter(inner.upgrade()?)?;
        let claim = coordination.claim(CLAIM_WAIT);
        let inner = in_flight.inner.clone();
        match claim {
            Some(claim) if already_ended(&inner, &claim.id) => {
                // Its job ended but could not say so (Redis was away when it finished): a
                // second transcode would only redo the same ladder.
                log::info!("video {}: its job had already ended; not run again", claim.id);
                job_files::forget(&inner.store, &claim.id);
                claim.lease.finish(Ending::Done);
            }
            Some(claim) => return start(&inner, claim),
            None if inner.shutting_down.load(Ordering::SeqCst) => return None,
            None => {}
        }
    }
}

/// A job thread asking for a job: counted in `Inner::claiming` until dropped (after the
/// claim is started, given back, or did not come).
struct ClaimInFlight {
    inner: Arc<Inner>,
}

impl ClaimInFlight {
    /// `None` once the instance is stopping: no new claim.
    fn enter(inner: Arc<Inner>) -> Option<ClaimInFlight> {
        let active = inner.active.lock();
        if inner.shutting_down.load(Ordering::SeqCst) {
            return None;
        }
        inner.claiming.fetch_add(1, Ordering::SeqCst);
        drop(active);
        Some(ClaimInFlight { inner })
    }
}

impl Drop for ClaimInFlight {
    fn drop(&mut self) {
        let _active = self.inner.active.lock();
        self.inner.claiming.fetch_sub(1, Ordering::SeqCst);
        self.inner.finished.notify_all();
    }
}

/// True when the video's manifest in the store says its job ended (ready or failed): the
/// manifest is stored last, after every object of the ladder.
fn already_ended(inner: &Inner, id: &str) -> bool {
    matches!(
        crate::catalog::video::Video::read_manifest(inner.store.media(), id),
        Ok(Some(v)) if matches!(v.status, Status::Ready | Status::Failed)
    )
}

/// Turns a claim into the engine's job, or gives it back (shutting down: `None`).
fn start(inner: &Arc<Inner>, claim: Claim) -> Option<Job> {
    let Claim {
        id,
        spec,
        cancel,
        lease,
    } = claim;
    let cell = Arc::new(JobCell::new(cancel.clone()));
    {
        // Checked under the lock `shutdown` cancels the running jobs under: a job is
        // either cancelled there or never starts.
        let mut active = inner.active.lock();
        if inner.shutting_down.load(Ordering::SeqCst) {
            drop(active);
            lease.finish(Ending::Again);
            return None;
        }
        active.insert(id.clone(), cell.clone());
    }
    let keeper = LeaseKeeper::start(&id, lease, cancel.clone(), cell.lease_lost.clone());
    let mut progress = ProgressRecorder {
        inner: inner.clone(),
        id: id.clone(),
        cell: cell.clone(),
        last_persist: None,
        segments: 0,
    };
    let mut completion = Completion::new(inner.clone(), id.clone(), cell, keeper);
    let store = &inner.store;
    let media = store.media().clone();
    let input = store.layout().job_dir(&id).join(&spec.source);
    // A job accepted by another instance: its source comes from the store, its video
    // from its manifest when this instance has not heard of it yet.
    if !input.exists() {
        job_files::fetch_from_store(store, &id);
    }
    if !store.contains(&id) {
        if let Ok(Some(video)) = crate::catalog::video::Video::read_manifest(&media, &id) {
            store.adopt(crate::catalog::video::Video {
                id: id.clone(),
                ..video
            });
        }
    }
    // With a remote store the source goes there too while the job runs, then its
    // `job.json` (whose presence says the source is whole), so that the job does not
    // depend on this machine's disk alone: a process on a fresh disk resumes it.
    let beside: Option<BesideFn> = media.folder_root().is_none().then(|| {
        let (media, input, spec, id) = (media.clone(), input.clone(), spec.clone(), id.clone());
        Box::new(move || job_files::copy_to_store(&media, &id, &spec, &input)) as BesideFn
    });
    Some(Job {
        input,
        out: VideoObjects::new(media, &id),
        beside,
        options: spec.options(&inner.limits, &store.layout().job_dir(&id)),
        cancel,
        on_progress: Box::new(move |state| progress.record(state)),
        on_done: Box::new(move |result| completion.fire(result)),
    })
}

/// Renews a claim's lease while its job runs (on a thread of its own, so a transcode that
/// reports nothing for a while keeps it); a lost lease cancels the job and says so.
pub(super) struct LeaseKeeper {
    lease: Arc<dyn Lease>,
    /// Dropped to stop the renewing thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LeaseKeeper {
    pub(super) fn start(
        id: &str,
        lease: Box<dyn Lease>,
        cancel: CancelToken,
        lost: Arc<AtomicBool>,
    ) -> LeaseKeeper {
        let lease: Arc<dyn Lease> = Arc::from(lease);
        let Some(every) = lease.renew_every() else {
            return LeaseKeeper {
                lease,
                stop: None,
                thread: None,
            };
        };
        let (stop, stopped) = bounded::<()>(0);
        let (renewed, id) = (lease.clone(), id.to_string());
        let thread = std::thread::Builder::new()
            .name("job-lease".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Err(e) = renewed.renew() {
                        log::warn!("video {id}: {e}; stopping here");
                        lost.store(true, Ordering::SeqCst);
                        // Stop without removing what the new holder writes.
                        cancel.abandon();
                        return;
                    }
                }
            })
            .expect("spawning a job's lease thread");
        LeaseKeeper {
            lease,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop_renewing(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops renewing, then ends the lease.
    pub(super) fn finish(mut self, ending: Ending) {
        self.stop_renewing();
        self.lease.finish(ending);
    }

    /// Stops renewing a lease that was lost: it is not ours to end.
    pub(super) fn abandon(mut self) {
        self.stop_renewing();
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.stop_renewing();
    }
}

/// A job's `on_progress`: updates the store on every report (SSE sees each), and writes
/// (and announces) the manifest when a segment lands, the status changes or a second has
/// passed.
struct ProgressRecorder {
    inner: Arc<Inner>,
    id: String,
    cell: Arc<JobCell>,
    last_persist: Option<Instant>,
    segments: usize,
}

impl ProgressRecorder {
    fn record(&mut self, state: &LadderState) {
        if self.cell.lease_lost.load(Ordering::SeqCst) {
            return; // another worker's job now
        }
        if !self.cell.started.swap(true, Ordering::SeqCst) {
            self.inner.stats.running.fetch_add(1, Ordering::Relaxed);
            *self.cell.started_at.lock() = Some(Instant::now());
        }
        let Some(video) = self.inner.store.update(&self.id, |v| {
            v.apply(state);
            v.status = Status::Processing;
        }) else {
            return; // deleted; the job is being cancelled
        };
        let segments: usize = state.renditions.iter().map(|r| r.segments.len()).sum();
        let due = self
            .last_persist
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if segments != self.segments || due {
            self.segments = segments;
            self.last_persist = Some(Instant::now());
            self.inner.store.persist(&video);
            self.inner.coordination.announce(&CatalogChange::Changed(video));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::jobs::coordination::LeaseLost;
    use parking_lot::Mutex;

    /// A lease that renews `good` times, then is lost; it records what happened to it.
    struct FakeLease {
        good: Mutex<usize>,
        renewals: Mutex<usize>,
        finished: Mutex<Vec<Ending>>,
    }

    impl Lease for Arc<FakeLease> {
        fn renew_every(&self) -> Option<Duration> {
            Some(Duration::from_millis(10))
        }
        fn renew(&self) -> Result<(), LeaseLost> {
            *self.renewals.lock() += 1;
            let mut good = self.good.lock();
            if *good == 0 {
                return Err(LeaseLost);
            }
            *good -= 1;
            Ok(())
        }
        fn finish(&self, ending: Ending) {
            self.finished.lock().push(ending);
        }
    }

    fn fake(good: usize) -> Arc<FakeLease> {
        Arc::new(FakeLease {
            good: Mutex::new(good),
            renewals: Mutex::new(0),
            finished: Mutex::new(Vec::new()),
        })
    }

    #[test]
    fn the_keeper_renews_until_the_job_ends_then_finishes_the_lease() {
        let lease = fake(usize::MAX);
        let (cancel, lost) = (CancelToken::new(), Arc::new(AtomicBool::new(false)));
        let keeper = LeaseKeeper::start("a", Box::new(lease.clone()), cancel.clone(), lost.clone());
        std::thread::sleep(Duration::from_millis(100));
        keeper.finish(Ending::Done);
        let renewals = *lease.renewals.lock();
        assert!(renewals >= 3, "renewed {renewals} times in 100 ms");
        assert_eq!(*lease.finished.lock(), [Ending::Done]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(*lease.renewals.lock(), renewals, "no renewal after the end");
        assert!(!cancel.is_cancelled() && !lost.load(Ordering::SeqCst));
    }

    #[test]
    fn a_lost_lease_cancels_the_job_and_is_not_finished_by_it() {
        let lease = fake(2);
        let (cancel, lost) = (CancelToken::new(), Arc::new(AtomicBool::new(false)));
        let keeper = LeaseKeeper::start("a", Box::new(lease.clone()), cancel.clone(), lost.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cancel.is_cancelled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(cancel.is_cancelled() && lost.load(Ordering::SeqCst));
        assert!(cancel.keeps_output(), "the new holder's objects stay");
        assert_eq!(*lease.renewals.lock(), 3, "two good renewals, then the lost one");
        keeper.abandon();
        assert!(lease.finished.lock().is_empty());
    }

    #[test]
    fn a_lease_without_renewals_gets_no_thread() {
        struct Flock(Mutex<Vec<Ending>>);
        impl Lease for Arc<Flock> {
            fn renew_every(&self) -> Option<Duration> {
                None
            }
            fn renew(&self) -> Result<(), LeaseLost> {
                panic!("a flock is never renewed")
            }
            fn finish(&self, ending: Ending) {
                self.0.lock().push(ending);
            }
        }
        let flock = Arc::new(Flock(Mutex::new(Vec::new())));
        let keeper = LeaseKeeper::start(
            "a",
            Box::new(flock.clone()),
            CancelToken::new(),
            Arc::new(AtomicBool::new(false)),
        );
        assert!(keeper.thread.is_none());
        keeper.finish(Ending::Again);
        assert_eq!(*flock.0.lock(), [Ending::Again]);
    }
}

//! Requeueing after the coordination forgot its jobs (a Redis restarted without its
//! data: the queue, the leases and the live set are gone, while the media store still
//! says which videos are queued or processing). Every instance does it; the coordination
//! queues each job once ([`Coordination::requeue`](super::Coordination::requeue) skips a
//! live one), and a job that ended meanwhile is finished by its claimer without running
//! (worker.rs).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::job_files;
use super::Jobs;
use crate::catalog::video::{Status, Video};

/// How often the waiting thread looks whether the instance is stopping.
const NAP: Duration = Duration::from_millis(200);

impl Jobs {
    /// After `wait` (every former holder of a lease has stopped by then), queues again
    /// every video the media store says is queued or processing and that nobody holds,
    /// on a thread of its own.
    pub(super) fn requeue_forgotten(&self, wait: Duration) {
        let jobs = self.clone();
        let spawned = std::thread::Builder::new().name("requeue".into()).spawn(move || {
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if jobs.inner.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(NAP.min(until.saturating_duration_since(Instant::now())));
            }
            jobs.requeue_unfinished();
        });
        if let Err(e) = spawned {
            log::error!("cannot requeue the jobs redis lost: {e}");
        }
    }

    /// The scan itself: the store's word (each manifest read again), not this instance's
    /// memory, decides what is unfinished.
    fn requeue_unfinished(&self) {
        let store = &self.inner.store;
        let mut queued = 0;
        for id in store.ids_with_status(&[Status::Queued, Status::Processing]) {
            let unfinished = matches!(
                Video::read_manifest(store.media(), &id),
                Ok(Some(v)) if matches!(v.status, Status::Queued | Status::Processing)
            );
            if !unfinished {
                continue;
            }
            let spec = match job_files::read_spec(store, &id) {
                Ok(Some(spec)) => spec,
                Ok(None) => {
                    log::warn!("video {id} is unfinished but its job is not in the store; left as it is");
                    continue;
                }
                Err(e) => {
                    log::warn!("video {id}: cannot read its job from the store: {e}");
                    continue;
                }
            };
            match self.inner.coordination.requeue(&id, &spec) {
                Ok(true) => {
                    queued += 1;
                    log::info!("video {id}: queued again (redis had lost its job)");
                }
                Ok(false) => {}
                Err(e) => log::warn!("video {id}: {e}"),
            }
        }
        log::info!("requeued {queued} job(s) redis had lost");
    }
}

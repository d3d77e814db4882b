//! A job's ending: [`Completion`] writes what the engine's result means for the video
//! (ready, failed, queued again, or nothing at all for a deleted one), cleans up what the
//! job kept, and ends its lease.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::coordination::{CatalogChange, Ending};
use super::job_files;
use super::worker::LeaseKeeper;
use super::{Inner, JobCell};
use crate::catalog::video::Status;
use crate::engine::{EngineError, LadderState};

/// A job's `on_done`. Also fires (as a failure) when the job is dropped without ending,
/// e.g. a job thread panicked, so no video is left processing forever.
pub(super) struct Completion {
    inner: Arc<Inner>,
    id: String,
    cell: Arc<JobCell>,
    keeper: Option<LeaseKeeper>,
}

impl Completion {
    pub(super) fn new(inner: Arc<Inner>, id: String, cell: Arc<JobCell>, keeper: LeaseKeeper) -> Completion {
        Completion {
            inner,
            id,
            cell,
            keeper: Some(keeper),
        }
    }

    pub(super) fn fire(&mut self, result: Result<LadderState, EngineError>) {
        let Some(keeper) = self.keeper.take() else {
            return; // fired already
        };
        let elapsed = self.cell.started_at.lock().map(|t| t.elapsed());
        let inner = &self.inner;
        let id = self.id.as_str();
        if self.cell.started.load(Ordering::SeqCst) {
            inner.stats.running.fetch_sub(1, Ordering::Relaxed);
        }
        if self.cell.lease_lost.load(Ordering::SeqCst) {
            // Another worker runs the job now: its video, its files, its ending.
            log::warn!("video {id}: another worker took the job over");
            keeper.abandon();
        } else {
            keeper.finish(self.write_ending(result, elapsed));
        }
        inner.active.lock().remove(id);
        inner.finished.notify_all();
    }

    /// Records the result in the catalog and says whether the job is done or must run
    /// again.
    fn write_ending(
        &self,
        result: Result<LadderState, EngineError>,
        elapsed: Option<std::time::Duration>,
    ) -> Ending {
        let inner = &self.inner;
        let id = self.id.as_str();
        let store = &inner.store;
        let announce = |video: Option<crate::catalog::Video>| {
            if let Some(video) = video {
                inner.coordination.announce(&CatalogChange::Changed(video));
            }
        };
        // Deleted here (gone from the store), or through another instance (which cancelled
        // the job: the ending is not ours to write any more).
        if store.contains(id) && inner.coordination.cancelled(id) {
            log::info!("video {id} was deleted through another reel process");
            store.remove(id);
        }
        let deleted = !store.contains(id);
        match result {
            _ if deleted => {
                inner.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                store.remove_files(id);
                job_files::forget(store, id);
                Ending::Done
            }
            Ok(state) => {
                if let Some(elapsed) = elapsed {
                    let mut rungs = inner.stats.rungs.lock();
                    for r in &state.renditions {
                        let t = rungs.entry(r.height).or_default();
                        t.seconds += elapsed.as_secs_f64();
                        t.media_seconds += state.duration;
                        t.jobs += 1;
                    }
                }
                // Counted first: whoever sees the video ready sees it in the metrics too.
                inner.stats.ready.fetch_add(1, Ordering::Relaxed);
                announce(store.update_and_persist(id, |v| {
                    v.apply(&state);
                    v.status = Status::Ready;
                    v.progress = 1.0;
                    v.error = None;
                }));
                job_files::forget(store, id);
                log::info!("video {id} ready ({:.1}s of media)", state.duration);
                Ending::Done
            }
            Err(EngineError::Cancelled) if inner.shutting_down.load(Ordering::SeqCst) => {
                announce(store.update_and_persist(id, |v| {
                    *v = v.requeued();
                }));
                inner.stats.interrupted.fetch_add(1, Ordering::Relaxed);
                Ending::Again
            }
            Err(e) => {
                log::warn!("video {id} failed: {e}");
                inner.stats.failed.fetch_add(1, Ordering::Relaxed);
                announce(store.update_and_persist(id, |v| {
                    v.status = Status::Failed;
                    v.error = Some(e.to_string());
                    v.renditions.clear();
                }));
                job_files::forget(store, id);
                Ending::Done
            }
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.keeper.is_some() {
            self.fire(Err(EngineError::Internal(
                "the transcode stopped unexpectedly".into(),
            )));
        }
    }
}

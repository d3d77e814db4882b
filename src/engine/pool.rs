//! The engine's worker pool: a fixed number of job threads fed by a bounded queue.
//!
//! Submitting never blocks: a full queue is an answer ([`PoolFull`]), which the HTTP
//! layer turns into 503 with `Retry-After`. Each job runs [`transcode`] on a pool thread
//! (which itself starts the decode and rung threads), reports progress through the job's
//! callback and ends with exactly one call of its `on_done`.

use std::path::PathBuf;
use std::thread;

use crossbeam_channel::{bounded, Sender, TrySendError};

use super::error::EngineError;
use super::transcode::{transcode, CancelToken, LadderState, TranscodeOptions};
use crate::storage::VideoObjects;

pub type ProgressFn = Box<dyn FnMut(&LadderState) + Send>;
pub type DoneFn = Box<dyn FnOnce(Result<LadderState, EngineError>) + Send>;
/// Work beside the transcode that must end before `on_done` (copying the source to a
/// remote store, so another machine could take the job over).
pub type BesideFn = Box<dyn FnOnce() + Send>;

/// One transcode to run.
pub struct Job {
    pub input: PathBuf,
    pub out: VideoObjects,
    pub beside: Option<BesideFn>,
    pub options: TranscodeOptions,
    pub cancel: CancelToken,
    pub on_progress: ProgressFn,
    pub on_done: DoneFn,
}

/// The queue was full; try again later.
#[derive(Debug, thiserror::Error)]
#[error("the transcode queue is full")]
pub struct PoolFull(pub Box<Job>);

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("input", &self.input)
            .field("out", &self.out.prefix())
            .finish()
    }
}

pub struct Pool {
    queue: Sender<Job>,
    capacity: usize,
}

impl Pool {
    /// Starts `workers` job threads behind a queue of `capacity` waiting jobs.
    pub fn new(workers: usize, capacity: usize) -> Pool {
        super::init();
        let (tx, rx) = bounded::<Job>(capacity);
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("job-{i}"))
                .spawn(move || {
                    for mut job in rx.iter() {
                        let result = if job.cancel.is_cancelled() {
                            Err(EngineError::Cancelled)
                        } else {
                            let beside = job.beside.take().map(|work| {
                                thread::Builder::new()
                                    .name("job-beside".into())
                                    .spawn(work)
                                    .expect("spawning a job's side thread")
                            });
                            let result = transcode(
                                &job.input,
                                &job.out,
                                &job.options,
                                &mut *job.on_progress,
                                &job.cancel,
                            );
                            if let Some(h) = beside {
                                let _ = h.join();
                            }
                            result
                        };
                        (job.on_done)(result);
                    }
                })
                .expect("spawning a job thread");
        }
        Pool { queue: tx, capacity }
    }

    /// Queues a job, or gives it back when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), PoolFull> {
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(j) | TrySendError::Disconnected(j) => PoolFull(Box::new(j)),
        })
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

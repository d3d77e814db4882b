//! [`Coordination`]: what the instances of one service agree on about jobs and the
//! catalog, behind one trait, so that the rest of [`Jobs`](super::Jobs) reads the same
//! whether it runs alone, beside other processes on one folder, or across machines.
//!
//! ```text
//!  instance A (accepts an upload)        coordination               instance B (a worker)
//!  ──────────────────────────────        ────────────               ─────────────────────
//!  admit ── submit(Ticket) ─────────────► queue ◄──────────────────── claim(wait) ─► Claim
//!                                         leases ◄─────────────────── lease.renew() every
//!  DELETE ── cancel(id) ────────────────► cancels ──────────────────► claim.cancel flips
//!                                         leases ◄─────────────────── lease.finish(Done|Again)
//!  announce(Created|Changed|Deleted) ───► events ──────────────────► changes(wait) ─► Store
//! ```
//!
//! Implementations: [`LocalCoordination`](super::local::LocalCoordination) (one process,
//! and several processes on one folder store: an in-memory queue, `flock`s, manifest
//! polling), and [`RedisCoordination`](super::redis::RedisCoordination) (instances joined
//! through Redis: a Stream with a consumer group and `XAUTOCLAIM` for the queue and its
//! leases, pub/sub for the events). This page is their contract.

use std::fs::File;
use std::time::Duration;

use super::spec::JobSpec;
use crate::catalog::Video;
use crate::engine::CancelToken;

/// How the instances of one service share their jobs and announce catalog changes.
///
/// # The contract
///
/// Every implementation must keep these, whatever the instances do (crash, SIGKILL, lose
/// their network for a while):
///
/// * **A job is never lost.** Once [`submit`](Self::submit) returned `Ok`, the job is
///   claimed (by some worker of some instance) until one of its leases is finished with
///   [`Ending::Done`], or the job is cancelled. A lease finished with [`Ending::Again`], or
///   dropped without being finished, or one that expired, puts the job back: another
///   claim gets it.
/// * **A job is never run twice at once.** At any instant at most one [`Claim`] of a job
///   is live. A lease that is not renewed within the lease duration (`--job-lease-seconds`,
///   default 30) expires: another worker may then claim the job, and the former holder's
///   next [`Lease::renew`] fails with [`LeaseLost`] (its runner then stops at once and
///   writes nothing more: no manifest, no objects).
/// * **Cancelling reaches the job wherever it is.** After [`cancel`](Self::cancel)`(id)`,
///   a queued job is handed to its next claimer with its [`Claim::cancel`] token already
///   flipped (the claimer ends it as cancelled, without transcoding), and a running one
///   has the token of its claim flipped on the instance that runs it, soon (within a
///   second or two). [`cancelled`](Self::cancelled) then answers `true` on every
///   instance, so that no runner writes the ending of a deleted video.
/// * **Changes reach every instance.** A change passed to [`announce`](Self::announce)
///   is returned by [`changes`](Self::changes) on every other instance that keeps calling
///   it, within a second or two, in the order it was announced (per video). An instance
///   that was not running reads the catalog from the media store at start instead.
///   Whether the announcing instance sees its own changes again is up to the
///   implementation (they are idempotent: a change carries the whole video).
///
/// Everything here may block (disk, network): call from plain threads or `web::block`.
pub trait Coordination: Send + Sync + 'static {
    /// Queues a job. `Err` gives the ticket back, untouched: the job is not queued.
    fn submit(&self, ticket: Ticket) -> Result<(), Refused>;

    /// Waits up to `wait` for a job to run on this instance. The claim's lease is live
    /// until it is finished (or, for a lease that expires, until it is not renewed in
    /// time).
    fn claim(&self, wait: Duration) -> Option<Claim>;

    /// Cancels job `id` wherever it is queued or running (a `DELETE`, through any
    /// instance). Unknown ids are ignored.
    fn cancel(&self, id: &str);

    /// True once job `id` has been cancelled through any instance: its runner must not
    /// write its ending (the video is being, or has been, deleted).
    fn cancelled(&self, id: &str) -> bool;

    /// True while job `id` is queued or claimed somewhere: submitted and not finished.
    /// An instance resuming the jobs an earlier run left behind skips those.
    fn has_job(&self, id: &str) -> bool;

    /// Jobs waiting for a worker (across the service, where the implementation knows).
    fn queued(&self) -> usize;

    /// True when [`submit`](Self::submit) would refuse a job for lack of room right now.
    fn is_full(&self) -> bool;

    /// Tells the other instances that a video was created, changed or deleted here.
    fn announce(&self, change: &CatalogChange);

    /// The changes other instances announced since the last call, waiting up to `wait`
    /// for the first one (and returning at once when some are there). Called in a loop by
    /// one thread of the instance (`catalog-upkeep`).
    fn changes(&self, wait: Duration) -> Vec<CatalogChange>;

    /// True when the instances sharing the jobs may run on other machines: a job's
    /// source must then be in the media store (a bucket) before it is submitted, and a
    /// claimer brings it from there.
    fn spans_machines(&self) -> bool {
        false
    }

    /// True (once) when changes may have been missed since the last call (a subscription
    /// that was lost and is back): the instance then reads the catalog from the media
    /// store again.
    fn take_missed(&self) -> bool {
        false
    }

    /// `Some(wait)` (once) when the coordination lost its record of the jobs (a Redis that
    /// came back without its data): the jobs the media store says are unfinished must be
    /// [`requeue`](Self::requeue)d, after `wait` (a lease: every former holder has
    /// stopped by then), or they would stay queued forever.
    fn forgot_jobs(&self) -> Option<Duration> {
        None
    }

    /// Queues job `id` again unless it is queued or claimed somewhere (`Ok(false)`): safe
    /// on every instance at once. Only after [`forgot_jobs`](Self::forgot_jobs).
    fn requeue(&self, _id: &str, _spec: &JobSpec) -> Result<bool, Unreachable> {
        Ok(false)
    }
}

/// The coordination could not be reached; the sentence says why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the job queue is unavailable: {0}")]
pub struct Unreachable(pub String);

/// A job to queue: what it is, and the `flock` on its working directory.
#[derive(Debug)]
pub struct Ticket {
    pub id: String,
    pub spec: JobSpec,
    /// The lock on `.jobs/{id}/lock` in this machine's working folder, taken before the
    /// job directory got its name: while it is held, another process on the same working
    /// folder leaves the directory alone (it neither resumes nor removes it). Held until
    /// the job ends here, or until the implementation no longer needs the local copy.
    pub dir_lock: File,
}

/// Why [`Coordination::submit`] refused a job; each gives the ticket back.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The queue is full: try again later (an upload gets 503 with `Retry-After`).
    #[error("the transcode queue is full")]
    Full(Box<Ticket>),
    /// The coordination cannot be reached (a network service that is away).
    #[error("the job queue is unavailable: {1}")]
    Unavailable(Box<Ticket>, String),
}

impl Refused {
    pub fn into_ticket(self) -> Ticket {
        match self {
            Refused::Full(t) | Refused::Unavailable(t, _) => *t,
        }
    }
}

/// A job handed to a worker of this instance.
pub struct Claim {
    pub id: String,
    pub spec: JobSpec,
    /// Flipped when the job is cancelled (through any instance) or its lease is lost: the
    /// transcode stops at its next check.
    pub cancel: CancelToken,
    pub lease: Box<dyn Lease>,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The right to run one claimed job, for as long as it is renewed.
pub trait Lease: Send + Sync {
    /// How often the runner must call [`renew`](Self::renew) while the job runs (a third
    /// of the lease duration, say); `None` for a lease that lasts as long as the process
    /// holding it (a `flock`).
    fn renew_every(&self) -> Option<Duration>;

    /// Extends the lease. `Err` when another worker has taken the job over meanwhile: the
    /// runner must stop and write nothing more.
    fn renew(&self) -> Result<(), LeaseLost>;

    /// Ends the lease (called once): [`Ending::Done`] takes the job off the queue for
    /// good, [`Ending::Again`] gives it back to be claimed again.
    fn finish(&self, ending: Ending);
}

/// How a claimed job leaves its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ended: ready, failed or cancelled. Off the queue.
    Done,
    /// It was stopped by a shutdown and must run again (on any instance).
    Again,
}

/// The lease of a claim expired and another worker took the job over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the job's lease was lost: another worker took it over")]
pub struct LeaseLost;

/// A change of the catalog, as one instance tells the others.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogChange {
    /// A video appeared (an upload accepted, a library file taken on).
    Created(Video),
    /// A video's record changed (progress, ready, failed, queued again).
    Changed(Video),
    /// A video was deleted.
    Deleted { id: String },
}

impl CatalogChange {
    pub fn id(&self) -> &str {
        match self {
            CatalogChange::Created(v) | CatalogChange::Changed(v) => &v.id,
            CatalogChange::Deleted { id } => id,
        }
    }
}

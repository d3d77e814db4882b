//! [`LocalCoordination`]: the in-process [`Coordination`]. One process runs the jobs it
//! accepted; several processes on one folder store keep out of each other's way through
//! the folder itself.
//!
//! ```text
//! submit ─► bounded queue (--queue) ─► claim ─► LocalLease: holds .jobs/{id}/lock (flock)
//!                                                          until finish (or process death)
//! cancel(id) ─► the job's CancelToken, queued or running here
//! cancelled(id) ⇔ .jobs/{id}/ is gone (a DELETE through any process removes it)
//! changes(wait) ─► sleep, then stat every {id}/manifest.json, read the ones that changed
//!                   (but those of jobs queued or running here: this process writes them)
//! ```
//!
//! How the contract of [`Coordination`] holds on a folder:
//!
//! * never run twice at once: a job directory is `flock`ed by the process that made it (or
//!   resumed it) until the job ends there; another process never takes a locked job;
//! * never lost: a job's directory (source and `job.json`) and its queued/processing
//!   manifest stay until it ends; the lease is the `flock`, which the kernel releases
//!   when the process dies, and the next process to start on the folder resumes the job
//!   (`Jobs::resume_interrupted`): there is no live takeover, and no lease to renew;
//! * changes: the manifest a process writes *is* its announcement; the others poll the
//!   folder. A bucket store without another coordination shares no changes: each process
//!   sees the others' videos at its next start.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use super::coordination::{CatalogChange, Claim, Coordination, Ending, Lease, LeaseLost, Refused, Ticket};
use crate::catalog::layout::{self, Layout};
use crate::catalog::video::{Video, MANIFEST};
use crate::engine::CancelToken;
use crate::storage::MediaStore;

/// The in-process [`Coordination`] (see the module docs).
pub struct LocalCoordination {
    shared: Arc<Shared>,
}

struct Shared {
    layout: Layout,
    media: MediaStore,
    queue: Sender<Ticket>,
    waiting: Receiver<Ticket>,
    capacity: usize,
    /// The cancel tokens of the jobs queued or claimed in this process.
    tokens: Mutex<HashMap<String, CancelToken>>,
    /// Each video directory of a folder store as last seen: the modification time of its
    /// `manifest.json` when last read (`None`: not read yet).
    seen: Mutex<HashMap<String, Option<SystemTime>>>,
}

impl LocalCoordination {
    /// A queue of `capacity` waiting jobs, over the working folder `layout` and the media
    /// store `media` (whose folder, if it is one, is polled for the other processes'
    /// changes). The videos there now are the starting point: [`changes`] reports what
    /// changes from here on.
    ///
    /// [`changes`]: Coordination::changes
    pub fn new(layout: Layout, media: MediaStore, capacity: usize) -> LocalCoordination {
        let (queue, waiting) = bounded(capacity);
        let seen = video_dirs(&media).into_iter().map(|id| (id, None)).collect();
        LocalCoordination {
            shared: Arc::new(Shared {
                layout,
                media,
                queue,
                waiting,
                capacity,
                tokens: Mutex::new(HashMap::new()),
                seen: Mutex::new(seen),
            }),
        }
    }
}

impl Coordination for LocalCoordination {
    fn submit(&self, ticket: Ticket) -> Result<(), Refused> {
        let shared = &self.shared;
        // The token first: a worker may claim the job before `try_send` returns.
        shared.tokens.lock().insert(ticket.id.clone(), CancelToken::new());
        let id = ticket.id.clone();
        shared.queue.try_send(ticket).map_err(|e| {
            shared.tokens.lock().remove(&id);
            match e {
                TrySendError::Full(t) | TrySendError::Disconnected(t) => Refused::Full(Box::new(t)),
            }
        })
    }

    fn claim(&self, wait: Duration) -> Option<Claim> {
        let ticket = match self.shared.waiting.recv_timeout(wait) {
            Ok(ticket) => ticket,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        let cancel = self
            .shared
            .tokens
            .lock()
            .get(&ticket.id)
            .cloned()
            .unwrap_or_default();
        Some(Claim {
            lease: Box::new(LocalLease {
                id: ticket.id.clone(),
                dir_lock: Mutex::new(Some(ticket.dir_lock)),
                shared: self.shared.clone(),
            }),
            id: ticket.id,
            spec: ticket.spec,
            cancel,
        })
    }

    fn cancel(&self, id: &str) {
        if let Some(token) = self.shared.tokens.lock().get(id) {
            token.cancel();
        }
    }

    fn cancelled(&self, id: &str) -> bool {
        !self.shared.layout.job_dir(id).exists()
    }

    fn has_job(&self, id: &str) -> bool {
        self.shared.tokens.lock().contains_key(id)
    }

    fn queued(&self) -> usize {
        self.shared.waiting.len()
    }

    fn is_full(&self) -> bool {
        self.shared.waiting.len() >= self.shared.capacity
    }

    /// The manifest on the folder is the announcement; this only makes sure the poller
    /// follows this process's own videos (so that it notices when another process deletes
    /// one).
    fn announce(&self, change: &CatalogChange) {
        let mut seen = self.shared.seen.lock();
        match change {
            CatalogChange::Created(v) | CatalogChange::Changed(v) => {
                seen.entry(v.id.clone()).or_insert(None);
            }
            CatalogChange::Deleted { id } => {
                seen.remove(id);
            }
        }
    }

    fn changes(&self, wait: Duration) -> Vec<CatalogChange> {
        std::thread::sleep(wait);
        self.shared.poll()
    }
}

impl Shared {
    /// Compares the folder with what was seen last time: a stat per video, a read per
    /// manifest that changed.
    fn poll(&self) -> Vec<CatalogChange> {
        let Some(root) = self.media.folder_root() else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        let mut seen = self.seen.lock();
        let mut changes = Vec::new();
        let mut on_disk = HashSet::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !layout::is_valid_id(&id) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            on_disk.insert(id.clone());
            if self.tokens.lock().contains_key(&id) {
                // Queued or running here: this process writes its manifest. Read once the
                // job has ended (its lease finishes after its last write), never halfway.
                continue;
            }
            let manifest = entry.path().join(MANIFEST);
            let Ok(stamp) = std::fs::metadata(&manifest).and_then(|m| m.modified()) else {
                continue; // being created, or not a video directory
            };
            let known = seen.get(&id).copied();
            if known == Some(Some(stamp)) {
                continue;
            }
            let Ok(video) = std::fs::read(&manifest).and_then(|b| Video::from_manifest(&b)) else {
                continue; // being replaced right now: next time
            };
            seen.insert(id.clone(), Some(stamp));
            let video = Video { id, ..video };
            changes.push(match known {
                None => CatalogChange::Created(video),
                Some(_) => CatalogChange::Changed(video),
            });
        }
        let tokens = self.tokens.lock();
        seen.retain(|id, _| {
            if on_disk.contains(id) {
                return true;
            }
            // A job of ours is deleted once its job directory is gone too (the deleting
            // process removes it last): until then, look again next time.
            if tokens.contains_key(id) && self.layout.job_dir(id).exists() {
                return true;
            }
            changes.push(CatalogChange::Deleted { id: id.clone() });
            false
        });
        changes
    }
}

/// The names of the video directories of a folder store (none for a bucket).
fn video_dirs(media: &MediaStore) -> Vec<String> {
    let Some(entries) = media.folder_root().and_then(|root| std::fs::read_dir(root).ok()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| layout::is_valid_id(name))
        .collect()
}

/// A claim's lease in one process: the `flock` on its job directory.
struct LocalLease {
    id: String,
    dir_lock: Mutex<Option<File>>,
    shared: Arc<Shared>,
}

impl LocalLease {
    fn release(&self) {
        if self.dir_lock.lock().take().is_some() {
            self.shared.tokens.lock().remove(&self.id);
        }
    }
}

impl Lease for LocalLease {
    fn renew_every(&self) -> Option<Duration> {
        None
    }

    fn renew(&self) -> Result<(), LeaseLost> {
        Ok(())
    }

    /// Either way the lock goes: a job to run again keeps its directory and its queued
    /// manifest, and the next start resumes it.
    fn finish(&self, _ending: Ending) {
        self.release();
    }
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::jobs::spec::JobSpec;
    use crate::hls::SegmentFormat;

    struct Root {
        _tmp: tempfile::TempDir,
        layout: Layout,
        media: MediaStore,
    }

    fn root() -> Root {
        let tmp = tempfile::tempdir().unwrap();
        Root {
            layout: Layout::create(tmp.path()).unwrap(),
            media: MediaStore::folder(tmp.path()).unwrap(),
            _tmp: tmp,
        }
    }

    impl Root {
        fn queue(&self, capacity: usize) -> LocalCoordination {
            LocalCoordination::new(self.layout.clone(), self.media.clone(), capacity)
        }
    }

    fn spec() -> JobSpec {
        JobSpec::example("clip")
    }

    /// A job directory, locked as admission leaves it.
    fn ticket(root: &Root, id: &str) -> Ticket {
        let dir = root.layout.job_dir(id);
        std::fs::create_dir_all(&dir).unwrap();
        let dir_lock = layout::try_lock(&dir.join("lock")).unwrap().unwrap();
        Ticket {
            id: id.into(),
            spec: spec(),
            dir_lock,
        }
    }

    fn locked_elsewhere(root: &Root, id: &str) -> bool {
        layout::try_lock(&root.layout.job_dir(id).join("lock"))
            .unwrap()
            .is_none()
    }

    fn write_video(root: &Root, id: &str, title: &str) {
        Video::new(id, title, 1, 4.0, SegmentFormat::Fmp4)
            .write_manifest(&root.media, id)
            .unwrap();
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn jobs_are_claimed_in_order_and_a_full_queue_gives_the_ticket_back() {
        let root = root();
        let queue = root.queue(2);
        queue.submit(ticket(&root, "a")).unwrap();
        queue.submit(ticket(&root, "b")).unwrap();
        assert!(queue.is_full());
        assert_eq!(queue.queued(), 2);
        let refused = queue.submit(ticket(&root, "c")).unwrap_err();
        assert!(matches!(&refused, Refused::Full(t) if t.id == "c"));
        assert!(!queue.has_job("c"), "a refused job is not the queue's");

        let a = queue.claim(NOW).unwrap();
        assert_eq!((a.id.as_str(), &a.spec), ("a", &spec()));
        assert!(!a.cancel.is_cancelled());
        assert_eq!(queue.queued(), 1);
        assert!(!queue.is_full());
        assert_eq!(queue.claim(NOW).unwrap().id, "b");
        assert!(queue.claim(Duration::from_millis(10)).is_none(), "empty");
    }

    #[test]
    fn the_lease_holds_the_job_directory_until_it_ends() {
        let root = root();
        let queue = root.queue(4);
        queue.submit(ticket(&root, "a")).unwrap();
        assert!(queue.has_job("a") && locked_elsewhere(&root, "a"));
        let claim = queue.claim(NOW).unwrap();
        assert_eq!(claim.lease.renew_every(), None, "a flock needs no renewal");
        assert_eq!(claim.lease.renew(), Ok(()));
        assert!(queue.has_job("a") && locked_elsewhere(&root, "a"));
        claim.lease.finish(Ending::Done);
        assert!(!queue.has_job("a") && !locked_elsewhere(&root, "a"));

        // A claim dropped without an ending (a worker thread that died) lets go too.
        queue.submit(ticket(&root, "b")).unwrap();
        drop(queue.claim(NOW).unwrap());
        assert!(!queue.has_job("b") && !locked_elsewhere(&root, "b"));
    }

    #[test]
    fn cancelling_reaches_queued_and_claimed_jobs() {
        let root = root();
        let queue = root.queue(4);
        queue.submit(ticket(&root, "queued")).unwrap();
        queue.submit(ticket(&root, "running")).unwrap();
        queue.cancel("queued");
        queue.cancel("unknown");
        let queued = queue.claim(NOW).unwrap();
        let running = queue.claim(NOW).unwrap();
        assert!(queued.cancel.is_cancelled(), "handed over already cancelled");
        assert!(!running.cancel.is_cancelled());
        queue.cancel("running");
        assert!(running.cancel.is_cancelled());

        // Through another process: the DELETE removes the job directory.
        assert!(!queue.cancelled("running"));
        std::fs::remove_dir_all(root.layout.job_dir("running")).unwrap();
        assert!(queue.cancelled("running"));
    }

    #[test]
    fn changes_report_what_other_processes_did_to_the_folder() {
        let root = root();
        write_video(&root, "before", "old");
        let queue = root.queue(4);
        // Videos present at the start are read once (they may have changed since the
        // catalog was loaded), as changes, not creations.
        let first = queue.changes(NOW);
        assert!(matches!(&first[..], [CatalogChange::Changed(v)] if v.id == "before"));
        assert!(queue.changes(NOW).is_empty(), "nothing changed since");

        write_video(&root, "new", "fresh");
        std::fs::create_dir_all(root.layout.video_dir("no-manifest-yet")).unwrap();
        let created = queue.changes(NOW);
        assert!(
            matches!(&created[..], [CatalogChange::Created(v)] if v.id == "new" && v.title == "fresh"),
            "{created:?}"
        );

        // A rewrite with a later modification time is a change.
        write_video(&root, "new", "renamed");
        let later = SystemTime::now() + Duration::from_secs(5);
        File::options()
            .write(true)
            .open(root.layout.video_dir("new").join(MANIFEST))
            .and_then(|f| f.set_modified(later))
            .unwrap();
        let changed = queue.changes(NOW);
        assert!(
            matches!(&changed[..], [CatalogChange::Changed(v)] if v.title == "renamed"),
            "{changed:?}"
        );

        std::fs::remove_dir_all(root.layout.video_dir("before")).unwrap();
        assert_eq!(
            queue.changes(NOW),
            [CatalogChange::Deleted { id: "before".into() }]
        );
        assert!(queue.changes(NOW).is_empty(), "a deletion is told once");
    }

    #[test]
    fn a_job_of_ours_is_deleted_once_its_job_directory_is_gone_too() {
        let root = root();
        let queue = root.queue(4);
        queue.submit(ticket(&root, "a")).unwrap();
        write_video(&root, "a", "ours");
        // Our own creation, announced before the poller ever read it.
        let video = Video::new("a", "ours", 1, 4.0, SegmentFormat::Fmp4);
        queue.announce(&CatalogChange::Created(video));
        assert!(queue.changes(NOW).is_empty(), "our own job's manifest is ours");
        std::fs::remove_dir_all(root.layout.video_dir("a")).unwrap();
        assert!(queue.changes(NOW).is_empty(), "its job directory is still there");
        std::fs::remove_dir_all(root.layout.job_dir("a")).unwrap();
        assert_eq!(queue.changes(NOW), [CatalogChange::Deleted { id: "a".into() }]);
    }

    #[test]
    fn a_job_of_ours_is_read_once_it_has_ended() {
        let root = root();
        let queue = root.queue(4);
        queue.submit(ticket(&root, "a")).unwrap();
        write_video(&root, "a", "processing");
        let claim = queue.claim(NOW).unwrap();
        assert!(queue.changes(NOW).is_empty(), "running here: not read halfway");
        write_video(&root, "a", "ready");
        claim.lease.finish(Ending::Done);
        let ended = queue.changes(NOW);
        assert!(
            matches!(&ended[..], [CatalogChange::Created(v)] if v.title == "ready"),
            "{ended:?}"
        );
    }
}

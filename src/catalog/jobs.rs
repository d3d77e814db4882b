//! [`Jobs`]: from an accepted upload to a ready (or failed) video, across restarts.
//!
//! ```text
//! accept ── probe, plan ──► .jobs/{id}/{source.ext, job.json} ──► {id}/manifest.json (queued)
//!                                                                  │ Store + Pool::submit
//!        pool thread: transcode ── on_progress ──► Store (processing, segments) ─► SSE
//!                                └─ on_done ─────► ready | failed | queued again (shutdown)
//! ```
//!
//! Everything here blocks (probing, renames, engine calls): the HTTP layer calls it from
//! `web::block`, never from an actix worker.
//!
//! Restart safety: a job's source and description stay in `.jobs/{id}/` until it ends, so
//! [`Jobs::resume_interrupted`] can run again whatever a crash (or SIGKILL) interrupted,
//! and marks failed (with the reason) whatever it cannot. [`Jobs::shutdown`] cancels the
//! running jobs and leaves them queued on disk, so SIGTERM loses nothing either.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use super::layout::{self, new_id};
use super::store::{remove_dir_if_present, Store};
use super::video::{now_ms, LibrarySource, Links, Status, Video, MANIFEST};
use crate::engine::pool::{Job, Pool};
use crate::engine::{self, ladder, CancelToken, EngineError, LadderState, Limits, TranscodeOptions};
use crate::hls::SegmentFormat;
use crate::storage::{Freshness, VideoObjects, JOBS_PREFIX};

/// What a job needs to run (again): stored as `.jobs/{id}/job.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub title: String,
    pub created_at_ms: u64,
    /// Requested rung numbers; `None` for the default ladder.
    pub heights: Option<Vec<u32>>,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
    /// File name of the source inside the job directory (`source.mp4`): the upload, or a
    /// symlink to the library file being prepared.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibrarySource>,
}

impl JobSpec {
    /// The engine's options for this job under the process's `limits` (those of the
    /// process that runs it, which may not be the one that accepted it).
    fn options(&self, limits: &Limits) -> TranscodeOptions {
        TranscodeOptions {
            heights: self.heights.clone(),
            segment_seconds: self.segment_seconds,
            format: self.format,
            limits: limits.clone(),
            ..TranscodeOptions::default()
        }
    }

    fn read(job_dir: &Path) -> std::io::Result<JobSpec> {
        let bytes = std::fs::read(job_dir.join("job.json"))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    fn write(&self, job_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&job_dir.join("job.json"), &json)
    }
}

/// A received upload waiting to be accepted.
pub struct Upload {
    /// The bytes as received, in a temp file on the media volume (removed on drop).
    pub file: tempfile::TempPath,
    /// Extension for the kept source (`mp4`), already sanitised.
    pub extension: String,
    pub title: String,
    pub heights: Option<Vec<u32>>,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
}

/// Why an upload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Not a decodable video (the engine's sentence).
    #[error("{0}")]
    NotAVideo(String),
    /// A field the engine refuses for this source.
    #[error("{field}: {message}")]
    InvalidOption { field: &'static str, message: String },
    /// Over `--max-source-pixels` (the engine's sentence).
    #[error("{0}")]
    TooLarge(String),
    /// Over `--max-duration-seconds` (the engine's sentence).
    #[error("{0}")]
    TooLong(String),
    #[error("the transcode queue is full")]
    QueueFull,
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A library file's rendition that another reel process on the root has taken on.
    #[error("another reel process is preparing this library file")]
    TakenElsewhere,
    /// Disk trouble and the like: logged, not shown.
    #[error("{0}")]
    Internal(String),
}

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

/// Cheap to clone; every clone drives the same pool.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    pool: Pool,
    /// What a source may demand; checked at accept time and again by the engine.
    limits: Limits,
    active: Mutex<HashMap<String, Arc<JobCell>>>,
    /// Videos this process is deleting: [`Jobs::sync_with_disk`] must not adopt them back
    /// while their files are being removed.
    deleting: Mutex<HashSet<String>>,
    /// Modification time of each `manifest.json` when [`Jobs::sync_with_disk`] last read it.
    manifests_seen: Mutex<HashMap<String, std::time::SystemTime>>,
    /// Signalled whenever a job leaves `active`.
    finished: Condvar,
    shutting_down: AtomicBool,
    stats: JobStats,
}

/// Shared between the job's callbacks and the catalog.
#[derive(Default)]
struct JobCell {
    cancel: CancelToken,
    /// Set at the first progress report: the engine is writing files.
    started: AtomicBool,
    /// Cleared when the pool refused the job, so dropping it is not an ending.
    submitted: AtomicBool,
    started_at: Mutex<Option<Instant>>,
    /// The `flock` on the job directory: other processes on the root leave the job alone.
    lock: Mutex<Option<File>>,
}

impl Jobs {
    pub fn new(store: Arc<Store>, workers: usize, queue: usize, limits: Limits) -> Jobs {
        Jobs {
            inner: Arc::new(Inner {
                store,
                pool: Pool::new(workers, queue),
                limits,
                active: Mutex::new(HashMap::new()),
                deleting: Mutex::new(HashSet::new()),
                manifests_seen: Mutex::new(HashMap::new()),
                finished: Condvar::new(),
                shutting_down: AtomicBool::new(false),
                stats: JobStats::default(),
            }),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    pub fn stats(&self) -> &JobStats {
        &self.inner.stats
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.inner.pool.queued()
    }

    /// Library renditions queued or being prepared (by this process or another).
    pub fn library_jobs_in_progress(&self) -> usize {
        self.inner
            .store
            .count(|v| v.library.is_some() && matches!(v.status, Status::Queued | Status::Processing))
    }

    /// True when a new job would be refused right now (a cheap early answer for uploads).
    pub fn is_full(&self) -> bool {
        self.inner.pool.queued() >= self.inner.pool.capacity()
    }

    /// Probes an upload, keeps it as a job's source, records a queued video and submits the
    /// job. Blocking: call from `web::block` or a plain thread.
    pub fn accept(&self, upload: Upload) -> Result<Video, AcceptError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(AcceptError::ShuttingDown);
        }
        let probe = engine::probe_within(&upload.file, &self.inner.limits)
            .map_err(|e| refusal("probing an upload", e))?;
        let spec = JobSpec {
            title: upload.title,
            created_at_ms: now_ms(),
            heights: upload.heights,
            segment_seconds: upload.segment_seconds,
            format: upload.format,
            source: format!("source.{}", upload.extension),
            library: None,
        };
        let file = upload.file;
        self.admit(&new_id(), spec, probe, |path| {
            file.persist(path).map(drop).map_err(|e| e.error)
        })
    }

    /// Queues the preparation of a library file's HLS rendition as video `id` (a function
    /// of the file's path, so every process on the root picks the same). The job's source
    /// is a symlink to the file: nothing is copied. Blocking.
    pub fn prepare_library(
        &self,
        id: &str,
        source: LibrarySource,
        file: &Path,
        title: &str,
    ) -> Result<Video, AcceptError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(AcceptError::ShuttingDown);
        }
        let probe = engine::probe_within(file, &self.inner.limits)
            .map_err(|e| refusal("probing a library file", e))?;
        let extension = file
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("bin")
            .to_ascii_lowercase();
        let spec = JobSpec {
            title: title.to_string(),
            created_at_ms: now_ms(),
            heights: None,
            segment_seconds: TranscodeOptions::default().segment_seconds,
            format: SegmentFormat::Fmp4,
            source: format!("source.{extension}"),
            library: Some(source),
        };
        self.admit(id, spec, probe, |path| std::os::unix::fs::symlink(file, path))
    }

    /// Checks a job's options against its source, keeps the source in a new job directory
    /// (`put_source` places it at the given path), records a queued video and submits the
    /// job.
    fn admit(
        &self,
        id: &str,
        spec: JobSpec,
        probe: engine::Probe,
        put_source: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Result<Video, AcceptError> {
        let limits = &self.inner.limits;
        spec.options(limits)
            .validate()
            .map_err(|e| invalid_option("segment_seconds", e))?;
        ladder::plan_capped(
            probe.video.display_width,
            probe.video.display_height,
            spec.heights.as_deref(),
            limits.max_short_side,
        )
        .map_err(|e| invalid_option("heights", e))?;

        let layout = self.inner.store.layout();
        let job_dir = layout.job_dir(id);
        let media = self.inner.store.media();
        // Made complete under a hidden name, locked, then renamed: another process on the
        // root never sees a half-made job directory, nor one it could take. The rename
        // fails while another process has a job directory of the same id.
        let staging = layout.jobs_dir().join(format!(".new-{id}"));
        if let Err(e) = std::fs::create_dir(&staging) {
            return Err(match e.kind() {
                // Another process is making the same library job right now.
                std::io::ErrorKind::AlreadyExists if spec.library.is_some() => AcceptError::TakenElsewhere,
                _ => AcceptError::Internal(format!("making a job directory: {e}")),
            });
        }
        let keep = || -> std::io::Result<File> {
            let lock = layout::try_lock(&staging.join("lock"))?
                .ok_or_else(|| std::io::Error::other("a new job directory is locked"))?;
            put_source(&staging.join(&spec.source))?;
            spec.write(&staging)?;
            std::fs::rename(&staging, &job_dir)?;
            Ok(lock)
        };
        let lock = match keep() {
            Ok(lock) => lock,
            Err(e) => {
                remove_dir_if_present(&staging);
                if spec.library.is_some() && job_dir.exists() {
                    return Err(AcceptError::TakenElsewhere); // running elsewhere
                }
                return Err(AcceptError::Internal(format!("keeping a job's source: {e}")));
            }
        };
        // A library id is the same in every process: one that finished it (and removed
        // its job directory) before our rename has left its manifest. Checked after the
        // rename, while we hold the only job directory, so no process can slip between.
        if spec.library.is_some() && matches!(Video::read_manifest(media, id), Ok(Some(_))) {
            remove_dir_if_present(&job_dir);
            return Err(AcceptError::TakenElsewhere);
        }
        let mut video = Video::new(
            id,
            &spec.title,
            spec.created_at_ms,
            spec.segment_seconds,
            spec.format,
        );
        video.library = spec.library.clone();
        video.duration = probe.duration;
        video.source = Some(probe);
        if let Err(e) = video.write_manifest(media, id) {
            remove_dir_if_present(&job_dir);
            self.inner.store.remove_files(id);
            return Err(AcceptError::Internal(format!("writing a manifest: {e}")));
        }

        let result = self
            .inner
            .store
            .insert_with(video.clone(), || self.submit(id, &spec, lock));
        if result.is_err() {
            remove_dir_if_present(&job_dir);
            self.inner.store.remove_files(id);
            return Err(AcceptError::QueueFull);
        }
        self.inner.stats.accepted.fetch_add(1, Ordering::Relaxed);
        log::info!("video {id} ({:?}) queued", spec.title);
        Ok(video)
    }

    /// Hands a job to the pool, with the lock on its job directory (held until the job
    /// ends). On refusal the job is forgotten (its callbacks never fire) and the lock given
    /// back.
    fn submit(&self, id: &str, spec: &JobSpec, lock: File) -> Result<(), File> {
        let cell = Arc::new(JobCell::default());
        *cell.lock.lock() = Some(lock);
        cell.submitted.store(true, Ordering::SeqCst);
        self.inner.active.lock().insert(id.to_string(), cell.clone());
        let job = self.job(id, spec, cell.clone());
        match self.inner.pool.submit(job) {
            Ok(()) => Ok(()),
            Err(refused) => {
                cell.submitted.store(false, Ordering::SeqCst);
                self.inner.active.lock().remove(id);
                drop(refused);
                Err(cell.lock.lock().take().expect("the lock was put there above"))
            }
        }
    }

    fn job(&self, id: &str, spec: &JobSpec, cell: Arc<JobCell>) -> Job {
        let layout = self.inner.store.layout();
        let mut progress = ProgressRecorder {
            inner: self.inner.clone(),
            id: id.to_string(),
            cell: cell.clone(),
            last_persist: None,
            segments: 0,
        };
        let mut completion = Completion {
            inner: self.inner.clone(),
            id: id.to_string(),
            cell: cell.clone(),
            fired: false,
        };
        let media = self.inner.store.media().clone();
        let input = layout.job_dir(id).join(&spec.source);
        // With a remote store the source goes there too while the job runs, then its
        // `job.json` (whose presence says the source is whole), so that the job does not
        // depend on this machine's disk alone: a process on a fresh disk resumes it.
        let beside: Option<engine::pool::BesideFn> = media.folder_root().is_none().then(|| {
            let (media, input, spec, id) = (media.clone(), input.clone(), spec.clone(), id.to_string());
            Box::new(move || {
                let dir = format!("{JOBS_PREFIX}/{id}");
                let kept = media
                    .put_file(&format!("{dir}/{}", spec.source), &input, Freshness::Revalidate)
                    .and_then(|()| serde_json::to_vec_pretty(&spec).map_err(std::io::Error::other))
                    .and_then(|json| media.put(&format!("{dir}/job.json"), json, Freshness::Revalidate));
                if let Err(e) = kept {
                    log::warn!("video {id}: could not copy its source to the store: {e}");
                }
            }) as engine::pool::BesideFn
        });
        Job {
            input,
            out: VideoObjects::new(media, id),
            beside,
            options: spec.options(&self.inner.limits),
            cancel: cell.cancel.clone(),
            on_progress: Box::new(move |state| progress.record(state)),
            on_done: Box::new(move |result| completion.fire(result)),
        }
    }

    /// Deletes a video: forgets it (its SSE streams end), stops its job, removes its files.
    /// False for an unknown id. Blocking.
    pub fn delete(&self, id: &str) -> bool {
        self.inner.deleting.lock().insert(id.to_string());
        let known = self.inner.store.remove(id).is_some();
        if known {
            self.cancel_and_wait(id, Duration::from_secs(10));
            self.inner.store.remove_files(id);
            forget_job_files(&self.inner.store, id);
            log::info!("video {id} deleted");
        }
        self.inner.deleting.lock().remove(id);
        known
    }

    /// Brings the catalog in step with what other reel processes on the same media root
    /// did: videos they accepted appear, their jobs' progress and endings show, videos
    /// they deleted go. Videos whose job runs here, or that are being deleted here, are
    /// this process's own business and left alone. Blocking (reads manifests).
    pub fn sync_with_disk(&self) {
        let store = &self.inner.store;
        let layout = store.layout();
        // Only processes sharing a folder store see each other this way.
        let Some(root) = store.media().folder_root() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(root) else {
            return;
        };
        let ours =
            |id: &str| self.inner.active.lock().contains_key(id) || self.inner.deleting.lock().contains(id);
        let mut on_disk = HashSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !layout::is_valid_id(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            on_disk.insert(name.clone());
            if ours(&name) {
                continue;
            }
            // A stat per video; the manifest is read only when it changed since last time
            // (another process wrote it, or this one did after its job ended).
            let Ok(stamp) = std::fs::metadata(entry.path().join("manifest.json")).and_then(|m| m.modified())
            else {
                continue; // being created, or not a video directory
            };
            if self.inner.manifests_seen.lock().get(&name) == Some(&stamp) {
                continue;
            }
            let Ok(mut disk) =
                std::fs::read(entry.path().join(MANIFEST)).and_then(|b| Video::from_manifest(&b))
            else {
                continue; // being replaced right now: next time
            };
            self.inner.manifests_seen.lock().insert(name.clone(), stamp);
            disk.links = Links::for_id(&name);
            disk.id = name.clone();
            match store.get(&name) {
                Some(known) if known == disk => {}
                Some(_) => {
                    store.update(&name, |v| *v = disk);
                }
                None => store.adopt(disk),
            }
        }
        for id in store.ids() {
            if !on_disk.contains(&id) && !ours(&id) {
                store.remove(&id);
            }
        }
        self.inner
            .manifests_seen
            .lock()
            .retain(|id, _| on_disk.contains(id));
        // Our own jobs whose video and job directories another process removed (a DELETE
        // it answered): stop them; their completion cleans up without writing anything.
        let running: Vec<(String, Arc<JobCell>)> = self
            .inner
            .active
            .lock()
            .iter()
            .map(|(id, cell)| (id.clone(), cell.clone()))
            .collect();
        for (id, cell) in running {
            if !on_disk.contains(&id) && !layout.job_dir(&id).exists() && store.remove(&id).is_some() {
                log::info!("video {id} was deleted through another reel process; stopping its job");
                cell.cancel.cancel();
            }
        }
    }

    /// Refuses new uploads from now on (the first step of a graceful stop).
    pub fn stop_accepting(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Cancels a video's job if it has one and waits (up to `patience`) until a running job
    /// has stopped writing. Call after removing the video from the store.
    pub fn cancel_and_wait(&self, id: &str, patience: Duration) {
        let mut active = self.inner.active.lock();
        let Some(cell) = active.get(id).cloned() else {
            return;
        };
        cell.cancel.cancel();
        if !cell.started.load(Ordering::SeqCst) {
            // Still in the queue: the pool will skip it; nothing is being written.
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

    /// Stops taking work, cancels every job and waits (up to `patience`) until they have
    /// recorded themselves as queued again, so the next start resumes them.
    pub fn shutdown(&self, patience: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let mut active = self.inner.active.lock();
        if active.is_empty() {
            return;
        }
        log::info!("stopping {} job(s); they resume at the next start", active.len());
        for cell in active.values() {
            cell.cancel.cancel();
        }
        let deadline = Instant::now() + patience;
        while !active.is_empty() {
            if self.inner.finished.wait_until(&mut active, deadline).timed_out() {
                log::warn!("{} job(s) did not stop in time", active.len());
                break;
            }
        }
    }

    /// Brings back what an earlier run left unfinished: every queued or processing video
    /// whose job directory survives is reset and queued again (on a background thread, as
    /// the pool makes room); one whose source is gone is marked failed, saying why. Job
    /// directories of finished or unknown videos are removed.
    pub fn resume_interrupted(&self) -> std::thread::JoinHandle<()> {
        let store = &self.inner.store;
        let layout = store.layout().clone();
        let mut to_submit: Vec<(String, JobSpec, File)> = Vec::new();

        for id in store.ids_with_status(&[Status::Queued, Status::Processing]) {
            let job_dir = layout.job_dir(&id);
            if !job_dir.join("job.json").exists() {
                fetch_job_from_store(store, &id);
            }
            let spec = JobSpec::read(&job_dir)
                .ok()
                .filter(|s| job_dir.join(&s.source).is_file());
            match spec.map(|spec| (spec, layout::try_lock(&job_dir.join("lock")))) {
                Some((spec, Ok(Some(lock)))) => to_submit.push((id, spec, lock)),
                Some((_, Ok(None))) => {
                    log::info!("video {id} is being processed by another reel process on this media root");
                }
                Some((_, Err(e))) => log::warn!("video {id}: cannot lock its job: {e}"),
                None => self.fail_lost(&id),
            }
        }
        // Job directories: resume orphans whose manifest never got written (a crash inside
        // `accept`), drop what nobody needs. Hidden names are jobs being created.
        if let Ok(entries) = std::fs::read_dir(layout.jobs_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let job_dir = entry.path();
                if to_submit.iter().any(|(i, _, _)| *i == name) {
                    continue;
                }
                let Ok(Some(lock)) = layout::try_lock(&job_dir.join("lock")) else {
                    continue; // another process's
                };
                let spec = JobSpec::read(&job_dir)
                    .ok()
                    .filter(|s| job_dir.join(&s.source).is_file());
                match (layout::is_valid_id(&name) && !store.contains(&name), spec) {
                    (true, Some(spec)) => {
                        let mut video = Video::new(
                            &name,
                            &spec.title,
                            spec.created_at_ms,
                            spec.segment_seconds,
                            spec.format,
                        );
                        video.library = spec.library.clone();
                        store.persist(&video);
                        let _ = store.insert_with(video, || Ok::<(), ()>(()));
                        to_submit.push((name, spec, lock));
                    }
                    _ if store
                        .status(&name)
                        .is_some_and(|s| matches!(s, Status::Queued | Status::Processing)) => {}
                    _ => remove_dir_if_present(&job_dir),
                }
            }
        }
        for (id, _, _) in &to_submit {
            store.reset_files(id);
            store.update_and_persist(id, |v| {
                *v = v.requeued();
            });
            log::info!("video {id}: resuming the job an earlier run left unfinished");
            self.inner.stats.resumed.fetch_add(1, Ordering::Relaxed);
        }
        let jobs = self.clone();
        std::thread::Builder::new()
            .name("resume".into())
            .spawn(move || {
                for (id, spec, mut lock) in to_submit {
                    while jobs.inner.store.contains(&id) && !jobs.inner.shutting_down.load(Ordering::SeqCst) {
                        match jobs.submit(&id, &spec, lock) {
                            Ok(()) => break,
                            Err(back) => lock = back,
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            })
            .expect("spawning the resume thread")
    }

    /// An interrupted video whose job directory is gone: finished meanwhile by another
    /// process (then its manifest says so), or lost.
    fn fail_lost(&self, id: &str) {
        let store = &self.inner.store;
        if let Ok(Some(disk)) = Video::read_manifest(store.media(), id) {
            if matches!(disk.status, Status::Ready | Status::Failed) {
                store.update(id, |v| {
                    *v = Video {
                        id: v.id.clone(),
                        links: v.links.clone(),
                        ..disk
                    }
                });
                return;
            }
        }
        log::warn!("video {id} was interrupted and its upload is gone: marking it failed");
        store.reset_files(id);
        store.update_and_persist(id, |v| {
            v.status = Status::Failed;
            v.renditions.clear();
            v.error = Some(
                "the server stopped while this video was being processed, and its upload \
                 could not be recovered; please upload it again"
                    .into(),
            );
        });
    }
}

/// Why a probe refused a source: its content, a limit, or trouble on our side (`doing`).
fn refusal(doing: &str, e: EngineError) -> AcceptError {
    match e {
        EngineError::SourceTooLarge { .. } => AcceptError::TooLarge(e.to_string()),
        EngineError::SourceTooLong { .. } => AcceptError::TooLong(e.to_string()),
        e if e.is_bad_input() => AcceptError::NotAVideo(e.to_string()),
        e => AcceptError::Internal(format!("{doing}: {e}")),
    }
}

fn invalid_option(field: &'static str, e: EngineError) -> AcceptError {
    match e {
        EngineError::InvalidOption(message) => AcceptError::InvalidOption { field, message },
        e if e.is_bad_input() => AcceptError::NotAVideo(e.to_string()),
        e => AcceptError::Internal(e.to_string()),
    }
}

/// Brings a job's `job.json` and source from a remote store into this machine's job
/// folder, when the store has them (the process that received the upload is gone, or
/// this one restarted on a fresh disk). Best effort: without them the job is lost.
fn fetch_job_from_store(store: &Store, id: &str) {
    let media = store.media();
    if media.folder_root().is_some() {
        return;
    }
    let dir = format!("{JOBS_PREFIX}/{id}");
    let fetched = (|| -> std::io::Result<bool> {
        let Some(json) = media.get(&format!("{dir}/job.json"))? else {
            return Ok(false);
        };
        let spec: JobSpec = serde_json::from_slice(&json).map_err(std::io::Error::other)?;
        if !layout::is_plain_file_name(&spec.source) {
            return Err(std::io::Error::other("a job.json names an odd source file"));
        }
        let local = store.layout().job_dir(id);
        std::fs::create_dir_all(&local)?;
        media.get_to_file(&format!("{dir}/{}", spec.source), &local.join(&spec.source))?;
        spec.write(&local)?;
        Ok(true)
    })();
    match fetched {
        Ok(true) => log::info!("video {id}: its source came back from the store"),
        Ok(false) => {}
        Err(e) => log::warn!("video {id}: could not bring its source back from the store: {e}"),
    }
}

/// Removes what a job kept to run: its local folder and, with a remote store, the copy
/// of its source there.
fn forget_job_files(store: &Store, id: &str) {
    remove_dir_if_present(&store.layout().job_dir(id));
    if store.media().folder_root().is_none() {
        if let Err(e) = store.media().delete_dir(&format!("{JOBS_PREFIX}/{id}")) {
            log::warn!("video {id}: could not remove its source from the store: {e}");
        }
    }
}

/// A job's `on_progress`: updates the store on every report (SSE sees each), and writes
/// the manifest when a segment lands, the status changes or a second has passed.
struct ProgressRecorder {
    inner: Arc<Inner>,
    id: String,
    cell: Arc<JobCell>,
    last_persist: Option<Instant>,
    segments: usize,
}

impl ProgressRecorder {
    fn record(&mut self, state: &LadderState) {
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
        }
    }
}

/// A job's `on_done`. Also fires (as a failure) when the job is dropped without ending,
/// e.g. a pool thread panicked, so no video is left processing forever.
struct Completion {
    inner: Arc<Inner>,
    id: String,
    cell: Arc<JobCell>,
    fired: bool,
}

impl Completion {
    fn fire(&mut self, result: Result<LadderState, EngineError>) {
        self.fired = true;
        let elapsed = self.cell.started_at.lock().map(|t| t.elapsed());
        let inner = &self.inner;
        let id = self.id.as_str();
        let store = &inner.store;
        let layout = store.layout();
        if self.cell.started.load(Ordering::SeqCst) {
            inner.stats.running.fetch_sub(1, Ordering::Relaxed);
        }
        // Deleted here (gone from the store), or by another process on the root (which
        // removed the job directory: it lives until this completion otherwise).
        if store.contains(id) && !layout.job_dir(id).exists() {
            log::info!("video {id} was deleted through another reel process");
            store.remove(id);
        }
        let deleted = !store.contains(id);
        match result {
            _ if deleted => {
                inner.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                store.remove_files(id);
                forget_job_files(store, id);
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
                store.update_and_persist(id, |v| {
                    v.apply(&state);
                    v.status = Status::Ready;
                    v.progress = 1.0;
                    v.error = None;
                });
                forget_job_files(store, id);
                log::info!("video {id} ready ({:.1}s of media)", state.duration);
            }
            Err(EngineError::Cancelled) if inner.shutting_down.load(Ordering::SeqCst) => {
                store.update_and_persist(id, |v| {
                    *v = v.requeued();
                });
                inner.stats.interrupted.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                log::warn!("video {id} failed: {e}");
                inner.stats.failed.fetch_add(1, Ordering::Relaxed);
                store.update_and_persist(id, |v| {
                    v.status = Status::Failed;
                    v.error = Some(e.to_string());
                    v.renditions.clear();
                });
                forget_job_files(store, id);
            }
        }
        self.cell.lock.lock().take();
        inner.active.lock().remove(id);
        inner.finished.notify_all();
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.fired && self.cell.submitted.load(Ordering::SeqCst) {
            self.fire(Err(EngineError::Internal(
                "the transcode stopped unexpectedly".into(),
            )));
        }
    }
}

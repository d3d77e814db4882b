//! Resuming at start what an earlier run left unfinished (a crash, SIGKILL, a SIGTERM that
//! left jobs queued): every queued or processing video whose job directory survives, and
//! that no other process holds, is reset and queued again; one whose source is gone is
//! marked failed, saying why. Job directories of finished or unknown videos are removed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::coordination::{CatalogChange, Ticket};
use super::job_files;
use super::spec::JobSpec;
use super::Jobs;
use crate::catalog::layout;
use crate::catalog::store::remove_dir_if_present;
use crate::catalog::video::{Status, Video};

/// How long the resume thread waits before it offers a job again to a full queue.
const RETRY_FULL: Duration = Duration::from_millis(500);

impl Jobs {
    /// Brings back what an earlier run left unfinished: every queued or processing video
    /// whose job directory survives is reset and queued again (on a background thread, as
    /// the queue makes room); one whose source is gone is marked failed, saying why. Job
    /// directories of finished or unknown videos are removed.
    pub fn resume_interrupted(&self) -> std::thread::JoinHandle<()> {
        let store = &self.inner.store;
        let coordination = &self.inner.coordination;
        let layout = store.layout().clone();
        let mut to_submit: Vec<Ticket> = Vec::new();

        for id in store.ids_with_status(&[Status::Queued, Status::Processing]) {
            let job_dir = layout.job_dir(&id);
            if !job_dir.join("job.json").exists() {
                // Queued through Redis: whoever claims it brings its files; fetching them
                // here (on every instance, fronts too) would be wasted, and failing to
                // would mark a running job lost.
                if coordination.has_job(&id) {
                    continue;
                }
                job_files::fetch_from_store(store, &id);
            }
            let spec = JobSpec::read_with_source(&job_dir);
            match spec.map(|spec| (spec, layout::try_lock(&job_dir.join("lock")))) {
                Some((_, Ok(Some(_)))) if coordination.has_job(&id) => {}
                Some((spec, Ok(Some(dir_lock)))) => to_submit.push(Ticket { id, spec, dir_lock }),
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
                if to_submit.iter().any(|t| t.id == name) {
                    continue;
                }
                let Ok(Some(dir_lock)) = layout::try_lock(&job_dir.join("lock")) else {
                    continue; // another process's
                };
                let spec = JobSpec::read_with_source(&job_dir);
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
                        let _ = store.insert_with(video.clone(), || Ok::<(), ()>(()));
                        coordination.announce(&CatalogChange::Created(video));
                        to_submit.push(Ticket {
                            id: name,
                            spec,
                            dir_lock,
                        });
                    }
                    _ if store
                        .status(&name)
                        .is_some_and(|s| matches!(s, Status::Queued | Status::Processing)) => {}
                    _ => remove_dir_if_present(&job_dir),
                }
            }
        }
        for Ticket { id, .. } in &to_submit {
            store.reset_files(id);
            let video = store.update_and_persist(id, |v| {
                *v = v.requeued();
            });
            if let Some(video) = video {
                coordination.announce(&CatalogChange::Changed(video));
            }
            log::info!("video {id}: resuming the job an earlier run left unfinished");
            self.inner.stats.resumed.fetch_add(1, Ordering::Relaxed);
        }
        let jobs = self.clone();
        std::thread::Builder::new()
            .name("resume".into())
            .spawn(move || {
                for mut ticket in to_submit {
                    let id = ticket.id.clone();
                    while jobs.inner.store.contains(&id) && !jobs.inner.shutting_down.load(Ordering::SeqCst) {
                        match jobs.inner.coordination.submit(ticket) {
                            Ok(()) => break,
                            Err(refused) => ticket = refused.into_ticket(),
                        }
                        std::thread::sleep(RETRY_FULL);
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
        let failed = store.update_and_persist(id, |v| {
            v.status = Status::Failed;
            v.renditions.clear();
            v.error = Some(
                "the server stopped while this video was being processed, and its upload \
                 could not be recovered; please upload it again"
                    .into(),
            );
        });
        if let Some(video) = failed {
            self.inner.coordination.announce(&CatalogChange::Changed(video));
        }
    }
}

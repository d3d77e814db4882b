//! What a job keeps to run, besides its video: the job directory in this machine's
//! working folder (`.jobs/{id}/`: the source, `job.json`, the `lock`) and, with a remote
//! store, a copy of the source and `job.json` under `.jobs/{id}/` there, so that the job
//! does not depend on one machine's disk: a process on a fresh disk brings them back.

use std::path::Path;

use super::spec::JobSpec;
use crate::catalog::layout;
use crate::catalog::store::{remove_dir_if_present, Store};
use crate::storage::{Freshness, MediaStore, JOBS_PREFIX};

/// Copies a running job's source, then its `job.json` (whose presence says the source is
/// whole), to a remote store. Best effort: logged on failure.
pub(super) fn copy_to_store(media: &MediaStore, id: &str, spec: &JobSpec, input: &Path) {
    if let Err(e) = put_in_store(media, id, spec, input) {
        log::warn!("video {id}: could not copy its source to the store: {e}");
    }
}

/// Puts a job's source, then its `job.json`, in a remote store (subtitle files too):
/// where a worker on another machine finds them.
pub(super) fn put_in_store(
    media: &MediaStore,
    id: &str,
    spec: &JobSpec,
    input: &Path,
) -> std::io::Result<()> {
    let dir = format!("{JOBS_PREFIX}/{id}");
    media.put_file(&format!("{dir}/{}", spec.source), input, Freshness::Revalidate)?;
    let local = input.parent().unwrap_or(input);
    for s in &spec.subtitle_files {
        media.put_file(
            &format!("{dir}/{}", s.file),
            &local.join(&s.file),
            Freshness::Revalidate,
        )?;
    }
    let json = serde_json::to_vec_pretty(spec).map_err(std::io::Error::other)?;
    media.put(&format!("{dir}/job.json"), json, Freshness::Revalidate)
}

/// Brings a job's `job.json` and source from a remote store into this machine's job
/// folder, when the store has them (the process that received the upload is gone, or
/// this one restarted on a fresh disk). Best effort: without them the job is lost.
pub(super) fn fetch_from_store(store: &Store, id: &str) {
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
        for s in &spec.subtitle_files {
            if layout::is_plain_file_name(&s.file) {
                media.get_to_file(&format!("{dir}/{}", s.file), &local.join(&s.file))?;
            }
        }
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
pub(super) fn forget(store: &Store, id: &str) {
    remove_dir_if_present(&store.layout().job_dir(id));
    if store.media().folder_root().is_none() {
        if let Err(e) = store.media().delete_dir(&format!("{JOBS_PREFIX}/{id}")) {
            log::warn!("video {id}: could not remove its source from the store: {e}");
        }
    }
}

/// A job's `job.json` where every instance finds it: the shared folder's job directory,
/// or the copy in a remote store. `None` when neither has it.
pub(super) fn read_spec(store: &Store, id: &str) -> std::io::Result<Option<JobSpec>> {
    let media = store.media();
    if media.folder_root().is_some() {
        return match JobSpec::read(&store.layout().job_dir(id)) {
            Ok(spec) => Ok(Some(spec)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
    }
    match media.get(&format!("{JOBS_PREFIX}/{id}/job.json"))? {
        Some(json) => serde_json::from_slice(&json)
            .map(Some)
            .map_err(std::io::Error::other),
        None => Ok(None),
    }
}

//! Where things live under the media root.
//!
//! ```text
//! {media}/
//!   {id}/                 a video's public tree, served at /media/{id}/...
//!     manifest.json       the video object (atomic writes)
//!     master.m3u8         written by the engine, as are the rung directories
//!     720p/index.m3u8  720p/init.mp4  720p/seg00000.m4s ...
//!     poster.jpg
//!   .jobs/{id}/           what an unfinished job needs to run again after a restart
//!     job.json            title, creation time, options ([`JobSpec`](super::jobs::JobSpec))
//!     source.<ext>        the upload, as received
//!     lock                flock held by the process that runs (or queued) the job
//!   .uploads/{run}/       one per running process: uploads being received and demo clips
//!     .lock               being made; flock held while the process lives
//! ```
//!
//! Several `reel serve` processes may share a root (the locks die with their process, even
//! on SIGKILL): at start, a process resumes only the jobs whose lock it can take and cleans
//! only the uploads directories nobody holds.
//!
//! The engine removes a job's output directory when the job fails or is cancelled, so
//! the source and the job description live outside it, in `.jobs/`. Names starting with
//! a dot are never video ids and are never served.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::FlockOperation;

/// The media root and the paths derived from it.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// This process's directory under `.uploads/`, locked while the process lives.
    uploads: PathBuf,
    _uploads_lock: Arc<File>,
}

impl Layout {
    /// Creates the root and its private directories when missing, and this process's
    /// uploads directory.
    pub fn create(root: &Path) -> io::Result<Layout> {
        std::fs::create_dir_all(root.join(".jobs"))?;
        std::fs::create_dir_all(root.join(".uploads"))?;
        let uploads = root.join(".uploads").join(new_id());
        std::fs::create_dir(&uploads)?;
        let lock = try_lock(&uploads.join(".lock"))?
            .ok_or_else(|| io::Error::other("a new uploads directory is locked"))?;
        Ok(Layout {
            root: root.to_path_buf(),
            uploads,
            _uploads_lock: Arc::new(lock),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A video's public directory.
    pub fn video_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join(".jobs")
    }

    /// Where an unfinished job keeps its source and description.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.jobs_dir().join(id)
    }

    /// Temp files of this process's uploads in flight; on the media volume so accepting is
    /// a rename.
    pub fn uploads_dir(&self) -> PathBuf {
        self.uploads.clone()
    }

    /// Removes what earlier runs left half-received: every uploads directory whose process
    /// is gone (its lock is free). Another reel process on the same root keeps its own.
    pub fn clean_uploads(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join(".uploads"))? {
            let path = entry?.path();
            if path == self.uploads {
                continue;
            }
            let result = if path.is_dir() {
                match try_lock(&path.join(".lock")) {
                    Ok(Some(_free)) => std::fs::remove_dir_all(&path),
                    Ok(None) => continue, // a live process's
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // being created
                    Err(e) => Err(e),
                }
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed += 1,
                Err(e) => log::warn!("could not remove a stale upload: {e}"),
            }
        }
        Ok(removed)
    }
}

/// Takes an exclusive `flock` on `path` (created if missing), without waiting: `None` when
/// another process (or another open of the file) holds it. The lock lasts as long as the
/// returned file is open, and dies with its process, even on SIGKILL.
pub fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// True when `name` can be a video id: one plain path segment, not hidden.
pub fn is_valid_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// True for a plain file name (`source.mp4`): one segment, not hidden, no separators.
pub fn is_plain_file_name(name: &str) -> bool {
    is_valid_id(name)
}

/// A fresh random id: 12 characters of lowercase base32 (60 bits).
pub fn new_id() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect()
}

/// How old a `.tmp-*` file must be before a start-up sweep treats it as abandoned. An
/// atomic write lives for milliseconds; a younger temp file may belong to another reel
/// process on the same root that is writing it right now.
const STALE_TEMP: Duration = Duration::from_secs(60);

/// Removes the `.tmp-*` leftovers of interrupted atomic writes below `dir` (two levels:
/// the video directory and its rung directories), sparing any young enough to be another
/// process's write in progress.
pub fn remove_temp_files(dir: &Path) {
    remove_stale_temp_files(dir, STALE_TEMP);
}

fn remove_stale_temp_files(dir: &Path, min_age: Duration) {
    let stale = |path: &Path| {
        std::fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= min_age)
    };
    let sweep = |dir: &Path, descend: bool| -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                if stale(&path) {
                    let _ = std::fs::remove_file(&path);
                }
            } else if descend && entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            }
        }
        dirs
    };
    for inner in sweep(dir, true) {
        sweep(&inner, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_segments() {
        let id = new_id();
        assert_eq!(id.len(), 12);
        assert!(is_valid_id(&id), "{id}");
        for bad in ["", ".", "..", ".jobs", "a/b", "a\\b", "%2e", "a b"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert!(is_valid_id("my-film_2"));
    }

    #[test]
    fn the_temp_sweep_spares_writes_that_may_be_in_progress() {
        let root = tempfile::tempdir().unwrap();
        let rung = root.path().join("360p");
        std::fs::create_dir(&rung).unwrap();
        let old = rung.join(".tmp-old");
        let young = root.path().join(".tmp-young");
        let kept = rung.join("index.m3u8");
        for path in [&old, &young, &kept] {
            std::fs::write(path, b"x").unwrap();
        }
        let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        File::options()
            .write(true)
            .open(&kept)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();

        remove_temp_files(root.path());
        assert!(!old.exists(), "an abandoned temp file is removed");
        assert!(young.exists(), "a temp file being written is left alone");
        assert!(kept.exists());
    }
}

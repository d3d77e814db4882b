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
//!   .uploads/             uploads being received and demo clips being made (temp files,
//!                         wiped at start)
//! ```
//!
//! The engine removes a job's output directory when the job fails or is cancelled, so
//! the source and the job description live outside it, in `.jobs/`. Names starting with
//! a dot are never video ids and are never served.

use std::io;
use std::path::{Path, PathBuf};

/// The media root and the paths derived from it.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Creates the root and its private directories when missing.
    pub fn create(root: &Path) -> io::Result<Layout> {
        let layout = Layout {
            root: root.to_path_buf(),
        };
        std::fs::create_dir_all(layout.jobs_dir())?;
        std::fs::create_dir_all(layout.uploads_dir())?;
        Ok(layout)
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

    /// Temp files of uploads in flight; on the media volume so accepting is a rename.
    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join(".uploads")
    }

    /// Removes whatever uploads an earlier run left half-received.
    pub fn clean_uploads(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.uploads_dir())? {
            let path = entry?.path();
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
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

/// True when `name` can be a video id: one plain path segment, not hidden.
pub fn is_valid_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
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

/// Removes the `.tmp-*` leftovers of interrupted atomic writes below `dir` (two levels:
/// the video directory and its rung directories).
pub fn remove_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_file(&path);
        } else if path.is_dir() {
            if let Ok(inner) = std::fs::read_dir(&path) {
                for e in inner.flatten() {
                    if e.file_name().to_string_lossy().starts_with(".tmp-") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
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
}

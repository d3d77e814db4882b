//! HLS renditions of the `--library` folder's videos, prepared in the background so that
//! channels can play them (channel `main` lists them after the uploads, by path).
//!
//! A library file `movies/film.mkv` becomes the video `lib-<hash of the path>`: an
//! ordinary catalog video (manifest, ladder and poster under the media root, served at
//! `/media/{id}/`) whose `library` field names the file with the size and modification
//! time it had. Its job's source is a symlink to the file, so nothing is copied. Each
//! [`LibraryScanner::pass`]:
//!
//! * walks the library (hidden names skipped; symlinks followed only where they stay
//!   inside it), keeping files with a video container's extension;
//! * deletes renditions whose file is gone or has changed (a changed file is prepared
//!   again on a later pass);
//! * queues at most one preparation, and only when no job waits: uploads go first, and a
//!   big library on a small machine is worked through one file at a time.
//!
//! The id is a function of the path, so every reel process on the same media root and
//! library agrees on it; [`Jobs::prepare_library`] makes sure only one of them prepares
//! a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use parking_lot::Mutex;

use super::jobs::{AcceptError, Jobs};
use super::LibrarySource;

/// Extensions of files taken for videos (lowercase).
const VIDEO_EXTENSIONS: &[&str] = &[
    "3gp", "avi", "flv", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "mxf", "ogv", "ts",
    "webm", "wmv",
];
/// Bounds of a walk: a library is a folder of films, not a file system.
const MAX_DEPTH: usize = 16;
const MAX_FILES: usize = 100_000;

/// A video file found in the library.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryFile {
    pub source: LibrarySource,
    /// Where it is, below the (canonical) library root.
    pub file: PathBuf,
}

impl LibraryFile {
    /// The catalog id of its rendition.
    pub fn id(&self) -> String {
        library_id(&self.source.path)
    }

    /// A title for people: the file name without its extension.
    pub fn title(&self) -> String {
        self.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.source.path.clone())
    }
}

/// The video id of a library path: `lib-` and 16 hex digits of its FNV-1a hash. Stable
/// across processes, builds and versions (unlike `std`'s hasher).
pub fn library_id(path: &str) -> String {
    format!("lib-{:016x}", fnv1a64(path.as_bytes()))
}

/// 64-bit FNV-1a: a hash that never changes between processes, builds and versions.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The video files below `root` (canonical), sorted by path.
pub fn scan(root: &Path) -> Vec<LibraryFile> {
    let mut found = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(true)
        .max_depth(MAX_DEPTH)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                log::debug!("library walk: {e}");
                continue;
            }
        };
        if !entry.file_type().is_file() || !has_video_extension(entry.path()) {
            continue;
        }
        // A symlink may lead out of the library: such files are not the library's.
        let Ok(real) = entry.path().canonicalize() else {
            continue;
        };
        if !real.starts_with(root) {
            continue;
        }
        let Some(path) = relative_path(root, entry.path()) else {
            log::debug!("library walk: skipping a name that is not UTF-8");
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        found.push(LibraryFile {
            source: LibrarySource {
                path,
                size: meta.len(),
                modified_ms,
            },
            file: entry.path().to_path_buf(),
        });
        if found.len() >= MAX_FILES {
            log::warn!("the library holds more than {MAX_FILES} videos; the rest are left out");
            break;
        }
    }
    found.sort_by(|a, b| a.source.path.cmp(&b.source.path));
    found
}

fn has_video_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `a/b/c.mp4` for `{root}/a/b/c.mp4`: the path `/library/` serves it under.
fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Keeps the catalog's library renditions in step with the library folder.
pub struct LibraryScanner {
    jobs: Jobs,
    root: PathBuf,
    /// Files the engine refused (not decodable), with the size and time they had: not
    /// tried again until they change.
    refused: Mutex<HashMap<String, LibrarySource>>,
}

impl LibraryScanner {
    pub fn new(jobs: Jobs, root: &Path) -> std::io::Result<LibraryScanner> {
        Ok(LibraryScanner {
            jobs,
            root: root.canonicalize()?,
            refused: Mutex::new(HashMap::new()),
        })
    }

    /// One pass over the library (see the module's documentation). Blocking.
    pub fn pass(&self) {
        let files = scan(&self.root);
        let wanted: HashMap<String, &LibraryFile> = files.iter().map(|f| (f.id(), f)).collect();
        let store = self.jobs.store();
        for video in store.list() {
            let Some(had) = &video.library else { continue };
            let current = wanted.get(&video.id).map(|f| &f.source);
            if current != Some(had) {
                log::info!(
                    "library file {:?} {}: removing its rendition {}",
                    had.path,
                    if current.is_some() { "changed" } else { "is gone" },
                    video.id
                );
                self.jobs.delete(&video.id);
            }
        }
        if self.jobs.library_jobs_in_progress() > 0 || self.jobs.queued() > 0 {
            return;
        }
        let mut refused = self.refused.lock();
        refused.retain(|id, source| wanted.get(id).is_some_and(|f| &f.source == source));
        for file in &files {
            let id = file.id();
            if store.contains(&id) || refused.contains_key(&id) {
                continue;
            }
            match self
                .jobs
                .prepare_library(&id, file.source.clone(), &file.file, &file.title())
            {
                Ok(_) => {
                    log::info!(
                        "library file {:?}: preparing its HLS rendition as {id}",
                        file.source.path
                    );
                    return;
                }
                Err(AcceptError::TakenElsewhere) => return,
                Err(AcceptError::ShuttingDown) | Err(AcceptError::QueueFull) => return,
                Err(e) => {
                    log::warn!("library file {:?} is left out of channels: {e}", file.source.path);
                    refused.insert(id, file.source.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_valid_and_distinct() {
        let a = library_id("films/a.mp4");
        assert_eq!(a, library_id("films/a.mp4"));
        assert_ne!(a, library_id("films/b.mp4"));
        assert!(super::super::layout::is_valid_id(&a), "{a}");
        // FNV-1a's published test vector: the id must never change between versions.
        assert_eq!(library_id("a"), "lib-af63dc4c8601ec8c");
    }

    #[test]
    fn the_walk_keeps_videos_inside_the_root_and_skips_hidden_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("library");
        let outside = dir.path().join("outside.mp4");
        std::fs::write(&outside, b"x").unwrap();
        std::fs::create_dir_all(root.join("films/.trash")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "b.MKV",
            "films/a.mp4",
            "films/notes.txt",
            "films/.trash/c.mp4",
            ".hidden/d.mp4",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        std::os::unix::fs::symlink(&outside, root.join("escape.mp4")).unwrap();
        std::os::unix::fs::symlink(root.join("b.MKV"), root.join("films/link.mkv")).unwrap();

        let root = root.canonicalize().unwrap();
        let paths: Vec<String> = scan(&root).into_iter().map(|f| f.source.path).collect();
        assert_eq!(paths, ["b.MKV", "films/a.mp4", "films/link.mkv"]);
    }
}

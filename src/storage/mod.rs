//! [`MediaStore`]: where everything a video owns lives, a folder on this machine or a
//! bucket of any S3-compatible service, behind one interface.
//!
//! Keys are the media tree's relative paths (`{id}/720p/seg00001.m4s`,
//! `{id}/manifest.json`); a job's source waits at `.jobs/{id}/source.{ext}` until its
//! ladder is ready. Every object is written whole: a folder store renames a finished temp
//! file into place, a bucket stores an object in one request (or one multipart upload),
//! so a reader never sees half an object. Writers store the objects a playlist names
//! before the playlist (the engine's order), so a playlist never names a missing object.
//!
//! * [`location`]: parsing `--store URL`;
//! * [`headers`]: the `Content-Type` and `Cache-Control` of each object;
//! * [`remote`]: the bucket, through `object_store`, with [`cache`] in front of reads.
//!
//! Calls that wait ([`put`](MediaStore::put), [`get`](MediaStore::get), ...) are for threads
//! that may block: the engine's, the jobs', `web::block`'s. HTTP handlers use
//! [`fetch`](MediaStore::fetch), which never blocks an actix worker on the network.

pub mod cache;
pub mod headers;
pub mod location;
pub mod outage;
pub mod remote;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use headers::Freshness;
pub use location::Location;

/// An object read from a store, with its validators.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub bytes: Bytes,
    /// A strong entity tag, quoted.
    pub e_tag: String,
    pub last_modified: SystemTime,
}

#[derive(Clone)]
pub struct MediaStore {
    backend: Arc<Backend>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MediaStore({})", self.label())
    }
}

/// The same store (the same handle, shared).
impl PartialEq for MediaStore {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.backend, &other.backend)
    }
}

enum Backend {
    Folder(PathBuf),
    Bucket(remote::Bucket),
}

/// The prefix under which a job keeps its source while it runs.
pub const JOBS_PREFIX: &str = ".jobs";

impl MediaStore {
    /// Opens the store at `location`. A folder is created when missing. `timeout` bounds
    /// a bucket operation's retries; `cache_bytes` is the memory for a bucket's hot objects.
    pub fn open(location: &Location, timeout: Duration, cache_bytes: u64) -> io::Result<MediaStore> {
        let backend = match location {
            Location::Folder(root) => {
                std::fs::create_dir_all(root)?;
                Backend::Folder(root.clone())
            }
            Location::S3 { bucket, prefix } => {
                Backend::Bucket(remote::Bucket::open(bucket, prefix, timeout, cache_bytes)?)
            }
        };
        Ok(MediaStore {
            backend: Arc::new(backend),
        })
    }

    /// A store in a local folder.
    pub fn folder(root: &Path) -> io::Result<MediaStore> {
        MediaStore::open(&Location::Folder(root.to_path_buf()), Duration::ZERO, 0)
    }

    /// The folder, for a folder store: served straight from disk (with `sendfile`-like
    /// reads and the file cache), and read by paths where that is cheaper.
    pub fn folder_root(&self) -> Option<&Path> {
        match &*self.backend {
            Backend::Folder(root) => Some(root),
            Backend::Bucket(_) => None,
        }
    }

    /// Where this store is, for logs and messages.
    pub fn label(&self) -> String {
        match &*self.backend {
            Backend::Folder(root) => root.display().to_string(),
            Backend::Bucket(b) => b.label().to_string(),
        }
    }

    /// Stores `bytes` under `key`, replacing any object there, with the headers its name
    /// and `freshness` call for.
    pub fn put(&self, key: &str, bytes: impl Into<Bytes>, freshness: Freshness) -> io::Result<()> {
        debug_assert!(is_plain_key(key), "{key}");
        match &*self.backend {
            Backend::Folder(root) => {
                let path = root.join(key);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                crate::atomic_file::write(&path, &bytes.into())
            }
            Backend::Bucket(b) => b.put(key, bytes.into(), freshness),
        }
    }

    /// Stores a local file under `key` (streamed: memory stays small whatever its size).
    pub fn put_file(&self, key: &str, file: &Path, freshness: Freshness) -> io::Result<()> {
        match &*self.backend {
            Backend::Folder(root) => {
                let path = root.join(key);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(file, &path).map(drop)
            }
            Backend::Bucket(b) => b.put_file(key, file, freshness),
        }
    }

    /// Copies the object at `key` into a local file.
    pub fn get_to_file(&self, key: &str, dest: &Path) -> io::Result<()> {
        match &*self.backend {
            Backend::Folder(root) => std::fs::copy(root.join(key), dest).map(drop),
            Backend::Bucket(b) => b.get_to_file(key, dest),
        }
    }

    /// The bytes at `key`; `Ok(None)` when there is no such object. Waits.
    pub fn get(&self, key: &str) -> io::Result<Option<Bytes>> {
        match &*self.backend {
            Backend::Folder(root) => match std::fs::read(root.join(key)) {
                Ok(b) => Ok(Some(b.into())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Backend::Bucket(b) => Ok(b.get(key)?.map(|o| o.bytes.clone())),
        }
    }

    /// [`get`](Self::get) as the store holds the object now, never a cached copy: for
    /// decisions (is this job finished? is this manifest still queued?) where a copy
    /// up to a second old misleads.
    pub fn get_uncached(&self, key: &str) -> io::Result<Option<Bytes>> {
        match &*self.backend {
            Backend::Folder(_) => self.get(key),
            Backend::Bucket(b) => Ok(b.get_uncached(key)?.map(|o| o.bytes)),
        }
    }

    /// An object with its validators, for serving: from a bucket's cache when it holds
    /// it. A folder store is served from its files instead, so this reads the file.
    pub async fn fetch(&self, key: &str) -> io::Result<Option<Arc<StoredObject>>> {
        match &*self.backend {
            Backend::Folder(root) => {
                let path = root.join(key);
                match std::fs::metadata(&path).and_then(|m| Ok((m.modified()?, std::fs::read(&path)?))) {
                    Ok((modified, bytes)) => Ok(Some(Arc::new(StoredObject {
                        e_tag: format!(
                            "\"{:x}-{:x}\"",
                            bytes.len(),
                            modified
                                .duration_since(SystemTime::UNIX_EPOCH)
                                .unwrap_or_default()
                                .as_nanos()
                        ),
                        last_modified: modified,
                        bytes: bytes.into(),
                    }))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Backend::Bucket(b) => b.fetch(key).await,
        }
    }

    /// The names of the top-level folders: video ids and `.jobs` (callers filter).
    pub fn folders(&self) -> io::Result<Vec<String>> {
        match &*self.backend {
            Backend::Folder(root) => {
                let mut names = Vec::new();
                for entry in std::fs::read_dir(root)? {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                Ok(names)
            }
            Backend::Bucket(b) => b.list_folders(),
        }
    }

    /// Every key under `dir/` (a video's id, or a job's folder).
    pub fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        match &*self.backend {
            Backend::Folder(root) => {
                let base = root.join(dir);
                let mut keys = Vec::new();
                for entry in walkdir::WalkDir::new(&base).min_depth(1) {
                    let entry = match entry {
                        Ok(e) => e,
                        Err(e) if e.io_error().is_some_and(|e| e.kind() == io::ErrorKind::NotFound) => {
                            return Ok(Vec::new())
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if entry.file_type().is_file() {
                        if let Ok(rel) = entry.path().strip_prefix(root) {
                            keys.push(rel.to_string_lossy().into_owned());
                        }
                    }
                }
                Ok(keys)
            }
            Backend::Bucket(b) => b.list(dir),
        }
    }

    /// Deletes everything under `dir/`; nothing there is not an error.
    pub fn delete_dir(&self, dir: &str) -> io::Result<()> {
        debug_assert!(is_plain_key(dir) && !dir.is_empty(), "{dir}");
        match &*self.backend {
            Backend::Folder(root) => match std::fs::remove_dir_all(root.join(dir)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            },
            Backend::Bucket(b) => b.delete(b.list(dir)?),
        }
    }

    /// Deletes everything under `dir/` except the keys `keep` says yes to.
    pub fn delete_dir_except(&self, dir: &str, keep: impl Fn(&str) -> bool) -> io::Result<()> {
        let doomed: Vec<String> = self.list(dir)?.into_iter().filter(|k| !keep(k)).collect();
        match &*self.backend {
            Backend::Folder(root) => {
                for k in &doomed {
                    match std::fs::remove_file(root.join(k)) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
                Ok(())
            }
            Backend::Bucket(b) => b.delete(doomed),
        }
    }

    /// Whether reads of a bucket fail fast now (see [`outage`]); never for a folder.
    pub fn in_outage(&self) -> bool {
        match &*self.backend {
            Backend::Folder(_) => false,
            Backend::Bucket(b) => b.in_outage(),
        }
    }

    /// (hits, misses, bytes held) of a bucket's read cache; zeros for a folder.
    pub fn cache_stats(&self) -> (u64, u64, u64) {
        match &*self.backend {
            Backend::Folder(_) => (0, 0, 0),
            Backend::Bucket(b) => b.cache_stats(),
        }
    }
}

/// A relative key of plain segments: no `..`, no leading `/`, no empty part.
fn is_plain_key(key: &str) -> bool {
    !key.starts_with('/') && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Where one video's objects go: keys relative to `{id}/`.
#[derive(Clone)]
pub struct VideoObjects {
    store: MediaStore,
    /// `{id}/`.
    prefix: String,
}

impl VideoObjects {
    /// The objects under `{id}/` of `store` (`id` is one plain path segment).
    pub fn new(store: MediaStore, id: &str) -> VideoObjects {
        debug_assert!(is_plain_key(id) && !id.contains('/'), "{id}");
        VideoObjects {
            store,
            prefix: format!("{id}/"),
        }
    }

    pub fn put(&self, rel: &str, bytes: impl Into<Bytes>, freshness: Freshness) -> io::Result<()> {
        self.store.put(&format!("{}{rel}", self.prefix), bytes, freshness)
    }

    /// Removes every object of the video (a failed or cancelled job's output).
    pub fn remove_all(&self) -> io::Result<()> {
        self.store.delete_dir(self.prefix.trim_end_matches('/'))
    }

    pub fn store(&self) -> &MediaStore {
        &self.store
    }

    /// `{id}/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_store_round_trips_lists_and_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = MediaStore::folder(tmp.path()).unwrap();
        let video = VideoObjects::new(store.clone(), "abc");
        video
            .put("720p/seg00000.m4s", b"seg".to_vec(), Freshness::Immutable)
            .unwrap();
        video
            .put("manifest.json", b"{}".to_vec(), Freshness::Revalidate)
            .unwrap();
        store
            .put("abcd/x.m4s", b"other".to_vec(), Freshness::Immutable)
            .unwrap();
        assert_eq!(store.get("abc/720p/seg00000.m4s").unwrap().unwrap(), &b"seg"[..]);
        assert!(store.get("abc/none.m4s").unwrap().is_none());
        let mut keys = store.list("abc").unwrap();
        keys.sort();
        assert_eq!(keys, ["abc/720p/seg00000.m4s", "abc/manifest.json"]);
        let mut folders = store.folders().unwrap();
        folders.sort();
        assert_eq!(folders, ["abc", "abcd"]);

        store
            .delete_dir_except("abc", |k| k.ends_with("/manifest.json"))
            .unwrap();
        assert_eq!(store.list("abc").unwrap(), ["abc/manifest.json"]);
        video.remove_all().unwrap();
        assert!(store.list("abc").unwrap().is_empty());
        assert_eq!(
            store.list("abcd").unwrap(),
            ["abcd/x.m4s"],
            "a sibling with a longer name stays"
        );
        store.delete_dir("gone").unwrap();
    }
}

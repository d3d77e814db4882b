//! Likes and dislikes per channel item, durable across restarts and crashes.
//!
//! Counts live in one small JSON file rewritten atomically (temp file, fsync, rename) on
//! every vote, so a crash leaves either the old counts or the new ones. Several reel
//! processes on one media root share the file: a vote takes an exclusive `flock` on a
//! sibling lock file, re-reads the counts, adds itself and writes them back, so no vote
//! is lost to another process's write; [`Likes::reload`] picks up their votes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Counts of one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Votes {
    pub likes: u64,
    pub dislikes: u64,
}

/// Which way a vote goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    Like,
    Dislike,
}

type Counts = BTreeMap<String, BTreeMap<String, Votes>>;

pub struct Likes {
    path: PathBuf,
    /// channel → item key → votes
    counts: Mutex<Counts>,
    /// Size and modification time of the file when last read or written.
    seen: Mutex<Option<(u64, SystemTime)>>,
}

impl Likes {
    /// Loads the counts at `path` (none yet is fine; a corrupt file is logged and kept
    /// aside rather than silently overwritten).
    pub fn open(path: PathBuf) -> Likes {
        let counts = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::error!("likes file is corrupt ({e}); starting from zero and keeping it as .corrupt");
                let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        let seen = stamp(&path);
        Likes {
            path,
            counts: Mutex::new(counts),
            seen: Mutex::new(seen),
        }
    }

    /// Re-reads the file if another process has written it since (a `stat` otherwise).
    pub fn reload(&self) {
        let now = stamp(&self.path);
        if now.is_none() || now == *self.seen.lock() {
            return;
        }
        let mut counts = self.counts.lock();
        if let Some(disk) = read(&self.path) {
            *counts = disk;
        }
        *self.seen.lock() = now;
    }

    pub fn get(&self, channel: &str, item: &str) -> Votes {
        self.counts
            .lock()
            .get(channel)
            .and_then(|c| c.get(item))
            .copied()
            .unwrap_or_default()
    }

    /// Records a vote and persists it before returning the new counts. Blocking (waits
    /// for another process's vote to be written).
    pub fn vote(&self, channel: &str, item: &str, vote: Vote) -> std::io::Result<Votes> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut counts = self.counts.lock();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
        if let Some(disk) = read(&self.path) {
            *counts = disk;
        }
        let v = counts
            .entry(channel.to_string())
            .or_default()
            .entry(item.to_string())
            .or_default();
        match vote {
            Vote::Like => v.likes += 1,
            Vote::Dislike => v.dislikes += 1,
        }
        let result = *v;
        let json = serde_json::to_vec(&*counts).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&self.path, &json)?;
        *self.seen.lock() = stamp(&self.path);
        Ok(result) // the lock goes with `lock`
    }
}

/// The counts in the file; `None` when it is missing or unreadable (the last good
/// counts stay in memory).
fn read(path: &Path) -> Option<Counts> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels/likes.json");
        let likes = Likes::open(path.clone());
        likes.vote("main", "video:a", Vote::Like).unwrap();
        likes.vote("main", "video:a", Vote::Like).unwrap();
        assert_eq!(
            likes.vote("main", "video:a", Vote::Dislike).unwrap(),
            Votes {
                likes: 2,
                dislikes: 1
            }
        );
        drop(likes);
        let again = Likes::open(path);
        assert_eq!(
            again.get("main", "video:a"),
            Votes {
                likes: 2,
                dislikes: 1
            }
        );
        assert_eq!(again.get("main", "video:b"), Votes::default());
    }

    #[test]
    fn two_openers_of_one_file_lose_no_vote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("likes.json");
        let (a, b) = (Likes::open(path.clone()), Likes::open(path.clone()));
        std::thread::scope(|s| {
            for likes in [&a, &b] {
                s.spawn(move || {
                    for _ in 0..50 {
                        likes.vote("main", "video:x", Vote::Like).unwrap();
                    }
                });
            }
        });
        a.reload();
        b.reload();
        for likes in [&a, &b, &Likes::open(path)] {
            assert_eq!(likes.get("main", "video:x").likes, 100);
        }
    }
}

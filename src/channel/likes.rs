//! Likes and dislikes per channel item, durable across restarts and crashes.
//!
//! Counts live in one small JSON file rewritten atomically (temp file, fsync, rename) on
//! every vote, so a crash leaves either the old counts or the new ones.

use std::collections::BTreeMap;
use std::path::PathBuf;

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

pub struct Likes {
    path: PathBuf,
    /// channel → item key → votes
    counts: Mutex<BTreeMap<String, BTreeMap<String, Votes>>>,
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
        Likes {
            path,
            counts: Mutex::new(counts),
        }
    }

    pub fn get(&self, channel: &str, item: &str) -> Votes {
        self.counts
            .lock()
            .get(channel)
            .and_then(|c| c.get(item))
            .copied()
            .unwrap_or_default()
    }

    /// Records a vote and persists it before returning the new counts.
    pub fn vote(&self, channel: &str, item: &str, vote: Vote) -> std::io::Result<Votes> {
        let mut counts = self.counts.lock();
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
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec(&*counts).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&self.path, &json)?;
        Ok(result)
    }
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
}

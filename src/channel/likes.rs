//! Likes and dislikes per channel item: [`Likes`], the counts every instance shows, with
//! two homes.
//!
//! * [`FileLikes`] (one instance, or several on one folder: the embedded default): one
//!   small JSON file rewritten atomically (temp file, fsync, rename) on every vote, so a
//!   crash leaves either the old counts or the new ones. A vote takes an exclusive `flock`
//!   on a sibling lock file, re-reads the counts, adds itself and writes them back, so no
//!   vote is lost to another process's write; [`Likes::reload`] picks up their votes.
//! * [`RedisLikes`] (`--redis`): atomic counters, two hashes per channel (item key →
//!   count) that `HINCRBY` adds to; every instance re-reads them each second and shows
//!   the last counts it read while Redis is away, when a vote is refused
//!   ([`PersistError::Unavailable`], a 503).
//!
//! Reads ([`Likes::get`]) never wait: they answer from memory. Votes and reloads block
//! (disk, network): callers run them off the actix workers.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::PersistError;
use crate::redis_link::RedisLink;

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

/// channel → item key → votes (the file's JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct Counts(BTreeMap<String, BTreeMap<String, Votes>>);

impl Counts {
    fn get(&self, channel: &str, item: &str) -> Votes {
        self.0
            .get(channel)
            .and_then(|c| c.get(item))
            .copied()
            .unwrap_or_default()
    }

    fn entry(&mut self, channel: &str, item: &str) -> &mut Votes {
        self.0
            .entry(channel.to_string())
            .or_default()
            .entry(item.to_string())
            .or_default()
    }
}

/// Where the counts live.
pub trait Likes: Send + Sync {
    /// The last known counts of `item` on `channel` (from memory, never waits).
    fn get(&self, channel: &str, item: &str) -> Votes;
    /// Counts a vote where every instance sees it and returns the item's new counts.
    /// Blocks.
    fn vote(&self, channel: &str, item: &str, vote: Vote) -> Result<Votes, PersistError>;
    /// Picks up the votes other instances counted on `channels`; a failure keeps the last
    /// known counts. Blocks.
    fn reload(&self, channels: &[String]);
}

/// The counts in a JSON file (see the module doc).
pub struct FileLikes {
    path: PathBuf,
    /// channel → item key → votes
    counts: Mutex<Counts>,
    /// Size and modification time of the file when last read or written.
    seen: Mutex<Option<(u64, SystemTime)>>,
}

impl FileLikes {
    /// Loads the counts at `path` (none yet is fine; a corrupt file is logged and kept
    /// aside rather than silently overwritten).
    pub fn open(path: PathBuf) -> FileLikes {
        let counts = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::error!("likes file is corrupt ({e}); starting from zero and keeping it as .corrupt");
                let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                Counts::default()
            }),
            Err(_) => Counts::default(),
        };
        let seen = stamp(&path);
        FileLikes {
            path,
            counts: Mutex::new(counts),
            seen: Mutex::new(seen),
        }
    }
}

impl Likes for FileLikes {
    /// Re-reads the file if another process has written it since (a `stat` otherwise).
    fn reload(&self, _channels: &[String]) {
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

    fn get(&self, channel: &str, item: &str) -> Votes {
        self.counts.lock().get(channel, item)
    }

    /// Records a vote and persists it before returning the new counts (waits for another
    /// process's vote to be written).
    fn vote(&self, channel: &str, item: &str, vote: Vote) -> Result<Votes, PersistError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut counts = self.counts.lock();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(std::io::Error::from)?;
        if let Some(disk) = read(&self.path) {
            *counts = disk;
        }
        let v = counts.entry(channel, item);
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

/// The counts in Redis (see the module doc; keys in [`crate::redis_link`]).
pub struct RedisLikes {
    link: Arc<RedisLink>,
    /// The counts last read, or returned by a vote.
    counts: Mutex<Counts>,
}

impl RedisLikes {
    pub fn new(link: Arc<RedisLink>) -> RedisLikes {
        RedisLikes {
            link,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// The hashes of `channel`'s likes and dislikes.
    fn keys(&self, channel: &str) -> (String, String) {
        (
            self.link.key(&["channel", channel, "likes"]),
            self.link.key(&["channel", channel, "dislikes"]),
        )
    }
}

impl Likes for RedisLikes {
    fn get(&self, channel: &str, item: &str) -> Votes {
        self.counts.lock().get(channel, item)
    }

    /// One `MULTI`: `HINCRBY` of the vote's hash and `HGET` of the other, so the pair
    /// returned is one moment's counts.
    fn vote(&self, channel: &str, item: &str, vote: Vote) -> Result<Votes, PersistError> {
        let (likes, dislikes) = self.keys(channel);
        let (add_to, other) = match vote {
            Vote::Like => (likes, dislikes),
            Vote::Dislike => (dislikes, likes),
        };
        let field = item.to_string();
        let mut con = self.link.connection();
        let (added, other_count): (u64, Option<u64>) = self.link.block_on(async move {
            redis::pipe()
                .atomic()
                .hincr(&add_to, &field, 1)
                .hget(&other, &field)
                .query_async(&mut con)
                .await
        })?;
        let other_count = other_count.unwrap_or(0);
        let votes = match vote {
            Vote::Like => Votes {
                likes: added,
                dislikes: other_count,
            },
            Vote::Dislike => Votes {
                likes: other_count,
                dislikes: added,
            },
        };
        *self.counts.lock().entry(channel, item) = votes;
        Ok(votes)
    }

    /// One round trip: `HGETALL` of both hashes of every channel.
    fn reload(&self, channels: &[String]) {
        let mut pipe = redis::pipe();
        for channel in channels {
            let (likes, dislikes) = self.keys(channel);
            pipe.hgetall(likes).hgetall(dislikes);
        }
        let mut con = self.link.connection();
        let got = self
            .link
            .block_on(async move { pipe.query_async::<Vec<BTreeMap<String, u64>>>(&mut con).await });
        // Not answering: the link has said so; the last counts stay.
        let Ok(hashes) = got else { return };
        let mut counts = Counts::default();
        for (channel, pair) in channels.iter().zip(hashes.chunks(2)) {
            for (item, n) in &pair[0] {
                counts.entry(channel, item).likes = *n;
            }
            for (item, n) in pair.get(1).into_iter().flatten() {
                counts.entry(channel, item).dislikes = *n;
            }
        }
        *self.counts.lock() = counts;
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
    use crate::redis_link::test_server::TestRedis;

    fn votes(likes: u64, dislikes: u64) -> Votes {
        Votes { likes, dislikes }
    }

    /// Two instances like `video:x` of `main` 50 times each, at the same time.
    fn fifty_likes_each(a: &dyn Likes, b: &dyn Likes) {
        std::thread::scope(|s| {
            for likes in [a, b] {
                s.spawn(move || {
                    for _ in 0..50 {
                        likes.vote("main", "video:x", Vote::Like).unwrap();
                    }
                });
            }
        });
    }

    #[test]
    fn votes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channels/likes.json");
        let likes = FileLikes::open(path.clone());
        likes.vote("main", "video:a", Vote::Like).unwrap();
        likes.vote("main", "video:a", Vote::Like).unwrap();
        assert_eq!(likes.vote("main", "video:a", Vote::Dislike).unwrap(), votes(2, 1));
        drop(likes);
        let again = FileLikes::open(path);
        assert_eq!(again.get("main", "video:a"), votes(2, 1));
        assert_eq!(again.get("main", "video:b"), Votes::default());
    }

    #[test]
    fn two_openers_of_one_file_lose_no_vote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("likes.json");
        let (a, b) = (FileLikes::open(path.clone()), FileLikes::open(path.clone()));
        fifty_likes_each(&a, &b);
        a.reload(&[]);
        b.reload(&[]);
        for likes in [&a, &b, &FileLikes::open(path)] {
            assert_eq!(likes.get("main", "video:x").likes, 100);
        }
    }

    #[test]
    fn redis_counts_add_up_across_instances_and_survive_in_redis() {
        let Some(server) = TestRedis::start() else { return };
        let connect = || RedisLikes::new(RedisLink::connect(&server.url(), Some("likes-test")).unwrap());
        let (a, b) = (connect(), connect());
        fifty_likes_each(&a, &b);
        assert_eq!(a.vote("main", "video:x", Vote::Dislike).unwrap(), votes(100, 1));
        // What each instance shows comes from memory: b learns a's votes by reloading.
        assert_eq!(b.get("main", "video:x").dislikes, 0);
        let channels = ["main".to_string(), "other".to_string()];
        b.reload(&channels);
        assert_eq!(b.get("main", "video:x"), votes(100, 1));
        assert_eq!(b.get("other", "video:x"), Votes::default());
        // A new instance (a restart) finds the counts in Redis; another namespace does not.
        let again = connect();
        again.reload(&channels);
        assert_eq!(again.get("main", "video:x").likes, 100);
        let elsewhere = RedisLikes::new(RedisLink::connect(&server.url(), Some("another")).unwrap());
        elsewhere.reload(&channels);
        assert_eq!(elsewhere.get("main", "video:x"), Votes::default());
    }

    #[test]
    fn without_redis_a_vote_is_refused_and_the_last_counts_stay() {
        let Some(server) = TestRedis::start() else { return };
        let likes = RedisLikes::new(RedisLink::connect(&server.url(), None).unwrap());
        likes.vote("main", "video:x", Vote::Like).unwrap();
        drop(server);
        assert!(matches!(
            likes.vote("main", "video:x", Vote::Like),
            Err(PersistError::Unavailable(_))
        ));
        likes.reload(&["main".to_string()]);
        assert_eq!(likes.get("main", "video:x").likes, 1);
    }
}

//! Where channel schedules (their epochs) are kept: [`ScheduleStore`], shared by every
//! instance that plays the channels, so that they all compute the same `now`.
//!
//! A schedule is replaced whole, by compare-and-set on a version: an instance reads the
//! schedule and its version, computes the next one ([`Schedule::with_items_looping`]: an
//! epoch appended, a pending one replaced, old ones dropped) and stores it only if the
//! version is still the one it read. Two instances that see the catalog change at once
//! both compute an epoch; one stores it, the other is told it lost, reads the winner's
//! schedule and computes again from it (usually finding nothing left to change).
//!
//! * [`FileSchedules`] (the embedded default): `{name}.schedule.json` under
//!   `{media}/.channels`; the version is a hash of the file's bytes, and the compare and
//!   the write happen under an exclusive `flock` of `{name}.schedule.lock`, so processes
//!   sharing a folder cannot both append.
//! * [`RedisSchedules`] (`--redis`): a hash per channel, `version` and `schedule` (the same
//!   JSON); a Lua script compares and writes in one step. New versions are the Redis
//!   clock in microseconds (or one more than the last, if larger), so a Redis that lost
//!   its data (restarted without persistence) never hands out a version an instance
//!   already holds for another schedule.
//!
//! Instances learn of another's epoch by polling the versions each second (one round trip
//! for every channel) rather than through pub/sub: an epoch starts at the end of the item
//! playing [`FIXED_AHEAD_MS`](super::schedule::FIXED_AHEAD_MS) from the moment it is
//! appended, so a second of delay is eleven seconds early, and a poll cannot miss a change
//! while the connection is down, where a pub/sub message would be lost.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use super::schedule::Schedule;
use super::PersistError;
use crate::redis_link::RedisLink;

/// A channel's schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Names what is stored; 0 when nothing is.
    pub version: u64,
    /// `None` when nothing (readable) is stored.
    pub schedule: Option<Schedule>,
}

/// Where schedules live. Every method blocks (disk, network).
pub trait ScheduleStore: Send + Sync {
    /// For each `(channel, version the caller holds)`, what is stored when its version
    /// is another.
    fn load_changed(&self, known: &[(String, u64)]) -> Result<Vec<(String, Stored)>, PersistError>;

    /// Stores `next` as `channel`'s schedule if the stored version is still `expected`
    /// (0: nothing stored). Returns the new version, or `None` when another instance
    /// stored a schedule first.
    fn replace(&self, channel: &str, expected: u64, next: &Schedule) -> Result<Option<u64>, PersistError>;
}

/// Schedules as JSON files in one folder (see the module doc).
pub struct FileSchedules {
    dir: PathBuf,
}

impl FileSchedules {
    pub fn new(dir: &Path) -> FileSchedules {
        FileSchedules {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}.schedule.json"))
    }

    fn read(&self, channel: &str) -> Stored {
        match std::fs::read(self.path(channel)) {
            Ok(bytes) => Stored {
                version: version_of(&bytes),
                schedule: serde_json::from_slice(&bytes).ok(),
            },
            Err(_) => Stored {
                version: 0,
                schedule: None,
            },
        }
    }
}

impl ScheduleStore for FileSchedules {
    fn load_changed(&self, known: &[(String, u64)]) -> Result<Vec<(String, Stored)>, PersistError> {
        Ok(known
            .iter()
            .filter_map(|(channel, version)| {
                let stored = self.read(channel);
                (stored.version != *version).then(|| (channel.clone(), stored))
            })
            .collect())
    }

    fn replace(&self, channel: &str, expected: u64, next: &Schedule) -> Result<Option<u64>, PersistError> {
        std::fs::create_dir_all(&self.dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{channel}.schedule.lock")))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(std::io::Error::from)?;
        if self.read(channel).version != expected {
            return Ok(None);
        }
        let json = serde_json::to_vec_pretty(next).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&self.path(channel), &json)?;
        Ok(Some(version_of(&json))) // the lock goes with `lock`
    }
}

/// A file's version: FNV-1a of its bytes (stable across builds, unlike `DefaultHasher`),
/// never 0.
fn version_of(bytes: &[u8]) -> u64 {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash.max(1)
}

/// Schedules in Redis (see the module doc; keys in [`crate::redis_link`]).
pub struct RedisSchedules {
    link: Arc<RedisLink>,
}

/// KEYS[1]: the channel's hash; ARGV[1]: the version expected; ARGV[2]: the new JSON.
/// Returns the new version, or 0 when the stored one was not the one expected.
static COMPARE_AND_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if stored ~= tonumber(ARGV[1]) then
  return 0
end
local t = redis.call('TIME')
local version = math.max(stored + 1, t[1] * 1000000 + t[2])
redis.call('HSET', KEYS[1], 'version', string.format('%d', version), 'schedule', ARGV[2])
return version
",
    )
});

impl RedisSchedules {
    pub fn new(link: Arc<RedisLink>) -> RedisSchedules {
        RedisSchedules { link }
    }

    fn key(&self, channel: &str) -> String {
        self.link.key(&["channel", channel, "schedule"])
    }
}

impl ScheduleStore for RedisSchedules {
    /// One round trip of `HGET version` for every channel, and one `HMGET` for those that
    /// moved.
    fn load_changed(&self, known: &[(String, u64)]) -> Result<Vec<(String, Stored)>, PersistError> {
        let mut pipe = redis::pipe();
        for (channel, _) in known {
            pipe.hget(self.key(channel), "version");
        }
        let mut con = self.link.connection();
        let versions: Vec<Option<u64>> = self
            .link
            .block_on(async move { pipe.query_async(&mut con).await })?;
        let moved: Vec<&String> = known
            .iter()
            .zip(&versions)
            .filter(|((_, held), stored)| stored.unwrap_or(0) != *held)
            .map(|((channel, _), _)| channel)
            .collect();
        if moved.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for channel in &moved {
            pipe.cmd("HMGET")
                .arg(self.key(channel))
                .arg("version")
                .arg("schedule");
        }
        let mut con = self.link.connection();
        let stored: Vec<(Option<u64>, Option<String>)> = self
            .link
            .block_on(async move { pipe.query_async(&mut con).await })?;
        Ok(moved
            .into_iter()
            .zip(stored)
            .map(|(channel, (version, json))| {
                let schedule = json.and_then(|j| match serde_json::from_str(&j) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        log::warn!(
                            "channel {channel}: the schedule in redis is unreadable ({e}); replacing it"
                        );
                        None
                    }
                });
                (
                    channel.clone(),
                    Stored {
                        version: version.unwrap_or(0),
                        schedule,
                    },
                )
            })
            .collect())
    }

    fn replace(&self, channel: &str, expected: u64, next: &Schedule) -> Result<Option<u64>, PersistError> {
        let json = serde_json::to_string(next).map_err(std::io::Error::other)?;
        let key = self.key(channel);
        let mut con = self.link.connection();
        let version: u64 = self.link.block_on(async move {
            COMPARE_AND_SET
                .key(key)
                .arg(expected)
                .arg(json)
                .invoke_async(&mut con)
                .await
        })?;
        Ok((version != 0).then_some(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::schedule::ScheduleItem;
    use crate::redis_link::test_server::TestRedis;

    fn schedule_with(keys: &[&str], now_ms: u64) -> Schedule {
        let items = keys
            .iter()
            .map(|k| ScheduleItem {
                key: k.to_string(),
                duration_ms: 10_000,
                segments: 5,
            })
            .collect();
        Schedule::default().with_items(items, now_ms)
    }

    /// What every store must do: report changes by version, refuse a stale replace.
    fn compare_and_set(a: &dyn ScheduleStore, b: &dyn ScheduleStore) {
        let known = |v: u64| vec![("main".to_string(), v)];
        assert_eq!(
            a.load_changed(&known(0)).unwrap(),
            Vec::new(),
            "nothing stored yet"
        );
        let first = schedule_with(&["video:a"], 1_000_000);
        let v1 = a.replace("main", 0, &first).unwrap().expect("stored");
        assert_ne!(v1, 0);
        // b read nothing before a stored: its replace loses, and it reads a's schedule.
        let rival = schedule_with(&["video:b"], 1_000_001);
        assert_eq!(b.replace("main", 0, &rival).unwrap(), None);
        let got = b.load_changed(&known(0)).unwrap();
        assert_eq!(
            got,
            vec![(
                "main".to_string(),
                Stored {
                    version: v1,
                    schedule: Some(first.clone())
                }
            )]
        );
        assert_eq!(b.load_changed(&known(v1)).unwrap(), Vec::new(), "unchanged");
        // From the version it read, b appends an epoch; a sees it.
        let second = first.with_items(rival.items().to_vec(), 1_005_000);
        let v2 = b.replace("main", v1, &second).unwrap().expect("stored");
        assert_ne!(v2, v1);
        assert_eq!(a.replace("main", v1, &first).unwrap(), None, "a stale version");
        let seen = a.load_changed(&known(v1)).unwrap();
        assert_eq!(seen[0].1.schedule.as_ref(), Some(&second));
        assert_eq!(seen[0].1.version, v2);
    }

    #[test]
    fn files_compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        compare_and_set(&FileSchedules::new(dir.path()), &FileSchedules::new(dir.path()));
    }

    #[test]
    fn redis_compares_and_sets() {
        let Some(server) = TestRedis::start() else { return };
        let store = || RedisSchedules::new(RedisLink::connect(&server.url(), Some("epochs")).unwrap());
        compare_and_set(&store(), &store());
    }

    #[test]
    fn concurrent_appends_in_redis_store_exactly_one_per_version() {
        let Some(server) = TestRedis::start() else { return };
        let link = RedisLink::connect(&server.url(), None).unwrap();
        let stores: Vec<RedisSchedules> = (0..4).map(|_| RedisSchedules::new(link.clone())).collect();
        // Each of four writers appends 25 epochs, re-reading whenever it loses a race.
        let wins: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(w, store)| {
                    s.spawn(move || {
                        let mut wins = 0;
                        let mut held = (0, Schedule::default());
                        while wins < 25 {
                            if let Some((_, stored)) =
                                store.load_changed(&[("main".to_string(), held.0)]).unwrap().pop()
                            {
                                held = (stored.version, stored.schedule.unwrap_or_default());
                            }
                            let n = held.1.items().len();
                            let key = format!("video:w{w}-{n}");
                            let mut keys: Vec<String> =
                                held.1.items().iter().map(|i| i.key.clone()).collect();
                            keys.push(key);
                            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                            let next = schedule_with(&refs, 1_000_000);
                            if let Some(v) = store.replace("main", held.0, &next).unwrap() {
                                held = (v, next);
                                wins += 1;
                            }
                        }
                        wins
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins, [25; 4]);
        // No write was lost: every append of every writer is in the list.
        let stored = stores[0].load_changed(&[("main".to_string(), 0)]).unwrap();
        let schedule = stored[0].1.schedule.clone().unwrap();
        assert_eq!(schedule.items().len(), 100);
    }

    #[test]
    fn a_redis_that_lost_its_data_reports_nothing_stored() {
        let Some(server) = TestRedis::start() else { return };
        let link = RedisLink::connect(&server.url(), None).unwrap();
        let store = RedisSchedules::new(link.clone());
        let v = store
            .replace("main", 0, &schedule_with(&["video:a"], 5))
            .unwrap()
            .unwrap();
        let mut con = link.connection();
        link.block_on(async move { redis::cmd("FLUSHALL").query_async::<()>(&mut con).await })
            .unwrap();
        let got = store.load_changed(&[("main".to_string(), v)]).unwrap();
        assert_eq!(
            got[0].1,
            Stored {
                version: 0,
                schedule: None
            }
        );
        // Re-seeding from what an instance knew gets a version never handed out before.
        let again = store
            .replace("main", 0, &schedule_with(&["video:a"], 5))
            .unwrap()
            .unwrap();
        assert!(again > v, "{again} after {v}");
    }
}

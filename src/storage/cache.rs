//! [`ObjectCache`]: whole objects of a remote store kept in memory, within a byte budget.
//!
//! Segments, init segments and posters never change, so they stay until evicted (the
//! cache's S3-FIFO policy keeps hot ones); playlists and manifests may grow while a job
//! runs, so they are kept for [`MUTABLE_TTL`] at most. Concurrent misses for one key wait
//! for a single request (many viewers asking for a new segment at once cost one round
//! trip). Absent objects are not remembered: a segment asked for before it is stored must
//! be found once it is.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::headers::is_immutable_name;
use super::StoredObject;

/// How long a playlist or manifest may be served from memory.
pub const MUTABLE_TTL: Duration = Duration::from_secs(1);

/// Objects larger than this are never kept (a whole MP4 stored by mistake must not flush
/// every segment).
const MAX_CACHED_OBJECT: u64 = 32 << 20;

#[derive(Clone)]
struct Entry {
    object: Arc<StoredObject>,
    fetched: Instant,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, Entry> for ByBytes {
    fn weight(&self, key: &String, val: &Entry) -> u64 {
        val.object.bytes.len() as u64 + key.len() as u64 + 64
    }
}

pub struct ObjectCache {
    entries: Option<Cache<String, Entry, ByBytes>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ObjectCache {
    /// A cache of at most `budget` bytes; 0 keeps nothing.
    pub fn new(budget: u64) -> ObjectCache {
        ObjectCache {
            entries: (budget > 0)
                .then(|| Cache::with_weighter((budget / (512 << 10)).max(16) as usize, budget, ByBytes)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The object for `key`, from memory when fresh, else from `fetch` (once for all
    /// concurrent callers).
    pub async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> io::Result<Option<Arc<StoredObject>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = io::Result<Option<StoredObject>>>,
    {
        let Some(entries) = &self.entries else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(fetch().await?.map(Arc::new));
        };
        let immutable = is_immutable_name(key);
        if let Some(e) = entries.get(key) {
            if immutable || e.fetched.elapsed() < MUTABLE_TTL {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(e.object));
            }
            entries.remove(key);
        }
        match entries.get_value_or_guard_async(key).await {
            Ok(e) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(e.object))
            }
            Err(guard) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                // On error or absence the guard drops unfilled and waiters fetch themselves.
                let Some(object) = fetch().await? else {
                    return Ok(None);
                };
                let object = Arc::new(object);
                if (object.bytes.len() as u64) <= MAX_CACHED_OBJECT {
                    let _ = guard.insert(Entry {
                        object: object.clone(),
                        fetched: Instant::now(),
                    });
                }
                Ok(Some(object))
            }
        }
    }

    /// Drops what is kept for `key` (it was just written or deleted here).
    pub fn forget(&self, key: &str) {
        if let Some(entries) = &self.entries {
            entries.remove(key);
        }
    }

    /// (hits, misses, bytes held).
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.entries.as_ref().map(|c| c.weight()).unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn object(byte: u8) -> StoredObject {
        StoredObject {
            bytes: vec![byte; 10].into(),
            e_tag: format!("\"{byte}\""),
            last_modified: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn segments_stay_playlists_expire_absence_is_not_kept() {
        let cache = ObjectCache::new(1 << 20);
        let got = futures_executor::block_on(
            cache.get_or_fetch("a/720p/seg00001.m4s", || async { Ok(Some(object(1))) }),
        )
        .unwrap();
        assert_eq!(got.unwrap().e_tag, "\"1\"");
        let again = futures_executor::block_on(
            cache.get_or_fetch("a/720p/seg00001.m4s", || async { Ok(Some(object(2))) }),
        )
        .unwrap();
        assert_eq!(again.unwrap().e_tag, "\"1\"", "a segment comes from memory");

        futures_executor::block_on(cache.get_or_fetch("a/720p/index.m3u8", || async { Ok(Some(object(3))) }))
            .unwrap();
        std::thread::sleep(MUTABLE_TTL + Duration::from_millis(50));
        let fresh = futures_executor::block_on(
            cache.get_or_fetch("a/720p/index.m3u8", || async { Ok(Some(object(4))) }),
        )
        .unwrap();
        assert_eq!(
            fresh.unwrap().e_tag,
            "\"4\"",
            "a playlist is fetched again after its TTL"
        );

        assert!(
            futures_executor::block_on(cache.get_or_fetch("a/720p/seg00002.m4s", || async { Ok(None) }))
                .unwrap()
                .is_none()
        );
        let later = futures_executor::block_on(
            cache.get_or_fetch("a/720p/seg00002.m4s", || async { Ok(Some(object(5))) }),
        )
        .unwrap();
        assert!(later.is_some(), "an object stored after a miss is found");
        let (hits, misses, held) = cache.stats();
        assert_eq!((hits, misses), (1, 5));
        assert!(held > 0);
    }

    #[test]
    fn a_zero_budget_fetches_every_time() {
        let cache = ObjectCache::new(0);
        for i in 0..2 {
            let got = futures_executor::block_on(
                cache.get_or_fetch("x.m4s", move || async move { Ok(Some(object(i))) }),
            )
            .unwrap();
            assert_eq!(got.unwrap().e_tag, format!("\"{i}\""));
        }
    }
}

//! [`FileCache`]: hot blocks of served files, kept in memory.
//!
//! nginx sends a file with `sendfile`, so its bytes go from the page cache to the socket
//! without being copied out. actix writes bodies from memory, so a plain server pays a
//! `pread` (a copy out of the page cache, plus the page lookups) on every request. Media
//! traffic is very repetitive (every viewer of a video fetches the same segments), so the
//! blocks of recently served files are kept here instead: a hit costs a hash lookup and a
//! reference count, and the response body is a slice of the cached block (no copy).
//!
//! * Blocks are [`BLOCK`] bytes at aligned offsets; a range is served as slices of the
//!   blocks it covers, and a miss reads whole blocks (at most one block more than asked).
//! * Keys carry the file's device, inode, size and modification time, so a file rewritten
//!   or replaced is a different file and old blocks simply age out. Those are the
//!   validators static servers build ETags from; as they cannot tell apart two versions
//!   written within one clock tick that reuse an inode at the same size, the media handler
//!   only caches files that never change in place (segments, init segments, library
//!   files), never playlists or manifests, which running jobs rewrite many times a second.
//! * Eviction is CLOCK (second chance) over a byte budget (`--cache-mb`; 0 turns the cache
//!   off), O(1) amortised under one short lock; reads from disk happen outside the lock.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::web::Bytes;
use parking_lot::Mutex;

use super::body::read_range;

/// Bytes per cached block.
pub const BLOCK: u64 = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct BlockKey {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    block: u64,
}

struct Slot {
    data: Bytes,
    referenced: bool,
}

#[derive(Default)]
struct Blocks {
    map: HashMap<BlockKey, Slot>,
    /// Insertion order, for the clock hand.
    clock: VecDeque<BlockKey>,
    bytes: u64,
}

pub struct FileCache {
    budget: u64,
    blocks: Mutex<Blocks>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl FileCache {
    /// A cache holding at most `budget` bytes of blocks (0: no caching).
    pub fn new(budget: u64) -> FileCache {
        FileCache {
            budget,
            blocks: Mutex::new(Blocks::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// `(hits, misses, bytes held)`, for `/metrics`.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.blocks.lock().bytes,
        )
    }

    /// The bytes `[offset, offset + len)` of `file` (whose `fstat` is `meta`), as slices of
    /// cached blocks, in order.
    pub fn read(&self, file: &File, meta: &Metadata, offset: u64, len: u64) -> std::io::Result<Vec<Bytes>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        if self.budget == 0 {
            return Ok(vec![read_range(file, offset, len as usize)?]);
        }
        let end = offset + len;
        let mut parts = Vec::with_capacity(((end - 1) / BLOCK - offset / BLOCK + 1) as usize);
        for block in offset / BLOCK..=(end - 1) / BLOCK {
            let key = BlockKey {
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                block,
            };
            let data = self.block(file, key)?;
            let start = block * BLOCK;
            let from = offset.max(start) - start;
            let to = end.min(start + data.len() as u64) - start;
            parts.push(data.slice(from as usize..to as usize));
        }
        Ok(parts)
    }

    fn block(&self, file: &File, key: BlockKey) -> std::io::Result<Bytes> {
        if let Some(slot) = self.blocks.lock().map.get_mut(&key) {
            slot.referenced = true;
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(slot.data.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let start = key.block * BLOCK;
        let data = read_range(file, start, BLOCK.min(key.len - start) as usize)?;
        self.insert(key, data.clone());
        Ok(data)
    }

    fn insert(&self, key: BlockKey, data: Bytes) {
        let size = data.len() as u64;
        if size > self.budget {
            return;
        }
        let mut blocks = self.blocks.lock();
        if blocks.map.contains_key(&key) {
            return; // another worker read the same block meanwhile
        }
        while blocks.bytes + size > self.budget {
            let Some(victim) = blocks.clock.pop_front() else {
                break;
            };
            let second_chance = match blocks.map.get_mut(&victim) {
                Some(slot) if slot.referenced => {
                    slot.referenced = false;
                    true
                }
                Some(_) => false,
                None => continue,
            };
            if second_chance {
                blocks.clock.push_back(victim);
            } else if let Some(slot) = blocks.map.remove(&victim) {
                blocks.bytes -= slot.data.len() as u64;
            }
        }
        blocks.bytes += size;
        blocks.clock.push_back(key);
        blocks.map.insert(
            key,
            Slot {
                data,
                referenced: false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(len: usize, seed: u8) -> (tempfile::NamedTempFile, Vec<u8>) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ seed).collect();
        std::fs::write(tmp.path(), &data).unwrap();
        (tmp, data)
    }

    fn read(cache: &FileCache, path: &std::path::Path, offset: u64, len: u64) -> Vec<u8> {
        let file = File::open(path).unwrap();
        let meta = file.metadata().unwrap();
        cache.read(&file, &meta, offset, len).unwrap().concat()
    }

    #[test]
    fn ranges_across_blocks_come_back_exact_and_then_from_memory() {
        let (tmp, data) = file_with(3 * BLOCK as usize + 1000, 0);
        let cache = FileCache::new(16 * BLOCK);
        for (offset, len) in [(0, 10), (BLOCK - 5, 10), (100, 3 * BLOCK), (3 * BLOCK + 900, 100)] {
            let got = read(&cache, tmp.path(), offset, len);
            assert_eq!(
                got,
                data[offset as usize..(offset + len) as usize],
                "{offset}+{len}"
            );
        }
        let (hits, misses, bytes) = cache.stats();
        assert_eq!(misses, 4, "each block read once");
        assert!(hits >= 3);
        assert_eq!(bytes, data.len() as u64);
    }

    #[test]
    fn a_rewritten_file_is_never_served_stale() {
        let (tmp, _) = file_with(1000, 0);
        let cache = FileCache::new(16 * BLOCK);
        read(&cache, tmp.path(), 0, 1000);
        // Replace it the way playlists are replaced: a new file renamed over the old one.
        let (new, data) = file_with(1000, 0x55);
        std::fs::rename(new.path(), tmp.path()).unwrap();
        assert_eq!(read(&cache, tmp.path(), 0, 1000), data);
    }

    #[test]
    fn the_budget_holds_and_hot_blocks_survive() {
        let (tmp, data) = file_with(10 * BLOCK as usize, 0);
        let cache = FileCache::new(4 * BLOCK);
        for round in 0..3 {
            for b in 0..10 {
                // Block 0 is read before every other block: it stays hot.
                assert_eq!(read(&cache, tmp.path(), 0, 10), data[..10]);
                assert_eq!(
                    read(&cache, tmp.path(), b * BLOCK, 10),
                    data[(b * BLOCK) as usize..][..10],
                    "{round}"
                );
                assert!(cache.stats().2 <= 4 * BLOCK);
            }
        }
        let (hits, _, _) = cache.stats();
        assert!(hits >= 29, "block 0 stayed cached: {hits} hits");
    }

    #[test]
    fn a_zero_budget_reads_through() {
        let (tmp, data) = file_with(5000, 0);
        let cache = FileCache::new(0);
        assert_eq!(read(&cache, tmp.path(), 100, 200), data[100..300]);
        assert_eq!(cache.stats(), (0, 0, 0));
    }
}

//! The catalog's background upkeep: one thread that keeps the catalog in step with the
//! other instances ([`Jobs::sync_with_others`]: the changes they announce) and the
//! library's renditions with the library folder ([`LibraryScanner::pass`]).

use std::time::{Duration, Instant};

use super::jobs::Jobs;
use super::library::LibraryScanner;

/// How long the thread waits for other instances' changes before it looks at the library
/// again (the in-process coordination compares the media root with the catalog this
/// often).
pub const SYNC_EVERY: Duration = Duration::from_secs(2);

/// Starts the upkeep thread. The library is scanned at once, then every `scan_every`
/// (and right after each of its preparations ends, so a library is worked through
/// without idle gaps).
pub fn spawn(jobs: Jobs, library: Option<(LibraryScanner, Duration)>) {
    std::thread::Builder::new()
        .name("catalog-upkeep".into())
        .spawn(move || {
            let mut next_scan = Instant::now();
            let mut preparing = 0;
            loop {
                if let Some((scanner, every)) = &library {
                    // A preparation that ended frees the way for the next one.
                    let now_preparing = jobs.library_jobs_in_progress();
                    if Instant::now() >= next_scan || now_preparing < preparing {
                        scanner.pass();
                        next_scan = Instant::now() + *every;
                    }
                    preparing = jobs.library_jobs_in_progress();
                }
                jobs.sync_with_others(SYNC_EVERY);
            }
        })
        .expect("spawning the catalog upkeep thread");
}

//! The worker pool: bounded queue, one `on_done` per job, cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::unbounded;
use reel::engine::pool::{Job, Pool};
use reel::engine::{CancelToken, EngineError};
use reel::hls::SegmentFormat;
use tempfile::tempdir;

use super::{clip, opts, spec};

#[test]
fn full_queue_gives_the_job_back_and_every_job_ends_once() {
    let dir = tempdir().unwrap();
    let src = clip(dir.path(), "in.mp4", spec(320, 180, 3.0));
    let pool = Pool::new(1, 1);
    let (done_tx, done_rx) = unbounded();
    let progress = Arc::new(Mutex::new(0usize));
    let job = |n: usize, cancel: CancelToken| {
        let done_tx = done_tx.clone();
        let progress = progress.clone();
        Job {
            input: src.clone(),
            out: super::objects(dir.path(), &format!("out{n}")),
            beside: None,
            options: opts(None, 1.0, SegmentFormat::Fmp4),
            cancel,
            on_progress: Box::new(move |_| *progress.lock().unwrap() += 1),
            on_done: Box::new(move |r| done_tx.send((n, r.map(|s| s.duration))).unwrap()),
        }
    };
    // One running, one queued, the third refused.
    let cancel_second = CancelToken::new();
    pool.submit(job(0, CancelToken::new())).unwrap();
    let mut second = None;
    for _ in 0..100 {
        // Wait for the worker to take job 0 so the queue slot is free.
        if pool.queued() == 0 {
            second = Some(pool.submit(job(1, cancel_second.clone())));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    second.expect("worker took the first job").unwrap();
    let refused = pool.submit(job(2, CancelToken::new())).unwrap_err();
    assert_eq!(refused.0.out.prefix(), "out2/");
    cancel_second.cancel();

    let mut results: Vec<_> = (0..2)
        .map(|_| done_rx.recv_timeout(Duration::from_secs(60)).unwrap())
        .collect();
    results.sort_by_key(|(n, _)| *n);
    assert!((results[0].1.as_ref().unwrap() - 3.0).abs() < 0.05);
    assert!(matches!(results[1].1, Err(EngineError::Cancelled)));
    assert!(
        done_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "a job ended twice"
    );
    assert!(*progress.lock().unwrap() > 0);
    assert!(dir.path().join("out0/master.m3u8").exists());
    assert!(!dir.path().join("out1").exists());
}

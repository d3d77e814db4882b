//! SSE fan-out of a channel: 2,000 loopback clients on `/api/channels/main/events`.
//!
//! ```text
//! benches/sse_fanout.sh            (raises ulimit -n, then cargo bench --bench sse_fanout)
//! REEL_BENCH_CLIENTS=500 benches/sse_fanout.sh
//! ```
//!
//! What it does: generates two 3 s clips, starts the real `reel serve` (release build) on a
//! temp media root, uploads them (so `main` changes item every 3 s), reads the server's
//! VmRSS, connects the clients (batches of 200, each reads its connect-time `update`),
//! reads VmRSS again, then lets [`BOUNDARIES`] item boundaries happen. For every client
//! and boundary: delay = arrival of the `update` event (client wall clock) − the item's
//! `started_at_ms` (the change instant in the schedule; server and clients share the
//! clock). Also reported: how late the server stamped the event (`server_time_ms` −
//! `started_at_ms`), i.e. the publisher's part of the delay.
//!
//! The client is one tokio thread reading every socket; its own turn-around is part of
//! the figure (the worst case for the last socket it gets to). Numbers go to stdout as
//! the Markdown rows of `docs/benchmarks.md` ("Channels: SSE fan-out").

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    cpus, find, http_get, load_average, open_file_limit, start_server, upload, vm_rss, wait_listed,
};

use reel::engine::sample::{write_sample, SampleSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Item changes measured after every client is connected.
const BOUNDARIES: usize = 5;
const ITEM_SECONDS: f64 = 3.0;
const BATCH: usize = 200;

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn main() {
    let clients: usize = std::env::var("REEL_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let limit = open_file_limit();
    if limit < clients as u64 + 64 {
        eprintln!(
            "sse_fanout: {clients} clients need more open files than `ulimit -n` ({limit}) allows; \
             run benches/sse_fanout.sh (raises it) or set REEL_BENCH_CLIENTS lower"
        );
        std::process::exit(2);
    }
    let tmp = tempfile::Builder::new()
        .prefix("reel-bench-sse-")
        .tempdir()
        .unwrap();
    let mut server = start_server(tmp.path(), None);
    let addr = server.addr;
    for name in ["first", "second"] {
        let clip = tmp.path().join(format!("{name}.mp4"));
        write_sample(
            &clip,
            &SampleSpec {
                width: 320,
                height: 180,
                seconds: ITEM_SECONDS,
                ..SampleSpec::default()
            },
        )
        .expect("sample clip");
        upload(addr, &clip, &[("heights", "180"), ("segment_seconds", "1")]);
    }
    wait_listed(addr, 2);
    // Warm the server up (workers, allocator) before the baseline.
    for _ in 0..20 {
        http_get(addr, "/api/channels/main");
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = vm_rss(server.child.id());
    let load_before = load_average();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (connected_at, results) = runtime.block_on(fan_out(addr, clients, server.child.id()));
    let rss_after = connected_at.1;

    let mut delays: Vec<f64> = Vec::new();
    let mut stamped: Vec<f64> = Vec::new();
    let mut per_boundary: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    let mut missing = 0;
    for r in &results {
        if r.updates.len() < BOUNDARIES {
            missing += BOUNDARIES - r.updates.len();
        }
        for u in &r.updates {
            let d = u.received_ms as f64 - u.started_at_ms as f64;
            delays.push(d);
            stamped.push(u.server_time_ms as f64 - u.started_at_ms as f64);
            per_boundary.entry(u.started_at_ms).or_default().push(d);
        }
    }
    server.stop();
    let load_after = load_average();
    let pct = |v: &mut Vec<f64>, p: f64| -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    };
    let per_client = (rss_after as f64 - rss_before as f64) / clients as f64;
    println!(
        "clients connected: {clients} in {:.2} s",
        connected_at.0.as_secs_f64()
    );
    println!("updates measured: {} ({missing} missing)", delays.len());
    for (start, mut d) in per_boundary {
        println!(
            "  boundary at {start}: {} clients, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            d.len(),
            pct(&mut d, 0.5),
            pct(&mut d, 0.99),
            pct(&mut d, 1.0)
        );
    }
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| clients | {clients} |");
    println!(
        "| machine | {} CPUs, load average {load_before} → {load_after} (1 min) |",
        cpus()
    );
    println!(
        "| `update` delay, change instant → receipt: p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        pct(&mut delays, 0.5),
        pct(&mut delays, 0.99),
        pct(&mut delays, 1.0)
    );
    println!(
        "| of which the server stamped it late by (p50 / max) | {:.1} / {:.1} ms |",
        pct(&mut stamped, 0.5),
        pct(&mut stamped, 1.0)
    );
    println!(
        "| server VmRSS before → after connecting | {:.1} MiB → {:.1} MiB |",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );
    println!("| memory per client | {:.1} KiB |", per_client / 1024.0);
    assert_eq!(missing, 0, "some clients missed an update");
}

/// What one client saw.
struct ClientResult {
    updates: Vec<Update>,
}

struct Update {
    started_at_ms: u64,
    server_time_ms: u64,
    received_ms: u64,
}

/// Connects `clients` SSE clients; returns (time to connect them all, VmRSS then) and,
/// after [`BOUNDARIES`] item changes, what each saw.
async fn fan_out(addr: SocketAddr, clients: usize, pid: u32) -> ((Duration, u64), Vec<ClientResult>) {
    let started = Instant::now();
    let mut streams = Vec::with_capacity(clients);
    for batch in 0..clients.div_ceil(BATCH) {
        let n = BATCH.min(clients - batch * BATCH);
        let opened = futures_util::future::join_all((0..n).map(|_| open_stream(addr))).await;
        streams.extend(opened);
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = vm_rss(pid);
    // Only item changes after every client is connected count: an earlier one may have
    // waited in a socket buffer while the client was busy connecting the others.
    let from_ms = unix_ms();
    let results = futures_util::future::join_all(
        streams
            .into_iter()
            .map(|(stream, buffer)| follow(stream, buffer, from_ms)),
    )
    .await;
    ((took, rss), results)
}

/// Opens one SSE stream and reads up to the end of its first event (the state at connect).
async fn open_stream(addr: SocketAddr) -> (tokio::net::TcpStream, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"GET /api/channels/main/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while find(&buffer, b"\n\n").is_none() || find(&buffer, b"data: ").is_none() {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed a stream");
        buffer.extend_from_slice(&chunk[..n]);
    }
    // Drop everything up to the end of the first event.
    let data = find(&buffer, b"data: ").unwrap();
    let end = data + find(&buffer[data..], b"\n\n").unwrap() + 2;
    buffer.drain(..end);
    (stream, buffer)
}

/// Reads events until [`BOUNDARIES`] `update`s of items starting at or after `from_ms`
/// have arrived, stamping each on arrival.
async fn follow(mut stream: tokio::net::TcpStream, mut buffer: Vec<u8>, from_ms: u64) -> ClientResult {
    let mut updates = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs_f64(ITEM_SECONDS * (BOUNDARIES as f64 + 3.0));
    while updates.len() < BOUNDARIES {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        let Ok(Ok(n)) = read else { break };
        let received_ms = unix_ms();
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(start) = find(&buffer, b"event: ") {
            let Some(len) = find(&buffer[start..], b"\n\n") else {
                break;
            };
            let event = buffer[start..start + len].to_vec();
            buffer.drain(..start + len + 2);
            if !event.starts_with(b"event: update") {
                continue;
            }
            let data = &event[find(&event, b"data: ").unwrap() + 6..];
            let v: serde_json::Value = serde_json::from_slice(data).expect("event data is JSON");
            let started_at_ms = v["now"]["started_at_ms"].as_u64().unwrap();
            if started_at_ms < from_ms {
                continue;
            }
            updates.push(Update {
                started_at_ms,
                server_time_ms: v["server_time_ms"].as_u64().unwrap(),
                received_ms,
            });
        }
    }
    ClientResult { updates }
}

//! `GET /channels/{name}/stream.ts`: how many concurrent viewers one core keeps in real
//! time, and what each costs, beside the `ffmpeg` CLI remuxing the same segments
//! (`ffmpeg -re -i index.m3u8 -c copy -f mpegts`, one process per viewer).
//!
//! ```text
//! cargo bench --bench stream_ts
//! REEL_BENCH_STEPS=1,100,200 REEL_BENCH_PEER_STEPS=1,10 REEL_BENCH_WINDOW=20 cargo bench --bench stream_ts
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REEL_BENCH_STEPS` | `1,50,100,200,400,800` | concurrent `stream.ts` viewers, one step each |
//! | `REEL_BENCH_PEER_STEPS` | `1,10,25,50` | concurrent ffmpeg processes, one step each (`none`: skip) |
//! | `REEL_BENCH_WINDOW` | 30 | seconds measured per step |
//! | `REEL_BENCH_WARMUP` | 8 | seconds between opening the streams and the window |
//! | `REEL_BENCH_HEIGHT` | 720 | the rung viewers ask for (`?height=`) |
//! | `REEL_BENCH_ITEMS` | 3 | generated 1280x720 30 fps items of 10 s on the channel |
//!
//! What it does: generates the items (`testsrc2` + sine AAC), starts the release
//! `reel serve` pinned to CPU 0 (`taskset -c 0`, so actix runs one worker) on a temp media
//! root, uploads them (`heights=720,360`, `segment_seconds=2`), waits until channel `main`
//! lists them all. This process pins itself to CPU 1: the viewers never take the server's
//! core. A viewer is a socket read by one tokio thread here, which undoes the chunked
//! encoding and reads the MPEG-TS packets: bytes, and the PTS of each video PES.
//!
//! For each step: open N streams, wait the warm-up, then measure a window:
//! * **keeps up**: the media a viewer has received (its highest video PTS − its first)
//!   stays ahead of the wall clock since its first byte, less [`TOLERANCE`] (0.5 s: what a
//!   player that starts at the first byte needs), sampled every 0.5 s; "least headroom" is the smallest
//!   (media received − wall time) over the window and the viewers, "slowest" the smallest
//!   media received during the window / the window;
//! * **server CPU**: utime + stime of the server (`/proc/PID/stat`) over the window, in
//!   cores, and per viewer-second;
//! * **memory**: VmRSS at the end of the window − VmRSS idle (measured once, before the
//!   first step, after one viewer has come and gone), / N;
//! * **others on CPU 0**: CPU 0's busy time (`/proc/stat`) minus the server's, in cores:
//!   the machine is shared, and what else ran on the server's core is said.
//!
//! The peer, per step K: K processes `taskset -c 0 ffmpeg -re -stream_loop -1 -i
//! peer.mp4 -c copy -f mpegts pipe:1`, where `peer.mp4` is the first item's rung (its
//! `init.mp4` and segments joined: ffmpeg's `hls` demuxer cannot loop) read as a file, so
//! no HTTP server shares CPU 0; their stdout is read and judged here as the streams are; CPU is the sum over the K processes; memory is each process's
//! VmRSS and its private pages (`smaps_rollup`), averaged.
//!
//! Output: Markdown tables for docs/benchmarks.md ("Channel streams (stream.ts)").

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    core_busy, cpu_model, cpu_seconds, cpus, load_average, open_file_limit, private_bytes, proc_status,
    start_server, upload, vm_rss, wait_listed,
};
use reel::engine::sample::{write_sample, SampleSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;
const SAMPLE: Duration = Duration::from_millis(500);
/// How far behind the wall clock a viewer may fall and still keep up: a player's start
/// buffer. ffmpeg `-re` has no lead; its muxer holds back a fraction of a second.
const TOLERANCE: f64 = 0.5;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn steps(name: &str, default: &str) -> Vec<usize> {
    let v = std::env::var(name).unwrap_or_else(|_| default.into());
    v.split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

struct Config {
    window: f64,
    warmup: f64,
    height: u32,
}

fn main() {
    let cfg = Config {
        window: env_or("REEL_BENCH_WINDOW", 30.0),
        warmup: env_or("REEL_BENCH_WARMUP", 8.0),
        height: env_or("REEL_BENCH_HEIGHT", 720),
    };
    let reel_steps = steps("REEL_BENCH_STEPS", "1,50,100,200,400,800");
    let peer_steps = steps("REEL_BENCH_PEER_STEPS", "1,10,25,50");
    let items: usize = env_or("REEL_BENCH_ITEMS", 3);
    if cpus() < 2 {
        eprintln!("stream_ts: needs 2 CPUs (server on one, viewers on the other); skipped");
        return;
    }
    if Command::new("taskset").arg("-V").output().is_err() {
        eprintln!("stream_ts: taskset (util-linux) is missing; skipped");
        return;
    }
    let most = reel_steps.iter().chain(&peer_steps).copied().max().unwrap_or(0) as u64;
    if open_file_limit() < most + 64 {
        eprintln!("stream_ts: {most} viewers need `ulimit -n` above {}", most + 64);
        std::process::exit(2);
    }
    pin_to(CLIENT_CPU);

    let tmp = tempfile::Builder::new()
        .prefix("reel-bench-ts-")
        .tempdir()
        .unwrap();
    let mut server = start_server(tmp.path(), Some(&SERVER_CPU.to_string()));
    let addr = server.addr;
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..items {
        let clip = tmp.path().join(format!("item{i}.mp4"));
        let spec = SampleSpec {
            width: 1280,
            height: 720,
            seconds: 10.0,
            ..SampleSpec::default()
        };
        write_sample(&clip, &spec).expect("sample clip");
        ids.push(upload(
            addr,
            &clip,
            &[("heights", "720,360"), ("segment_seconds", "2")],
        ));
    }
    wait_listed(addr, items);
    eprintln!(
        "{items} items ready and listed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = server.pid();
    let path = format!("/channels/main/stream.ts?height={}", cfg.height);
    // One viewer comes and goes (libav's first-use allocations), then the idle figures.
    runtime.block_on(reel_step(
        addr,
        &path,
        1,
        pid,
        &Config {
            window: 2.0,
            warmup: 1.0,
            ..cfg
        },
    ));
    settle(pid);
    let idle_rss = vm_rss(pid);
    let idle_threads = proc_status(pid, "Threads");

    println!(
        "stream.ts benchmark: {} CPUs ({}), server on CPU {SERVER_CPU}, viewers on CPU {CLIENT_CPU}, \
         window {} s after {} s warm-up, height {}, load average {} at start",
        cpus(),
        cpu_model(),
        cfg.window,
        cfg.warmup,
        cfg.height,
        load_average()
    );
    println!(
        "server idle: VmRSS {:.1} MiB, {idle_threads} threads",
        idle_rss as f64 / 1048576.0
    );
    println!();
    println!("| viewers | keep up | slowest media/wall | least headroom (s) | server CPU (cores) | CPU per viewer-second | VmRSS (MiB) | RSS per viewer | others on CPU 0 (cores) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut reel_rows = Vec::new();
    for &n in &reel_steps {
        let m = runtime.block_on(reel_step(addr, &path, n, pid, &cfg));
        let memory = [
            format!("{:.1}", m.rss as f64 / 1048576.0),
            format!("{:.0} KiB", (m.rss as f64 - idle_rss as f64) / n as f64 / 1024.0),
        ];
        print_row(n, &m, cfg.window, memory);
        reel_rows.push((n, m));
        settle(pid);
    }
    server.stop();

    let mut peer_rows = Vec::new();
    if !peer_steps.is_empty() && Command::new("ffmpeg").arg("-version").output().is_ok() {
        let playlist = joined_rung(
            &tmp.path()
                .join("media")
                .join(&ids[0])
                .join(format!("{}p", cfg.height)),
            &tmp.path().join("peer.mp4"),
        );
        println!();
        println!(
            "ffmpeg: taskset -c {SERVER_CPU} ffmpeg {}",
            peer_args(&playlist).join(" ")
        );
        println!();
        println!("| ffmpeg processes | keep up | slowest media/wall | least headroom (s) | CPU (cores) | CPU per viewer-second | VmRSS per process (MiB) | private per process (MiB) | others on CPU 0 (cores) |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &k in &peer_steps {
            let m = peer_step(&playlist, k, &cfg);
            let memory = [
                format!("{:.1}", m.rss as f64 / k as f64 / 1048576.0),
                format!("{:.1}", m.private as f64 / k as f64 / 1048576.0),
            ];
            print_row(k, &m, cfg.window, memory);
            peer_rows.push((k, m));
        }
    } else {
        println!("\n(ffmpeg peer skipped)");
    }

    // The summary: capacity and the ratios.
    println!();
    let sustained = reel_rows
        .iter()
        .filter(|(n, m)| m.kept_up == *n && m.cpu / cfg.window < 0.95)
        .map(|(n, _)| *n)
        .max()
        .unwrap_or(0);
    // CPU per viewer-second at the largest step that kept up (start-up bursts weigh least).
    let per_viewer = |rows: &[(usize, Measure)]| {
        rows.iter()
            .filter(|(n, m)| m.kept_up == *n && *n > 1)
            .max_by_key(|(n, _)| *n)
            .or(rows.last())
            .map(|(n, m)| (m.cpu / (*n as f64 * cfg.window), *n))
    };
    println!("largest step where every viewer kept up on one core: {sustained} (floor: 200)");
    if let Some((reel_cpu, n)) = per_viewer(&reel_rows) {
        println!(
            "reel: {:.3} ms CPU per viewer-second at {n} viewers → one core ≈ {:.0} viewers",
            reel_cpu * 1000.0,
            1.0 / reel_cpu
        );
        if let Some((peer_cpu, k)) = per_viewer(&peer_rows) {
            println!(
                "ffmpeg: {:.3} ms CPU per viewer-second at {k} processes → one core ≈ {:.0} viewers; \
                 reel uses {:.1}x less CPU per viewer",
                peer_cpu * 1000.0,
                1.0 / peer_cpu,
                peer_cpu / reel_cpu
            );
        }
    }
    // Memory at the largest step that kept up (a step that fell behind holds a backlog).
    let reel_mem = reel_rows
        .iter()
        .filter(|(n, m)| m.kept_up == *n)
        .max_by_key(|(n, _)| *n)
        .map(|(n, m)| (m.rss as f64 - idle_rss as f64) / *n as f64);
    let peer_mem = peer_rows
        .iter()
        .max_by_key(|(k, _)| *k)
        .map(|(k, m)| (m.private as f64 / *k as f64, m.rss as f64 / *k as f64));
    if let (Some(r), Some((private, rss))) = (reel_mem, peer_mem) {
        println!(
            "memory per viewer: reel {:.0} KiB; ffmpeg {:.1} MiB private ({:.0}x), {:.1} MiB RSS ({:.0}x)",
            r / 1024.0,
            private / 1048576.0,
            private / r,
            rss / 1048576.0,
            rss / r
        );
    }
    println!("load average at the end: {}", load_average());
}

/// A table row of a step of `n` viewers; `memory` fills the two memory columns.
fn print_row(n: usize, m: &Measure, window: f64, memory: [String; 2]) {
    println!(
        "| {n} | {}/{n} | {:.2} | {:.1} | {:.3} | {:.2} ms | {} | {} | {:.2} |",
        m.kept_up,
        m.slowest,
        m.least_headroom,
        m.cpu / window,
        m.cpu / (n as f64 * window) * 1000.0,
        memory[0],
        memory[1],
        m.others / window,
    );
}

/// Pins this process (every thread it starts from now on) to one CPU.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it; the call reads
    // `size_of::<cpu_set_t>()` bytes of it. Called before any other thread exists.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity"
        );
    }
}

/// Waits until the server's stream threads of the last step have ended (up to 15 s).
fn settle(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = u64::MAX;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = proc_status(pid, "Threads");
        if now == last {
            break;
        }
        last = now;
    }
    std::thread::sleep(Duration::from_secs(1));
}

// ---- what a viewer received -------------------------------------------------------------------

/// One viewer's figures, written by its reader, read by the sampler.
struct Seen {
    bytes: AtomicU64,
    /// Microseconds from the bench's epoch to the first byte of the stream (0: none yet).
    first_at_us: AtomicU64,
    first_pts: AtomicI64,
    /// The highest video PTS so far (unwrapped, 90 kHz); `i64::MIN` before the first.
    max_pts: AtomicI64,
    /// Packets out of sync.
    errors: AtomicU64,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            bytes: AtomicU64::new(0),
            first_at_us: AtomicU64::new(0),
            first_pts: AtomicI64::new(i64::MIN),
            max_pts: AtomicI64::new(i64::MIN),
            errors: AtomicU64::new(0),
        }
    }

    /// Seconds of media received.
    fn media(&self) -> f64 {
        let (first, max) = (self.first_pts.load(Relaxed), self.max_pts.load(Relaxed));
        if first == i64::MIN {
            0.0
        } else {
            (max - first) as f64 / 90_000.0
        }
    }

    /// Media received − wall time since the first byte, at `now_us`.
    fn headroom(&self, now_us: u64) -> f64 {
        let first = self.first_at_us.load(Relaxed);
        if first == 0 {
            return -(now_us as f64) / 1e6;
        }
        self.media() - now_us.saturating_sub(first) as f64 / 1e6
    }
}

/// Reads an HTTP/1.1 chunked body (or raw bytes) as MPEG-TS, into a [`Seen`].
struct TsReader {
    seen: Arc<Seen>,
    epoch: Instant,
    chunked: bool,
    /// Bytes not yet de-chunked.
    raw: Vec<u8>,
    /// What is left of the current chunk's data, and whether its CRLF is still due.
    chunk_left: usize,
    crlf_due: bool,
    /// Body bytes not yet a whole 188-byte packet.
    ts: Vec<u8>,
    last_raw_pts: Option<i64>,
    pts: i64,
}

impl TsReader {
    fn new(seen: Arc<Seen>, epoch: Instant, chunked: bool) -> TsReader {
        TsReader {
            seen,
            epoch,
            chunked,
            raw: Vec::new(),
            chunk_left: 0,
            crlf_due: false,
            ts: Vec::new(),
            last_raw_pts: None,
            pts: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if self.seen.first_at_us.load(Relaxed) == 0 && !data.is_empty() {
            let us = self.epoch.elapsed().as_micros().max(1) as u64;
            self.seen.first_at_us.store(us, Relaxed);
        }
        self.seen.bytes.fetch_add(data.len() as u64, Relaxed);
        if !self.chunked {
            self.ts.extend_from_slice(data);
        } else {
            self.raw.extend_from_slice(data);
            let mut at = 0;
            loop {
                if self.chunk_left > 0 {
                    let n = self.chunk_left.min(self.raw.len() - at);
                    if n == 0 {
                        break;
                    }
                    self.ts.extend_from_slice(&self.raw[at..at + n]);
                    self.chunk_left -= n;
                    at += n;
                    continue;
                }
                if self.crlf_due {
                    if self.raw.len() - at < 2 {
                        break;
                    }
                    at += 2;
                    self.crlf_due = false;
                    continue;
                }
                let Some(end) = common::find(&self.raw[at..], b"\r\n") else {
                    break;
                };
                let line = std::str::from_utf8(&self.raw[at..at + end]).unwrap_or("");
                let size =
                    usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
                at += end + 2;
                self.chunk_left = size;
                self.crlf_due = size > 0;
            }
            self.raw.drain(..at);
        }
        let mut at = 0;
        while self.ts.len() - at >= 188 {
            if self.ts[at] != 0x47 {
                self.seen.errors.fetch_add(1, Relaxed);
                at += 1;
                continue;
            }
            let packet: [u8; 188] = self.ts[at..at + 188].try_into().unwrap();
            self.packet(&packet);
            at += 188;
        }
        self.ts.drain(..at);
    }

    /// Takes the PTS of a video PES that starts in this packet.
    fn packet(&mut self, p: &[u8; 188]) {
        let unit_start = p[1] & 0x40 != 0;
        let control = (p[3] >> 4) & 3;
        if !unit_start || control & 1 == 0 {
            return;
        }
        let off = if control & 2 != 0 {
            5 + usize::from(p[4])
        } else {
            4
        };
        let Some(pes) = p.get(off..off + 14) else { return };
        let video = pes[..3] == [0, 0, 1] && (0xe0..=0xef).contains(&pes[3]);
        if !video || pes[7] & 0x80 == 0 {
            return;
        }
        let raw = (i64::from(pes[9] & 0x0e) << 29)
            | (i64::from(pes[10]) << 22)
            | (i64::from(pes[11] & 0xfe) << 14)
            | (i64::from(pes[12]) << 7)
            | (i64::from(pes[13]) >> 1);
        // Unwrap the 33-bit clock.
        const WRAP: i64 = 1 << 33;
        match self.last_raw_pts {
            None => {
                self.pts = raw;
                self.seen.first_pts.store(raw, Relaxed);
            }
            Some(last) => {
                let mut d = (raw - last).rem_euclid(WRAP);
                if d > WRAP / 2 {
                    d -= WRAP;
                }
                self.pts += d;
            }
        }
        self.last_raw_pts = Some(raw);
        self.seen.max_pts.fetch_max(self.pts, Relaxed);
    }
}

// ---- a step -------------------------------------------------------------------------------

#[derive(Default)]
struct Measure {
    kept_up: usize,
    slowest: f64,
    least_headroom: f64,
    /// CPU seconds of the server (or the ffmpeg processes) over the window.
    cpu: f64,
    /// CPU seconds others used on CPU 0 over the window.
    others: f64,
    rss: u64,
    private: u64,
}

/// Samples `seen` over the window; `cpu` reads the measured processes' CPU seconds.
fn measure_window(seen: &[Arc<Seen>], epoch: Instant, window: f64, cpu: &dyn Fn() -> f64) -> Measure {
    let us = || epoch.elapsed().as_micros() as u64;
    let (cpu0, busy0) = (cpu(), core_busy(SERVER_CPU));
    let media0: Vec<f64> = seen.iter().map(|s| s.media()).collect();
    let start = Instant::now();
    let mut least: Vec<f64> = vec![f64::INFINITY; seen.len()];
    loop {
        let now = us();
        for (l, s) in least.iter_mut().zip(seen) {
            *l = l.min(s.headroom(now));
        }
        let left = window - start.elapsed().as_secs_f64();
        if left <= 0.0 {
            break;
        }
        std::thread::sleep(SAMPLE.min(Duration::from_secs_f64(left)));
    }
    let took = start.elapsed().as_secs_f64();
    let (cpu1, busy1) = (cpu(), core_busy(SERVER_CPU));
    let rates: Vec<f64> = seen
        .iter()
        .zip(&media0)
        .map(|(s, m0)| (s.media() - m0) / took)
        .collect();
    let errors: u64 = seen.iter().map(|s| s.errors.load(Relaxed)).sum();
    if errors > 0 {
        eprintln!("note: {errors} bytes out of MPEG-TS sync");
    }
    Measure {
        kept_up: least.iter().filter(|h| **h >= -TOLERANCE).count(),
        slowest: rates.iter().copied().fold(f64::INFINITY, f64::min),
        least_headroom: least.iter().copied().fold(f64::INFINITY, f64::min),
        cpu: cpu1 - cpu0,
        others: (busy1 - busy0) - (cpu1 - cpu0),
        ..Measure::default()
    }
}

/// N viewers of `path` on the server.
async fn reel_step(addr: SocketAddr, path: &str, n: usize, pid: u32, cfg: &Config) -> Measure {
    let epoch = Instant::now();
    let seen: Vec<Arc<Seen>> = (0..n).map(|_| Arc::new(Seen::new())).collect();
    let mut viewers = tokio::task::JoinSet::new();
    for s in &seen {
        viewers.spawn(view(addr, path.to_string(), s.clone(), epoch));
    }
    tokio::time::sleep(Duration::from_secs_f64(cfg.warmup)).await;
    // The runtime has one thread, the viewers': the window's sampler sleeps on a blocking
    // thread (on CPU 1 too).
    let window = cfg.window;
    let seen2 = seen.clone();
    let mut m =
        tokio::task::spawn_blocking(move || measure_window(&seen2, epoch, window, &|| cpu_seconds(pid)))
            .await
            .unwrap();
    m.rss = vm_rss(pid);
    viewers.abort_all();
    while viewers.join_next().await.is_some() {}
    m
}

/// One viewer: GET the stream and read it until aborted.
async fn view(addr: SocketAddr, path: String, seen: Arc<Seen>, epoch: Instant) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    let (body_at, chunked) = loop {
        let got = s.read(&mut buf).await.expect("read");
        assert!(got > 0, "the server closed a stream before its head");
        head.extend_from_slice(&buf[..got]);
        if let Some(end) = common::find(&head, b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            assert!(text.starts_with("http/1.1 200"), "stream.ts: {text}");
            break (end + 4, text.contains("transfer-encoding: chunked"));
        }
    };
    let mut reader = TsReader::new(seen, epoch, chunked);
    reader.feed(&head[body_at..]);
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(got) => reader.feed(&buf[..got]),
        }
    }
}

/// The rung's init segment and media segments, in playlist order, joined into one
/// fragmented MP4 at `out`: ffmpeg's `hls` demuxer cannot loop (`-stream_loop` needs a
/// seek), its `mov` demuxer can, and the bytes it reads are the same segments.
fn joined_rung(rung: &std::path::Path, out: &std::path::Path) -> std::path::PathBuf {
    let playlist = std::fs::read_to_string(rung.join("index.m3u8")).unwrap();
    let mut bytes = std::fs::read(rung.join("init.mp4")).unwrap();
    for line in playlist.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        bytes.extend(std::fs::read(rung.join(line)).unwrap());
    }
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

fn peer_args(playlist: &std::path::Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
    ]
    .map(String::from)
    .to_vec();
    args.push(playlist.display().to_string());
    args.extend(["-c", "copy", "-f", "mpegts", "pipe:1"].map(String::from));
    args
}

/// K ffmpeg processes on CPU 0, each read by a thread here.
fn peer_step(playlist: &std::path::Path, k: usize, cfg: &Config) -> Measure {
    let epoch = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    let mut seen = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..k {
        let mut child = Command::new("taskset")
            .args(["-c", &SERVER_CPU.to_string(), "ffmpeg"])
            .args(peer_args(playlist))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ffmpeg");
        let mut out = child.stdout.take().unwrap();
        let s = Arc::new(Seen::new());
        let mut reader = TsReader::new(s.clone(), epoch, false);
        readers.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(got) = out.read(&mut buf) {
                if got == 0 {
                    break;
                }
                reader.feed(&buf[..got]);
            }
        }));
        seen.push(s);
        children.push(child);
    }
    std::thread::sleep(Duration::from_secs_f64(cfg.warmup));
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    let mut m = measure_window(&seen, epoch, cfg.window, &|| {
        pids.iter().map(|p| cpu_seconds(*p)).sum()
    });
    m.rss = pids.iter().map(|p| vm_rss(*p)).sum();
    m.private = pids.iter().map(|p| private_bytes(*p)).sum();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    for r in readers {
        let _ = r.join();
    }
    m
}

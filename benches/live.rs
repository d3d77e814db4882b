//! `cargo bench --bench live`: live sessions of a real `reel serve` (release build) beside
//! the `ffmpeg` CLI streaming the same encode to a pipe.
//!
//! The source is a generated 1280x720 30 fps clip (`reel::engine::sample`, one AAC track,
//! `REEL_BENCH_SECONDS` long, default 60) in the server's library; sessions ask for the
//! 360p rung. The peer is
//!
//! ```text
//! ffmpeg -ss S -i SRC -vf scale=640:360:flags=bicubic -c:v libx264 -preset veryfast
//!   -tune zerolatency -crf 23 -maxrate M -bufsize B -x264-params keyint=30:min-keyint=30:scenecut=0
//!   -threads 2 -c:a aac -b:a 128k -ac 2 -ar 48000
//!   -f mp4 -movflags frag_keyframe+empty_moov+default_base_moof pipe:1
//! ```
//!
//! with reel's live settings (`X264Settings::live`, the 360p rung's caps from
//! `engine::ladder`). Parts, selectable by name (`cargo bench --bench live -- latency`):
//!
//! * `latency`: time to first byte of the body and to the first fragment (`moof`), from
//!   the request (reel: `GET .../stream` of a fresh session; the `POST` that creates it is
//!   timed apart) or from the spawn (ffmpeg). Also reel's re-use path (a ready video's
//!   360p ladder streamed as it is);
//! * `pause`: the reader stops reading for 6 s. CPU of reel (`/proc/PID/stat` utime +
//!   stime) and of ffmpeg over the last 5 s of it; then the reader reads again: time to the
//!   next byte (it was waiting in buffers) and to the first byte produced after the resume
//!   (reel: past the session's `stream_bytes` at the resume; ffmpeg: past what the pipe
//!   and ffmpeg's 32 KiB I/O buffer held);
//! * `capacity`: k sessions at once (each a reader thread here that keeps reading), k
//!   ramped until one falls behind real time: over a 10 s window after a 5 s warm-up, a
//!   session keeps up when its media delivered grows at ≥ 0.97 x wall time, or when it is
//!   held at the lead (delivered ≥ 8 s ahead of its clock). Encoded sessions, then re-used
//!   ones (`mode: reuse`: no encoder, the session limit raised).
//!
//! The machine may be shared: before each timed step the bench waits (up to
//! `REEL_BENCH_QUIET` s, default 20) for other processes to use under 0.25 cores, and
//! reports the background load it saw. Everything is printed as Markdown; docs/
//! benchmarks.md ("Live sessions") holds the figures.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REEL_BENCH_SECONDS` | 60 | length of the generated source |
//! | `REEL_BENCH_RUNS` | 5 | repetitions of `latency` (reel and ffmpeg interleaved) |
//! | `REEL_BENCH_ENCODE_STEPS` | `1,2,4,...,32` | k tried for encoded sessions |
//! | `REEL_BENCH_REUSE_STEPS` | `16,32,...,512` | k tried for re-used sessions |
//! | `REEL_BENCH_QUIET` | 20 | seconds to wait for a quiet machine before a step |

mod common;
#[path = "common/serve_process.rs"]
mod serve_process;

use std::error::Error;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{cpu_model, cpu_seconds, machine_busy, wait_quiet};
use reel::engine::ladder::{self, AUDIO_BITRATE, CRF};
use reel::engine::sample::{write_sample, SampleSpec};
use reel::mp4;
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn Error>>;

const REEL: &str = env!("CARGO_BIN_EXE_reel");
const HEIGHT: u32 = 360;
const LEAD: f64 = 10.0;
const START: f64 = 20.0;
/// libavformat's default I/O buffer (`IO_BUFFER_SIZE`), held inside ffmpeg when it blocks.
const FFMPEG_IO_BUFFER: u64 = 32 * 1024;

fn main() -> Res<()> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let seconds: f64 = var("REEL_BENCH_SECONDS")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(60.0);
    let runs: usize = var("REEL_BENCH_RUNS")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5);
    let steps = |k: &str, default: &str| -> Res<Vec<usize>> {
        Ok(var(k)
            .unwrap_or_else(|| default.into())
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()?)
    };
    let encode_steps = steps("REEL_BENCH_ENCODE_STEPS", "1,2,4,6,8,10,12,14,16,18,20,24,28,32")?;
    let reuse_steps = steps("REEL_BENCH_REUSE_STEPS", "16,32,64,128,256,512")?;
    let quiet: f64 = var("REEL_BENCH_QUIET")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(20.0);
    let parts: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|x| x == p);

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/live-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let lib = dir.join("library");
    std::fs::create_dir_all(&lib)?;
    let src = lib.join("source.mp4");
    let made = Instant::now();
    write_sample(
        &src,
        &SampleSpec {
            width: 1280,
            height: 720,
            seconds,
            fps: 30,
            audio_tracks: 1,
            ..SampleSpec::default()
        },
    )?;
    let rung = ladder::plan(1280, 720, Some(&[HEIGHT]))?.rungs[0].clone();
    println!("# Live sessions\n");
    println!(
        "Source: generated 1280x720 30 fps, {seconds} s, AAC stereo ({:.1} s to make). Sessions \
         and ffmpeg: {}x{} x264 veryfast zerolatency, CRF {CRF}, maxrate {} kb/s, IDR every 30 frames. \
         Machine: {} cores, {}.\n",
        made.elapsed().as_secs_f64(),
        rung.width,
        rung.height,
        rung.maxrate / 1000,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model()
    );

    let server = Server::start(
        &dir,
        &lib,
        &["--max-live-encoders", "64", "--max-live-sessions", "1000"],
    )?;
    let ff = Ffmpeg {
        src: src.clone(),
        width: rung.width,
        height: rung.height,
        maxrate: rung.maxrate,
        bufsize: rung.bufsize,
    };
    let mut reuse_video = None;
    if want("latency") || want("capacity") {
        reuse_video = Some(server.upload_ladder(&src)?);
    }

    if want("latency") {
        wait_quiet(quiet, &[server.pid]);
        latency(&server, &ff, runs, reuse_video.as_deref())?;
    }
    if want("pause") {
        wait_quiet(quiet, &[server.pid]);
        pause(&server, &ff)?;
    }
    if want("capacity") {
        capacity(&server, "encode", &encode_steps, None, quiet)?;
        capacity(&server, "reuse", &reuse_steps, reuse_video.as_deref(), quiet)?;
    }
    Ok(())
}

// ---- latency -------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct Firsts {
    /// Before the stream was asked for: the POST that created the session (reel only).
    create: f64,
    /// First byte of the body.
    byte: f64,
    /// First `moof` box header.
    moof: f64,
    /// First complete fragment (moof + mdat).
    fragment: f64,
}

fn latency(server: &Server, ff: &Ffmpeg, runs: usize, reuse: Option<&str>) -> Res<()> {
    let mut reel_runs = Vec::new();
    let mut ff_runs = Vec::new();
    let mut reuse_runs = Vec::new();
    for _ in 0..runs {
        // reel, encoding.
        let t = Instant::now();
        let id = server.create(json!({"library": "source.mp4", "start": START, "height": HEIGHT}))?;
        let create = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut s = server.stream(&id)?;
        let mut f = read_firsts(&mut s, t)?;
        f.create = create;
        reel_runs.push(f);
        drop(s);
        server.delete(&id)?;
        // ffmpeg.
        let t = Instant::now();
        let mut child = ff.spawn(START)?;
        let mut out = child.stdout.take().unwrap();
        ff_runs.push(read_firsts(&mut out, t)?);
        let _ = child.kill();
        let _ = child.wait();
        // reel, re-using the ladder.
        if let Some(video) = reuse {
            let t = Instant::now();
            let id = server.create(json!({"video": video, "start": START, "height": HEIGHT}))?;
            let create = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut s = server.stream(&id)?;
            let mut f = read_firsts(&mut s, t)?;
            f.create = create;
            reuse_runs.push(f);
            drop(s);
            server.delete(&id)?;
        }
        wait_streams_closed(server);
    }
    println!(
        "## Time to first byte and first fragment ({runs} runs, start at {START} s, median [min–max] ms)\n"
    );
    println!("| | create (POST) | first byte | first `moof` | first fragment complete |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, v: &[Firsts], with_create: bool| {
        let col = |f: fn(&Firsts) -> f64| spread(&v.iter().map(f).map(|x| x * 1000.0).collect::<Vec<_>>());
        println!(
            "| {name} | {} | {} | {} | {} |",
            if with_create {
                col(|f| f.create)
            } else {
                "–".into()
            },
            col(|f| f.byte),
            col(|f| f.moof),
            col(|f| f.fragment)
        );
    };
    row("reel session, encoding", &reel_runs, true);
    row("ffmpeg CLI to a pipe", &ff_runs, false);
    if !reuse_runs.is_empty() {
        row("reel session, re-using the ladder", &reuse_runs, true);
    }
    println!();
    Ok(())
}

/// Reads a stream until its first complete fragment; times from `t0`.
fn read_firsts(r: &mut dyn Read, t0: Instant) -> Res<Firsts> {
    let mut f = Firsts::default();
    let mut parser = Fmp4::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Err("the stream ended before its first fragment".into());
        }
        let now = t0.elapsed().as_secs_f64();
        if f.byte == 0.0 {
            f.byte = now;
        }
        parser.push(&buf[..n]);
        if f.moof == 0.0 && parser.moof_seen {
            f.moof = now;
        }
        if parser.fragments > 0 {
            f.fragment = now;
            return Ok(f);
        }
    }
}

// ---- pause -----------------------------------------------------------------------------------

fn pause(server: &Server, ff: &Ffmpeg) -> Res<()> {
    const CPU_WINDOW: Duration = Duration::from_secs(5);
    println!("## A paused reader (stops reading after the first fragment; reel: and POST pause)\n");
    println!(
        "| | production stopped after | media produced ahead of the paused clock | CPU over {} s once stopped | buffered, delivered at once on resume | time to next byte | time to the first byte produced after resume |",
        CPU_WINDOW.as_secs()
    );
    println!("|---|---|---|---|---|---|---|");

    // reel: a player that pauses: it says so and stops reading. Once with the kernel's
    // default receive buffer (what production made fits in the buffers: the lead stops
    // it), once with a 16 KiB one (the buffers fill first: backpressure stops it).
    for (name, rcvbuf) in [
        ("reel session", None),
        ("reel session, 16 KiB receive buffer", Some(16 * 1024)),
    ] {
        let id = server.create(json!({"library": "source.mp4", "start": START, "height": HEIGHT}))?;
        let mut s = server.stream_with(&id, rcvbuf)?;
        let mut parser = Fmp4::default();
        let mut received = read_for(&mut s, &mut parser, Duration::ZERO)?;
        let clock = server.json("POST", &format!("/api/sessions/{id}/pause"), json!({}))?["position"]
            .as_f64()
            .unwrap_or(0.0);
        let stopped = Instant::now();
        // Production has stopped when stream_bytes stays put for a second.
        let (mut produced, mut still_since) = (0, Instant::now());
        while still_since.elapsed() < Duration::from_secs(1) && stopped.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
            let now = server.status(&id)?["stream_bytes"].as_u64().unwrap_or(0);
            if now != produced {
                produced = now;
                still_since = Instant::now();
            }
        }
        let settle = (still_since - stopped).as_secs_f64();
        let c0 = cpu_seconds(server.pid);
        std::thread::sleep(CPU_WINDOW);
        let cpu = cpu_seconds(server.pid) - c0;
        let after = server.status(&id)?["stream_bytes"].as_u64().unwrap_or(0);
        if after != produced {
            eprintln!("warning: production went on while paused ({produced} → {after} bytes)");
        }
        server.json("POST", &format!("/api/sessions/{id}/resume"), json!({}))?;
        let (next, fresh, buffered, media) = resume(&mut s, &mut parser, &mut received, produced)?;
        println!(
        "| {name} | {:.2} s | {:.1} s (lead {LEAD} s) | {:.3} s ({:.1} % of a core) | {} KiB | {:.2} ms | {:.1} ms |",
        settle,
        media - clock,
        cpu,
        cpu / CPU_WINDOW.as_secs_f64() * 100.0,
        buffered / 1024,
        next * 1000.0,
        fresh * 1000.0
    );
        drop(s);
        server.delete(&id)?;
        wait_streams_closed(server);
    }

    // ffmpeg: its stdout pipe, read the same way.
    let mut child = ff.spawn(START)?;
    let pid = child.id();
    let mut out: ChildStdout = child.stdout.take().unwrap();
    let mut parser = Fmp4::default();
    let mut received = read_for(&mut out, &mut parser, Duration::ZERO)?;
    std::thread::sleep(Duration::from_secs(1)); // a pipe fills at once
    let c0 = cpu_seconds(pid);
    std::thread::sleep(CPU_WINDOW);
    let cpu = cpu_seconds(pid) - c0;
    let held = received + pipe_capacity(&out) + FFMPEG_IO_BUFFER;
    let first_media = parser.media_end;
    let (next, fresh, buffered, media) = resume(&mut out, &mut parser, &mut received, held)?;
    println!(
        "| ffmpeg CLI to a pipe | at once | {:.1} s (no clock) | {:.3} s ({:.1} % of a core) | {} KiB | {:.2} ms | {:.1} ms |",
        media - first_media,
        cpu,
        cpu / CPU_WINDOW.as_secs_f64() * 100.0,
        buffered / 1024,
        next * 1000.0,
        fresh * 1000.0
    );
    let _ = child.kill();
    let _ = child.wait();
    println!();
    wait_streams_closed(server);
    Ok(())
}

/// Reads for `d`; returns the bytes read.
fn read_for(r: &mut dyn ReadTimeout, parser: &mut Fmp4, d: Duration) -> Res<u64> {
    let end = Instant::now() + d;
    let mut n = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < end || parser.fragments == 0 {
        let got = r.read_some(&mut buf, Duration::from_millis(50))?;
        parser.push(&buf[..got]);
        n += got as u64;
    }
    Ok(n)
}

/// Reads again after a pause: (time to the next byte, time until a byte past `held`
/// arrived, bytes that were held in buffers, media time at the end of what was held).
fn resume(
    r: &mut dyn ReadTimeout,
    parser: &mut Fmp4,
    received: &mut u64,
    held: u64,
) -> Res<(f64, f64, u64, f64)> {
    let t = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut next = None;
    let before = *received;
    loop {
        let got = r.read_some(&mut buf, Duration::from_millis(20))?;
        if got > 0 && next.is_none() {
            next = Some(t.elapsed().as_secs_f64());
        }
        // The media end of what was held: the fragments complete within `held` bytes.
        let within = (held.saturating_sub(*received) as usize).min(got);
        parser.push(&buf[..within]);
        let media = parser.media_end;
        parser.push(&buf[within..got]);
        *received += got as u64;
        if *received > held {
            return Ok((
                next.unwrap_or(0.0),
                t.elapsed().as_secs_f64(),
                held.saturating_sub(before),
                media,
            ));
        }
        if t.elapsed() > Duration::from_secs(20) {
            return Err("nothing new came within 20 s of the resume".into());
        }
    }
}

// ---- capacity --------------------------------------------------------------------------------

#[derive(Default)]
struct Watch {
    first_byte: Option<Instant>,
    /// Media time of the end of the last complete fragment delivered (source timeline).
    media_end: f64,
    start: f64,
    bytes: u64,
}

impl Watch {
    /// Seconds of media delivered ahead of the session clock (`start` + wall time since
    /// the first byte, the server's own model at rate 1).
    fn headroom(&self, now: Instant) -> f64 {
        let clock = self.start + self.first_byte.map(|t| (now - t).as_secs_f64()).unwrap_or(0.0);
        self.media_end - clock
    }
}

fn capacity(server: &Server, mode: &str, steps: &[usize], video: Option<&str>, quiet: f64) -> Res<()> {
    const WARM: Duration = Duration::from_secs(5);
    const WINDOW: Duration = Duration::from_secs(10);
    println!("## Sessions in real time: {mode} ({}p)\n", HEIGHT);
    println!("| sessions | keep up | slowest media/wall | median media/wall | least headroom (s) | reel CPU (cores) | bench readers (cores) | other load (cores) |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut best = 0;
    for &k in steps {
        wait_quiet(quiet, &[server.pid]);
        let mut ids = Vec::new();
        let mut watches = Vec::new();
        let mut sockets = Vec::new();
        let mut threads = Vec::new();
        for i in 0..k {
            let start = (i as f64 * 7.0) % 30.0;
            let source = match video {
                Some(v) => json!({"video": v, "start": start, "height": HEIGHT}),
                None => json!({"library": "source.mp4", "start": start, "height": HEIGHT}),
            };
            let id = server.create(source)?;
            let s = server.stream(&id)?;
            sockets.push(s.get_ref().try_clone()?);
            let w = Arc::new(Mutex::new(Watch {
                start,
                ..Watch::default()
            }));
            watches.push(w.clone());
            threads.push(std::thread::spawn(move || follow(s, w)));
            ids.push(id);
        }
        let mode_seen = server.status(&ids[0])?["mode"].as_str().unwrap_or("").to_string();
        std::thread::sleep(WARM);
        let snap = |w: &Arc<Mutex<Watch>>| {
            let w = w.lock().unwrap();
            (w.media_end, w.headroom(Instant::now()), w.bytes)
        };
        let t0 = Instant::now();
        let c0 = cpu_seconds(server.pid);
        let own0 = cpu_seconds(std::process::id());
        let m0 = machine_busy();
        let a: Vec<_> = watches.iter().map(snap).collect();
        std::thread::sleep(WINDOW);
        let b: Vec<_> = watches.iter().map(snap).collect();
        let wall = t0.elapsed().as_secs_f64();
        let reel_cores = (cpu_seconds(server.pid) - c0) / wall;
        let own = (cpu_seconds(std::process::id()) - own0) / wall;
        let other = ((machine_busy() - m0) / wall - reel_cores - own).max(0.0);
        let mut speeds = Vec::new();
        let mut least = f64::MAX;
        let mut keeping = 0;
        for ((m0, _, _), (m1, h1, bytes)) in a.iter().zip(&b) {
            let speed = (m1 - m0) / wall;
            speeds.push(speed);
            least = least.min(*h1);
            if *bytes > 0 && (speed >= 0.97 || *h1 >= LEAD - 2.0) {
                keeping += 1;
            }
        }
        speeds.sort_by(f64::total_cmp);
        println!(
            "| {k} | {keeping}/{k} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {:.2} |",
            speeds[0],
            speeds[speeds.len() / 2],
            least,
            reel_cores,
            own,
            other
        );
        if mode_seen != mode {
            eprintln!("warning: sessions run in mode {mode_seen}, not {mode}");
        }
        for s in &sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in threads {
            let _ = t.join();
        }
        for id in &ids {
            let _ = server.delete(id);
        }
        wait_streams_closed(server);
        if keeping < k {
            break;
        }
        best = k;
    }
    println!("\n{mode}: {best} sessions of {HEIGHT}p kept up with real time.\n");
    Ok(())
}

/// A reader thread: reads the chunked body and notes the media delivered.
fn follow(mut s: HttpStream, w: Arc<Mutex<Watch>>) {
    let mut parser = Fmp4::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                parser.push(&buf[..n]);
                let mut w = w.lock().unwrap();
                w.first_byte.get_or_insert_with(Instant::now);
                w.bytes += n as u64;
                if parser.media_end > 0.0 {
                    w.media_end = parser.media_end;
                }
            }
            // The bench shuts the socket down at the end of a step.
            Err(_) => return,
        }
    }
}

// ---- the server ------------------------------------------------------------------------------

/// The served process ([`serve_process::Server`]) with this bench's requests.
struct Server(serve_process::Server);

impl std::ops::Deref for Server {
    type Target = serve_process::Server;
    fn deref(&self) -> &serve_process::Server {
        &self.0
    }
}

impl Server {
    fn start(dir: &Path, lib: &Path, extra: &[&str]) -> Res<Server> {
        let mut args: Vec<std::ffi::OsString> = vec!["--media".into(), dir.join("media").into()];
        args.extend(["--library".into(), lib.into()]);
        args.extend(extra.iter().map(Into::into));
        Ok(Server(serve_process::Server::start(Path::new(REEL), dir, &args)?))
    }

    fn request(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Res<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(self.addr)?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        s.write_all(body)?;
        let mut all = Vec::new();
        s.read_to_end(&mut all)?;
        let end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no response head")?;
        let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1).ok_or("no status")?.parse()?;
        let mut body = all[end + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        Ok((status, body))
    }

    fn json(&self, method: &str, path: &str, body: Value) -> Res<Value> {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let (status, bytes) = self.request(method, path, "application/json", &body)?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path}: {status} {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        })
    }

    fn create(&self, body: Value) -> Res<String> {
        let s = self.json("POST", "/api/sessions", body)?;
        Ok(s["id"].as_str().ok_or("no session id")?.to_string())
    }

    fn status(&self, id: &str) -> Res<Value> {
        self.json("GET", &format!("/api/sessions/{id}/status"), Value::Null)
    }

    fn delete(&self, id: &str) -> Res<()> {
        self.json("DELETE", &format!("/api/sessions/{id}"), Value::Null)
            .map(|_| ())
    }

    /// Opens `GET /api/sessions/{id}/stream`; returns the body reader once the head is in.
    fn stream(&self, id: &str) -> Res<HttpStream> {
        self.stream_with(id, None)
    }

    /// [`Server::stream`] with the receive buffer set before connecting.
    fn stream_with(&self, id: &str, receive_buffer: Option<usize>) -> Res<HttpStream> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        if let Some(n) = receive_buffer {
            socket.set_recv_buffer_size(n)?;
        }
        socket.connect(&self.addr.into())?;
        let mut s: TcpStream = socket.into();
        s.set_nodelay(true)?;
        write!(
            s,
            "GET /api/sessions/{id}/stream HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        let end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let got = s.read(&mut chunk)?;
            if got == 0 {
                return Err(format!("stream of {id}: no response").into());
            }
            raw.extend_from_slice(&chunk[..got]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("stream of {id}: {}", head.lines().next().unwrap_or("")).into());
        }
        raw.drain(..end + 4);
        Ok(HttpStream {
            socket: s,
            raw,
            in_chunk: None,
            ended: false,
        })
    }

    /// Uploads `src` with a 360p rung in 1 s fMP4 segments; returns the ready video's id.
    fn upload_ladder(&self, src: &Path) -> Res<String> {
        let fields = [("heights", HEIGHT.to_string()), ("segment_seconds", "1".into())];
        let (content_type, body) = serve_process::upload_form(src, &fields)?;
        let (status, bytes) = self.request("POST", "/api/videos", &content_type, &body)?;
        let id = serve_process::accepted_id(status, &bytes)?;
        let t = Instant::now();
        loop {
            let v = self.json("GET", &format!("/api/videos/{id}"), Value::Null)?;
            match v["status"].as_str() {
                Some("ready") => break,
                Some("failed") => return Err(format!("the bench video failed: {}", v["error"]).into()),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
            if t.elapsed() > Duration::from_secs(600) {
                return Err("the bench video took more than 10 minutes".into());
            }
        }
        eprintln!(
            "ladder for the re-use path ready in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Ok(id)
    }
}

fn wait_streams_closed(server: &Server) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let (_, body) = server
            .request("GET", "/metrics", "text/plain", b"")
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        if text.lines().any(|l| l == "reel_open_streams{kind=\"session\"} 0") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("warning: session streams still open after 10 s");
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..i]).trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[i + 2..i + 2 + size]);
        raw = &raw[(i + 4 + size).min(raw.len())..];
    }
    out
}

/// A chunked response body, read as plain bytes. The framing is decoded from a raw
/// buffer, so a read cut short by a time limit loses nothing.
struct HttpStream {
    socket: TcpStream,
    raw: Vec<u8>,
    /// Data bytes left in the current chunk; `None` between chunks.
    in_chunk: Option<usize>,
    ended: bool,
}

impl HttpStream {
    fn get_ref(&self) -> &TcpStream {
        &self.socket
    }

    /// Moves what can be decoded from `raw` into `out`; returns how many bytes.
    fn decode(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() && !self.ended {
            match self.in_chunk {
                Some(0) => {
                    if self.raw.len() < 2 {
                        break;
                    }
                    self.raw.drain(..2);
                    self.in_chunk = None;
                }
                Some(left) => {
                    let take = left.min(self.raw.len()).min(out.len() - n);
                    if take == 0 {
                        break;
                    }
                    out[n..n + take].copy_from_slice(&self.raw[..take]);
                    self.raw.drain(..take);
                    self.in_chunk = Some(left - take);
                    n += take;
                }
                None => {
                    let Some(i) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                        break;
                    };
                    let size = usize::from_str_radix(String::from_utf8_lossy(&self.raw[..i]).trim(), 16)
                        .unwrap_or(0);
                    self.raw.drain(..i + 2);
                    if size == 0 {
                        self.ended = true;
                    } else {
                        self.in_chunk = Some(size);
                    }
                }
            }
        }
        n
    }
}

impl Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.decode(buf);
            if n > 0 || self.ended {
                return Ok(n);
            }
            let mut chunk = [0u8; 64 * 1024];
            let got = self.socket.read(&mut chunk)?;
            if got == 0 {
                self.ended = true;
                return Ok(0);
            }
            self.raw.extend_from_slice(&chunk[..got]);
        }
    }
}

/// Reading with a time limit (0 bytes when nothing came).
trait ReadTimeout {
    fn read_some(&mut self, buf: &mut [u8], wait: Duration) -> Res<usize>;
}

impl ReadTimeout for HttpStream {
    fn read_some(&mut self, buf: &mut [u8], wait: Duration) -> Res<usize> {
        self.socket.set_read_timeout(Some(wait))?;
        let r = self.read(buf);
        self.socket.set_read_timeout(None)?;
        match r {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl ReadTimeout for ChildStdout {
    fn read_some(&mut self, buf: &mut [u8], wait: Duration) -> Res<usize> {
        use std::os::fd::AsFd;
        let fd = self.as_fd();
        let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
        let ts = rustix::event::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: wait.subsec_nanos() as i64,
        };
        if rustix::event::poll(&mut fds, Some(&ts))? == 0 {
            return Ok(0);
        }
        Ok(self.read(buf)?)
    }
}

// ---- ffmpeg ----------------------------------------------------------------------------------

struct Ffmpeg {
    src: PathBuf,
    width: u32,
    height: u32,
    maxrate: u64,
    bufsize: u64,
}

impl Ffmpeg {
    fn spawn(&self, start: f64) -> Res<Child> {
        Ok(Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-ss",
                &start.to_string(),
                "-i",
            ])
            .arg(&self.src)
            .args(["-map", "0:v:0", "-map", "0:a:0"])
            .args([
                "-vf",
                &format!("scale={}:{}:flags=bicubic", self.width, self.height),
            ])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"])
            .args(["-crf", &CRF.to_string()])
            .args([
                "-maxrate",
                &self.maxrate.to_string(),
                "-bufsize",
                &self.bufsize.to_string(),
            ])
            .args([
                "-x264-params",
                "keyint=30:min-keyint=30:scenecut=0",
                "-threads",
                "2",
            ])
            .args([
                "-c:a",
                "aac",
                "-b:a",
                &AUDIO_BITRATE.to_string(),
                "-ac",
                "2",
                "-ar",
                "48000",
            ])
            .args([
                "-f",
                "mp4",
                "-movflags",
                "frag_keyframe+empty_moov+default_base_moof",
                "pipe:1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?)
    }
}

fn pipe_capacity(out: &ChildStdout) -> u64 {
    rustix::pipe::fcntl_getpipe_size(out)
        .map(|n| n as u64)
        .unwrap_or(65536)
}

// ---- fragmented MP4, as it arrives -------------------------------------------------------------

/// Follows top-level boxes of a fragmented MP4 byte stream (read with [`reel::mp4`]): counts
/// fragments and keeps the media time (video track) at the end of the last complete one.
#[derive(Default)]
struct Fmp4 {
    buf: Vec<u8>,
    moof_seen: bool,
    fragments: usize,
    video_track: u32,
    timescale: u32,
    /// (start, duration) of the last `moof`'s video run, in the track's timescale.
    pending: Option<(u64, u64)>,
    media_end: f64,
}

impl Fmp4 {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        loop {
            let Ok(Some(header)) = mp4::BoxHeader::parse(&self.buf) else {
                return;
            };
            if header.kind == mp4::BoxType::MOOF {
                self.moof_seen = true;
            }
            // A box is handled once all of it has arrived (a size-0 box never is).
            let size = match header.size.and_then(|s| usize::try_from(s).ok()) {
                Some(size) if size <= self.buf.len() => size,
                _ => return,
            };
            let bytes: Vec<u8> = self.buf.drain(..size).collect();
            match header.kind {
                mp4::BoxType::MOOV => self.moov(&bytes),
                mp4::BoxType::MOOF => self.pending = self.moof(&bytes),
                mp4::BoxType::MDAT => {
                    self.fragments += 1;
                    if let (Some((start, dur)), true) = (self.pending.take(), self.timescale > 0) {
                        self.media_end = (start + dur) as f64 / self.timescale as f64;
                    }
                }
                _ => {}
            }
        }
    }

    /// The video track's id and timescale, from a whole `moov` box.
    fn moov(&mut self, moov: &[u8]) {
        let tracks = mp4::tracks(moov).unwrap_or_default();
        if let Some(video) = tracks.iter().find(|t| t.handler == mp4::Handler::Video) {
            self.video_track = video.id;
            self.timescale = video.timescale;
        }
    }

    /// (start, duration) of the video track's run in a whole `moof` box.
    fn moof(&self, moof: &[u8]) -> Option<(u64, u64)> {
        let fragment = mp4::fragments(moof).ok()?.pop()?;
        let video = fragment.track(self.video_track)?;
        let start = video.decode_time?.value;
        Some((start, video.duration(moof).ok()?))
    }
}

// ---- the machine -----------------------------------------------------------------------------

/// "median [min–max]" of milliseconds.
fn spread(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return "–".into();
    }
    format!("{:.0} [{:.0}–{:.0}]", s[s.len() / 2], s[0], s[s.len() - 1])
}

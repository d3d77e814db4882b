//! `cargo bench --bench store`: the media store in a bucket against local disk, side by
//! side in one run (issue 10).
//!
//! The bucket is a real S3-compatible server on loopback (`s3s-fs`, which
//! `scripts/setup --test` installs; the bench says so and stops when it is missing), writing
//! to the same disk as the folder store, so the difference is the S3 path itself (HTTP,
//! signing, the client) and not a faster or slower device.
//!
//! * **ladder**: `reel::engine::transcode` in this process on a generated 1280x720 clip
//!   (`REEL_BENCH_SECONDS`, default 20 s, default ladder, 4 s segments) into a folder store
//!   and into the bucket, runs interleaved (`REEL_BENCH_RUNS`, default 3); the median wall
//!   time of each and the time until every rung's first segment is stored (the first
//!   `on_progress` call where each rung lists one).
//! * **serving hot segments**: two release `reel serve` processes, one over the folder
//!   store, one over the bucket (its memory cache in front), each pinned to CPU 0; `wrk`
//!   (CPU 1, 2 threads, 32 connections, `REEL_BENCH_WRK_SECONDS` s, default 10) GETs the
//!   same 720p segment from each in turn, `REEL_BENCH_RUNS` rounds; the median requests/s.
//!
//! Floors from the issue: ladder wall time with the bucket at most 1.1x local disk, and
//! hot-segment requests/s from the bucket at least 0.8x of local disk's.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reel::catalog::{Status, Video};
use reel::engine::{transcode, CancelToken, LadderState, TranscodeOptions};
use reel::storage::{Location, MediaStore, VideoObjects};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const BUCKET: &str = "reel-bench";

struct S3 {
    child: Child,
    port: u16,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_fs() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("s3s-fs"))
        .chain(home)
        .find(|p| p.is_file())
}

fn start_s3(bin: &Path, root: &Path) -> Res<S3> {
    std::fs::create_dir_all(root.join(BUCKET))?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "bench", "--secret-key", "bench-secret"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("s3s-fs did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(S3 { child, port })
}

/// One transcode: wall time, time until every rung has a stored segment.
fn ladder(src: &Path, out: &VideoObjects) -> Res<(f64, f64, LadderState)> {
    let start = Instant::now();
    let mut first = None;
    let opts = TranscodeOptions::default();
    let state = transcode(
        src,
        out,
        &opts,
        &mut |s: &LadderState| {
            if first.is_none() && s.renditions.iter().all(|r| !r.segments.is_empty()) {
                first = Some(start.elapsed().as_secs_f64());
            }
        },
        &CancelToken::new(),
    )?;
    Ok((start.elapsed().as_secs_f64(), first.unwrap_or(f64::NAN), state))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Res<()> {
    let var = common::setting;
    let seconds: f64 = var("REEL_BENCH_SECONDS", "20").parse()?;
    let runs: usize = var("REEL_BENCH_RUNS", "3").parse()?;
    let wrk_seconds: u64 = var("REEL_BENCH_WRK_SECONDS", "10").parse()?;
    let Some(s3_bin) = s3s_fs() else {
        println!("store: s3s-fs is missing (scripts/setup --test installs it); skipped");
        return Ok(());
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/store-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let s3 = start_s3(&s3_bin, &dir.join("s3"))?;
    // SAFETY of the environment: set before any thread of this process reads it.
    std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench-secret");
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port));
    std::env::set_var("AWS_REGION", "us-east-1");

    reel::engine::init();
    let src = dir.join("clip.mp4");
    common::write_720p(&src, seconds)?;
    let folder = MediaStore::folder(&dir.join("media"))?;
    let bucket = MediaStore::open(
        &Location::S3 {
            bucket: BUCKET.into(),
            prefix: String::new(),
        },
        Duration::from_secs(30),
        0,
    )?;
    println!("## Media store: S3 bucket (s3s-fs on loopback) vs local disk\n");
    println!(
        "{} s 1280x720 clip, default ladder, 4 s segments; {}.\n",
        seconds,
        common::cpu_model()
    );
    println!("| run | local disk: wall | first segment | S3: wall | first segment |");
    println!("|---|---|---|---|---|");
    let (mut walls, mut firsts) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut last = None;
    for run in 0..runs {
        let id = format!("run{run}");
        let (lw, lf, state) = ladder(&src, &VideoObjects::new(folder.clone(), &id))?;
        let (sw, sf, _) = ladder(&src, &VideoObjects::new(bucket.clone(), &id))?;
        println!("| {run} | {lw:.2} s | {lf:.2} s | {sw:.2} s | {sf:.2} s |");
        walls.0.push(lw);
        walls.1.push(sw);
        firsts.0.push(lf);
        firsts.1.push(sf);
        last = Some((id, state));
    }
    let (lw, sw) = (median(walls.0), median(walls.1));
    let (lf, sf) = (median(firsts.0), median(firsts.1));
    println!(
        "| **median** | **{lw:.2} s** | **{lf:.2} s** | **{sw:.2} s** | **{sf:.2} s** |\n\n\
         S3/local: ladder wall time **{:.3}x** (floor: at most 1.1x), first segment {:.3}x.\n",
        sw / lw,
        sf / lf
    );

    // Serving: the last run's ladder, made a ready video in both stores.
    let (id, state) = last.ok_or("no run")?;
    let mut video = Video::new(&id, "bench", 1, state.segment_seconds, state.format);
    video.apply(&state);
    video.status = Status::Ready;
    video.write_manifest(&folder, &id)?;
    video.write_manifest(&bucket, &id)?;
    let hot = state
        .renditions
        .iter()
        .find(|r| r.height == 720)
        .and_then(|r| r.segments.get(1))
        .ok_or("no 720p segment")?;
    let path = format!("/media/{id}/{}", hot.uri);
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is missing (scripts/setup --test): serving not measured");
        return Ok(());
    }
    let start = |args: &[String], log: &str| -> Res<common::Server> {
        let mut all = vec![
            "taskset".to_string(),
            "-c".into(),
            "0".into(),
            env!("CARGO_BIN_EXE_reel").into(),
        ];
        all.extend(["serve".into(), "--bind".into(), "127.0.0.1:0".into()]);
        all.extend(args.iter().cloned());
        let mut child = Command::new(&all[0])
            .args(&all[1..])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(log))?)
            .spawn()?;
        let mut lines = std::io::BufReader::new(child.stdout.take().ok_or("stdout")?);
        let mut line = String::new();
        loop {
            line.clear();
            if std::io::BufRead::read_line(&mut lines, &mut line)? == 0 {
                return Err(format!("reel serve exited; see {log}").into());
            }
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                let addr = a.parse()?;
                std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
                return Ok(common::Server { child, addr });
            }
        }
    };
    let local = start(
        &["--media".into(), dir.join("media").display().to_string()],
        "serve-local.log",
    )?;
    let remote = start(
        &[
            "--store".into(),
            format!("s3://{BUCKET}"),
            "--media".into(),
            dir.join("scratch").display().to_string(),
        ],
        "serve-s3.log",
    )?;
    let wrk = |addr: std::net::SocketAddr| -> Res<f64> {
        let out = Command::new("taskset")
            .args(["-c", "1", "wrk", "-t2", "-c32", &format!("-d{wrk_seconds}s")])
            .arg(format!("http://{addr}{path}"))
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rps = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .ok_or_else(|| format!("wrk said: {text}"))?
            .trim()
            .parse()?;
        if text.contains("Non-2xx") {
            return Err(format!("wrk saw errors: {text}").into());
        }
        Ok(rps)
    };
    println!(
        "Hot segment `{}` ({} bytes), wrk 2 threads 32 connections {wrk_seconds} s, server on CPU 0:\n",
        hot.uri, hot.bytes
    );
    println!("| round | local disk req/s | S3 + cache req/s |");
    println!("|---|---|---|");
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for round in 0..runs {
        let a = wrk(local.addr)?;
        let b = wrk(remote.addr)?;
        println!("| {round} | {a:.0} | {b:.0} |");
        l.push(a);
        r.push(b);
    }
    let (a, b) = (median(l), median(r));
    println!(
        "| **median** | **{a:.0}** | **{b:.0}** |\n\nS3/local: **{:.2}x** of local disk's requests/s (floor: at least 0.8x).",
        b / a
    );
    Ok(())
}

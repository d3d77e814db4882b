//! `cargo bench --bench first_segment`: how soon an upload can be played (issue 9), on a
//! real `reel serve` (release build) beside the `ffmpeg` CLI writing the same ladder.
//!
//! The source is a generated 1920x1080 30 fps clip (`reel::engine::sample`, testsrc2 and
//! a sine AAC track) re-encoded by the ffmpeg CLI to about 20 Mb/s (`-b:v 20M`, x264
//! ultrafast), `REEL_BENCH_SECONDS` long. For each segment length (`REEL_BENCH_SEGMENTS`,
//! default 4 and 2 s) and each of `REEL_BENCH_RUNS` runs, interleaved:
//!
//! * **reel**: the clip is uploaded (`POST /api/videos`, default ladder, fMP4, the segment
//!   length); the clock starts when the last byte of the body is written. Then the bench
//!   polls every rung's `index.m3u8` and `master.m3u8` over one keep-alive connection
//!   (every 10 ms) and the video object (until `ready`): the time at which each rung's
//!   playlist first lists a segment ("first segment", the slowest rung's), at which the
//!   master appears, and at which the video is `ready`;
//! * **ffmpeg**: one process writing the same ladder (split + `scale=W:H:flags=bicubic` per
//!   rung, libx264 with reel's settings and caps, AAC) as fMP4 HLS with
//!   `-hls_flags independent_segments+temp_file` (a segment file gets its name when it is
//!   complete) and IDRs every segment length; the clock starts at the spawn. "First
//!   segment" is when every rung's `seg00000.m4s` is on disk, "ready" when it exits;
//! * **ffmpeg, short first**: the same with reel's short first segments (keyframes forced
//!   at 0, 1, 2, 4 s... then every segment length, `-hls_time 1` so the muxer cuts at each):
//!   what the idea alone gives the CLI.
//!
//! Before each timed step the bench waits (up to `REEL_BENCH_QUIET` s, default 20) for the
//! rest of the machine to use under 0.25 cores, and reports what other processes used
//! during the step. Output is Markdown (docs/benchmarks.md, "First segment").
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REEL_BENCH_SECONDS` | 20 | length of the generated clip |
//! | `REEL_BENCH_RUNS` | 3 | timed repetitions of each contender |
//! | `REEL_BENCH_SEGMENTS` | `4,2` | segment lengths (s) |
//! | `REEL_BENCH_PEERS` | 1 | 0 times reel alone |
//! | `REEL_BENCH_QUIET` | 20 | seconds to wait for a quiet machine before a step |
//! | `REEL_BENCH_BIN` | this build's `reel` | the `reel` binary to serve |
//! | `REEL_BENCH_COMPARE` | none | another `reel` binary (an older build), timed in turn with the first as `reel (compare)` |

mod common;
#[path = "common/serve_process.rs"]
mod serve_process;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cpu_model, cpu_seconds, machine_busy, wait_quiet};
use serve_process::{accepted_id, upload_form, Res, Server};

use reel::engine::ladder::{self, Rung, AUDIO_BITRATE, CRF};
use reel::engine::sample::{write_sample, SampleSpec};
use serde_json::Value;

/// reel's `X264_PARAMS` (private to the engine); benches/ladder.rs checks it against the
/// option string x264 writes.
const X264_PARAMS: &str = "keyint=infinite:scenecut=0:open-gop=0";
/// The floor: every rung's first segment within this many seconds.
const FLOOR_SECS: f64 = 2.0;
const POLL: Duration = Duration::from_millis(10);
const SOURCE_BITRATE: &str = "20M";

fn main() -> Res<()> {
    let var = common::setting;
    let seconds: f64 = var("REEL_BENCH_SECONDS", "20").parse()?;
    let runs: usize = var("REEL_BENCH_RUNS", "3").parse()?;
    let quiet: f64 = var("REEL_BENCH_QUIET", "20").parse()?;
    let peers = var("REEL_BENCH_PEERS", "1") != "0";
    let lengths: Vec<f64> = var("REEL_BENCH_SEGMENTS", "4,2")
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    if peers && Command::new("ffmpeg").arg("-version").output().is_err() {
        println!("first_segment: the ffmpeg CLI is missing (scripts/setup --test); skipped");
        return Ok(());
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/first-segment-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let src = make_source(&dir, seconds)?;
    let rungs = ladder::plan(1920, 1080, None)?.rungs;
    let bin = var("REEL_BENCH_BIN", env!("CARGO_BIN_EXE_reel"));
    let server = serve(Path::new(&bin), &dir)?;
    // Another reel (an older build), timed in turn with this one so both meet the same load.
    let compare_bin = var("REEL_BENCH_COMPARE", "");
    let compare = match compare_bin.as_str() {
        "" => None,
        b => Some(serve(Path::new(b), &dir.join("compare"))?),
    };
    let pids: Vec<u32> = [Some(&server), compare.as_ref()]
        .into_iter()
        .flatten()
        .map(|s| s.pid)
        .collect();

    println!("# First segment\n");
    println!(
        "Source: generated 1920x1080 30 fps, {seconds} s, re-encoded at {:.1} Mb/s, AAC. Ladder: {}. \
         Server: {bin}{}. Machine: {} cores, {}; load average at start {}.\n",
        bitrate_mbps(&src)?,
        rungs.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
        match compare {
            Some(_) => format!(" (\"reel\"), {compare_bin} (\"reel (compare)\")"),
            None => String::new(),
        },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model(),
        std::fs::read_to_string("/proc/loadavg")?
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    for &segment in &lengths {
        let mut rows = Vec::new();
        for run in 1..=runs {
            wait_quiet(quiet, &pids);
            rows.push(("reel", run, reel_run(&server, &src, &rungs, segment)?));
            if let Some(c) = &compare {
                wait_quiet(quiet, &pids);
                rows.push(("reel (compare)", run, reel_run(c, &src, &rungs, segment)?));
            }
            if peers {
                for (name, short_first) in [("ffmpeg", false), ("ffmpeg, short first", true)] {
                    wait_quiet(quiet, &pids);
                    let peer = Peer {
                        src: &src,
                        rungs: &rungs,
                        segment,
                        seconds,
                        short_first,
                        out: dir.join(format!("ffmpeg-{segment}-{run}-{short_first}")),
                    };
                    rows.push((name, run, ffmpeg_run(&peer)?));
                    let _ = std::fs::remove_dir_all(&peer.out);
                }
            }
        }
        print_section(segment, &rows);
    }
    Ok(())
}

/// One contender's timings, seconds from its start.
#[derive(Debug, Clone, Default)]
struct Timing {
    /// When each rung (ladder order) first listed a segment.
    rungs: Vec<f64>,
    master: Option<f64>,
    ready: f64,
    /// reel only: from the last byte of the upload to the 202.
    accepted: Option<f64>,
    /// CPU seconds other processes used during the run (cores x seconds).
    others: f64,
}

impl Timing {
    fn first_segment(&self) -> f64 {
        self.rungs.iter().copied().fold(0.0, f64::max)
    }
}

/// `bin serve` over `dir/media`.
fn serve(bin: &Path, dir: &Path) -> Res<Server> {
    std::fs::create_dir_all(dir)?;
    Server::start(bin, dir, &[OsStr::new("--media"), dir.join("media").as_os_str()])
}

// ---- the source ------------------------------------------------------------------------------

/// The source: 1080p30 at about 20 Mb/s. `reel sample` makes the picture and sound
/// (x264 ultrafast at CRF 20 gives testsrc2 far less than 20 Mb/s); the ffmpeg CLI brings
/// it to the bitrate, so decoding costs what a camera's file costs.
fn make_source(dir: &Path, seconds: f64) -> Res<PathBuf> {
    let sample = dir.join("sample.mp4");
    write_sample(
        &sample,
        &SampleSpec {
            width: 1920,
            height: 1080,
            seconds,
            fps: 30,
            ..SampleSpec::default()
        },
    )?;
    let src = dir.join("source-1080p30-20mbps.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&sample)
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-b:v", SOURCE_BITRATE])
        .args(["-maxrate", SOURCE_BITRATE, "-bufsize", "40M", "-c:a", "copy"])
        .arg(&src)
        .status()?;
    if !status.success() {
        return Err("ffmpeg could not re-encode the source".into());
    }
    Ok(src)
}

fn bitrate_mbps(path: &Path) -> Res<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=bit_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse::<f64>()? / 1e6)
}

// ---- reel ------------------------------------------------------------------------------------

fn reel_run(server: &Server, src: &Path, rungs: &[Rung], segment: f64) -> Res<Timing> {
    let (content_type, body) = upload_form(src, &[("segment_seconds", segment.to_string())])?;
    let busy0 = machine_busy() - cpu_seconds(server.pid);
    let mut conn = Conn::open(server.addr)?;
    write!(
        conn.stream.get_mut(),
        "POST /api/videos HTTP/1.1\r\nHost: bench\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    conn.stream.get_mut().write_all(&body)?;
    let t0 = Instant::now();
    let (status, bytes) = conn.response()?;
    let accepted = t0.elapsed().as_secs_f64();
    let id = accepted_id(status, &bytes)?;

    let mut seen: Vec<Option<f64>> = vec![None; rungs.len()];
    let mut master = None;
    let deadline = Duration::from_secs(600);
    let ready = loop {
        for (i, r) in rungs.iter().enumerate() {
            if seen[i].is_none() {
                let (status, body) = conn.get(&format!("/media/{id}/{}/index.m3u8", r.name()))?;
                if status == 200 && String::from_utf8_lossy(&body).contains("#EXTINF") {
                    seen[i] = Some(t0.elapsed().as_secs_f64());
                }
            }
        }
        if master.is_none() && conn.get(&format!("/media/{id}/master.m3u8"))?.0 == 200 {
            master = Some(t0.elapsed().as_secs_f64());
        }
        if seen.iter().all(Option::is_some) && master.is_some() {
            let (_, body) = conn.get(&format!("/api/videos/{id}"))?;
            let v: Value = serde_json::from_slice(&body)?;
            match v["status"].as_str() {
                Some("ready") => break t0.elapsed().as_secs_f64(),
                Some("failed") => return Err(format!("the video failed: {}", v["error"]).into()),
                _ => {}
            }
        }
        if t0.elapsed() > deadline {
            return Err("the video took more than 10 minutes".into());
        }
        std::thread::sleep(POLL);
    };
    let others = (machine_busy() - cpu_seconds(server.pid)) - busy0;
    // Keep the media root small: the next upload starts from an empty catalog.
    let (status, _) = conn.request("DELETE", &format!("/api/videos/{id}"))?;
    if status != 204 {
        return Err(format!("DELETE: {status}").into());
    }
    Ok(Timing {
        rungs: seen.into_iter().map(|t| t.unwrap_or(f64::NAN)).collect(),
        master,
        ready,
        accepted: Some(accepted),
        others,
    })
}

// ---- ffmpeg ----------------------------------------------------------------------------------

/// Keyframe times of `-force_key_frames`: every `segment`, or reel's grid (0, 1, 2, 4...
/// under `segment`, then its multiples) with `short_first`.
fn keyframe_times(segment: f64, seconds: f64, short_first: bool) -> String {
    let mut t = vec![0.0];
    let mut short = 1.0;
    while short_first && short < segment {
        t.push(short);
        short *= 2.0;
    }
    let mut k = 1.0;
    while k * segment < seconds {
        t.push(k * segment);
        k += 1.0;
    }
    t.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(",")
}

/// One run of the ffmpeg CLI writing the ladder.
struct Peer<'a> {
    src: &'a Path,
    rungs: &'a [Rung],
    segment: f64,
    /// The source's length (the last forced keyframe).
    seconds: f64,
    short_first: bool,
    out: PathBuf,
}

fn ffmpeg_args(p: &Peer) -> Vec<String> {
    let Peer {
        src,
        rungs,
        segment,
        seconds,
        short_first,
        ref out,
    } = *p;
    let s = |x: &str| x.to_string();
    let n = rungs.len();
    let mut graph = format!("[0:v]split={n}");
    for i in 0..n {
        graph += &format!("[s{i}]");
    }
    for (i, r) in rungs.iter().enumerate() {
        graph += &format!(";[s{i}]scale={}:{}:flags=bicubic[o{i}]", r.width, r.height);
    }
    let mut a = vec![
        s("-nostdin"),
        s("-hide_banner"),
        s("-loglevel"),
        s("error"),
        s("-y"),
        s("-i"),
    ];
    a.push(src.display().to_string());
    a.extend([s("-filter_complex"), graph]);
    for i in 0..n {
        a.extend([s("-map"), format!("[o{i}]"), s("-map"), s("0:a:0")]);
    }
    a.extend([
        s("-c:v"),
        s("libx264"),
        s("-preset"),
        s(reel::engine::DEFAULT_PRESET),
    ]);
    a.extend([s("-crf"), CRF.to_string(), s("-forced-idr"), s("1")]);
    a.extend([s("-x264-params"), s(X264_PARAMS)]);
    a.extend([
        s("-force_key_frames"),
        keyframe_times(segment, seconds, short_first),
    ]);
    for (i, r) in rungs.iter().enumerate() {
        a.extend([format!("-maxrate:v:{i}"), r.maxrate.to_string()]);
        a.extend([format!("-bufsize:v:{i}"), r.bufsize.to_string()]);
    }
    a.extend([s("-c:a"), s("aac"), s("-b:a"), AUDIO_BITRATE.to_string()]);
    a.extend([s("-ac"), s("2"), s("-ar"), s("48000")]);
    // The muxer cuts at the first keyframe at least hls_time after the segment's start.
    let hls_time = if short_first { 1.0 } else { segment };
    a.extend([s("-f"), s("hls"), s("-hls_time"), hls_time.to_string()]);
    a.extend([
        s("-hls_playlist_type"),
        s("vod"),
        s("-hls_segment_type"),
        s("fmp4"),
    ]);
    a.extend([s("-hls_flags"), s("independent_segments+temp_file")]);
    let map: Vec<String> = (0..n).map(|i| format!("v:{i},a:{i}")).collect();
    a.extend([s("-var_stream_map"), map.join(" ")]);
    a.extend([s("-master_pl_name"), s("master.m3u8")]);
    a.extend([
        s("-hls_segment_filename"),
        format!("{}/%v/seg%05d.m4s", out.display()),
    ]);
    a.push(format!("{}/%v/index.m3u8", out.display()));
    a
}

fn ffmpeg_run(p: &Peer) -> Res<Timing> {
    let (rungs, out) = (p.rungs, &p.out);
    std::fs::create_dir_all(out)?;
    let args = ffmpeg_args(p);
    let busy0 = machine_busy();
    let t0 = Instant::now();
    let mut child: Child = Command::new("ffmpeg").args(&args).stdin(Stdio::null()).spawn()?;
    let pid = child.id();
    let mut seen: Vec<Option<f64>> = vec![None; rungs.len()];
    let mut cpu = 0.0;
    let ready = loop {
        for (i, t) in seen.iter_mut().enumerate() {
            if t.is_none() && out.join(i.to_string()).join("seg00000.m4s").exists() {
                *t = Some(t0.elapsed().as_secs_f64());
            }
        }
        cpu = f64::max(cpu, cpu_seconds(pid));
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                return Err(format!("ffmpeg failed: {status}; {}", args.join(" ")).into());
            }
            break t0.elapsed().as_secs_f64();
        }
        std::thread::sleep(POLL);
    };
    Ok(Timing {
        rungs: seen.into_iter().map(|t| t.unwrap_or(f64::NAN)).collect(),
        master: None,
        ready,
        accepted: None,
        others: machine_busy() - busy0 - cpu,
    })
}

// ---- output ----------------------------------------------------------------------------------

fn print_section(segment: f64, rows: &[(&str, usize, Timing)]) {
    println!("## {segment} s segments\n");
    println!("| contender | run | first segment, every rung (s) | per rung (s) | master (s) | ready (s) | upload end → 202 (s) | others' load (cores) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, run, t) in rows {
        let opt = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.2}"));
        println!(
            "| {name} | {run} | {:.2} | {} | {} | {:.2} | {} | {:.2} |",
            t.first_segment(),
            t.rungs
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
            opt(t.master),
            t.ready,
            opt(t.accepted),
            t.others / t.ready.max(0.001),
        );
    }
    // Best (least disturbed) and median of a contender's runs.
    let stats = |name: &str, f: fn(&Timing) -> f64| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, _, t)| f(t))
            .collect();
        v.sort_by(f64::total_cmp);
        (
            v.first().copied().unwrap_or(f64::NAN),
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
        )
    };
    let first = |t: &Timing| t.first_segment();
    let ready = |t: &Timing| t.ready;
    let ((reel_first, reel_first_median), (reel_ready, _)) = (stats("reel", first), stats("reel", ready));
    println!();
    println!(
        "reel: first segment best {reel_first:.2} s, median {reel_first_median:.2} s (floor {FLOOR_SECS} s: **{}**); ready best {reel_ready:.2} s.",
        if reel_first <= FLOOR_SECS { "PASS" } else { "MISS" }
    );
    for peer in ["reel (compare)", "ffmpeg", "ffmpeg, short first"] {
        let ((f, f_median), (r, _)) = (stats(peer, first), stats(peer, ready));
        if f.is_finite() {
            println!(
                "{peer}: first segment best {f:.2} s, median {f_median:.2} s; ready best {r:.2} s. \
                 reel/{peer}: first segment {:.2} (medians {:.2}), ready {:.2}.",
                reel_first / f,
                reel_first_median / f_median,
                reel_ready / r
            );
        }
    }
    println!();
}

// ---- polling ------------------------------------------------------------------------------------

/// One keep-alive HTTP/1.1 connection: polling costs the server a request, not a
/// connection, every 10 ms.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Res<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(s),
        })
    }

    fn get(&mut self, path: &str) -> Res<(u16, Vec<u8>)> {
        self.request("GET", path)
    }

    fn request(&mut self, method: &str, path: &str) -> Res<(u16, Vec<u8>)> {
        write!(
            self.stream.get_mut(),
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n"
        )?;
        self.response()
    }

    /// Reads one response; the body must have a Content-Length (reel's always do here).
    fn response(&mut self) -> Res<(u16, Vec<u8>)> {
        let (mut status, mut length) = (0u16, 0usize);
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err("the server closed the connection".into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest.split_whitespace().next().unwrap_or("0").parse()?;
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse()?;
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, body))
    }
}

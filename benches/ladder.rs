//! `cargo bench --bench ladder`: ladder throughput of reel beside the `ffmpeg` CLI.
//!
//! Inputs, each selectable by name:
//!
//! * `generated`: a 1080p30 `testsrc2` clip made with `reel::engine::sample` (x264
//!   ultrafast: the cheapest H.264 there is to decode);
//! * `camera`: the same clip re-encoded the way a camera or phone stores video (High
//!   profile, CABAC, B-frames, ~10 Mb/s), which costs about twice as much to decode;
//! * `real`: real camera footage, `../shared/media/car-detection.mp4`, when that file
//!   exists (it is not in the repository; a plain clone skips it);
//! * `two-audio`: the generated clip with two audio tracks (English 440 Hz, French
//!   880 Hz): reel encodes each track once into an audio rendition for all rungs, (a)
//!   does the same with `-var_stream_map` audio groups (`agroup`); (b) does not run.
//!
//! For each, the default ladder is made three ways, interleaved, `REEL_BENCH_RUNS` times:
//!
//! * **reel**: `reel::engine::transcode` in this process (decode once, one x264 per rung);
//! * **(a)**: one `ffmpeg` process, `split` + `scale=W:H:flags=bicubic` per rung, every
//!   rung encoded by libx264 with reel's settings and muxed to fMP4 HLS by `-f hls`;
//! * **(b)**: the naive pipeline: one `ffmpeg` per rung, each decoding the source itself,
//!   run one after the other, then one `-c copy -f hls` segmenting pass per rung.
//!
//! Then, per rung, the video bitrate and the PSNR of reel's and (a)'s output (see
//! [`psnr`] for the method) are compared, and whether the IDRs and the x264 option strings
//! agree is checked. Everything is printed as Markdown tables (docs/benchmarks.md,
//! "Ladder throughput", holds the figures and how to read them).
//!
//! Environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REEL_BENCH_SECONDS` | 20 | length of the generated clip |
//! | `REEL_BENCH_RUNS` | 1 | timed repetitions (reel, (a), (b) interleaved) |
//! | `REEL_BENCH_REAL` | `../shared/media/car-detection.mp4` | real footage; `none` skips it |
//! | `REEL_BENCH_PRESET` | reel's default (`veryfast`) | x264 preset, for reel and the peers |
//! | `REEL_BENCH_PEERS` | `a,b` | which peers run: `a`, `b`, `a,b` or `none` (reel alone) |
//! | `REEL_BENCH_QUALITY` | 1 | 0 skips bitrate/PSNR |
//! | `REEL_BENCH_QUIET` | 20 | before each timed step, wait up to this many seconds for the rest of the machine to use under 0.25 cores |
//! | `REEL_BENCH_COMMANDS` | 1 | 0 leaves out the peers' command lines |
//! | `REEL_BENCH_KEEP` | 0 | 1 keeps the outputs under `target/tmp/ladder-bench` |
//!
//! Positional arguments select inputs by name: `cargo bench --bench ladder -- generated real`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use reel::engine::ladder::{self, Rung, AUDIO_BITRATE, CRF};
use reel::engine::sample::{write_sample, SampleSpec};
use reel::engine::{probe, transcode, CancelToken, Probe, TranscodeOptions, DEFAULT_PRESET};

type Res<T> = Result<T, Box<dyn Error>>;

/// reel's `X264_PARAMS` (private to the engine); the option-string check below catches drift.
const X264_PARAMS: &str = "keyint=infinite:scenecut=0:open-gop=0";

/// The issue's floors.
const FLOOR_VS_A: f64 = 1.0;
const FLOOR_VS_B: f64 = 0.6;
const BITRATE_TOLERANCE_PCT: f64 = 5.0;
const PSNR_TOLERANCE_DB: f64 = 0.3;

struct Config {
    seconds: f64,
    runs: usize,
    real: Option<PathBuf>,
    peer_a: bool,
    peer_b: bool,
    quality: bool,
    keep: bool,
    quiet: f64,
    commands: bool,
    filters: Vec<String>,
}

impl Config {
    fn from_env() -> Res<Config> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let flag = |k: &str, default: bool| var(k).map(|v| v != "0").unwrap_or(default);
        let seconds: f64 = var("REEL_BENCH_SECONDS")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(20.0);
        let peers = var("REEL_BENCH_PEERS").unwrap_or_else(|| "a,b".into());
        let runs: usize = var("REEL_BENCH_RUNS")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(1);
        let real = match var("REEL_BENCH_REAL") {
            Some(v) if v == "none" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/media/car-detection.mp4")),
        };
        Ok(Config {
            seconds,
            runs: runs.max(1),
            real,
            peer_a: peers.split(',').any(|p| p.trim() == "a"),
            peer_b: peers.split(',').any(|p| p.trim() == "b"),
            quality: flag("REEL_BENCH_QUALITY", true),
            keep: flag("REEL_BENCH_KEEP", false),
            commands: flag("REEL_BENCH_COMMANDS", true),
            quiet: var("REEL_BENCH_QUIET")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(20.0),
            filters: std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect(),
        })
    }
}

/// A source to make a ladder of.
struct Input {
    name: &'static str,
    title: String,
    path: PathBuf,
    probe: Probe,
    rungs: Vec<Rung>,
}

/// What one contender cost: wall time, CPU time of its own process(es), and the CPU the
/// rest of the machine used meanwhile (in cores), which says how noisy the wall time is.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    wall: f64,
    cpu: f64,
    others: f64,
}

#[derive(Clone, Copy)]
enum Who {
    /// This process (reel runs in-process).
    This,
    /// Waited-for child processes (ffmpeg).
    Children,
}

fn cpu_seconds(who: Who) -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let which = match who {
        Who::This => libc::RUSAGE_SELF,
        Who::Children => libc::RUSAGE_CHILDREN,
    };
    unsafe { libc::getrusage(which, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Busy CPU seconds of the whole machine so far (all of /proc/stat's `cpu` line but idle
/// and iowait).
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy / hz
}

/// Waits (up to `max_wait` seconds) until the machine has been nearly idle for half a
/// second, so that other work (compilers, tests) disturbs the next timing less. Returns
/// the load seen in the last half second, in cores.
fn wait_for_quiet(max_wait: f64) -> f64 {
    let start = Instant::now();
    loop {
        let busy0 = machine_busy_seconds();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let load = (machine_busy_seconds() - busy0) / 0.5;
        if load < 0.25 || start.elapsed().as_secs_f64() >= max_wait {
            return load;
        }
    }
}

fn measure(who: Who, f: impl FnOnce() -> Res<()>) -> Res<Cost> {
    let (cpu0, busy0, t0) = (cpu_seconds(who), machine_busy_seconds(), Instant::now());
    f()?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(who) - cpu0;
    let others = ((machine_busy_seconds() - busy0 - cpu) / wall).max(0.0);
    Ok(Cost { wall, cpu, others })
}

/// Runs a command to completion; its stderr becomes the error on failure.
fn run(program: &str, args: &[String]) -> Res<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn ffmpeg(args: Vec<String>) -> Res<String> {
    let mut all: Vec<String> = ["-nostdin", "-hide_banner", "-nostats", "-y"]
        .into_iter()
        .map(String::from)
        .collect();
    all.extend(args);
    run("ffmpeg", &all)
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

// ----------------------------------------------------------------------------------
// The peers' command lines.

/// x264 preset for reel and the peers alike: reel's default unless `REEL_BENCH_PRESET`.
fn preset() -> String {
    std::env::var("REEL_BENCH_PRESET")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PRESET.to_string())
}

fn segment_seconds() -> f64 {
    TranscodeOptions::default().segment_seconds
}

/// libx264 options common to every rung: reel's settings (encoders.rs).
fn x264_common() -> Vec<String> {
    vec![
        s("-c:v"),
        s("libx264"),
        s("-preset"),
        preset(),
        s("-crf"),
        s(CRF),
        s("-forced-idr"),
        s("1"),
        s("-x264-params"),
        s(X264_PARAMS),
        s("-force_key_frames"),
        format!("expr:gte(t,n_forced*{})", segment_seconds()),
    ]
}

fn audio_args() -> Vec<String> {
    vec![
        s("-c:a"),
        s("aac"),
        s("-b:a"),
        s(AUDIO_BITRATE),
        s("-ac"),
        s("2"),
        s("-ar"),
        s("48000"),
    ]
}

fn scale(r: &Rung) -> String {
    format!("scale={}:{}:flags=bicubic", r.width, r.height)
}

fn hls_args() -> Vec<String> {
    vec![
        s("-f"),
        s("hls"),
        s("-hls_time"),
        s(segment_seconds()),
        s("-hls_playlist_type"),
        s("vod"),
        s("-hls_segment_type"),
        s("fmp4"),
        s("-hls_flags"),
        s("independent_segments"),
    ]
}

/// (a): one process, `split` to every rung; rung `i` lands in `dir/i/index.m3u8`. A
/// source with several audio tracks gets one audio rendition per track, each encoded
/// once, in one `agroup` every rung names (what reel does), after the rungs (`dir/n/`...).
fn peer_a_args(input: &Input, dir: &Path) -> Vec<String> {
    let n = input.rungs.len();
    let tracks = input.probe.audio_tracks.len();
    if tracks > 1 {
        return peer_a_group_args(input, dir);
    }
    let has_audio = tracks > 0;
    let mut a = split_input_args(input);
    for i in 0..n {
        a.extend([s("-map"), format!("[o{i}]")]);
        if has_audio {
            a.extend([s("-map"), s("0:a:0")]);
        }
    }
    a.extend(rung_video_args(input));
    if has_audio {
        a.extend(audio_args());
    }
    a.extend(hls_args());
    let map: Vec<String> = (0..n)
        .map(|i| {
            if has_audio {
                format!("v:{i},a:{i}")
            } else {
                format!("v:{i}")
            }
        })
        .collect();
    a.extend(variant_output_args(&map, dir));
    a
}

/// (a)'s output: the variants of `map` (`-var_stream_map`) under `dir/%v/`, a master.
fn variant_output_args(map: &[String], dir: &Path) -> Vec<String> {
    vec![
        s("-var_stream_map"),
        map.join(" "),
        s("-master_pl_name"),
        s("master.m3u8"),
        s("-hls_segment_filename"),
        dir.join("%v/seg%05d.m4s").display().to_string(),
        dir.join("%v/index.m3u8").display().to_string(),
    ]
}

/// (a)'s input and its `split` to one scaled output `[o{i}]` per rung.
fn split_input_args(input: &Input) -> Vec<String> {
    let n = input.rungs.len();
    let mut graph = format!("[0:v]split={n}");
    for i in 0..n {
        write!(graph, "[s{i}]").unwrap();
    }
    for (i, r) in input.rungs.iter().enumerate() {
        write!(graph, ";[s{i}]{}[o{i}]", scale(r)).unwrap();
    }
    vec![
        s("-i"),
        input.path.display().to_string(),
        s("-filter_complex"),
        graph,
    ]
}

/// x264 for every rung of (a), with each rung's rate cap.
fn rung_video_args(input: &Input) -> Vec<String> {
    let mut a = x264_common();
    for (i, r) in input.rungs.iter().enumerate() {
        a.extend([
            format!("-maxrate:v:{i}"),
            s(r.maxrate),
            format!("-bufsize:v:{i}"),
            s(r.bufsize),
        ]);
    }
    a
}

/// (a) for a source with several audio tracks: the rungs video-only, each track encoded
/// once, `-var_stream_map "v:0,agroup:aud ... a:0,agroup:aud,language:eng ..."`.
fn peer_a_group_args(input: &Input, dir: &Path) -> Vec<String> {
    let n = input.rungs.len();
    let mut a = split_input_args(input);
    for i in 0..n {
        a.extend([s("-map"), format!("[o{i}]")]);
    }
    for t in &input.probe.audio_tracks {
        a.extend([s("-map"), format!("0:a:{}", t.index)]);
    }
    a.extend(rung_video_args(input));
    a.extend(audio_args());
    a.extend(hls_args());
    let mut map: Vec<String> = (0..n).map(|i| format!("v:{i},agroup:aud")).collect();
    map.extend(input.probe.audio_tracks.iter().map(|t| {
        let language = t.language.as_deref().unwrap_or("und");
        format!("a:{},agroup:aud,language:{language}", t.index)
    }));
    a.extend(variant_output_args(&map, dir));
    a
}

/// (b), step 1: one rung from the source, decoded again, to a plain MP4.
fn peer_b_encode_args(input: &Input, r: &Rung, mp4: &Path) -> Vec<String> {
    let mut a = vec![s("-i"), input.path.display().to_string(), s("-vf"), scale(r)];
    a.extend(x264_common());
    a.extend([s("-maxrate"), s(r.maxrate), s("-bufsize"), s(r.bufsize)]);
    if input.probe.audio_tracks.is_empty() {
        a.push(s("-an"));
    } else {
        a.extend([s("-map"), s("0:v:0"), s("-map"), s("0:a:0")]);
        a.extend(audio_args());
    }
    a.push(mp4.display().to_string());
    a
}

/// (b), step 2: that MP4 cut into fMP4 HLS without re-encoding.
fn peer_b_segment_args(mp4: &Path, dir: &Path) -> Vec<String> {
    let mut a = vec![s("-i"), mp4.display().to_string(), s("-c"), s("copy")];
    a.extend(hls_args());
    a.extend([
        s("-hls_segment_filename"),
        dir.join("seg%05d.m4s").display().to_string(),
        dir.join("index.m3u8").display().to_string(),
    ]);
    a
}

// ----------------------------------------------------------------------------------
// The three contenders.

fn run_reel(input: &Input, out: &Path) -> Res<(Cost, Profile)> {
    let _ = std::fs::remove_dir_all(out);
    let parent = out.parent().ok_or("the output has a parent")?;
    let name = out.file_name().ok_or("the output has a name")?.to_string_lossy();
    let objects = reel::storage::VideoObjects::new(reel::storage::MediaStore::folder(parent)?, &name);
    let sampler = ThreadSampler::start();
    let cost = measure(Who::This, || {
        let state = transcode(
            &input.path,
            &objects,
            &TranscodeOptions {
                preset: preset(),
                ..TranscodeOptions::default()
            },
            &mut |_| {},
            &CancelToken::new(),
        )?;
        if state.renditions.len() != input.rungs.len() {
            return Err(format!("reel made {} rungs", state.renditions.len()).into());
        }
        Ok(())
    })?;
    Ok((cost, sampler.finish()))
}

/// CPU of reel's threads, grouped by thread name. Threads inherit their creator's name on
/// Linux, so x264's worker and lookahead threads count in their rung's group (`rung-720p`)
/// and the decoder's frame threads in `decode`.
#[derive(Debug, Clone)]
struct ThreadGroup {
    name: String,
    cpu: f64,
    /// Seconds from the start until the group last used CPU.
    last_active: f64,
}

/// What the sampler saw of one reel run.
#[derive(Debug, Clone, Default)]
struct Profile {
    groups: Vec<ThreadGroup>,
    /// (seconds since start, this process's CPU seconds, the machine's busy CPU seconds)
    timeline: Vec<(f64, f64, f64)>,
}

impl Profile {
    /// Cores used by reel and by the rest of the machine in each tenth of the run.
    fn tenths(&self) -> Vec<(f64, f64)> {
        let (Some(first), Some(last)) = (self.timeline.first(), self.timeline.last()) else {
            return Vec::new();
        };
        let at = |t: f64| -> (f64, f64, f64) { *self.timeline.iter().find(|p| p.0 >= t).unwrap_or(last) };
        let span = last.0 - first.0;
        (0..10)
            .map(|i| {
                let (a, b) = (
                    at(first.0 + span * i as f64 / 10.0),
                    at(first.0 + span * (i + 1) as f64 / 10.0),
                );
                let dt = (b.0 - a.0).max(1e-9);
                let ours = (b.1 - a.1) / dt;
                (ours, ((b.2 - a.2) / dt - ours).max(0.0))
            })
            .collect()
    }
}

struct ThreadSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Profile>,
}

impl ThreadSampler {
    const PERIOD: std::time::Duration = std::time::Duration::from_millis(25);

    fn start() -> ThreadSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("bench-sampler".into())
            .spawn(move || {
                // SAFETY: sysconf has no preconditions.
                let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
                let t0 = Instant::now();
                // tid -> (name, ticks, seconds since start when its ticks last grew)
                let mut seen: std::collections::HashMap<u64, (String, u64, f64)> = Default::default();
                let mut timeline = Vec::new();
                // Threads that already exist (this one's creator) count from now on only.
                let baseline: std::collections::HashMap<u64, u64> = read_threads()
                    .into_iter()
                    .map(|(tid, _, ticks)| (tid, ticks))
                    .collect();
                loop {
                    let done = flag.load(std::sync::atomic::Ordering::SeqCst);
                    let now = t0.elapsed().as_secs_f64();
                    timeline.push((now, cpu_seconds(Who::This), machine_busy_seconds()));
                    for (tid, name, ticks) in read_threads() {
                        let ticks = ticks.saturating_sub(baseline.get(&tid).copied().unwrap_or(0));
                        let e = seen.entry(tid).or_insert((name, 0, 0.0));
                        if ticks > e.1 {
                            e.1 = ticks;
                            e.2 = now;
                        }
                    }
                    if done {
                        break;
                    }
                    std::thread::sleep(Self::PERIOD);
                }
                let mut groups: Vec<ThreadGroup> = Vec::new();
                for (name, ticks, last) in seen.into_values() {
                    if name == "bench-sampler" || ticks == 0 {
                        continue;
                    }
                    match groups.iter_mut().find(|g| g.name == name) {
                        Some(g) => {
                            g.cpu += ticks as f64 / hz;
                            g.last_active = g.last_active.max(last);
                        }
                        None => groups.push(ThreadGroup {
                            name,
                            cpu: ticks as f64 / hz,
                            last_active: last,
                        }),
                    }
                }
                groups.sort_by(|a, b| b.cpu.total_cmp(&a.cpu));
                Profile { groups, timeline }
            })
            .expect("starting the sampler thread");
        ThreadSampler { stop, handle }
    }

    fn finish(self) -> Profile {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

/// (tid, name, utime + stime in ticks) of every thread of this process.
fn read_threads() -> Vec<(u64, String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        // After ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.push((tid, name, ticks(11) + ticks(12)));
    }
    out
}

fn run_peer_a(input: &Input, out: &Path) -> Res<Cost> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let args = peer_a_args(input, out);
    measure(Who::Children, || ffmpeg(args).map(drop))
}

fn run_peer_b(input: &Input, out: &Path) -> Res<Cost> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    measure(Who::Children, || {
        for r in &input.rungs {
            let mp4 = out.join(format!("{}.mp4", r.name()));
            let dir = out.join(r.name());
            std::fs::create_dir_all(&dir)?;
            ffmpeg(peer_b_encode_args(input, r, &mp4))?;
            ffmpeg(peer_b_segment_args(&mp4, &dir))?;
        }
        Ok(())
    })
}

// ----------------------------------------------------------------------------------
// Measuring outputs.

/// Concatenates a media playlist's init segment and segments into one fragmented MP4
/// (`init + seg0 + seg1...` is a valid file) and returns its path.
fn join_rendition(playlist: &Path, joined: &Path) -> Res<PathBuf> {
    let text = std::fs::read_to_string(playlist)?;
    let base = playlist.parent().unwrap_or(Path::new("."));
    let mut bytes = Vec::new();
    for line in text.lines().map(str::trim) {
        let uri = if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            rest.split("URI=\"").nth(1).and_then(|v| v.split('"').next())
        } else if !line.is_empty() && !line.starts_with('#') {
            Some(line)
        } else {
            None
        };
        if let Some(uri) = uri {
            bytes.extend(std::fs::read(base.join(uri))?);
        }
    }
    std::fs::write(joined, bytes)?;
    Ok(joined.to_path_buf())
}

/// The video track of a rendition, as ffprobe reads it.
#[derive(Debug, Default, Clone)]
struct VideoStats {
    frames: usize,
    bytes: u64,
    /// pts span of all frames plus one mean frame duration.
    seconds: f64,
    /// pts of the key frames, relative to the first frame, in ms.
    keys_ms: Vec<i64>,
    /// The libx264 option string from the SEI in the first IDR.
    x264: Option<String>,
}

impl VideoStats {
    fn kbps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 * 8.0 / self.seconds / 1000.0
        } else {
            0.0
        }
    }
}

fn video_stats(file: &Path) -> Res<VideoStats> {
    let out = run(
        "ffprobe",
        &[
            s("-v"),
            s("error"),
            s("-select_streams"),
            s("v:0"),
            s("-show_entries"),
            s("packet=pts_time,size,flags"),
            s("-of"),
            s("csv=p=0"),
            file.display().to_string(),
        ],
    )?;
    let mut st = VideoStats::default();
    let mut pts = Vec::new();
    let mut keys = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 3 {
            continue;
        }
        let (Ok(t), Ok(size)) = (f[0].parse::<f64>(), f[1].parse::<u64>()) else {
            continue;
        };
        st.frames += 1;
        st.bytes += size;
        pts.push(t);
        if f[2].contains('K') {
            keys.push(t);
        }
    }
    if st.frames > 1 {
        let (lo, hi) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
        st.seconds = (hi - lo) * st.frames as f64 / (st.frames - 1) as f64;
        st.keys_ms = keys.iter().map(|k| ((k - lo) * 1000.0).round() as i64).collect();
    }
    let bytes = std::fs::read(file)?;
    st.x264 = find_x264_options(&bytes);
    Ok(st)
}

fn find_x264_options(bytes: &[u8]) -> Option<String> {
    let needle = b"x264 - core";
    let start = bytes.windows(needle.len()).position(|w| w == needle)?;
    let end = bytes[start..].iter().position(|b| *b == 0)? + start;
    Some(String::from_utf8_lossy(&bytes[start..end]).into_owned())
}

/// The option names whose values differ between two x264 option strings.
fn x264_differences(a: &str, b: &str) -> Vec<String> {
    let parse = |s: &str| -> std::collections::BTreeMap<String, String> {
        s.split("options: ")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (pa, pb) = (parse(a), parse(b));
    let mut keys: Vec<&String> = pa.keys().chain(pb.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| pa.get(*k) != pb.get(*k))
        .map(|k| {
            format!(
                "{k}: {} vs {}",
                pa.get(k).map_or("-", String::as_str),
                pb.get(k).map_or("-", String::as_str)
            )
        })
        .collect()
}

/// PSNR of a rendition against the source, in dB: (Y, all planes).
///
/// Method: the *source* is scaled down to the rung's size with the same scaler the
/// ladders use (swscale bicubic, `scale=W:H:flags=bicubic`) and compared frame by frame
/// with the decoded rung by ffmpeg's `psnr` filter (both timelines start at 0). This
/// measures what encoding lost at the rung's own size; the downscale itself is common to
/// reel and (a). `average` is the filter's mean over frames of the Y/U/V-weighted PSNR.
fn psnr(rung_file: &Path, source: &Path, r: &Rung) -> Res<(f64, f64)> {
    let graph = format!(
        "[0:v]setpts=PTS-STARTPTS[d];[1:v]{},setpts=PTS-STARTPTS[r];[d][r]psnr",
        scale(r)
    );
    let out = ffmpeg(vec![
        s("-i"),
        rung_file.display().to_string(),
        s("-i"),
        source.display().to_string(),
        s("-filter_complex"),
        graph,
        s("-f"),
        s("null"),
        s("-"),
    ])?;
    let line = out
        .lines()
        .find(|l| l.contains("PSNR y:"))
        .ok_or("the psnr filter printed no summary")?;
    let field = |name: &str| -> Res<f64> {
        let v = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .ok_or_else(|| format!("no {name} in {line}"))?;
        Ok(if v == "inf" { 99.0 } else { v.parse()? })
    };
    Ok((field("y:")?, field("average:")?))
}

// ----------------------------------------------------------------------------------
// Report.

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn bench_input(cfg: &Config, input: &Input, work: &Path) -> Res<()> {
    println!("\n### {}\n", input.title);
    let ladder_desc: Vec<String> = input
        .rungs
        .iter()
        .map(|r| format!("{} {}x{} ≤{} kb/s", r.name(), r.width, r.height, r.maxrate / 1000))
        .collect();
    println!("Ladder: {}.\n", ladder_desc.join(", "));

    let (reel_dir, a_dir, b_dir) = (work.join("reel"), work.join("a"), work.join("b"));
    // (b) re-encodes one audio track per rung: no peer for audio renditions.
    let peer_b = cfg.peer_b && input.probe.audio_tracks.len() < 2;
    let (mut reels, mut peers_a, mut peers_b) = (Vec::new(), Vec::new(), Vec::new());
    let mut threads = Vec::new();
    println!(
        "| run | reel s | (a) s | (b) s | reel/(a) | reel/(b) | CPU s reel / (a) / (b) | others' load (cores) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for run in 1..=cfg.runs {
        wait_for_quiet(cfg.quiet);
        let (reel, groups) = run_reel(input, &reel_dir)?;
        threads.push((reel, groups));
        let a = cfg
            .peer_a
            .then(|| {
                wait_for_quiet(cfg.quiet);
                run_peer_a(input, &a_dir)
            })
            .transpose()?;
        let b = peer_b
            .then(|| {
                wait_for_quiet(cfg.quiet);
                run_peer_b(input, &b_dir)
            })
            .transpose()?;
        print_row(&run.to_string(), reel, a, b);
        reels.push(reel);
        peers_a.extend(a);
        peers_b.extend(b);
    }
    let fastest = |v: &[Cost]| v.iter().copied().min_by(|x, y| x.wall.total_cmp(&y.wall));
    let best_reel = fastest(&reels).expect("at least one run");
    let best_a = fastest(&peers_a);
    let best_b = fastest(&peers_b);
    if cfg.runs > 1 {
        print_row("best", best_reel, best_a, best_b);
    }
    print!("\nBest of {} run(s):", cfg.runs);
    if let Some(a) = best_a {
        let ra = best_reel.wall / a.wall;
        print!(
            " reel/(a) = {ra:.2} ≤ {FLOOR_VS_A:.2}: **{}**;",
            pass(ra <= FLOOR_VS_A)
        );
    }
    if let Some(b) = best_b {
        let rb = best_reel.wall / b.wall;
        print!(
            " reel/(b) = {rb:.2} ≤ {FLOOR_VS_B:.2}: **{}**;",
            pass(rb <= FLOOR_VS_B)
        );
    }
    println!(
        " source {:.1} s of video; reel ran at {:.2}x real time.\n",
        input.probe.duration,
        input.probe.duration / best_reel.wall
    );
    // CPU time is far less sensitive to other work on the machine than wall time: the
    // ratio of the work done says what the wall ratio would be at equal core usage.
    let mean_cpu = |v: &[Cost]| v.iter().map(|c| c.cpu).sum::<f64>() / v.len().max(1) as f64;
    let mut cpu_line = format!("CPU time (mean of runs): reel {:.1} s", mean_cpu(&reels));
    for (name, v) in [("(a)", &peers_a), ("(b)", &peers_b)] {
        if !v.is_empty() {
            write!(
                cpu_line,
                ", {name} {:.1} s (reel/{name} {:.2})",
                mean_cpu(v),
                mean_cpu(&reels) / mean_cpu(v)
            )
            .unwrap();
        }
    }
    println!("{cpu_line}.\n");
    // Where reel's CPU went in its fastest run, and when each thread group went idle.
    if let Some((cost, profile)) = threads.iter().min_by(|x, y| x.0.wall.total_cmp(&y.0.wall)) {
        let parts: Vec<String> = profile
            .groups
            .iter()
            .filter(|g| g.cpu >= 0.05)
            .map(|g| format!("{} {:.1} s (busy until {:.1} s)", g.name, g.cpu, g.last_active))
            .collect();
        println!(
            "reel's CPU by thread group (x264 and decoder threads count in the group that made them), \
             fastest run ({:.2} s wall, {:.2} cores busy on average): {}.\n",
            cost.wall,
            cost.cpu / cost.wall,
            parts.join(", ")
        );
        let tenths = profile.tenths();
        let fmt = |f: &dyn Fn(&(f64, f64)) -> f64| {
            tenths
                .iter()
                .map(|t| format!("{:.1}", f(t)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "Cores busy in each tenth of that run: reel {}; rest of the machine {}.\n",
            fmt(&|t| t.0),
            fmt(&|t| t.1)
        );
    }

    if !cfg.quality || !cfg.peer_a {
        return Ok(());
    }
    // Quality of the last run's outputs.
    let cmp = work.join("compare");
    std::fs::create_dir_all(&cmp)?;
    println!(
        "| rung | reel kb/s | (a) kb/s | Δ % | (b) kb/s | reel PSNR Y / avg dB | (a) PSNR Y / avg dB | Δ avg dB | IDRs same | x264 options same |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for (i, r) in input.rungs.iter().enumerate() {
        let reel_file = join_rendition(
            &reel_dir.join(r.name()).join("index.m3u8"),
            &cmp.join(format!("reel-{}.mp4", r.name())),
        )?;
        let a_file = join_rendition(
            &a_dir.join(i.to_string()).join("index.m3u8"),
            &cmp.join(format!("a-{}.mp4", r.name())),
        )?;
        let (rs, as_) = (video_stats(&reel_file)?, video_stats(&a_file)?);
        let b_kbps = if cfg.peer_b {
            let b_file = join_rendition(
                &b_dir.join(r.name()).join("index.m3u8"),
                &cmp.join(format!("b-{}.mp4", r.name())),
            )?;
            format!("{:.0}", video_stats(&b_file)?.kbps())
        } else {
            s("-")
        };
        let (ry, ravg) = psnr(&reel_file, &input.path, r)?;
        let (ay, aavg) = psnr(&a_file, &input.path, r)?;
        let dk = (rs.kbps() / as_.kbps() - 1.0) * 100.0;
        let dp = ravg - aavg;
        let same_keys = rs.keys_ms == as_.keys_ms && rs.frames == as_.frames;
        if !same_keys {
            notes.push(format!(
                "{}: reel {} frames, IDRs at {:?} ms; (a) {} frames, IDRs at {:?} ms",
                r.name(),
                rs.frames,
                rs.keys_ms,
                as_.frames,
                as_.keys_ms
            ));
        }
        let x264_same = match (&rs.x264, &as_.x264) {
            (Some(x), Some(y)) => {
                let d = x264_differences(x, y);
                if !d.is_empty() {
                    notes.push(format!(
                        "{} x264 options, reel vs (a): {}",
                        r.name(),
                        d.join(", ")
                    ));
                }
                if d.is_empty() {
                    "yes"
                } else {
                    "no"
                }
            }
            _ => "?",
        };
        println!(
            "| {} | {:.0} | {:.0} | {:+.1} {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:+.2} {} | {} | {} |",
            r.name(),
            rs.kbps(),
            as_.kbps(),
            dk,
            pass(dk.abs() <= BITRATE_TOLERANCE_PCT),
            b_kbps,
            ry,
            ravg,
            ay,
            aavg,
            dp,
            pass(dp.abs() <= PSNR_TOLERANCE_DB),
            if same_keys { "yes" } else { "no" },
            x264_same
        );
    }
    if let Some(x) = input
        .rungs
        .first()
        .and_then(|r| find_x264_options(&std::fs::read(cmp.join(format!("reel-{}.mp4", r.name()))).ok()?))
    {
        let version = x.split(" - ").nth(1).unwrap_or("?");
        println!("\nlibx264 in both: {version}.");
    }
    for n in notes {
        println!("\n* {n}");
    }
    Ok(())
}

/// The peers' exact command lines, for reproducing them by hand.
fn print_commands(input: &Input, work: &Path) {
    let line = |args: Vec<String>| {
        let mut all = vec![
            s("ffmpeg"),
            s("-nostdin"),
            s("-hide_banner"),
            s("-nostats"),
            s("-y"),
        ];
        all.extend(args);
        all.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    };
    println!(
        "\nCommands, (a):\n\n```sh\n{}\n```\n",
        line(peer_a_args(input, &work.join("a")))
    );
    if input.probe.audio_tracks.len() > 1 {
        return; // (b) does not run for audio renditions
    }
    println!("(b), for each rung in turn (here the first):\n\n```sh");
    if let Some(r) = input.rungs.first() {
        let mp4 = work.join("b").join(format!("{}.mp4", r.name()));
        println!("{}", line(peer_b_encode_args(input, r, &mp4)));
        println!(
            "{}",
            line(peer_b_segment_args(&mp4, &work.join("b").join(r.name())))
        );
    }
    println!("```");
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

fn print_row(label: &str, reel: Cost, a: Option<Cost>, b: Option<Cost>) {
    let col = |c: Option<Cost>, f: &dyn Fn(Cost) -> String| c.map_or_else(|| s("-"), f);
    println!(
        "| {label} | {:.2} | {} | {} | {} | {} | {:.1} / {} / {} | {:.1} / {} / {} |",
        reel.wall,
        col(a, &|c| format!("{:.2}", c.wall)),
        col(b, &|c| format!("{:.2}", c.wall)),
        col(a, &|c| format!("{:.2}", reel.wall / c.wall)),
        col(b, &|c| format!("{:.2}", reel.wall / c.wall)),
        reel.cpu,
        col(a, &|c| format!("{:.1}", c.cpu)),
        col(b, &|c| format!("{:.1}", c.cpu)),
        reel.others,
        col(a, &|c| format!("{:.1}", c.others)),
        col(b, &|c| format!("{:.1}", c.others)),
    );
}

fn make_input(name: &'static str, title: String, path: PathBuf) -> Res<Input> {
    let probe = probe(&path)?;
    let plan = ladder::plan(probe.video.display_width, probe.video.display_height, None)?;
    Ok(Input {
        name,
        title,
        path,
        probe,
        rungs: plan.rungs,
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| s("?"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let ffmpeg = run("ffmpeg", &[s("-version")])
        .ok()
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_else(|| s("ffmpeg: not found"));
    let av = ffmpeg_next::codec::version();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cores} cores ({cpu}); `{}`; reel links libavcodec {}.{}.{}; load average at start: {}",
        ffmpeg.split(" Copyright").next().unwrap_or(&ffmpeg),
        av >> 16,
        (av >> 8) & 0xff,
        av & 0xff,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
}

fn main() -> Res<()> {
    // `cargo bench` passes --bench; `cargo test --benches` does not: nothing to test here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ladder: a benchmark; run it with `cargo bench --bench ladder`");
        return Ok(());
    }
    let cfg = Config::from_env()?;
    if run("ffmpeg", &[s("-version")]).is_err() || run("ffprobe", &[s("-version")]).is_err() {
        println!(
            "ladder bench skipped: the ffmpeg and ffprobe CLIs (the comparison peers) are not installed"
        );
        return Ok(());
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ladder-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    println!("## Ladder throughput: reel vs the ffmpeg CLI\n");
    println!("Machine: {}.\n", machine());
    println!(
        "x264: preset {}, crf {CRF}, per-rung maxrate/bufsize, forced-idr=1, \
         x264-params {X264_PARAMS}, IDR every {} s; AAC {} kb/s stereo 48 kHz.",
        preset(),
        segment_seconds(),
        AUDIO_BITRATE / 1000
    );

    let wanted = |name: &str| cfg.filters.is_empty() || cfg.filters.iter().any(|f| name.contains(f.as_str()));
    let mut inputs = Vec::new();
    let generated = work.join("testsrc2-1080p30.mp4");
    if wanted("generated") || wanted("camera") {
        let path = generated.clone();
        let spec = SampleSpec {
            width: 1920,
            height: 1080,
            seconds: cfg.seconds,
            fps: 30,
            audio_tracks: 1,
            ..SampleSpec::default()
        };
        write_sample(&path, &spec)?;
        let title = format!(
            "generated: testsrc2 1920x1080 30 fps, {} s, sine AAC (reel::engine::sample, x264 ultrafast crf 20)",
            cfg.seconds
        );
        if wanted("generated") {
            inputs.push(make_input("generated", title, path)?);
        }
    }
    if wanted("camera") {
        // The same picture as a camera or phone would store it: High profile, CABAC,
        // B-frames, ~10 Mb/s. It costs about twice as much to decode as the ultrafast
        // sample, which matters to (b): it decodes the source once per rung.
        let path = work.join("testsrc2-1080p30-high.mp4");
        ffmpeg(vec![
            s("-i"),
            generated.display().to_string(),
            s("-c:v"),
            s("libx264"),
            s("-preset"),
            s("veryfast"),
            s("-crf"),
            s("16"),
            s("-profile:v"),
            s("high"),
            s("-c:a"),
            s("copy"),
            path.display().to_string(),
        ])?;
        let title = format!(
            "camera-like: the generated clip re-encoded High profile (ffmpeg -c:v libx264 -preset veryfast \
             -crf 16 -profile:v high -c:a copy), 1920x1080 30 fps, {} s",
            cfg.seconds
        );
        inputs.push(make_input("camera", title, path)?);
    }
    if wanted("two-audio") {
        let path = work.join("testsrc2-1080p30-two-audio.mkv");
        let spec = SampleSpec {
            width: 1920,
            height: 1080,
            seconds: cfg.seconds,
            fps: 30,
            audio_tracks: 2,
            tone_step: 440,
            ..SampleSpec::default()
        };
        write_sample(&path, &spec)?;
        let title = format!(
            "two-audio: the generated picture with two audio tracks (English 440 Hz, French 880 Hz), {} s: \
             each track one audio rendition for every rung",
            cfg.seconds
        );
        inputs.push(make_input("two-audio", title, path)?);
    }
    if wanted("real") {
        match &cfg.real {
            Some(p) if p.exists() => {
                let p = &std::fs::canonicalize(p)?;
                let input = make_input("real", String::new(), p.clone())?;
                let v = &input.probe.video;
                let title = format!(
                    "real footage: {} ({} {}x{}, {:.1} fps, {:.1} s)",
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    v.codec,
                    v.width,
                    v.height,
                    v.frame_rate,
                    input.probe.duration
                );
                inputs.push(Input { title, ..input });
            }
            Some(p) => println!("\n(real footage skipped: {} is absent)", p.display()),
            None => {}
        }
    }
    for input in &inputs {
        let dir = work.join(input.name);
        std::fs::create_dir_all(&dir)?;
        bench_input(&cfg, input, &dir)?;
        if cfg.commands {
            print_commands(input, &dir);
        }
    }
    if cfg.keep {
        println!("\nOutputs kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

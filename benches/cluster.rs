//! `cargo bench --bench cluster`: many instances joined through Redis (issue 11): jobs
//! spread over workers, and a job outliving the worker SIGKILLed while running it.
//!
//! Everything is real and on loopback: a `redis-server` (free port, no persistence, its
//! files under `target/tmp/cluster-bench/`), an S3-compatible bucket (`s3s-fs`, which
//! `scripts/setup --test` installs), and release `reel` processes: one front
//! (`reel serve --workers 0 --store s3://reel-bench/NS --redis URL --redis-namespace NS`,
//! not pinned: it transcodes nothing; its CPU, Redis's and s3s-fs's are reported) and
//! workers (`reel worker ... --workers 1 --job-lease-seconds L`), each pinned to one core
//! with `taskset -c N`. Every round has a namespace and prefix of its own, and processes
//! of its own. Without `redis-server`, `s3s-fs`, `taskset` or a second core the bench says
//! so and exits 0.
//!
//! * **spread**: four generated 1280x720 clips (`reel::engine::sample`,
//!   `REEL_BENCH_SECONDS` s each, default 10; default ladder, 4 s segments) uploaded one
//!   after the other through the front's `POST /api/videos`; the wall time from the first
//!   upload's `202` until the front shows the last one `ready` (polled every 50 ms). One
//!   worker on CPU 0, then two workers on CPUs 0 and 1, rounds interleaved (the order
//!   alternates) `REEL_BENCH_RUNS` times (default 2); the medians and their ratio.
//! * **takeover**: one clip of `REEL_BENCH_TAKEOVER_SECONDS` s (default 2x the above)
//!   uploaded with only W1 (CPU 0) running; once W1 has made progress W2 (CPU 1) starts,
//!   and at 30 % progress W1 gets SIGKILL. Measured from the kill: until W2 logs that it
//!   took the job over (its stderr read line by line as it comes: the claim itself, the
//!   most exact observable), until the front shows the progress starting again (below
//!   what W1 had reached), and until the front shows it `ready`. Right after the kill the
//!   bench reads the entry's idle time from Redis (`XPENDING`), so the takeover expected
//!   from the lease alone (lease less the idle time at the kill) is printed beside it.
//!   Lease `REEL_BENCH_LEASE` s (default 5), `REEL_BENCH_RUNS` runs.
//!
//! Floors from the issue: two workers finish the four uploads at least 1.7x sooner than
//! one, and a SIGKILLed worker's job is taken over within lease + 2 s.
//!
//! `cargo bench --bench cluster -- spread` (or `-- takeover`) runs one part. The spread
//! table gives each worker's share of its core (its CPU seconds over the wall time) and
//! the cores the rest of the machine kept busy meanwhile: on a shared machine the second
//! worker competes with other work for CPU 1, which the one-worker round leaves alone.
//!
//! Logs of every process stay in `target/tmp/cluster-bench/` (`REEL_BENCH_QUIET`, default
//! 10: before each round, wait up to that many seconds for the rest of the machine to use
//! under 0.25 cores).

mod common;
#[path = "common/serve_process.rs"]
mod serve_process;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_process::{accepted_id, upload_form, Res};

const BUCKET: &str = "reel-bench";
const ACCESS_KEY: &str = "bench";
const SECRET_KEY: &str = "bench-secret";
/// Uploads in a spread round.
const CLIPS: usize = 4;
/// W1 is killed once the front shows this much progress.
const KILL_AT: f64 = 0.3;

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn s3s_fs() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"));
    on_path("s3s-fs").or(home.filter(|p| p.is_file()))
}

fn free_port() -> Res<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_port(port: u16, what: &str, child: &mut Child) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("{what} exited ({status})").into());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not listen on port {port}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A helper process (redis-server, s3s-fs), killed on drop.
struct Helper {
    child: Child,
    port: u16,
}

impl Helper {
    fn start(mut command: Command, port: u16, what: &str) -> Res<Helper> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_port(port, what, &mut child)?;
        Ok(Helper { child, port })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A release `reel serve` or `reel worker`; its stderr (the log, `RUST_LOG=info`) is read
/// line by line as it comes, each line kept with the moment it arrived (and written to
/// `NAME.log`). Killed on drop.
struct Reel {
    child: Child,
    addr: SocketAddr,
    pid: u32,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Reel {
    fn start(env: &Env, name: &str, cpu: Option<usize>, args: &[String]) -> Res<Reel> {
        let mut command = match cpu {
            // taskset execs reel: the child's pid is reel's.
            Some(n) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &n.to_string(), env!("CARGO_BIN_EXE_reel")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_reel")),
        };
        let mut child = command
            .args(args)
            .envs([
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
                ("AWS_REGION", "us-east-1".to_string()),
                ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", env.s3.port)),
                ("RUST_LOG", "info".to_string()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(child.stderr.take().ok_or("stderr")?);
        let (kept, mut log) = (
            lines.clone(),
            std::fs::File::create(env.dir.join(format!("{name}.log")))?,
        );
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                kept.lock().unwrap().push((Instant::now(), line));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().ok_or("stdout")?);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                return Err(format!(
                    "{name} exited; see {}",
                    env.dir.join(format!("{name}.log")).display()
                )
                .into());
            }
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                let addr = a.parse()?;
                std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
                let pid = child.id();
                return Ok(Reel {
                    child,
                    addr,
                    pid,
                    lines,
                });
            }
        }
    }

    /// The front: no jobs of its own.
    fn front(env: &Env, ns: &str) -> Res<Reel> {
        let mut args = vec!["serve".to_string()];
        args.extend(env.common_args(ns, "front"));
        args.extend(["--workers".into(), "0".into()]);
        Reel::start(env, &format!("{ns}-front"), None, &args)
    }

    /// A worker of one job at a time, pinned to `cpu`.
    fn worker(env: &Env, ns: &str, name: &str, cpu: usize) -> Res<Reel> {
        let mut args = vec!["worker".to_string()];
        args.extend(env.common_args(ns, name));
        args.extend(["--workers".into(), "1".into()]);
        Reel::start(env, &format!("{ns}-{name}"), Some(cpu), &args)
    }

    /// When a line containing `needle` arrived, if one did.
    fn logged(&self, needle: &str) -> Option<Instant> {
        let lines = self.lines.lock().unwrap();
        lines.iter().find(|(_, l)| l.contains(needle)).map(|(t, _)| *t)
    }

    fn sigkill(&mut self) -> Instant {
        let _ = self.child.kill();
        let at = Instant::now();
        let _ = self.child.wait();
        at
    }
}

impl Drop for Reel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    dir: PathBuf,
    redis: Helper,
    s3: Helper,
    lease: u64,
    quiet: f64,
}

impl Env {
    fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.redis.port)
    }

    /// What every instance of namespace `ns` takes: the same bucket prefix, Redis,
    /// namespace and lease; a scratch folder of its own.
    fn common_args(&self, ns: &str, name: &str) -> Vec<String> {
        [
            "--bind",
            "127.0.0.1:0",
            "--media",
            &self.dir.join(ns).join(name).display().to_string(),
            "--store",
            &format!("s3://{BUCKET}/{ns}"),
            "--redis",
            &self.redis_url(),
            "--redis-namespace",
            ns,
            "--job-lease-seconds",
            &self.lease.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// `GET path` on the front: its JSON, or `None` on any other status.
fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    let (status, body) = common::http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"),
        b"",
    );
    (status == 200)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
}

fn upload(addr: SocketAddr, clip: &Path, title: &str) -> Res<String> {
    let (content_type, body) = upload_form(clip, &[("title", title.to_string())])?;
    let head = format!(
        "POST /api/videos HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, answer) = common::http(addr, &head, &body);
    accepted_id(status, &answer)
}

/// The video's status and progress as the front shows it; a failed job is an error.
fn state(front: &Reel, id: &str) -> Res<(String, f64)> {
    let v = get(front.addr, &format!("/api/videos/{id}")).ok_or_else(|| format!("video {id} is gone"))?;
    let status = v["status"].as_str().unwrap_or("").to_string();
    if status == "failed" {
        return Err(format!("video {id} failed: {}", v["error"]).into());
    }
    Ok((status, v["progress"].as_f64().unwrap_or(0.0)))
}

/// CPU seconds the machine spent outside `ours` per second of `wall`.
struct Elsewhere {
    machine: f64,
    ours: f64,
    start: Instant,
}

impl Elsewhere {
    fn start(ours: &[u32]) -> Elsewhere {
        Elsewhere {
            machine: common::machine_busy(),
            ours: ours.iter().map(|p| common::cpu_seconds(*p)).sum(),
            start: Instant::now(),
        }
    }

    /// (cores busy elsewhere, CPU seconds of `ours`).
    fn end(&self, ours: &[u32]) -> (f64, f64) {
        let ours_now: f64 = ours.iter().map(|p| common::cpu_seconds(*p)).sum();
        let other = (common::machine_busy() - self.machine) - (ours_now - self.ours);
        (other / self.start.elapsed().as_secs_f64(), ours_now - self.ours)
    }
}

struct Spread {
    wall: f64,
    /// Jobs each worker finished.
    jobs: Vec<usize>,
    /// CPU seconds of the workers, of the front + Redis + s3s-fs.
    worker_cpu: f64,
    aux_cpu: f64,
    elsewhere: f64,
}

/// One spread round: `cpus.len()` workers, one per CPU listed; four uploads.
fn spread(env: &Env, ns: &str, clip: &Path, cpus: &[usize]) -> Res<Spread> {
    let front = Reel::front(env, ns)?;
    let workers = cpus
        .iter()
        .enumerate()
        .map(|(i, cpu)| Reel::worker(env, ns, &format!("w{}", i + 1), *cpu))
        .collect::<Res<Vec<_>>>()?;
    let aux = [front.pid, env.redis.pid(), env.s3.pid()];
    let wpids: Vec<u32> = workers.iter().map(|w| w.pid).collect();
    let all: Vec<u32> = aux.iter().chain(&wpids).copied().collect();
    common::wait_quiet(env.quiet, &all);
    let aux0: f64 = aux.iter().map(|p| common::cpu_seconds(*p)).sum();
    let w0: f64 = wpids.iter().map(|p| common::cpu_seconds(*p)).sum();
    let watch = Elsewhere::start(&all);

    let mut ids = Vec::new();
    let mut first = None;
    for k in 0..CLIPS {
        ids.push(upload(front.addr, clip, &format!("{ns}-{k}"))?);
        first.get_or_insert_with(Instant::now);
    }
    let first = first.ok_or("no upload")?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut pending = ids.clone();
    let mut last = first;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            if state(&front, &id)?.0 == "ready" {
                last = Instant::now();
            } else {
                still.push(id);
            }
        }
        pending = still;
        if Instant::now() > deadline {
            return Err(format!("{ns}: not ready within 30 min").into());
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let wall = (last - first).as_secs_f64();
    let (elsewhere, _) = watch.end(&all);
    let aux_cpu = aux.iter().map(|p| common::cpu_seconds(*p)).sum::<f64>() - aux0;
    let worker_cpu = wpids.iter().map(|p| common::cpu_seconds(*p)).sum::<f64>() - w0;
    // Give the workers a moment to log what they finished.
    std::thread::sleep(Duration::from_millis(300));
    let jobs = workers
        .iter()
        .map(|w| {
            ids.iter()
                .filter(|id| w.logged(&format!("video {id} ready")).is_some())
                .count()
        })
        .collect();
    Ok(Spread {
        wall,
        jobs,
        worker_cpu,
        aux_cpu,
        elsewhere,
    })
}

struct Takeover {
    /// The entry's idle time at the kill (since W1's last renewal), s.
    idle_at_kill: f64,
    progress_at_kill: f64,
    /// From the kill: W2's "taken over" line, the front's progress starting again, ready.
    taken: f64,
    restarted: f64,
    ready: f64,
    /// W2 logged the video ready (it ran the job).
    by_w2: bool,
}

/// The idle time (ms) of the pending entry of `consumer_pid`'s consumer in `ns`'s queue.
fn pending_idle_ms(env: &Env, ns: &str, consumer_pid: u32) -> Res<u64> {
    let client = redis::Client::open(env.redis_url())?;
    let mut con = client.get_connection()?;
    let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(format!("reel:{ns}:jobs:queue"))
        .arg("reel-workers")
        .arg("-")
        .arg("+")
        .arg(10)
        .query(&mut con)?;
    pending
        .into_iter()
        .find(|(_, consumer, _, _)| consumer.contains(&format!("-{consumer_pid}-")))
        .map(|(_, _, idle, _)| idle)
        .ok_or_else(|| format!("no entry pending for W1 (pid {consumer_pid})").into())
}

fn takeover(env: &Env, ns: &str, clip: &Path) -> Res<Takeover> {
    let front = Reel::front(env, ns)?;
    let mut w1 = Reel::worker(env, ns, "w1", 0)?;
    let all = [front.pid, w1.pid, env.redis.pid(), env.s3.pid()];
    common::wait_quiet(env.quiet, &all);
    let id = upload(front.addr, clip, &format!("{ns}-long"))?;
    let until = |min: f64| -> Res<f64> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (status, progress) = state(&front, &id)?;
            if status == "ready" {
                return Err("the clip was ready before W1 could be killed: make it longer".into());
            }
            if status == "processing" && progress >= min {
                return Ok(progress);
            }
            if Instant::now() > deadline {
                return Err(format!("no progress to {min} within 10 min").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until(0.01)?;
    let w2 = Reel::worker(env, ns, "w2", 1)?;
    let progress_at_kill = until(KILL_AT)?;
    let killed = w1.sigkill();
    // W1 renews no more: the idle time now, less the time since the kill, is what it
    // was at the kill.
    let idle_now = pending_idle_ms(env, ns, w1.pid)? as f64 / 1000.0;
    let idle_at_kill = idle_now - killed.elapsed().as_secs_f64();

    let mut restarted = None;
    let deadline = Instant::now() + Duration::from_secs(900);
    let ready = loop {
        let (status, progress) = state(&front, &id)?;
        let now = Instant::now();
        if status == "ready" {
            break now;
        }
        if restarted.is_none() && status == "processing" && progress > 0.0 && progress < progress_at_kill {
            restarted = Some(now);
        }
        if now > deadline {
            return Err("not ready within 15 min of the kill".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let taken = w2
        .logged(&format!("job {id}: taken over"))
        .ok_or("W2 never logged the takeover")?;
    std::thread::sleep(Duration::from_millis(300));
    let since = |t: Instant| (t - killed).as_secs_f64();
    Ok(Takeover {
        idle_at_kill,
        progress_at_kill,
        taken: since(taken),
        restarted: restarted.map_or(f64::NAN, since),
        ready: since(ready),
        by_w2: w2.logged(&format!("video {id} ready")).is_some(),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Res<()> {
    let var = common::setting;
    let seconds: f64 = var("REEL_BENCH_SECONDS", "10").parse()?;
    let long: f64 = var("REEL_BENCH_TAKEOVER_SECONDS", &(2.0 * seconds).to_string()).parse()?;
    let runs: usize = var("REEL_BENCH_RUNS", "2").parse()?;
    let lease: u64 = var("REEL_BENCH_LEASE", "5").parse()?;
    let quiet: f64 = var("REEL_BENCH_QUIET", "10").parse()?;
    if on_path("redis-server").is_none() {
        println!("cluster: redis-server is missing (scripts/setup --test installs it); skipped");
        return Ok(());
    }
    let Some(s3_bin) = s3s_fs() else {
        println!("cluster: s3s-fs is missing (scripts/setup --test installs it); skipped");
        return Ok(());
    };
    if on_path("taskset").is_none() {
        println!("cluster: taskset (util-linux) is missing; skipped");
        return Ok(());
    }
    if common::cpus() < 2 {
        println!("cluster: two workers on two cores need two CPUs, this machine has one; skipped");
        return Ok(());
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/cluster-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("s3").join(BUCKET))?;
    std::fs::create_dir_all(dir.join("redis"))?;
    let redis_port = free_port()?;
    let mut redis = Command::new("redis-server");
    redis
        .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.join("redis"))
        .arg("--logfile")
        .arg(dir.join("redis/redis.log"));
    let redis = Helper::start(redis, redis_port, "redis-server")?;
    let s3_port = free_port()?;
    let mut s3 = Command::new(s3_bin);
    s3.args(["--host", "127.0.0.1", "--port", &s3_port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(dir.join("s3"));
    let s3 = Helper::start(s3, s3_port, "s3s-fs")?;
    let env = Env {
        dir: dir.clone(),
        redis,
        s3,
        lease,
        quiet,
    };

    reel::engine::init();
    let sample = |name: &str, seconds: f64| -> Res<PathBuf> {
        let path = dir.join(name);
        common::write_720p(&path, seconds)?;
        Ok(path)
    };
    let clip = sample("clip.mp4", seconds)?;
    let long_clip = sample("long.mp4", long)?;

    println!("## Many instances: jobs over workers, and a takeover after SIGKILL\n");
    println!(
        "{}; 1 front (not pinned), Redis and s3s-fs on loopback; workers `--workers 1` pinned \
         with taskset; load average {} at the start.\n",
        common::cpu_model(),
        common::load_average()
    );
    // `cargo bench --bench cluster -- spread` (or `takeover`): only that part.
    let parts: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    if wanted("spread") {
        spread_part(&env, &clip, seconds, runs)?;
    }
    if wanted("takeover") {
        takeover_part(&env, &long_clip, long, runs)?;
    }
    Ok(())
}

fn spread_part(env: &Env, clip: &Path, seconds: f64, runs: usize) -> Res<()> {
    println!(
        "### Four {seconds} s 1280x720 uploads (default ladder, 4 s segments): first `202` to last `ready`\n"
    );
    println!(
        "| round | setup | wall | jobs per worker | worker CPU s | share of its core per worker | front+Redis+s3s-fs CPU s | cores busy elsewhere |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let order: [&[usize]; 2] = if run % 2 == 0 {
            [&[0], &[0, 1]]
        } else {
            [&[0, 1], &[0]]
        };
        for cpus in order {
            let ns = format!("s{run}w{}", cpus.len());
            let r = spread(env, &ns, clip, cpus)?;
            let setup = if cpus.len() == 1 {
                "one worker (CPU 0)"
            } else {
                "two workers (CPUs 0, 1)"
            };
            let jobs: Vec<String> = r.jobs.iter().map(usize::to_string).collect();
            println!(
                "| {run} | {setup} | {:.2} s | {} | {:.1} | {:.0} % | {:.1} | {:.2} |",
                r.wall,
                jobs.join(" / "),
                r.worker_cpu,
                100.0 * r.worker_cpu / (r.wall * cpus.len() as f64),
                r.aux_cpu,
                r.elsewhere
            );
            if cpus.len() == 1 { &mut one } else { &mut two }.push(r.wall);
        }
    }
    let (a, b) = (median(one), median(two));
    println!(
        "\nMedian: one worker **{a:.2} s**, two workers **{b:.2} s**: two finish **{:.2}x** sooner \
         (floor: at least 1.7x).\n",
        a / b
    );
    Ok(())
}

fn takeover_part(env: &Env, long_clip: &Path, long: f64, runs: usize) -> Res<()> {
    let lease = env.lease;
    println!(
        "### Takeover: a {long} s 1280x720 upload, W1 (CPU 0) SIGKILLed at {:.0} % progress, W2 on CPU 1; \
         `--job-lease-seconds {lease}`\n",
        KILL_AT * 100.0
    );
    println!("| run | progress at kill | idle at kill | expected (lease − idle) | W2 took over | progress restarted | ready | run by W2 |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut taken = Vec::new();
    let mut readies = Vec::new();
    for run in 0..runs {
        let t = takeover(env, &format!("k{run}"), long_clip)?;
        println!(
            "| {run} | {:.0} % | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {} |",
            t.progress_at_kill * 100.0,
            t.idle_at_kill,
            lease as f64 - t.idle_at_kill,
            t.taken,
            t.restarted,
            t.ready,
            if t.by_w2 { "yes" } else { "no" }
        );
        taken.push(t.taken);
        readies.push(t.ready);
    }
    let worst = taken.iter().copied().fold(0.0, f64::max);
    println!(
        "\nSIGKILL to takeover: median **{:.2} s**, at most {worst:.2} s (floor: lease + 2 s = {} s); \
         to ready: median {:.2} s.",
        median(taken),
        lease + 2,
        median(readies)
    );
    Ok(())
}

//! What the benches that drive a real `reel serve` over HTTP share: the server process,
//! plain HTTP/1.1 requests, uploads, and the machine's figures from `/proc`.
//! Each bench uses part of it.
#![allow(dead_code)]

#[path = "../../tests/util/multipart.rs"]
#[allow(dead_code)]
mod multipart;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the release `reel serve` on port 0 with its media root under `dir`, pinned to
/// `cpus` (a `taskset -c` list) when given; its log goes to `dir/server.log`.
pub fn start_server(dir: &Path, cpus: Option<&str>) -> Server {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut command = match cpus {
        // taskset execs reel: the child's pid is the server's.
        Some(list) => {
            let mut c = Command::new("taskset");
            c.args(["-c", list, env!("CARGO_BIN_EXE_reel")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_reel")),
    };
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0", "--media"])
        .arg(dir.join("media"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawning reel serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(lines.read_line(&mut line).unwrap() > 0, "reel serve exited");
        if let Some(a) = line.trim().strip_prefix("listening on http://") {
            break a.parse().unwrap();
        }
    };
    // Keep stdout drained (the server writes nothing more, but do not leave it blocked).
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    Server { child, addr }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn http(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let status = std::str::from_utf8(&out[..12]).unwrap()[9..12].parse().unwrap();
    let body_at = find(&out, b"\r\n\r\n").map_or(out.len(), |p| p + 4);
    (status, out[body_at..].to_vec())
}

pub fn http_get(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

/// Uploads `clip` with the form `fields` and waits until the video is ready (one at a
/// time: upload order is the channel's order); returns its id.
pub fn upload(addr: SocketAddr, clip: &Path, fields: &[(&str, &str)]) -> String {
    let name = clip.file_name().unwrap().to_string_lossy().into_owned();
    let mut form = multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    let (content_type, body) = form.file("file", &name, &std::fs::read(clip).unwrap()).finish();
    let head = format!(
        "POST /api/videos HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, answer) = http(addr, &head, &body);
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&answer));
    let id: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let id = id["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let v = http_get(addr, &format!("/api/videos/{id}"));
        match v["status"].as_str() {
            Some("ready") => return id,
            Some("failed") => panic!("the clip failed: {}", v["error"]),
            _ => {}
        }
        assert!(Instant::now() < deadline, "the clip was not ready in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until channel `main` lists `n` items (a new item joins after the schedule's
/// fixed part, `FIXED_AHEAD_MS`).
pub fn wait_listed(addr: SocketAddr, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(addr, "/api/channels/main")["items"]
        .as_array()
        .map(Vec::len)
        != Some(n)
    {
        assert!(Instant::now() < deadline, "main never listed {n} items");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `kB` field of `/proc/{pid}/status` (`VmRSS`, `Threads`...), as a number.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// VmRSS of a process, in bytes.
pub fn vm_rss(pid: u32) -> u64 {
    proc_status(pid, "VmRSS") * 1024
}

/// The process's own pages (Private_Clean + Private_Dirty of `smaps_rollup`), in bytes:
/// what one more such process costs the machine.
pub fn private_bytes(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// CPU seconds (user + system, every thread) a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let rest = &stat[stat.rfind(')').map(|i| i + 2).unwrap_or(0)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// CPU seconds CPU `cpu` has been busy (everything but idle and iowait), from `/proc/stat`.
pub fn core_busy(cpu: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = format!("cpu{cpu} ");
    let Some(line) = stat.lines().find(|l| l.starts_with(&name)) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.iter().take(8).sum::<f64>() - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0)) / clock_ticks()
}

/// CPU seconds the whole machine has been busy (all cores), from `/proc/stat`.
pub fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or("");
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    (v.iter().take(8).sum::<f64>() - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0)) / clock_ticks()
}

/// Waits up to `patience` seconds for the rest of the machine to use under 0.25 cores.
pub fn wait_quiet(patience: f64, ours: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs_f64(patience);
    loop {
        let (m0, o0) = (machine_busy(), ours.iter().map(|p| cpu_seconds(*p)).sum::<f64>());
        std::thread::sleep(Duration::from_secs(1));
        let (m1, o1) = (machine_busy(), ours.iter().map(|p| cpu_seconds(*p)).sum::<f64>());
        let other = (m1 - m0) - (o1 - o0);
        if other < 0.25 || Instant::now() > deadline {
            if other >= 0.25 {
                eprintln!("note: the machine is not quiet ({other:.2} cores busy elsewhere)");
            }
            return;
        }
    }
}

/// The 1-minute load average (other work on the machine skews the tail).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// CPUs online (not this process's affinity, which a bench may have narrowed).
pub fn cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(0) as usize
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The soft limit on open files (`ulimit -n`).
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// The setting `key` from the environment (an empty value counts as unset), else `default`.
#[allow(dead_code)] // not every bench has settings of this kind
pub fn setting(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

/// Writes a generated 1280x720 clip of `seconds` (30 fps, one sine audio track): the
/// source most benches measure with.
#[allow(dead_code)] // not every bench makes one
pub fn write_720p(path: &std::path::Path, seconds: f64) -> Result<(), reel::engine::EngineError> {
    reel::engine::sample::write_sample(
        path,
        &reel::engine::sample::SampleSpec {
            width: 1280,
            height: 720,
            seconds,
            ..reel::engine::sample::SampleSpec::default()
        },
    )
}

//! A real `reel serve` process on an ephemeral port, over a temp media root.
//!
//! The binary is spawned (not linked in) so that tests see exactly what users run and can
//! SIGKILL or SIGTERM it. It prints `listening on http://ADDR` on stdout, which is how the
//! port chosen for `--bind 127.0.0.1:0` is learnt; its log goes to `server.log` in the
//! temp dir and is printed when a test fails.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::client::{self, Response};

pub struct Server {
    child: Option<Child>,
    _stdout: Option<ChildStdout>,
    pub addr: SocketAddr,
    /// The media root (`--media`).
    pub media: PathBuf,
    /// The temp dir holding the media root, the log and anything a test puts there.
    pub dir: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    binary: Option<PathBuf>,
    cwd: Option<PathBuf>,
    _tmp: Option<tempfile::TempDir>,
}

/// Options for [`Server::start`].
#[derive(Default, Clone)]
pub struct Options {
    /// Extra `reel serve` arguments.
    pub args: Vec<String>,
    pub envs: Vec<(String, String)>,
    /// Pass `--demo` (make the demo video on an empty root).
    pub demo: bool,
    /// Prepare HLS renditions of `--library` files (off by default in tests: most only
    /// serve the library, and preparing would cost them CPU).
    pub library_ladders: bool,
    /// Run this binary instead of the test build's `reel` (a copy somewhere else).
    pub binary: Option<PathBuf>,
    /// The server's working directory (default: the test's).
    pub cwd: Option<PathBuf>,
    /// Run `reel worker` instead of `reel serve`.
    pub worker: bool,
}

impl Options {
    pub fn args(args: &[&str]) -> Options {
        Options {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        }
    }
}

impl Server {
    /// Starts a server over a fresh temp media root.
    pub fn start(options: Options) -> Server {
        let tmp = tempfile::Builder::new().prefix("reel-test-").tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut server = Server::spawn(&dir, options);
        server._tmp = Some(tmp);
        server
    }

    pub fn new() -> Server {
        Server::start(Options::default())
    }

    /// A second server over the same media root as `self` (two reel processes sharing one
    /// root); its log is `server-2.log` in the same temp dir. `self` keeps the temp dir.
    pub fn another(&self, options: Options) -> Server {
        Server::spawn_logging(&self.dir, options, "server-2.log")
    }

    fn spawn(dir: &Path, options: Options) -> Server {
        Server::spawn_logging(dir, options, "server.log")
    }

    fn spawn_logging(dir: &Path, options: Options, log_name: &str) -> Server {
        let media = dir.join("media");
        let log = dir.join(log_name);
        let mut args = vec![
            if options.worker { "worker" } else { "serve" }.to_string(),
            "--bind".into(),
            "127.0.0.1:0".into(),
            "--media".into(),
            media.to_string_lossy().into_owned(),
        ];
        if options.demo {
            args.push("--demo".into());
        }
        if !options.library_ladders {
            args.push("--no-library-ladders".into());
        }
        args.extend(options.args.iter().cloned());
        let (child, stdout, addr) = launch(&options, &args, &log);
        Server {
            child: Some(child),
            _stdout: Some(stdout),
            addr,
            media,
            dir: dir.to_path_buf(),
            log,
            args,
            envs: options.envs,
            binary: options.binary,
            cwd: options.cwd,
            _tmp: None,
        }
    }

    /// Starts the same command again over the same media root (after a kill or a stop).
    pub fn restart(&mut self) {
        self.kill();
        let options = Options {
            envs: self.envs.clone(),
            binary: self.binary.clone(),
            cwd: self.cwd.clone(),
            ..Options::default()
        };
        let (child, stdout, addr) = launch(&options, &self.args, &self.log);
        self.child = Some(child);
        self._stdout = Some(stdout);
        self.addr = addr;
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to clean up, as in a crash or an OOM kill.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit (it must drain within `patience`).
    pub fn terminate(&mut self, patience: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "the server did not stop within {patience:?} of SIGTERM\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Response {
        client::get(self.addr, path)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        client::request(self.addr, method, path, headers, body)
    }

    /// Resident set size of the server process now and at its peak, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .unwrap()
                * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log_text());
        }
    }
}

/// Spawns `options.binary` (else the test build's `reel`) with `args`, in `options.cwd`,
/// with `options.envs`.
fn launch(options: &Options, args: &[String], log: &Path) -> (Child, ChildStdout, SocketAddr) {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let binary = options
        .binary
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_reel")));
    let mut command = Command::new(binary);
    if let Some(cwd) = &options.cwd {
        command.current_dir(cwd);
    }
    let mut child = command
        .args(args)
        .env_remove("REEL_API_KEY")
        .env_remove("REEL_WEB")
        .env("RUST_LOG", "info")
        .envs(options.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("spawning reel serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                break;
            }
            line.clear();
        }
        lines.into_inner()
    });
    let addr = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "reel serve did not report its address\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    };
    let stdout = reader.join().unwrap();
    (child, stdout, addr)
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! A real `redis-server` for the tests of several instances: a free loopback port, a temp
//! dir, no persistence of its own (`--save '' --appendonly no`).
//!
//! [`RedisServer::stop`] saves the data set into the temp dir before stopping and
//! [`RedisServer::restart`] loads it again on the same port: what a production Redis with
//! persistence does across a restart. [`RedisServer::kill`] loses it, and
//! [`RedisServer::restart_empty`] comes back without it. Dropping the value
//! stops the server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::clips::have;

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server on a free port; `None` (saying so) when `redis-server` is not installed
    /// (`scripts/setup --test` installs it).
    pub fn start() -> Option<RedisServer> {
        if !have("redis-server") {
            eprintln!("skipping: redis-server not installed");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("reel-redis-").tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            dir,
        };
        server.launch();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Saves the data set (`SHUTDOWN SAVE`) and waits for the process to end.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = self.command("SHUTDOWN SAVE");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
    }

    /// SIGKILL: the data set is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL, then starts again on the same port with nothing: what a Redis without
    /// persistence is after a restart (the data set [`stop`](Self::stop) may have saved
    /// earlier is removed too).
    pub fn restart_empty(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
        self.launch();
    }

    /// Starts again on the same port and dir (with what [`stop`](Self::stop) saved).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Sends one inline command; returns the first line of the answer.
    pub fn command(&self, line: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{line}\r\n").as_bytes())?;
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer)?;
        Ok(String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string())
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        // PONG once it listens and has loaded what it saved (LOADING before).
        while !self.command("PING").is_ok_and(|a| a == "+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}\n{}",
                self.port,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

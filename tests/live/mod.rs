//! Live sessions end to end: a real `reel serve` (`util::Server`) with a library of clips
//! generated in the test, driven over HTTP, its streams judged by `ffprobe`, `ffmpeg` (the
//! pitch of the audio), `mpv`, `/metrics`, and `/proc` (threads, CPU, socket queues).
//!
//! * `stream`: the bytes: fragmented MP4 from a keyframe, seek, audio track, rate, re-use;
//! * `pause`: a reader that stops reading: paused, frozen, bounded, the same connection
//!   delivering again;
//! * `lifetime`: DELETE, client disconnect, idle expiry, the encoder limit (503);
//! * `mpv`: mpv plays a session's stream URL headless;
//! * `browser`: the `/live` page in headless Chromium (`tests/browser/live.mjs`).
//!
//! Clips stay small (320x180, 640x360 for the backpressure test) and short so the whole
//! module runs in a few tens of seconds on two cores.

mod browser;
mod lifetime;
mod mpv;
mod pause;
mod stream;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reel::engine::sample::SampleSpec;
use serde_json::{json, Value};

use crate::util::clips::clip_with;
use crate::util::{wait_for, Options, Server};

/// A clip of the test library (generated once per test run); returns its path.
pub fn library_clip(name: &str, width: u32, height: u32, seconds: f64, audio_tracks: u32) -> PathBuf {
    clip_with(
        name,
        SampleSpec {
            width,
            height,
            seconds,
            audio_tracks,
            ..SampleSpec::default()
        },
    )
}

/// A server whose library is the folder of the generated clips.
pub fn server_with_library(clip: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--library".to_string(),
        clip.parent().unwrap().to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::start(Options {
        args,
        ..Options::default()
    })
}

/// POSTs JSON; returns (status, body).
pub fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let res = server.request(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    let value = if res.body.is_empty() {
        Value::Null
    } else {
        res.json()
    };
    (res.status, value)
}

/// Creates a session on a library file; returns the session object.
pub fn create(server: &Server, clip: &Path, extra: Value) -> Value {
    let mut body = json!({"library": clip.file_name().unwrap().to_string_lossy()});
    if let Value::Object(more) = extra {
        body.as_object_mut().unwrap().extend(more);
    }
    let (status, session) = post(server, "/api/sessions", body);
    assert_eq!(status, 201, "{session}");
    session
}

/// `POST /api/sessions/{id}/{action}` expecting 200; returns the session object.
pub fn act(server: &Server, id: &str, action: &str, body: Value) -> Value {
    let (status, session) = post(server, &format!("/api/sessions/{id}/{action}"), body);
    assert_eq!(status, 200, "{action}: {session}");
    session
}

pub fn status(server: &Server, id: &str) -> Value {
    let res = server.get(&format!("/api/sessions/{id}/status"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

pub fn position(session: &Value) -> f64 {
    session["position"].as_f64().expect("a position")
}

/// One sample of `/metrics`, e.g. `reel_open_streams{kind="session"}`.
pub fn metric(server: &Server, sample: &str) -> f64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in /metrics:\n{text}"))
}

/// Live session stream threads of the server (`session-{id}`, the reaper excluded), from
/// `/proc/PID/task/*/comm`.
pub fn session_threads(server: &Server) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", server.pid())) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("session-") && comm.trim() != "session-reaper")
        .count()
}

/// Waits until no session stream is open or running: the gauge is 0 and no `session-*`
/// thread is left.
pub fn wait_all_streams_freed(server: &Server, within: Duration) {
    wait_for("every session stream to be freed", within, || {
        (metric(server, "reel_open_streams{kind=\"session\"}") == 0.0 && session_threads(server) == 0)
            .then_some(())
    });
}

/// CPU time (user + system) the server process has used so far, in seconds.
pub fn cpu_seconds(server: &Server) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid())).unwrap();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// A streaming HTTP/1.1 GET read a bit at a time over a raw socket, so a test decides when
/// the client reads and when it stops (the receive buffer can be made small before
/// connecting). The chunked body is decoded as it arrives.
pub struct StreamClient {
    socket: TcpStream,
    pub status: u16,
    pub headers: String,
    /// Body bytes received (chunk framing removed).
    pub body: Vec<u8>,
    /// True once the body's last chunk (or EOF) arrived.
    pub ended: bool,
    raw: Vec<u8>,
    /// Data bytes left in the current chunk; `None` between chunks.
    in_chunk: Option<usize>,
}

impl StreamClient {
    /// Connects (with `SO_RCVBUF` set first when given) and reads the response head.
    pub fn open(addr: SocketAddr, path: &str, receive_buffer: Option<usize>) -> StreamClient {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        if let Some(n) = receive_buffer {
            socket.set_recv_buffer_size(n).unwrap();
        }
        socket.connect(&addr.into()).unwrap();
        let mut socket: TcpStream = socket.into();
        write!(
            socket,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut client = StreamClient {
            socket,
            status: 0,
            headers: String::new(),
            body: Vec::new(),
            ended: false,
            raw: Vec::new(),
            in_chunk: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let end = loop {
            if let Some(i) = client.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(Instant::now() < deadline, "no response head");
            assert!(
                client.fill(Duration::from_millis(100)),
                "the server closed before answering"
            );
        };
        let head = String::from_utf8_lossy(&client.raw[..end]).into_owned();
        client.raw.drain(..end + 4);
        client.status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        client.headers = head.to_ascii_lowercase();
        assert!(
            client.status != 200 || client.headers.contains("transfer-encoding: chunked"),
            "a stream is chunked: {head}"
        );
        client.decode();
        client
    }

    /// The local port (to find this connection in `/proc/net/tcp`).
    pub fn local_port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    /// Reads what arrives within `wait`; false at EOF.
    fn fill(&mut self, wait: Duration) -> bool {
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 64 * 1024];
        match self.socket.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("reading the stream: {e}"),
        }
    }

    /// Moves complete chunk data from `raw` to `body`.
    fn decode(&mut self) {
        loop {
            match self.in_chunk {
                Some(0) => {
                    if self.raw.len() < 2 {
                        return;
                    }
                    assert_eq!(&self.raw[..2], b"\r\n", "chunk framing");
                    self.raw.drain(..2);
                    self.in_chunk = None;
                }
                Some(left) => {
                    if self.raw.is_empty() {
                        return;
                    }
                    let n = left.min(self.raw.len());
                    self.body.extend(self.raw.drain(..n));
                    self.in_chunk = Some(left - n);
                }
                None => {
                    let Some(i) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                        return;
                    };
                    let line = String::from_utf8_lossy(&self.raw[..i]).into_owned();
                    let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                        .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                    self.raw.drain(..i + 2);
                    if size == 0 {
                        self.ended = true;
                        return;
                    }
                    self.in_chunk = Some(size);
                }
            }
        }
    }

    /// Reads for `how_long` (or until the body ends); returns the body bytes gained.
    pub fn read_for(&mut self, how_long: Duration) -> usize {
        let before = self.body.len();
        let deadline = Instant::now() + how_long;
        while !self.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if !self.fill(left.min(Duration::from_millis(50))) {
                self.ended = true;
            }
            self.decode();
        }
        self.body.len() - before
    }

    /// Reads until `done` holds (checked on the client after each read) or `timeout`;
    /// returns whether it held.
    pub fn read_until(&mut self, timeout: Duration, mut done: impl FnMut(&StreamClient) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if self.ended || Instant::now() >= deadline {
                return done(self);
            }
            self.read_for(Duration::from_millis(20));
        }
    }

    /// Reads to the end of the body (panics after `timeout`).
    pub fn read_to_end(&mut self, timeout: Duration) {
        assert!(
            self.read_until(timeout, |c| c.ended),
            "the stream did not end within {timeout:?} ({} bytes so far)",
            self.body.len()
        );
    }

    /// Complete `moof` boxes received so far (followed by their whole `mdat`).
    pub fn fragments(&self) -> usize {
        let boxes = top_level_boxes(&self.body);
        boxes
            .windows(2)
            .filter(|w| w[0].0 == "moof" && w[1].0 == "mdat")
            .count()
    }

    /// Saves the complete boxes received so far (a file ffprobe can read).
    pub fn save(&self, path: &Path) -> PathBuf {
        let end = top_level_boxes(&self.body)
            .last()
            .map(|(_, at, size)| at + size)
            .unwrap_or(0);
        std::fs::write(path, &self.body[..end]).unwrap();
        path.to_path_buf()
    }
}

/// The complete top-level ISO BMFF boxes of `bytes`: (type, offset, size).
pub fn top_level_boxes(bytes: &[u8]) -> Vec<(String, usize, usize)> {
    reel::mp4::boxes(bytes)
        .map_while(Result::ok)
        .map(|b| (b.kind.to_string(), b.start, b.end - b.start))
        .collect()
}

/// Bytes queued in the kernel for the TCP connection whose client side is `client_port`:
/// the server's send queue plus the client's receive queue (`/proc/net/tcp`).
pub fn socket_queues(client_port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next().unwrap(), 16).unwrap();
    let mut total = 0;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, queues) = (port_of(f[1]), port_of(f[2]), f[4]);
        let (tx, rx) = queues.split_once(':').unwrap();
        let (tx, rx) = (
            u64::from_str_radix(tx, 16).unwrap(),
            u64::from_str_radix(rx, 16).unwrap(),
        );
        if local == client_port {
            total += rx; // the client's side: received, not yet read
        } else if remote == client_port {
            total += tx; // the server's side: written, not yet acknowledged
        }
    }
    total
}

pub use crate::judge::pitch;

/// ffprobe's first video packet (pts in seconds, keyframe).
pub fn first_video_packet(path: &Path) -> (f64, bool) {
    let packets = crate::judge::video_packets(path);
    let first = packets.first().expect("a video packet");
    (first.pts, first.key)
}

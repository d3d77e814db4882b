//! A real `reel serve` child process (its log kept in the bench's folder) and multipart
//! upload forms: what `benches/first_segment.rs` and `benches/live.rs` drive.

#![allow(dead_code)]

use std::error::Error;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub type Res<T> = Result<T, Box<dyn Error>>;

/// A `POST /api/videos` body: the text `fields`, then `src` as the file part. Returns
/// the Content-Type (with its boundary) and the body.
pub fn upload_form(src: &Path, fields: &[(&str, String)]) -> Res<(String, Vec<u8>)> {
    let boundary = "reel-bench-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )?;
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"source.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
    )?;
    body.extend(std::fs::read(src)?);
    write!(body, "\r\n--{boundary}--\r\n")?;
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// The id of the video an upload's answer accepted (a `202`), or the answer as an error.
pub fn accepted_id(status: u16, body: &[u8]) -> Res<String> {
    if status != 202 {
        return Err(format!("upload: {status} {}", String::from_utf8_lossy(body)).into());
    }
    let v: serde_json::Value = serde_json::from_slice(body)?;
    Ok(v["id"].as_str().ok_or("no id")?.to_string())
}

// ---- the server ------------------------------------------------------------------------------

/// A `reel serve` child process on an ephemeral port, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `bin serve --bind 127.0.0.1:0` with `args`; its log goes to
    /// `dir/server.log`.
    pub fn start<A: AsRef<OsStr>>(bin: &Path, dir: &Path, args: &[A]) -> Res<Server> {
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut child = Command::new(bin)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        while lines.read_line(&mut line)? > 0 {
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                let addr = a.parse()?;
                let pid = child.id();
                // Keep its stdout open (a closed pipe is fine for reel, but keep it tidy).
                std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
                return Ok(Server { child, addr, pid });
            }
            line.clear();
        }
        Err("reel serve did not say where it listens".into())
    }
}

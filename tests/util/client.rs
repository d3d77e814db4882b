//! A deliberately small HTTP/1.1 client over `TcpStream`.
//!
//! Tests need byte-level control that friendly clients take away: request targets sent
//! exactly as written (`/media/../x`, `%2e%2e`), `HEAD` responses read without a body,
//! streamed and truncated request bodies, and SSE read event by event. Every request uses
//! `Connection: close`; bodies are framed by `Content-Length`, chunked encoding or EOF.

use std::io::BufReader;
use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {}", self.status, self.text()))
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"")
}

/// Sends one request and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = connect(addr);
    write_head(&mut stream, method, path, headers, Some(body.len() as u64));
    stream.write_all(body).unwrap();
    read_response(&mut BufReader::new(stream), method == "HEAD")
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream
}

/// Writes the request line and headers; `Content-Length` when `length` is given (and the
/// caller did not set one or chunked encoding).
pub fn write_head(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: Option<u64>,
) {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    // The address connected to, as a browser sends it (absolute URLs the server builds
    // from it must work); a caller's own Host wins.
    let host = match stream.peer_addr() {
        Ok(addr) if !has("host") => format!("Host: {addr}\r\n"),
        _ => String::new(),
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\n{host}Connection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = length {
        if !has("content-length") && !has("transfer-encoding") && (n > 0 || method != "GET") {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
}

/// Reads status line and headers.
pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    (status, headers)
}

pub fn read_response(reader: &mut impl BufRead, head_only: bool) -> Response {
    let (status, headers) = read_head(reader);
    let mut res = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return res;
    }
    if res
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        while let Some(chunk) = read_chunk(reader) {
            res.body.extend_from_slice(&chunk);
        }
    } else if let Some(n) = res.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        res.body.resize(n, 0);
        reader.read_exact(&mut res.body).unwrap();
    } else {
        reader.read_to_end(&mut res.body).unwrap();
    }
    res
}

/// One chunk of a chunked body; `None` at the end.
pub fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
    let mut chunk = vec![0; size];
    reader.read_exact(&mut chunk).ok()?;
    let mut crlf = [0u8; 2];
    reader.read_exact(&mut crlf).ok()?;
    (size > 0).then_some(chunk)
}

/// Server-Sent Events read as they arrive.
pub struct EventStream {
    reader: BufReader<TcpStream>,
    buffer: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// One SSE event: its name and its data parsed as JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: serde_json::Value,
}

impl EventStream {
    pub fn open(addr: SocketAddr, path: &str) -> EventStream {
        let mut stream = connect(addr);
        write_head(&mut stream, "GET", path, &[("Accept", "text/event-stream")], None);
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        EventStream {
            reader,
            buffer: String::new(),
            status,
            headers,
        }
    }

    /// The next event (keep-alive comments skipped), or `None` once the stream has ended.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_string();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment
                }
                return Some(Event {
                    name,
                    data: serde_json::from_str(&data).expect("event data is JSON"),
                });
            }
            let chunk = read_chunk(&mut self.reader)?;
            self.buffer
                .push_str(&String::from_utf8(chunk).expect("UTF-8 events"));
        }
    }

    /// Every remaining event until the server closes the stream.
    pub fn collect(mut self) -> Vec<Event> {
        let mut all = Vec::new();
        while let Some(e) = self.next_event() {
            all.push(e);
        }
        all
    }
}

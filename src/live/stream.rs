//! The bridge from a session's engine thread (blocking) to an HTTP body (async).
//!
//! The engine writes into [`ChannelWriter`], a `Write` that pushes chunks into a small
//! bounded tokio channel (waiting for room with `reserve`): when the HTTP client stops reading, the
//! socket fills, actix stops polling the body, the channel fills, and the engine thread
//! blocks inside `write` using no CPU. That is the whole pause mechanism.
//!
//! Memory held per paused session is bounded by: [`CHANNEL_CHUNKS`] x [`CHUNK_BYTES`]
//! (256 KiB) in the channel, plus the fragment being written (about 1 s of media; at
//! most `maxrate` x 1 s + `bufsize`: 1.1 MB at 720p), plus actix's write buffer (32 KiB and the last
//! chunk it polled), plus the kernel's socket buffers: the HTTP layer fixes a stream
//! socket's send buffer at 256 KiB (Linux doubles it: at most 512 KiB queued) instead of
//! letting it grow to 4 MiB. `tests/live/pause.rs` measures all of it; docs/sessions.md
//! has the table.
//!
//! A stalled client holds the writer here; a client that hangs up while the engine is not
//! writing (paused: the pace waits) is noticed through [`ClientGone`].

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{mpsc, watch};

/// Answers "has the client gone?" from the engine thread, for the times the engine is not
/// writing (the pace may hold it for as long as a pause lasts, and a connection whose
/// body is not being written gives the HTTP layer no chance to notice a hang-up). The
/// HTTP layer builds it from the connection's socket.
pub type ClientGone = Box<dyn Fn() -> bool + Send>;

/// Chunks the channel holds before the writer blocks.
pub const CHANNEL_CHUNKS: usize = 4;
/// Largest chunk pushed at once.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The engine side: a blocking writer into the channel.
pub struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    /// Set when the stream is ended from outside: a blocked write returns at once even
    /// if the client stopped reading (a stalled socket never polls the body again).
    stop: watch::Receiver<bool>,
    /// Called once, when the first chunk is handed over (the session clock starts).
    on_first: Option<Box<dyn FnOnce() + Send>>,
    /// Bytes handed over so far (shared: the session reports it as `stream_bytes`).
    written: Arc<AtomicU64>,
}

impl ChannelWriter {
    /// True once the reader is gone (client disconnected, or the stream was ended).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// A handle that answers [`ChannelWriter::is_closed`] from another closure.
    pub fn closed_probe(&self) -> mpsc::Sender<Bytes> {
        self.tx.clone()
    }

    /// The count of bytes handed over so far, readable from other threads.
    pub fn written(&self) -> Arc<AtomicU64> {
        self.written.clone()
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(CHUNK_BYTES);
        let gone = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away");
        if *self.stop.borrow() {
            return Err(gone());
        }
        // Wait (no CPU) for room in the channel, or for the stop switch.
        let (tx, stop) = (&self.tx, &mut self.stop);
        let permit = futures_executor::block_on(async {
            let mut switch_alive = true;
            loop {
                tokio::select! {
                    permit = tx.reserve() => return permit.ok(),
                    changed = stop.changed(), if switch_alive => {
                        if changed.is_err() {
                            switch_alive = false; // dropped unused: nobody can stop us
                        } else if *stop.borrow() {
                            return None;
                        }
                    }
                }
            }
        })
        .ok_or_else(gone)?;
        permit.send(Bytes::copy_from_slice(&buf[..n]));
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(f) = self.on_first.take() {
            f();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The HTTP side: chunks until the engine finishes (every chunk it wrote), or until the
/// stream is stopped (seek, track change, delete: at once), whichever comes first.
pub struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    stop: watch::Receiver<bool>,
}

impl ChannelReader {
    /// The body stream. Dropping it (client gone) unblocks and stops the engine thread.
    ///
    /// Only the switch turned on stops it: a switch dropped unused (the stream finished
    /// and its session let go of it) must not cut off what is still in the channel.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::unfold((self, true), |(mut r, mut switch_alive)| async move {
            loop {
                if *r.stop.borrow() {
                    return None;
                }
                tokio::select! {
                    chunk = r.rx.recv() => return chunk.map(|c| (Ok(c), (r, switch_alive))),
                    changed = r.stop.changed(), if switch_alive => {
                        if changed.is_err() {
                            switch_alive = false;
                        }
                    }
                }
            }
        })
    }
}

/// Ends a stream from outside (seek, track change, delete).
#[derive(Clone)]
pub struct StreamStop(watch::Sender<bool>);

impl StreamStop {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// A connected writer/reader pair and the stop switch of the reader.
pub fn channel(on_first: Box<dyn FnOnce() + Send>) -> (ChannelWriter, ChannelReader, StreamStop) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (stop_tx, stop_rx) = watch::channel(false);
    (
        ChannelWriter {
            tx,
            stop: stop_rx.clone(),
            on_first: Some(on_first),
            written: Arc::new(AtomicU64::new(0)),
        },
        ChannelReader { rx, stop: stop_rx },
        StreamStop(stop_tx),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Regression: a finished stream's switch is dropped by its session; the chunks still
    /// in the channel must all reach the body (they were cut off once).
    #[test]
    fn a_dropped_switch_does_not_cut_the_tail_off() {
        let (mut w, reader, stop) = channel(Box::new(|| {}));
        for i in 0..CHANNEL_CHUNKS as u8 {
            w.write_all(&[i; 10]).unwrap();
        }
        drop(w);
        drop(stop);
        let chunks: Vec<Bytes> =
            futures_executor::block_on(futures_util::StreamExt::collect::<Vec<_>>(reader.into_stream()))
                .into_iter()
                .map(Result::unwrap)
                .collect();
        assert_eq!(chunks.len(), CHANNEL_CHUNKS);
        assert_eq!(chunks[3][0], 3);
    }

    #[test]
    fn a_stop_ends_the_body_at_once_even_with_chunks_waiting() {
        let (mut w, reader, stop) = channel(Box::new(|| {}));
        w.write_all(&[1; 10]).unwrap();
        stop.stop();
        let chunks =
            futures_executor::block_on(futures_util::StreamExt::collect::<Vec<_>>(reader.into_stream()));
        assert!(chunks.is_empty());
        assert!(w.write_all(&[2; 10]).is_err(), "a stopped writer fails");
    }

    #[test]
    fn a_full_channel_blocks_the_writer_until_stopped() {
        let (mut w, reader, stop) = channel(Box::new(|| {}));
        let t = std::thread::spawn(move || {
            let chunk = vec![0u8; CHUNK_BYTES];
            let mut n = 0;
            while w.write(&chunk).is_ok() {
                n += 1;
            }
            n
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!t.is_finished(), "the writer should be blocked on a full channel");
        stop.stop();
        assert_eq!(
            t.join().unwrap(),
            CHANNEL_CHUNKS,
            "exactly the channel's capacity went in"
        );
        drop(reader);
    }
}

//! Response bodies for static files. `NamedFile` decides the status and headers (ranges,
//! validators, preconditions); these produce the bytes, with fewer system calls than its
//! own reader (which seeks, then reads each 64 KiB chunk in four growing `read`s):
//!
//! * [`file_range`]: a range up to [`SYNC_READ_LIMIT`] comes from the [`FileCache`] (slices of
//!   cached blocks; a miss is one `pread` per block into a buffer that is never zeroed, done
//!   on the worker thread: page-cache reads cost less than a hop to the blocking pool); a
//!   larger one streams in [`STREAM_CHUNK`] `pread`s on the blocking pool, uncached, so a
//!   cold disk never stalls a worker for long and one long download does not flush the cache;
//! * [`HeadBody`]: the body of a `HEAD` response: reports the length, reads nothing.

use std::convert::Infallible;
use std::fs::{File, Metadata};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody, SizedStream};
use actix_web::web::{self, Bytes};
use futures_util::stream;
use rustix::buffer::spare_capacity;

use super::file_cache::FileCache;

/// Ranges up to this size are read at once on the worker thread.
pub const SYNC_READ_LIMIT: u64 = 1 << 20;

/// Bytes read per step when a larger range streams from the blocking pool.
pub const STREAM_CHUNK: u64 = 512 << 10;

/// The body for `len` bytes of `file` (whose `fstat` is `meta`) from `offset`; small
/// ranges go through the [`FileCache`] when one is given (files that never change in
/// place), else straight to the file.
pub fn file_range(
    file: File,
    meta: &Metadata,
    offset: u64,
    len: u64,
    cache: Option<&FileCache>,
) -> std::io::Result<BoxBody> {
    if len <= SYNC_READ_LIMIT {
        let mut parts = match cache {
            Some(cache) => cache.read(&file, meta, offset, len)?,
            None => vec![read_range(&file, offset, len as usize)?],
        };
        return Ok(match parts.len() {
            0 => BoxBody::new(Bytes::new()),
            1 => BoxBody::new(parts.pop().expect("one part")),
            _ => BoxBody::new(SizedStream::new(
                len,
                stream::iter(parts.into_iter().map(Ok::<_, Infallible>)),
            )),
        });
    }
    let chunks = stream::unfold((Some(file), offset, len), |(file, offset, left)| async move {
        let file = file.filter(|_| left > 0)?;
        let step = left.min(STREAM_CHUNK);
        let read =
            web::block(move || read_range(&file, offset, step as usize).map(|bytes| (file, bytes))).await;
        match read {
            Ok(Ok((file, bytes))) => Some((Ok(bytes), (Some(file), offset + step, left - step))),
            Ok(Err(e)) => Some((Err(actix_web::Error::from(e)), (None, 0, 0))),
            Err(e) => Some((Err(actix_web::Error::from(e)), (None, 0, 0))),
        }
    });
    Ok(BoxBody::new(SizedStream::new(len, Box::pin(chunks))))
}

/// Reads exactly `len` bytes at `offset` with as few `pread`s as the kernel allows (one,
/// from the page cache), into uninitialised memory.
pub fn read_range(file: &File, offset: u64, len: usize) -> std::io::Result<Bytes> {
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    while buf.len() < len {
        let done = buf.len();
        let n = rustix::io::pread(file, spare_capacity(&mut buf), offset + done as u64)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was being served",
            ));
        }
    }
    buf.truncate(len);
    Ok(Bytes::from(buf))
}

/// The body of a `HEAD` response: reports the length, sends nothing, reads nothing.
pub struct HeadBody(pub u64);

impl MessageBody for HeadBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.0)
    }

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exact_ranges() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(tmp.path(), &data).unwrap();
        let file = File::open(tmp.path()).unwrap();
        assert_eq!(read_range(&file, 0, 10).unwrap(), data[..10]);
        assert_eq!(read_range(&file, 1000, 65536).unwrap(), data[1000..1000 + 65536]);
        assert_eq!(read_range(&file, 299_990, 10).unwrap(), data[299_990..]);
        assert!(read_range(&file, 299_990, 20).is_err(), "past the end");
    }
}

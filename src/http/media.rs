//! Static serving for `/media/{id}/...` (a video's ladder) and `/library/...` (a folder of
//! ready files), with the semantics of a good static server.
//!
//! actix-files' `NamedFile` does the heavy lifting: `ETag` (inode, size, mtime),
//! `Last-Modified`, `If-None-Match`/`If-Modified-Since` → 304, `If-Match`/
//! `If-Unmodified-Since` → 412, a single `Range` → 206 with `Content-Range`, an
//! unsatisfiable one → 416. Checked against RFC 9110 and measured, it needs five corrections,
//! made here:
//!
//! * `If-Range` is ignored by `NamedFile`: when the validator does not match the current
//!   file, the `Range` header is dropped and the whole file is sent (200);
//! * a multi-range or malformed `Range` would get the first range or a 416: it is ignored
//!   instead (200), as the RFC allows;
//! * `HEAD` would read the whole file only to throw it away: its body is replaced by an
//!   empty one that still reports the length;
//! * its reader seeks, then reads each 64 KiB chunk in four growing `read`s: the body is
//!   read by [`body::file_range`](super::body::file_range) instead (one `pread`);
//! * content types come from [`content_type`], not from a MIME guess (`.m4s`, `.ts`).
//!
//! Cache headers are for a CDN in front: segments, init segments and sprite sheets never
//! change (`immutable`); playlists, manifest, poster and `storyboard.vtt` are `no-cache`
//! while the video is still processing and cacheable for a short while once it is ready.

use std::collections::{HashMap, HashSet};
use std::fs::{File, Metadata};
use std::os::unix::fs::FileExt;
use std::sync::LazyLock;

use actix_files::NamedFile;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web;
use actix_web::HttpResponse;
use parking_lot::Mutex;

use super::body::{file_range, HeadBody};
use super::error::ApiError;
use super::root::RelPath;
use super::AppState;
use crate::catalog::Status;
use crate::mp4;

/// Which tree a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Media,
    Library,
}

impl Area {
    fn prefix(self) -> &'static str {
        match self {
            Area::Media => "/media/",
            Area::Library => "/library/",
        }
    }
}

/// Library files already checked for a trailing `moov` (each is logged once).
#[derive(Default)]
pub struct MoovChecks(Mutex<HashSet<std::path::PathBuf>>);

/// The service behind `/media/...`: files of a folder store, or objects of a bucket.
pub async fn media(req: ServiceRequest) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    if state.media_root.is_some() {
        return Ok(respond(req, Area::Media));
    }
    Ok(match serve_object(&req, &state).await {
        Ok(res) => req.into_response(res),
        Err(e) => req.error_response(e),
    })
}

/// `/media/{id}/...` from a bucket (through its memory cache).
async fn serve_object(req: &ServiceRequest, state: &AppState) -> Result<HttpResponse, ApiError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(ApiError::MethodNotAllowed(req.method().to_string()));
    }
    let raw = req
        .uri()
        .path()
        .strip_prefix(Area::Media.prefix())
        .ok_or(ApiError::NotFound)?;
    let rel = RelPath::parse(raw)?;
    let status = state.store.status(rel.first()).ok_or(ApiError::NotFound)?;
    // Only names reel writes reach the bucket: a folder (`{id}/720p`) or anything else
    // is not found without a request (some servers answer a "folder" with 500, which
    // would be retried until the store timeout).
    if rel.depth() < 2 || !crate::storage::headers::is_media_name(rel.file_name()) {
        return Err(ApiError::NotFound);
    }
    let object = state
        .media
        .fetch(&rel.key())
        .await
        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
        .ok_or(ApiError::NotFound)?;
    let res = super::object_serve::respond(
        req.method(),
        req.headers(),
        &object,
        content_type(&rel),
        media_cache_control(&rel, status),
    );
    if res.status().is_success() && req.method() == Method::GET {
        let length = match res.body().size() {
            BodySize::Sized(n) => n,
            _ => 0,
        };
        state.metrics.served(Area::Media, length);
    }
    Ok(res)
}

/// The service behind `/library/...`.
pub async fn library(req: ServiceRequest) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Ok(respond(req, Area::Library))
}

fn respond(mut req: ServiceRequest, area: Area) -> ServiceResponse<BoxBody> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    match serve(&mut req, &state, area) {
        Ok(res) => req.into_response(res),
        Err(e) => req.error_response(e),
    }
}

fn serve(req: &mut ServiceRequest, state: &AppState, area: Area) -> Result<HttpResponse, ApiError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(ApiError::MethodNotAllowed(req.method().to_string()));
    }
    let raw = req
        .uri()
        .path()
        .strip_prefix(area.prefix())
        .ok_or(ApiError::NotFound)?
        .to_string();
    let rel = RelPath::parse(&raw)?;
    let (root, cache) = match area {
        Area::Media => {
            // Only ids the catalog holds: a directory being deleted or half-made is invisible.
            let status = state.store.status(rel.first()).ok_or(ApiError::NotFound)?;
            if rel.depth() < 2 {
                return Err(ApiError::NotFound);
            }
            (
                state.media_root.as_ref().ok_or(ApiError::NotFound)?,
                media_cache_control(&rel, status),
            )
        }
        Area::Library => (
            state.library_root.as_ref().ok_or(ApiError::NotFound)?,
            "public, max-age=300",
        ),
    };
    let file = root.open_any(&rel)?;
    if area == Area::Library && matches!(rel.extension().as_str(), "mp4" | "m4v" | "mov") {
        check_moov_once(state, &rel, &file);
    }

    drop_unusable_range(req);
    let (mut res, mut source) = named_response(req, file, &rel)?;
    if res.status() == StatusCode::PARTIAL_CONTENT && !if_range_holds(req, &res) {
        req.headers_mut().remove(header::RANGE);
        (res, source) = named_response(req, root.open_any(&rel)?, &rel)?;
    }
    let (source, meta) = source;
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    if !res.status().is_success() {
        return Ok(res); // 304, 412, 416: no body
    }
    let (offset, length) = body_range(&res);
    if req.method() == Method::HEAD {
        return Ok(res.map_body(|_, _| HeadBody(length).boxed()));
    }
    // Playlists and manifests are rewritten while a job runs, each time by a rename, and
    // cost little to read: only files that never change go through the memory cache.
    let cache = (area == Area::Library || is_immutable(&rel)).then_some(&state.file_cache);
    let body = file_range(source, &meta, offset, length, cache)
        .map_err(|e| ApiError::internal("reading a file to serve", e))?;
    state.metrics.served(area, length);
    Ok(res.set_body(body))
}

/// The response `NamedFile` makes for this request, and a second handle on the same file
/// (with its metadata) for [`file_range`] to read the body from.
fn named_response(
    req: &ServiceRequest,
    file: File,
    rel: &RelPath,
) -> Result<(HttpResponse, (File, Metadata)), ApiError> {
    let source = file
        .try_clone()
        .map_err(|e| ApiError::internal("duplicating a file handle", e))?;
    let named = NamedFile::from_file(file, rel.as_path())
        .map_err(|e| ApiError::internal("preparing a file response", e))?;
    if !named.metadata().is_file() {
        // Directories (there are no listings), devices, FIFOs: nothing to serve.
        return Err(ApiError::NotFound);
    }
    let named = named
        .set_content_type(mime_of(content_type(rel)))
        .disable_content_disposition()
        .prefer_utf8(false);
    let meta = named.metadata().clone();
    Ok((named.into_response(req.request()), (source, meta)))
}

/// Where the body of a 200 or 206 that `NamedFile` made starts, and its length.
fn body_range(res: &HttpResponse) -> (u64, u64) {
    let length = match res.body().size() {
        BodySize::Sized(n) => n,
        _ => 0,
    };
    let offset = res
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| v.split_once('-'))
        .and_then(|(start, _)| start.parse().ok())
        .unwrap_or(0);
    (offset, length)
}

/// Content types by extension (lowercase), the ones HLS players and browsers expect.
pub fn content_type(rel: &RelPath) -> &'static str {
    crate::storage::headers::content_type(rel.file_name())
}

/// The parsed form of a [`content_type`] value, parsed once per process.
fn mime_of(content_type: &'static str) -> mime::Mime {
    static PARSED: LazyLock<Mutex<HashMap<&'static str, mime::Mime>>> = LazyLock::new(Default::default);
    PARSED
        .lock()
        .entry(content_type)
        .or_insert_with(|| content_type.parse().expect("a valid MIME type"))
        .clone()
}

/// `Cache-Control` for a file of a video's tree.
/// Segments, init segments and the storyboard's sprite sheets (`{id}/storyboard/*.jpg`):
/// written once, under names never reused for other bytes.
fn is_immutable(rel: &RelPath) -> bool {
    let sprite = || {
        rel.extension() == "jpg"
            && rel.as_path().parent().and_then(|p| p.file_name()) == Some("storyboard".as_ref())
    };
    matches!(rel.extension().as_str(), "m4s" | "ts" | "mp4") || sprite()
}

fn media_cache_control(rel: &RelPath, status: Status) -> &'static str {
    let ext = rel.extension();
    if is_immutable(rel) {
        return "public, max-age=31536000, immutable";
    }
    match status {
        Status::Ready if ext == "jpg" => "public, max-age=3600",
        Status::Ready => "public, max-age=60",
        _ => "no-cache",
    }
}

/// Removes a `Range` header that asks for several ranges or does not parse as one byte
/// range: the full representation is the right answer to both (RFC 9110 §14.2).
fn drop_unusable_range(req: &mut ServiceRequest) {
    let usable = match req.headers().get(header::RANGE).map(|v| v.to_str()) {
        None => return,
        Some(Ok(v)) => is_single_byte_range(v),
        Some(Err(_)) => false,
    };
    if !usable {
        req.headers_mut().remove(header::RANGE);
    }
}

fn is_single_byte_range(v: &str) -> bool {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return false;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (first.trim(), last.trim()) {
        ("", l) => digits(l),
        (f, "") => digits(f),
        (f, l) => digits(f) && digits(l) && f.parse::<u64>().ok() <= l.parse::<u64>().ok(),
    }
}

/// RFC 9110 §13.1.5: a `Range` counts only if `If-Range` (when present) names the current
/// representation: its strong `ETag`, or exactly its `Last-Modified` date.
fn if_range_holds(req: &ServiceRequest, res: &HttpResponse) -> bool {
    let Some(cond) = req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let cond = cond.trim();
    if cond.starts_with('"') {
        return res
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|etag| etag == cond);
    }
    if cond.starts_with("W/") {
        return false; // weak tags never validate a range
    }
    let parsed = |s: &str| httpdate::parse_http_date(s).ok();
    match (
        parsed(cond),
        res.headers()
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(parsed),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Logs, once per file, a library MP4 whose `moov` comes after its `mdat`: players must
/// fetch the end of the file before they can start (run `ffmpeg -movflags +faststart`).
fn check_moov_once(state: &AppState, rel: &RelPath, file: &File) {
    {
        let mut seen = state.moov_checks.0.lock();
        if seen.contains(rel.as_path()) {
            return;
        }
        if seen.len() > 10_000 {
            seen.clear();
        }
        seen.insert(rel.as_path().to_path_buf());
    }
    let Ok(file) = file.try_clone() else {
        return;
    };
    let shown = rel.as_path().display().to_string();
    actix_web::rt::task::spawn_blocking(move || {
        if let Ok(true) = moov_after_mdat(&file) {
            log::warn!(
                "library file {shown:?} has its moov atom at the end: players must read the \
                 end of the file before playing; remux it with `ffmpeg -i IN -c copy -movflags +faststart OUT`"
            );
        }
    });
}

/// Walks the top-level boxes of an MP4 file ([`mp4::BoxHeader`]: read at each box's offset,
/// 64 of them at most) until `moov` or `mdat` shows up.
pub fn moov_after_mdat(file: &File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    let mut offset = 0u64;
    for _ in 0..64 {
        let mut head = [0u8; 16];
        let n = usize::try_from(len.saturating_sub(offset)).map_or(16, |left| left.min(16));
        file.read_exact_at(&mut head[..n], offset)?;
        let Ok(Some(header)) = mp4::BoxHeader::parse(&head[..n]) else {
            break;
        };
        match header.kind {
            mp4::BoxType::MOOV => return Ok(false),
            mp4::BoxType::MDAT => return Ok(true),
            _ => {}
        }
        match header.size_in(len - offset) {
            Ok(size) => offset += size,
            Err(_) => break,
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_only() {
        for ok in ["bytes=0-99", "bytes=100-", "bytes=-500", "bytes= 5-5"] {
            assert!(is_single_byte_range(ok), "{ok}");
        }
        for bad in [
            "bytes=0-1,5-6",
            "items=0-5",
            "bytes=abc",
            "bytes=-",
            "bytes=9-3",
            "0-5",
        ] {
            assert!(!is_single_byte_range(bad), "{bad}");
        }
    }

    #[test]
    fn content_types_players_expect() {
        let ct = |p: &str| content_type(&RelPath::parse(p).unwrap());
        assert_eq!(ct("a/master.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(ct("a/720p/init.mp4"), "video/mp4");
        assert_eq!(ct("a/720p/seg00001.m4s"), "video/iso.segment");
        assert_eq!(ct("a/720p/seg00001.ts"), "video/mp2t");
        assert_eq!(ct("a/poster.jpg"), "image/jpeg");
        assert_eq!(ct("a/manifest.json"), "application/json");
        assert_eq!(ct("Film.MKV"), "video/x-matroska");
        assert_eq!(ct("a/storyboard.vtt"), "text/vtt; charset=utf-8");
    }

    #[test]
    fn sprite_sheets_are_immutable_the_poster_and_storyboard_track_are_not() {
        let immutable = |p: &str| is_immutable(&RelPath::parse(p).unwrap());
        assert!(immutable("a/storyboard/sprite-000.jpg"));
        assert!(immutable("a/720p/seg00001.m4s"));
        assert!(!immutable("a/poster.jpg"));
        assert!(!immutable("a/storyboard.vtt"));
    }

    #[test]
    fn finds_a_trailing_moov() {
        let tmp = tempfile::tempdir().unwrap();
        let boxed = |kind: &[u8; 4], body: usize| mp4::boxed(mp4::BoxType(*kind), &vec![0; body]);
        let late = tmp.path().join("late.mp4");
        std::fs::write(
            &late,
            [boxed(b"ftyp", 8), boxed(b"mdat", 100), boxed(b"moov", 20)].concat(),
        )
        .unwrap();
        let early = tmp.path().join("early.mp4");
        std::fs::write(
            &early,
            [boxed(b"ftyp", 8), boxed(b"moov", 20), boxed(b"mdat", 100)].concat(),
        )
        .unwrap();
        assert!(moov_after_mdat(&File::open(late).unwrap()).unwrap());
        assert!(!moov_after_mdat(&File::open(early).unwrap()).unwrap());
    }
}

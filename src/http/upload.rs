//! `POST /api/videos`: a multipart upload streamed to disk, probed, queued.
//!
//! ```text
//! body ─► Multipart ─┬─ "file" part ─► 1 MiB batches ─► web::block(write) ─► .uploads/upload-*
//!                    ├─ "subtitles" parts (.srt, .vtt) ─► the same, at most 2 MiB each
//!                    └─ "heights" | "segment_seconds" | "format" | "title" |
//!                       "subtitles_language" ─► checked at once
//!  end ─► web::block(Jobs::accept: probe, read the subtitles, plan, keep source, queue)
//!      ─► 202 + video object
//! ```
//!
//! Subtitle files pair with `subtitles_language` fields in order (the first language with
//! the first file); a file without one takes the language its name ends in
//! (`film.fr.srt`), if any.
//!
//! Memory stays flat whatever the upload's size: the multipart parser holds at most its
//! 64 KiB buffer and this handler one write batch. Fields may come before or after the
//! file; each is validated as soon as it is read, so a bad field fails before a large file
//! is received when it comes first. The temp file is a `tempfile` that deletes itself when
//! dropped: an error, a size overflow or a client hanging up mid-upload leave nothing
//! behind. Nothing here touches libav: probing runs in `web::block`.

use std::io::Write;

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::error::ApiError;
use super::metrics::StreamKind;
use super::AppState;
use crate::catalog::jobs::{AcceptError, Upload, UploadedSubtitles};
use crate::hls::SegmentFormat;

/// Bytes gathered before each write to the temp file.
const WRITE_BATCH: usize = 1 << 20;
/// Room for the multipart envelope (boundaries, part headers, small fields) on top of the
/// file when judging a request by its `Content-Length`.
const ENVELOPE_BYTES: u64 = 64 * 1024;
/// Longest accepted text field.
const TEXT_FIELD_LIMIT: usize = 1024;
/// Largest subtitle file (a feature film's SubRip is about 100 KB).
const SUBTITLE_FILE_LIMIT: u64 = 2 << 20;
/// Most subtitle files an upload may carry.
const MAX_SUBTITLE_FILES: usize = 8;

/// The form's optional fields, validated.
#[derive(Debug)]
struct Fields {
    heights: Option<Vec<u32>>,
    segment_seconds: f64,
    format: SegmentFormat,
    title: Option<String>,
    /// `subtitles_language` fields, in order.
    subtitle_languages: Vec<String>,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            heights: None,
            segment_seconds: 4.0,
            format: SegmentFormat::Fmp4,
            title: None,
            subtitle_languages: Vec::new(),
        }
    }
}

impl Fields {
    fn set(&mut self, name: &str, value: &str) -> Result<(), ApiError> {
        let value = value.trim();
        match name {
            "heights" => self.heights = Some(parse_heights(value)?),
            "segment_seconds" => {
                self.segment_seconds = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && (1.0..=30.0).contains(s))
                    .ok_or_else(|| bad("segment_seconds", "must be a number from 1 to 30"))?;
            }
            "format" => {
                self.format = match value {
                    "fmp4" => SegmentFormat::Fmp4,
                    "ts" => SegmentFormat::Ts,
                    _ => return Err(bad("format", "must be fmp4 or ts")),
                }
            }
            "title" => {
                let title: String = value.chars().filter(|c| !c.is_control()).take(200).collect();
                self.title = (!title.is_empty()).then_some(title);
            }
            "subtitles_language" => {
                let language = crate::hls::language::bcp47(value).ok_or_else(|| {
                    bad(
                        "subtitles_language",
                        "must be a language tag such as en, fra or pt-BR",
                    )
                })?;
                if self.subtitle_languages.len() >= MAX_SUBTITLE_FILES {
                    return Err(bad(
                        "subtitles_language",
                        "has more values than subtitle files allowed",
                    ));
                }
                self.subtitle_languages.push(language);
            }
            _ => {}
        }
        Ok(())
    }
}

fn bad(field: &'static str, reason: &str) -> ApiError {
    ApiError::BadField {
        field,
        reason: reason.to_string(),
    }
}

fn parse_heights(value: &str) -> Result<Vec<u32>, ApiError> {
    let reason = "must be a comma-separated list of rung heights such as 720,360, each from 16 to 4320";
    let heights: Vec<u32> = value
        .split(',')
        .map(|h| h.trim().parse::<u32>().ok().filter(|h| (16..=4320).contains(h)))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| bad("heights", reason))?;
    if heights.is_empty() {
        return Err(bad("heights", reason));
    }
    Ok(heights)
}

/// The file part, received into a temp file.
struct Received {
    file: tempfile::TempPath,
    bytes: u64,
    name: Option<String>,
}

pub async fn upload(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let _open = state.metrics.open_stream(StreamKind::Upload);
    let mut received_bytes = 0;
    let result = receive_and_accept(&req, payload, &state, &mut received_bytes).await;
    state.metrics.upload_finished(result.is_ok(), received_bytes);
    let video = result?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/videos/{}", video.id)))
        .json(video))
}

async fn receive_and_accept(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    received_bytes: &mut u64,
) -> Result<crate::catalog::Video, ApiError> {
    if !is_form_data(req) {
        return Err(ApiError::NotMultipart);
    }
    let limit = state.max_upload_bytes;
    if content_length(req).is_some_and(|n| n > limit.saturating_add(ENVELOPE_BYTES)) {
        return Err(ApiError::TooLarge { limit });
    }
    if state.jobs.is_full() {
        return Err(ApiError::QueueFull);
    }

    let mut form = Multipart::new(req.headers(), payload);
    let mut fields = Fields::default();
    let mut received: Option<Received> = None;
    let mut subtitles: Vec<Received> = Vec::new();
    while let Some(part) = form.next().await {
        let mut part = part.map_err(multipart_error)?;
        let name = part.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                if received.is_some() {
                    return Err(bad("file", "send one file per upload"));
                }
                let r = receive_file(&mut part, state, limit).await?;
                *received_bytes = r.bytes;
                received = Some(r);
            }
            "subtitles" => {
                if subtitles.len() >= MAX_SUBTITLE_FILES {
                    return Err(bad("subtitles", &format!("at most {MAX_SUBTITLE_FILES} files")));
                }
                let r = receive_file(&mut part, state, SUBTITLE_FILE_LIMIT).await?;
                subtitles.push(r);
            }
            "heights" | "segment_seconds" | "format" | "title" | "subtitles_language" => {
                let text = read_text(&mut part, &name).await?;
                fields.set(&name, &text)?;
            }
            // Unknown fields are ignored, as forms often carry extra inputs.
            _ => while part.next().await.transpose().map_err(multipart_error)?.is_some() {},
        }
    }
    let received = received.ok_or(ApiError::MissingFile)?;
    if received.bytes == 0 {
        return Err(bad("file", "is empty"));
    }

    let (stem, extension) = split_file_name(received.name.as_deref());
    let mut languages = fields.subtitle_languages.into_iter();
    let subtitles = subtitles
        .into_iter()
        .map(|s| {
            let name: String = s
                .name
                .as_deref()
                .map(base_name)
                .unwrap_or("subtitles")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            let (stem, ext) = split_file_name(Some(&name));
            let language = languages
                .next()
                .or_else(|| crate::hls::language::of_file_stem(&stem));
            UploadedSubtitles {
                file: s.file,
                extension: if ext == "vtt" { "vtt" } else { "srt" },
                language,
                name,
            }
        })
        .collect();
    let upload = Upload {
        file: received.file,
        extension,
        title: fields.title.unwrap_or(stem),
        heights: fields.heights,
        segment_seconds: fields.segment_seconds,
        format: fields.format,
        subtitles,
    };
    let jobs = state.jobs.clone();
    let accepted = web::block(move || jobs.accept(upload))
        .await
        .map_err(|e| ApiError::internal("running the probe", e))?;
    accepted.map_err(|e| match e {
        AcceptError::NotAVideo(m) => ApiError::NotAVideo(m),
        AcceptError::TooLarge(m) => ApiError::SourceTooLarge(m),
        AcceptError::TooLong(m) => ApiError::SourceTooLong(m),
        AcceptError::InvalidOption { field, message } => ApiError::BadField {
            field,
            reason: message,
        },
        AcceptError::QueueFull => ApiError::QueueFull,
        AcceptError::Unavailable(m) => ApiError::SharedStateUnavailable(format!("accepting an upload: {m}")),
        AcceptError::ShuttingDown => ApiError::ShuttingDown,
        AcceptError::Internal(m) => ApiError::internal("accepting an upload", m),
        // Only library preparations have fixed ids.
        e @ AcceptError::TakenElsewhere => ApiError::internal("accepting an upload", e),
    })
}

fn is_form_data(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA)
}

fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Streams the file part into a temp file under `.uploads/`, a batch at a time, on the
/// blocking pool.
async fn receive_file(part: &mut Field, state: &AppState, limit: u64) -> Result<Received, ApiError> {
    let name = part
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .map(str::to_string);
    let dir = state.store.layout().uploads_dir();
    let mut file = web::block(move || tempfile::Builder::new().prefix("upload-").tempfile_in(dir))
        .await
        .map_err(|e| ApiError::internal("creating an upload file", e))?
        .map_err(|e| ApiError::internal("creating an upload file", e))?;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut bytes = 0u64;
    while let Some(chunk) = part.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(ApiError::TooLarge { limit });
        }
        batch.extend_from_slice(&chunk);
        if batch.len() >= WRITE_BATCH {
            (file, batch) = write_batch(file, batch).await?;
        }
    }
    if !batch.is_empty() {
        (file, batch) = write_batch(file, batch).await?;
    }
    drop(batch);
    Ok(Received {
        file: file.into_temp_path(),
        bytes,
        name,
    })
}

async fn write_batch(
    mut file: tempfile::NamedTempFile,
    mut batch: Vec<u8>,
) -> Result<(tempfile::NamedTempFile, Vec<u8>), ApiError> {
    web::block(move || {
        file.write_all(&batch)?;
        batch.clear();
        Ok::<_, std::io::Error>((file, batch))
    })
    .await
    .map_err(|e| ApiError::internal("writing an upload", e))?
    .map_err(|e| ApiError::internal("writing an upload", e))
}

async fn read_text(part: &mut Field, name: &str) -> Result<String, ApiError> {
    let field: &'static str = match name {
        "heights" => "heights",
        "segment_seconds" => "segment_seconds",
        "format" => "format",
        "subtitles_language" => "subtitles_language",
        _ => "title",
    };
    let mut text = Vec::new();
    while let Some(chunk) = part.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        if text.len() + chunk.len() > TEXT_FIELD_LIMIT {
            return Err(bad(field, "is too long"));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).map_err(|_| bad(field, "is not UTF-8 text"))
}

fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::Incomplete
        | MultipartError::Payload(PayloadError::Incomplete(_))
        | MultipartError::Payload(PayloadError::EncodingCorrupted) => ApiError::IncompleteUpload,
        MultipartError::Payload(PayloadError::Overflow) => ApiError::TooLarge { limit: 0 },
        MultipartError::Payload(e) => ApiError::BadMultipart(e.to_string()),
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => ApiError::NotMultipart,
        MultipartError::BoundaryMissing => ApiError::BadMultipart("the boundary is missing".into()),
        MultipartError::ContentDispositionMissing | MultipartError::ContentDispositionNameMissing => {
            ApiError::BadMultipart("a part has no form-data name".into())
        }
        MultipartError::Nested => ApiError::BadMultipart("nested multipart bodies are not supported".into()),
        e => ApiError::BadMultipart(e.to_string().to_lowercase()),
    }
}

/// The last part of a client's file name (`C:\fakepath\clip.mp4` → `clip.mp4`).
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or("").trim()
}

/// The title (file name without extension) and a safe extension for the kept source.
/// Browsers may send a full client path (`C:\fakepath\clip.mp4`): only its last part counts.
fn split_file_name(name: Option<&str>) -> (String, String) {
    let base = base_name(name.unwrap_or(""));
    let (stem, ext) = match base.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, e),
        _ => (base, ""),
    };
    let ext = ext.to_ascii_lowercase();
    let extension = if !ext.is_empty() && ext.len() <= 8 && ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        ext
    } else {
        "bin".to_string()
    };
    let title: String = stem.chars().filter(|c| !c.is_control()).take(200).collect();
    let title = if title.is_empty() {
        "Untitled".to_string()
    } else {
        title
    };
    (title, extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_with_reasons() {
        let mut f = Fields::default();
        f.set("heights", "720, 360").unwrap();
        assert_eq!(f.heights, Some(vec![720, 360]));
        f.set("segment_seconds", "2.5").unwrap();
        f.set("format", "ts").unwrap();
        assert_eq!(f.format, SegmentFormat::Ts);
        for (name, value) in [
            ("heights", ""),
            ("heights", "720,abc"),
            ("heights", "8"),
            ("segment_seconds", "0.5"),
            ("segment_seconds", "31"),
            ("segment_seconds", "NaN"),
            ("format", "hls"),
        ] {
            let e = f.set(name, value).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn file_names_become_titles_and_safe_extensions() {
        assert_eq!(
            split_file_name(Some("C:\\fakepath\\My clip.MP4")),
            ("My clip".into(), "mp4".into())
        );
        assert_eq!(
            split_file_name(Some("../../etc/passwd")),
            ("passwd".into(), "bin".into())
        );
        assert_eq!(split_file_name(Some("x.m/../y")), ("y".into(), "bin".into()));
        assert_eq!(split_file_name(None), ("Untitled".into(), "bin".into()));
        assert_eq!(split_file_name(Some(".mp4")), (".mp4".into(), "bin".into()));
    }
}

//! [`ApiError`]: every error the HTTP front answers, and the one place that maps each to a
//! status code and a JSON body `{"error": "<sentence>", "code": "<snake_case>"}`.
//!
//! Messages read like sentences a client can act on and never carry a server path or a
//! backtrace: internal failures are logged with their detail and answered with a generic
//! sentence.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Seconds a client is asked to wait when the transcode queue is full.
pub const RETRY_AFTER_SECS: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no video with id {0:?}")]
    NoSuchVideo(String),
    #[error("nothing here")]
    NotFound,
    #[error("no channel named {0:?}")]
    NoSuchChannel(String),
    #[error("channel {channel:?} has no item {index}")]
    NoSuchItem { channel: String, index: usize },
    #[error("no live session with id {0:?}")]
    NoSuchSession(String),
    /// DELETE of a library file's rendition: the library folder decides what it holds.
    #[error(
        "video {id:?} is the HLS rendition of library file {path:?}; it goes when the file \
         leaves the library folder"
    )]
    LibraryRendition { id: String, path: String },
    /// Too many live sessions or encoders at once.
    #[error("{0}")]
    Busy(String),
    #[error("too many requests from this address; slow down")]
    TooManyRequests,
    #[error("this path does not allow {0}")]
    MethodNotAllowed(String),
    /// A form field with a bad value; `reason` says what a good one looks like.
    #[error("field {field:?}: {reason}")]
    BadField { field: &'static str, reason: String },
    #[error("the upload has no file: send the video as a multipart/form-data field named \"file\"")]
    MissingFile,
    #[error("the multipart body is malformed: {0}")]
    BadMultipart(String),
    #[error("the upload ended before it was complete")]
    IncompleteUpload,
    #[error("the request body must be multipart/form-data")]
    NotMultipart,
    /// The content is not a decodable video, whatever its name says.
    #[error("the file is not a video reel can decode ({0})")]
    NotAVideo(String),
    /// A picture over `--max-source-pixels`: the engine's sentence says by how much.
    #[error("{0}")]
    SourceTooLarge(String),
    /// A source over `--max-duration-seconds`.
    #[error("{0}")]
    SourceTooLong(String),
    #[error("the upload is larger than this server's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the transcode queue is full; try again in a little while")]
    QueueFull,
    #[error("the server is shutting down; try again in a moment")]
    ShuttingDown,
    #[error(
        "this request changes state and needs the API key (Authorization: Bearer <key> or X-API-Key: <key>)"
    )]
    Unauthorized,
    #[error("this path is malformed or not allowed")]
    BadPath,
    #[error("this path leads outside the served folder")]
    Forbidden,
    /// Detail for the log only.
    /// The media store (a bucket) did not answer; the detail goes to the log.
    #[error("the media store is not answering right now; try again shortly")]
    StoreUnavailable(String),
    /// `--redis` is set and Redis is not answering; the detail goes to the log.
    #[error("the instances' shared state is not answering right now; try again shortly")]
    SharedStateUnavailable(String),
    #[error("the server failed to answer this request")]
    Internal(String),
}

impl ApiError {
    /// Wraps a failure whose detail must stay in the log.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(format!("{context}: {e}"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NoSuchVideo(_)
            | ApiError::NotFound
            | ApiError::NoSuchChannel(_)
            | ApiError::NoSuchItem { .. }
            | ApiError::NoSuchSession(_) => "not_found",
            ApiError::Busy(_) => "busy",
            ApiError::LibraryRendition { .. } => "library_rendition",
            ApiError::TooManyRequests => "too_many_requests",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::BadField { .. } => "invalid_field",
            ApiError::MissingFile => "missing_file",
            ApiError::BadMultipart(_) => "bad_multipart",
            ApiError::IncompleteUpload => "incomplete_upload",
            ApiError::NotMultipart => "not_multipart",
            ApiError::NotAVideo(_) => "not_a_video",
            ApiError::SourceTooLarge(_) => "source_too_large",
            ApiError::SourceTooLong(_) => "source_too_long",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::QueueFull => "queue_full",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadPath => "bad_path",
            ApiError::Forbidden => "forbidden",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::SharedStateUnavailable(_) => "shared_state_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: String,
    code: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NoSuchVideo(_)
            | ApiError::NotFound
            | ApiError::NoSuchChannel(_)
            | ApiError::NoSuchItem { .. }
            | ApiError::NoSuchSession(_) => StatusCode::NOT_FOUND,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::LibraryRendition { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadField { .. }
            | ApiError::MissingFile
            | ApiError::BadMultipart(_)
            | ApiError::IncompleteUpload
            | ApiError::BadPath => StatusCode::BAD_REQUEST,
            ApiError::NotMultipart | ApiError::NotAVideo(_) | ApiError::SourceTooLarge(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            // The content is more than the server will process, as for too many bytes.
            ApiError::TooLarge { .. } | ApiError::SourceTooLong(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QueueFull
            | ApiError::ShuttingDown
            | ApiError::StoreUnavailable(_)
            | ApiError::SharedStateUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(detail) => log::error!("internal error: {detail}"),
            ApiError::StoreUnavailable(detail) => log::warn!("media store: {detail}"),
            ApiError::SharedStateUnavailable(detail) => log::warn!("{detail}"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::QueueFull
            | ApiError::ShuttingDown
            | ApiError::Busy(_)
            | ApiError::TooManyRequests
            | ApiError::StoreUnavailable(_)
            | ApiError::SharedStateUnavailable(_) => {
                res.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            ApiError::Unauthorized => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::TooLarge { .. } => {
                // The rest of the body is not read; say so rather than keep the connection.
                res.insert_header((header::CONNECTION, HeaderValue::from_static("close")));
            }
            _ => {}
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        res.json(Body {
            error: self.to_string(),
            code: self.code(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn internal_detail_stays_in_the_log() {
        let e = ApiError::internal("writing /srv/media/x/manifest.json", "disk full");
        let res = e.error_response();
        assert_eq!(res.status(), 500);
        let body = res.into_body().try_into_bytes().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("/srv"), "{text}");
        assert!(text.contains("\"code\":\"internal\""), "{text}");
    }

    #[test]
    fn queue_full_asks_to_retry() {
        let res = ApiError::QueueFull.error_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "10");
    }
}

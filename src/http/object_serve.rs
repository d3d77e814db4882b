//! `/media/{id}/...` from a bucket: the semantics of a good static server (RFC 9110) over
//! whole objects held in memory ([`StoredObject`]), since a bucket is no file that
//! `NamedFile` could open.
//!
//! Preconditions in the RFC's order (§13.2.2): `If-Match` / `If-Unmodified-Since` → 412,
//! `If-None-Match` / `If-Modified-Since` → 304, then one byte `Range` (honoured when
//! `If-Range` still holds) → 206 with `Content-Range`, or 416 when unsatisfiable. A
//! multi-range or malformed `Range` gets the whole object (200), as from disk. `HEAD`
//! answers the same headers without a body. The bytes come from the store's memory cache,
//! so a hot segment costs no round trip.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

use super::body::HeadBody;
use crate::storage::StoredObject;

/// The response to a GET or HEAD of `object`.
pub fn respond(
    method: &Method,
    headers: &HeaderMap,
    object: &StoredObject,
    content_type: &'static str,
    cache_control: &'static str,
) -> HttpResponse {
    let len = object.bytes.len() as u64;
    let modified = whole_seconds(object.last_modified);
    let mut res = HttpResponse::build(StatusCode::OK);
    res.insert_header((header::ETAG, object.e_tag.as_str()))
        .insert_header((header::LAST_MODIFIED, httpdate::fmt_http_date(modified)))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ACCEPT_RANGES, "bytes"));

    let get = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let etag = &object.e_tag;
    if let Some(v) = get(header::IF_MATCH) {
        if !list_matches(v, etag, true) {
            return res.status(StatusCode::PRECONDITION_FAILED).finish();
        }
    } else if let Some(t) = get(header::IF_UNMODIFIED_SINCE).and_then(date) {
        if modified > t {
            return res.status(StatusCode::PRECONDITION_FAILED).finish();
        }
    }
    if let Some(v) = get(header::IF_NONE_MATCH) {
        if list_matches(v, etag, false) {
            return res.status(StatusCode::NOT_MODIFIED).finish();
        }
    } else if let Some(t) = get(header::IF_MODIFIED_SINCE).and_then(date) {
        if modified <= t {
            return res.status(StatusCode::NOT_MODIFIED).finish();
        }
    }

    let range = get(header::RANGE)
        .filter(|_| match get(header::IF_RANGE) {
            None => true,
            Some(v) if v.starts_with('"') => v == etag.as_str(),
            Some(v) => date(v) == Some(modified),
        })
        .and_then(|v| parse_range(v, len));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len),
        Some(Err(Unsatisfiable)) => {
            return res
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .finish();
        }
        Some(Ok((start, end))) => {
            res.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{}/{len}", end - 1)));
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
    };
    res.status(status).content_type(content_type);
    if method == Method::HEAD {
        return res.body(HeadBody(end - start).boxed());
    }
    res.body(BoxBody::new(object.bytes.slice(start as usize..end as usize)))
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}

fn date(v: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(v).ok()
}

/// Whether an `If-Match` / `If-None-Match` list names `etag` (`*` names any): strong
/// comparison for `If-Match`, weak (ignoring `W/`) for `If-None-Match`.
fn list_matches(list: &str, etag: &str, strong: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || match tag.strip_prefix("W/") {
                Some(weak) => !strong && weak == etag.trim_start_matches("W/"),
                None => tag == etag,
            }
    })
}

#[derive(Debug, PartialEq)]
struct Unsatisfiable;

/// One byte range of a `len`-byte object as `[start, end)`; `None` for a header to ignore
/// (several ranges, another unit, malformed).
fn parse_range(v: &str, len: u64) -> Option<Result<(u64, u64), Unsatisfiable>> {
    let spec = v.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if a.is_empty() {
        let n = number(b)?;
        return Some(if n == 0 || len == 0 {
            Err(Unsatisfiable)
        } else {
            Ok((len.saturating_sub(n), len))
        });
    }
    let start = number(a)?;
    let last = if b.is_empty() { None } else { Some(number(b)?) };
    if last.is_some_and(|l| l < start) {
        return None;
    }
    if start >= len {
        return Some(Err(Unsatisfiable));
    }
    Some(Ok((start, last.map_or(len, |l| (l + 1).min(len)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn object() -> StoredObject {
        StoredObject {
            bytes: (0u8..100).collect::<Vec<_>>().into(),
            e_tag: "\"abc\"".into(),
            last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    fn get(pairs: &[(HeaderName, &str)]) -> HttpResponse {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        respond(
            &Method::GET,
            &headers,
            &object(),
            "video/iso.segment",
            "immutable",
        )
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok((95, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(Unsatisfiable)));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(Unsatisfiable)));
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=a-b", "bytes=-"] {
            assert_eq!(parse_range(ignored, 100), None, "{ignored}");
        }
    }

    #[test]
    fn preconditions_and_ranges_answer_as_a_static_server() {
        assert_eq!(get(&[]).status(), StatusCode::OK);
        let r = get(&[(header::RANGE, "bytes=10-19")]);
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers().get(header::CONTENT_RANGE).unwrap(), "bytes 10-19/100");
        assert_eq!(
            get(&[(header::RANGE, "bytes=100-")]).status(),
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        assert_eq!(
            get(&[(header::IF_NONE_MATCH, "\"x\", W/\"abc\"")]).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get(&[(header::IF_MATCH, "\"nope\"")]).status(),
            StatusCode::PRECONDITION_FAILED
        );
        let lm = httpdate::fmt_http_date(object().last_modified);
        assert_eq!(
            get(&[(header::IF_MODIFIED_SINCE, &lm)]).status(),
            StatusCode::NOT_MODIFIED
        );
        let stale = get(&[(header::RANGE, "bytes=0-0"), (header::IF_RANGE, "\"old\"")]);
        assert_eq!(
            stale.status(),
            StatusCode::OK,
            "If-Range that fails sends everything"
        );
        let fresh = get(&[(header::RANGE, "bytes=0-0"), (header::IF_RANGE, "\"abc\"")]);
        assert_eq!(fresh.status(), StatusCode::PARTIAL_CONTENT);
    }
}

//! `/media/{id}/...` behaves like a good static server: HEAD, single ranges (206/416),
//! validators and conditional requests (304, If-Range), content types, CDN cache headers.

use crate::util::clips::small_clip;
use crate::util::*;

/// A server with one ready video; returns it with the path of its first segment.
fn ready_video() -> (Server, serde_json::Value, String) {
    let server = Server::new();
    let id = upload_ok(
        &server,
        &small_clip(),
        &[("heights", "180"), ("segment_seconds", "1")],
    );
    let video = wait_ready(&server, &id);
    let segment = format!(
        "/media/{id}/{}",
        video["renditions"][0]["segments"][0]["uri"].as_str().unwrap()
    );
    (server, video, segment)
}

#[test]
fn ranges_head_and_unsatisfiable_ranges() {
    let (server, _, segment) = ready_video();
    assert_ranges_and_head(&server, &segment, "video/iso.segment");
}

/// `path` (a file of at least 1000 bytes under `/media`) answers single ranges with 206
/// and `Content-Range`, unsatisfiable ones with 416, others with the whole file, and HEAD
/// like GET without the body. The S3 store's tests (`s3.rs`) hold it to the same.
pub(super) fn assert_ranges_and_head(server: &Server, path: &str, content_type: &str) {
    let full = server.get(path);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let len = full.body.len();
    assert!(len > 1000);
    assert_eq!(full.header("content-length"), Some(len.to_string().as_str()));

    let range = |spec: &str| server.request("GET", path, &[("Range", spec)], b"");
    let res = range("bytes=100-199");
    assert_eq!(res.status, 206);
    assert_eq!(
        res.header("content-range"),
        Some(format!("bytes 100-199/{len}").as_str())
    );
    assert_eq!(res.body, full.body[100..200]);
    let res = range("bytes=-50");
    assert_eq!(res.status, 206);
    assert_eq!(res.body, full.body[len - 50..]);
    let res = range(&format!("bytes={}-", len - 10));
    assert_eq!(res.status, 206);
    assert_eq!(res.body, full.body[len - 10..]);
    let res = range(&format!("bytes=1-{}", len * 2));
    assert_eq!(res.status, 206, "a last byte past the end is clamped");
    assert_eq!(
        res.header("content-range"),
        Some(format!("bytes 1-{}/{len}", len - 1).as_str())
    );
    assert_eq!(res.body, full.body[1..]);

    let res = range(&format!("bytes={len}-"));
    assert_eq!(res.status, 416);
    assert_eq!(
        res.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // Several ranges, or a range that does not parse: the whole file, as the RFC allows.
    for spec in ["bytes=0-9,20-29", "bytes=abc", "items=0-9"] {
        let res = range(spec);
        assert_eq!(res.status, 200, "{spec}");
        assert_eq!(res.body.len(), len, "{spec}");
    }

    let head = server.request("HEAD", path, &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(len.to_string().as_str()));
    assert_eq!(head.header("content-type"), Some(content_type));
    assert!(head.header("etag").is_some() && head.header("last-modified").is_some());
    let head = server.request("HEAD", path, &[("Range", "bytes=0-9")], b"");
    assert_eq!(head.status, 206);
    assert_eq!(head.header("content-length"), Some("10"));
}

#[test]
fn validators_and_conditional_requests() {
    let (server, _, segment) = ready_video();
    assert_validators_and_conditional_requests(&server, &segment);
}

/// `path` under `/media` has a strong ETag and a Last-Modified, and honours If-None-Match,
/// If-Modified-Since, If-Match and If-Range with them. The S3 store's tests (`s3.rs`) hold
/// it to the same.
pub(super) fn assert_validators_and_conditional_requests(server: &Server, path: &str) {
    let full = server.get(path);
    let etag = full.header("etag").unwrap().to_string();
    let modified = full.header("last-modified").unwrap().to_string();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");

    let get = |headers: &[(&str, &str)]| server.request("GET", path, headers, b"");
    let res = get(&[("If-None-Match", &etag)]);
    assert_eq!(res.status, 304);
    assert!(res.body.is_empty());
    assert_eq!(res.header("etag"), Some(etag.as_str()));
    assert_eq!(get(&[("If-None-Match", "\"other\"")]).status, 200);
    assert_eq!(get(&[("If-Modified-Since", &modified)]).status, 304);
    assert_eq!(
        get(&[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")]).status,
        200
    );
    assert_eq!(get(&[("If-Match", "\"other\"")]).status, 412);

    // If-Range: the range only when the validator still names this file.
    let res = get(&[("Range", "bytes=0-9"), ("If-Range", &etag)]);
    assert_eq!(res.status, 206);
    assert_eq!(res.body.len(), 10);
    let res = get(&[("Range", "bytes=0-9"), ("If-Range", &modified)]);
    assert_eq!(res.status, 206);
    for stale in ["\"changed\"", "W/\"weak\"", "Mon, 01 Jan 2001 00:00:00 GMT"] {
        let res = get(&[("Range", "bytes=0-9"), ("If-Range", stale)]);
        assert_eq!(res.status, 200, "If-Range: {stale}");
        assert_eq!(res.body, full.body);
    }
}

#[test]
fn content_types_and_cache_headers_fit_players_and_cdns() {
    let (server, video, segment) = ready_video();
    let id = video["id"].as_str().unwrap();
    let expect = [
        (
            format!("/media/{id}/master.m3u8"),
            "application/vnd.apple.mpegurl",
            "public, max-age=60",
        ),
        (
            format!("/media/{id}/180p/index.m3u8"),
            "application/vnd.apple.mpegurl",
            "public, max-age=60",
        ),
        (
            format!("/media/{id}/180p/init.mp4"),
            "video/mp4",
            "public, max-age=31536000, immutable",
        ),
        (
            segment,
            "video/iso.segment",
            "public, max-age=31536000, immutable",
        ),
        (
            format!("/media/{id}/poster.jpg"),
            "image/jpeg",
            "public, max-age=3600",
        ),
        (
            format!("/media/{id}/manifest.json"),
            "application/json",
            "public, max-age=60",
        ),
    ];
    for (path, content_type, cache) in expect {
        let res = server.request("HEAD", &path, &[], b"");
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-type"), Some(content_type), "{path}");
        assert_eq!(res.header("cache-control"), Some(cache), "{path}");
        assert!(res.header("content-disposition").is_none());
    }
    assert_error(
        &server,
        &server.get(&format!("/media/{id}/nothing.m3u8")),
        404,
        "not_found",
    );
    assert_error(
        &server,
        &server.get("/media/unknown/master.m3u8"),
        404,
        "not_found",
    );
    let res = server.request("POST", &format!("/media/{id}/master.m3u8"), &[], b"");
    assert_error(&server, &res, 405, "method_not_allowed");
}

//! Object storage (issue 10): `reel serve --store s3://BUCKET/PREFIX` against a real
//! S3-compatible server on loopback (`s3s-fs`, started by `util::s3`; never a mock of the
//! client), the whole upload → ladder → play path:
//!
//! * every object of a ladder is in the bucket under `{prefix}/{id}/` with its
//!   `Content-Type` and `Cache-Control`, and nothing of it in the scratch `--media`;
//! * no playlist names a missing object at any moment of a progressive transcode (polled
//!   every 100 ms while it runs), and no object served as long-lived changes afterwards;
//! * `/media` serves from the bucket with the semantics it has on disk (`media.rs`);
//! * `--public-media-url` points `links` and channel items at the bucket;
//! * DELETE leaves no object, ready or mid-transcode;
//! * a restart over a fresh scratch folder rebuilds the catalog from the bucket, and
//!   resumes an interrupted job from the source kept there;
//! * a store that goes away mid-transcode fails the video with a sentence, not a hang.
//!
//! Each test skips, saying so, where s3s-fs is not installed (`scripts/setup --test`).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use m3u8_rs::Playlist;

use super::media::{assert_ranges_and_head, assert_validators_and_conditional_requests};
use super::traversal::{assert_media_not_listed, assert_never_served};
use crate::util::clips::clip;
use crate::util::s3::{Bucket, Object, S3Server};
use crate::util::*;

/// Where reel keeps its objects in the test bucket: a prefix of two segments, so that keys
/// are judged below it, not at the bucket's root.
const PREFIX: &str = "site/videos";

/// Every test's segment length: short, so that small clips make several segments.
const SEGMENT_SECS: f64 = 2.0;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A reel over the bucket of `s3`, with `args` besides.
fn reel_on(s3: &S3Server, args: &[&str]) -> Server {
    Server::start(s3.serve_options(PREFIX, args))
}

/// s3s-fs, a reel over its bucket (with `args`) and a client of the bucket; `None` (and
/// the test `what` skips, saying so) where s3s-fs is not installed.
fn s3_and_reel(what: &str, args: &[&str]) -> Option<(S3Server, Server, Bucket)> {
    let s3 = S3Server::start(what)?;
    let server = reel_on(&s3, args);
    let bucket = s3.client();
    Some((s3, server, bucket))
}

/// The upload fields of most tests: `heights`, 2 s segments, `format`.
fn fields<'a>(heights: &'a str, format: &'a str) -> [(&'a str, &'a str); 3] {
    [("heights", heights), ("segment_seconds", "2"), ("format", format)]
}

/// The clip most tests upload: 6 s, 640x360 (two rungs: 360 and 240).
fn short_clip() -> std::path::PathBuf {
    clip("s3-short.mp4", 640, 360, 6.0)
}

/// A clip long enough that a test can act while its transcode runs.
fn long_clip() -> std::path::PathBuf {
    clip("long.mp4", 1280, 720, 10.0)
}

/// Uploads the long clip (two rungs) and waits until its job has stored a segment; returns
/// the video's id.
fn start_long_job(server: &Server, bucket: &Bucket) -> String {
    start_job(server, bucket, &long_clip())
}

/// [`start_long_job`] with another source.
fn start_job(server: &Server, bucket: &Bucket, source: &std::path::Path) -> String {
    let id = upload_ok(server, source, &fields("720,360", "fmp4"));
    wait_for("a first segment in the bucket", READY_TIMEOUT, || {
        let v = video(server, &id);
        assert!(
            matches!(v["status"].as_str(), Some("queued" | "processing")),
            "the job ended too soon for this test: {v}"
        );
        bucket
            .keys(&format!("{PREFIX}/{id}"))
            .iter()
            .any(|k| k.ends_with(".m4s"))
            .then_some(())
    });
    id
}

/// A copy of the MP4 `clip` with a `free` box of `extra` bytes after its boxes (every
/// reader skips it): a bigger source of the same media.
fn padded(clip: &std::path::Path, extra: usize) -> std::path::PathBuf {
    let out = clip.with_file_name(format!("padded-{extra}.mp4"));
    let mut bytes = std::fs::read(clip).unwrap();
    bytes.extend_from_slice(&u32::try_from(extra + 8).unwrap().to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.resize(bytes.len() + extra, 0);
    std::fs::write(&out, bytes).unwrap();
    out
}

/// The key of a path below a video's directory.
fn key(id: &str, path: &str) -> String {
    format!("{PREFIX}/{id}/{path}")
}

/// What a `Cache-Control` value allows a cache.
#[derive(Debug)]
struct Caching {
    max_age: Option<u64>,
    immutable: bool,
    no_cache: bool,
}

fn caching(value: &str) -> Caching {
    let directives: Vec<String> = value.split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
    Caching {
        max_age: directives
            .iter()
            .find_map(|d| d.strip_prefix("max-age=").and_then(|n| n.parse().ok())),
        immutable: directives.iter().any(|d| d == "immutable"),
        no_cache: directives.iter().any(|d| d == "no-cache" || d == "no-store"),
    }
}

/// Long-lived but not immutable: what a VOD playlist or a finished master may be cached
/// for (a minute or more).
fn assert_long_lived(object: &Object) {
    let value = object.cache_control.as_deref().unwrap_or("");
    let c = caching(value);
    assert!(
        !c.immutable && !c.no_cache && c.max_age.is_some_and(|s| s >= 60),
        "{} is finished: Cache-Control should be long-lived but not immutable, not {value:?}",
        object.key
    );
}

/// At most one segment duration, or revalidated: what a playlist that may still change
/// may be cached for.
fn assert_short_lived(object: &Object) {
    let value = object.cache_control.as_deref().unwrap_or("");
    let c = caching(value);
    assert!(
        !c.immutable && (c.no_cache || c.max_age.is_some_and(|s| s as f64 <= SEGMENT_SECS)),
        "{} may still change: Cache-Control should allow at most {SEGMENT_SECS} s, not {value:?}\n{}",
        object.key,
        object.text()
    );
}

/// Checks an object of a ready video by its name: `Content-Type`, and `Cache-Control`
/// (immutable media, long-lived playlists, a manifest that is never immutable).
fn assert_ready_object(object: &Object) {
    let name = object.key.rsplit('/').next().unwrap();
    assert!(
        !name.starts_with('.'),
        "a temp object in the bucket: {}",
        object.key
    );
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let content_type = match extension {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mp4" => "video/mp4",
        "m4s" => "video/iso.segment",
        "ts" => "video/mp2t",
        "jpg" => "image/jpeg",
        "json" => "application/json",
        "vtt" => "text/vtt",
        _ => panic!("an unexpected object in the bucket: {}", object.key),
    };
    // WebVTT is text: a charset parameter is welcome there.
    let stored = match extension {
        "vtt" => object
            .content_type
            .as_deref()
            .map(|t| t.split(';').next().unwrap_or(t)),
        _ => object.content_type.as_deref(),
    };
    assert_eq!(stored, Some(content_type), "{}", object.key);
    match extension {
        "mp4" | "m4s" | "ts" | "jpg" => {
            assert_eq!(object.cache_control.as_deref(), Some(IMMUTABLE), "{}", object.key)
        }
        "m3u8" => assert_long_lived(object),
        "json" => assert!(
            !object
                .cache_control
                .as_deref()
                .is_some_and(|c| caching(c).immutable),
            "{} changes with the video: it cannot be immutable ({:?})",
            object.key,
            object.cache_control
        ),
        _ => {}
    }
}

/// The paths (below the video's directory) of everything a ready video lists.
fn listed_paths(video: &serde_json::Value) -> BTreeSet<String> {
    let mut paths: BTreeSet<String> = ["master.m3u8", "manifest.json", "poster.jpg"]
        .iter()
        .map(|p| p.to_string())
        .collect();
    for rendition in video["renditions"].as_array().unwrap() {
        paths.insert(rendition["playlist"].as_str().unwrap().to_string());
        if let Some(init) = rendition["init"].as_str() {
            paths.insert(init.to_string());
        }
        for segment in rendition["segments"].as_array().unwrap() {
            paths.insert(segment["uri"].as_str().unwrap().to_string());
        }
    }
    paths
}

/// Files below `dir`, recursively (none when it does not exist).
fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| match e.path().is_dir() {
            true => files_below(&e.path()),
            false => vec![e.path()],
        })
        .collect()
}

/// Asserts the bucket holds every object `video` lists, each with its headers and the
/// bytes `/media` serves, and that the scratch folder holds none of them.
fn assert_stored(server: &Server, bucket: &Bucket, video: &serde_json::Value) {
    let id = video["id"].as_str().unwrap();
    let keys: BTreeSet<String> = bucket.keys(&format!("{PREFIX}/{id}")).into_iter().collect();
    for path in listed_paths(video) {
        assert!(
            keys.contains(&key(id, &path)),
            "{path} is not in the bucket; it holds {keys:#?}"
        );
    }
    for k in &keys {
        let object = bucket
            .get(k)
            .unwrap_or_else(|| panic!("{k} was listed, then not found"));
        assert_ready_object(&object);
        let path = k.strip_prefix(&format!("{PREFIX}/{id}/")).unwrap();
        let served = server.get(&format!("/media/{id}/{path}"));
        assert_eq!(served.status, 200, "/media/{id}/{path}");
        assert_eq!(served.body, object.bytes, "/media/{id}/{path} is not the object");
    }
    let media: Vec<_> = files_below(&server.media)
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy();
            [".m3u8", ".m4s", ".ts", "init.mp4", "poster.jpg", "manifest.json"]
                .iter()
                .any(|end| name.ends_with(end))
        })
        .collect();
    assert!(
        media.is_empty(),
        "with an S3 store the scratch folder holds video objects: {media:?}"
    );
}

#[test]
fn every_object_of_a_ladder_is_in_the_bucket_with_its_content_type_and_cache_control() {
    let Some((_s3, server, bucket)) = s3_and_reel("the S3 objects test", &[]) else {
        return;
    };
    let fmp4 = upload_ok(&server, &short_clip(), &fields("360,240", "fmp4"));
    let ts = upload_ok(&server, &short_clip(), &fields("240", "ts"));
    for id in [&fmp4, &ts] {
        let video = wait_ready(&server, id);
        check_ladder(&server, &video);
        assert_stored(&server, &bucket, &video);
        let master = bucket.get(&key(id, "master.m3u8")).unwrap();
        assert_long_lived(&master);
        assert_job_source_removed(&bucket, id);
    }
    let ts_keys = bucket.keys(&format!("{PREFIX}/{ts}"));
    assert!(ts_keys.iter().any(|k| k.ends_with(".ts")), "{ts_keys:?}");
    assert!(!ts_keys
        .iter()
        .any(|k| k.ends_with(".m4s") || k.ends_with("init.mp4")));
    // Nothing outside the prefix.
    let all = bucket.keys("");
    assert!(
        all.iter().all(|k| k.starts_with(&format!("{PREFIX}/"))),
        "objects outside {PREFIX}/: {all:?}"
    );
}

/// Waits (a little) for the job's source to leave `{prefix}/.jobs/{id}/` once the video
/// is ready or failed.
fn assert_job_source_removed(bucket: &Bucket, id: &str) {
    wait_for(
        "the job's source to leave the bucket",
        Duration::from_secs(10),
        || {
            bucket
                .keys(&format!("{PREFIX}/.jobs/{id}"))
                .is_empty()
                .then_some(())
        },
    );
}

/// Every URI a playlist names, resolved against the playlist's directory (below the
/// video's): media playlists and alternatives of a master, segments and maps of a media
/// playlist.
fn named_paths(dir: &str, playlist: &Playlist) -> Vec<String> {
    let join = |uri: &str| match dir {
        "" => uri.to_string(),
        _ => format!("{dir}/{uri}"),
    };
    match playlist {
        Playlist::MasterPlaylist(m) => m
            .variants
            .iter()
            .map(|v| join(&v.uri))
            .chain(m.alternatives.iter().filter_map(|a| a.uri.as_deref().map(join)))
            .collect(),
        Playlist::MediaPlaylist(p) => p
            .segments
            .iter()
            .flat_map(|s| s.map.iter().map(|m| join(&m.uri)).chain([join(&s.uri)]))
            .collect(),
    }
}

/// What the looks at a transcode in progress found.
struct Watch<'a> {
    bucket: &'a Bucket,
    id: String,
    /// Looks at which the master answered while the video was still processing.
    looks_while_processing: usize,
    /// Objects seen served as long-lived or immutable, with their bytes then: a CDN keeps
    /// them, so they must never change.
    long_lived: HashMap<String, Vec<u8>>,
    /// The job's source was seen at `{prefix}/.jobs/{id}/source.mp4`.
    saw_source: bool,
}

impl Watch<'_> {
    /// Parses the playlist at `path` (below the video's directory) as `bytes` and asserts
    /// that every object it names is in the bucket now; returns the paths it names.
    /// `whence` says where it was read and the video's status then, for a failure.
    fn assert_names_only_stored(&self, path: &str, bytes: &[u8], whence: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        let playlist = m3u8_rs::parse_playlist_res(bytes)
            .unwrap_or_else(|e| panic!("{path} ({whence}) does not parse ({e:?}):\n{text}"));
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let named = named_paths(dir, &playlist);
        for named_path in &named {
            assert!(
                self.bucket.exists(&key(&self.id, named_path)),
                "{path} ({whence}) names {named_path}, which is not in the bucket:\n{text}"
            );
        }
        named
    }

    /// Reads a playlist object from the bucket and judges its `Cache-Control` against what
    /// it says (an EVENT playlist may change, a VOD one may not) and against what was seen
    /// before (a long-lived object never changes); returns it.
    fn judge_playlist_object(&mut self, path: &str, finished: bool) -> Object {
        let k = key(&self.id, path);
        let object = self
            .bucket
            .get(&k)
            .unwrap_or_else(|| panic!("{k} is named but not in the bucket"));
        if let Some(before) = self.long_lived.get(&k) {
            assert_eq!(
                before,
                &object.bytes,
                "{k} was stored as long-lived, then changed: caches keep the old one\nnow:\n{}",
                object.text()
            );
        }
        if finished {
            assert_long_lived(&object);
        } else if path != "master.m3u8" && !object.text().contains("#EXT-X-ENDLIST") {
            assert_short_lived(&object);
        }
        let c = caching(object.cache_control.as_deref().unwrap_or(""));
        if c.immutable || c.max_age.is_some_and(|s| s >= 60) {
            self.long_lived.insert(k, object.bytes.clone());
        }
        object
    }

    /// One look: the master and every playlist it names, through `/media` as a player
    /// reads them and straight from the bucket as a player at `--public-media-url` does;
    /// everything each names must be stored. False while there is no master yet.
    fn look(&mut self, server: &Server, status: &str) -> bool {
        let finished = status == "ready";
        let id = self.id.clone();
        let master = server.get(&format!("/media/{id}/master.m3u8"));
        if master.status == 404 && !finished {
            return false;
        }
        assert_eq!(master.status, 200, "{}", master.text());
        // Read, then looked for in the bucket: objects are only added while a job runs,
        // so one missing now was missing when the playlist named it.
        let whence = format!("through /media, {status}");
        let playlists = self.assert_names_only_stored("master.m3u8", &master.body, &whence);
        for path in &playlists {
            let res = server.get(&format!("/media/{id}/{path}"));
            assert_eq!(res.status, 200, "{path}");
            self.assert_names_only_stored(path, &res.body, &whence);
        }
        let whence = format!("in the bucket, {status}");
        for path in std::iter::once("master.m3u8").chain(playlists.iter().map(String::as_str)) {
            let object = self.judge_playlist_object(path, finished);
            self.assert_names_only_stored(path, &object.bytes, &whence);
        }
        true
    }
}

#[test]
fn no_playlist_names_a_missing_object_at_any_moment_of_a_progressive_transcode() {
    let Some((_s3, server, bucket)) = s3_and_reel("the S3 progressive test", &[]) else {
        return;
    };
    let id = upload_ok(&server, &long_clip(), &fields("720,360", "fmp4"));
    let mut watch = Watch {
        bucket: &bucket,
        id: id.clone(),
        looks_while_processing: 0,
        long_lived: HashMap::new(),
        saw_source: false,
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "the video was not ready in time");
        // The status first: whatever is read after it is at least that far along.
        let status = video(&server, &id)["status"].as_str().unwrap().to_string();
        assert_ne!(status, "failed", "{}", video(&server, &id));
        if status == "ready" {
            watch.look(&server, &status);
            break;
        }
        if bucket.exists(&format!("{PREFIX}/.jobs/{id}/source.mp4")) {
            watch.saw_source = true;
        }
        if watch.look(&server, &status) {
            watch.looks_while_processing += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{} looks at the playlists while the video was processing",
        watch.looks_while_processing
    );
    assert!(
        watch.looks_while_processing > 0,
        "the job ended before its playlists could be judged while it ran"
    );
    assert!(
        watch.saw_source,
        "the job's source was never at {PREFIX}/.jobs/{id}/source.mp4 while it ran"
    );
    let video = wait_ready(&server, &id);
    check_ladder(&server, &video);
    assert_stored(&server, &bucket, &video);
    assert_job_source_removed(&bucket, &id);
}

#[test]
fn media_serves_from_the_bucket_with_ranges_validators_and_no_way_out() {
    let Some((_s3, server, bucket)) = s3_and_reel("the S3 /media semantics test", &[]) else {
        return;
    };
    // Objects a path that escapes the video's directory or the prefix could reach.
    bucket.put(
        "secret.txt",
        b"TOP SECRET: the bucket's root".to_vec(),
        "text/plain",
    );
    bucket.put(
        "site/secret.txt",
        b"TOP SECRET: beside the prefix".to_vec(),
        "text/plain",
    );
    let id = upload_ok(&server, &short_clip(), &fields("360", "fmp4"));
    let video = wait_ready(&server, &id);
    let segment = format!(
        "/media/{id}/{}",
        video["renditions"][0]["segments"][0]["uri"].as_str().unwrap()
    );
    assert_ranges_and_head(&server, &segment, "video/iso.segment");
    assert_ranges_and_head(&server, &format!("/media/{id}/poster.jpg"), "image/jpeg");
    for path in [
        segment.clone(),
        format!("/media/{id}/360p/init.mp4"),
        format!("/media/{id}/360p/index.m3u8"),
        format!("/media/{id}/master.m3u8"),
        format!("/media/{id}/poster.jpg"),
    ] {
        assert_validators_and_conditional_requests(&server, &path);
    }

    // A job's source is kept in the bucket while it runs: never served.
    let running = upload_ok(&server, &long_clip(), &fields("720,360", "fmp4"));
    let source = format!("{PREFIX}/.jobs/{running}/source.mp4");
    wait_for(&format!("{source} while the job runs"), READY_TIMEOUT, || {
        let v = crate::util::video(&server, &running);
        assert_ne!(v["status"], "ready", "the job ended too soon for this test");
        bucket.exists(&source).then_some(())
    });
    let hostile = [
        "/media/../secret.txt".to_string(),
        "/media/%2e%2e/secret.txt".into(),
        "/media/%2e%2e/%2e%2e/secret.txt".into(),
        format!("/media/{id}/../../secret.txt"),
        format!("/media/{id}/%2e%2e/%2e%2e/secret.txt"),
        format!("/media/{id}/%2e%2e/%2e%2e/%2e%2e/secret.txt"),
        format!("/media/{id}/..%2f..%2f..%2fsecret.txt"),
        format!("/media/{id}/%252e%252e/%252e%252e/secret.txt"),
        "/media//secret.txt".into(),
        "/media/%2fsecret.txt".into(),
        format!("/media/.jobs/{running}/source.mp4"),
        format!("/media/%2ejobs/{running}/source.mp4"),
        format!("/media/{id}/master.m3u8%00.txt"),
    ];
    assert_never_served(&server, &hostile);
    assert_error(
        &server,
        &server.get(&format!("/media/{id}/nothing.m3u8")),
        404,
        "not_found",
    );
    // No listing: a "directory" of the bucket is no object.
    assert_media_not_listed(&server, &id, "360p");
}

/// A URL's address and path (`http://127.0.0.1:PORT/path` only).
fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not a plain http URL: {url}"));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.parse().unwrap(), format!("/{path}"))
}

#[test]
fn public_media_url_points_links_and_channel_items_at_the_bucket() {
    let Some(mut s3) = S3Server::start("the S3 public URL test") else {
        return;
    };
    // The bucket as a public-read endpoint (a keyless s3s-fs over the same files):
    // what a public bucket or a CDN in front of it is.
    let public = format!("{}/{PREFIX}", s3.serve_anonymously());
    let server = reel_on(&s3, &["--public-media-url", &public]);
    let id = upload_ok(&server, &short_clip(), &fields("360,240", "fmp4"));
    let video = wait_ready(&server, &id);
    let links = &video["links"];
    for (link, path, content_type) in [
        ("master", "master.m3u8", "application/vnd.apple.mpegurl"),
        ("manifest", "manifest.json", "application/json"),
        ("poster", "poster.jpg", "image/jpeg"),
    ] {
        let url = links[link].as_str().unwrap();
        assert_eq!(url, format!("{public}/{id}/{path}"), "links.{link}");
        let (addr, target) = split_url(url);
        let res = crate::util::client::get(addr, &target);
        assert_eq!(res.status, 200, "{url}: {}", res.text());
        assert_eq!(res.header("content-type"), Some(content_type), "{url}");
    }
    // Everything the master names resolves below the public URL as it does below /media.
    let (addr, target) = split_url(links["master"].as_str().unwrap());
    let base = target.strip_suffix("/master.m3u8").unwrap();
    let master = crate::util::client::get(addr, &target);
    let parsed = m3u8_rs::parse_playlist_res(&master.body).unwrap();
    for playlist_path in named_paths("", &parsed) {
        let playlist = crate::util::client::get(addr, &format!("{base}/{playlist_path}"));
        let res = server.get(&format!("/media/{id}/{playlist_path}"));
        assert_eq!(playlist.status, 200, "{playlist_path}");
        assert_eq!(playlist.body, res.body, "{playlist_path}");
        let media = m3u8_rs::parse_playlist_res(&playlist.body).unwrap();
        let dir = playlist_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        for path in named_paths(dir, &media) {
            let public_bytes = crate::util::client::get(addr, &format!("{base}/{path}"));
            assert_eq!(public_bytes.status, 200, "{path}");
            assert_eq!(public_bytes.header("cache-control"), Some(IMMUTABLE), "{path}");
            assert_eq!(public_bytes.body, server.get(&format!("/media/{id}/{path}")).body);
        }
    }
    // /media still serves the same video.
    assert_eq!(server.get(&format!("/media/{id}/master.m3u8")).status, 200);
    let item = wait_for("channel main to list the upload", Duration::from_secs(20), || {
        let channel = server.get("/api/channels/main").json();
        channel["items"].as_array().and_then(|i| i.first().cloned())
    });
    assert_eq!(item["url"], format!("{public}/{id}/master.m3u8"), "{item}");
}

#[test]
fn delete_leaves_no_object_of_a_ready_video() {
    let Some((_s3, server, bucket)) = s3_and_reel("the S3 DELETE test", &[]) else {
        return;
    };
    let id = upload_ok(&server, &short_clip(), &fields("360,240", "fmp4"));
    let kept = upload_ok(&server, &short_clip(), &fields("240", "fmp4"));
    wait_ready(&server, &id);
    wait_ready(&server, &kept);
    assert!(!bucket.keys(&format!("{PREFIX}/{id}")).is_empty());
    let res = server.request("DELETE", &format!("/api/videos/{id}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    assert_eq!(bucket.keys(&format!("{PREFIX}/{id}")), Vec::<String>::new());
    assert_eq!(bucket.keys(&format!("{PREFIX}/.jobs/{id}")), Vec::<String>::new());
    assert_eq!(server.get(&format!("/api/videos/{id}")).status, 404);
    assert_eq!(server.get(&format!("/media/{id}/master.m3u8")).status, 404);
    // The other video is whole.
    assert_stored(&server, &bucket, &video(&server, &kept));
}

#[test]
fn delete_mid_transcode_leaves_no_object_and_none_comes_back() {
    let Some((_s3, server, bucket)) = s3_and_reel("the S3 DELETE-while-processing test", &[]) else {
        return;
    };
    let id = start_long_job(&server, &bucket);
    let res = server.request("DELETE", &format!("/api/videos/{id}"), &[], b"");
    assert_eq!(res.status, 204, "{}", res.text());
    let gone = |prefix: String| {
        wait_for(&format!("{prefix}/ to be empty"), Duration::from_secs(10), || {
            bucket.keys(&prefix).is_empty().then_some(())
        })
    };
    gone(format!("{PREFIX}/{id}"));
    gone(format!("{PREFIX}/.jobs/{id}"));
    // The stopped job writes nothing more.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(bucket.keys(&format!("{PREFIX}/{id}")), Vec::<String>::new());
    assert_eq!(bucket.keys(&format!("{PREFIX}/.jobs/{id}")), Vec::<String>::new());
    assert_eq!(server.get(&format!("/api/videos/{id}")).status, 404);
}

#[test]
fn a_restart_over_a_fresh_scratch_folder_rebuilds_the_catalog_from_the_bucket() {
    let Some((s3, mut first, bucket)) = s3_and_reel("the S3 restart test", &[]) else {
        return;
    };
    let fmp4 = upload_ok(&first, &short_clip(), &fields("360,240", "fmp4"));
    let ts = upload_ok(&first, &short_clip(), &fields("240", "ts"));
    wait_ready(&first, &fmp4);
    wait_ready(&first, &ts);
    let before = first.get("/api/videos").json();
    first.kill();

    // Another process, another scratch folder: only the bucket is shared.
    let second = reel_on(&s3, &[]);
    assert_ne!(second.media, first.media);
    assert_eq!(second.get("/api/videos").json(), before);
    for video in before["videos"].as_array().unwrap() {
        assert_eq!(video["status"], "ready");
        check_ladder(&second, video);
        assert_stored(&second, &bucket, video);
    }
}

#[test]
fn a_job_killed_mid_transcode_resumes_from_the_bucket_after_a_restart_elsewhere() {
    let Some((s3, mut first, bucket)) = s3_and_reel("the S3 resume test", &[]) else {
        return;
    };
    // Padded past the size where sources go up in parts (16 MiB, 8 MiB parts): the copy
    // the second process resumes from is a multipart upload of four parts.
    let source = padded(&long_clip(), 26 << 20);
    let id = start_job(&first, &bucket, &source);
    // The copy goes up beside the transcode; `job.json` follows the source.
    wait_for("the job's files in the bucket", READY_TIMEOUT, || {
        bucket
            .exists(&format!("{PREFIX}/.jobs/{id}/job.json"))
            .then_some(())
    });
    first.kill();
    let copy = bucket
        .get(&format!("{PREFIX}/.jobs/{id}/source.mp4"))
        .unwrap_or_else(|| {
            panic!(
                "the interrupted job's source is not in the bucket: {:?}",
                bucket.keys(&format!("{PREFIX}/.jobs"))
            )
        });
    assert!(
        copy.bytes == std::fs::read(&source).unwrap(),
        "the bucket's copy differs"
    );

    let second = reel_on(&s3, &[]);
    let video = wait_ready(&second, &id);
    check_ladder(&second, &video);
    assert!((video["duration"].as_f64().unwrap() - 10.0).abs() < 0.2);
    assert_stored(&second, &bucket, &video);
    assert_job_source_removed(&bucket, &id);
}

#[test]
fn a_store_that_goes_away_mid_transcode_fails_the_video_with_a_sentence_not_a_hang() {
    let store_timeout = ["--store-timeout-seconds", "5"];
    let Some((mut s3, server, bucket)) = s3_and_reel("the S3 store-gone test", &store_timeout) else {
        return;
    };
    let id = start_long_job(&server, &bucket);
    s3.kill();
    let killed = Instant::now();
    // The store's 5 s of retries, the rest of the segment being encoded, and a loaded
    // two-core runner: a minute is generous; a hang never ends.
    let failed = wait_for("the video to fail", Duration::from_secs(60), || {
        let v = video(&server, &id);
        match v["status"].as_str() {
            Some("failed") => Some(v),
            Some("ready") => panic!("the video became ready with its store gone: {v}"),
            _ => None,
        }
    });
    let error = failed["error"].as_str().expect("an error sentence");
    eprintln!(
        "failed {:.1} s after the store went away: {error}",
        killed.elapsed().as_secs_f64()
    );
    assert!(
        error.len() > 10 && error.to_lowercase().contains("store"),
        "the error should say that the store failed: {error:?}"
    );
    for leak in ["/tmp", "panicked", "src/"] {
        assert!(!error.contains(leak), "the error leaks {leak:?}: {error}");
    }
    // The server keeps answering.
    assert_eq!(server.get("/healthz").status, 200);
    let listed = server.get("/api/videos").json();
    assert_eq!(listed["videos"][0]["status"], "failed", "{listed}");

    // Once the store is back, uploads work again.
    s3.restart();
    let again = upload_ok(&server, &short_clip(), &fields("240", "fmp4"));
    let video = wait_ready(&server, &again);
    assert_stored(&server, &bucket, &video);
}

#[test]
fn a_file_store_url_is_the_media_root() {
    let mut first = Server::new();
    let id = upload_ok(&first, &short_clip(), &fields("240", "fmp4"));
    let before = wait_ready(&first, &id);
    first.kill();
    let url = format!("file://{}", first.media.display());
    let second = first.another(Options::args(&["--store", &url]));
    assert_eq!(
        second.get("/api/videos").json()["videos"],
        serde_json::json!([before])
    );
    let id = upload_ok(&second, &short_clip(), &fields("240", "fmp4"));
    wait_ready(&second, &id);
    assert!(first.media.join(&id).join("master.m3u8").is_file());
}

/// A bucket that goes away while players read: the first read that fails waits out the
/// store's retries, the next ones answer 503 at once (not each after the same wait), what
/// the memory cache holds is served all along, `/metrics` says so, and reads work again
/// within about a second of the bucket's return.
#[test]
fn media_reads_fail_at_once_while_the_bucket_is_away_and_come_back_with_it() {
    let store_timeout = ["--store-timeout-seconds", "3"];
    let Some((mut s3, server, _bucket)) = s3_and_reel("the S3 outage test", &store_timeout) else {
        return;
    };
    let id = upload_ok(&server, &short_clip(), &fields("240", "fmp4"));
    let video = wait_ready(&server, &id);
    let master = video["links"]["master"].as_str().unwrap().to_string();
    let segment = format!("/media/{id}/240p/seg00000.m4s");
    assert_eq!(server.get(&segment).status, 200); // now in the memory cache
    let outage = || crate::live::metric(&server, "reel_store_outage");
    assert_eq!(outage(), 0.0);
    let health = || server.get("/healthz").json();
    assert_eq!(health(), serde_json::json!({"status": "ok", "store": "ok"}));

    s3.kill();
    std::thread::sleep(Duration::from_millis(1200)); // past the playlist's second in cache
    let asked = Instant::now();
    let first = server.get(&master);
    let first_took = asked.elapsed();
    assert_error(&server, &first, 503, "store_unavailable");
    let mut fast = Vec::new();
    for _ in 0..5 {
        let asked = Instant::now();
        let res = server.get(&master);
        fast.push(asked.elapsed());
        assert_error(&server, &res, 503, "store_unavailable");
        assert!(res.header("retry-after").is_some());
    }
    eprintln!("bucket away: the first read failed after {first_took:?}, the next ones after {fast:?}");
    assert!(
        fast.iter().all(|t| *t < Duration::from_millis(500)),
        "reads should fail at once during an outage: {fast:?}"
    );
    assert_eq!(
        server.get(&segment).status,
        200,
        "the cached segment is still served"
    );
    assert_eq!(outage(), 1.0);
    assert_eq!(
        health(),
        serde_json::json!({"status": "ok", "store": "away"}),
        "still ok: what exists is served"
    );

    s3.restart();
    let back = Instant::now();
    wait_for("the master again", Duration::from_secs(10), || {
        (server.get(&master).status == 200).then_some(())
    });
    eprintln!(
        "reads worked again {:?} after the bucket's return",
        back.elapsed()
    );
    assert_eq!(outage(), 0.0);
}

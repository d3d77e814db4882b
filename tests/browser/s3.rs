//! hls.js in Chromium plays a video stored in S3 (issue 10): `reel serve --store
//! s3://BUCKET/PREFIX --public-media-url URL` over a real s3s-fs (`util::s3`), one ready
//! fMP4 ladder, then `node tests/browser/s3.mjs`, which plays it through reel's `/media`
//! and through the public URL.
//!
//! The public URL is the bucket itself: s3s-fs answers unsigned requests only when it has
//! no keys, so a second, keyless s3s-fs serves the same files (a public-read bucket) while
//! reel writes through the signed one; no proxy stands between Chromium and either. s3s-fs
//! has no CORS (a bucket needs a CORS rule before a page elsewhere can play from it), so
//! the test page is put on the bucket's own origin (Playwright answers the page's own files
//! there) rather than switching the browser's web security off. Screenshots
//! (`media-hlsjs.png`, `public-hlsjs.png`) and the log (`s3.log`) land in
//! `target/screenshots/s3/`. Skips where the browser or s3s-fs is missing.

use std::time::Duration;

use crate::util::browser::{can_run, run_script, screenshots};
use crate::util::clips::clip;
use crate::util::s3::S3Server;
use crate::util::*;

const PREFIX: &str = "cdn/videos";

#[test]
fn hlsjs_plays_an_s3_stored_video_through_media_and_through_the_public_url() {
    if !can_run("the S3 browser test") {
        return;
    }
    let Some(mut s3) = S3Server::start("the S3 browser test") else {
        return;
    };
    let public = format!("{}/{PREFIX}", s3.serve_anonymously());
    let server = Server::start(s3.serve_options(PREFIX, &["--public-media-url", &public]));
    let id = upload_ok(
        &server,
        &clip("s3-browser.mp4", 640, 360, 8.0),
        &[("heights", "360,240"), ("segment_seconds", "2")],
    );
    let video = wait_ready(&server, &id);
    let public_master = video["links"]["master"].as_str().unwrap();
    assert_eq!(public_master, format!("{public}/{id}/master.m3u8"));
    let shots = screenshots("s3");
    let log = server.dir.join("s3-browser.log");
    run_script(
        "s3.mjs",
        &[
            shots.clone().into_os_string(),
            format!("http://{}/media/{id}/master.m3u8", server.addr).into(),
            public_master.into(),
        ],
        &log,
        Duration::from_secs(180),
    );
    std::fs::copy(&log, shots.join("s3.log")).expect("copying the browser log");
}

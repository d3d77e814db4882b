//! Checks a finished ladder the way a player would meet it: master playlist, every media
//! playlist, every init and media segment, each fetched over HTTP and judged by m3u8-rs
//! and ffprobe.

use m3u8_rs::{MediaPlaylistType, Playlist};

use super::clips::first_video_frame;
use super::server::Server;

/// Fetches and checks everything a ready video lists; returns the number of segments.
pub fn check_ladder(server: &Server, video: &serde_json::Value) -> usize {
    let id = video["id"].as_str().unwrap();
    let base = format!("/media/{id}/");
    let master = server.get(video["links"]["master"].as_str().unwrap());
    assert_eq!(master.status, 200);
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let Ok(Playlist::MasterPlaylist(master)) = m3u8_rs::parse_playlist_res(&master.body) else {
        panic!("not a master playlist: {}", master.text());
    };
    let renditions = video["renditions"].as_array().unwrap();
    // With surround renditions every variant is listed twice, the stereo listing first:
    // the second names the surround group.
    let (surround, stereo): (Vec<_>, Vec<_>) = master
        .variants
        .iter()
        .partition(|v| v.audio.as_deref() == Some("audio-surround"));
    assert_eq!(stereo.len(), renditions.len());
    assert!(surround.is_empty() || surround.len() == stereo.len());
    assert!(master.variants[..stereo.len()]
        .iter()
        .all(|v| v.audio.as_deref() != Some("audio-surround")));
    for (s, v) in surround.iter().zip(&stereo) {
        assert_eq!((&s.uri, &s.resolution), (&v.uri, &v.resolution));
    }
    let format = video["format"].as_str().unwrap();
    let duration = video["duration"].as_f64().unwrap();
    let mut count = 0;
    for (variant, rendition) in stereo.iter().zip(renditions) {
        assert_eq!(variant.uri, rendition["playlist"].as_str().unwrap());
        let res = server.get(&format!("{base}{}", variant.uri));
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("application/vnd.apple.mpegurl"));
        let Ok(Playlist::MediaPlaylist(media)) = m3u8_rs::parse_playlist_res(&res.body) else {
            panic!("not a media playlist: {}", res.text());
        };
        assert!(media.end_list, "a ready playlist ends with ENDLIST");
        assert_eq!(media.playlist_type, Some(MediaPlaylistType::Vod));
        crate::judge::assert_within_target_duration(&media);
        let listed: f64 = media.segments.iter().map(|s| f64::from(s.duration)).sum();
        assert!(
            (listed - duration).abs() < 0.1,
            "playlist {listed}s vs video {duration}s"
        );
        let dir = format!(
            "{base}{}",
            variant.uri.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
        );
        let init = match format {
            "fmp4" => {
                let map = media.segments[0].map.as_ref().expect("EXT-X-MAP in fMP4");
                let res = server.get(&format!("{dir}/{}", map.uri));
                assert_eq!(res.status, 200);
                assert_eq!(res.header("content-type"), Some("video/mp4"));
                assert_eq!(
                    res.header("cache-control"),
                    Some("public, max-age=31536000, immutable")
                );
                res.body
            }
            _ => Vec::new(),
        };
        let expected = rendition["segments"].as_array().unwrap();
        assert_eq!(media.segments.len(), expected.len());
        for (segment, listed) in media.segments.iter().zip(expected) {
            let res = server.get(&format!("{dir}/{}", segment.uri));
            assert_eq!(res.status, 200, "{}", segment.uri);
            let content_type = if format == "fmp4" {
                "video/iso.segment"
            } else {
                "video/mp2t"
            };
            assert_eq!(res.header("content-type"), Some(content_type));
            assert_eq!(
                res.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            assert_eq!(res.body.len() as u64, listed["bytes"].as_u64().unwrap());
            let file = tempfile::Builder::new()
                .suffix(if format == "fmp4" { ".mp4" } else { ".ts" })
                .tempfile()
                .unwrap();
            std::fs::write(file.path(), [init.as_slice(), &res.body].concat()).unwrap();
            let (key, pict, _) = first_video_frame(file.path());
            assert!(
                key && pict == "I",
                "{} starts with a {pict} frame, not a keyframe",
                segment.uri
            );
            count += 1;
        }
    }
    count
}

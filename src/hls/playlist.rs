//! Media and master playlists (RFC 8216), rendered by `m3u8-rs` and written atomically.
//!
//! While a job runs, media playlists are `EVENT` playlists that grow one segment at a
//! time, so a player can start before the ladder is done; the last write turns them into
//! `VOD` with `EXT-X-ENDLIST`. An `EVENT` playlist says `EXT-X-START:TIME-OFFSET=0`:
//! without it a player treats a playlist with no `ENDLIST` as live and starts near its end
//! (RFC 8216 §6.3.3), skipping the start of the video.

use m3u8_rs::{
    Map, MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, Resolution, Start, VariantStream,
};

use super::{Rendition, SegmentFormat};
use crate::storage::{Freshness, VideoObjects};

/// Renders a rendition's media playlist. URIs in it are relative to the playlist's own
/// directory, so the rendition's `rung/` prefix is stripped.
pub fn media_playlist(r: &Rendition, format: SegmentFormat, segment_seconds: f64, done: bool) -> Vec<u8> {
    let strip = |uri: &str| uri.rsplit('/').next().unwrap_or(uri).to_string();
    let longest = r.segments.iter().map(|s| s.duration).fold(0.0, f64::max);
    let target = segment_seconds.ceil().max(longest.round()).max(1.0) as u64;
    let mut segments: Vec<MediaSegment> = r
        .segments
        .iter()
        .map(|s| MediaSegment {
            uri: strip(&s.uri),
            duration: s.duration as f32,
            ..Default::default()
        })
        .collect();
    if let (Some(first), Some(init)) = (segments.first_mut(), r.init.as_deref()) {
        first.map = Some(Map {
            uri: strip(init),
            ..Default::default()
        });
    }
    let playlist = MediaPlaylist {
        version: Some(format.hls_version()),
        target_duration: target,
        media_sequence: 0,
        segments,
        end_list: done,
        playlist_type: Some(if done {
            MediaPlaylistType::Vod
        } else {
            MediaPlaylistType::Event
        }),
        independent_segments: true,
        start: (!done).then(|| Start {
            time_offset: 0.0,
            precise: None,
            other_attributes: Default::default(),
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    playlist.write_to(&mut out).expect("writing to a Vec cannot fail");
    out
}

/// Renders the master playlist: one variant per rendition, largest first.
pub fn master_playlist(renditions: &[Rendition], format: SegmentFormat) -> Vec<u8> {
    let variants = renditions
        .iter()
        .map(|r| VariantStream {
            uri: r.playlist.clone(),
            bandwidth: r.bandwidth,
            average_bandwidth: (r.average_bandwidth > 0).then_some(r.average_bandwidth),
            codecs: Some(r.codecs.clone()),
            resolution: Some(Resolution {
                width: u64::from(r.width),
                height: u64::from(r.picture_height),
            }),
            frame_rate: (r.frame_rate > 0.0).then_some((r.frame_rate * 1000.0).round() / 1000.0),
            ..Default::default()
        })
        .collect();
    let playlist = MasterPlaylist {
        version: Some(format.hls_version()),
        variants,
        independent_segments: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    playlist.write_to(&mut out).expect("writing to a Vec cannot fail");
    out
}

/// Stores a rendition's media playlist: an `EVENT` playlist kept briefly by caches while
/// the job runs, a `VOD` one once `done`.
pub fn write_media(
    out: &VideoObjects,
    r: &Rendition,
    format: SegmentFormat,
    segment_seconds: f64,
    done: bool,
) -> std::io::Result<()> {
    out.put(
        &r.playlist,
        media_playlist(r, format, segment_seconds, done),
        if done {
            Freshness::Finished
        } else {
            Freshness::Growing
        },
    )
}

/// Stores `master.m3u8`; `done` once every playlist it names is final.
pub fn write_master(
    out: &VideoObjects,
    renditions: &[Rendition],
    format: SegmentFormat,
    done: bool,
) -> std::io::Result<()> {
    out.put(
        "master.m3u8",
        master_playlist(renditions, format),
        if done {
            Freshness::Finished
        } else {
            Freshness::Growing
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::Segment;

    fn rendition() -> Rendition {
        Rendition {
            height: 360,
            width: 640,
            picture_height: 360,
            bandwidth: 900_000,
            average_bandwidth: 0,
            codecs: "avc1.64001e,mp4a.40.2".into(),
            frame_rate: 30.0,
            playlist: "360p/index.m3u8".into(),
            init: Some("360p/init.mp4".into()),
            segments: vec![
                Segment {
                    uri: "360p/seg00000.m4s".into(),
                    duration: 4.0,
                    bytes: 1000,
                },
                Segment {
                    uri: "360p/seg00001.m4s".into(),
                    duration: 1.5,
                    bytes: 500,
                },
            ],
        }
    }

    #[test]
    fn event_then_vod_parses_back() {
        let r = rendition();
        let text = media_playlist(&r, SegmentFormat::Fmp4, 4.0, false);
        let s = String::from_utf8(text.clone()).unwrap();
        assert!(s.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{s}");
        assert!(!s.contains("ENDLIST"));
        assert!(s.contains("#EXT-X-MAP:URI=\"init.mp4\""), "{s}");
        assert!(s.contains("#EXT-X-START:TIME-OFFSET=0"), "{s}");
        let done = String::from_utf8(media_playlist(&r, SegmentFormat::Fmp4, 4.0, true)).unwrap();
        assert!(done.contains("#EXT-X-PLAYLIST-TYPE:VOD") && done.contains("#EXT-X-ENDLIST"));
        assert!(!done.contains("EXT-X-START"), "{done}");
        match m3u8_rs::parse_playlist_res(done.as_bytes()).unwrap() {
            m3u8_rs::Playlist::MediaPlaylist(p) => {
                assert_eq!(p.segments.len(), 2);
                assert_eq!(p.target_duration, 4);
                assert_eq!(p.segments[1].uri, "seg00001.m4s");
            }
            _ => panic!("not a media playlist"),
        }
    }

    #[test]
    fn master_lists_variants_with_codecs() {
        let s = String::from_utf8(master_playlist(&[rendition()], SegmentFormat::Fmp4)).unwrap();
        assert!(s.contains("BANDWIDTH=900000"), "{s}");
        assert!(s.contains("CODECS=\"avc1.64001e,mp4a.40.2\""), "{s}");
        assert!(s.contains("RESOLUTION=640x360"), "{s}");
        assert!(s.contains("360p/index.m3u8"));
    }
}

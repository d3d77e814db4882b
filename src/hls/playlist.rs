//! Media and master playlists (RFC 8216), rendered by `m3u8-rs` and written atomically.
//!
//! While a job runs, media playlists are `EVENT` playlists that grow one segment at a
//! time, so a player can start before the ladder is done; the last write turns them into
//! `VOD` with `EXT-X-ENDLIST`. An `EVENT` playlist says `EXT-X-START:TIME-OFFSET=0`:
//! without it a player treats a playlist with no `ENDLIST` as live and starts near its end
//! (RFC 8216 §6.3.3), skipping the start of the video.

use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, Map, MasterPlaylist, MediaPlaylist, MediaPlaylistType,
    MediaSegment, Resolution, Start, VariantStream,
};

use super::{AudioRendition, Rendition, Segment, SegmentFormat, SubtitleRendition};
use crate::storage::{Freshness, VideoObjects};

/// `GROUP-ID` of the (stereo) audio renditions every variant names.
pub const AUDIO_GROUP: &str = "audio";
/// `GROUP-ID` of the surround (AC-3 5.1) renditions, named by a second listing of every
/// variant.
pub const SURROUND_GROUP: &str = "audio-surround";
/// `GROUP-ID` of the subtitle renditions every variant names.
pub const SUBTITLE_GROUP: &str = "subs";
/// HLS version of a WebVTT playlist (float EXTINF).
const WEBVTT_VERSION: usize = 3;

/// Renders a rendition's media playlist. URIs in it are relative to the playlist's own
/// directory, so the rendition's `rung/` prefix is stripped.
pub fn media_playlist(r: &Rendition, format: SegmentFormat, segment_seconds: f64, done: bool) -> Vec<u8> {
    segment_playlist(
        &r.segments,
        r.init.as_deref(),
        format.hls_version(),
        segment_seconds,
        done,
    )
}

/// Renders an audio rendition's media playlist (the same shape as a video one's).
pub fn audio_playlist(
    a: &AudioRendition,
    format: SegmentFormat,
    segment_seconds: f64,
    done: bool,
) -> Vec<u8> {
    segment_playlist(
        &a.segments,
        a.init.as_deref(),
        format.hls_version(),
        segment_seconds,
        done,
    )
}

/// Renders a subtitle rendition's media playlist of WebVTT segments.
pub fn subtitle_playlist(s: &SubtitleRendition, segment_seconds: f64, done: bool) -> Vec<u8> {
    segment_playlist(&s.segments, None, WEBVTT_VERSION, segment_seconds, done)
}

fn segment_playlist(
    segments: &[Segment],
    init: Option<&str>,
    version: usize,
    segment_seconds: f64,
    done: bool,
) -> Vec<u8> {
    let strip = |uri: &str| uri.rsplit('/').next().unwrap_or(uri).to_string();
    let longest = segments.iter().map(|s| s.duration).fold(0.0, f64::max);
    let target = segment_seconds.ceil().max(longest.round()).max(1.0) as u64;
    let mut listed: Vec<MediaSegment> = segments
        .iter()
        .map(|s| MediaSegment {
            uri: strip(&s.uri),
            duration: s.duration as f32,
            ..Default::default()
        })
        .collect();
    if let (Some(first), Some(init)) = (listed.first_mut(), init) {
        first.map = Some(Map {
            uri: strip(init),
            ..Default::default()
        });
    }
    let playlist = MediaPlaylist {
        version: Some(version),
        target_duration: target,
        media_sequence: 0,
        segments: listed,
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

/// Renders the master playlist: one variant per rendition, largest first; the audio
/// renditions (when they are not muxed into the variants) and the subtitle renditions as
/// `EXT-X-MEDIA` groups that every variant names.
///
/// With surround renditions, every variant is listed a second time (after all the
/// stereo ones) naming the surround group, with its CODECS (`avc1…,ac-3`) and its
/// BANDWIDTH counting the largest surround rendition in place of the largest stereo
/// one. A player that cannot decode AC-3 (MSE in Chromium, Firefox) drops those
/// variants by their CODECS and plays the stereo ones as before.
pub fn master_playlist(
    renditions: &[Rendition],
    audio: &[AudioRendition],
    subtitles: &[SubtitleRendition],
    format: SegmentFormat,
) -> Vec<u8> {
    let mut alternatives: Vec<AlternativeMedia> = audio
        .iter()
        .filter_map(|a| {
            Some(AlternativeMedia {
                media_type: AlternativeMediaType::Audio,
                uri: Some(a.playlist.clone()?),
                group_id: a.group.clone(),
                language: a.language.clone(),
                name: a.name.clone(),
                default: a.default,
                autoselect: true,
                channels: Some(a.channels.to_string()),
                ..Default::default()
            })
        })
        .collect();
    let audio_group = (!alternatives.is_empty()).then(|| AUDIO_GROUP.to_string());
    let largest = |surround: bool| {
        let group = audio
            .iter()
            .filter(|a| a.playlist.is_some() && a.is_surround() == surround);
        (
            group.clone().map(|a| a.bandwidth).max().unwrap_or(0),
            group.map(|a| a.average_bandwidth).max().unwrap_or(0),
        )
    };
    let stereo = largest(false);
    let surround = largest(true);
    let surround_codecs = audio
        .iter()
        .find(|a| a.playlist.is_some() && a.is_surround())
        .map(|a| a.codecs.clone());
    alternatives.extend(subtitles.iter().map(|s| AlternativeMedia {
        media_type: AlternativeMediaType::Subtitles,
        uri: Some(s.playlist.clone()),
        group_id: SUBTITLE_GROUP.into(),
        language: s.language.clone(),
        name: s.name.clone(),
        default: false,
        autoselect: true,
        ..Default::default()
    }));
    let subtitle_group = (!subtitles.is_empty()).then(|| SUBTITLE_GROUP.to_string());
    let variant = |r: &Rendition| VariantStream {
        uri: r.playlist.clone(),
        bandwidth: r.bandwidth,
        average_bandwidth: (r.average_bandwidth > 0).then_some(r.average_bandwidth),
        codecs: Some(r.codecs.clone()),
        resolution: Some(Resolution {
            width: u64::from(r.width),
            height: u64::from(r.picture_height),
        }),
        frame_rate: (r.frame_rate > 0.0).then_some((r.frame_rate * 1000.0).round() / 1000.0),
        audio: audio_group.clone(),
        subtitles: subtitle_group.clone(),
        ..Default::default()
    };
    let mut variants: Vec<VariantStream> = renditions.iter().map(variant).collect();
    if let Some(ac3) = &surround_codecs {
        // The same video with the surround group: its stereo audio's share swapped out.
        variants.extend(renditions.iter().map(|r| {
            let video = r
                .codecs
                .split(',')
                .filter(|c| !c.starts_with("mp4a"))
                .collect::<Vec<_>>()
                .join(",");
            VariantStream {
                bandwidth: r.bandwidth.saturating_sub(stereo.0) + surround.0,
                average_bandwidth: (r.average_bandwidth > 0)
                    .then(|| r.average_bandwidth.saturating_sub(stereo.1) + surround.1),
                codecs: Some(format!("{video},{ac3}")),
                audio: Some(SURROUND_GROUP.to_string()),
                ..variant(r)
            }
        }));
    }
    let playlist = MasterPlaylist {
        version: Some(format.hls_version()),
        variants,
        alternatives,
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
        freshness(done),
    )
}

/// Stores an audio rendition's media playlist (nothing for a track muxed into the video
/// renditions).
pub fn write_audio_media(
    out: &VideoObjects,
    a: &AudioRendition,
    format: SegmentFormat,
    segment_seconds: f64,
    done: bool,
) -> std::io::Result<()> {
    match &a.playlist {
        Some(path) => out.put(
            path,
            audio_playlist(a, format, segment_seconds, done),
            freshness(done),
        ),
        None => Ok(()),
    }
}

/// Stores a subtitle rendition's media playlist.
pub fn write_subtitle_media(
    out: &VideoObjects,
    s: &SubtitleRendition,
    segment_seconds: f64,
    done: bool,
) -> std::io::Result<()> {
    out.put(
        &s.playlist,
        subtitle_playlist(s, segment_seconds, done),
        freshness(done),
    )
}

/// How long caches may keep a playlist: briefly while it grows, long once `done`.
fn freshness(done: bool) -> Freshness {
    if done {
        Freshness::Finished
    } else {
        Freshness::Growing
    }
}

/// Stores `master.m3u8`; `done` once every playlist it names is final.
pub fn write_master(
    out: &VideoObjects,
    renditions: &[Rendition],
    audio: &[AudioRendition],
    subtitles: &[SubtitleRendition],
    format: SegmentFormat,
    done: bool,
) -> std::io::Result<()> {
    out.put(
        "master.m3u8",
        master_playlist(renditions, audio, subtitles, format),
        freshness(done),
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
        let s = String::from_utf8(master_playlist(&[rendition()], &[], &[], SegmentFormat::Fmp4)).unwrap();
        assert!(s.contains("BANDWIDTH=900000"), "{s}");
        assert!(s.contains("CODECS=\"avc1.64001e,mp4a.40.2\""), "{s}");
        assert!(s.contains("RESOLUTION=640x360"), "{s}");
        assert!(s.contains("360p/index.m3u8"));
        assert!(!s.contains("EXT-X-MEDIA") && !s.contains("AUDIO="), "{s}");
    }

    fn audio(index: usize, language: &str, name: &str, playlist: Option<&str>) -> AudioRendition {
        AudioRendition {
            index,
            language: Some(language.into()),
            name: name.into(),
            codec: "aac".into(),
            channels: 2,
            group: AUDIO_GROUP.into(),
            default: index == 0,
            playlist: playlist.map(str::to_string),
            codecs: "mp4a.40.2".into(),
            bandwidth: 130_000,
            average_bandwidth: 0,
            init: None,
            segments: Vec::new(),
        }
    }

    #[test]
    fn audio_and_subtitle_groups_are_named_by_every_variant() {
        let tracks = [
            audio(0, "en", "English", Some("audio0/index.m3u8")),
            audio(1, "fr", "French", Some("audio1/index.m3u8")),
        ];
        let subs = [SubtitleRendition {
            index: 0,
            language: Some("de".into()),
            name: "German".into(),
            playlist: "subtitles0/index.m3u8".into(),
            file: None,
            segments: Vec::new(),
        }];
        let text = master_playlist(&[rendition(), rendition()], &tracks, &subs, SegmentFormat::Fmp4);
        let s = String::from_utf8(text.clone()).unwrap();
        assert!(s.contains("#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio0/index.m3u8\",GROUP-ID=\"audio\",LANGUAGE=\"en\",NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\""), "{s}");
        match m3u8_rs::parse_playlist_res(&text).unwrap() {
            m3u8_rs::Playlist::MasterPlaylist(m) => {
                assert_eq!(m.alternatives.len(), 3);
                let french = &m.alternatives[1];
                assert_eq!(french.language.as_deref(), Some("fr"));
                assert!(!french.default && french.autoselect);
                let german = &m.alternatives[2];
                assert_eq!(german.media_type, AlternativeMediaType::Subtitles);
                assert_eq!(german.group_id, SUBTITLE_GROUP);
                assert!(m.variants.iter().all(|v| v.audio.as_deref() == Some(AUDIO_GROUP)
                    && v.subtitles.as_deref() == Some(SUBTITLE_GROUP)));
            }
            _ => panic!("not a master playlist"),
        }
        // A track muxed into the variants is no EXT-X-MEDIA and no group.
        let muxed = [audio(0, "en", "English", None)];
        let s = String::from_utf8(master_playlist(&[rendition()], &muxed, &[], SegmentFormat::Ts)).unwrap();
        assert!(!s.contains("EXT-X-MEDIA") && !s.contains("AUDIO="), "{s}");
    }

    #[test]
    fn surround_renditions_get_a_group_and_a_second_listing_of_every_variant() {
        let stereo = audio(0, "en", "English", Some("audio0/index.m3u8"));
        let surround = AudioRendition {
            codec: "ac3".into(),
            channels: 6,
            group: SURROUND_GROUP.into(),
            playlist: Some("audio0-surround/index.m3u8".into()),
            codecs: "ac-3".into(),
            bandwidth: 390_000,
            ..stereo.clone()
        };
        let mut small = rendition();
        small.playlist = "240p/index.m3u8".into();
        small.codecs = "avc1.640015,mp4a.40.2".into();
        let text = master_playlist(
            &[rendition(), small],
            &[stereo, surround],
            &[],
            SegmentFormat::Fmp4,
        );
        let Ok(m3u8_rs::Playlist::MasterPlaylist(m)) = m3u8_rs::parse_playlist_res(&text) else {
            panic!("not a master playlist");
        };
        let groups: Vec<_> = m
            .alternatives
            .iter()
            .map(|a| (a.group_id.as_str(), a.channels.as_deref(), a.default))
            .collect();
        assert_eq!(
            groups,
            [(AUDIO_GROUP, Some("2"), true), (SURROUND_GROUP, Some("6"), true)]
        );
        let variants: Vec<_> = m
            .variants
            .iter()
            .map(|v| {
                (
                    v.uri.as_str(),
                    v.codecs.as_deref().unwrap(),
                    v.audio.as_deref().unwrap(),
                    v.bandwidth,
                )
            })
            .collect();
        // The stereo listing first (its BANDWIDTH as measured, stereo audio in it), then
        // the surround one: the stereo rendition's 130 000 swapped for 390 000.
        assert_eq!(
            variants,
            [
                ("360p/index.m3u8", "avc1.64001e,mp4a.40.2", AUDIO_GROUP, 900_000),
                ("240p/index.m3u8", "avc1.640015,mp4a.40.2", AUDIO_GROUP, 900_000),
                ("360p/index.m3u8", "avc1.64001e,ac-3", SURROUND_GROUP, 1_160_000),
                ("240p/index.m3u8", "avc1.640015,ac-3", SURROUND_GROUP, 1_160_000),
            ]
        );
    }

    #[test]
    fn a_subtitle_playlist_lists_webvtt_segments() {
        let s = SubtitleRendition {
            index: 0,
            language: None,
            name: "Subtitles 1".into(),
            playlist: "subtitles0/index.m3u8".into(),
            file: None,
            segments: vec![Segment {
                uri: "subtitles0/seg00000.vtt".into(),
                duration: 1.0,
                bytes: 50,
            }],
        };
        let text = String::from_utf8(subtitle_playlist(&s, 4.0, true)).unwrap();
        assert!(
            text.contains("seg00000.vtt") && !text.contains("EXT-X-MAP"),
            "{text}"
        );
        assert!(text.contains("#EXT-X-VERSION:3"), "{text}");
    }
}

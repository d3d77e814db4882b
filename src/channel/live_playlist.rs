//! `live.m3u8` of a channel: a live HLS playlist built from the items' existing
//! segments, no re-encoding.
//!
//! * Sliding window: segments from [`WINDOW_BEHIND_MS`] before now up to
//!   [`SEGMENTS_AHEAD`] segments past the one playing now, so a player that starts three
//!   segments from the live edge (hls.js, mpv) starts at the segment playing now.
//! * Media sequence and discontinuity sequence are derived from the schedule: within an
//!   epoch, a segment's number counts the segments played since the epoch began; each
//!   epoch's numbers start at its start instant in deciseconds, which is above anything
//!   the previous epoch can reach (a segment lasts at least a second), so both only grow.
//! * `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP` at each item boundary, and
//!   `EXT-X-PROGRAM-DATE-TIME` on every segment (the schedule's wall clock).
//! * Timestamps run on across items: segment URIs name the offset (ms) of their item on
//!   the channel timeline and the server shifts `tfdt` by it as it serves them
//!   ([`super::retime`]), for players that ignore discontinuities.

use chrono::{FixedOffset, TimeZone};
use m3u8_rs::{Map, MediaPlaylist, MediaSegment};

use super::schedule::{NowPlaying, Schedule};
use crate::hls::Rendition;

/// How far back the window reaches.
pub const WINDOW_BEHIND_MS: u64 = 30_000;
/// Segments listed after the one playing now.
pub const SEGMENTS_AHEAD: usize = 3;

/// One schedule item's media.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemMedia {
    /// Its directory under `/media/`.
    pub media_id: String,
    pub renditions: Vec<Rendition>,
}

impl ItemMedia {
    /// The rendition nearest in height to `height` (the lower one on a tie).
    pub fn nearest(&self, height: u32) -> Option<&Rendition> {
        self.renditions
            .iter()
            .min_by_key(|r| ((i64::from(r.height) - i64::from(height)).abs(), r.height))
    }
}

/// Renders the media playlist of the variant `height` at `now_ms`. `lookup` gives an
/// item's media by schedule key. `origin_ms` is the channel timeline's zero.
pub fn media_playlist(
    schedule: &Schedule,
    now_ms: u64,
    origin_ms: u64,
    height: u32,
    lookup: &dyn Fn(&str) -> Option<ItemMedia>,
) -> Option<Vec<u8>> {
    let first = schedule
        .at(now_ms.saturating_sub(WINDOW_BEHIND_MS))
        .or_else(|| schedule.at(now_ms))?;
    let mut item = first;
    let mut segments = Vec::new();
    let (mut media_sequence, mut discontinuity_sequence) = (None, 0);
    let mut ahead: Option<usize> = None;
    let mut target = 1.0f64;
    let mut guard = 0;
    'items: loop {
        guard += 1;
        if guard > 1000 {
            break;
        }
        let media = lookup(&item.key)?;
        let rendition = media.nearest(height)?;
        let seq_base = segment_number_base(schedule, &item, lookup)?;
        let mut t = item.started_at_ms;
        for (k, seg) in rendition.segments.iter().enumerate() {
            let d_ms = (seg.duration * 1000.0).round() as u64;
            let end = t + d_ms;
            if end + WINDOW_BEHIND_MS > now_ms {
                if media_sequence.is_none() {
                    media_sequence = Some(seq_base + k as u64);
                    discontinuity_sequence = epoch_base(schedule, &item) + item.sequence;
                }
                let first_of_item = k == 0 || segments.is_empty();
                let date = FixedOffset::east_opt(0).and_then(|z| z.timestamp_millis_opt(t as i64).single());
                segments.push(MediaSegment {
                    uri: format!(
                        "shift/{}/{}/{}",
                        item.started_at_ms.saturating_sub(origin_ms),
                        media.media_id,
                        seg.uri
                    ),
                    duration: seg.duration as f32,
                    discontinuity: k == 0 && !segments.is_empty(),
                    map: match (&rendition.init, first_of_item) {
                        (Some(init), true) => Some(Map {
                            uri: format!("/media/{}/{}", media.media_id, init),
                            ..Default::default()
                        }),
                        _ => None,
                    },
                    program_date_time: date,
                    ..Default::default()
                });
                target = target.max(seg.duration.round());
                if t <= now_ms && now_ms < end {
                    ahead = Some(0);
                } else if let Some(n) = ahead.as_mut() {
                    *n += 1;
                }
                if ahead.is_some_and(|n| n >= SEGMENTS_AHEAD) {
                    break 'items;
                }
            }
            t = end;
        }
        item = schedule.at(item.ends_at_ms())?;
    }
    let playlist = MediaPlaylist {
        version: Some(7),
        target_duration: target as u64,
        media_sequence: media_sequence.unwrap_or(0),
        discontinuity_sequence,
        segments,
        independent_segments: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    playlist.write_to(&mut out).expect("writing to a Vec cannot fail");
    Some(out)
}

/// Numbers of an epoch start at its start instant in deciseconds.
fn epoch_base(schedule: &Schedule, item: &NowPlaying) -> u64 {
    schedule.epochs[item.epoch].from_ms / 100
}

/// The media sequence number of `item`'s first segment: the epoch's base plus every
/// segment of the items played since the epoch began.
fn segment_number_base(
    schedule: &Schedule,
    item: &NowPlaying,
    lookup: &dyn Fn(&str) -> Option<ItemMedia>,
) -> Option<u64> {
    let epoch = &schedule.epochs[item.epoch];
    let n = epoch.items.len() as u64;
    let counts: Vec<u64> = epoch
        .items
        .iter()
        .map(|i| {
            lookup(&i.key)
                .and_then(|m| m.renditions.first().map(|r| r.segments.len() as u64))
                .unwrap_or(1)
        })
        .collect();
    let cycle: u64 = counts.iter().sum();
    let (loops, within) = (item.sequence / n, item.sequence % n);
    let before: u64 = (0..within)
        .map(|j| counts[((epoch.start as u64 + j) % n) as usize])
        .sum();
    Some(epoch_base(schedule, item) + loops * cycle + before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::schedule::{Epoch, ScheduleItem};
    use crate::hls::Segment;

    fn media(id: &str, segs: usize) -> ItemMedia {
        let r = |h: u32| Rendition {
            height: h,
            width: h * 16 / 9,
            picture_height: h,
            bandwidth: 1,
            average_bandwidth: 1,
            codecs: "avc1.64001e".into(),
            frame_rate: 30.0,
            playlist: format!("{h}p/index.m3u8"),
            init: Some(format!("{h}p/init.mp4")),
            segments: (0..segs)
                .map(|k| Segment {
                    uri: format!("{h}p/seg{k:05}.m4s"),
                    duration: 4.0,
                    bytes: 1,
                })
                .collect(),
        };
        ItemMedia {
            media_id: id.into(),
            renditions: vec![r(360), r(240)],
        }
    }

    fn parse(bytes: Vec<u8>) -> MediaPlaylist {
        match m3u8_rs::parse_playlist_res(&bytes).unwrap() {
            m3u8_rs::Playlist::MediaPlaylist(p) => p,
            _ => panic!("not a media playlist"),
        }
    }

    fn schedule() -> Schedule {
        let item = |k: &str| ScheduleItem {
            key: k.into(),
            duration_ms: 12_000,
        };
        Schedule {
            epochs: vec![Epoch {
                from_ms: 1_000_000,
                start: 0,
                items: vec![item("a"), item("b")],
            }],
        }
    }

    fn lookup(key: &str) -> Option<ItemMedia> {
        Some(media(key, 3))
    }

    #[test]
    fn window_slides_and_marks_item_boundaries() {
        let s = schedule();
        let p = parse(media_playlist(&s, 1_005_000, 1_000_000, 360, &lookup).unwrap());
        assert_eq!(p.media_sequence, 10_000, "epoch base, first segment");
        assert_eq!(p.discontinuity_sequence, 10_000);
        // Playing now: a/seg1 (4-8 s); three more listed after it: a/seg2, b/seg0, b/seg1.
        let uris: Vec<&str> = p.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(
            uris,
            vec![
                "shift/0/a/360p/seg00000.m4s",
                "shift/0/a/360p/seg00001.m4s",
                "shift/0/a/360p/seg00002.m4s",
                "shift/12000/b/360p/seg00000.m4s",
                "shift/12000/b/360p/seg00001.m4s",
            ]
        );
        assert!(p.segments[3].discontinuity && !p.segments[2].discontinuity);
        assert_eq!(p.segments[0].map.as_ref().unwrap().uri, "/media/a/360p/init.mp4");
        assert_eq!(p.segments[3].map.as_ref().unwrap().uri, "/media/b/360p/init.mp4");
        assert!(p.segments.iter().all(|s| s.program_date_time.is_some()));

        // 40 s later the window has slid: numbers grew, the old item's tag is gone.
        let later = parse(media_playlist(&s, 1_045_000, 1_000_000, 360, &lookup).unwrap());
        assert!(later.media_sequence > p.media_sequence);
        assert!(later.discontinuity_sequence > p.discontinuity_sequence);
        assert!(
            later.segments.first().unwrap().uri.contains("/a/")
                || later.segments.first().unwrap().uri.contains("/b/")
        );
        // The nearest rung of each item serves the variant.
        let low = parse(media_playlist(&s, 1_005_000, 1_000_000, 200, &lookup).unwrap());
        assert!(low.segments[0].uri.contains("240p"));
    }
}

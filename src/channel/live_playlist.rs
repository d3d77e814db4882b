//! `live.m3u8` of a channel: a live HLS playlist built from the items' existing
//! segments, no re-encoding.
//!
//! * Sliding window: segments from [`WINDOW_BEHIND_MS`] before now (never before the
//!   schedule's first instant) up to [`SEGMENTS_AHEAD`] segments past the one playing now
//!   that start within [`FIXED_AHEAD_MS`], the part of the schedule no catalog change can
//!   alter, so a player that starts three segments from the live edge (hls.js, mpv)
//!   starts at (or near) the segment playing now. The window's back edge only moves forward, so the media sequence
//!   never decreases (RFC 8216 6.2.2): it used to fall back to the current item's start
//!   while the schedule was younger than the window, then jump back 30 s.
//! * A channel that played its list once and is over keeps its last window, with
//!   `EXT-X-ENDLIST`.
//! * Media sequence and discontinuity sequence come from the schedule: a segment's number
//!   is its item's channel-wide first segment number plus its index in the item, and the
//!   discontinuity sequence counts item starts (`NowPlaying::segment_number`,
//!   `NowPlaying::item_number`). Both carry over from epoch to epoch, so a change of the
//!   item list never renumbers a segment already listed.
//! * Segments are MPEG-TS, remuxed from the items' own segments as they are served
//!   ([`ts_uri`], `engine::ts_remux`): self-contained (PAT/PMT, each item's SPS/PPS in
//!   band), so every player starts anywhere with no init segment; VLC 3 failed on the
//!   fMP4 window (it took the first item's `EXT-X-MAP` for a segment of the next).
//! * `EXT-X-DISCONTINUITY` at each item boundary, and `EXT-X-PROGRAM-DATE-TIME` on every
//!   segment (the schedule's wall clock).
//! * Timestamps run on across items: segment URIs name the offset (ms) of their item on
//!   the channel timeline and the server moves the segment's timestamps by it as it
//!   remuxes, for players that ignore discontinuities (mpv).

use chrono::{FixedOffset, TimeZone};
use m3u8_rs::{MediaPlaylist, MediaSegment};

use super::schedule::{Schedule, FIXED_AHEAD_MS};
use crate::hls::{AudioRendition, Rendition};

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
    /// The first audio rendition, when the item's audio is not in its video renditions
    /// (a source with several audio tracks): `stream.ts` and the MPEG-TS segments of
    /// `live.m3u8` mux it in. Other audio tracks and subtitles stay out of channels.
    pub audio: Option<AudioRendition>,
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
    // An ended run is shown as it was at its last instant, and ends.
    let (now_ms, ended) = match schedule.ended_at_ms(now_ms) {
        Some(end) => (end.saturating_sub(1), true),
        None => (now_ms, false),
    };
    schedule.at(now_ms)?;
    let first = schedule.at_or_after(now_ms.saturating_sub(WINDOW_BEHIND_MS))?;
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
        let seq_base = item.segment_number;
        let mut t = item.started_at_ms;
        for (k, seg) in rendition.segments.iter().enumerate() {
            let d_ms = (seg.duration * 1000.0).round() as u64;
            let end = t + d_ms;
            if ahead.is_some() && t >= now_ms + FIXED_AHEAD_MS {
                break 'items;
            }
            if end + WINDOW_BEHIND_MS > now_ms {
                if media_sequence.is_none() {
                    media_sequence = Some(seq_base + k as u64);
                    discontinuity_sequence = item.item_number;
                }
                let date = FixedOffset::east_opt(0).and_then(|z| z.timestamp_millis_opt(t as i64).single());
                segments.push(MediaSegment {
                    uri: ts_uri(
                        item.started_at_ms.saturating_sub(origin_ms),
                        &media.media_id,
                        &seg.uri,
                    ),
                    duration: seg.duration as f32,
                    discontinuity: k == 0 && !segments.is_empty(),
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
        match schedule.at_or_after(item.ends_at_ms()) {
            Some(next) if next.started_at_ms <= now_ms || ahead.is_some() => item = next,
            _ => break,
        }
    }
    let playlist = MediaPlaylist {
        version: Some(7),
        target_duration: target as u64,
        media_sequence: media_sequence.unwrap_or(0),
        discontinuity_sequence,
        segments,
        independent_segments: true,
        end_list: ended,
        ..Default::default()
    };
    let mut out = Vec::new();
    playlist.write_to(&mut out).expect("writing to a Vec cannot fail");
    Some(out)
}

/// The URI (relative to the variant playlist) of ladder segment `segment` (a path under
/// `/media/{media_id}/`) of an item that starts `offset_ms` into the channel timeline:
/// `ts/{offset_ms}/{media_id}/{rung}/{name}.ts`, served as a standalone MPEG-TS segment
/// on the channel timeline (`http::channels`). Immutable per URI.
pub fn ts_uri(offset_ms: u64, media_id: &str, segment: &str) -> String {
    let stem = segment.rsplit_once('.').map_or(segment, |(stem, _)| stem);
    format!("ts/{offset_ms}/{media_id}/{stem}.ts")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::schedule::{Epoch, ScheduleItem};
    use crate::hls::Segment;

    fn media(id: &str, segs: usize) -> ItemMedia {
        media_with(id, &vec![4.0; segs])
    }

    /// An item whose segments last `durations` seconds.
    fn media_with(id: &str, durations: &[f64]) -> ItemMedia {
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
            segments: durations
                .iter()
                .enumerate()
                .map(|(k, &duration)| Segment {
                    uri: format!("{h}p/seg{k:05}.m4s"),
                    duration,
                    bytes: 1,
                })
                .collect(),
        };
        ItemMedia {
            media_id: id.into(),
            renditions: vec![r(360), r(240)],
            audio: None,
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
            segments: 3,
        };
        Schedule {
            origin_ms: None,
            epochs: vec![Epoch {
                from_ms: 1_000_000,
                start: 0,
                items: vec![item("a"), item("b")],
                first_item: None,
                first_segment: None,
                once: false,
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
                "ts/0/a/360p/seg00000.ts",
                "ts/0/a/360p/seg00001.ts",
                "ts/0/a/360p/seg00002.ts",
                "ts/12000/b/360p/seg00000.ts",
                "ts/12000/b/360p/seg00001.ts",
            ]
        );
        assert!(p.segments[3].discontinuity && !p.segments[2].discontinuity);
        assert!(
            p.segments.iter().all(|s| s.map.is_none()),
            "self-contained segments"
        );
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

    /// A ladder's first segments are short (1, 1, 2 s, then 4 s): the window follows
    /// each segment's own duration, not the item's segment length.
    #[test]
    fn short_first_segments_are_placed_by_their_own_durations() {
        let lookup = |key: &str| Some(media_with(key, &[1.0, 1.0, 2.0, 4.0, 4.0]));
        // 2.5 s into item a: a/seg2 (2-4 s) plays; three more listed after it.
        let p = parse(media_playlist(&schedule(), 1_002_500, 1_000_000, 360, &lookup).unwrap());
        let uris: Vec<&str> = p.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(
            uris,
            vec![
                "ts/0/a/360p/seg00000.ts",
                "ts/0/a/360p/seg00001.ts",
                "ts/0/a/360p/seg00002.ts",
                "ts/0/a/360p/seg00003.ts",
                "ts/0/a/360p/seg00004.ts",
                "ts/12000/b/360p/seg00000.ts",
            ]
        );
        let dates: Vec<i64> = p
            .segments
            .iter()
            .map(|s| s.program_date_time.unwrap().timestamp_millis())
            .collect();
        assert_eq!(
            dates,
            [1_000_000, 1_001_000, 1_002_000, 1_004_000, 1_008_000, 1_012_000]
        );
        assert_eq!(p.target_duration, 4);
    }

    /// Regression: numbers used to restart from each epoch's start instant, so 30 s
    /// after an upload every segment got a new number and mpv, seeing the media sequence
    /// jump, skipped back to the start of the window.
    #[test]
    fn a_segment_keeps_its_number_when_the_item_list_changes() {
        let s = schedule();
        let item = |k: &str| ScheduleItem {
            key: k.into(),
            duration_ms: 12_000,
            segments: 3,
        };
        // "c" arrives at 1 005 000, mid "a": a new epoch from 1 012 000 on.
        let s = s.with_items(vec![item("a"), item("b"), item("c")], 1_005_000);
        assert_eq!(s.epochs.len(), 2);
        let mut numbers: std::collections::HashMap<String, (u64, u64)> = Default::default();
        for t in (1_005_000..1_120_000).step_by(1_000) {
            let p = parse(media_playlist(&s, t, 1_000_000, 360, &lookup).unwrap());
            let mut disc = p.discontinuity_sequence;
            for (i, seg) in p.segments.iter().enumerate() {
                if seg.discontinuity {
                    disc += 1;
                }
                let n = (p.media_sequence + i as u64, disc);
                let seen = *numbers.entry(seg.uri.clone()).or_insert(n);
                assert_eq!(seen, n, "{} renumbered at {t}", seg.uri);
            }
        }
        assert!(numbers.len() > 20);
    }

    /// RFC 8216 6.2.1-6.2.2 at every instant, over random item lists, catalog changes
    /// (each one a new epoch), looping or played once, and clocks that step by random
    /// amounts: the media and discontinuity sequences never decrease, a URI keeps its
    /// numbers, a number keeps its URI, segments leave only from the front, every segment
    /// fits the target duration, and an ended playlist stays as it is until an item added
    /// afterwards starts the channel again.
    mod rfc8216 {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        /// Item durations (ms) by key: short first segments (1, 1, 2 s), then 2 s, and a
        /// shorter last one, as ladders cut them.
        const ITEMS: [(&str, u64); 6] = [
            ("a", 6_000),
            ("b", 10_500),
            ("c", 4_000),
            ("d", 14_000),
            ("e", 3_000),
            ("f", 7_200),
        ];

        fn durations(total_ms: u64) -> Vec<u64> {
            let mut out = Vec::new();
            let mut left = total_ms;
            for d in [1_000, 1_000].into_iter().chain(std::iter::repeat(2_000)) {
                if left == 0 {
                    break;
                }
                out.push(d.min(left));
                left -= d.min(left);
            }
            out
        }

        fn item_media(key: &str) -> Option<ItemMedia> {
            let (_, total) = ITEMS.iter().find(|(k, _)| *k == key)?;
            let segments = durations(*total)
                .into_iter()
                .enumerate()
                .map(|(k, d)| Segment {
                    uri: format!("360p/seg{k:05}.m4s"),
                    duration: d as f64 / 1000.0,
                    bytes: 1,
                })
                .collect();
            Some(ItemMedia {
                media_id: key.into(),
                renditions: vec![Rendition {
                    height: 360,
                    width: 640,
                    picture_height: 360,
                    bandwidth: 1,
                    average_bandwidth: 1,
                    codecs: "avc1.64001e".into(),
                    frame_rate: 30.0,
                    playlist: "360p/index.m3u8".into(),
                    init: Some("360p/init.mp4".into()),
                    segments,
                }],
                audio: None,
            })
        }

        fn schedule_items(picks: &[usize]) -> Vec<ScheduleItem> {
            let mut items: Vec<ScheduleItem> = Vec::new();
            for &p in picks {
                let (key, total) = ITEMS[p % ITEMS.len()];
                if items.iter().all(|i| i.key != key) {
                    items.push(ScheduleItem {
                        key: key.into(),
                        duration_ms: total,
                        segments: durations(total).len() as u64,
                    });
                }
            }
            items
        }

        /// One step of the clock, maybe with a new item list.
        fn step() -> impl Strategy<Value = (u64, Option<Vec<usize>>)> {
            (
                0u64..5_000,
                prop::option::weighted(0.15, prop::collection::vec(0usize..6, 1..5)),
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
            #[test]
            fn every_playlist_obeys_rfc_8216(
                first in prop::collection::vec(0usize..6, 1..5),
                looping in any::<bool>(),
                steps in prop::collection::vec(step(), 1..120),
            ) {
                let origin = 1_000_000u64;
                let mut schedule = Schedule::default()
                    .with_items_looping(schedule_items(&first), origin, looping);
                let mut t = origin;
                let mut by_uri: HashMap<String, (u64, u64)> = HashMap::new();
                let mut by_number: HashMap<u64, String> = HashMap::new();
                let mut last: Option<MediaPlaylist> = None;
                let mut restarted = false;
                for (dt, change) in steps {
                    t += dt;
                    if let Some(picks) = change {
                        let next = schedule.with_items_looping(schedule_items(&picks), t, looping);
                        restarted |= next != schedule;
                        schedule = next;
                    }
                    let Some(bytes) = media_playlist(&schedule, t, origin, 360, &item_media) else {
                        continue;
                    };
                    let p = parse(bytes);
                    if let Some(prev) = &last {
                        prop_assert!(p.media_sequence >= prev.media_sequence, "media sequence fell at {t}");
                        prop_assert!(p.discontinuity_sequence >= prev.discontinuity_sequence, "discontinuity sequence fell at {t}");
                        if prev.end_list && !restarted {
                            prop_assert_eq!(&p, prev, "an ended playlist changed at {}", t);
                        }
                        // Segments leave only from the front: every one of the last
                        // playlist numbered at or past this one's first is still here.
                        let still: Vec<&str> = prev.segments.iter().enumerate()
                            .filter(|(i, _)| prev.media_sequence + *i as u64 >= p.media_sequence)
                            .map(|(_, s)| s.uri.as_str())
                            .collect();
                        let now: Vec<&str> = p.segments.iter().map(|s| s.uri.as_str()).take(still.len()).collect();
                        prop_assert_eq!(still, now, "segments left from the middle at {}", t);
                    }
                    let mut disc = p.discontinuity_sequence;
                    for (i, seg) in p.segments.iter().enumerate() {
                        if seg.discontinuity {
                            disc += 1;
                        }
                        let n = p.media_sequence + i as u64;
                        prop_assert!(f64::from(seg.duration).round() as u64 <= p.target_duration);
                        let seen = *by_uri.entry(seg.uri.clone()).or_insert((n, disc));
                        prop_assert_eq!(seen, (n, disc), "{} renumbered at {}", &seg.uri, t);
                        let uri = by_number.entry(n).or_insert_with(|| seg.uri.clone());
                        prop_assert_eq!(uri.as_str(), seg.uri.as_str(), "number {} changed its URI at {}", n, t);
                    }
                    last = Some(p);
                    restarted = false;
                }
            }
        }
    }
}

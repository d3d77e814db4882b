//! The schedule of a channel: what plays at any instant, as a pure function of persisted
//! state and the wall clock.
//!
//! A channel loops over its items. Its persisted state is a short list of [`Epoch`]s:
//! "from instant T, play these items in this order, starting with item k". The item
//! playing at instant `t` is found by taking the last epoch that began at or before `t`
//! and walking the loop from there, so every request, every client and every reel
//! process reading the same state agrees, with no coordination at run time.
//!
//! Changing the item list (an upload became ready, a video was deleted) never cuts the
//! current item short: [`Schedule::with_items`] appends an epoch that takes effect when
//! the current item ends. Restarting reel re-reads the epochs, so nothing jumps.
//!
//! Each epoch also records the channel-wide number of its first item and of its first
//! media segment, carried over from where the previous epoch stopped. The live playlist
//! numbers its segments (`EXT-X-MEDIA-SEQUENCE`) and item boundaries
//! (`EXT-X-DISCONTINUITY-SEQUENCE`) from them, so a segment keeps its number when the item
//! list changes; a player reloading the playlist (mpv, hls.js) then never sees the numbers
//! jump and never skips or replays. The channel timeline's zero (`origin_ms`, from which
//! segment timestamps are shifted) is recorded for the same reason: dropping old epochs
//! must not move it.

use serde::{Deserialize, Serialize};

/// One item of a channel as the schedule sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleItem {
    /// Stable key (`video:<id>` or `library:<path>`).
    pub key: String,
    /// Milliseconds.
    pub duration_ms: u64,
    /// Media segments of the item (the same count on every rung). 0, in schedules written
    /// before it was recorded, counts as 1.
    #[serde(default)]
    pub segments: u64,
}

impl ScheduleItem {
    fn segment_count(&self) -> u64 {
        self.segments.max(1)
    }
}

/// From `from_ms` on, loop over `items` starting with `items[start]` (or, when `once`,
/// play `items[start..]` once and then nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub from_ms: u64,
    pub start: usize,
    pub items: Vec<ScheduleItem>,
    /// Channel-wide number of the epoch's first item (`None` in schedules written before
    /// it was recorded: `from_ms / 100` then, above anything an earlier epoch reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_item: Option<u64>,
    /// Channel-wide number of the epoch's first media segment (same fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_segment: Option<u64>,
    /// A channel defined with `"loop": false`: no wrapping round to the first item.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub once: bool,
}

impl Epoch {
    /// Item and segment numbers after this epoch, once nothing plays any more: past its
    /// run for a channel played once, its own first numbers for an empty one.
    fn numbers_after(&self) -> (u64, u64) {
        let (item, segment) = self.first_numbers();
        if !self.once {
            return (item, segment);
        }
        let run = self.items.get(self.start..).unwrap_or(&[]);
        (
            item + run.len() as u64,
            segment + run.iter().map(ScheduleItem::segment_count).sum::<u64>(),
        )
    }

    fn first_numbers(&self) -> (u64, u64) {
        let legacy = self.from_ms / 100;
        (
            self.first_item.unwrap_or(legacy),
            self.first_segment.unwrap_or(legacy),
        )
    }
}

/// The item playing at some instant.
#[derive(Debug, Clone, PartialEq)]
pub struct NowPlaying {
    /// Index into the epoch's item list.
    pub index: usize,
    pub key: String,
    pub started_at_ms: u64,
    pub duration_ms: u64,
    /// Items started since the epoch began.
    pub sequence: u64,
    /// Channel-wide number of this play of the item (grows by one per item, across epochs).
    pub item_number: u64,
    /// Channel-wide number of its first media segment (grows by each item's segment count).
    pub segment_number: u64,
    /// The epoch this comes from (its position in the schedule's list).
    pub epoch: usize,
}

impl NowPlaying {
    pub fn ends_at_ms(&self) -> u64 {
        self.started_at_ms + self.duration_ms
    }
    /// Seconds into the item at `now_ms`.
    pub fn position(&self, now_ms: u64) -> f64 {
        now_ms.saturating_sub(self.started_at_ms) as f64 / 1000.0
    }
}

/// Epochs of a channel, oldest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schedule {
    /// Zero of the channel timeline: the first epoch's start, kept when it is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_ms: Option<u64>,
    pub epochs: Vec<Epoch>,
}

/// Epochs kept (older ones can no longer matter once a newer one has begun).
const KEEP_EPOCHS: usize = 8;

/// How far ahead of now the schedule is fixed: a change of the item list takes effect at
/// the end of the item playing this long from now, never earlier. The live playlist lists
/// segments up to this far ahead (so players that start three segments from the live edge
/// start at the segment playing now), and RFC 8216 6.2.2 forbids changing a listed
/// segment: without the lead an upload could replace an item already listed as next.
pub const FIXED_AHEAD_MS: u64 = 12_000;

impl Schedule {
    /// The item playing at `t_ms`; `None` for an empty channel or before the first epoch.
    pub fn at(&self, t_ms: u64) -> Option<NowPlaying> {
        let (e_index, epoch) = self
            .epochs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.from_ms <= t_ms)?;
        let items = &epoch.items;
        let cycle: u64 = items.iter().map(|i| i.duration_ms.max(1)).sum();
        if items.is_empty() || cycle == 0 {
            return None;
        }
        let cycle_segments: u64 = items.iter().map(ScheduleItem::segment_count).sum();
        let (first_item, first_segment) = epoch.first_numbers();
        let elapsed = t_ms - epoch.from_ms;
        if epoch.once {
            // Played once: over when what was left of the list has played.
            let left: u64 = items.iter().skip(epoch.start).map(|i| i.duration_ms.max(1)).sum();
            if elapsed >= left {
                return None;
            }
        }
        let loops = if epoch.once { 0 } else { elapsed / cycle };
        let mut offset = elapsed % cycle;
        let mut index = epoch.start % items.len();
        let mut started = epoch.from_ms + loops * cycle;
        let mut sequence = loops * items.len() as u64;
        let mut segment_number = first_segment + loops * cycle_segments;
        loop {
            let d = items[index].duration_ms.max(1);
            if offset < d {
                return Some(NowPlaying {
                    index,
                    key: items[index].key.clone(),
                    started_at_ms: started,
                    duration_ms: d,
                    sequence,
                    item_number: first_item + sequence,
                    segment_number,
                    epoch: e_index,
                });
            }
            offset -= d;
            started += d;
            sequence += 1;
            segment_number += items[index].segment_count();
            index = (index + 1) % items.len();
        }
    }

    /// The item after the one playing at `t_ms` (what "next" shows).
    pub fn next_after(&self, t_ms: u64) -> Option<NowPlaying> {
        let now = self.at(t_ms)?;
        self.at(now.ends_at_ms())
    }

    /// The end of the run of a channel that plays its list once, when that run is over at
    /// `t_ms` and nothing has started since; `None` while something plays, or for a
    /// looping or empty channel.
    pub fn ended_at_ms(&self, t_ms: u64) -> Option<u64> {
        if self.at(t_ms).is_some() {
            return None;
        }
        let epoch = self.epochs.iter().rev().find(|e| e.from_ms <= t_ms)?;
        if !epoch.once || epoch.items.is_empty() {
            return None;
        }
        let left: u64 = epoch
            .items
            .iter()
            .skip(epoch.start)
            .map(|i| i.duration_ms.max(1))
            .sum();
        (left > 0).then_some(epoch.from_ms + left)
    }

    /// The first item that plays at or after `t_ms`: the one playing then, else the first
    /// of the next epoch (after a run that played once, or before the first epoch).
    pub fn at_or_after(&self, t_ms: u64) -> Option<NowPlaying> {
        self.at(t_ms).or_else(|| {
            self.epochs
                .iter()
                .map(|e| e.from_ms)
                .filter(|&from| from > t_ms)
                .find_map(|from| self.at(from))
        })
    }

    /// The channel timeline's zero (Unix ms): segment timestamps are offsets from it.
    pub fn origin_ms(&self) -> Option<u64> {
        self.origin_ms.or_else(|| self.epochs.first().map(|e| e.from_ms))
    }

    /// The current item list (of the newest epoch).
    pub fn items(&self) -> &[ScheduleItem] {
        self.epochs.last().map(|e| e.items.as_slice()).unwrap_or(&[])
    }

    /// A schedule whose item list becomes `items` without interrupting what plays at
    /// `now_ms`, nor what is fixed to play up to [`FIXED_AHEAD_MS`] later: the new list
    /// takes effect when the item playing then ends, continuing with the item that follows
    /// it in the new order. Returns `self` unchanged when the list is the same.
    pub fn with_items(&self, items: Vec<ScheduleItem>, now_ms: u64) -> Schedule {
        self.with_items_looping(items, now_ms, true)
    }

    /// [`with_items`](Self::with_items) for a channel that loops or not. A channel that
    /// does not loop plays on to the end of its list and then shows nothing; items added
    /// after that play (only they), and an item added while it plays joins the run.
    pub fn with_items_looping(&self, items: Vec<ScheduleItem>, now_ms: u64, looping: bool) -> Schedule {
        if self.items() == items.as_slice() {
            return self.clone();
        }
        let mut next = self.clone();
        next.origin_ms = Some(self.origin_ms().unwrap_or(now_ms));
        match self.at(now_ms) {
            None => {
                // Nothing plays (empty channel, or a run played once and over): start now,
                // from the first item (after a run, the first the run did not have). Numbers
                // go on from where the last epoch left them.
                let start = match self.epochs.iter().rev().find(|e| e.from_ms <= now_ms) {
                    Some(ended) if !looping && !ended.items.is_empty() => {
                        match items
                            .iter()
                            .position(|i| !ended.items.iter().any(|o| o.key == i.key))
                        {
                            Some(new) => new,
                            None => return self.clone(), // nothing new to play
                        }
                    }
                    _ => 0,
                };
                let (first_item, first_segment) = self
                    .epochs
                    .iter()
                    .rev()
                    .find(|e| e.from_ms <= now_ms)
                    .map(Epoch::numbers_after)
                    .unwrap_or((now_ms / 100, now_ms / 100));
                next.epochs.retain(|e| e.from_ms < now_ms);
                next.epochs.push(Epoch {
                    from_ms: now_ms,
                    start,
                    items,
                    first_item: Some(first_item),
                    first_segment: Some(first_segment),
                    once: !looping,
                });
            }
            Some(playing) => {
                // The item whose end the change waits for: the last one that starts
                // within the fixed part (for a run that ends sooner, its last item).
                let mut current = playing;
                while let Some(next) = self
                    .at(current.ends_at_ms())
                    .filter(|n| n.started_at_ms <= now_ms + FIXED_AHEAD_MS)
                {
                    current = next;
                }
                let from = current.ends_at_ms();
                // The new order continues after the current item if it is still listed,
                // else with the first of its old successors that is.
                let position_of = |key: &str| items.iter().position(|i| i.key == key);
                let old = &self.epochs[current.epoch].items;
                // Without a loop, nothing wraps: past the end of the list is "over".
                let successors = if looping {
                    old.len()
                } else {
                    old.len() - current.index
                };
                let start = match position_of(&current.key) {
                    Some(p) if looping => (p + 1) % items.len().max(1),
                    Some(p) => p + 1,
                    None => (1..successors)
                        .find_map(|k| position_of(&old[(current.index + k) % old.len()].key))
                        .unwrap_or(if looping { 0 } else { items.len() }),
                };
                let segments = old[current.index].segment_count();
                // A later epoch already pending at `from` is replaced.
                next.epochs.retain(|e| e.from_ms < from);
                next.epochs.push(Epoch {
                    from_ms: from,
                    start,
                    items,
                    first_item: Some(current.item_number + 1),
                    first_segment: Some(current.segment_number + segments),
                    once: !looping,
                });
            }
        }
        let drop = next.epochs.len().saturating_sub(KEEP_EPOCHS);
        next.epochs.drain(..drop);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, secs: u64) -> ScheduleItem {
        ScheduleItem {
            key: key.into(),
            duration_ms: secs * 1000,
            segments: secs / 2,
        }
    }

    fn epoch(from_ms: u64, items: Vec<ScheduleItem>) -> Epoch {
        Epoch {
            from_ms,
            start: 0,
            items,
            first_item: None,
            first_segment: None,
            once: false,
        }
    }

    fn schedule() -> Schedule {
        Schedule {
            origin_ms: None,
            epochs: vec![epoch(1_000_000, vec![item("a", 10), item("b", 20)])],
        }
    }

    #[test]
    fn now_playing_walks_the_loop() {
        let s = schedule();
        assert_eq!(s.at(999_999), None);
        let n = s.at(1_000_000 + 5_000).unwrap();
        assert_eq!((n.key.as_str(), n.started_at_ms, n.sequence), ("a", 1_000_000, 0));
        assert!((n.position(1_005_000) - 5.0).abs() < 1e-9);
        let n = s.at(1_000_000 + 12_000).unwrap();
        assert_eq!((n.key.as_str(), n.started_at_ms, n.sequence), ("b", 1_010_000, 1));
        let n = s.at(1_000_000 + 3 * 30_000 + 1_000).unwrap();
        assert_eq!((n.key.as_str(), n.sequence), ("a", 6));
        assert_eq!(s.next_after(1_000_000 + 5_000).unwrap().key, "b");
    }

    #[test]
    fn a_new_item_waits_for_the_current_one_to_end() {
        let s = schedule();
        let t = 1_000_000 + 12_000; // "b" playing since 1_010_000, ends 1_030_000
        let s2 = s.with_items(vec![item("a", 10), item("b", 20), item("c", 5)], t);
        assert_eq!(
            s2.at(t),
            s.at(t).map(|mut n| {
                n.epoch = 0;
                n
            })
        );
        assert_eq!(s2.at(1_029_999).unwrap().key, "b");
        let after = s2.at(1_030_000).unwrap();
        assert_eq!((after.key.as_str(), after.started_at_ms), ("c", 1_030_000));
        assert_eq!(s2.at(1_035_000).unwrap().key, "a");
        // Same list again: no change.
        assert_eq!(s2.with_items(s2.items().to_vec(), t), s2);
    }

    #[test]
    fn removing_the_playing_item_continues_with_its_successor() {
        let s = Schedule {
            origin_ms: None,
            epochs: vec![epoch(0, vec![item("a", 10), item("b", 10), item("c", 10)])],
        };
        let s2 = s.with_items(vec![item("a", 10), item("c", 10)], 15_000);
        assert_eq!(s2.at(15_000).unwrap().key, "b", "b finishes");
        assert_eq!(s2.at(20_000).unwrap().key, "c");
    }

    #[test]
    fn an_empty_channel_starts_when_its_first_item_arrives() {
        let s = Schedule::default().with_items(vec![item("a", 10)], 5_000);
        assert_eq!(s.at(5_000).unwrap().started_at_ms, 5_000);
    }

    #[test]
    fn numbers_run_on_across_epochs_and_survive_dropped_epochs() {
        // a: 5 segments, b: 10 segments; a new item list every 7 s for a while.
        let mut s = schedule();
        let first = s.at(1_000_000).unwrap();
        assert_eq!((first.item_number, first.segment_number), (10_000, 10_000));
        let mut t = 1_000_000;
        let mut last = (first.item_number, first.segment_number, first.started_at_ms);
        let mut lists = [
            vec![item("a", 10), item("b", 20)],
            vec![item("a", 10), item("b", 20), item("c", 4)],
        ]
        .into_iter()
        .cycle();
        for _ in 0..40 {
            s = s.with_items(lists.next().unwrap(), t);
            // Every item start from the previous one on: numbers grow by one item and by
            // the previous item's segment count, whatever epoch each comes from.
            let mut at = last.2;
            let mut prev = s.at(at).unwrap();
            for _ in 0..6 {
                at = prev.ends_at_ms();
                let n = s.at(at).unwrap();
                assert_eq!(n.item_number, prev.item_number + 1, "at {at}");
                let prev_segments = prev.duration_ms / 2000;
                assert_eq!(n.segment_number, prev.segment_number + prev_segments, "at {at}");
                prev = n;
            }
            let now = s.at(t).unwrap();
            assert!(now.item_number >= last.0 && now.segment_number >= last.1);
            last = (now.item_number, now.segment_number, now.started_at_ms);
            t += 7_000;
        }
        assert!(s.epochs.len() <= KEEP_EPOCHS);
        assert_eq!(s.origin_ms(), Some(1_000_000), "the timeline's zero stays put");
    }

    #[test]
    fn a_channel_that_does_not_loop_plays_its_list_once() {
        let once = |s: &Schedule, items, t| s.with_items_looping(items, t, false);
        let s = once(&Schedule::default(), vec![item("a", 10), item("b", 10)], 0);
        assert_eq!(s.at(5_000).unwrap().key, "a");
        assert_eq!(s.at(15_000).unwrap().key, "b");
        assert_eq!(s.next_after(15_000), None, "nothing after the last item");
        assert_eq!(s.at(20_000), None, "over");
        // An item added while it plays joins the run...
        let s = once(&s, vec![item("a", 10), item("b", 10), item("c", 10)], 12_000);
        assert_eq!(s.at(25_000).unwrap().key, "c");
        assert_eq!(s.at(30_000), None);
        // ...one added after it is over plays alone, at once.
        let s = once(
            &s,
            vec![item("a", 10), item("b", 10), item("c", 10), item("d", 4)],
            40_000,
        );
        let d = s.at(41_000).unwrap();
        assert_eq!((d.key.as_str(), d.started_at_ms), ("d", 40_000));
        assert_eq!(s.at(44_000), None);
        // The same list again changes nothing; the numbers ran on.
        assert_eq!(once(&s, s.items().to_vec(), 50_000), s);
        assert_eq!(d.item_number, s.at(0).unwrap().item_number + 3);
    }

    #[test]
    fn schedules_written_before_numbers_were_recorded_still_load() {
        let old = r#"{"epochs":[{"from_ms":1000000,"start":0,"items":[{"key":"a","duration_ms":10000}]}]}"#;
        let s: Schedule = serde_json::from_str(old).unwrap();
        let n = s.at(1_015_000).unwrap();
        assert_eq!((n.item_number, n.segment_number), (10_001, 10_001));
        assert_eq!(s.origin_ms(), Some(1_000_000));
    }
}

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

use serde::{Deserialize, Serialize};

/// One item of a channel as the schedule sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleItem {
    /// Stable key (`video:<id>` or `library:<path>`).
    pub key: String,
    /// Milliseconds.
    pub duration_ms: u64,
}

/// From `from_ms` on, loop over `items` starting with `items[start]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub from_ms: u64,
    pub start: usize,
    pub items: Vec<ScheduleItem>,
}

/// The item playing at some instant.
#[derive(Debug, Clone, PartialEq)]
pub struct NowPlaying {
    /// Index into the epoch's item list.
    pub index: usize,
    pub key: String,
    pub started_at_ms: u64,
    pub duration_ms: u64,
    /// Items started since the epoch began (for a monotonic sequence number).
    pub sequence: u64,
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
    pub epochs: Vec<Epoch>,
}

/// Epochs kept (older ones can no longer matter once a newer one has begun).
const KEEP_EPOCHS: usize = 8;

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
        let elapsed = t_ms - epoch.from_ms;
        let loops = elapsed / cycle;
        let mut offset = elapsed % cycle;
        let mut index = epoch.start % items.len();
        let mut started = epoch.from_ms + loops * cycle;
        let mut sequence = loops * items.len() as u64;
        loop {
            let d = items[index].duration_ms.max(1);
            if offset < d {
                return Some(NowPlaying {
                    index,
                    key: items[index].key.clone(),
                    started_at_ms: started,
                    duration_ms: d,
                    sequence,
                    epoch: e_index,
                });
            }
            offset -= d;
            started += d;
            sequence += 1;
            index = (index + 1) % items.len();
        }
    }

    /// The item after the one playing at `t_ms` (what "next" shows).
    pub fn next_after(&self, t_ms: u64) -> Option<NowPlaying> {
        let now = self.at(t_ms)?;
        self.at(now.ends_at_ms())
    }

    /// The current item list (of the newest epoch).
    pub fn items(&self) -> &[ScheduleItem] {
        self.epochs.last().map(|e| e.items.as_slice()).unwrap_or(&[])
    }

    /// A schedule whose item list becomes `items` without interrupting what plays at
    /// `now_ms`: the new list takes effect when the current item ends, continuing with
    /// the item that follows it in the new order. Returns `self` unchanged when the list
    /// is the same.
    pub fn with_items(&self, items: Vec<ScheduleItem>, now_ms: u64) -> Schedule {
        if self.items() == items.as_slice() {
            return self.clone();
        }
        let mut next = self.clone();
        match self.at(now_ms) {
            None => {
                // Nothing plays (empty channel): start now, from the first item.
                next.epochs.push(Epoch {
                    from_ms: now_ms,
                    start: 0,
                    items,
                });
            }
            Some(current) => {
                let from = current.ends_at_ms();
                // The new order continues after the current item if it is still listed,
                // else with the first of its old successors that is.
                let position_of = |key: &str| items.iter().position(|i| i.key == key);
                let old = &self.epochs[current.epoch].items;
                let start = match position_of(&current.key) {
                    Some(p) => (p + 1) % items.len().max(1),
                    None => (1..old.len())
                        .find_map(|k| position_of(&old[(current.index + k) % old.len()].key))
                        .unwrap_or(0),
                };
                // A later epoch already pending at `from` is replaced.
                next.epochs.retain(|e| e.from_ms < from);
                next.epochs.push(Epoch {
                    from_ms: from,
                    start,
                    items,
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
        }
    }

    fn schedule() -> Schedule {
        Schedule {
            epochs: vec![Epoch {
                from_ms: 1_000_000,
                start: 0,
                items: vec![item("a", 10), item("b", 20)],
            }],
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
            epochs: vec![Epoch {
                from_ms: 0,
                start: 0,
                items: vec![item("a", 10), item("b", 10), item("c", 10)],
            }],
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
}

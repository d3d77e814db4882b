//! [`Channels`]: every channel's schedule, items, likes and update broadcast.
//!
//! The hub keeps each channel's [`Schedule`] in step with the catalog (a new ready video
//! joins `main` at the end of the current item), persists it under the media root, and
//! runs one thread that publishes an `update` event when a channel's item changes and a
//! `tick` at least every [`TICK`]. Each SSE client only holds a `broadcast` receiver: a
//! thousand idle clients cost a thousand small queues, not a thousand timers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::guide::{self, LineupEntry, Programme};
use super::likes::{Likes, Vote, Votes};
use super::live_playlist::ItemMedia;
use super::schedule::{Schedule, ScheduleItem};
use crate::live::Clock;

/// Longest time between two events on a channel's stream.
pub const TICK: Duration = Duration::from_secs(5);
/// Longest sleep of the publisher thread (it also wakes at boundaries, ticks, refreshes).
const MAX_SLEEP: Duration = Duration::from_millis(500);
/// The channel every server has.
pub const MAIN: &str = "main";

/// Something a channel can play, as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelItem {
    /// Stable key: `video:<id>` or `library:<path>`.
    pub key: String,
    pub video: Option<String>,
    pub library: Option<String>,
    pub title: String,
    /// Seconds.
    pub duration: f64,
    /// Master playlist URL.
    pub url: String,
    pub media: ItemMedia,
}

/// Where channel items come from (the catalog; a fake in tests).
pub trait ItemSource: Send + Sync {
    /// Ready items in upload order (videos first, then library items by name).
    fn ready_items(&self) -> Vec<ChannelItem>;
}

/// A channel defined in the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDef {
    pub name: String,
    /// Item keys (`video:<id>`, `library:<path>`), or empty for "every ready item".
    #[serde(default)]
    pub items: Vec<String>,
    /// `listed` (as given) or `upload` (upload order).
    #[serde(default = "default_order")]
    pub order: String,
    /// Start over after the last item (default), or play the list once.
    #[serde(default = "default_loop", rename = "loop")]
    pub looping: bool,
    /// Guide number for Live TV clients (`"4"`, `"4.1"`); default: the next free whole
    /// number (`main` is 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Absolute URL of the channel's logo for Live TV clients; default: reel's own
    /// (`/channels/{name}/logo.svg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

fn default_loop() -> bool {
    true
}

fn default_order() -> String {
    "listed".into()
}

impl ChannelDef {
    /// Checks a definition from the `--channels` file: the name goes into URLs and a file
    /// name under the media root, so it is letters, digits, `-` and `_` only.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(format!(
                "channel name {:?}: use 1 to 64 letters, digits, '-' or '_'",
                self.name
            ));
        }
        if self.name == MAIN {
            return Err("channel \"main\" always exists and cannot be redefined".into());
        }
        if !matches!(self.order.as_str(), "listed" | "upload") {
            return Err(format!(
                "channel {:?}: order {:?} is neither \"listed\" nor \"upload\"",
                self.name, self.order
            ));
        }
        if let Some(number) = &self.number {
            let ok = !number.is_empty()
                && number.len() <= 16
                && number
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!(
                    "channel {:?}: number {number:?} is not a guide number like \"4\" or \"4.1\"",
                    self.name
                ));
            }
        }
        if let Some(logo) = &self.logo {
            if !(logo.starts_with("http://") || logo.starts_with("https://")) {
                return Err(format!(
                    "channel {:?}: logo {logo:?} is not an absolute http(s) URL",
                    self.name
                ));
            }
        }
        if let Some(bad) = self
            .items
            .iter()
            .find(|k| !(k.starts_with("video:") || k.starts_with("library:")))
        {
            return Err(format!(
                "channel {:?}: item {bad:?} is neither \"video:<id>\" nor \"library:<path>\"",
                self.name
            ));
        }
        Ok(())
    }
}

/// An item of a channel, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemView {
    pub index: usize,
    pub video: Option<String>,
    pub library: Option<String>,
    pub title: String,
    pub duration: f64,
    pub url: String,
    pub likes: u64,
    pub dislikes: u64,
}

/// What plays now or next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotView {
    pub index: usize,
    pub video: Option<String>,
    pub library: Option<String>,
    pub title: String,
    pub url: String,
    pub duration: f64,
    pub started_at_ms: u64,
    pub position: f64,
}

/// The channel object of the API (`GET /api/channels/{name}`, SSE event data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelView {
    pub name: String,
    pub server_time_ms: u64,
    pub now: Option<SlotView>,
    pub next: Option<SlotView>,
    pub items: Vec<ItemView>,
}

struct ChannelState {
    def: ChannelDef,
    schedule: Schedule,
    items: Vec<ChannelItem>,
    events: broadcast::Sender<Bytes>,
    /// Key and start of the item last announced, to detect a change.
    announced: Option<(String, u64)>,
}

pub struct Channels {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    source: Arc<dyn ItemSource>,
    likes: Likes,
    channels: RwLock<BTreeMap<String, ChannelState>>,
}

impl Channels {
    /// Opens the channels stored under `dir` (`main` plus `defs`).
    pub fn open(
        dir: &Path,
        defs: Vec<ChannelDef>,
        clock: Arc<dyn Clock>,
        source: Arc<dyn ItemSource>,
    ) -> Arc<Channels> {
        let mut channels = BTreeMap::new();
        let main = ChannelDef {
            name: MAIN.into(),
            items: Vec::new(),
            order: "upload".into(),
            looping: true,
            number: None,
            logo: None,
        };
        let mut defs: Vec<ChannelDef> = std::iter::once(main).chain(defs).collect();
        // Guide numbers: as given, else the next whole number not taken, in file order.
        let taken: Vec<String> = defs.iter().filter_map(|d| d.number.clone()).collect();
        let mut next = 1u32;
        for def in defs.iter_mut().filter(|d| d.number.is_none()) {
            while taken.contains(&next.to_string()) {
                next += 1;
            }
            def.number = Some(next.to_string());
            next += 1;
        }
        for def in defs {
            let schedule = std::fs::read(schedule_path(dir, &def.name))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let (events, _) = broadcast::channel(16);
            channels.insert(
                def.name.clone(),
                ChannelState {
                    def,
                    schedule,
                    items: Vec::new(),
                    events,
                    announced: None,
                },
            );
        }
        let hub = Arc::new(Channels {
            dir: dir.to_path_buf(),
            clock,
            source,
            likes: Likes::open(dir.join("likes.json")),
            channels: RwLock::new(channels),
        });
        hub.refresh();
        hub
    }

    /// The hub's clock, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.unix_ms()
    }

    pub fn names(&self) -> Vec<String> {
        self.channels.read().keys().cloned().collect()
    }

    /// Brings every schedule in step with the catalog's ready items; persists changes.
    pub fn refresh(&self) {
        self.likes.reload(); // votes cast through another reel process
        let ready = self.source.ready_items();
        let now = self.clock.unix_ms();
        let mut channels = self.channels.write();
        for (name, ch) in channels.iter_mut() {
            // Another reel on the same media root may have moved the schedule on.
            if let Some(stored) = std::fs::read(schedule_path(&self.dir, name))
                .ok()
                .and_then(|b| serde_json::from_slice::<Schedule>(&b).ok())
            {
                let newest = |s: &Schedule| s.epochs.last().map(|e| e.from_ms);
                if newest(&stored) >= newest(&ch.schedule) {
                    ch.schedule = stored;
                }
            }
            let items = select(&ch.def, &ready);
            let keys: Vec<ScheduleItem> = items
                .iter()
                .map(|i| ScheduleItem {
                    key: i.key.clone(),
                    duration_ms: (i.duration * 1000.0).round() as u64,
                    segments: i.media.renditions.first().map_or(0, |r| r.segments.len() as u64),
                })
                .collect();
            let next = ch.schedule.with_items_looping(keys, now, ch.def.looping);
            if next != ch.schedule {
                ch.schedule = next;
                if let Err(e) = persist(&self.dir, name, &ch.schedule) {
                    log::warn!("channel {name}: cannot save its schedule: {e}");
                }
            }
            ch.items = items;
        }
    }

    /// The channel object at the clock's now.
    pub fn view(&self, name: &str) -> Option<ChannelView> {
        let channels = self.channels.read();
        let ch = channels.get(name)?;
        Some(self.view_of(name, ch, self.clock.unix_ms()))
    }

    fn view_of(&self, name: &str, ch: &ChannelState, now: u64) -> ChannelView {
        let slot = |np: Option<super::schedule::NowPlaying>| {
            let np = np?;
            let index = ch.items.iter().position(|i| i.key == np.key)?;
            let item = &ch.items[index];
            Some(SlotView {
                index,
                video: item.video.clone(),
                library: item.library.clone(),
                title: item.title.clone(),
                url: item.url.clone(),
                duration: item.duration,
                started_at_ms: np.started_at_ms,
                position: np.position(now).max(0.0),
            })
        };
        ChannelView {
            name: name.to_string(),
            server_time_ms: now,
            now: slot(ch.schedule.at(now)),
            next: slot(ch.schedule.next_after(now)),
            items: ch
                .items
                .iter()
                .enumerate()
                .map(|(index, i)| {
                    let Votes { likes, dislikes } = self.likes.get(name, &i.key);
                    ItemView {
                        index,
                        video: i.video.clone(),
                        library: i.library.clone(),
                        title: i.title.clone(),
                        duration: i.duration,
                        url: i.url.clone(),
                        likes,
                        dislikes,
                    }
                })
                .collect(),
        }
    }

    /// Records a like or dislike of item `index` of channel `name`.
    pub fn vote(&self, name: &str, index: usize, vote: Vote) -> Option<std::io::Result<Votes>> {
        let channels = self.channels.read();
        let item = channels.get(name)?.items.get(index)?;
        Some(self.likes.vote(name, &item.key, vote))
    }

    /// A receiver of the channel's SSE events (already formatted `event:`/`data:` text).
    pub fn subscribe(&self, name: &str) -> Option<broadcast::Receiver<Bytes>> {
        Some(self.channels.read().get(name)?.events.subscribe())
    }

    /// Every channel as a tuner lists it, by guide number.
    pub fn lineup(&self) -> Vec<LineupEntry> {
        let channels = self.channels.read();
        let mut lineup: Vec<LineupEntry> = channels
            .values()
            .map(|ch| LineupEntry {
                name: ch.def.name.clone(),
                number: ch.def.number.clone().unwrap_or_default(),
                logo: ch.def.logo.clone(),
            })
            .collect();
        let key = |n: &str| -> Vec<u32> { n.split('.').map(|p| p.parse().unwrap_or(u32::MAX)).collect() };
        lineup.sort_by(|a, b| key(&a.number).cmp(&key(&b.number)).then(a.name.cmp(&b.name)));
        lineup
    }

    /// The plays of channel `name` overlapping `[from_ms, to_ms)` with their items.
    pub fn guide(&self, name: &str, from_ms: u64, to_ms: u64) -> Option<Vec<(Programme, ChannelItem)>> {
        let channels = self.channels.read();
        let ch = channels.get(name)?;
        Some(
            guide::programmes(&ch.schedule, from_ms, to_ms)
                .into_iter()
                .filter_map(|p| {
                    let item = ch.items.iter().find(|i| i.key == p.key)?.clone();
                    Some((p, item))
                })
                .collect(),
        )
    }

    /// The schedule and a lookup of item media, for the live playlist.
    pub fn playlist_inputs(&self, name: &str) -> Option<(Schedule, BTreeMap<String, ItemMedia>)> {
        let channels = self.channels.read();
        let ch = channels.get(name)?;
        let media = ch
            .items
            .iter()
            .map(|i| (i.key.clone(), i.media.clone()))
            .collect();
        Some((ch.schedule.clone(), media))
    }

    /// Publishes `update` on item changes and `tick` every [`TICK`]; refreshes from the
    /// catalog every `refresh_every`. Runs on its own thread while the hub lives.
    ///
    /// The thread sleeps until the earliest of: the next item boundary of any channel,
    /// the next tick, the next refresh, and [`MAX_SLEEP`]. Waking *at* the boundary (not
    /// on the next turn of a fixed poll) is what keeps an `update` within a few
    /// milliseconds of the schedule's change instant (see `benches/sse_fanout.rs`).
    pub fn spawn_publisher(self: &Arc<Self>, refresh_every: Duration) {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("channel-events".into())
            .spawn(move || {
                let mut next_tick = Instant::now();
                let mut next_refresh = Instant::now() + refresh_every;
                loop {
                    let Some(hub) = weak.upgrade() else { return };
                    let now = Instant::now();
                    if now >= next_refresh {
                        hub.refresh();
                        next_refresh = now + refresh_every;
                    }
                    let tick = now >= next_tick;
                    if tick {
                        next_tick = now + TICK;
                    }
                    let boundary = hub.publish(tick);
                    // Milliseconds until the next boundary, rounded up: the clock reads
                    // whole milliseconds, so waking early would find the old item.
                    let until_boundary = boundary
                        .map(|at| Duration::from_millis(at.saturating_sub(hub.now_ms())))
                        .unwrap_or(MAX_SLEEP);
                    drop(hub);
                    let now = Instant::now();
                    let wait = until_boundary
                        .min(next_tick.saturating_duration_since(now))
                        .min(next_refresh.saturating_duration_since(now))
                        .min(MAX_SLEEP);
                    std::thread::sleep(wait.max(Duration::from_millis(1)));
                }
            })
            .expect("spawning the channel publisher");
    }

    /// Sends `update` to channels whose item changed, and `tick` to all when `tick`.
    /// Returns the next instant (Unix ms) at which some channel's item changes.
    pub fn publish(&self, tick: bool) -> Option<u64> {
        let now = self.clock.unix_ms();
        let mut next_boundary: Option<u64> = None;
        let mut channels = self.channels.write();
        let names: Vec<String> = channels.keys().cloned().collect();
        for name in names {
            let ch = channels.get_mut(&name).expect("listed above");
            let playing = ch.schedule.at(now);
            if let Some(end) = playing.as_ref().map(|n| n.ends_at_ms()) {
                next_boundary = Some(next_boundary.map_or(end, |b| b.min(end)));
            }
            // A channel whose first epoch starts later (another reel wrote it) changes then.
            if let Some(first) = ch.schedule.epochs.first().map(|e| e.from_ms).filter(|&f| f > now) {
                next_boundary = Some(next_boundary.map_or(first, |b| b.min(first)));
            }
            let current = playing.map(|n| (n.key, n.started_at_ms));
            let changed = current != ch.announced;
            if !changed && !tick {
                continue;
            }
            ch.announced = current;
            let view = self.view_of(&name, ch, now);
            let kind = if changed { "update" } else { "tick" };
            let data = serde_json::to_string(&view).expect("views serialise");
            // No receivers is fine: nobody is watching.
            let _ = ch
                .events
                .send(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")));
        }
        next_boundary
    }
}

/// The items of a channel from the catalog's ready items.
fn select(def: &ChannelDef, ready: &[ChannelItem]) -> Vec<ChannelItem> {
    if def.items.is_empty() {
        return ready.to_vec();
    }
    let mut listed: Vec<ChannelItem> = def
        .items
        .iter()
        .filter_map(|k| ready.iter().find(|i| &i.key == k).cloned())
        .collect();
    if def.order == "upload" {
        listed.sort_by_key(|i| ready.iter().position(|r| r.key == i.key));
    }
    listed
}

fn schedule_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.schedule.json"))
}

fn persist(dir: &Path, name: &str, schedule: &Schedule) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(schedule).map_err(std::io::Error::other)?;
    crate::atomic_file::write(&schedule_path(dir, name), &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ManualClock;
    use parking_lot::Mutex;

    struct Fake(Mutex<Vec<ChannelItem>>);
    impl ItemSource for Fake {
        fn ready_items(&self) -> Vec<ChannelItem> {
            self.0.lock().clone()
        }
    }

    fn item(id: &str, secs: f64) -> ChannelItem {
        ChannelItem {
            key: format!("video:{id}"),
            video: Some(id.into()),
            library: None,
            title: id.to_uppercase(),
            duration: secs,
            url: crate::catalog::video::Links::for_id(id).master,
            media: ItemMedia {
                media_id: id.into(),
                renditions: Vec::new(),
                audio: None,
            },
        }
    }

    #[test]
    fn upload_mid_item_waits_restart_keeps_schedule_and_likes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::default();
        let source = Arc::new(Fake(Mutex::new(vec![item("a", 10.0), item("b", 10.0)])));
        let hub = Channels::open(dir.path(), Vec::new(), Arc::new(clock.clone()), source.clone());
        clock.advance(Duration::from_millis(13_000));
        let before = hub.view(MAIN).unwrap();
        let now = before.now.clone().unwrap();
        assert_eq!((now.title.as_str(), (now.position * 10.0).round()), ("B", 30.0));

        source.0.lock().push(item("c", 5.0));
        hub.refresh();
        let after = hub.view(MAIN).unwrap();
        assert_eq!(
            after.now.as_ref().unwrap().title,
            "B",
            "the upload did not interrupt b"
        );
        // A, next in the loop, is within the fixed part of the schedule (a live playlist
        // may already list it); the new order takes over after it: B, then C.
        assert_eq!(after.next.as_ref().unwrap().title, "A");
        assert_eq!(after.items.len(), 3);

        assert_eq!(hub.vote(MAIN, 0, Vote::Like).unwrap().unwrap().likes, 1);
        drop(hub);
        let hub = Channels::open(dir.path(), Vec::new(), Arc::new(clock.clone()), source);
        let again = hub.view(MAIN).unwrap();
        assert_eq!(again.now, after.now, "a restart does not jump");
        assert_eq!(again.items[0].likes, 1);
        clock.advance(Duration::from_millis(27_000));
        assert_eq!(hub.view(MAIN).unwrap().now.unwrap().title, "C", "C after A and B");
    }

    #[test]
    fn events_carry_updates_on_item_change_and_ticks() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::default();
        let source = Arc::new(Fake(Mutex::new(vec![item("a", 10.0), item("b", 10.0)])));
        let hub = Channels::open(dir.path(), Vec::new(), Arc::new(clock.clone()), source);
        let mut rx = hub.subscribe(MAIN).unwrap();
        hub.publish(false);
        let first = String::from_utf8(rx.try_recv().unwrap().to_vec()).unwrap();
        assert!(first.starts_with("event: update\ndata: {"), "{first}");
        hub.publish(false);
        assert!(rx.try_recv().is_err(), "no change, no tick: nothing sent");
        hub.publish(true);
        assert!(String::from_utf8(rx.try_recv().unwrap().to_vec())
            .unwrap()
            .starts_with("event: tick"));
        clock.advance(Duration::from_secs(11));
        hub.publish(false);
        let update = String::from_utf8(rx.try_recv().unwrap().to_vec()).unwrap();
        assert!(
            update.starts_with("event: update") && update.contains("\"title\":\"B\""),
            "{update}"
        );
    }

    #[test]
    fn publish_names_the_next_boundary_and_announces_each_item_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::default();
        let source = Arc::new(Fake(Mutex::new(vec![item("a", 3.0), item("b", 4.5)])));
        let hub = Channels::open(dir.path(), Vec::new(), Arc::new(clock.clone()), source);
        let start = hub.now_ms();
        let mut rx = hub.subscribe(MAIN).unwrap();
        let mut titles = Vec::new();
        // Walk 30 s in 250 ms steps, as the publisher thread would (it wakes at boundaries).
        for _ in 0..120 {
            let next = hub.publish(false).expect("something plays");
            assert!(next > hub.now_ms() && next - hub.now_ms() <= 4_500);
            while let Ok(b) = rx.try_recv() {
                let text = String::from_utf8(b.to_vec()).unwrap();
                let data: serde_json::Value =
                    serde_json::from_str(text.split_once("data: ").unwrap().1.trim()).unwrap();
                let now = &data["now"];
                // An update leaves at its item's start instant, never late.
                assert!(text.starts_with("event: update"));
                assert!(
                    data["server_time_ms"].as_u64().unwrap() - now["started_at_ms"].as_u64().unwrap() < 250
                );
                titles.push(now["title"].as_str().unwrap().to_string());
            }
            clock.advance(Duration::from_millis(250));
        }
        // 30 s of a 7.5 s loop starting with "a": a b a b a b a b, each once.
        assert_eq!(titles, ["A", "B", "A", "B", "A", "B", "A", "B"]);
        assert_eq!(hub.view(MAIN).unwrap().now.unwrap().started_at_ms, start + 30_000);
    }
}

//! [`Channels`]: every channel's schedule, items, likes and update broadcast.
//!
//! The hub keeps each channel's [`Schedule`] in step with the catalog (a new ready video
//! joins `main` at the end of the current item) and stores it where every instance reads
//! it ([`ChannelStores`]: files under the media root, or Redis). Two threads run beside
//! the HTTP workers:
//!
//! ```text
//! channel-sync    every second: other instances' votes and schedules, the catalog's
//!                 items, a new epoch when they changed (compare-and-set); may block on
//!                 the disk or Redis, never while holding the hub's lock
//! channel-events  publishes `update` when a channel's item changes, `tick` at least every
//!                 TICK; wakes at boundaries and when channel-sync changed a schedule
//! ```
//!
//! Each SSE client only holds a `broadcast` receiver: a thousand idle clients cost a
//! thousand small queues, not a thousand timers. Requests read the hub from memory: when
//! Redis is away, channels play on from the last schedule known and show the last counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::epochs::{FileSchedules, RedisSchedules, ScheduleStore};
use super::guide::{self, LineupEntry, Programme};
use super::likes::{FileLikes, Likes, RedisLikes, Vote, Votes};
use super::live_playlist::ItemMedia;
use super::schedule::{Schedule, ScheduleItem};
use super::vote_limit::VoteLimit;
use super::PersistError;
use crate::live::Clock;
use crate::redis_link::RedisLink;

/// Longest time between two events on a channel's stream.
pub const TICK: Duration = Duration::from_secs(5);
/// Longest sleep of the publisher thread (it also wakes at boundaries, ticks, refreshes).
const MAX_SLEEP: Duration = Duration::from_millis(500);
/// The channel every server has.
pub const MAIN: &str = "main";
/// Tries to store a new schedule when other instances keep storing theirs first.
const STORE_ATTEMPTS: usize = 3;

/// Where the hub keeps what every instance must share: schedules and likes.
pub struct ChannelStores {
    pub schedules: Arc<dyn ScheduleStore>,
    pub likes: Arc<dyn Likes>,
    /// Votes per client and minute.
    pub votes: VoteLimit,
}

impl ChannelStores {
    /// Files in `dir` (`{media}/.channels`): one instance, or several on one folder.
    pub fn files(dir: &Path) -> ChannelStores {
        ChannelStores {
            schedules: Arc::new(FileSchedules::new(dir)),
            likes: Arc::new(FileLikes::open(dir.join("likes.json"))),
            votes: VoteLimit::in_memory(),
        }
    }

    /// Redis, for every instance joined through it (`--redis`).
    pub fn redis(link: &Arc<RedisLink>) -> ChannelStores {
        ChannelStores {
            schedules: Arc::new(RedisSchedules::new(link.clone())),
            likes: Arc::new(RedisLikes::new(link.clone())),
            votes: VoteLimit::in_redis(link.clone()),
        }
    }

    /// Redis when there is a link, else files in `dir`.
    pub fn new(dir: &Path, redis: Option<&Arc<RedisLink>>) -> ChannelStores {
        match redis {
            Some(link) => ChannelStores::redis(link),
            None => ChannelStores::files(dir),
        }
    }
}

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
    /// The stored version `schedule` comes from (0: none stored).
    version: u64,
    items: Vec<ChannelItem>,
    events: broadcast::Sender<Bytes>,
    /// Key and start of the item last announced, to detect a change.
    announced: Option<(String, u64)>,
}

pub struct Channels {
    clock: Arc<dyn Clock>,
    source: Arc<dyn ItemSource>,
    schedules: Arc<dyn ScheduleStore>,
    likes: Arc<dyn Likes>,
    votes: VoteLimit,
    channels: RwLock<BTreeMap<String, ChannelState>>,
    /// channel-sync tells channel-events that a schedule changed.
    wake: (Sender<()>, Receiver<()>),
}

impl Channels {
    /// Opens the channels (`main` plus `defs`) kept in `stores`.
    pub fn open(
        stores: ChannelStores,
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
            let (events, _) = broadcast::channel(16);
            channels.insert(
                def.name.clone(),
                ChannelState {
                    def,
                    schedule: Schedule::default(),
                    version: 0,
                    items: Vec::new(),
                    events,
                    announced: None,
                },
            );
        }
        let hub = Arc::new(Channels {
            clock,
            source,
            schedules: stores.schedules,
            likes: stores.likes,
            votes: stores.votes,
            channels: RwLock::new(channels),
            wake: crossbeam_channel::bounded(1),
        });
        hub.refresh(); // the stored schedules and counts
        hub
    }

    /// The hub's clock, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.unix_ms()
    }

    pub fn names(&self) -> Vec<String> {
        self.channels.read().keys().cloned().collect()
    }

    /// Brings every schedule in step with the stored ones (other instances' epochs) and
    /// with the catalog's ready items, storing a new epoch when the items changed; picks
    /// up other instances' votes. Blocks on the stores, never while holding the hub's
    /// lock (requests keep being answered). One caller at a time (channel-sync): two at
    /// once could install an older result over a newer one.
    pub fn refresh(&self) {
        let mut held: BTreeMap<String, (ChannelDef, Schedule, u64)> = self
            .channels
            .read()
            .iter()
            .map(|(name, ch)| (name.clone(), (ch.def.clone(), ch.schedule.clone(), ch.version)))
            .collect();
        let known: Vec<(String, u64)> = held.iter().map(|(n, (_, _, v))| (n.clone(), *v)).collect();
        let reachable = match self.schedules.load_changed(&known) {
            Ok(changed) => {
                for (name, stored) in changed {
                    if let Some((_, schedule, version)) = held.get_mut(&name) {
                        *version = stored.version;
                        // Nothing stored (a Redis that lost its data): keep ours, to store again.
                        if let Some(stored) = stored.schedule {
                            *schedule = stored;
                        }
                    }
                }
                true
            }
            Err(e) => {
                log::debug!("channels: reading the stored schedules: {e}");
                !matches!(e, PersistError::Unavailable(_))
            }
        };
        if reachable {
            let names: Vec<String> = held.keys().cloned().collect();
            self.likes.reload(&names); // votes counted by other instances
        }
        let ready = self.source.ready_items();
        let updated: Vec<(String, Vec<ChannelItem>, Schedule, u64)> = held
            .into_iter()
            .map(|(name, (def, schedule, version))| {
                let items = select(&def, &ready);
                let (schedule, version) = match reachable {
                    true => self.follow_items(&name, &def, &items, schedule, version),
                    // Every instance keeps playing the last shared schedule.
                    false => (schedule, version),
                };
                (name, items, schedule, version)
            })
            .collect();
        let mut changed = false;
        let mut channels = self.channels.write();
        for (name, items, schedule, version) in updated {
            if let Some(ch) = channels.get_mut(&name) {
                changed |= ch.schedule != schedule;
                (ch.schedule, ch.version, ch.items) = (schedule, version, items);
            }
        }
        drop(channels);
        if changed {
            let _ = self.wake.0.try_send(()); // one wake pending is enough
        }
    }

    /// `schedule` (stored as `version`) once the channel's items are `items`: the new
    /// epoch stored for every instance, or what the store holds when another instance
    /// stored first and nothing is left to change. When the store cannot be reached,
    /// what is known; when a folder cannot be written, the new schedule all the same (one
    /// instance keeps working).
    fn follow_items(
        &self,
        name: &str,
        def: &ChannelDef,
        items: &[ChannelItem],
        mut schedule: Schedule,
        mut version: u64,
    ) -> (Schedule, u64) {
        let keys: Vec<ScheduleItem> = items
            .iter()
            .map(|i| ScheduleItem {
                key: i.key.clone(),
                duration_ms: (i.duration * 1000.0).round() as u64,
                segments: i.media.renditions.first().map_or(0, |r| r.segments.len() as u64),
            })
            .collect();
        for _ in 0..STORE_ATTEMPTS {
            let next = schedule.with_items_looping(keys.clone(), self.clock.unix_ms(), def.looping);
            // Epochs the store does not have (it lost them): store them again.
            let lost = version == 0 && !schedule.epochs.is_empty();
            if next == schedule && !lost {
                break;
            }
            match self.schedules.replace(name, version, &next) {
                Ok(Some(stored)) => return (next, stored),
                // Another instance stored first: start again from its schedule.
                Ok(None) => match self.schedules.load_changed(&[(name.to_string(), version)]) {
                    Ok(mut changed) => {
                        if let Some((_, stored)) = changed.pop() {
                            version = stored.version;
                            if let Some(theirs) = stored.schedule {
                                schedule = theirs;
                            }
                        }
                    }
                    Err(e) => {
                        log::debug!("channel {name}: reading its schedule: {e}");
                        break;
                    }
                },
                Err(PersistError::Io(e)) => {
                    log::warn!("channel {name}: cannot save its schedule: {e}");
                    return (next, version);
                }
                // The link has said Redis is away; the shared schedule stays as it is.
                Err(PersistError::Unavailable(_)) => break,
            }
        }
        (schedule, version)
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

    /// Records a like or dislike of item `index` of channel `name`. Blocks (the disk, or
    /// Redis), without holding the hub's lock.
    /// Counts a vote of `client` against its limit; false past it. Blocks (Redis).
    pub fn allow_vote(&self, client: std::net::IpAddr) -> bool {
        self.votes.allow(client)
    }

    pub fn vote(&self, name: &str, index: usize, vote: Vote) -> Option<Result<Votes, PersistError>> {
        let key = self.channels.read().get(name)?.items.get(index)?.key.clone();
        Some(self.likes.vote(name, &key, vote))
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

    /// Starts the hub's two threads (module doc): channel-sync refreshes every
    /// `refresh_every`, channel-events publishes `update` on item changes and `tick` every
    /// [`TICK`]. Both run while the hub lives.
    ///
    /// channel-events sleeps until the earliest of: the next item boundary of any channel,
    /// the next tick, [`MAX_SLEEP`], and a wake from channel-sync. Waking *at* the boundary
    /// (not on the next turn of a fixed poll) is what keeps an `update` within a few
    /// milliseconds of the schedule's change instant (see `benches/sse_fanout.rs`); it
    /// never waits on a store, so a slow disk or an absent Redis cannot delay it.
    pub fn spawn_publisher(self: &Arc<Self>, refresh_every: Duration) {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("channel-sync".into())
            .spawn(move || loop {
                let Some(hub) = weak.upgrade() else { return };
                hub.refresh();
                drop(hub);
                std::thread::sleep(refresh_every);
            })
            .expect("spawning the channel sync thread");
        let weak = Arc::downgrade(self);
        let woken = self.wake.1.clone();
        std::thread::Builder::new()
            .name("channel-events".into())
            .spawn(move || {
                let mut next_tick = Instant::now();
                loop {
                    let Some(hub) = weak.upgrade() else { return };
                    let now = Instant::now();
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
                    let wait = until_boundary
                        .min(next_tick.saturating_duration_since(Instant::now()))
                        .min(MAX_SLEEP);
                    // A wake (a schedule changed) or the hub gone ends the wait early.
                    let _ = woken.recv_timeout(wait.max(Duration::from_millis(1)));
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
        let hub = Channels::open(
            ChannelStores::files(dir.path()),
            Vec::new(),
            Arc::new(clock.clone()),
            source.clone(),
        );
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
        let hub = Channels::open(
            ChannelStores::files(dir.path()),
            Vec::new(),
            Arc::new(clock.clone()),
            source,
        );
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
        let hub = Channels::open(
            ChannelStores::files(dir.path()),
            Vec::new(),
            Arc::new(clock.clone()),
            source,
        );
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
        let hub = Channels::open(
            ChannelStores::files(dir.path()),
            Vec::new(),
            Arc::new(clock.clone()),
            source,
        );
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

    /// Two instances (hubs with their own catalogs and clocks' readings) on one Redis.
    #[test]
    fn hubs_on_one_redis_share_schedules_and_votes_and_play_on_without_it() {
        let Some(server) = crate::redis_link::test_server::TestRedis::start() else {
            return;
        };
        let clock = ManualClock::default();
        let catalog = || Arc::new(Fake(Mutex::new(vec![item("a", 10.0), item("b", 10.0)])));
        let (source_a, source_b) = (catalog(), catalog());
        let link = RedisLink::connect(&server.url(), Some("hub")).unwrap();
        let open = |source: &Arc<Fake>| {
            Channels::open(
                ChannelStores::redis(&link),
                Vec::new(),
                Arc::new(clock.clone()),
                source.clone(),
            )
        };
        let a = open(&source_a);
        clock.advance(Duration::from_millis(3_000));
        // b starts later: it plays a's schedule rather than starting one of its own.
        let b = open(&source_b);
        let now = |hub: &Channels| hub.view(MAIN).unwrap().now.unwrap();
        assert_eq!(now(&a), now(&b));
        assert_eq!(now(&b).started_at_ms, 1_700_000_000_000);

        // Both catalogs gain an item at once: one epoch is stored, and both play it.
        source_a.0.lock().push(item("c", 5.0));
        source_b.0.lock().push(item("c", 5.0));
        std::thread::scope(|s| {
            s.spawn(|| a.refresh());
            s.spawn(|| b.refresh());
        });
        a.refresh();
        let schedule = |hub: &Channels| hub.playlist_inputs(MAIN).unwrap().0;
        assert_eq!(schedule(&a), schedule(&b));
        assert_eq!(schedule(&a).epochs.len(), 2, "one new epoch, not two");

        // Votes through both add up, and each shows the sum after a refresh.
        a.vote(MAIN, 0, Vote::Like).unwrap().unwrap();
        assert_eq!(b.vote(MAIN, 0, Vote::Like).unwrap().unwrap().likes, 2);
        a.refresh();
        assert_eq!(a.view(MAIN).unwrap().items[0].likes, 2);

        // Redis goes away: both play on from the schedule they know, and agree.
        drop(server);
        clock.advance(Duration::from_millis(30_000));
        source_a.0.lock().push(item("d", 5.0));
        a.refresh();
        b.refresh();
        assert_eq!(now(&a), now(&b));
        assert_eq!(schedule(&a), schedule(&b), "no instance changed it on its own");
        assert_eq!(a.view(MAIN).unwrap().items[0].likes, 2, "the last counts known");
        assert!(matches!(
            a.vote(MAIN, 0, Vote::Like).unwrap(),
            Err(PersistError::Unavailable(_))
        ));
    }

    /// A Redis restarted without its data: the instances store what they knew again, so
    /// nothing jumps.
    #[test]
    fn schedules_are_stored_again_in_a_redis_that_lost_them() {
        let Some(server) = crate::redis_link::test_server::TestRedis::start() else {
            return;
        };
        let clock = ManualClock::default();
        let source = Arc::new(Fake(Mutex::new(vec![item("a", 10.0), item("b", 10.0)])));
        let link = RedisLink::connect(&server.url(), None).unwrap();
        let open = || {
            Channels::open(
                ChannelStores::redis(&link),
                Vec::new(),
                Arc::new(clock.clone()),
                source.clone(),
            )
        };
        let a = open();
        clock.advance(Duration::from_millis(12_000));
        let before = a.view(MAIN).unwrap().now;
        let mut con = link.connection();
        link.block_on(async move { redis::cmd("FLUSHALL").query_async::<()>(&mut con).await })
            .unwrap();
        a.refresh();
        // A new instance now finds a's schedule, not an empty Redis.
        clock.advance(Duration::from_millis(1_000));
        let b = open();
        assert_eq!(b.view(MAIN).unwrap().now, a.view(MAIN).unwrap().now);
        assert_eq!(
            b.view(MAIN).unwrap().now.unwrap().started_at_ms,
            before.unwrap().started_at_ms
        );
    }
}

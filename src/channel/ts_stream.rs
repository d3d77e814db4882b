//! `stream.ts`: a channel as one continuous MPEG-TS stream from the current moment, paced
//! at real time, remuxed from the items' existing segments (no encoder anywhere): what
//! tuners (Plex, Jellyfin, Emby through the HDHomeRun emulation), IPTV apps and VLC read.
//!
//! ```text
//! schedule.at(now) ─► item, its rung nearest the asked height, the segment playing now
//!   loop: wait until the segment starts within LEAD of the wall clock
//!         the segment demuxed (SegmentCache: once for every viewer)
//!           ─► engine::ts_remux (this stream's muxer, for the whole stream) ─► writer
//!         next segment; at an item's end, whatever the schedule plays next
//! ```
//!
//! The stream starts at the beginning of the segment playing now (a keyframe), so it runs
//! up to a segment behind the channel's moment. Timestamps are the channel timeline's
//! (item offset + the segment's own), continuous across items. Pacing keeps the stream at
//! most [`LEAD`] ahead of real time; the writer is the live sessions' bounded channel, so a
//! reader that stops reading blocks this thread (no CPU, bounded memory) and a reader that
//! goes away ends it. A channel that plays its list once ends the stream with its run.
//! An item whose audio has renditions of its own plays with its first audio track (the
//! segment of the same number, muxed in: `Demuxed::with_audio`).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use super::hub::Channels;
use super::live_playlist::ItemMedia;
use super::schedule::NowPlaying;
use crate::engine::ts_remux::{Demuxed, Placement, TsRemuxer};
use crate::live::stream::ChannelWriter;
use crate::storage::MediaStore;
use crate::time::Ts90k;

/// How far ahead of real time the stream may run: enough for a player to start at once,
/// little enough that it stays with the channel.
pub const LEAD: Duration = Duration::from_millis(3_000);
/// How often a waiting stream looks whether its reader is gone.
const POLL: Duration = Duration::from_millis(200);
/// Demuxed segments kept for the streams of every channel: viewers of a channel and rung
/// play the same few segments at once (now, and up to [`LEAD`] ahead).
const CACHED_SEGMENTS: usize = 32;

/// The segments the streams play, demuxed once for all of them (`SegmentCache`).
static SEGMENTS: LazyLock<SegmentCache> = LazyLock::new(|| SegmentCache::new(CACHED_SEGMENTS));

/// Why a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The reader went away.
    ReaderGone,
    /// A channel played once is over.
    RunOver,
    /// The channel no longer exists (or never played).
    NoChannel,
}

/// What one stream needs to know.
pub struct TsStream {
    pub hub: Arc<Channels>,
    pub channel: String,
    /// The rung to follow in each item: the nearest to this height.
    pub height: u32,
    /// The media root the items' files live under.
    /// Where the items' segments are read from.
    pub media: MediaStore,
}

impl TsStream {
    /// Produces the stream into `out` until the reader goes away or the run is over.
    pub fn run(self, out: &mut ChannelWriter) -> Ended {
        let mut remux = TsRemuxer::new();
        let Some((schedule, _)) = self.hub.playlist_inputs(&self.channel) else {
            return Ended::NoChannel;
        };
        let origin = schedule.origin_ms().unwrap_or(0);
        let now = self.hub.now_ms();
        let Some(mut item) = schedule.at(now) else {
            return Ended::NoChannel;
        };
        // The first segment: the one playing now.
        let mut from_ms = now;
        loop {
            match self.play_item(&item, from_ms, origin, &mut remux, out) {
                Ok(()) => {}
                Err(ended) => return ended,
            }
            // Whatever plays next, as the schedule says then (catalog changes included).
            let Some((schedule, _)) = self.hub.playlist_inputs(&self.channel) else {
                return Ended::NoChannel;
            };
            match schedule.at_or_after(item.ends_at_ms()) {
                Some(next) => {
                    from_ms = next.started_at_ms;
                    item = next;
                }
                None => {
                    if let Ok(tail) = remux.finish() {
                        let _ = out.write_all(&tail);
                    }
                    return Ended::RunOver;
                }
            }
        }
    }

    /// Sends the segments of `item` from the one playing at `from_ms` to its end.
    fn play_item(
        &self,
        item: &NowPlaying,
        from_ms: u64,
        origin_ms: u64,
        remux: &mut TsRemuxer,
        out: &mut ChannelWriter,
    ) -> Result<(), Ended> {
        let media = self
            .hub
            .playlist_inputs(&self.channel)
            .and_then(|(_, media)| media.get(&item.key).cloned());
        let Some((media_id, rendition)) = media
            .as_ref()
            .and_then(|m: &ItemMedia| m.nearest(self.height).map(|r| (m.media_id.clone(), r.clone())))
        else {
            // Gone from the catalog while scheduled: its slot passes in silence.
            return self.wait_until(item.ends_at_ms(), out);
        };
        // fMP4 ladders have an init segment; MPEG-TS ones (`init` null) need none.
        let read_init = |i: &String| {
            self.media.get(&format!("{media_id}/{i}")).and_then(|b| {
                b.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not stored"))
            })
        };
        let init = match rendition.init.as_ref().map(read_init) {
            Some(Ok(bytes)) => Some(bytes.to_vec()),
            None => None,
            Some(Err(e)) => {
                log::warn!(
                    "channel {}: item {media_id} has no readable init segment: {e}",
                    self.channel
                );
                return self.wait_until(item.ends_at_ms(), out);
            }
        };
        // Audio renditions of its own: the first one's segments go in beside the video's.
        let audio = media.as_ref().and_then(|m| m.audio.clone());
        let audio_init = match audio.as_ref().and_then(|a| a.init.as_ref()) {
            Some(init) => match read_init(init) {
                Ok(bytes) => Some(bytes.to_vec()),
                Err(e) => {
                    log::warn!(
                        "channel {}: item {media_id} has no readable audio init segment: {e}",
                        self.channel
                    );
                    return self.wait_until(item.ends_at_ms(), out);
                }
            },
            None => None,
        };
        // The item's place on the channel timeline, in 90 kHz ticks. Its audio is not cut
        // at its slot: the muxer drops the next item's first frames that would go back in
        // time instead, which also hides the ladder's first AAC frame (3200 ticks of 48 kHz
        // long, the encoder's priming); cut at the slot, a boundary had ~60 ms of silence.
        let place = Placement::at(Ts90k::from_millis(item.started_at_ms.saturating_sub(origin_ms)));
        let mut start_ms = item.started_at_ms;
        for (k, segment) in rendition.segments.iter().enumerate() {
            let end_ms = start_ms + (segment.duration * 1000.0).round() as u64;
            if end_ms <= from_ms {
                start_ms = end_ms;
                continue;
            }
            self.wait_until(start_ms.saturating_sub(LEAD.as_millis() as u64), out)?;
            let audio_key = audio
                .as_ref()
                .and_then(|a| a.segments.get(k))
                .map(|s| format!("{media_id}/{}", s.uri));
            let audio_segment = audio_key.as_deref().map(|key| (key, audio_init.as_deref()));
            let key = format!("{media_id}/{}", segment.uri);
            let demuxed = match SEGMENTS.get(&self.media, &key, init.as_deref(), audio_segment) {
                Ok(d) => d,
                Err(e) => {
                    log::warn!(
                        "channel {}: reading {media_id}/{}: {e}",
                        self.channel,
                        segment.uri
                    );
                    start_ms = end_ms;
                    continue;
                }
            };
            match remux.push_demuxed(&demuxed, place) {
                Ok(ts) => out.write_all(&ts).map_err(|_| Ended::ReaderGone)?,
                Err(e) => log::warn!(
                    "channel {}: remuxing {media_id}/{}: {e}",
                    self.channel,
                    segment.uri
                ),
            }
            start_ms = end_ms;
        }
        Ok(())
    }

    /// Sleeps until the hub's clock reads `at_ms`, ending early if the reader goes away.
    fn wait_until(&self, at_ms: u64, out: &ChannelWriter) -> Result<(), Ended> {
        loop {
            if out.is_closed() {
                return Err(Ended::ReaderGone);
            }
            let now = self.hub.now_ms();
            if now >= at_ms {
                return Ok(());
            }
            std::thread::sleep(POLL.min(Duration::from_millis(at_ms - now)));
        }
    }
}

/// The last `capacity` segments demuxed, by file: demuxing a segment (libavformat opens it
/// and probes its streams, decoding a frame or two) costs far more than muxing it, and
/// every viewer of a channel and rung needs the same segment at about the same time.
/// Segments never change in place; the key still carries the file's size and
/// modification time, so a rewritten file is demuxed anew. Two streams that ask for the
/// same segment at once wait for one demux.
pub struct SegmentCache {
    capacity: usize,
    inner: Mutex<Slots>,
}

type Key = (String, u64, Option<SystemTime>);
/// A demuxed segment, or the demux under way (its lock held by the demuxing stream).
type Slot = Arc<Mutex<Option<Arc<Demuxed>>>>;

#[derive(Default)]
struct Slots {
    by_key: HashMap<Key, Slot>,
    /// Keys, oldest first.
    order: VecDeque<Key>,
    demuxed: u64,
}

impl SegmentCache {
    pub fn new(capacity: usize) -> SegmentCache {
        SegmentCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Slots::default()),
        }
    }

    /// The segment stored at `key` (of the item whose init segment is `init`), demuxed;
    /// with `audio`, the audio rendition's segment stored at that key (and its init
    /// segment) joined. In a folder store the file's size and time are part of the cache
    /// key (a library item re-made under its id); a bucket's segment names are never reused.
    pub fn get(
        &self,
        media: &MediaStore,
        key: &str,
        init: Option<&[u8]>,
        audio: Option<(&str, Option<&[u8]>)>,
    ) -> Result<Arc<Demuxed>, String> {
        let stamp = match media.folder_root() {
            Some(root) => {
                let meta = std::fs::metadata(root.join(key)).map_err(|e| e.to_string())?;
                (meta.len(), meta.modified().ok())
            }
            None => (0, None),
        };
        let key_owned = key.to_string();
        let key = (key_owned.clone(), stamp.0, stamp.1);
        let slot = {
            let mut slots = self.inner.lock();
            match slots.by_key.get(&key) {
                Some(slot) => slot.clone(),
                None => {
                    let slot = Slot::default();
                    slots.by_key.insert(key.clone(), slot.clone());
                    slots.order.push_back(key);
                    while slots.order.len() > self.capacity {
                        let old = slots.order.pop_front().expect("not empty");
                        slots.by_key.remove(&old);
                    }
                    slot
                }
            }
        };
        let mut done = slot.lock();
        if let Some(demuxed) = done.as_ref() {
            return Ok(demuxed.clone());
        }
        // A failure is not kept: the next stream tries again.
        let read = |key: &str| {
            media
                .get(key)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{key} is not stored"))
        };
        let bytes = read(&key_owned)?;
        let mut demuxed = Demuxed::new(init, &bytes).map_err(|e| e.to_string())?;
        if let Some((audio_key, audio_init)) = audio {
            let bytes = read(audio_key)?;
            demuxed = demuxed
                .with_audio(audio_init, &bytes)
                .map_err(|e| e.to_string())?;
        }
        let demuxed = Arc::new(demuxed);
        *done = Some(demuxed.clone());
        self.inner.lock().demuxed += 1;
        Ok(demuxed)
    }

    /// How many demuxes it has done (tests).
    pub fn demuxed(&self) -> u64 {
        self.inner.lock().demuxed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sample::{write_sample, SampleSpec};
    use crate::engine::{transcode, CancelToken, TranscodeOptions};
    use std::path::{Path, PathBuf};

    /// A 180p rung of 1 s fMP4 segments, stored as video `item` of a folder store at `dir`.
    fn rung(dir: &Path) -> PathBuf {
        let clip = dir.join("clip.mp4");
        let spec = SampleSpec {
            width: 320,
            height: 180,
            seconds: 2.0,
            ..SampleSpec::default()
        };
        write_sample(&clip, &spec).unwrap();
        let opts = TranscodeOptions {
            heights: Some(vec![180]),
            segment_seconds: 1.0,
            ..TranscodeOptions::default()
        };
        let store = MediaStore::folder(dir).unwrap();
        let out = crate::storage::VideoObjects::new(store, "item");
        transcode(&clip, &out, &opts, &mut |_| {}, &CancelToken::new()).unwrap();
        dir.join("item").join("180p")
    }

    #[test]
    fn streams_share_a_demuxed_segment_and_mux_what_they_muxed_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let rung = rung(tmp.path());
        let init = std::fs::read(rung.join("init.mp4")).unwrap();
        let media = MediaStore::folder(tmp.path()).unwrap();
        let (first, second) = ("item/180p/seg00000.m4s", "item/180p/seg00001.m4s");
        let cache = SegmentCache::new(1);

        let a = cache.get(&media, first, Some(&init), None).unwrap();
        let b = cache.get(&media, first, Some(&init), None).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second stream gets the same demux");
        assert_eq!(cache.demuxed(), 1);
        assert!(a.size() > 0);

        // Two streams of the same segments: byte for byte what one alone made before.
        let mut alone = TsRemuxer::new();
        let mut shared = [TsRemuxer::new(), TsRemuxer::new()];
        // The item from 12 s, then its first segment again as the item's next run at 15 s.
        for (key, at) in [(first, 12.0), (second, 12.0), (first, 15.0)] {
            let place = Placement::at(Ts90k::from_secs(at));
            let bytes = std::fs::read(tmp.path().join(key)).unwrap();
            let expected = alone.push(Some(&init), &bytes, place).unwrap();
            let demuxed = cache.get(&media, key, Some(&init), None).unwrap();
            for remux in &mut shared {
                assert_eq!(remux.push_demuxed(&demuxed, place).unwrap(), expected);
            }
        }
        // Capacity 1: `second` pushed `first` out, which came back with a demux of its own.
        assert_eq!(cache.demuxed(), 3);

        assert!(cache
            .get(&media, "item/180p/seg09999.m4s", Some(&init), None)
            .is_err());
        assert_eq!(cache.demuxed(), 3, "a missing file is not a demux");
    }
}

//! `stream.ts`: a channel as one continuous MPEG-TS stream from the current moment, paced
//! at real time, remuxed from the items' existing segments (no encoder anywhere): what
//! tuners (Plex, Jellyfin, Emby through the HDHomeRun emulation), IPTV apps and VLC read.
//!
//! ```text
//! schedule.at(now) ─► item, its rung nearest the asked height, the segment playing now
//!   loop: wait until the segment starts within LEAD of the wall clock
//!         read init + segment ─► engine::ts_remux (one muxer for the whole stream) ─► writer
//!         next segment; at an item's end, whatever the schedule plays next
//! ```
//!
//! The stream starts at the beginning of the segment playing now (a keyframe), so it runs
//! up to a segment behind the channel's moment. Timestamps are the channel timeline's
//! (item offset + the segment's own), continuous across items. Pacing keeps the stream at
//! most [`LEAD`] ahead of real time; the writer is the live sessions' bounded channel, so a
//! reader that stops reading blocks this thread (no CPU, bounded memory) and a reader that
//! goes away ends it. A channel that plays its list once ends the stream with its run.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::hub::Channels;
use super::live_playlist::ItemMedia;
use super::schedule::NowPlaying;
use crate::engine::ts_remux::TsRemuxer;
use crate::live::stream::ChannelWriter;
use crate::time::Ts90k;

/// How far ahead of real time the stream may run: enough for a player to start at once,
/// little enough that it stays with the channel.
pub const LEAD: Duration = Duration::from_millis(3_000);
/// How often a waiting stream looks whether its reader is gone.
const POLL: Duration = Duration::from_millis(200);

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
    pub media_root: PathBuf,
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
        let dir = self.media_root.join(&media_id);
        // fMP4 ladders have an init segment; MPEG-TS ones (`init` null) need none.
        let init = match rendition.init.as_ref().map(|i| std::fs::read(dir.join(i))) {
            Some(Ok(bytes)) => Some(bytes),
            None => None,
            Some(Err(e)) => {
                log::warn!(
                    "channel {}: item {media_id} has no readable init segment: {e}",
                    self.channel
                );
                return self.wait_until(item.ends_at_ms(), out);
            }
        };
        // The item's place on the channel timeline, in 90 kHz ticks.
        let offset = Ts90k::from_secs(item.started_at_ms.saturating_sub(origin_ms) as f64 / 1000.0);
        let mut start_ms = item.started_at_ms;
        for segment in &rendition.segments {
            let end_ms = start_ms + (segment.duration * 1000.0).round() as u64;
            if end_ms <= from_ms {
                start_ms = end_ms;
                continue;
            }
            self.wait_until(start_ms.saturating_sub(LEAD.as_millis() as u64), out)?;
            let bytes = match std::fs::read(dir.join(&segment.uri)) {
                Ok(b) => b,
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
            match remux.push(init.as_deref(), &bytes, offset) {
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

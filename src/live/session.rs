//! A live session: one client, one position, at most one open stream at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::clock::Clock;
use super::controls::{Controls, Streamer};
use super::shared::{Beat, Record, SharedSessions, SourceRef, BEAT_FRESH_MS};
use super::stream::{self, ChannelReader, ClientGone, StreamStop};
use crate::engine::live::{stream_fmp4, LiveRequest};
use crate::engine::{CancelToken, EngineError, Probe};
use crate::hls::{AudioRendition, Rendition};
use crate::storage::MediaStore;

/// What a session plays.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionSource {
    /// A ready video: the playlist it is read through (its top rung's, or its master's
    /// when its audio tracks are renditions of their own; a path, or a URL for a bucket),
    /// and its fMP4 ladder in the media store (for the re-use path, which needs the audio
    /// in the rungs' segments).
    Video {
        id: String,
        file: PathBuf,
        media: MediaStore,
        renditions: Vec<Rendition>,
        /// Its audio tracks; when they are renditions of their own, the rungs are silent.
        audio: Vec<AudioRendition>,
    },
    /// A file of the library, by its path under the library root.
    Library { path: String, file: PathBuf },
}

impl SessionSource {
    fn file(&self) -> &PathBuf {
        match self {
            SessionSource::Video { file, .. } | SessionSource::Library { file, .. } => file,
        }
    }

    /// The audio tracks a session offers of `probe`: a ready video's master lists its
    /// stereo renditions first, then its surround (AC-3) ones, and sessions play (and
    /// list) the stereo ones only.
    pub(crate) fn playable(&self, mut probe: Probe) -> Probe {
        if let SessionSource::Video { audio, .. } = self {
            if audio.iter().any(|a| a.is_surround()) {
                let stereo = audio.iter().filter(|a| !a.is_surround()).count();
                probe.audio_tracks.truncate(stereo);
            }
        }
        probe
    }

    /// What another instance needs to find the same source.
    pub fn reference(&self) -> SourceRef {
        match self {
            SessionSource::Video { id, .. } => SourceRef::Video(id.clone()),
            SessionSource::Library { path, .. } => SourceRef::Library(path.clone()),
        }
    }
}

/// Tunables shared by every session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Production may run this far (media seconds) ahead of the session clock.
    pub lead: f64,
    /// Sessions with no open stream expire after this long.
    pub idle: Duration,
    /// Sessions that may exist at once.
    pub max_sessions: usize,
    /// Streams that may encode at once (re-used ladders do not count).
    pub max_encoders: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            lead: 10.0,
            idle: Duration::from_secs(60),
            max_sessions: 64,
            max_encoders: 4,
        }
    }
}

/// An audio track as `/status` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackInfo {
    pub index: usize,
    pub codec: String,
    pub channels: u16,
    pub language: Option<String>,
    /// What a menu shows: a ready video's rendition name (`English`, `Français`), else
    /// the stream's title tag, when it has one.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tracks {
    pub audio_track: usize,
    pub audio_tracks: Vec<TrackInfo>,
}

/// The session object of the API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionStatus {
    pub id: String,
    pub video: Option<String>,
    pub library: Option<String>,
    pub paused: bool,
    pub position: f64,
    pub computed_current_time: f64,
    pub rate: f64,
    pub height: Option<u32>,
    pub tracks: Tracks,
    pub duration: f64,
    /// Whether a stream is open right now.
    pub streaming: bool,
    /// Bytes the latest stream has produced so far (handed to the HTTP body; what the
    /// client has not read yet of them sits in the channel and the socket buffers).
    pub stream_bytes: u64,
    /// How the current (or next) stream is produced: `encode` or `reuse`.
    pub mode: &'static str,
    pub server_time_ms: u64,
    pub links: SessionLinks,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionLinks {
    pub stream: String,
    pub status: String,
}

/// Errors of session operations, mapped to HTTP by the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such session {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("too many live sessions; try again shortly")]
    Full,
    #[error("every live encoder is busy; try again shortly")]
    EncodersBusy,
    /// `--redis` is set and Redis did not answer (the detail names where and why).
    #[error("{0}")]
    Unavailable(String),
}

/// What every session of a server shares: its clock, tunables, encoder slots and, with
/// `--redis`, where the controls live.
#[derive(Clone)]
pub(crate) struct Env {
    pub clock: Arc<dyn Clock>,
    pub config: SessionConfig,
    /// Encoder slots taken across the server's sessions.
    pub encoders: Arc<AtomicUsize>,
    /// `None`: the controls live in the session alone (one instance).
    pub shared: Option<Arc<SharedSessions>>,
}

struct State {
    /// The shared part: position model, height, track, current stream.
    controls: Controls,
    /// The version of `controls` in Redis (0 without `--redis`).
    version: u64,
    /// The streaming instance's report, as last loaded from Redis.
    beat: Option<Beat>,
    /// The open stream's switches, while this process produces the current stream.
    stream: Option<OpenStream>,
    /// Bytes the latest stream of this process has produced.
    stream_bytes: Arc<AtomicU64>,
    /// This session's stream threads that are encoding (an old one may still be winding
    /// down when the next starts). The session holds one of the server's encoder slots
    /// while this is above zero, so a seek never competes with itself for a slot.
    encoding_threads: usize,
    last_seen: Duration,
}

/// The handles of a stream this process produces.
struct OpenStream {
    stop: StreamStop,
    cancel: CancelToken,
    streamer: Streamer,
    /// [`Controls::cut`] when it opened.
    cut: u64,
}

pub struct Session {
    pub id: String,
    source: SessionSource,
    probe: Probe,
    env: Env,
    state: Mutex<State>,
    /// Stream threads of this process running now (0 or 1, and briefly 2 while an old
    /// one winds down).
    open_streams: AtomicUsize,
    /// Numbers the streams this process opens.
    streams_opened: AtomicU64,
}

/// Checks what a new session asks for against its source.
pub(crate) fn validate(
    probe: &Probe,
    start: f64,
    height: Option<u32>,
    audio_track: usize,
    rate: f64,
) -> Result<(), SessionError> {
    validate_rate(rate)?;
    if audio_track > 0 && audio_track >= probe.audio_tracks.len() {
        return Err(SessionError::Invalid(format!(
            "audio_track {audio_track} does not exist"
        )));
    }
    if height.is_some_and(|h| !(16..=4320).contains(&h)) {
        // Checked here, not when the stream starts: a 201 must promise a stream.
        return Err(SessionError::Invalid("height must be from 16 to 4320".into()));
    }
    if !start.is_finite() || start < 0.0 {
        return Err(SessionError::Invalid(
            "start must be a position in seconds, 0 or more".into(),
        ));
    }
    Ok(())
}

impl Session {
    /// A session with `controls` at `version` (0 without `--redis`): a new one, or this
    /// process's copy of one another instance created.
    pub(crate) fn new(
        id: String,
        source: SessionSource,
        probe: Probe,
        controls: Controls,
        version: u64,
        env: Env,
    ) -> Session {
        let now = env.clock.now();
        Session {
            id,
            source,
            probe,
            state: Mutex::new(State {
                controls,
                version,
                beat: None,
                stream: None,
                stream_bytes: Arc::new(AtomicU64::new(0)),
                encoding_threads: 0,
                last_seen: now,
            }),
            env,
            open_streams: AtomicUsize::new(0),
            streams_opened: AtomicU64::new(0),
        }
    }

    pub fn status(&self) -> SessionStatus {
        let st = self.state.lock();
        let now = self.env.clock.now();
        let position = st.controls.position.at(now);
        let (video, library) = match &self.source {
            SessionSource::Video { id, .. } => (Some(id.clone()), None),
            SessionSource::Library { path, .. } => (None, Some(path.clone())),
        };
        // Streaming here, or (with --redis) on the instance whose fresh beat names the
        // current stream.
        let elsewhere = st.beat.as_ref().filter(|b| {
            st.stream.is_none()
                && st.controls.streamer.as_ref() == Some(&b.stream)
                && self.env.clock.unix_ms().saturating_sub(b.at_ms) <= BEAT_FRESH_MS
        });
        let here = self.open_streams.load(Ordering::SeqCst) > 0;
        SessionStatus {
            id: self.id.clone(),
            video,
            library,
            paused: st.controls.position.paused(),
            position,
            computed_current_time: position,
            rate: st.controls.position.rate(),
            height: st.controls.height,
            tracks: Tracks {
                audio_track: st.controls.audio_track,
                audio_tracks: self
                    .probe
                    .audio_tracks
                    .iter()
                    .map(|t| TrackInfo {
                        index: t.index,
                        codec: t.codec.clone(),
                        channels: t.channels,
                        language: t.language.clone(),
                        name: self.track_name(t.index).or_else(|| t.title.clone()),
                    })
                    .collect(),
            },
            duration: self.probe.duration,
            streaming: here || elsewhere.is_some(),
            stream_bytes: match elsewhere {
                Some(beat) => beat.bytes,
                None => st.stream_bytes.load(Ordering::Relaxed),
            },
            mode: if self.reuse_plan(&st.controls, position).is_some() {
                "reuse"
            } else {
                "encode"
            },
            server_time_ms: self.env.clock.unix_ms(),
            links: SessionLinks {
                stream: format!("/api/sessions/{}/stream", self.id),
                status: format!("/api/sessions/{}/status", self.id),
            },
        }
    }

    /// The name a ready video's ladder gave audio track `index`.
    fn track_name(&self, index: usize) -> Option<String> {
        match &self.source {
            SessionSource::Video { audio, .. } => audio
                .iter()
                .find(|a| a.index == index && !a.is_surround())
                .map(|a| a.name.clone()),
            SessionSource::Library { .. } => None,
        }
    }

    pub fn pause(&self) -> Result<(), SessionError> {
        self.change(|c, now| {
            c.position.pause(now);
            Ok(())
        })
    }

    pub fn resume(&self) -> Result<(), SessionError> {
        self.change(|c, now| {
            c.position.resume(now);
            Ok(())
        })
    }

    /// Moves to `to` seconds; ends the open stream (the next GET starts there).
    pub fn seek(&self, to: f64) -> Result<(), SessionError> {
        if !to.is_finite() || to < 0.0 {
            return Err(SessionError::Invalid(
                "position must be a number of seconds, 0 or more".into(),
            ));
        }
        self.change(|c, _| {
            c.seek(to);
            Ok(())
        })
    }

    /// Switches audio track; ends the open stream, the next starts where we are.
    pub fn set_audio_track(&self, track: usize) -> Result<(), SessionError> {
        if track >= self.probe.audio_tracks.len().max(1) {
            return Err(SessionError::Invalid(format!(
                "audio_track {track} does not exist"
            )));
        }
        self.change(|c, now| {
            c.set_audio_track(track, now);
            Ok(())
        })
    }

    pub fn set_rate(&self, rate: f64) -> Result<(), SessionError> {
        validate_rate(rate)?;
        self.change(|c, now| {
            c.position.set_rate(now, rate);
            Ok(())
        })
    }

    /// Ends any stream this process produces for the session (DELETE, expiry).
    pub fn close(&self) {
        end_stream(&mut self.state.lock());
    }

    /// True when the session has no open stream and was last used longer ago than idle.
    pub fn expired(&self) -> bool {
        self.idle_for() > self.env.config.idle
    }

    /// How long the session has had no stream here and no use through this process.
    pub(crate) fn idle_for(&self) -> Duration {
        let st = self.state.lock();
        if self.open_streams.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.env.clock.now().saturating_sub(st.last_seen)
    }

    /// The current stream's report, when this process produces it (`--redis`).
    pub(crate) fn beat(&self) -> Option<Beat> {
        let st = self.state.lock();
        let open = st.stream.as_ref()?;
        Some(Beat {
            stream: open.streamer.clone(),
            bytes: st.stream_bytes.load(Ordering::Relaxed),
            at_ms: self.env.clock.unix_ms(),
        })
    }

    /// Takes the session as Redis holds it (when newer than this copy).
    pub(crate) fn sync(&self, record: &Record) {
        let mut st = self.state.lock();
        st.beat = record.beat.clone();
        adopt(&mut st, record.version, record.controls.clone());
    }

    /// Takes controls another instance stored (when newer than this copy): a stream of
    /// this process they no longer name ends at once.
    pub(crate) fn adopt(&self, version: u64, controls: Controls) {
        adopt(&mut self.state.lock(), version, controls);
    }

    /// Applies a change where the controls live (Redis, by compare-and-set; else this
    /// copy), then to this copy.
    fn change(
        &self,
        mut f: impl FnMut(&mut Controls, Duration) -> Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        match &self.env.shared {
            None => {
                let mut st = self.state.lock();
                let now = self.touch(&mut st);
                let mut next = st.controls.clone();
                f(&mut next, now)?;
                install(&mut st, next);
            }
            Some(shared) => {
                let clock = &self.env.clock;
                let (version, controls) = shared.change(&self.id, &mut |c| f(c, clock.now()))?;
                let mut st = self.state.lock();
                self.touch(&mut st);
                adopt(&mut st, version, controls);
            }
        }
        Ok(())
    }

    fn streamer(&self, n: u64) -> Streamer {
        Streamer {
            instance: match &self.env.shared {
                Some(shared) => shared.instance().to_string(),
                None => "local".to_string(),
            },
            stream: n,
        }
    }

    /// Starts producing a stream from the current position and returns its body. Any
    /// previous stream of this session ends, here or on another instance. `client_gone`,
    /// when given, tells the stream thread that the client hung up while it was not
    /// writing (paused, or ahead by the lead): without it such a stream would only end
    /// when its session does.
    pub fn open_stream(
        self: &Arc<Self>,
        client_gone: Option<ClientGone>,
    ) -> Result<ChannelReader, SessionError> {
        let streamer = self.streamer(self.streams_opened.fetch_add(1, Ordering::SeqCst) + 1);
        self.change(|c, _| {
            c.open(streamer.clone());
            Ok(())
        })?;
        let opened = self.start_stream(streamer.clone(), client_gone);
        if opened.is_err() {
            // Not current after all: say so where the controls live.
            let _ = self.change(|c, now| {
                c.ended(&streamer, false, now);
                Ok(())
            });
        }
        opened
    }

    fn start_stream(
        self: &Arc<Self>,
        streamer: Streamer,
        client_gone: Option<ClientGone>,
    ) -> Result<ChannelReader, SessionError> {
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        if st.controls.streamer.as_ref() != Some(&streamer) {
            return Err(SessionError::Invalid(
                "another stream of this session started at the same moment".into(),
            ));
        }
        let start = st.controls.position.at(now);
        let reuse = self.reuse_plan(&st.controls, start);
        let encoding = reuse.is_none();
        if encoding {
            if st.encoding_threads == 0 {
                let busy = self.env.encoders.fetch_add(1, Ordering::SeqCst);
                if busy >= self.env.config.max_encoders {
                    self.env.encoders.fetch_sub(1, Ordering::SeqCst);
                    return Err(SessionError::EncodersBusy);
                }
            }
            st.encoding_threads += 1;
        }
        let me = Arc::clone(self);
        let first = streamer.clone();
        let on_first = Box::new(move || {
            let at = me.env.clock.now();
            if let Err(e) = me.change(|c, _| {
                c.first_byte(&first, at);
                Ok(())
            }) {
                log::warn!("session {}: cannot start its clock: {e}", me.id);
            }
        });
        let (writer, reader, stop) = stream::channel(on_first);
        let cancel = CancelToken::new();
        st.stream = Some(OpenStream {
            stop,
            cancel: cancel.clone(),
            streamer: streamer.clone(),
            cut: st.controls.cut,
        });
        st.stream_bytes = writer.written();
        let request = LiveRequest {
            input: self.source.file().clone(),
            start,
            height: st.controls.height,
            audio_track: st.controls.audio_track,
        };

        let me = Arc::clone(self);
        self.open_streams.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name(format!("session-{}", self.id))
            .spawn(move || {
                // Answers "has the client gone?" while the writer is not being called
                // (the pacer may wait for a long time, forever while paused).
                let reader = writer.closed_probe();
                let gone = || reader.is_closed() || client_gone.as_ref().is_some_and(|f| f());
                let result = {
                    let mut pace = me.pacer(&cancel, &gone);
                    match reuse {
                        Some(plan) => super::reuse::stream_ladder(&plan, writer, &mut pace, &cancel),
                        None => stream_fmp4(&request, writer, &mut pace, &cancel),
                    }
                };
                match result {
                    Ok(()) | Err(EngineError::Cancelled) | Err(EngineError::ReaderGone) => {}
                    Err(e) => log::warn!("session {}: stream failed: {e}", me.id),
                }
                me.stream_ended(&streamer, encoding, gone() && !cancel.is_cancelled());
            });
        if let Err(e) = spawned {
            log::error!("cannot start a session thread: {e}");
            self.open_streams.fetch_sub(1, Ordering::SeqCst);
            st.stream = None;
            if encoding {
                st.encoding_threads -= 1;
                if st.encoding_threads == 0 {
                    self.env.encoders.fetch_sub(1, Ordering::SeqCst);
                }
            }
            return Err(SessionError::EncodersBusy);
        }
        Ok(reader)
    }

    /// The stream thread's last act: give back the encoder slot, and record that the
    /// stream ended (see [`Controls::ended`]).
    fn stream_ended(&self, streamer: &Streamer, encoding: bool, client_gone: bool) {
        let at = self.env.clock.now();
        {
            let mut st = self.state.lock();
            if encoding {
                st.encoding_threads -= 1;
                if st.encoding_threads == 0 {
                    self.env.encoders.fetch_sub(1, Ordering::SeqCst);
                }
            }
            // Let go of the switches unused: what is still in the channel must reach the
            // client.
            if st.stream.as_ref().is_some_and(|s| s.streamer == *streamer) {
                st.stream = None;
            }
        }
        if let Err(e) = self.change(|c, _| {
            c.ended(streamer, client_gone, at);
            Ok(())
        }) {
            log::debug!("session {}: recording the end of a stream: {e}", self.id);
        }
        self.open_streams.fetch_sub(1, Ordering::SeqCst);
    }

    /// A pace function: waits until media time `t` is within the lead of the session
    /// clock; false once the stream is cancelled or its client is gone.
    fn pacer<'a>(
        &'a self,
        cancel: &'a CancelToken,
        gone: &'a dyn Fn() -> bool,
    ) -> impl FnMut(f64) -> bool + 'a {
        let lead = self.env.config.lead;
        move |t| loop {
            if cancel.is_cancelled() || gone() {
                return false;
            }
            let ahead = t - self.state.lock().controls.position.at(self.env.clock.now());
            if ahead <= lead {
                return true;
            }
            std::thread::sleep(Duration::from_millis(
                ((ahead - lead) * 1000.0).clamp(5.0, 100.0) as u64
            ));
        }
    }

    /// The ladder segments to re-use, when the source is a ready video with an fMP4
    /// rendition of the wanted height, the default audio track is wanted and `start` is
    /// within a second after a segment boundary.
    fn reuse_plan(&self, controls: &Controls, start: f64) -> Option<super::reuse::ReusePlan> {
        let SessionSource::Video {
            id,
            media,
            renditions,
            audio,
            ..
        } = &self.source
        else {
            return None;
        };
        let wanted = controls.height.unwrap_or_else(|| {
            self.probe
                .short_side()
                .min(crate::engine::live::DEFAULT_LIVE_HEIGHT)
        });
        if let Some(track) = audio
            .iter()
            .find(|a| a.playlist.is_some() && !a.is_surround() && a.index == controls.audio_track)
        {
            // Silent rungs: the nearest one, with the chosen track joined in.
            let r = renditions
                .iter()
                .filter(|r| r.init.is_some())
                .min_by_key(|r| (i64::from(r.height) - i64::from(wanted)).abs())?;
            return super::reuse::ReusePlan::joined(media, id, r, track, start);
        }
        if controls.audio_track != 0 {
            return None;
        }
        let r = renditions
            .iter()
            .find(|r| r.height == wanted && r.init.is_some())?;
        super::reuse::ReusePlan::new(media, id, r, start)
    }

    fn touch(&self, st: &mut State) -> Duration {
        let now = self.env.clock.now();
        st.last_seen = now;
        now
    }
}

/// Takes `controls` when newer than what `st` holds.
fn adopt(st: &mut State, version: u64, controls: Controls) {
    if version > st.version {
        st.version = version;
        install(st, controls);
    }
}

/// Makes `next` the session's controls; the stream this process produces ends when they
/// no longer name it.
fn install(st: &mut State, next: Controls) {
    let ends = st
        .stream
        .as_ref()
        .is_some_and(|open| !next.names(&open.streamer, open.cut));
    st.controls = next;
    if ends {
        end_stream(st);
    }
}

fn end_stream(st: &mut State) {
    if let Some(open) = st.stream.take() {
        open.cancel.cancel();
        open.stop.stop();
    }
}

fn validate_rate(rate: f64) -> Result<(), SessionError> {
    if rate.is_finite() && (0.25..=4.0).contains(&rate) {
        Ok(())
    } else {
        Err(SessionError::Invalid(
            "rate must be a number from 0.25 to 4".into(),
        ))
    }
}

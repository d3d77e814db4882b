//! A live session: one client, one position, at most one open stream at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::clock::Clock;
use super::position::Position;
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
}

struct State {
    position: Position,
    height: Option<u32>,
    audio_track: usize,
    /// The open stream's switches (None once it was ended from outside or finished).
    stream: Option<OpenStream>,
    /// Counts streams opened, so a finishing thread knows whether it is still current.
    generation: u64,
    /// Bytes the latest stream has produced.
    stream_bytes: Arc<AtomicU64>,
    /// This session's stream threads that are encoding (an old one may still be winding
    /// down when the next starts). The session holds one of the server's encoder slots
    /// while this is above zero, so a seek never competes with itself for a slot.
    encoding_threads: usize,
    last_seen: Duration,
}

/// The handles of a session's current stream.
struct OpenStream {
    stop: StreamStop,
    cancel: CancelToken,
    generation: u64,
}

pub struct Session {
    pub id: String,
    source: SessionSource,
    probe: Probe,
    clock: Arc<dyn Clock>,
    config: SessionConfig,
    state: Mutex<State>,
    /// Streams open now (0 or 1; a new stream ends the old one).
    open_streams: AtomicUsize,
    encoders: Arc<AtomicUsize>,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: String,
        source: SessionSource,
        probe: Probe,
        start: f64,
        height: Option<u32>,
        audio_track: usize,
        rate: f64,
        clock: Arc<dyn Clock>,
        config: SessionConfig,
        encoders: Arc<AtomicUsize>,
    ) -> Result<Session, SessionError> {
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
        let duration = probe.duration;
        let now = clock.now();
        Ok(Session {
            id,
            source,
            probe,
            clock,
            config,
            state: Mutex::new(State {
                position: Position::new(start, rate, duration),
                height,
                audio_track,
                stream: None,
                generation: 0,
                stream_bytes: Arc::new(AtomicU64::new(0)),
                encoding_threads: 0,
                last_seen: now,
            }),
            open_streams: AtomicUsize::new(0),
            encoders,
        })
    }

    pub fn status(&self) -> SessionStatus {
        let st = self.state.lock();
        let now = self.clock.now();
        let position = st.position.at(now);
        let (video, library) = match &self.source {
            SessionSource::Video { id, .. } => (Some(id.clone()), None),
            SessionSource::Library { path, .. } => (None, Some(path.clone())),
        };
        SessionStatus {
            id: self.id.clone(),
            video,
            library,
            paused: st.position.paused(),
            position,
            computed_current_time: position,
            rate: st.position.rate(),
            height: st.height,
            tracks: Tracks {
                audio_track: st.audio_track,
                audio_tracks: self
                    .probe
                    .audio_tracks
                    .iter()
                    .map(|t| TrackInfo {
                        index: t.index,
                        codec: t.codec.clone(),
                        channels: t.channels,
                        language: t.language.clone(),
                    })
                    .collect(),
            },
            duration: self.probe.duration,
            streaming: self.open_streams.load(Ordering::SeqCst) > 0,
            stream_bytes: st.stream_bytes.load(Ordering::Relaxed),
            mode: if self.reuse_plan(&st, position).is_some() {
                "reuse"
            } else {
                "encode"
            },
            server_time_ms: self.clock.unix_ms(),
            links: SessionLinks {
                stream: format!("/api/sessions/{}/stream", self.id),
                status: format!("/api/sessions/{}/status", self.id),
            },
        }
    }

    pub fn pause(&self) {
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        st.position.pause(now);
    }

    pub fn resume(&self) {
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        st.position.resume(now);
    }

    /// Moves to `to` seconds; ends the open stream (the next GET starts there).
    pub fn seek(&self, to: f64) -> Result<(), SessionError> {
        if !to.is_finite() || to < 0.0 {
            return Err(SessionError::Invalid(
                "position must be a number of seconds, 0 or more".into(),
            ));
        }
        let mut st = self.state.lock();
        self.touch(&mut st);
        st.position.seek(to);
        end_stream(&mut st);
        Ok(())
    }

    /// Switches audio track; ends the open stream, the next starts where we are.
    pub fn set_audio_track(&self, track: usize) -> Result<(), SessionError> {
        if track >= self.probe.audio_tracks.len().max(1) {
            return Err(SessionError::Invalid(format!(
                "audio_track {track} does not exist"
            )));
        }
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        let here = st.position.at(now);
        st.position.seek(here);
        st.audio_track = track;
        end_stream(&mut st);
        Ok(())
    }

    pub fn set_rate(&self, rate: f64) -> Result<(), SessionError> {
        validate_rate(rate)?;
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        st.position.set_rate(now, rate);
        Ok(())
    }

    /// Ends any open stream (DELETE, expiry).
    pub fn close(&self) {
        end_stream(&mut self.state.lock());
    }

    /// True when the session has no open stream and was last used longer ago than idle.
    pub fn expired(&self) -> bool {
        let st = self.state.lock();
        self.open_streams.load(Ordering::SeqCst) == 0
            && self.clock.now().saturating_sub(st.last_seen) > self.config.idle
    }

    /// Starts producing a stream from the current position and returns its body. Any
    /// previous stream of this session ends. `client_gone`, when given, tells the stream
    /// thread that the client hung up while it was not writing (paused, or ahead by the
    /// lead): without it such a stream would only end when its session does.
    pub fn open_stream(
        self: &Arc<Self>,
        client_gone: Option<ClientGone>,
    ) -> Result<ChannelReader, SessionError> {
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        end_stream(&mut st);
        let start = st.position.at(now);
        let reuse = self.reuse_plan(&st, start);
        let encoding = reuse.is_none();
        if encoding {
            if st.encoding_threads == 0 {
                let busy = self.encoders.fetch_add(1, Ordering::SeqCst);
                if busy >= self.config.max_encoders {
                    self.encoders.fetch_sub(1, Ordering::SeqCst);
                    return Err(SessionError::EncodersBusy);
                }
            }
            st.encoding_threads += 1;
        }
        let me = Arc::clone(self);
        let on_first = Box::new(move || {
            let now = me.clock.now();
            me.state.lock().position.first_byte(now);
        });
        let (writer, reader, stop) = stream::channel(on_first);
        let cancel = CancelToken::new();
        st.generation += 1;
        let generation = st.generation;
        st.stream = Some(OpenStream {
            stop,
            cancel: cancel.clone(),
            generation,
        });
        st.stream_bytes = writer.written();
        let request = LiveRequest {
            input: self.source.file().clone(),
            start,
            height: st.height,
            audio_track: st.audio_track,
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
                me.stream_ended(generation, encoding, gone() && !cancel.is_cancelled());
            });
        if let Err(e) = spawned {
            log::error!("cannot start a session thread: {e}");
            self.open_streams.fetch_sub(1, Ordering::SeqCst);
            st.stream = None;
            if encoding {
                st.encoding_threads -= 1;
                if st.encoding_threads == 0 {
                    self.encoders.fetch_sub(1, Ordering::SeqCst);
                }
            }
            return Err(SessionError::EncodersBusy);
        }
        Ok(reader)
    }

    /// The stream thread's last act: give back the encoder slot, and when the client went
    /// away from the current stream, stop the clock (the next stream restarts it from
    /// where the client left, not from where the wall clock would have got to since).
    fn stream_ended(&self, generation: u64, encoding: bool, reader_gone: bool) {
        let mut st = self.state.lock();
        let now = self.touch(&mut st);
        if encoding {
            st.encoding_threads -= 1;
            if st.encoding_threads == 0 {
                self.encoders.fetch_sub(1, Ordering::SeqCst);
            }
        }
        if st.stream.as_ref().is_some_and(|s| s.generation == generation) {
            st.stream = None;
            if reader_gone {
                let here = st.position.at(now);
                st.position.seek(here);
            }
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
        move |t| loop {
            if cancel.is_cancelled() || gone() {
                return false;
            }
            let ahead = t - self.state.lock().position.at(self.clock.now());
            if ahead <= self.config.lead {
                return true;
            }
            std::thread::sleep(Duration::from_millis(
                ((ahead - self.config.lead) * 1000.0).clamp(5.0, 100.0) as u64,
            ));
        }
    }

    /// The ladder segments to re-use, when the source is a ready video with an fMP4
    /// rendition of the wanted height, the default audio track is wanted and `start` is
    /// within a second after a segment boundary.
    fn reuse_plan(&self, st: &State, start: f64) -> Option<super::reuse::ReusePlan> {
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
        let wanted = st.height.unwrap_or_else(|| {
            self.probe
                .short_side()
                .min(crate::engine::live::DEFAULT_LIVE_HEIGHT)
        });
        if let Some(track) = audio
            .iter()
            .find(|a| a.playlist.is_some() && a.index == st.audio_track)
        {
            // Silent rungs: the nearest one, with the chosen track joined in.
            let r = renditions
                .iter()
                .filter(|r| r.init.is_some())
                .min_by_key(|r| (i64::from(r.height) - i64::from(wanted)).abs())?;
            return super::reuse::ReusePlan::joined(media, id, r, track, start);
        }
        if st.audio_track != 0 {
            return None;
        }
        let r = renditions
            .iter()
            .find(|r| r.height == wanted && r.init.is_some())?;
        super::reuse::ReusePlan::new(media, id, r, start)
    }

    fn touch(&self, st: &mut State) -> Duration {
        let now = self.clock.now();
        st.last_seen = now;
        now
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

//! Live sessions: one client, one continuous fragmented-MP4 stream encoded as it is sent,
//! with pause by backpressure, seek, audio track and rate, and a position from the wall
//! clock.
//!
//! * [`Sessions`]: the registry (limits, idle expiry);
//! * [`session::Session`]: one session's state and its stream thread;
//! * [`controls::Controls`]: what the client controls, and which stream is current: the
//!   part instances share;
//! * [`shared::SharedSessions`]: those controls in Redis (`--redis`), so that any instance
//!   answers a session's status and controls and streams it;
//! * [`position::Position`]: where the player is, from the wall clock;
//! * [`stream`]: the bounded channel between the engine thread and the HTTP body;
//! * [`reuse`]: streaming an existing fMP4 ladder instead of encoding;
//! * [`clock`]: the `Clock` seam tests use to move time by hand.
//!
//! The media work itself is `crate::engine::live::stream_fmp4`.

pub mod clock;
pub mod controls;
pub mod position;
pub mod reuse;
pub mod session;
pub mod shared;
pub mod stream;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use clock::{Clock, ManualClock, SystemClock};
pub use session::{Session, SessionConfig, SessionError, SessionSource, SessionStatus};
pub use shared::{Record, SharedSessions, SourceRef};

use crate::engine::Probe;
use controls::Controls;
use position::Position;
use session::Env;
use shared::{Fixed, Notice};

/// Everything a new session needs besides its source.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub start: f64,
    pub height: Option<u32>,
    pub audio_track: usize,
    pub rate: f64,
}

/// With `--redis`, this process's copy of a session it holds no stream of is dropped
/// after this long unused (the session itself lives on in Redis).
const COPY_KEEP: Duration = Duration::from_secs(5);

/// What [`Sessions::find`] found.
pub enum Found {
    /// This process holds the session (brought up to date from Redis with `--redis`).
    Here(Arc<Session>),
    /// Another instance created it and this one has no copy yet: the caller finds its
    /// source ([`Record::fixed`]) and makes one with [`Sessions::take_up`].
    Elsewhere(Box<Record>),
}

/// The live sessions of the server: all of them, or with `--redis` this process's copies
/// of the sessions of every instance it was asked about.
pub struct Sessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    env: Env,
}

impl Sessions {
    /// Sessions of this process alone.
    pub fn new(clock: Arc<dyn Clock>, config: SessionConfig) -> Arc<Sessions> {
        Sessions::build(clock, config, None)
    }

    /// Sessions shared by the instances joined through Redis (see [`shared`]).
    pub fn shared(
        clock: Arc<dyn Clock>,
        config: SessionConfig,
        shared: Arc<SharedSessions>,
    ) -> Arc<Sessions> {
        Sessions::build(clock, config, Some(shared))
    }

    fn build(
        clock: Arc<dyn Clock>,
        config: SessionConfig,
        shared: Option<Arc<SharedSessions>>,
    ) -> Arc<Sessions> {
        Arc::new(Sessions {
            sessions: Mutex::new(HashMap::new()),
            env: Env {
                clock,
                config,
                encoders: Arc::new(AtomicUsize::new(0)),
                shared,
            },
        })
    }

    /// Creates a session (its stream starts with the first GET of `stream`). Blocks on
    /// Redis with `--redis`.
    pub fn create(
        &self,
        source: SessionSource,
        probe: Probe,
        new: NewSession,
    ) -> Result<Arc<Session>, SessionError> {
        if self.env.shared.is_none() {
            self.reap(); // frees the places of expired sessions before counting
        }
        let probe = source.playable(probe);
        session::validate(&probe, new.start, new.height, new.audio_track, new.rate)?;
        if self.sessions.lock().len() >= self.env.config.max_sessions {
            return Err(SessionError::Full);
        }
        let controls = Controls::new(
            Position::new(new.start, new.rate, probe.duration),
            new.height,
            new.audio_track,
        );
        let mut version = 0;
        let mut id = new_session_id(self.env.clock.unix_ms());
        if let Some(shared) = &self.env.shared {
            let fixed = Fixed {
                source: source.reference(),
                probe: probe.clone(),
            };
            while !shared.create(&id, &fixed, &controls)? {
                id = new_session_id(self.env.clock.unix_ms());
            }
            version = 1;
        }
        let session = Arc::new(Session::new(
            id.clone(),
            source,
            probe,
            controls,
            version,
            self.env.clone(),
        ));
        let mut map = self.sessions.lock();
        if map.len() >= self.env.config.max_sessions {
            // Another request took the last place meanwhile.
            drop(map);
            if let Some(shared) = &self.env.shared {
                let _ = shared.delete(&id);
            }
            return Err(SessionError::Full);
        }
        map.insert(id, session.clone());
        Ok(session)
    }

    /// The session `id` (without `--redis`, only the ones of this process). Blocks on
    /// Redis with `--redis`.
    pub fn find(&self, id: &str) -> Result<Found, SessionError> {
        let Some(shared) = &self.env.shared else {
            return self.here(id).map(Found::Here);
        };
        let Some(record) = shared.load(id)? else {
            self.forget(id);
            return Err(SessionError::NotFound(id.to_string()));
        };
        let copy = self.sessions.lock().get(id).cloned();
        match copy {
            Some(session) => {
                session.sync(&record);
                Ok(Found::Here(session))
            }
            None => Ok(Found::Elsewhere(Box::new(record))),
        }
    }

    /// Makes this process's copy of a session another instance created.
    pub fn take_up(&self, id: &str, record: Record, source: SessionSource) -> Arc<Session> {
        let mut map = self.sessions.lock();
        if let Some(session) = map.get(id) {
            session.sync(&record);
            return session.clone();
        }
        let session = Arc::new(Session::new(
            id.to_string(),
            source,
            record.fixed.probe.clone(),
            record.controls.clone(),
            record.version,
            self.env.clone(),
        ));
        session.sync(&record);
        map.insert(id.to_string(), session.clone());
        session
    }

    fn here(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        self.sessions
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(id.to_string()))
    }

    /// Ends the session everywhere. Blocks on Redis with `--redis`.
    pub fn delete(&self, id: &str) -> Result<(), SessionError> {
        let existed = match &self.env.shared {
            Some(shared) => shared.delete(id)?,
            None => false,
        };
        if !self.forget(id) && !existed {
            return Err(SessionError::NotFound(id.to_string()));
        }
        Ok(())
    }

    /// Drops this process's copy of `id`, ending its stream; false when there was none.
    fn forget(&self, id: &str) -> bool {
        let removed = self.sessions.lock().remove(id);
        if let Some(session) = &removed {
            session.close();
        }
        removed.is_some()
    }

    /// Another instance changed or deleted a session (`--redis`).
    fn on_notice(&self, notice: Notice) {
        match notice {
            Notice::Changed {
                id,
                version,
                controls,
            } => {
                let copy = self.sessions.lock().get(&id).cloned();
                if let Some(session) = copy {
                    session.adopt(version, controls);
                }
            }
            Notice::Deleted { id } => {
                self.forget(&id);
            }
        }
    }

    /// Without `--redis`: removes sessions idle past the limit. With it: drops copies of
    /// sessions this process holds no stream of, once unused for a few seconds, and for
    /// those it streams renews their expiry in Redis and reloads them (what a lost
    /// message missed). Returns how many sessions ended.
    pub fn reap(&self) -> usize {
        let Some(shared) = &self.env.shared else {
            let mut map = self.sessions.lock();
            let before = map.len();
            map.retain(|_, s| {
                let keep = !s.expired();
                if !keep {
                    s.close();
                }
                keep
            });
            return before - map.len();
        };
        let copies: Vec<Arc<Session>> = self.sessions.lock().values().cloned().collect();
        let mut ended = 0;
        for session in copies {
            let Some(beat) = session.beat() else {
                if session.idle_for() > COPY_KEEP {
                    self.sessions.lock().remove(&session.id);
                }
                continue;
            };
            match shared.beat(&session.id, &beat) {
                Ok(true) => match shared.load(&session.id) {
                    Ok(Some(record)) => session.sync(&record),
                    Ok(None) => ended += usize::from(self.forget(&session.id)),
                    Err(_) => {}
                },
                Ok(false) => ended += usize::from(self.forget(&session.id)),
                // Redis away: the stream flows on under the controls last known.
                Err(_) => {}
            }
        }
        ended
    }

    /// Sessions this process holds now.
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Streams encoding right now.
    pub fn encoding(&self) -> usize {
        self.env.encoders.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts a thread that reaps idle sessions every second for as long as `self` lives,
    /// and with `--redis` the thread that applies other instances' changes at once.
    pub fn spawn_reaper(self: &Arc<Self>) {
        if let Some(shared) = &self.env.shared {
            let weak = Arc::downgrade(self);
            shared.spawn_listener(move |notice| match weak.upgrade() {
                Some(sessions) => {
                    if let Some(notice) = notice {
                        sessions.on_notice(notice);
                    }
                    true
                }
                None => false,
            });
        }
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("session-reaper".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                match weak.upgrade() {
                    Some(s) => {
                        let n = s.reap();
                        if n > 0 {
                            log::info!("expired {n} idle live session(s)");
                        }
                    }
                    None => return,
                }
            })
            .expect("spawning the session reaper");
    }
}

/// `s`, the creation time (ms, hex), then a random part: unique across instances.
fn new_session_id(unix_ms: u64) -> String {
    format!("s{unix_ms:x}{}", &crate::catalog::layout::new_id()[..6])
}

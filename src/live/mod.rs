//! Live sessions: one client, one continuous fragmented-MP4 stream encoded as it is sent,
//! with pause by backpressure, seek, audio track and rate, and a position from the wall
//! clock.
//!
//! * [`Sessions`]: the registry (limits, idle expiry);
//! * [`session::Session`]: one session's state and its stream thread;
//! * [`position::Position`]: where the player is, from the wall clock;
//! * [`stream`]: the bounded channel between the engine thread and the HTTP body;
//! * [`reuse`]: streaming an existing fMP4 ladder instead of encoding;
//! * [`clock`]: the `Clock` seam tests use to move time by hand.
//!
//! The media work itself is `crate::engine::live::stream_fmp4`.

pub mod clock;
pub mod position;
pub mod reuse;
pub mod session;
pub mod stream;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use parking_lot::Mutex;

pub use clock::{Clock, ManualClock, SystemClock};
pub use session::{Session, SessionConfig, SessionError, SessionSource, SessionStatus};

use crate::engine::Probe;

/// Everything a new session needs besides its source.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub start: f64,
    pub height: Option<u32>,
    pub audio_track: usize,
    pub rate: f64,
}

/// All live sessions of the server.
pub struct Sessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    clock: Arc<dyn Clock>,
    config: SessionConfig,
    encoders: Arc<AtomicUsize>,
    next_id: Mutex<u64>,
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>, config: SessionConfig) -> Arc<Sessions> {
        Arc::new(Sessions {
            sessions: Mutex::new(HashMap::new()),
            clock,
            config,
            encoders: Arc::new(AtomicUsize::new(0)),
            next_id: Mutex::new(0),
        })
    }

    /// Creates a session (its stream starts with the first GET of `stream`).
    pub fn create(
        &self,
        source: SessionSource,
        probe: Probe,
        new: NewSession,
    ) -> Result<Arc<Session>, SessionError> {
        self.reap();
        let mut map = self.sessions.lock();
        if map.len() >= self.config.max_sessions {
            return Err(SessionError::Full);
        }
        let id = {
            let mut n = self.next_id.lock();
            *n += 1;
            format!("s{:x}{:04x}", self.clock.unix_ms(), *n & 0xffff)
        };
        let session = Arc::new(Session::new(
            id.clone(),
            source,
            probe,
            new.start,
            new.height,
            new.audio_track,
            new.rate,
            self.clock.clone(),
            self.config.clone(),
            self.encoders.clone(),
        )?);
        map.insert(id, session.clone());
        Ok(session)
    }

    pub fn get(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        self.sessions
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(id.to_string()))
    }

    pub fn delete(&self, id: &str) -> Result<(), SessionError> {
        let s = self
            .sessions
            .lock()
            .remove(id)
            .ok_or_else(|| SessionError::NotFound(id.to_string()))?;
        s.close();
        Ok(())
    }

    /// Removes sessions idle past the limit; returns how many.
    pub fn reap(&self) -> usize {
        let mut map = self.sessions.lock();
        let before = map.len();
        map.retain(|_, s| {
            let keep = !s.expired();
            if !keep {
                s.close();
            }
            keep
        });
        before - map.len()
    }

    /// Sessions alive now.
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Streams encoding right now.
    pub fn encoding(&self) -> usize {
        self.encoders.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts a thread that reaps idle sessions every second for as long as `self` lives.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("session-reaper".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
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

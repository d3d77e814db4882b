//! What a session's client controls, and which stream is the current one: the part of a
//! session that instances share through Redis (`super::shared`). The rest of a session
//! (its open stream's thread and switches, its encoder slot) lives in the process that
//! produces the stream.
//!
//! Every change is a function of the controls and the wall time, applied in one place:
//! to the session's own copy without `--redis`, by compare-and-set in Redis with it. An
//! instance that holds a stream ends it when the controls it learns of no longer name
//! that stream ([`Controls::names`]): a seek or a track change moved [`Controls::cut`], or
//! another stream (on this or another instance) became the current one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::position::Position;

/// A session's shared state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Controls {
    pub position: Position,
    /// The rendition height asked for (`None`: the default live height).
    pub height: Option<u32>,
    /// Audio stream, counted from 0.
    pub audio_track: usize,
    /// Counts changes that end the open stream (seek, track change).
    pub cut: u64,
    /// The current stream, when one was opened and has not ended.
    pub streamer: Option<Streamer>,
}

/// Names one stream of a session: the instance producing it and its number there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streamer {
    pub instance: String,
    pub stream: u64,
}

impl Controls {
    pub fn new(position: Position, height: Option<u32>, audio_track: usize) -> Controls {
        Controls {
            position,
            height,
            audio_track,
            cut: 0,
            streamer: None,
        }
    }

    /// Whether a stream opened as `streamer` under cut `cut` is still the current one.
    pub fn names(&self, streamer: &Streamer, cut: u64) -> bool {
        self.cut == cut && self.streamer.as_ref() == Some(streamer)
    }

    /// Moves to `to` seconds; the open stream ends, the next starts there.
    pub fn seek(&mut self, to: f64) {
        self.position.seek(to);
        self.cut += 1;
    }

    /// Switches audio track where the player is now; the open stream ends.
    pub fn set_audio_track(&mut self, track: usize, now: Duration) {
        let here = self.position.at(now);
        self.seek(here);
        self.audio_track = track;
    }

    /// `streamer` becomes the current stream (any other ends).
    pub fn open(&mut self, streamer: Streamer) {
        self.streamer = Some(streamer);
    }

    /// The first byte of `streamer` went out: the clock starts, if it is still current.
    pub fn first_byte(&mut self, streamer: &Streamer, now: Duration) {
        if self.streamer.as_ref() == Some(streamer) {
            self.position.first_byte(now);
        }
    }

    /// `streamer` ended. When its client went away, the clock stops where the client
    /// left (the next stream restarts it from there, not from where the wall clock got
    /// to since). Nothing changes when another stream is current by now.
    pub fn ended(&mut self, streamer: &Streamer, client_gone: bool, now: Duration) {
        if self.streamer.as_ref() != Some(streamer) {
            return;
        }
        self.streamer = None;
        if client_gone {
            let here = self.position.at(now);
            self.position.seek(here);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(f64) -> Duration = Duration::from_secs_f64;

    fn mine(n: u64) -> Streamer {
        Streamer {
            instance: "a".into(),
            stream: n,
        }
    }

    #[test]
    fn a_seek_or_a_new_stream_ends_the_current_one() {
        let mut c = Controls::new(Position::new(0.0, 1.0, 60.0), None, 0);
        c.open(mine(1));
        assert!(c.names(&mine(1), 0));
        c.seek(10.0);
        assert!(!c.names(&mine(1), 0), "the cut moved");
        c.open(mine(2));
        assert!(c.names(&mine(2), 1));
        c.open(Streamer {
            instance: "b".into(),
            stream: 1,
        });
        assert!(!c.names(&mine(2), 1), "another instance's stream took over");
    }

    #[test]
    fn only_the_current_stream_starts_or_stops_the_clock() {
        let mut c = Controls::new(Position::new(5.0, 1.0, 60.0), None, 0);
        c.open(mine(1));
        c.open(mine(2));
        c.first_byte(&mine(1), S(100.0));
        assert_eq!(
            c.position.at(S(103.0)),
            5.0,
            "a replaced stream does not start it"
        );
        c.first_byte(&mine(2), S(100.0));
        assert!((c.position.at(S(103.0)) - 8.0).abs() < 1e-9);
        c.ended(&mine(1), true, S(104.0));
        assert_eq!(
            c.streamer,
            Some(mine(2)),
            "a replaced stream's end changes nothing"
        );
        c.ended(&mine(2), true, S(104.0));
        assert_eq!(c.streamer, None);
        assert!(
            (c.position.at(S(200.0)) - 9.0).abs() < 1e-9,
            "stopped where the client left"
        );
    }

    #[test]
    fn a_track_change_keeps_the_place() {
        let mut c = Controls::new(Position::new(0.0, 1.0, 60.0), None, 0);
        c.open(mine(1));
        c.first_byte(&mine(1), S(10.0));
        c.set_audio_track(1, S(14.0));
        assert_eq!((c.audio_track, c.cut), (1, 1));
        assert!(
            (c.position.at(S(99.0)) - 4.0).abs() < 1e-9,
            "waits for the next stream"
        );
    }
}

//! Live sessions shared by the instances of a deployment (`--redis`): [`SharedSessions`].
//!
//! A session's state lives in Redis so that any instance answers its status and applies
//! its controls; its stream is produced by whichever instance serves the stream request.
//!
//! ```text
//!  POST .../pause on B ──► compare-and-set of `controls` ──► PUBLISH sessions {id, version, controls}
//!                                                              │
//!  A, streaming it ◄── listener thread: adopt the controls ◄───┘  (its pacer sees the pause:
//!                                                                  production stops at once)
//! ```
//!
//! # Keys
//!
//! | key | type | what |
//! |---|---|---|
//! | `session:{id}` | hash: `version`, `fixed` (JSON: source and probe), `controls` (JSON [`Controls`]), `beat` (JSON [`Beat`]) | expires `--session-idle-seconds` after its last change; the instance streaming it renews that every second |
//! | `sessions` (pub/sub) | `{"id", "version", "controls"}` or `{"id", "deleted": true}` | every change, at once |
//!
//! Every change is a compare-and-set on `version` (a Lua script that also renews the
//! expiry and publishes), retried when another instance changed the session in between.
//! An instance that missed messages (its subscription was down) still catches up: the
//! instance streaming a session reloads it every second.
//!
//! # Redis going away
//! Controls and status answer 503 `shared_state_unavailable` ([`SessionError::Unavailable`]);
//! a stream already flowing keeps flowing under the controls last known.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::controls::{Controls, Streamer};
use super::session::SessionError;
use crate::engine::Probe;
use crate::redis_link::{RedisLink, Unavailable};

/// How many times a change is tried again after losing a compare-and-set.
const CHANGE_ATTEMPTS: usize = 16;

/// What a session plays, as every instance can find it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceRef {
    /// A ready video of the catalog, by id.
    Video(String),
    /// A file of `--library`, by its path under the library root (instances serving
    /// sessions of library files need the same library).
    Library(String),
}

/// What never changes about a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixed {
    pub source: SourceRef,
    pub probe: Probe,
}

/// The streaming instance's report, renewed every second while its stream is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Beat {
    /// The stream reported on.
    pub stream: Streamer,
    /// Bytes the stream has produced.
    pub bytes: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// A beat older than this says nothing: its instance stopped reporting (died, or lost
/// Redis).
pub const BEAT_FRESH_MS: u64 = 3_000;

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub fixed: Fixed,
    pub version: u64,
    pub controls: Controls,
    pub beat: Option<Beat>,
}

/// What another instance changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Changed {
        id: String,
        version: u64,
        controls: Controls,
    },
    Deleted {
        id: String,
    },
}

/// A published message, as the scripts write it.
#[derive(Deserialize)]
struct Wire {
    id: String,
    #[serde(default)]
    version: u64,
    controls: Option<Controls>,
    #[serde(default)]
    deleted: bool,
}

static CREATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'version', 1, 'fixed', ARGV[1], 'controls', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// ARGV: the version read, the new controls, the expiry (ms), the channel, the id.
/// Returns the new version, or 0 when the stored one is another (or the session is gone).
static COMPARE_AND_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if stored == 0 or stored ~= tonumber(ARGV[1]) then
  return 0
end
local next = stored + 1
redis.call('HSET', KEYS[1], 'version', next, 'controls', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], '{"id":"' .. ARGV[5] .. '","version":' .. next .. ',"controls":' .. ARGV[2] .. '}')
return next
"#,
    )
});

static DELETE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local n = redis.call('DEL', KEYS[1])
if n == 1 then
  redis.call('PUBLISH', ARGV[1], '{"id":"' .. ARGV[2] .. '","deleted":true}')
end
return n
"#,
    )
});

/// Renews the expiry and stores the beat, only while the session exists (a plain HSET
/// would bring a deleted session back as a husk).
static BEAT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'beat', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// The sessions of every instance, in Redis (see the module doc).
pub struct SharedSessions {
    link: Arc<RedisLink>,
    /// This instance, as it names its streams.
    me: String,
    channel: String,
    /// Sessions expire this long after their last change or beat.
    idle: Duration,
}

impl SharedSessions {
    pub fn new(link: Arc<RedisLink>, idle: Duration) -> Arc<SharedSessions> {
        Arc::new(SharedSessions {
            me: crate::redis_link::instance_name(),
            channel: link.key(&["sessions"]),
            link,
            idle,
        })
    }

    /// This instance's name in [`super::controls::Streamer`]s.
    pub fn instance(&self) -> &str {
        &self.me
    }

    fn key(&self, id: &str) -> String {
        self.link.key(&["session", id])
    }

    fn idle_ms(&self) -> u64 {
        self.idle.as_millis().max(1) as u64
    }

    /// Stores a new session; false when the id is taken.
    pub fn create(&self, id: &str, fixed: &Fixed, controls: &Controls) -> Result<bool, SessionError> {
        let fixed = serde_json::to_string(fixed).map_err(|e| SessionError::Invalid(e.to_string()))?;
        let controls = to_json(controls)?;
        let (key, ttl, mut con) = (self.key(id), self.idle_ms(), self.link.connection());
        let created: i64 = self.link.block_on(async move {
            CREATE
                .key(key)
                .arg(fixed)
                .arg(controls)
                .arg(ttl)
                .invoke_async(&mut con)
                .await
        })?;
        Ok(created == 1)
    }

    /// The session as stored, or `None` when there is none (deleted, expired).
    pub fn load(&self, id: &str) -> Result<Option<Record>, SessionError> {
        let (key, mut con) = (self.key(id), self.link.connection());
        let fields: Vec<Option<String>> = self.link.block_on(async move {
            redis::cmd("HMGET")
                .arg(key)
                .arg(&["version", "fixed", "controls", "beat"])
                .query_async(&mut con)
                .await
        })?;
        let [version, fixed, controls, beat] = <[Option<String>; 4]>::try_from(fields)
            .map_err(|_| SessionError::Unavailable("redis answered HMGET oddly".into()))?;
        let (Some(version), Some(fixed), Some(controls)) = (version, fixed, controls) else {
            return Ok(None); // absent, or a husk left by an expiry race
        };
        let unreadable = |what: &str, e: serde_json::Error| {
            SessionError::Unavailable(format!("session {id}'s {what} in redis is unreadable: {e}"))
        };
        Ok(Some(Record {
            version: version
                .parse()
                .map_err(|_| SessionError::Unavailable(format!("session {id}'s version is {version:?}")))?,
            fixed: serde_json::from_str(&fixed).map_err(|e| unreadable("source", e))?,
            controls: serde_json::from_str(&controls).map_err(|e| unreadable("controls", e))?,
            beat: beat.and_then(|b| serde_json::from_str(&b).ok()),
        }))
    }

    /// Applies `change` to the stored controls by compare-and-set, again from a fresh read
    /// when another instance got there first. Returns the version and controls stored.
    pub fn change(
        &self,
        id: &str,
        change: &mut dyn FnMut(&mut Controls) -> Result<(), SessionError>,
    ) -> Result<(u64, Controls), SessionError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let record = self
                .load(id)?
                .ok_or_else(|| SessionError::NotFound(id.to_string()))?;
            let mut controls = record.controls;
            change(&mut controls)?;
            let json = to_json(&controls)?;
            let (key, mut con) = (self.key(id), self.link.connection());
            let (ttl, channel, id_arg) = (self.idle_ms(), self.channel.clone(), id.to_string());
            let expected = record.version;
            let version: u64 = self.link.block_on(async move {
                COMPARE_AND_SET
                    .key(key)
                    .arg(expected)
                    .arg(json)
                    .arg(ttl)
                    .arg(channel)
                    .arg(id_arg)
                    .invoke_async(&mut con)
                    .await
            })?;
            if version != 0 {
                return Ok((version, controls));
            }
        }
        Err(SessionError::Unavailable(format!(
            "session {id} changed {CHANGE_ATTEMPTS} times while this change was tried"
        )))
    }

    /// Deletes the session; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, SessionError> {
        let (key, mut con) = (self.key(id), self.link.connection());
        let (channel, id_arg) = (self.channel.clone(), id.to_string());
        let n: i64 = self.link.block_on(async move {
            DELETE
                .key(key)
                .arg(channel)
                .arg(id_arg)
                .invoke_async(&mut con)
                .await
        })?;
        Ok(n == 1)
    }

    /// The streaming instance's report; renews the expiry. False when the session is gone.
    pub fn beat(&self, id: &str, beat: &Beat) -> Result<bool, SessionError> {
        let json = serde_json::to_string(beat).map_err(|e| SessionError::Invalid(e.to_string()))?;
        let (key, ttl, mut con) = (self.key(id), self.idle_ms(), self.link.connection());
        let alive: i64 = self
            .link
            .block_on(async move { BEAT.key(key).arg(json).arg(ttl).invoke_async(&mut con).await })?;
        Ok(alive == 1)
    }

    /// Starts the thread that hands every change to `on` (and `None` every half second
    /// when nothing came), for as long as `on` returns true. It subscribes on a connection of its own and subscribes again
    /// after losing it (what was missed meanwhile, the streaming instance's reload each
    /// second catches).
    pub fn spawn_listener(self: &Arc<Self>, mut on: impl FnMut(Option<Notice>) -> bool + Send + 'static) {
        let (link, channel) = (self.link.clone(), self.channel.clone());
        let listen = move || loop {
            let connected = link.dedicated(Duration::from_secs(1)).and_then(|con| {
                con.set_read_timeout(Some(Duration::from_millis(500)))?;
                Ok(con)
            });
            let mut con = match connected {
                Ok(con) => con,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                }
            };
            let mut pubsub = con.as_pubsub();
            if pubsub.subscribe(&channel).is_err() {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            loop {
                let message = match pubsub.get_message() {
                    Ok(m) => m,
                    Err(e) if e.is_timeout() => {
                        if !on(None) {
                            return;
                        }
                        continue;
                    }
                    Err(e) => {
                        log::debug!("session changes from redis: {e}; subscribing again");
                        break;
                    }
                };
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                let Ok(wire) = serde_json::from_str::<Wire>(&payload) else {
                    log::debug!("an unreadable session change: {payload}");
                    continue;
                };
                let notice = match (wire.deleted, wire.controls) {
                    (true, _) => Notice::Deleted { id: wire.id },
                    (false, Some(controls)) => Notice::Changed {
                        id: wire.id,
                        version: wire.version,
                        controls,
                    },
                    (false, None) => continue,
                };
                if !on(Some(notice)) {
                    return;
                }
            }
        };
        std::thread::Builder::new()
            .name("reel-sessions".into())
            .spawn(listen)
            .expect("spawning the session changes thread");
    }
}

fn to_json(controls: &Controls) -> Result<String, SessionError> {
    serde_json::to_string(controls).map_err(|e| SessionError::Invalid(e.to_string()))
}

impl From<Unavailable> for SessionError {
    fn from(e: Unavailable) -> SessionError {
        SessionError::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::position::Position;
    use crate::redis_link::test_server::TestRedis;

    fn probe() -> Probe {
        serde_json::from_value(serde_json::json!({
            "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration": 60.0, "bit_rate": 0,
            "video": {"stream_index": 0, "codec": "h264", "width": 64, "height": 64,
                      "display_width": 64, "display_height": 64, "sample_aspect": "1:1",
                      "display_aspect": "1:1", "rotation": 0, "frame_rate": 25.0,
                      "pix_fmt": "yuv420p", "bit_depth": 8},
            "audio_tracks": []
        }))
        .unwrap()
    }

    fn fixed() -> Fixed {
        Fixed {
            source: SourceRef::Library("a.mp4".into()),
            probe: probe(),
        }
    }

    fn controls() -> Controls {
        Controls::new(Position::new(0.0, 1.0, 60.0), None, 0)
    }

    #[test]
    fn changes_are_compare_and_set_and_published() {
        let Some(server) = TestRedis::start() else { return };
        let link = RedisLink::connect(&server.url(), Some("t")).unwrap();
        let (a, b) = (
            SharedSessions::new(link.clone(), Duration::from_secs(60)),
            SharedSessions::new(link, Duration::from_secs(60)),
        );
        assert_ne!(a.instance(), b.instance());
        let (tx, rx) = crossbeam_channel::unbounded();
        b.spawn_listener(move |n| match n {
            Some(n) => tx.send(n).is_ok(),
            None => true,
        });
        std::thread::sleep(Duration::from_millis(300)); // subscribed

        assert!(a.create("s1", &fixed(), &controls()).unwrap());
        assert!(
            !a.create("s1", &fixed(), &controls()).unwrap(),
            "an id is taken once"
        );
        let loaded = b.load("s1").unwrap().unwrap();
        assert_eq!((loaded.version, loaded.fixed.clone()), (1, fixed()));

        // A change computed from a stale read is tried again from the fresh one: both
        // seeks count.
        let mut raced = false;
        let (version, stored) = a
            .change("s1", &mut |c| {
                if !raced {
                    raced = true;
                    b.change("s1", &mut |c| {
                        c.seek(5.0);
                        Ok(())
                    })
                    .unwrap();
                }
                c.seek(10.0);
                Ok(())
            })
            .unwrap();
        assert_eq!((version, stored.cut), (3, 2));
        let notices: Vec<Notice> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(2)).unwrap())
            .collect();
        assert!(matches!(&notices[1], Notice::Changed { version: 3, controls, .. } if *controls == stored));

        // How long a change takes to reach a listener (printed, not asserted: a figure
        // for docs/sessions.md).
        let sent = std::time::Instant::now();
        a.change("s1", &mut |c| {
            c.position.pause(Duration::from_secs(1));
            Ok(())
        })
        .unwrap();
        let changed = sent.elapsed();
        rx.recv_timeout(Duration::from_secs(2)).unwrap();
        eprintln!(
            "a change: {changed:?} to store; {:?} until the listener had it",
            sent.elapsed()
        );

        // A refused change stores nothing.
        let refused = a.change("s1", &mut |_| Err(SessionError::Invalid("no".into())));
        assert!(matches!(refused, Err(SessionError::Invalid(_))));
        assert_eq!(a.load("s1").unwrap().unwrap().version, 4);

        // A beat renews; once deleted, a beat does not bring the session back.
        let beat = Beat {
            stream: crate::live::controls::Streamer {
                instance: a.instance().into(),
                stream: 1,
            },
            bytes: 7,
            at_ms: 1,
        };
        assert!(a.beat("s1", &beat).unwrap());
        assert_eq!(b.load("s1").unwrap().unwrap().beat, Some(beat.clone()));
        assert!(b.delete("s1").unwrap());
        assert!(!a.beat("s1", &beat).unwrap());
        assert_eq!(a.load("s1").unwrap(), None);
        assert!(matches!(
            a.change("s1", &mut |_| Ok(())),
            Err(SessionError::NotFound(_))
        ));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(2)).unwrap(),
            Notice::Deleted { id: "s1".into() }
        );
    }

    #[test]
    fn a_session_expires_after_its_idle_time() {
        let Some(server) = TestRedis::start() else { return };
        let link = RedisLink::connect(&server.url(), None).unwrap();
        let shared = SharedSessions::new(link, Duration::from_millis(300));
        assert!(shared.create("s2", &fixed(), &controls()).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        shared.change("s2", &mut |_| Ok(())).unwrap(); // renews
        std::thread::sleep(Duration::from_millis(200));
        assert!(shared.load("s2").unwrap().is_some());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(shared.load("s2").unwrap(), None);
    }
}

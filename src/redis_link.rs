//! [`RedisLink`]: an instance's one connection to the Redis that joins the instances of a
//! deployment (`--redis URL`), and the names of every key reel keeps there.
//!
//! ```text
//!  channel-events thread ─────────────┐
//!  actix worker ─► web::block thread ──┼─► RedisLink::block_on ─┐
//!  async handler ─► RedisLink::run ────┘   (never on a worker)  │  "reel-redis" runtime (one thread)
//!                                                               └► ConnectionManager ══► redis-server
//!                                                                  one multiplexed TCP connection,
//!                                                                  reconnects by itself
//! ```
//!
//! The link owns a small tokio runtime of its own, so the connection lives as long as the
//! link whatever runtime its callers run on (actix's workers, plain threads), and a
//! blocking caller waits on it without holding up an actix worker.
//!
//! # Keys
//!
//! Every key starts with `reel:`, then `{namespace}:` when `--redis-namespace` is set (two
//! deployments can share one Redis), then:
//!
//! | key | type | what, and the commands |
//! |---|---|---|
//! | `channel:{name}:schedule` | hash: `version` (integer), `schedule` (JSON epochs) | a channel's schedule; `HGET version` polled every second, `HMGET` when it moved, replaced by a Lua compare-and-set on `version` (`channel::epochs`) |
//! | `channel:{name}:likes` | hash: item key → count | `HINCRBY` in `MULTI` with `HGET` of the other count; `HGETALL` every second (`channel::likes`) |
//! | `channel:{name}:dislikes` | hash: item key → count | the same |
//! | `session:{id}` | hash: `version`, `fixed`, `controls`, `beat` | a live session (`live::shared`): `HMGET`; changed by a Lua compare-and-set on `version` that renews the expiry and publishes |
//! | `sessions` | pub/sub | every change of a session's controls, and deletions |
//! | `votes:{address}:{minute}` | counter | a client's votes in one Unix minute: `INCR` and `EXPIRE` in `MULTI` (`channel::vote_limit`) |
//!
//! # Redis going away
//!
//! Every call is bounded by [`CALL_TIMEOUT`] and fails with [`Unavailable`]: callers keep
//! what they last knew (channels play on from the last schedule, likes show the last
//! counts) and refuse only what must be shared (a vote). The connection manager starts a
//! new connection after a failed call, so the first call after Redis returns finds it. The
//! link logs the change both ways once, not every failed call.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Longest wait for one call (a command, a pipeline, a script), connecting included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a TCP connection (and its handshake) to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Longest wait for the answer to one command on an open connection.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The oldest Redis reel works with (major, minor): `XAUTOCLAIM`, which takes over the
/// jobs of a worker that died, came in 6.2.
pub const MIN_VERSION: (u32, u32) = (6, 2);

/// Why [`RedisLink::check_version`] could not approve the server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VersionError {
    /// Not answering: the version cannot be known yet.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// Too old for reel.
    #[error(
        "redis at {at} is version {found}, and reel needs Redis {}.{} or later (XAUTOCLAIM, \
         which hands a dead worker's jobs to another): upgrade it (Debian 12 has 7.0) or \
         use Valkey",
        MIN_VERSION.0,
        MIN_VERSION.1
    )]
    TooOld { at: String, found: String },
    /// `INFO server` did not carry a readable `redis_version`.
    #[error("redis at {at} did not say which version it is (no redis_version in INFO server)")]
    Unreadable { at: String },
}

/// `redis_version` of an `INFO server` answer, as (major, minor, patch) and as written.
pub fn parse_version(info: &str) -> Option<((u32, u32, u32), String)> {
    let text = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))?
        .trim();
    let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some(((major, minor, patch), text.to_string()))
}

/// True when a server of this version has everything reel uses.
pub fn new_enough((major, minor, _): (u32, u32, u32)) -> bool {
    (major, minor) >= MIN_VERSION
}

/// Redis did not answer a call in time, or refused it; the sentence names where and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("redis at {at} is not answering ({detail})")]
pub struct Unavailable {
    at: String,
    detail: String,
}

/// The connection, its runtime and the key prefix of this deployment.
pub struct RedisLink {
    /// `None` only while dropping (see `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
    connection: ConnectionManager,
    /// For connections of their own (a pub/sub subscriber holds one for its reads).
    client: redis::Client,
    /// `reel:` or `reel:{namespace}:`.
    prefix: String,
    /// `host:port/db`, for logs and errors (never the password of the URL).
    at: String,
    /// Whether the last call got an answer (to log changes, not every failure).
    answering: AtomicBool,
}

impl RedisLink {
    /// Opens the link to `url` (`redis://[:password@]host[:port][/db]`) with keys under
    /// `reel:{namespace}:`. Redis need not answer yet: the link connects on first use and
    /// whenever a call finds the connection gone. Fails only for a malformed URL or
    /// namespace.
    pub fn connect(url: &str, namespace: Option<&str>) -> std::io::Result<Arc<RedisLink>> {
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        if let Some(ns) = namespace {
            check_namespace(ns).map_err(invalid)?;
        }
        let client = redis::Client::open(url).map_err(|e| invalid(format!("--redis {url:?}: {e}")))?;
        let info = client.get_connection_info();
        let at = format!("{}/{}", info.addr(), info.redis_settings().db());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("reel-redis")
            .enable_all()
            .build()?;
        // Few quick retries: a caller waits at most CALL_TIMEOUT anyway, and the next call
        // starts a new attempt.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let connection = {
            let _inside = runtime.enter(); // the manager's tasks live on this runtime
            ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(|e| invalid(format!("--redis {url:?}: {e}")))?
        };
        let prefix = match namespace {
            Some(ns) => format!("reel:{ns}:"),
            None => "reel:".to_string(),
        };
        Ok(Arc::new(RedisLink {
            runtime: Some(runtime),
            connection,
            client,
            prefix,
            at,
            answering: AtomicBool::new(true),
        }))
    }

    /// Where the link points, `host:port/db`.
    pub fn label(&self) -> &str {
        &self.at
    }

    /// The full name of a key: `reel:[{namespace}:]` then `parts` joined by `:`.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }

    /// A connection handle to move into a call (cheap: the manager is shared).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// A plain (blocking) connection of its own, for a pub/sub subscriber: subscribing
    /// takes a connection over, so it cannot be the shared one.
    pub fn dedicated(&self, timeout: Duration) -> redis::RedisResult<redis::Connection> {
        self.client.get_connection_with_timeout(timeout)
    }

    /// Runs a call on the link's runtime and waits for it, at most [`CALL_TIMEOUT`]. For
    /// threads that may block (the channel thread, `web::block`); panics inside an async
    /// task: use [`run`](Self::run) there.
    pub fn block_on<T, F>(&self, call: F) -> Result<T, Unavailable>
    where
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = self.runtime().block_on(bounded(call));
        self.note(outcome)
    }

    /// [`block_on`](Self::block_on) for async code: the call runs on the link's runtime
    /// and this future only waits for it.
    pub async fn run<T, F>(&self, call: F) -> Result<T, Unavailable>
    where
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = match self.runtime().spawn(bounded(call)).await {
            Ok(outcome) => outcome,
            Err(e) => Err(e.to_string()),
        };
        self.note(outcome)
    }

    /// Asks the server its version (`INFO server`): `Ok` with it when reel can use it.
    pub fn check_version(&self) -> Result<String, VersionError> {
        let mut con = self.connection();
        let info = self.block_on(async move {
            redis::cmd("INFO")
                .arg("server")
                .query_async::<String>(&mut con)
                .await
        })?;
        let at = self.at.clone();
        let Some((version, found)) = parse_version(&info) else {
            return Err(VersionError::Unreadable { at });
        };
        if new_enough(version) {
            Ok(found)
        } else {
            Err(VersionError::TooOld { at, found })
        }
    }

    /// Whether the last call got an answer.
    pub fn answering(&self) -> bool {
        self.answering.load(Ordering::Relaxed)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the link is dropped")
    }

    /// Logs a change between answering and not; turns a failure into [`Unavailable`].
    fn note<T>(&self, outcome: Result<T, String>) -> Result<T, Unavailable> {
        match outcome {
            Ok(v) => {
                if !self.answering.swap(true, Ordering::Relaxed) {
                    log::info!("redis at {} answers again", self.at);
                }
                Ok(v)
            }
            Err(detail) => {
                if self.answering.swap(false, Ordering::Relaxed) {
                    log::warn!(
                        "redis at {} is not answering ({detail}); serving what is known until it returns",
                        self.at
                    );
                }
                Err(Unavailable {
                    at: self.at.clone(),
                    detail,
                })
            }
        }
    }
}

impl Drop for RedisLink {
    fn drop(&mut self) {
        // The last holder may be an async task (an actix worker shutting down), where a
        // runtime must not be dropped with a blocking wait.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    }
}

/// A name for this process among the instances of a deployment: host, process id and a
/// random part (a restarted process is another instance).
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or_else(|| "reel".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        crate::catalog::layout::new_id()
    )
}

/// A namespace goes into every key: letters, digits, `-`, `_` and `.`, 1 to 64 of them.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    let ok = !ns.is_empty()
        && ns.len() <= 64
        && ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "redis namespace {ns:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

#[cfg(test)]
pub(crate) mod test_server {
    //! A real `redis-server` for unit tests: a free loopback port, a temp dir, no
    //! persistence. `None` (and a line saying so) when it is not installed.

    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub struct TestRedis {
        child: Child,
        pub port: u16,
        _dir: tempfile::TempDir,
    }

    impl TestRedis {
        pub fn start() -> Option<TestRedis> {
            let installed = Command::new("redis-server")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !installed {
                eprintln!("skipping: redis-server not installed");
                return None;
            }
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(TestRedis {
                child,
                port,
                _dir: dir,
            })
        }

        pub fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/0", self.port)
        }
    }

    impl Drop for TestRedis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::TestRedis;
    use super::*;

    #[test]
    fn versions_from_6_2_on_are_new_enough() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(parse_version(info), Some(((7, 0, 15), "7.0.15".into())));
        for (text, ok) in [
            ("6.2.0", true),
            ("6.2", true),
            ("7.0.15", true),
            ("7.2.4", true), // Valkey says 7.2.4 too
            ("10.0.0", true),
            ("6.0.16", false),
            ("5.0.14", false),
            ("6.1.9", false),
        ] {
            let (version, _) = parse_version(&format!("redis_version:{text}")).unwrap();
            assert_eq!(new_enough(version), ok, "{text}");
        }
        assert_eq!(parse_version("# Server\r\nredis_mode:standalone\r\n"), None);
        assert_eq!(parse_version("redis_version:x.y"), None);
        let old = VersionError::TooOld {
            at: "10.0.0.5:6379/0".into(),
            found: "6.0.16".into(),
        };
        assert_eq!(
            old.to_string(),
            "redis at 10.0.0.5:6379/0 is version 6.0.16, and reel needs Redis 6.2 or later \
             (XAUTOCLAIM, which hands a dead worker's jobs to another): upgrade it (Debian 12 \
             has 7.0) or use Valkey"
        );
    }

    #[test]
    fn the_version_of_a_real_server_is_read() {
        let Some(server) = TestRedis::start() else { return };
        let link = RedisLink::connect(&server.url(), None).unwrap();
        let version = link.check_version().unwrap();
        assert!(version.starts_with(|c: char| c.is_ascii_digit()), "{version}");
        let away = RedisLink::connect("redis://127.0.0.1:1/0", None).unwrap();
        assert!(matches!(away.check_version(), Err(VersionError::Unavailable(_))));
    }

    #[test]
    fn keys_carry_the_prefix_and_namespace() {
        let plain = RedisLink::connect("redis://127.0.0.1:1/0", None).unwrap();
        assert_eq!(
            plain.key(&["channel", "main", "likes"]),
            "reel:channel:main:likes"
        );
        let spaced = RedisLink::connect("redis://127.0.0.1:1/0", Some("staging")).unwrap();
        assert_eq!(spaced.key(&["channel", "main"]), "reel:staging:channel:main");
        assert_eq!(spaced.label(), "127.0.0.1:1/0");
        assert!(RedisLink::connect("redis://x", Some("a:b")).is_err());
        assert!(RedisLink::connect("http://nope", None).is_err());
    }

    #[test]
    fn a_server_that_is_not_there_is_unavailable_quickly() {
        let link = RedisLink::connect("redis://127.0.0.1:1/0", None).unwrap();
        let started = std::time::Instant::now();
        let mut con = link.connection();
        let got = link.block_on(async move { redis::cmd("PING").query_async::<String>(&mut con).await });
        assert!(got.is_err());
        assert!(!link.answering());
        assert!(started.elapsed() <= CALL_TIMEOUT + Duration::from_millis(500));
        let text = got.unwrap_err().to_string();
        assert!(
            text.starts_with("redis at 127.0.0.1:1/0 is not answering"),
            "{text}"
        );
    }

    #[test]
    fn calls_from_threads_and_from_async_code() {
        let Some(server) = TestRedis::start() else { return };
        let link = RedisLink::connect(&server.url(), Some("t")).unwrap();
        let (key, mut con) = (link.key(&["n"]), link.connection());
        let n: i64 = link
            .block_on(async move { redis::cmd("INCR").arg(key).query_async(&mut con).await })
            .unwrap();
        assert_eq!(n, 1);
        // From another runtime (an actix worker's, say): `run` only waits.
        let other = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (key, mut con) = (link.key(&["n"]), link.connection());
        let n: i64 = other
            .block_on(link.run(async move { redis::cmd("INCR").arg(key).query_async(&mut con).await }))
            .unwrap();
        assert_eq!(n, 2);
        assert!(link.answering());
    }
}

//! A real S3-compatible server on loopback for the object-storage tests (issue 10):
//! `s3s-fs` (the `s3s` project's file-system backend), never a mock of the client.
//!
//! [`S3Server::start`] runs `s3s-fs --host 127.0.0.1 --port PORT --access-key K
//! --secret-key S ROOT` on a free port with random keys over a temp root holding one
//! bucket (a bucket is a directory `ROOT/BUCKET`), and waits until the port answers.
//! `reel serve` reaches it through the standard variables ([`S3Server::env`]) and
//! `--store` ([`S3Server::store_url`]); the tests judge what reel stored with the
//! `object_store` crate's S3 client ([`Bucket`]): keys, bytes, `Content-Type`,
//! `Cache-Control`.
//!
//! s3s-fs keeps every object as a file under ROOT plus a metadata file beside it, and
//! answers anonymous requests only when started without keys (signed ones it then refuses).
//! [`S3Server::serve_anonymously`] therefore starts a second s3s-fs over the same ROOT,
//! without keys: the bucket as a public-read endpoint (what a public bucket or a CDN in
//! front of it is for `--public-media-url`), while reel writes through the signed one.
//!
//! `s3s-fs` comes from `scripts/setup --test` (`cargo install s3s-fs@0.14.1 --features
//! binary --locked`); it is looked for on PATH and in `~/.cargo/bin`. Without it a test
//! skips, saying so; with `CI` or `REEL_REQUIRE_S3` set it fails instead.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{Attribute, GetOptions, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig};

use super::server::Options;

/// The bucket every test server holds (s3s-fs wants 3 characters or more).
pub const BUCKET: &str = "reel-test";

/// How long s3s-fs may take to answer on its port after being spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The s3s-fs binary: on PATH, else in `~/.cargo/bin` (where `cargo install` puts it).
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    on_path
        .into_iter()
        .chain(cargo_bin)
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file())
}

/// A running s3s-fs with one bucket; killed on drop.
pub struct S3Server {
    binary: PathBuf,
    /// The directory s3s-fs serves; `root/BUCKET` is the bucket.
    root: tempfile::TempDir,
    pub port: u16,
    access_key: String,
    secret_key: String,
    child: Option<Child>,
    /// The keyless s3s-fs over the same root, and its port ([`S3Server::serve_anonymously`]).
    anonymous: Option<(Child, u16)>,
}

impl S3Server {
    /// Starts s3s-fs, or says why not and returns `None` when it is not installed (a test
    /// then skips). `what` names the test for that sentence.
    pub fn start(what: &str) -> Option<S3Server> {
        let Some(binary) = binary() else {
            let required = std::env::var_os("CI").is_some() || std::env::var_os("REEL_REQUIRE_S3").is_some();
            assert!(
                !required,
                "{what} cannot run: s3s-fs is not installed (scripts/setup --test installs it)"
            );
            eprintln!("skipping {what}: s3s-fs not installed (scripts/setup --test installs it)");
            return None;
        };
        let root = tempfile::Builder::new().prefix("reel-s3-").tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut server = S3Server {
            binary,
            root,
            port: free_port(),
            access_key: format!("reel{}", random_hex(8)),
            secret_key: random_hex(20),
            child: None,
            anonymous: None,
        };
        server.child = Some(server.spawn(server.port, true));
        Some(server)
    }

    /// Runs s3s-fs on `port` over the root, with the keys or without (anonymous), and
    /// waits until the port answers.
    fn spawn(&self, port: u16, signed: bool) -> Child {
        let name = if signed { "s3s-fs" } else { "s3s-fs-anonymous" };
        let log = std::fs::File::create(self.root.path().join(format!(".{name}-{port}.log"))).unwrap();
        let mut command = Command::new(&self.binary);
        command.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        if signed {
            command.args(["--access-key", &self.access_key, "--secret-key", &self.secret_key]);
        }
        let mut child = command
            .arg(self.root.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning s3s-fs");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("s3s-fs exited ({status}) before answering on {addr}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("s3s-fs did not answer on {addr} within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL` says.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables `reel serve` reads its S3 settings from, for `Options::envs`.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `s3://BUCKET/PREFIX`, for `--store`.
    pub fn store_url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// `reel serve` options with this bucket as its store (`--store s3://BUCKET/PREFIX`, the
    /// S3 variables) and `args` besides; the launcher's `--media` is then only the scratch
    /// folder.
    pub fn serve_options(&self, prefix: &str, args: &[&str]) -> Options {
        let mut all = vec!["--store".to_string(), self.store_url(prefix)];
        all.extend(args.iter().map(|a| a.to_string()));
        Options {
            args: all,
            envs: self.env(),
            ..Options::default()
        }
    }

    /// A signed client of the bucket, for the tests' checks.
    pub fn client(&self) -> Bucket {
        let store = AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .with_region("us-east-1")
            // A check that meets a server error fails soon, not after the client's 3 minutes.
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .build()
            .expect("an S3 client of the test bucket");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Bucket {
            store: Arc::new(store),
            runtime,
        }
    }

    /// SIGKILL: the store goes away at once, mid-request if need be.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts s3s-fs again on the same port over the same root (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(self.spawn(self.port, true));
    }

    /// Starts (once) a keyless s3s-fs over the same root and returns the bucket's public
    /// base URL there, `http://127.0.0.1:PORT/BUCKET`: every object readable without a
    /// signature, as from a public bucket.
    pub fn serve_anonymously(&mut self) -> String {
        if self.anonymous.is_none() {
            let port = free_port();
            self.anonymous = Some((self.spawn(port, false), port));
        }
        let (_, port) = self.anonymous.as_ref().unwrap();
        format!("http://127.0.0.1:{port}/{BUCKET}")
    }

    /// The directory behind the bucket (s3s-fs's files), for a failure's report.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
        if let Some((mut child, _)) = self.anonymous.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nobody listens on now (the OS's pick for port 0, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the bucket holds at a key: the bytes and the headers it is served with.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
}

impl Object {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A signed `object_store` client of the test bucket, driven on a runtime of its own (the
/// tests are synchronous).
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    /// Every key below `prefix` (a whole path segment: `a/b` lists `a/b/...`, not `a/bc`),
    /// sorted. Panics if the store does not answer.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.try_keys(prefix)
            .unwrap_or_else(|e| panic!("listing {prefix}/ in the bucket: {e}"))
    }

    pub fn try_keys(&self, prefix: &str) -> object_store::Result<Vec<String>> {
        let listed: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&Key::from(prefix))).try_collect())?;
        // s3s-fs answers a listing of `a/b/` with `a/bc/...` too: the segment is kept here.
        let below = format!("{prefix}/");
        let mut keys: Vec<String> = listed
            .into_iter()
            .map(|m| m.location.to_string())
            .filter(|k| prefix.is_empty() || k.starts_with(&below))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// The object at `key`, or `None` when there is none. Panics on any other error.
    pub fn get(&self, key: &str) -> Option<Object> {
        let location = Key::from(key);
        let got = self.runtime.block_on(async {
            let result = self.store.get_opts(&location, GetOptions::default()).await?;
            let attribute = |a| result.attributes.get(&a).map(|v| v.to_string());
            let (content_type, cache_control) = (
                attribute(Attribute::ContentType),
                attribute(Attribute::CacheControl),
            );
            let bytes = result.bytes().await?;
            Ok::<_, object_store::Error>((bytes, content_type, cache_control))
        });
        match got {
            Ok((bytes, content_type, cache_control)) => Some(Object {
                key: key.to_string(),
                bytes: bytes.to_vec(),
                content_type,
                cache_control,
            }),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("getting {key} from the bucket: {e}"),
        }
    }

    /// True when an object is stored at `key` (a HEAD request).
    pub fn exists(&self, key: &str) -> bool {
        match self.runtime.block_on(self.store.head(&Key::from(key))) {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => panic!("HEAD {key} in the bucket: {e}"),
        }
    }

    /// Stores `bytes` at `key` with a `Content-Type`.
    pub fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) {
        let mut options = PutOptions::default();
        options
            .attributes
            .insert(Attribute::ContentType, content_type.to_string().into());
        self.runtime
            .block_on(self.store.put_opts(&Key::from(key), bytes.into(), options))
            .unwrap_or_else(|e| panic!("putting {key} into the bucket: {e}"));
    }
}

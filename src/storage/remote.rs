//! [`Bucket`]: a store in an S3-compatible bucket, through Apache Arrow's `object_store`
//! (signing, path-style requests for a custom endpoint, retries with backoff, multipart
//! uploads).
//!
//! Every request runs on one small Tokio runtime owned by the store (two threads, made
//! once per process and never dropped), whatever thread asks: engine and job threads wait
//! for the answer, HTTP handlers await it. Connections stay pooled on that runtime, and an
//! actix worker never blocks on the network.
//!
//! Reads of a video's objects go through an [`ObjectCache`]: a hot segment costs one round
//! trip per process, not one per viewer, and a hundred viewers asking for a new segment at
//! once cause one request.

use std::future::Future;
use std::io;
use std::path::Path as FsPath;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig,
};
use tokio::io::AsyncReadExt;

use super::cache::ObjectCache;
use super::headers::{content_type, Freshness};
use super::outage::Outage;
use super::StoredObject;

/// Parts of a multipart upload (S3 wants at least 5 MiB but the last).
const PART_BYTES: usize = 8 << 20;
/// Parts in flight at once: memory per upload is at most this many parts.
const PARTS_IN_FLIGHT: usize = 2;
/// Objects at least this large go up in parts.
const MULTIPART_FROM: u64 = 16 << 20;

pub struct Bucket {
    s3: Arc<AmazonS3>,
    /// Key prefix, with a trailing `/` unless empty.
    prefix: String,
    label: String,
    cache: ObjectCache,
    /// Reads fail fast while the bucket is away.
    outage: Outage,
}

/// The runtime every request runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("store-io")
            .enable_all()
            .build()
            .expect("building the store's runtime")
    })
}

/// Runs `fut` on the store's runtime and waits for it. For threads that may block
/// (engine, jobs, `web::block`), never for an actix worker.
fn wait<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    futures_executor::block_on(runtime().spawn(fut)).expect("a store request panicked")
}

/// Runs `fut` on the store's runtime; the caller awaits it wherever it is.
async fn on_runtime<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    runtime().spawn(fut).await.expect("a store request panicked")
}

/// Sends `file` as the parts of `upload`, [`PART_BYTES`] each, at most [`PARTS_IN_FLIGHT`]
/// at once: memory stays at a few parts whatever the file's size.
async fn send_parts(upload: &mut dyn MultipartUpload, file: &FsPath) -> object_store::Result<()> {
    let local = |e: io::Error| object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    };
    let mut f = tokio::fs::File::open(file).await.map_err(local)?;
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    loop {
        let mut part = Vec::with_capacity(PART_BYTES);
        while part.len() < PART_BYTES {
            let n = (&mut f)
                .take((PART_BYTES - part.len()) as u64)
                .read_to_end(&mut part)
                .await
                .map_err(local)?;
            if n == 0 {
                break;
            }
        }
        if part.is_empty() {
            break;
        }
        while in_flight.len() >= PARTS_IN_FLIGHT {
            if let Some(sent) = in_flight.next().await {
                sent?;
            }
        }
        in_flight.push(upload.put_part(Bytes::from(part).into()));
    }
    while let Some(sent) = in_flight.next().await {
        sent?;
    }
    Ok(())
}

fn attributes(key: &str, freshness: Freshness) -> Attributes {
    let mut a = Attributes::new();
    a.insert(Attribute::ContentType, content_type(key).into());
    a.insert(Attribute::CacheControl, freshness.cache_control().into());
    a
}

impl Bucket {
    /// Connects to `bucket` with the `AWS_*` settings of the environment. `timeout` bounds
    /// how long one operation retries before it fails (a store that went away).
    pub fn open(bucket: &str, prefix: &str, timeout: Duration, cache_bytes: u64) -> io::Result<Bucket> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        // Client options replace the whole set the environment gave: plain http is
        // allowed for a custom `http://` endpoint (or AWS_ALLOW_HTTP=true).
        let allow_http = endpoint.as_deref().is_some_and(|e| e.starts_with("http://"))
            || std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let client = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(5).min(timeout))
            .with_timeout(Duration::from_secs(60).max(timeout));
        let retry = RetryConfig {
            max_retries: 10,
            retry_timeout: timeout,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_client_options(client)
            .with_retry(retry);
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            builder = builder.with_region("us-east-1");
        }
        if let Some(endpoint) = &endpoint {
            // MinIO, Garage, Ceph, R2, s3s: path-style requests.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let s3 = builder
            .build()
            .map_err(|e| io::Error::other(format!("configuring the S3 store: {e}")))?;
        let label = match prefix {
            "" => format!("s3://{bucket}"),
            p => format!("s3://{bucket}/{p}"),
        };
        Ok(Bucket {
            s3: Arc::new(s3),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            label,
            cache: ObjectCache::new(cache_bytes),
            outage: Outage::default(),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.prefix))
    }

    /// A failure as the sentence a user reads ("the media store s3://... failed: ...").
    fn error(&self, doing: &str, e: object_store::Error) -> io::Error {
        match e {
            object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, "no such object"),
            e => io::Error::other(format!("the media store {} failed {doing}: {e}", self.label)),
        }
    }

    pub fn put(&self, key: &str, bytes: Bytes, freshness: Freshness) -> io::Result<()> {
        let s3 = self.s3.clone();
        let path = self.path(key);
        let opts = PutOptions {
            attributes: attributes(key, freshness),
            ..PutOptions::default()
        };
        wait(async move { s3.put_opts(&path, PutPayload::from(bytes), opts).await })
            .map_err(|e| self.error("storing an object", e))?;
        self.cache.forget(key);
        Ok(())
    }

    /// Uploads a local file, in parts when it is large: memory stays at a few parts
    /// whatever the file's size.
    pub fn put_file(&self, key: &str, file: &FsPath, freshness: Freshness) -> io::Result<()> {
        let len = std::fs::metadata(file)?.len();
        if len < MULTIPART_FROM {
            return self.put(key, Bytes::from(std::fs::read(file)?), freshness);
        }
        let s3 = self.s3.clone();
        let path = self.path(key);
        let file = file.to_path_buf();
        let opts = PutMultipartOptions {
            attributes: attributes(key, freshness),
            ..PutMultipartOptions::default()
        };
        wait(async move {
            let mut upload = s3.put_multipart_opts(&path, opts).await?;
            match send_parts(upload.as_mut(), &file).await {
                Ok(()) => upload.complete().await.map(drop),
                Err(e) => {
                    // The first failure is what the caller hears of; the abort's own
                    // (object_store's `WriteMultipart` would report that one instead).
                    if let Err(abort) = upload.abort().await {
                        log::warn!("abandoning the multipart upload of {path} failed too: {abort}");
                    }
                    Err(e)
                }
            }
        })
        .map_err(|e| self.error("uploading a file", e))
    }

    /// Downloads an object into a local file, streamed.
    pub fn get_to_file(&self, key: &str, dest: &FsPath) -> io::Result<()> {
        let s3 = self.s3.clone();
        let path = self.path(key);
        let dest = dest.to_path_buf();
        wait(async move {
            let result = s3.get(&path).await?;
            let mut stream = result.into_stream();
            let mut file = std::fs::File::create(&dest).map_err(|e| object_store::Error::Generic {
                store: "local file",
                source: Box::new(e),
            })?;
            while let Some(chunk) = stream.next().await {
                std::io::Write::write_all(&mut file, &chunk?).map_err(|e| object_store::Error::Generic {
                    store: "local file",
                    source: Box::new(e),
                })?;
            }
            Ok(())
        })
        .map_err(|e| self.error("downloading an object", e))
    }

    /// An object's bytes and validators, from the cache when it holds them. `Ok(None)`
    /// when there is no such object.
    pub async fn fetch(&self, key: &str) -> io::Result<Option<Arc<StoredObject>>> {
        self.cache.get_or_fetch(key, || self.fetch_uncached(key)).await
    }

    /// The object as the bucket holds it now, past the cache (which is left as it is).
    async fn fetch_uncached(&self, key: &str) -> io::Result<Option<StoredObject>> {
        let label = self.label.clone();
        if !self.outage.admit() {
            return Err(io::Error::other(format!(
                "the media store {label} is not answering (reads fail at once for now; one a second tries it again)"
            )));
        }
        let s3 = self.s3.clone();
        let path = self.path(key);
        let got = on_runtime(async move {
            let result = s3.get(&path).await?;
            let meta = result.meta.clone();
            let bytes = result.bytes().await?;
            Ok(StoredObject {
                e_tag: meta
                    .e_tag
                    .unwrap_or_else(|| format!("\"{:x}-{}\"", meta.size, meta.last_modified.timestamp())),
                last_modified: SystemTime::from(meta.last_modified),
                bytes,
            })
        })
        .await;
        match got {
            Ok(object) => {
                self.outage.answered();
                Ok(Some(object))
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.outage.answered();
                Ok(None)
            }
            Err(e) => {
                self.outage.failed();
                Err(io::Error::other(format!(
                    "the media store {label} failed reading an object: {e}"
                )))
            }
        }
    }

    /// [`fetch`](Self::fetch) for threads that may block.
    pub fn get(&self, key: &str) -> io::Result<Option<Arc<StoredObject>>> {
        futures_executor::block_on(self.fetch(key))
    }

    /// [`get`](Self::get) past the cache: for decisions a copy a second old would mislead
    /// (has this job ended?).
    pub fn get_uncached(&self, key: &str) -> io::Result<Option<StoredObject>> {
        futures_executor::block_on(self.fetch_uncached(key))
    }

    /// Every key under `dir/`, relative to the store's prefix.
    pub fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let s3 = self.s3.clone();
        let path = self.path(dir.trim_end_matches('/'));
        let strip = self.prefix.clone();
        // Some servers answer a listing of `a/b/` with `a/bc/...` too: keep what is below.
        let below = format!("{}/", path.as_ref());
        wait(async move {
            s3.list(Some(&path))
                .try_filter(move |m| std::future::ready(m.location.as_ref().starts_with(below.as_str())))
                .map_ok(move |m| {
                    m.location
                        .as_ref()
                        .strip_prefix(strip.as_str())
                        .unwrap_or("")
                        .to_string()
                })
                .try_collect::<Vec<String>>()
                .await
        })
        .map_err(|e| self.error("listing objects", e))
    }

    /// The names of the top-level "folders" (common prefixes) of the store.
    pub fn list_folders(&self) -> io::Result<Vec<String>> {
        let s3 = self.s3.clone();
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.trim_end_matches('/')));
        wait(async move { s3.list_with_delimiter(prefix.as_ref()).await })
            .map(|r| {
                r.common_prefixes
                    .into_iter()
                    .filter_map(|p| p.filename().map(str::to_string))
                    .collect()
            })
            .map_err(|e| self.error("listing videos", e))
    }

    /// Deletes the given keys (relative to the prefix).
    pub fn delete(&self, keys: Vec<String>) -> io::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        for k in &keys {
            self.cache.forget(k);
        }
        let s3 = self.s3.clone();
        let paths: Vec<Path> = keys.iter().map(|k| self.path(k)).collect();
        wait(async move {
            let locations = futures_util::stream::iter(paths.into_iter().map(Ok)).boxed();
            s3.delete_stream(locations)
                .try_filter_map(|_| async { Ok(None::<()>) })
                .try_collect::<Vec<()>>()
                .await
        })
        .map(drop)
        .or_else(|e| match e {
            object_store::Error::NotFound { .. } => Ok(()),
            e => Err(self.error("deleting objects", e)),
        })
    }

    pub fn cache_stats(&self) -> (u64, u64, u64) {
        self.cache.stats()
    }

    pub fn in_outage(&self) -> bool {
        self.outage.is_on()
    }
}

//! The HTTP front (actix-web): uploads, the video API, media and library serving.
//!
//! ```text
//! Logger ─► cors ─► auth ─► routes
//!   /healthz  /metrics                               health, metrics.rs
//!   /api/videos            GET list, POST upload     videos.rs, upload.rs
//!   /api/videos/{id}       GET, DELETE               videos.rs
//!   /api/videos/{id}/events  SSE                     sse.rs
//!   /media/{id}/...  /library/...  GET, HEAD         media.rs (over root.rs)
//!   /api/channels..., /channels/...                  channels.rs
//!   /iptv/..., /discover.json, /lineup*.json         iptv.rs (Live TV clients)
//! ```
//!
//! Threads: actix workers only parse, route and move bytes. Everything that blocks on the
//! engine or the disk for long (probing, accepting, deleting, upload writes) goes through
//! `web::block`; transcodes run on the engine's pool ([`Jobs`]).
//!
//! [`serve`] takes ready [`Parts`] (built by the composition root, [`crate::service`]; this
//! layer never sees the command line), prints `listening on http://ADDR` on stdout (tests
//! bind port 0 and read it), and on SIGTERM or SIGINT drains: uploads are refused, event
//! streams close, in-flight requests finish; then it returns, and the caller stops the jobs.

mod auth;
mod body;
mod channels;
mod client_addr;
mod cors;
pub mod error;
mod file_cache;
mod iptv;
pub mod media;
mod metrics;
mod object_serve;
mod pages;
mod root;
mod sessions;
mod sse;
mod upload;
mod videos;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::fn_service;
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::sync::watch;

use crate::catalog::jobs::Jobs;
use crate::catalog::store::Store;
use crate::channel::hub::Channels;
use crate::live::Sessions;
use crate::redis_link::RedisLink;
use crate::storage::MediaStore;
pub use client_addr::TrustedProxies;
pub use cors::Cors;
use error::ApiError;
use metrics::Metrics;
pub use pages::Pages;
pub use root::{RelPath, StaticRoot};

/// How long a graceful stop waits for open connections.
pub const DRAIN: Duration = Duration::from_secs(10);

/// What every handler shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub jobs: Jobs,
    /// Where every video's objects live.
    pub media: MediaStore,
    /// The folder of a folder store, served straight from disk; `None` for a bucket.
    pub media_root: Option<StaticRoot>,
    /// `--public-media-url`: links and playlists send players there for media.
    pub public_media_url: Option<String>,
    pub library_root: Option<StaticRoot>,
    pub max_upload_bytes: u64,
    pub api_key: Option<String>,
    pub cors: Cors,
    /// `--trusted-proxy`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `--redis`: the link, for `/healthz`.
    pub redis: Option<Arc<RedisLink>>,
    pub metrics: Arc<Metrics>,
    pub moov_checks: media::MoovChecks,
    /// Turns true when the server starts to stop; event streams end on it.
    pub shutdown: watch::Receiver<bool>,
    /// Hot blocks of served files.
    pub file_cache: file_cache::FileCache,
    /// Synchronized channels.
    pub channels: Arc<Channels>,
    /// Live sessions.
    pub sessions: Arc<Sessions>,
}

/// Registers every route; the middleware is added by [`serve`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    let not_allowed = || web::to(method_not_allowed);
    cfg.configure(health_and_metrics)
        .service(
            web::resource("/api/videos")
                .get(videos::list)
                .post(upload::upload)
                .default_service(not_allowed()),
        )
        .service(
            web::resource("/api/videos/{id}")
                .get(videos::get)
                .delete(videos::delete)
                .default_service(not_allowed()),
        )
        .service(
            web::resource("/api/videos/{id}/events")
                .get(sse::events)
                .default_service(not_allowed()),
        )
        // Scopes match their prefix without a regex; the handlers parse the raw tail.
        .service(web::scope("/media").default_service(fn_service(media::media)))
        .service(web::scope("/library").default_service(fn_service(media::library)))
        .configure(pages::routes)
        .configure(channels::routes)
        .configure(iptv::routes)
        .configure(sessions::routes)
        .default_service(web::to(not_found));
}

/// `/healthz` and `/metrics`: what every instance serves, a worker too.
fn health_and_metrics(cfg: &mut web::ServiceConfig) {
    let not_allowed = || web::to(method_not_allowed);
    cfg.service(
        web::resource("/healthz")
            .get(health)
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/metrics")
            .get(metrics::metrics)
            .default_service(not_allowed()),
    );
}

/// `{"status":"ok"}` while the process serves; with a bucket store or `--redis`, also
/// whether each answered lately (`"store"`, `"redis"`: `"ok"` or `"away"`). The status
/// stays `ok` while one is away: the instance still serves everything that exists, so a
/// load balancer should keep sending it requests (docs/scaling.md).
async fn health(state: web::Data<AppState>) -> HttpResponse {
    let mut body = serde_json::json!({"status": "ok"});
    let word = |up: bool| if up { "ok" } else { "away" };
    if state.media.folder_root().is_none() {
        body["store"] = word(!state.media.in_outage()).into();
    }
    if let Some(link) = &state.redis {
        body["redis"] = word(link.answering()).into();
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

/// The ready parts the HTTP layer serves: built by the composition root
/// ([`crate::service`]), which also owns their background threads.
pub struct Parts {
    pub store: Arc<Store>,
    pub jobs: Jobs,
    /// Where every video's objects live.
    pub media: MediaStore,
    /// `--public-media-url`: links and playlists send players there for media.
    pub public_media_url: Option<String>,
    /// The `--library` folder, served at `/library/`.
    pub library_root: Option<StaticRoot>,
    pub max_upload_bytes: u64,
    /// Required on state-changing requests; `None` (or empty) for an open server.
    pub api_key: Option<String>,
    pub cors: Cors,
    pub trusted_proxies: TrustedProxies,
    pub redis: Option<Arc<RedisLink>>,
    /// Memory for hot blocks of served files; 0 turns the cache off.
    pub file_cache_bytes: u64,
    pub channels: Arc<Channels>,
    pub sessions: Arc<Sessions>,
    pub pages: Pages,
    /// `reel worker`: only `/healthz` and `/metrics`.
    pub health_only: bool,
}

/// `/healthz` and `/metrics`, all a worker serves.
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(health_and_metrics)
        .default_service(web::to(not_found));
}

/// Serves `parts` on `bind` until SIGTERM or SIGINT, then drains: uploads are refused,
/// event streams close and in-flight requests finish (for up to [`DRAIN`]). Stopping the
/// jobs is the caller's business, once this returns.
pub fn serve(parts: Parts, bind: &str) -> std::io::Result<()> {
    let Parts {
        store,
        jobs,
        media,
        public_media_url,
        library_root,
        max_upload_bytes,
        api_key,
        cors,
        trusted_proxies,
        redis,
        file_cache_bytes,
        channels,
        sessions,
        pages,
        health_only,
    } = parts;
    let proxies = trusted_proxies.clone();
    let pages = web::Data::new(pages);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = web::Data::new(AppState {
        store,
        jobs: jobs.clone(),
        media_root: media.folder_root().map(StaticRoot::new).transpose()?,
        media,
        public_media_url,
        library_root,
        max_upload_bytes,
        api_key: api_key.filter(|k| !k.is_empty()),
        cors,
        trusted_proxies,
        redis,
        metrics: Arc::new(Metrics::default()),
        moov_checks: Default::default(),
        shutdown: shutdown_rx,
        file_cache: file_cache::FileCache::new(file_cache_bytes),
        channels,
        sessions,
    });

    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(pages.clone())
                .wrap(from_fn(auth::require_key))
                .wrap(from_fn(cors::cors))
                .wrap(access_log(proxies.clone()))
                .configure(if health_only { health_routes } else { routes })
        })
        .on_connect(sessions::remember_socket)
        .disable_signals()
        .shutdown_timeout(DRAIN.as_secs())
        .bind(bind)?;
        for addr in server.addrs() {
            log::info!("listening on http://{addr}");
            // For scripts and tests that bind port 0; a closed stdout is not an error.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "listening on http://{addr}").and_then(|()| out.flush());
        }
        let server = server.run();
        let handle = server.handle();
        let stopping = jobs.clone();
        actix_web::rt::spawn(async move {
            wait_for_stop_signal().await;
            log::info!("stopping: finishing requests, then pausing jobs until the next start");
            stopping.stop_accepting();
            let _ = shutdown_tx.send(true);
            handle.stop(true).await;
        });
        server.await
    })
}

/// One line per request: the client (see [`TrustedProxies`]), the request line, status,
/// bytes and time.
fn access_log(proxies: TrustedProxies) -> Logger {
    Logger::new(r#"%{client}xi "%r" %s %b %Dms"#).custom_request_replace("client", move |req| {
        match req.peer_addr() {
            Some(peer) => proxies.client(peer.ip(), req.headers()).to_string(),
            None => "-".to_string(),
        }
    })
}

async fn wait_for_stop_signal() {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        log::error!("cannot listen for SIGTERM/SIGINT; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    futures_util::future::select(Box::pin(term.recv()), Box::pin(int.recv())).await;
}

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
//! [`serve`] is what `reel serve` runs: it rebuilds the catalog from the media root, resumes
//! interrupted jobs, prints `listening on http://ADDR` on stdout (tests bind port 0 and
//! read it), and on SIGTERM or SIGINT drains: uploads are refused, event streams close,
//! in-flight requests finish, running jobs are cancelled and left queued for the next start.

mod auth;
mod body;
mod channels;
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

use crate::catalog::demo::queue_demo;
use crate::catalog::jobs::Jobs;
use crate::catalog::layout::Layout;
use crate::catalog::library::LibraryScanner;
use crate::catalog::store::Store;
use crate::catalog::upkeep;
use crate::channel::hub::{ChannelStores, Channels};
use crate::cli::ServeArgs;
use crate::live::{SessionConfig, Sessions};
use crate::storage::MediaStore;
pub use cors::Cors;
use error::ApiError;
use metrics::Metrics;
pub use root::{RelPath, StaticRoot};

/// How long a graceful stop waits for open connections, then for running jobs.
const DRAIN: Duration = Duration::from_secs(10);

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
    cfg.service(
        web::resource("/healthz")
            .get(health)
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/metrics")
            .get(metrics::metrics)
            .default_service(not_allowed()),
    )
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

async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

/// Runs the server until SIGTERM or SIGINT, then drains.
pub fn serve(args: ServeArgs) -> std::io::Result<()> {
    if let Some(url) = &args.public_media_url {
        crate::catalog::video::set_public_media_url(url);
    }
    let redis = args.redis.connect()?;
    let cache_bytes = args.cache_mb.saturating_mul(1 << 20);
    let media = args.store.open(&args.media, cache_bytes)?;
    // The local working folder (uploads being received, job sources): a folder store's
    // own root, else `--media`.
    let work = media.folder_root().unwrap_or(&args.media).to_path_buf();
    let layout = Layout::create(&work)?;
    log::info!("media store: {}", media.label());
    let stale = layout.clean_uploads()?;
    if stale > 0 {
        log::info!("removed {stale} unfinished upload(s) left by an earlier run");
    }
    let store = Arc::new(Store::load(layout, media.clone()).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("reading the catalog from {}: {e}", media.label()),
        )
    })?);
    let jobs = Jobs::new(store.clone(), args.workers, args.queue, args.limits.limits());
    jobs.resume_interrupted();
    if store.is_empty() && args.demo {
        queue_demo(jobs.clone());
    }
    let library_root =
        match &args.library {
            Some(dir) => Some(StaticRoot::new(dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("library folder {}: {e}", dir.display()))
            })?),
            None => None,
        };
    let scanner = match (&args.library, args.no_library_ladders) {
        (Some(dir), false) => Some((
            LibraryScanner::new(jobs.clone(), dir)?,
            Duration::from_secs(args.library_scan_seconds),
        )),
        _ => None,
    };
    upkeep::spawn(jobs.clone(), scanner);
    let channels = Channels::open(
        ChannelStores::new(&store.layout().root().join(".channels"), redis.as_ref()),
        args.channel_defs()?,
        Arc::new(crate::live::SystemClock::default()),
        store.clone(),
    );
    channels.spawn_publisher(Duration::from_secs(1));
    let sessions = Sessions::new(
        Arc::new(crate::live::SystemClock::default()),
        SessionConfig {
            idle: Duration::from_secs(args.session_idle_seconds),
            max_encoders: args.max_live_encoders,
            max_sessions: args.max_live_sessions,
            ..SessionConfig::default()
        },
    );
    sessions.spawn_reaper();
    let pages = web::Data::new(pages::Pages::locate(args.web.as_deref())?);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = web::Data::new(AppState {
        store,
        jobs: jobs.clone(),
        media_root: media.folder_root().map(StaticRoot::new).transpose()?,
        media,
        public_media_url: args.public_media_url.clone(),
        library_root,
        max_upload_bytes: args.max_upload_bytes,
        api_key: args.api_key.clone().filter(|k| !k.is_empty()),
        cors: Cors::parse(&args.cors_origin),
        metrics: Arc::new(Metrics::default()),
        moov_checks: Default::default(),
        shutdown: shutdown_rx,
        file_cache: file_cache::FileCache::new(cache_bytes),
        channels,
        sessions,
    });

    let draining = jobs.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(pages.clone())
                .wrap(from_fn(auth::require_key))
                .wrap(from_fn(cors::cors))
                .wrap(Logger::new(r#"%a "%r" %s %b %Dms"#))
                .configure(routes)
        })
        .on_connect(sessions::remember_socket)
        .disable_signals()
        .shutdown_timeout(DRAIN.as_secs())
        .bind(&args.bind)?;
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
    })?;
    draining.shutdown(DRAIN);
    log::info!("stopped");
    Ok(())
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

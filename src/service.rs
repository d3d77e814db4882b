//! The composition root of `reel serve`: the one place that knows both the command line
//! and the parts, builds every part from [`ServeArgs`], starts their background threads
//! and hands them, ready, to the HTTP layer ([`http::serve`]).
//!
//! ```text
//! ServeArgs ─► Redis link (--redis) ─► media store (--store) ─► Layout ─► Store (catalog)
//!                                        │
//!              Coordination (in-process) ┴► Jobs (workers, resume) ─► upkeep thread
//!                                                                     (sync, library)
//!              Channels (schedules and likes: on Redis with --redis; publisher thread),
//!              Sessions (in Redis with --redis; reaper and listener threads), Pages
//!                         └──────────────────────► http::Parts ─► http::serve(parts, bind)
//! ```
//!
//! Lifecycle: parts are built in that order (so the logs read `media store: ...`, the
//! resumed jobs, `pages ...`, then `listening on http://ADDR`); when [`http::serve`]
//! returns (SIGTERM, SIGINT), the running jobs are stopped and left queued for the next
//! start.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::demo::queue_demo;
use crate::catalog::jobs::{Coordination, Jobs, LocalCoordination, RedisCoordination};
use crate::catalog::layout::Layout;
use crate::catalog::library::LibraryScanner;
use crate::catalog::store::Store;
use crate::catalog::upkeep;
use crate::channel::hub::{ChannelStores, Channels};
use crate::cli::ServeArgs;
use crate::http::{self, Cors, Pages, StaticRoot};
use crate::live::{SessionConfig, Sessions, SharedSessions, SystemClock};

/// How long a graceful stop waits for running jobs to record themselves as queued.
const JOBS_DRAIN: Duration = http::DRAIN;

/// Runs `reel serve`: builds the parts, serves them until a stop signal, then stops the
/// jobs.
pub fn serve(args: ServeArgs) -> std::io::Result<()> {
    let parts = build(&args)?;
    run(parts, &args)
}

/// Runs `reel worker`: the jobs of the instances joined through `--redis`, and
/// `/healthz` and `/metrics`; no catalog API, no channels, no library scans.
pub fn worker(args: ServeArgs) -> std::io::Result<()> {
    if args.redis.url.as_deref().is_none_or(str::is_empty) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "reel worker runs the jobs of instances joined through Redis: give it --redis URL",
        ));
    }
    let parts = build_as(&args, Role::Worker)?;
    run(parts, &args)
}

fn run(parts: http::Parts, args: &ServeArgs) -> std::io::Result<()> {
    let jobs = parts.jobs.clone();
    http::serve(parts, &args.bind)?;
    jobs.shutdown(JOBS_DRAIN);
    log::info!("stopped");
    Ok(())
}

/// Builds every part `reel serve` runs and starts their threads: the catalog rebuilt from
/// the media store, interrupted jobs resumed, the upkeep, channel publisher and session
/// reaper threads running.
pub fn build(args: &ServeArgs) -> std::io::Result<http::Parts> {
    build_as(args, Role::Serve)
}

/// What a process is for: everything (`reel serve`), or jobs only (`reel worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Serve,
    Worker,
}

fn build_as(args: &ServeArgs, role: Role) -> std::io::Result<http::Parts> {
    let serving = role == Role::Serve;
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
    let coordination: Arc<dyn Coordination> = match &redis {
        Some(link) => Arc::new(RedisCoordination::new(
            link.clone(),
            Duration::from_secs(args.job_lease_seconds),
            args.queue,
        )),
        None => Arc::new(LocalCoordination::new(
            store.layout().clone(),
            media.clone(),
            args.queue,
        )),
    };
    let jobs = Jobs::new(store.clone(), coordination, args.workers, args.limits.limits());
    jobs.resume_interrupted();
    if serving && store.is_empty() && args.demo {
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
        (Some(dir), false) if serving => Some((
            LibraryScanner::new(jobs.clone(), dir)?,
            Duration::from_secs(args.library_scan_seconds),
        )),
        _ => None,
    };
    upkeep::spawn(jobs.clone(), scanner);
    let channels = Channels::open(
        ChannelStores::new(&store.layout().root().join(".channels"), redis.as_ref()),
        args.channel_defs()?,
        Arc::new(SystemClock),
        store.clone(),
    );
    if serving {
        channels.spawn_publisher(Duration::from_secs(1));
    }
    let session_config = SessionConfig {
        idle: Duration::from_secs(args.session_idle_seconds),
        max_encoders: args.max_live_encoders,
        max_sessions: args.max_live_sessions,
        ..SessionConfig::default()
    };
    let sessions = match &redis {
        Some(link) => Sessions::shared(
            Arc::new(SystemClock),
            session_config.clone(),
            SharedSessions::new(link.clone(), session_config.idle),
        ),
        None => Sessions::new(Arc::new(SystemClock), session_config),
    };
    if serving {
        sessions.spawn_reaper();
    }
    let pages = Pages::locate(args.web.as_deref())?;
    Ok(http::Parts {
        store,
        jobs,
        media,
        public_media_url: args.public_media_url.clone(),
        library_root,
        max_upload_bytes: args.max_upload_bytes,
        api_key: args.api_key.clone(),
        cors: Cors::parse(&args.cors_origin),
        trusted_proxies: args.trusted_proxy.clone(),
        redis: redis.clone(),
        file_cache_bytes: cache_bytes,
        channels,
        sessions,
        pages,
        health_only: !serving,
    })
}

//! The command line: `reel serve | transcode | probe | sample`.
//!
//! This layer parses and validates arguments, then calls the library; [`main`] maps the
//! outcome to an exit code (0 ok, 1 failure, 2 bad usage, which clap handles).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::catalog::{video::now_ms, Status, Video};
use crate::engine::{self, limits, sample::SampleSpec, CancelToken, Limits, TranscodeOptions};
use crate::hls::SegmentFormat;
use crate::storage::{Location, MediaStore, VideoObjects};

#[derive(Parser, Debug)]
#[command(
    name = "reel",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("REEL_GIT_COMMIT"), ")"),
    about = "A video server: upload to adaptive HLS, library serving, live sessions, synchronized channels"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Run transcodes only, for the instances joined through `--redis` (which it needs):
    /// serves `/healthz` and `/metrics` on `--bind`.
    Worker(ServeArgs),
    /// Transcode a file into an HLS ladder (the same tree an upload produces).
    Transcode(TranscodeArgs),
    /// Print what a file holds, as JSON.
    Probe { input: PathBuf },
    /// Write a generated test clip (lavfi sources, encoded in-process).
    Sample(SampleArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080", env = "REEL_BIND")]
    pub bind: String,
    /// Storage root for uploads and their ladders. With an `s3://` store, only the local
    /// working folder (uploads being received, job sources).
    #[arg(long, default_value = "./media", env = "REEL_MEDIA")]
    pub media: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Point players at this URL for media (`URL/{id}/master.m3u8`...): a CDN or the
    /// bucket itself, so reel is out of the data path. Links, channel items and playlists
    /// use it; `/media/...` keeps answering too.
    #[arg(long, env = "REEL_PUBLIC_MEDIA_URL", value_parser = parse_public_url)]
    pub public_media_url: Option<String>,
    /// A folder of ready files to serve at /library/. Its videos also get HLS renditions
    /// in the background (one at a time, after uploads) and join channel `main`.
    #[arg(long, env = "REEL_LIBRARY")]
    pub library: Option<PathBuf>,
    /// Serve the library as it is, without preparing HLS renditions (nor channel items).
    #[arg(long, env = "REEL_NO_LIBRARY_LADDERS")]
    pub no_library_ladders: bool,
    /// Seconds between two looks at the library folder for new, changed or removed files.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), env = "REEL_LIBRARY_SCAN_SECONDS")]
    pub library_scan_seconds: u64,
    /// Require this key (Authorization: Bearer or X-API-Key) on state-changing requests.
    #[arg(long, env = "REEL_API_KEY")]
    pub api_key: Option<String>,
    /// Largest accepted upload in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024 * 1024, env = "REEL_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: u64,
    /// Load balancers or proxies in front (addresses or CIDR ranges, comma-separated)
    /// whose `X-Forwarded-For` names the client, for the per-client vote limit and the
    /// access log; other peers' headers are ignored.
    #[arg(long, default_value = "", env = "REEL_TRUSTED_PROXY", value_parser = crate::http::TrustedProxies::parse)]
    pub trusted_proxy: crate::http::TrustedProxies,
    /// Value of Access-Control-Allow-Origin.
    #[arg(long, default_value = "*", env = "REEL_CORS_ORIGIN")]
    pub cors_origin: String,
    /// Transcode jobs running at once (with `--redis`, 0 makes a front that runs none).
    #[arg(long, default_value_t = 1, env = "REEL_WORKERS")]
    pub workers: usize,
    /// Jobs that may wait for a worker before uploads get 503.
    #[arg(long, default_value_t = 16, env = "REEL_QUEUE")]
    pub queue: usize,
    /// With `--redis`: a worker that has not renewed a job's lease for this long (it
    /// died, or lost its network) loses the job to another worker.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), env = "REEL_JOB_LEASE_SECONDS")]
    pub job_lease_seconds: u64,
    /// Seconds after which a live session with no open stream expires.
    #[arg(long, default_value_t = 60, env = "REEL_SESSION_IDLE_SECONDS")]
    pub session_idle_seconds: u64,
    /// Live session streams that may encode at once (streams re-using a ladder do not
    /// count); more answer 503 with Retry-After.
    #[arg(long, default_value_t = default_live_encoders(), env = "REEL_MAX_LIVE_ENCODERS")]
    pub max_live_encoders: usize,
    /// Memory for hot blocks of served files (segments, library ranges), in MiB; 0 turns
    /// the cache off.
    #[arg(long, default_value_t = 128, env = "REEL_CACHE_MB")]
    pub cache_mb: u64,
    /// Live sessions that may exist at once; more answer 503 with Retry-After.
    #[arg(long, default_value_t = 64, env = "REEL_MAX_LIVE_SESSIONS")]
    pub max_live_sessions: usize,
    /// Generate a short demo video when the media root is empty (off by default: a
    /// deployment's channels show only what was uploaded).
    #[arg(long, env = "REEL_DEMO")]
    pub demo: bool,
    /// Accepted for scripts written when the demo was on by default; does nothing.
    #[arg(long, hide = true)]
    pub no_demo: bool,
    /// Serve the pages from this folder (laid out like the checkout's `web/`) instead of
    /// the copy built into the binary: for people who customise them.
    #[arg(long, env = "REEL_WEB")]
    pub web: Option<PathBuf>,
    /// A JSON file defining more channels: `[{"name": "...", "items": ["video:<id>", ...],
    /// "order": "listed"|"upload", "loop": true|false}]` (channel `main` always exists).
    #[arg(long, env = "REEL_CHANNELS")]
    pub channels: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Where videos' objects live (`reel serve` and `reel transcode`).
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Where everything a video owns lives: `file:///abs/path` (a folder; the default is
    /// `--media`) or `s3://BUCKET[/PREFIX]` (any S3-compatible service; settings from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL).
    #[arg(long = "store", env = "REEL_STORE", value_parser = Location::parse)]
    pub location: Option<Location>,
    /// How long one store operation may retry (with backoff) before it fails; a job whose
    /// store stays away that long fails, saying so.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), env = "REEL_STORE_TIMEOUT_SECONDS")]
    pub store_timeout_seconds: u64,
}

impl StoreArgs {
    /// Opens the store: `--store`, else the folder `default_folder`.
    pub fn open(&self, default_folder: &std::path::Path, cache_bytes: u64) -> std::io::Result<MediaStore> {
        let location = self
            .location
            .clone()
            .unwrap_or_else(|| Location::Folder(default_folder.to_path_buf()));
        MediaStore::open(
            &location,
            std::time::Duration::from_secs(self.store_timeout_seconds),
            cache_bytes,
        )
    }
}

/// The Redis that joins instances into one service.
#[derive(Args, Debug, Clone)]
pub struct RedisArgs {
    /// Join every instance that uses this Redis (`redis://[:PASSWORD@]HOST[:PORT][/DB]`):
    /// likes add up and all play the same channel schedules. Without it everything stays
    /// in this process and its media folder.
    #[arg(long = "redis", value_name = "URL", env = "REEL_REDIS_URL")]
    pub url: Option<String>,
    /// Keep every key under `reel:NS:`, so that several deployments can share one Redis.
    #[arg(long, value_name = "NS", requires = "url", value_parser = parse_namespace, env = "REEL_REDIS_NAMESPACE")]
    pub redis_namespace: Option<String>,
}

impl RedisArgs {
    /// The link to Redis, when `--redis` is set (Redis need not answer yet). Refuses a
    /// Redis that answers and is too old for reel (before 6.2).
    pub fn connect(&self) -> std::io::Result<Option<std::sync::Arc<crate::redis_link::RedisLink>>> {
        use crate::redis_link::VersionError;
        let Some(url) = self.url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let link = crate::redis_link::RedisLink::connect(url, self.redis_namespace.as_deref())?;
        match link.check_version() {
            Ok(version) => log::info!("joined through redis {version} at {}", link.label()),
            // Started before Redis: it joins once it answers (its version unchecked).
            Err(VersionError::Unavailable(e)) => {
                log::warn!("{e}; joining it once it answers (reel needs Redis 6.2 or later)")
            }
            Err(e @ VersionError::TooOld { .. }) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    e.to_string(),
                ))
            }
            Err(e @ VersionError::Unreadable { .. }) => {
                log::warn!("{e}; reel needs Redis 6.2 or later")
            }
        }
        Ok(Some(link))
    }
}

/// What a source may demand of the machine (`reel serve` and `reel transcode`). The
/// defaults let a small machine survive any upload: see docs/architecture.md for the
/// memory a transcode takes within them.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest rung, by its short side (2160: 3840x2160); larger sources are scaled down.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_SHORT_SIDE, value_parser = clap::value_parser!(u32).range(16..), env = "REEL_MAX_HEIGHT")]
    pub max_height: u32,
    /// Largest source picture, in pixels or as WIDTHxHEIGHT; larger sources are refused
    /// (415 source_too_large).
    #[arg(long, default_value = "8192x4320", value_parser = parse_pixels, env = "REEL_MAX_SOURCE_PIXELS")]
    pub max_source_pixels: u64,
    /// Highest output frame rate; faster sources lose frames, not time.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_FPS, value_parser = clap::value_parser!(u32).range(1..=1000), env = "REEL_MAX_FPS")]
    pub max_fps: u32,
    /// Longest source in seconds; longer sources are refused (413 source_too_long).
    /// Default: no limit.
    #[arg(long, value_parser = parse_seconds, env = "REEL_MAX_DURATION_SECONDS")]
    pub max_duration_seconds: Option<f64>,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_short_side: self.max_height,
            max_source_pixels: self.max_source_pixels,
            max_fps: self.max_fps,
            max_duration_secs: self.max_duration_seconds,
        }
    }
}

impl ServeArgs {
    /// The channels of the `--channels` file (none without one).
    pub fn channel_defs(&self) -> std::io::Result<Vec<crate::channel::hub::ChannelDef>> {
        match &self.channels {
            None => Ok(Vec::new()),
            Some(path) => {
                let bytes = std::fs::read(path)?;
                let invalid = |e: String| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                };
                let defs: Vec<crate::channel::hub::ChannelDef> =
                    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
                for def in &defs {
                    def.check().map_err(invalid)?;
                }
                Ok(defs)
            }
        }
    }
}

#[derive(Args, Debug)]
pub struct TranscodeArgs {
    pub input: PathBuf,
    /// Output directory (created), a tree of its own.
    #[arg(long, required_unless_present = "location", conflicts_with = "location")]
    pub out: Option<PathBuf>,
    /// With `--store`: the video's id there (default: a fresh one). A server on the same
    /// store lists it after its next start.
    #[arg(long, requires = "location", value_parser = parse_id)]
    pub id: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rung numbers (short sides), e.g. 1080,720,480. Default: the standard ladder up to the source.
    #[arg(long, value_delimiter = ',')]
    pub heights: Option<Vec<u32>>,
    #[arg(long, default_value_t = 4.0)]
    pub segment_seconds: f64,
    #[arg(long, default_value = "fmp4")]
    pub format: SegmentFormat,
    /// x264 preset.
    #[arg(long, default_value = engine::DEFAULT_PRESET)]
    pub preset: String,
    /// A SubRip or WebVTT file to add as a subtitle rendition (repeat for more), as an
    /// upload's `subtitles` field does: `film.fr.srt` takes the language its name ends
    /// in, `film.srt:pt-BR` the one given.
    #[arg(long = "subtitles", value_name = "FILE[:LANG]", value_parser = parse_subtitle_file)]
    pub subtitles: Vec<engine::SubtitleFile>,
    /// No surround (AC-3 5.1) rendition of audio tracks of 6 or more channels: only the
    /// stereo AAC ones.
    #[arg(long)]
    pub no_surround: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `FILE[:LANG]` of `--subtitles`: the file must exist; a language after the last `:`
/// must be a language tag (else the `:` belongs to the path).
fn parse_subtitle_file(arg: &str) -> Result<engine::SubtitleFile, String> {
    let (path, language) = match arg.rsplit_once(':') {
        Some((path, tag)) if !path.is_empty() => match crate::hls::language::bcp47(tag) {
            Some(language) if tag.len() <= 8 => (path, Some(language)),
            _ => (arg, None),
        },
        _ => (arg, None),
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(format!("{}: no such file", path.display()));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "subtitles".into());
    let language = language.or_else(|| {
        let stem = file_name.rsplit_once('.').map_or(file_name.as_str(), |(s, _)| s);
        crate::hls::language::of_file_stem(stem)
    });
    Ok(engine::SubtitleFile {
        path,
        language,
        file_name,
    })
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Output file; the container follows the extension (.mp4, .mkv, .ts, .mov).
    pub out: PathBuf,
    #[arg(long, default_value = "640x360", value_parser = parse_size)]
    pub size: (u32, u32),
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Number of audio tracks (0 for a silent clip).
    #[arg(long, default_value_t = 1)]
    pub audio_tracks: u32,
    /// Pitch step between audio tracks in Hz: track n is a sine at 440 + n x step.
    #[arg(long, default_value_t = 220)]
    pub tone_step: u32,
    /// Channels of each audio track: 2 (stereo), 6 (5.1) or 8 (7.1).
    #[arg(long, default_value_t = 2)]
    pub audio_channels: u16,
    /// Number of SubRip subtitle tracks (a container that holds them: .mkv), each with a
    /// cue from 0.5 s to 1.5 s of every 2 s.
    #[arg(long, default_value_t = 0)]
    pub subtitle_tracks: u32,
    #[arg(long, default_value = "yuv420p")]
    pub pix_fmt: String,
    /// Clockwise rotation tag in degrees (0, 90, 180, 270).
    #[arg(long, default_value_t = 0)]
    pub rotation: u32,
    /// Variable frame rate (drops every third frame).
    #[arg(long)]
    pub vfr: bool,
    /// Audio only, no video stream.
    #[arg(long)]
    pub no_video: bool,
    /// A black picture instead of the test pattern (tiny and fast at any size).
    #[arg(long)]
    pub black: bool,
}

fn default_live_encoders() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A pixel count, `35389440` or `8192x4320`.
fn parse_pixels(s: &str) -> Result<u64, String> {
    let pixels = match s.split_once('x') {
        Some(_) => parse_size(s).map(|(w, h)| u64::from(w) * u64::from(h))?,
        None => s
            .parse()
            .map_err(|_| "a pixel count such as 35389440, or 8192x4320")?,
    };
    if pixels < 16 * 16 {
        return Err("at least 16x16".into());
    }
    Ok(pixels)
}

/// A positive number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| "a positive number of seconds".to_string())
}

/// An absolute http(s) URL, without a trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.contains(char::is_whitespace) {
        return Err("an absolute http:// or https:// URL".into());
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn parse_namespace(s: &str) -> Result<String, String> {
    crate::redis_link::check_namespace(s).map(|()| s.to_string())
}

/// A video id: letters, digits, `-`, `_`, `.`, not starting with a dot.
fn parse_id(s: &str) -> Result<String, String> {
    if crate::catalog::layout::is_valid_id(s) {
        Ok(s.to_string())
    } else {
        Err("letters, digits, '-', '_' or '.', at most 128, not starting with '.'".into())
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("size must look like 640x360")?;
    Ok((
        w.parse().map_err(|_| "bad width")?,
        h.parse().map_err(|_| "bad height")?,
    ))
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(cli) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("reel: {message}");
            1
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(args) => crate::service::serve(args).map_err(|e| e.to_string()),
        Command::Worker(args) => crate::service::worker(args).map_err(|e| e.to_string()),
        Command::Probe { input } => {
            let p = engine::probe(&input).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&p).expect("probe serialises"));
            Ok(())
        }
        Command::Sample(a) => {
            let spec = SampleSpec {
                width: a.size.0,
                height: a.size.1,
                seconds: a.seconds,
                fps: a.fps,
                audio_tracks: a.audio_tracks,
                tone_step: a.tone_step,
                audio_channels: a.audio_channels,
                subtitle_tracks: a.subtitle_tracks,
                pix_fmt: a.pix_fmt,
                rotation: a.rotation,
                vfr: a.vfr,
                video: !a.no_video,
                black: a.black,
            };
            engine::sample::write_sample(&a.out, &spec).map_err(|e| e.to_string())
        }
        Command::Transcode(a) => transcode(a),
    }
}

fn transcode(a: TranscodeArgs) -> Result<(), String> {
    let options = TranscodeOptions {
        heights: a.heights,
        segment_seconds: a.segment_seconds,
        format: a.format,
        preset: a.preset,
        limits: a.limits.limits(),
        subtitle_files: a.subtitles,
        surround: !a.no_surround,
    };
    // A tree of its own (`--out DIR`), or a video under `{id}/` of a store.
    let (store, id, dir, shown) = match &a.out {
        Some(out) => {
            if out.exists()
                && std::fs::read_dir(out)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                return Err(format!("{} exists and is not empty", out.display()));
            }
            // The tree is the folder `name` of a folder store at its parent.
            let name = out
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|n| n != "." && n != "..")
                .ok_or_else(|| format!("{}: name a new folder", out.display()))?;
            let parent = out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let store = MediaStore::folder(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            (store, name.clone(), name, out.display().to_string())
        }
        None => {
            let store = a
                .store
                .open(std::path::Path::new("."), 0)
                .map_err(|e| e.to_string())?;
            let id = a.id.clone().unwrap_or_else(crate::catalog::layout::new_id);
            if !store.list(&id).map_err(|e| e.to_string())?.is_empty() {
                return Err(format!("{}/{id} already holds objects", store.label()));
            }
            let shown = format!("{}/{id}", store.label());
            (store, id.clone(), id, shown)
        }
    };
    let title = a
        .input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| id.clone());
    let mut video = Video::new(&id, &title, now_ms(), options.segment_seconds, options.format);
    video.status = Status::Processing;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {percent:>3}% {msg}",
            )
            .expect("valid template"),
        );
        b
    });
    let mut last_manifest: Option<std::time::Instant> = None;
    let mut on_progress = |s: &engine::LadderState| {
        video.apply(s);
        // At most once a second: with a remote store each write is a request.
        if last_manifest.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1)) {
            last_manifest = Some(std::time::Instant::now());
            if let Err(e) = video.write_manifest(&store, &dir) {
                log::warn!("writing manifest.json: {e}");
            }
        }
        if let Some(b) = &bar {
            b.set_position((s.progress * 1000.0) as u64);
            b.set_message(format!(
                "{} segments",
                s.renditions.first().map(|r| r.segments.len()).unwrap_or(0)
            ));
        }
    };
    let out = VideoObjects::new(store.clone(), &dir);
    let result = engine::transcode(&a.input, &out, &options, &mut on_progress, &CancelToken::new());
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let state = result.map_err(|e| e.to_string())?;
    let mut video = Video::new(&id, &title, now_ms(), options.segment_seconds, options.format);
    video.apply(&state);
    video.status = Status::Ready;
    video
        .write_manifest(&store, &dir)
        .map_err(|e| format!("writing manifest.json: {e}"))?;
    eprintln!(
        "{}: {:.2}s, {} renditions ({}) in {}",
        title,
        state.duration,
        state.renditions.len(),
        state
            .renditions
            .iter()
            .map(|r| format!("{}x{}", r.width, r.picture_height))
            .collect::<Vec<_>>()
            .join(", "),
        shown
    );
    Ok(())
}

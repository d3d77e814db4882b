//! Live sessions over HTTP.
//!
//! ```text
//! POST   /api/sessions                 {"video": id} | {"library": path}, start, height,
//!                                      audio_track, rate → 201 session
//! GET    /api/sessions/{id}            the session (same as /status)
//! GET    /api/sessions/{id}/status     position, computed_current_time, paused, rate, tracks
//! GET    /api/sessions/{id}/stream     video/mp4: continuous fragmented MP4, produced as sent
//! POST   /api/sessions/{id}/pause | resume | seek {"position"} | tracks {"audio_track"}
//!                                      | rate {"rate"} → the session
//! DELETE /api/sessions/{id}            204
//! GET    /live                         the live session page (web/live.html)
//! ```
//!
//! A ready video is streamed from its own ladder (the top rendition's media playlist,
//! read by libavformat's HLS demuxer when encoding, or its fMP4 segments as they are when
//! the height matches a rung); a library file from the file itself.

use std::any::Any;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use actix_web::dev::Extensions;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::metrics::StreamKind;
use super::pages::Pages;
use super::root::RelPath;
use super::AppState;
use crate::catalog::Status;
use crate::live::stream::ClientGone;
use crate::live::{Found, NewSession, Session, SessionError, SessionSource, SourceRef};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/live")
            .route(web::get().to(page))
            .route(web::head().to(page)),
    )
    .service(web::resource("/api/sessions").post(create))
    .service(web::resource("/api/sessions/{id}").get(status).delete(delete))
    .service(web::resource("/api/sessions/{id}/status").get(status))
    .service(web::resource("/api/sessions/{id}/stream").get(stream))
    .service(web::resource("/api/sessions/{id}/{action}").post(act));
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        match e {
            SessionError::NotFound(id) => ApiError::NoSuchSession(id),
            SessionError::Invalid(reason) => ApiError::BadField {
                field: "body",
                reason,
            },
            SessionError::Full | SessionError::EncodersBusy => ApiError::Busy(e.to_string()),
            SessionError::Unavailable(detail) => {
                ApiError::SharedStateUnavailable(format!("a live session: {detail}"))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSession {
    video: Option<String>,
    library: Option<String>,
    #[serde(default)]
    start: f64,
    height: Option<u32>,
    #[serde(default)]
    audio_track: usize,
    #[serde(default = "one")]
    rate: f64,
}

fn one() -> f64 {
    1.0
}

/// Parses a JSON body into `T`, answering 400 with serde's sentence otherwise.
fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadField {
        field: "body",
        reason: format!("not the JSON expected: {e}"),
    })
}

async fn create(
    http: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let req: CreateSession = json(&body)?;
    let source = match (req.video, req.library) {
        (Some(id), None) => source_of(&state, &http, &SourceRef::Video(id))?,
        (None, Some(path)) => source_of(&state, &http, &SourceRef::Library(path))?,
        _ => {
            return Err(ApiError::BadField {
                field: "body",
                reason: "give exactly one of \"video\" or \"library\"".into(),
            })
        }
    };
    let file = match &source {
        SessionSource::Video { file, .. } | SessionSource::Library { file, .. } => file.clone(),
    };
    let probe = web::block(move || crate::engine::probe(&file))
        .await
        .map_err(|e| ApiError::internal("probing a session source", e))?
        .map_err(|e| ApiError::NotAVideo(e.to_string()))?;
    let new = NewSession {
        start: req.start,
        height: req.height,
        audio_track: req.audio_track,
        rate: req.rate,
    };
    let sessions = state.sessions.clone();
    let session = blocking(move || sessions.create(source, probe, new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/sessions/{}", session.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(session.status()))
}

/// Where this instance reads a session's source from.
///
/// A ready video is read through its top rung's playlist, or its master's when its audio
/// tracks are renditions of their own (libavformat's hls demuxer reads just the variant
/// and rendition it plays, and only the master names them): from the folder store's
/// files, or from this server's own `/media` over loopback when the objects are in a
/// bucket. A library file is read from the library folder.
fn source_of(state: &AppState, http: &HttpRequest, source: &SourceRef) -> Result<SessionSource, ApiError> {
    match source {
        SourceRef::Video(id) => {
            let video = state
                .store
                .get(id)
                .ok_or_else(|| ApiError::NoSuchVideo(id.clone()))?;
            if video.status != Status::Ready {
                return Err(ApiError::BadField {
                    field: "video",
                    reason: "the video is not ready yet".into(),
                });
            }
            let top = video
                .renditions
                .first()
                .ok_or_else(|| ApiError::internal("a ready video", "has no renditions"))?;
            let separate_audio = video.audio.iter().any(|a| a.playlist.is_some());
            let playlist = match separate_audio {
                true => "master.m3u8",
                false => top.playlist.as_str(),
            };
            let file = match state.media.folder_root() {
                Some(root) => root.join(&video.id).join(playlist),
                None => {
                    let mut addr = http.app_config().local_addr();
                    if addr.ip().is_unspecified() {
                        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    format!("http://{addr}/media/{}/{playlist}", video.id).into()
                }
            };
            Ok(SessionSource::Video {
                id: video.id.clone(),
                file,
                media: state.media.clone(),
                renditions: video.renditions,
                audio: video.audio,
            })
        }
        SourceRef::Library(path) => {
            let root = state.library_root.as_ref().ok_or(ApiError::BadField {
                field: "library",
                reason: "this server has no library (start it with --library DIR)".into(),
            })?;
            let rel = RelPath::parse(path)?;
            root.open(&rel)?; // refuses traversal, symlinks out, directories
            Ok(SessionSource::Library {
                path: path.clone(),
                file: root.path().join(rel.as_path()),
            })
        }
    }
}

/// Runs a session operation off the actix worker (with `--redis` it waits on Redis).
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, SessionError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(op)
        .await
        .map_err(|e| ApiError::internal("a live session operation", e))?
        .map_err(ApiError::from)
}

/// The session `id`, from this process or (with `--redis`) from the instance that
/// created it, whose source this instance then finds for itself.
async fn session(
    state: &web::Data<AppState>,
    http: &HttpRequest,
    id: String,
) -> Result<Arc<Session>, ApiError> {
    let sessions = state.sessions.clone();
    let wanted = id.clone();
    match blocking(move || sessions.find(&wanted)).await? {
        Found::Here(session) => Ok(session),
        Found::Elsewhere(record) => {
            let source = source_of(state, http, &record.fixed.source)?;
            Ok(state.sessions.take_up(&id, *record, source))
        }
    }
}

async fn page(req: HttpRequest, pages: web::Data<Pages>) -> Result<HttpResponse, ApiError> {
    pages.html(&req, "live.html")
}

async fn status(
    http: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &http, id.into_inner()).await?;
    Ok(no_store(session.status()))
}

async fn delete(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sessions = state.sessions.clone();
    blocking(move || sessions.delete(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct Seek {
    position: f64,
}

#[derive(Deserialize)]
struct Track {
    audio_track: usize,
}

#[derive(Deserialize)]
struct Rate {
    rate: f64,
}

/// One control, read from its request, to apply to the session.
type Change = Box<dyn FnOnce(&Session) -> Result<(), SessionError> + Send>;

async fn act(
    http: HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    // The body is read before anything is changed: a malformed one changes nothing.
    let change: Change = match action.as_str() {
        "pause" => Box::new(|s| s.pause()),
        "resume" => Box::new(|s| s.resume()),
        "seek" => {
            let to = json::<Seek>(&body)?.position;
            Box::new(move |s| s.seek(to))
        }
        "tracks" => {
            let track = json::<Track>(&body)?.audio_track;
            Box::new(move |s| s.set_audio_track(track))
        }
        "rate" => {
            let rate = json::<Rate>(&body)?.rate;
            Box::new(move |s| s.set_rate(rate))
        }
        _ => return Err(ApiError::NotFound),
    };
    let session = session(&state, &http, id).await?;
    let changed = session.clone();
    blocking(move || change(&changed)).await?;
    Ok(no_store(session.status()))
}

/// The session's stream: produced on the session's engine thread, handed over through a
/// small bounded channel, so a reader that stops reading stops production.
async fn stream(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req, id.into_inner()).await?;
    let watch = watch_socket(&req);
    let reader = blocking(move || session.open_stream(watch)).await?;
    let guard = state.metrics.open_stream(StreamKind::Session);
    let metrics = state.metrics.clone();
    let body = futures_util::StreamExt::map(reader.into_stream(), move |chunk| {
        let _open = &guard; // counted as open while the body lives
        if let Ok(c) = &chunk {
            metrics.served(super::media::Area::Media, c.len() as u64);
        }
        chunk
    });
    Ok(HttpResponse::Ok()
        .content_type("video/mp4")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

fn no_store(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The socket of a connection, remembered by [`remember_socket`] when it is accepted.
struct ConnectionSocket(RawFd);

/// `HttpServer::on_connect` hook: notes each connection's socket (a number, nothing
/// opened), so that a session stream can watch for its client hanging up.
pub(super) fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ConnectionSocket(tcp.as_raw_fd()));
    }
}

/// The kernel's send buffer of a session stream's socket (Linux doubles the value for
/// its bookkeeping). Left alone, Linux grows it up to `tcp_wmem`'s maximum (4 MiB by
/// default) and a paused client's socket would hold that much of the stream; fixed, the
/// bytes a paused session holds stay small and known (see `live::stream`). 256 KiB still
/// carries 20 Mbit/s over a 200 ms round trip, more than a live rung needs.
pub const STREAM_SEND_BUFFER: usize = 256 * 1024;

/// Sets the send buffer of `req`'s socket to [`STREAM_SEND_BUFFER`] and returns a probe
/// that tells whether its client has hung up, for the stream thread.
///
/// actix notices a hang-up only when it next writes to the socket, and a paused stream
/// writes nothing, possibly for ever. So the thread checks the socket itself: it holds a
/// duplicate of the connection's descriptor (the socket stays open until the stream
/// ends) and peeks: end of file or a reset means gone. A client that only shuts down its
/// sending side looks gone too; HTTP clients that read a response do not do that.
fn watch_socket(req: &HttpRequest) -> Option<ClientGone> {
    let raw = req.conn_data::<ConnectionSocket>()?.0;
    let socket: OwnedFd = crate::engine::duplicate_connection_socket(raw)?;
    if let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(&socket, STREAM_SEND_BUFFER) {
        log::warn!("cannot size a session stream's send buffer: {e}");
    }
    Some(Box::new(move || peer_closed(&socket)))
}

fn peer_closed(socket: &OwnedFd) -> bool {
    use rustix::net::{recv, RecvFlags};
    let mut byte = [0u8; 1];
    match recv(socket, &mut byte[..], RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((0, _)) => true,
        Ok(_) => false,
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => false,
        Err(_) => true,
    }
}

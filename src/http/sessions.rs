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
use crate::live::{NewSession, SessionError, SessionSource};

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
    let source = match (&req.video, &req.library) {
        (Some(id), None) => {
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
            // libavformat reads the rendition from the folder store's files, or from this
            // server's own `/media` over loopback when the objects are in a bucket.
            let file = match state.media.folder_root() {
                Some(root) => root.join(&video.id).join(&top.playlist),
                None => {
                    let mut addr = http.app_config().local_addr();
                    if addr.ip().is_unspecified() {
                        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    format!("http://{addr}/media/{}/{}", video.id, top.playlist).into()
                }
            };
            SessionSource::Video {
                id: video.id.clone(),
                file,
                media: state.media.clone(),
                renditions: video.renditions,
            }
        }
        (None, Some(path)) => {
            let root = state.library_root.as_ref().ok_or(ApiError::BadField {
                field: "library",
                reason: "this server has no library (start it with --library DIR)".into(),
            })?;
            let rel = RelPath::parse(path)?;
            root.open(&rel)?; // refuses traversal, symlinks out, directories
            SessionSource::Library {
                path: path.clone(),
                file: root.path().join(rel.as_path()),
            }
        }
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
    let session = state.sessions.create(source, probe, new)?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/sessions/{}", session.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(session.status()))
}

async fn page(req: HttpRequest, pages: web::Data<Pages>) -> Result<HttpResponse, ApiError> {
    pages.html(&req, "live.html")
}

async fn status(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let session = state.sessions.get(&id)?;
    Ok(no_store(session.status()))
}

async fn delete(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.sessions.delete(&id)?;
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

async fn act(
    path: web::Path<(String, String)>,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let session = state.sessions.get(&id)?;
    match action.as_str() {
        "pause" => session.pause(),
        "resume" => session.resume(),
        "seek" => session.seek(json::<Seek>(&body)?.position)?,
        "tracks" => session.set_audio_track(json::<Track>(&body)?.audio_track)?,
        "rate" => session.set_rate(json::<Rate>(&body)?.rate)?,
        _ => return Err(ApiError::NotFound),
    }
    Ok(no_store(session.status()))
}

/// The session's stream: produced on the session's engine thread, handed over through a
/// small bounded channel, so a reader that stops reading stops production.
async fn stream(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = state.sessions.get(&id)?;
    let reader = session.open_stream(watch_socket(&req))?;
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

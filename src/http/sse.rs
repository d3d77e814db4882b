//! `GET /api/videos/{id}/events`: Server-Sent Events that follow a video to its end.
//!
//! ```text
//! event: progress          (on connect, then on every change; data = the video object)
//! event: progress
//! event: ready | failed    (once; then the stream closes)
//! ```
//!
//! A video already finished gets its one closing event at once. The stream wakes on the
//! store's `watch` channel (changes coalesce: a slow reader sees the latest state, never a
//! backlog), sends a comment every 15 s so proxies keep the connection, and ends when the
//! video is deleted (as `failed`) or the server shuts down.

use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::future::{select, Either};
use futures_util::stream;
use tokio::sync::watch;

use super::error::ApiError;
use super::metrics::{StreamGuard, StreamKind};
use super::AppState;
use crate::catalog::{Status, Video};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let rx = state.store.subscribe(&id).ok_or(ApiError::NoSuchVideo(id))?;
    let follower = Follower {
        rx,
        shutdown: state.shutdown.clone(),
        started: false,
        done: false,
        _open: state.metrics.open_stream(StreamKind::Events),
    };
    let body = stream::unfold(follower, |mut f| async move {
        let bytes = f.next_event().await?;
        Some((Ok::<_, actix_web::Error>(bytes), f))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

enum Wake {
    /// The video changed (`true`) or was deleted (`false`).
    Changed(bool),
    Stop,
    Tick,
}

struct Follower {
    rx: watch::Receiver<Video>,
    shutdown: watch::Receiver<bool>,
    started: bool,
    done: bool,
    _open: StreamGuard,
}

impl Follower {
    /// The next chunk of the stream, or `None` to close it.
    async fn next_event(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            let video = self.rx.borrow_and_update().clone();
            return Some(self.frame(&video));
        }
        let changed = Box::pin(self.rx.changed());
        let stopping = Box::pin(self.shutdown.wait_for(|stop| *stop));
        let tick = Box::pin(actix_web::rt::time::sleep(KEEP_ALIVE));
        let woke = match select(changed, select(stopping, tick)).await {
            Either::Left((changed, _)) => Wake::Changed(changed.is_ok()),
            Either::Right((Either::Left(_), _)) => Wake::Stop,
            Either::Right((Either::Right(_), _)) => Wake::Tick,
        };
        match woke {
            Wake::Changed(true) => {
                let video = self.rx.borrow_and_update().clone();
                Some(self.frame(&video))
            }
            Wake::Changed(false) => {
                // The sender is gone: the video was deleted.
                let mut video = self.rx.borrow().clone();
                video.status = Status::Failed;
                video.error = Some("the video was deleted".into());
                Some(self.frame(&video))
            }
            Wake::Stop => None,
            Wake::Tick => Some(Bytes::from_static(b": keep-alive\n\n")),
        }
    }

    fn frame(&mut self, video: &Video) -> Bytes {
        let name = match video.status {
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Queued | Status::Processing => "progress",
        };
        self.done = name != "progress";
        let data = serde_json::to_string(video).expect("a video serialises");
        Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
    }
}

//! The video API apart from uploads: `GET /api/videos` (newest first),
//! `GET /api/videos/{id}`, `DELETE /api/videos/{id}`.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::error::ApiError;
use super::AppState;
use crate::catalog::Video;

#[derive(Serialize)]
struct VideoList {
    videos: Vec<Video>,
}

pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(VideoList {
            videos: state.store.list(),
        })
}

pub async fn get(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let video = state
        .store
        .get(&id)
        .ok_or_else(|| ApiError::NoSuchVideo(id.into_inner()))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(video))
}

/// Cancels a running job first (waiting until it has stopped writing), then removes the
/// files: when 204 goes out, they are gone.
pub async fn delete(id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if let Some(source) = state.store.get(&id).and_then(|v| v.library) {
        return Err(ApiError::LibraryRendition {
            id,
            path: source.path,
        });
    }
    let jobs = state.jobs.clone();
    let key = id.clone();
    let found = web::block(move || jobs.delete(&key))
        .await
        .map_err(|e| ApiError::internal("deleting a video", e))?;
    if !found {
        return Err(ApiError::NoSuchVideo(id));
    }
    Ok(HttpResponse::NoContent().finish())
}

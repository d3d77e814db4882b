//! The API key guard: with `--api-key` (or `REEL_API_KEY`), every request that changes
//! state (POST, PUT, PATCH, DELETE) must carry `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`, else 401. Reads stay open, and so do a viewer's likes and dislikes
//! on channel items (the API contract rate-limits those instead).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::web;

use super::error::ApiError;
use super::AppState;

/// Middleware (`from_fn`): answers 401 before the handler runs when the key is missing.
pub async fn require_key<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.api_key.clone());
    if let Some(key) = expected {
        if changes_state(req.method(), req.path()) && !presents_key(&req, &key) {
            return Ok(req.error_response(ApiError::Unauthorized).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn changes_state(method: &Method, path: &str) -> bool {
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    writes && !is_viewer_vote(path)
}

/// `POST /api/channels/{name}/items/{index}/like|dislike`.
fn is_viewer_vote(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["api", "channels", _, "items", _, "like" | "dislike"]
    )
}

fn presents_key(req: &ServiceRequest, key: &str) -> bool {
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|given| same_secret(given.as_bytes(), key.as_bytes()))
}

/// Compares without an early exit, so timing says nothing about how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_requests_need_the_key() {
        assert!(changes_state(&Method::POST, "/api/videos"));
        assert!(changes_state(&Method::DELETE, "/api/videos/abc"));
        assert!(!changes_state(&Method::GET, "/api/videos"));
        assert!(!changes_state(&Method::HEAD, "/media/abc/master.m3u8"));
        assert!(!changes_state(&Method::OPTIONS, "/api/videos"));
        assert!(!changes_state(&Method::POST, "/api/channels/main/items/3/like"));
        assert!(changes_state(&Method::POST, "/api/channels/main/items/3/delete"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"k3y", b"k3y"));
        assert!(!same_secret(b"k3y", b"k3z"));
        assert!(!same_secret(b"k3", b"k3y"));
    }
}

//! CORS for browsers on other origins: every response carries
//! `Access-Control-Allow-Origin` (`--cors-origin`, default `*`; a comma list echoes the
//! request's origin when it is listed), and `OPTIONS` preflights are answered here,
//! before auth, with the methods and headers the API uses.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use super::AppState;

const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "Authorization, X-API-Key, Content-Type, Range, If-Range, If-None-Match, If-Modified-Since";
const EXPOSE_HEADERS: &str =
    "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Location, Retry-After";

/// The configured allowed origins.
#[derive(Debug, Clone)]
pub enum Cors {
    Any,
    Listed(Vec<String>),
}

impl Cors {
    pub fn parse(spec: &str) -> Cors {
        let origins: Vec<String> = spec
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if origins.is_empty() || origins.iter().any(|o| o == "*") {
            Cors::Any
        } else {
            Cors::Listed(origins)
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if any.
    fn allow(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match self {
            Cors::Any => Some(HeaderValue::from_static("*")),
            Cors::Listed(list) => {
                let origin = origin?;
                let o = origin.to_str().ok()?;
                list.iter().any(|l| l == o).then(|| origin.clone())
            }
        }
    }

    fn add_headers(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if let Some(value) = self.allow(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
        if matches!(self, Cors::Listed(_)) {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

/// Middleware (`from_fn`), outside auth so that preflights never need a key.
pub async fn cors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(cors) = req.app_data::<web::Data<AppState>>().map(|s| s.cors.clone()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == Method::OPTIONS {
        let mut res = HttpResponse::NoContent();
        res.insert_header((header::ALLOW, ALLOW_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"));
        let asked = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        res.insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            asked.unwrap_or(HeaderValue::from_static(ALLOW_HEADERS)),
        ));
        let mut res = res.finish();
        cors.add_headers(origin.as_ref(), res.headers_mut());
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    cors.add_headers(origin.as_ref(), res.headers_mut());
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let any = Cors::parse("*");
        assert_eq!(any.allow(None).unwrap(), "*");
        let listed = Cors::parse("https://a.example, https://b.example/");
        let a = HeaderValue::from_static("https://a.example");
        let b = HeaderValue::from_static("https://b.example");
        let c = HeaderValue::from_static("https://c.example");
        assert_eq!(listed.allow(Some(&a)).unwrap(), a);
        assert_eq!(listed.allow(Some(&b)).unwrap(), b);
        assert!(listed.allow(Some(&c)).is_none());
        assert!(listed.allow(None).is_none());
    }
}

//! The pages, served from the `web/` folder of the checkout:
//!
//! ```text
//! GET /               web/index.html                         the dashboard
//! GET /assets/...     web/assets/...                         its modules, styles
//! GET /vendor/...     web/node_modules/hls.js/dist/...       hls.js, from npm (scripts/setup)
//! ```
//!
//! The folder is `$REEL_WEB`, else `./web`, else the `web/` of the source tree the binary
//! was built from. Files go through [`StaticRoot`] like media files do (no `..`, no
//! symlinks out) and are revalidated on every load (`no-cache` + ETag), so a page edit
//! shows on reload. (Named `pages`, not `web`, to stay clear of `actix_web::web`.)

use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::root::{RelPath, StaticRoot};

/// The folders the pages come from; `None` when absent (then their routes answer 404).
pub struct Pages {
    assets: Option<StaticRoot>,
    vendor: Option<StaticRoot>,
    /// The `web/` folder itself (its top-level `.html` pages).
    dir: PathBuf,
}

impl Pages {
    /// Finds the `web/` folder (see the module docs).
    pub fn locate() -> Pages {
        let dir = std::env::var_os("REEL_WEB")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("web")).filter(|p| p.join("index.html").is_file()))
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("web"));
        Pages::at(&dir)
    }

    pub fn at(dir: &Path) -> Pages {
        let vendor = dir.join("node_modules/hls.js/dist");
        if !vendor.is_dir() {
            log::warn!(
                "{} is missing: the player needs hls.js (scripts/setup runs npm install in web/)",
                vendor.display()
            );
        }
        Pages {
            assets: StaticRoot::new(&dir.join("assets")).ok(),
            vendor: StaticRoot::new(&vendor).ok(),
            dir: dir.to_path_buf(),
        }
    }

    /// Serves the top-level page `name` (`index.html`, `channel.html`...).
    pub fn html(&self, req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
        let file = NamedFile::open(self.dir.join(name)).map_err(|_| ApiError::NotFound)?;
        Ok(revalidate(file.into_response(req)))
    }
}

/// Registers `/`, `/assets/...` and `/vendor/...`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(Pages::locate()))
        .service(
            web::resource("/")
                .route(web::get().to(index))
                .route(web::head().to(index)),
        )
        .service(web::service("/assets/{tail:.*}").finish(fn_service(assets)))
        .service(web::service("/vendor/{tail:.*}").finish(fn_service(vendor)));
}

async fn index(req: HttpRequest, pages: web::Data<Pages>) -> Result<HttpResponse, ApiError> {
    pages.html(&req, "index.html")
}

async fn assets(req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    Ok(from_folder(req, "/assets/", |p| p.assets.as_ref()))
}

async fn vendor(req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    Ok(from_folder(req, "/vendor/", |p| p.vendor.as_ref()))
}

fn from_folder(
    req: ServiceRequest,
    prefix: &str,
    folder: impl Fn(&Pages) -> Option<&StaticRoot>,
) -> ServiceResponse {
    let answer = (|| {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Err(ApiError::MethodNotAllowed(req.method().to_string()));
        }
        let pages = req.app_data::<web::Data<Pages>>().ok_or(ApiError::NotFound)?;
        let root = folder(pages).ok_or(ApiError::NotFound)?;
        let raw = req.uri().path().strip_prefix(prefix).ok_or(ApiError::NotFound)?;
        let rel = RelPath::parse(raw)?;
        let file = root.open(&rel)?;
        let named = NamedFile::from_file(file, rel.as_path())
            .map_err(|e| ApiError::internal("preparing a page file", e))?
            .set_content_type(content_type(&rel).parse().expect("valid MIME"))
            .disable_content_disposition();
        Ok(revalidate(named.into_response(req.request())))
    })();
    match answer {
        Ok(res) => req.into_response(res),
        Err(e) => req.error_response(e),
    }
}

fn revalidate(mut res: HttpResponse) -> HttpResponse {
    if res.status().is_success() || res.status() == actix_web::http::StatusCode::NOT_MODIFIED {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    res
}

fn content_type(rel: &RelPath) -> &'static str {
    match rel.extension().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    #[actix_web::test]
    async fn serves_the_page_its_assets_and_hls_js() {
        let tmp = tempfile::tempdir().unwrap();
        let web_dir = tmp.path();
        std::fs::create_dir_all(web_dir.join("assets")).unwrap();
        std::fs::create_dir_all(web_dir.join("node_modules/hls.js/dist")).unwrap();
        std::fs::write(web_dir.join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(web_dir.join("assets/app.js"), "export {}").unwrap();
        std::fs::write(web_dir.join("node_modules/hls.js/dist/hls.min.js"), "var Hls").unwrap();
        std::fs::write(web_dir.join("secret.txt"), "no").unwrap();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(Pages::at(web_dir)))
                .service(
                    web::resource("/")
                        .route(web::get().to(index))
                        .route(web::head().to(index)),
                )
                .service(web::service("/assets/{tail:.*}").finish(fn_service(assets)))
                .service(web::service("/vendor/{tail:.*}").finish(fn_service(vendor))),
        )
        .await;
        let get = |path: &str| test::TestRequest::get().uri(path).to_request();
        fn header(res: &ServiceResponse, name: &str) -> String {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        }
        let res = test::call_service(&app, get("/")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
        let res = test::call_service(&app, get("/assets/app.js")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&res, "cache-control"), "no-cache");
        let res = test::call_service(&app, get("/vendor/hls.min.js")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-type"), "text/javascript; charset=utf-8");
        for hostile in [
            "/assets/../secret.txt",
            "/assets/%2e%2e/secret.txt",
            "/vendor/../../../index.html",
        ] {
            let status = test::call_service(&app, get(hostile)).await.status();
            assert!(status == 400 || status == 404, "{hostile}: {status}");
        }
        assert_eq!(
            test::call_service(&app, get("/assets/missing.js")).await.status(),
            404
        );
    }
}

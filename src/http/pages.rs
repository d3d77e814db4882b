//! The pages (dashboard, channel, ambient and live pages), their modules and styles, and the
//! pinned hls.js they play with: all compiled into the binary, so a copied or
//! `cargo install`ed `reel` is the whole product.
//!
//! ```text
//! GET /                                   web/index.html                 no-cache + ETag
//! GET /assets/...                         web/assets/...                 no-cache + ETag
//! GET /vendor/hls.js@VERSION/hls.min.js   web/vendor/hls.js/hls.min.js   a year, immutable
//! GET /vendor/hls.min.js                  the same file                  no-cache + ETag
//! ```
//!
//! The pages name hls.js by its versioned URL, so browsers keep it; everything else is
//! revalidated on every load (cheap: a 304 from the ETag), so a new binary's pages show at
//! once. `scripts/update-hls` refreshes the pinned copy from npm; nothing is fetched at
//! build or run time.
//!
//! Where the files come from, first match ([`Pages::locate`]):
//! 1. `--web DIR` (or `REEL_WEB`): a folder of the same layout, for people who customise
//!    the pages;
//! 2. a debug build running from inside its own checkout (`target/debug/reel`, the tests):
//!    the checkout's `web/`, read on every request, so an edit shows on reload;
//! 3. the copy compiled into the binary ([`Embedded`], ETags from the content's SHA-256).
//!
//! Folder files go through [`StaticRoot`] like media files do (no `..`, no symlinks out).
//! (Named `pages`, not `web`, to stay clear of `actix_web::web`.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, EntityTag, Header, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use super::error::ApiError;
use super::root::{RelPath, StaticRoot};

/// `web/` as it was when the binary was built: the pages, `assets/`, and the pinned
/// hls.js (never `node_modules/`, which holds the test tools).
#[derive(RustEmbed)]
#[folder = "web/"]
#[include = "*.html"]
#[include = "assets/*"]
#[include = "vendor/hls.js/*"]
#[exclude = "node_modules/*"]
struct Embedded;

/// Where the pinned hls.js lives inside `web/`, and the file naming its version.
const HLS_DIR: &str = "vendor/hls.js";
const HLS_VERSION_FILE: &str = "vendor/hls.js/VERSION";

/// How long a browser may keep a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caching {
    /// Pages, modules, styles: always asked again (a 304 when unchanged).
    Revalidate,
    /// A URL that names its version: the same bytes forever.
    Immutable,
}

impl Caching {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Caching::Revalidate => "no-cache",
            Caching::Immutable => "public, max-age=31536000, immutable",
        })
    }
}

/// Where the files are read from.
enum Source {
    Folder(StaticRoot),
    Embedded,
}

/// The pages, from whichever [`Source`] [`Pages::locate`] chose.
pub struct Pages {
    source: Source,
    /// The pinned hls.js version (`web/vendor/hls.js/VERSION`), the one its versioned
    /// URL accepts.
    hls_version: String,
}

impl Pages {
    /// Chooses the source (see the module docs): `web` is `--web DIR` / `REEL_WEB`.
    pub fn locate(web: Option<&Path>) -> std::io::Result<Pages> {
        let pages = match web.map(Path::to_path_buf).or_else(checkout_web) {
            Some(dir) => Pages::folder(&dir)
                .map_err(|e| std::io::Error::new(e.kind(), format!("pages folder {}: {e}", dir.display())))?,
            None => Pages::embedded(),
        };
        match &pages.source {
            Source::Folder(root) => log::info!(
                "pages from {} (hls.js {})",
                root.path().display(),
                pages.hls_version
            ),
            Source::Embedded => log::info!("pages built in (hls.js {})", pages.hls_version),
        }
        Ok(pages)
    }

    /// The copy compiled into the binary.
    pub fn embedded() -> Pages {
        let hls_version = Embedded::get(HLS_VERSION_FILE)
            .map(|f| String::from_utf8_lossy(&f.data).trim().to_string())
            .unwrap_or_default();
        Pages {
            source: Source::Embedded,
            hls_version,
        }
    }

    /// A folder laid out like `web/`.
    pub fn folder(dir: &Path) -> std::io::Result<Pages> {
        let hls_version = std::fs::read_to_string(dir.join(HLS_VERSION_FILE))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| {
                log::warn!(
                    "{} has no {HLS_VERSION_FILE}: the pages will not find hls.js \
                     (scripts/update-hls writes it)",
                    dir.display()
                );
                String::new()
            });
        Ok(Pages {
            source: Source::Folder(StaticRoot::new(dir)?),
            hls_version,
        })
    }

    /// Serves the top-level page `name` (`index.html`, `channel.html`...).
    pub fn html(&self, req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
        self.serve(req, &RelPath::parse(name)?, Caching::Revalidate)
    }

    /// Answers `rel` (a path inside `web/`) from the source.
    fn serve(&self, req: &HttpRequest, rel: &RelPath, caching: Caching) -> Result<HttpResponse, ApiError> {
        let content_type = HeaderValue::from_static(content_type(rel));
        let mut res = match &self.source {
            Source::Folder(root) => {
                let file = root.open(rel)?;
                NamedFile::from_file(file, rel.as_path())
                    .map_err(|e| ApiError::internal("preparing a page file", e))?
                    .disable_content_disposition()
                    .into_response(req)
            }
            Source::Embedded => {
                let name = rel.as_path().to_str().ok_or(ApiError::NotFound)?;
                let file = Embedded::get(name).ok_or(ApiError::NotFound)?;
                embedded_response(req, file)
            }
        };
        let status = res.status();
        if status.is_success() || status == actix_web::http::StatusCode::NOT_MODIFIED {
            let headers = res.headers_mut();
            headers.insert(header::CACHE_CONTROL, caching.header());
            if status.is_success() {
                headers.insert(header::CONTENT_TYPE, content_type);
            }
        }
        Ok(res)
    }

    /// Maps a `/vendor/` tail to the file and its caching: `hls.js@VERSION/FILE` (only the
    /// pinned version) or the unversioned `hls.min.js`.
    fn vendor_file(&self, tail: &str) -> Result<(RelPath, Caching), ApiError> {
        if tail == "hls.min.js" {
            return Ok((
                RelPath::parse(&format!("{HLS_DIR}/hls.min.js"))?,
                Caching::Revalidate,
            ));
        }
        let (dir, file) = tail.split_once('/').ok_or(ApiError::NotFound)?;
        let version = dir.strip_prefix("hls.js@").ok_or(ApiError::NotFound)?;
        if self.hls_version.is_empty() || version != self.hls_version || file.contains('/') {
            return Err(ApiError::NotFound);
        }
        Ok((RelPath::parse(&format!("{HLS_DIR}/{file}"))?, Caching::Immutable))
    }
}

/// The checkout's `web/` when this is a debug build running from inside the checkout it
/// was built from (so page edits show on reload); `None` anywhere else.
fn checkout_web() -> Option<PathBuf> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().ok()?;
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let web = checkout.join("web");
    (exe.starts_with(&checkout) && web.join("index.html").is_file()).then_some(web)
}

/// A compiled-in file with an ETag from its content, answering `If-None-Match` with 304.
fn embedded_response(req: &HttpRequest, file: rust_embed::EmbeddedFile) -> HttpResponse {
    let hash = file.metadata.sha256_hash();
    let tag: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    let etag = EntityTag::new_strong(tag);
    let unchanged = match header::IfNoneMatch::parse(req) {
        Ok(header::IfNoneMatch::Any) => true,
        Ok(header::IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        Err(_) => false,
    };
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(header::ETag(etag));
    if unchanged {
        return res.finish();
    }
    match file.data {
        Cow::Borrowed(bytes) => res.body(bytes),
        Cow::Owned(bytes) => res.body(bytes),
    }
}

/// Registers `/`, `/assets/...` and `/vendor/...`; the [`Pages`] come as app data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
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
    Ok(answer(req, "/assets/", |_, tail| {
        Ok((RelPath::parse(&format!("assets/{tail}"))?, Caching::Revalidate))
    }))
}

async fn vendor(req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    Ok(answer(req, "/vendor/", Pages::vendor_file))
}

/// GET/HEAD of a file under `prefix`, which `locate` maps to a path inside `web/`.
fn answer(
    req: ServiceRequest,
    prefix: &str,
    locate: impl Fn(&Pages, &str) -> Result<(RelPath, Caching), ApiError>,
) -> ServiceResponse {
    let response = (|| {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Err(ApiError::MethodNotAllowed(req.method().to_string()));
        }
        let pages = req.app_data::<web::Data<Pages>>().ok_or(ApiError::NotFound)?;
        let tail = req.uri().path().strip_prefix(prefix).ok_or(ApiError::NotFound)?;
        // Checked before it is joined to a folder name, so `..` cannot climb out of it.
        RelPath::parse(tail)?;
        let (rel, caching) = locate(pages, tail)?;
        pages.serve(req.request(), &rel, caching)
    })();
    match response {
        Ok(res) => req.into_response(res),
        Err(e) => req.error_response(e),
    }
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
        "" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    fn header(res: &ServiceResponse, name: &str) -> String {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// What holds for either source: types, caching, the versioned hls.js, hostile paths.
    async fn check_semantics(pages: Pages, hls_len: usize) {
        let version = pages.hls_version.clone();
        assert!(!version.is_empty(), "no hls.js version");
        let app = test::init_service(App::new().app_data(web::Data::new(pages)).configure(routes)).await;
        let get = |path: &str| test::TestRequest::get().uri(path).to_request();

        let res = test::call_service(&app, get("/")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&res, "cache-control"), "no-cache");
        let etag = header(&res, "etag");
        assert!(!etag.is_empty());
        let again = test::TestRequest::get()
            .uri("/")
            .insert_header(("If-None-Match", etag.as_str()))
            .to_request();
        assert_eq!(test::call_service(&app, again).await.status(), 304);

        let res = test::call_service(&app, get("/assets/app.js")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&res, "cache-control"), "no-cache");

        let res = test::call_service(&app, get(&format!("/vendor/hls.js@{version}/hls.min.js"))).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(
            header(&res, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(test::read_body(res).await.len(), hls_len);
        let res = test::call_service(&app, get("/vendor/hls.min.js")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "cache-control"), "no-cache");

        for missing in [
            "/assets/missing.js",
            "/vendor/hls.js@0.0.1/hls.min.js",
            "/vendor/hls.js/hls.min.js",
            "/vendor/node_modules/hls.js/package.json",
        ] {
            let status = test::call_service(&app, get(missing)).await.status();
            assert_eq!(status, 404, "{missing}");
        }
        for hostile in [
            "/assets/../index.html",
            "/assets/%2e%2e/index.html",
            "/vendor/../../../index.html",
            &format!("/vendor/hls.js@{version}/..%2f..%2findex.html"),
        ] {
            let status = test::call_service(&app, get(hostile)).await.status();
            assert!(status == 400 || status == 404, "{hostile}: {status}");
        }
        let post = test::TestRequest::post().uri("/assets/app.js").to_request();
        assert_eq!(test::call_service(&app, post).await.status(), 405);
    }

    #[actix_web::test]
    async fn the_built_in_pages_carry_every_page_and_the_pinned_hls_js() {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let pinned = std::fs::read(web.join("vendor/hls.js/hls.min.js")).unwrap();
        for page in ["index.html", "channel.html", "ambient.html", "live.html"] {
            let built_in = Embedded::get(page).unwrap_or_else(|| panic!("{page} is not built in"));
            assert_eq!(built_in.data, std::fs::read(web.join(page)).unwrap(), "{page}");
        }
        for entry in std::fs::read_dir(web.join("assets")).unwrap() {
            let name = format!("assets/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(Embedded::get(&name).is_some(), "{name} is not built in");
        }
        assert!(
            Embedded::iter().all(|f| !f.starts_with("node_modules")),
            "the test tools must not be built in"
        );
        check_semantics(Pages::embedded(), pinned.len()).await;
    }

    #[actix_web::test]
    async fn a_pages_folder_is_served_the_same_way() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::create_dir_all(dir.join(HLS_DIR)).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(dir.join("assets/app.js"), "export {}").unwrap();
        std::fs::write(dir.join(HLS_DIR).join("hls.min.js"), "var Hls").unwrap();
        std::fs::write(dir.join(HLS_VERSION_FILE), "9.9.9\n").unwrap();
        std::fs::write(dir.join("secret.txt"), "no").unwrap();
        check_semantics(Pages::folder(dir).unwrap(), "var Hls".len()).await;
        let pages = web::Data::new(Pages::folder(dir).unwrap());
        let app = test::init_service(App::new().app_data(pages).configure(routes)).await;
        let get = test::TestRequest::get().uri("/assets/../secret.txt").to_request();
        let status = test::call_service(&app, get).await.status();
        assert!(status == 400 || status == 404);
    }
}

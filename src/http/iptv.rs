//! Channels for Live TV clients (Plex, Jellyfin and Emby Live TV, Kodi's IPTV Simple
//! client, TVHeadend, IPTV apps): a playlist of channels, a programme guide, and an
//! HDHomeRun network tuner's discovery documents.
//!
//! ```text
//! GET /iptv/channels.m3u          extended M3U: tvg-id, tvg-name, tvg-logo, tvg-chno, group-title
//! GET /iptv/xmltv.xml[?hours=N]   XMLTV guide, from the item playing now for N hours (24)
//! GET /discover.json              HDHomeRun device: FriendlyName, DeviceID, BaseURL, LineupURL...
//! GET /lineup.json                [{"GuideNumber", "GuideName", "URL"}]
//! GET /lineup_status.json         no scan needed: ScanInProgress 0
//! GET /channels/{name}/logo.svg   a logo for channels whose definition names none
//! ```
//!
//! Every channel URL is its continuous MPEG-TS stream (`/channels/{name}/stream.ts`),
//! which is what tuners and IPTV clients expect. URLs are absolute, built from the
//! request's scheme and `Host` (behind a proxy: `X-Forwarded-Proto`/`-Host` through
//! actix's connection info), so the documents are right for whoever asks.

use std::fmt::Write;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use crate::catalog::library::fnv1a64;
use crate::channel::guide::{self, escape, GuideChannel, LineupEntry, ProgrammeInfo};
use crate::channel::hub::ChannelItem;

/// Tuners a client may use at once, as discovery tells it. Streams are remuxed, not
/// encoded, so this is about clients' own bookkeeping, not a limit of reel's.
const TUNER_COUNT: u32 = 8;
/// Longest guide asked for (`hours`), in hours.
const MAX_GUIDE_HOURS: u64 = 24 * 7;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/iptv/channels.m3u").get(m3u))
        .service(web::resource("/iptv/xmltv.xml").get(xmltv))
        .service(web::resource("/discover.json").get(discover))
        .service(web::resource("/lineup.json").get(lineup))
        .service(web::resource("/lineup_status.json").get(lineup_status))
        .service(web::resource("/channels/{name}/logo.svg").get(logo));
}

/// `scheme://host` of the request, for absolute URLs.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn stream_url(base: &str, name: &str) -> String {
    format!("{base}/channels/{name}/stream.ts")
}

fn logo_url(base: &str, entry: &LineupEntry) -> String {
    entry
        .logo
        .clone()
        .unwrap_or_else(|| format!("{base}/channels/{}/logo.svg", entry.name))
}

/// The XMLTV channel id (`tvg-id`) of a channel.
fn channel_id(name: &str) -> String {
    format!("{name}.reel")
}

async fn m3u(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = base_url(&req);
    let mut out = format!("#EXTM3U url-tvg=\"{base}/iptv/xmltv.xml\" x-tvg-url=\"{base}/iptv/xmltv.xml\"\n");
    for entry in state.channels.lineup() {
        // Attribute values cannot hold a double quote; the title after the comma can.
        let attr = |s: &str| s.replace('"', "'");
        let _ = writeln!(
            out,
            "#EXTINF:-1 tvg-id=\"{}\" tvg-name=\"{}\" tvg-logo=\"{}\" tvg-chno=\"{}\" group-title=\"reel\",{}",
            attr(&channel_id(&entry.name)),
            attr(&entry.name),
            attr(&logo_url(&base, &entry)),
            attr(&entry.number),
            entry.name
        );
        let _ = writeln!(out, "{}", stream_url(&base, &entry.name));
    }
    HttpResponse::Ok()
        .content_type("audio/x-mpegurl; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(out)
}

#[derive(Deserialize)]
struct GuideQuery {
    hours: Option<u64>,
}

async fn xmltv(
    req: HttpRequest,
    query: web::Query<GuideQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let hours = query.hours.unwrap_or(24);
    if !(1..=MAX_GUIDE_HOURS).contains(&hours) {
        return Err(ApiError::BadField {
            field: "hours",
            reason: format!("a whole number of hours from 1 to {MAX_GUIDE_HOURS}"),
        });
    }
    let base = base_url(&req);
    let hub = state.channels.clone();
    let now = hub.now_ms();
    let to = now + hours * 3_600_000;
    let doc = web::block(move || {
        let lineup = hub.lineup();
        let channels: Vec<GuideChannel<'_>> = lineup
            .iter()
            .map(|entry| GuideChannel {
                entry,
                id: channel_id(&entry.name),
                icon: Some(logo_url(&base, entry)),
                programmes: hub
                    .guide(&entry.name, now, to)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(p, item)| (p, programme_info(&base, &item)))
                    .collect(),
            })
            .collect();
        guide::xmltv(&channels)
    })
    .await
    .map_err(|e| ApiError::internal("writing the guide", e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(doc))
}

fn programme_info(base: &str, item: &ChannelItem) -> ProgrammeInfo {
    let length = clock(item.duration);
    let description = match (&item.video, &item.library) {
        (_, Some(path)) => format!("From the library: {path} ({length})."),
        _ => format!("{} ({length}).", item.title),
    };
    ProgrammeInfo {
        title: item.title.clone(),
        description,
        icon: Some(format!("{base}/media/{}/poster.jpg", item.media.media_id)),
    }
}

/// `m:ss` or `h:mm:ss`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

async fn discover(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = base_url(&req);
    // Stable for this media store, different for another: clients key their settings on it.
    let root = match state.media.folder_root() {
        Some(dir) => dir.canonicalize().unwrap_or_default().display().to_string(),
        None => state.media.label(),
    };
    let device_id = format!("{:08X}", fnv1a64(root.as_bytes()) as u32);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(serde_json::json!({
            "FriendlyName": "reel",
            "Manufacturer": "reel",
            "ManufacturerURL": "https://crates.io/crates/reel",
            "ModelNumber": "HDTC-2US",
            "FirmwareName": "hdhomeruntc_atsc",
            "FirmwareVersion": env!("CARGO_PKG_VERSION"),
            "DeviceID": device_id,
            "DeviceAuth": "reel",
            "BaseURL": base,
            "LineupURL": format!("{base}/lineup.json"),
            "TunerCount": TUNER_COUNT,
        }))
}

async fn lineup(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = base_url(&req);
    let entries: Vec<_> = state
        .channels
        .lineup()
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "GuideNumber": e.number,
                "GuideName": e.name,
                "URL": stream_url(&base, &e.name),
                "HD": 1,
            })
        })
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(entries)
}

async fn lineup_status() -> HttpResponse {
    // The lineup is the channel list: there is never anything to scan for.
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(serde_json::json!({
            "ScanInProgress": 0,
            "ScanPossible": 1,
            "Source": "Cable",
            "SourceList": ["Cable"],
        }))
}

/// A plain logo: the channel's number over its name.
async fn logo(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let entry = state
        .channels
        .lineup()
        .into_iter()
        .find(|e| e.name == *name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.clone()))?;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 320 180\" width=\"320\" height=\"180\">\
         <rect width=\"320\" height=\"180\" rx=\"16\" fill=\"#15171c\"/>\
         <circle cx=\"40\" cy=\"40\" r=\"12\" fill=\"#e8a33d\"/>\
         <text x=\"160\" y=\"100\" font-family=\"sans-serif\" font-size=\"64\" font-weight=\"700\" \
         fill=\"#f2f2f2\" text-anchor=\"middle\">{}</text>\
         <text x=\"160\" y=\"150\" font-family=\"sans-serif\" font-size=\"28\" fill=\"#b8bcc6\" \
         text-anchor=\"middle\">{}</text></svg>",
        escape(&entry.number),
        escape(&entry.name)
    );
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(svg))
}

//! Channels over HTTP: the API, the SSE stream, likes, the live HLS playlists for mpv and
//! VLC, and the two pages.
//!
//! ```text
//! GET  /api/channels                               {"channels": [channel, ...]}
//! GET  /api/channels/{name}                        the channel object (now, next, items)
//! GET  /api/channels/{name}/events                 SSE: update on item change, tick ≤ 5 s
//! POST /api/channels/{name}/items/{i}/like|dislike {"likes", "dislikes"} (open, rate-limited)
//! GET  /channels/{name}/live.m3u8                  master: one variant per rung height
//! GET  /channels/{name}/live/{height}.m3u8         sliding-window media playlist
//! GET  /channels/{name}/live/ts/{ms}/{id}/...      a ladder segment as MPEG-TS, moved by ms
//! GET  /channels/{name}/live/shift/{ms}/{id}/...   a ladder fMP4 segment, tfdt shifted by ms
//!                                                  (the fMP4 window of earlier versions)
//! GET  /channels/{name}/stream.ts[?height=N]       one continuous MPEG-TS stream from now
//! GET  /channels/{name}          /ambient          the pages (web/channel.html, ambient.html)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;
use m3u8_rs::{MasterPlaylist, Resolution, VariantStream};
use serde::Serialize;
use tokio::sync::broadcast;

use super::error::ApiError;
use super::pages::Pages;
use super::root::RelPath;
use super::AppState;
use crate::channel::hub::Channels;
use crate::channel::likes::Vote;
use crate::channel::live_playlist;
use crate::channel::ts_stream::TsStream;
use crate::channel::PersistError;
use crate::engine::ts_remux::Placement;
use crate::mp4::{self, avc::ParameterSets};
use crate::time::{Ts90k, HZ};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/channels").get(list))
        .service(web::resource("/api/channels/{name}").get(get))
        .service(web::resource("/api/channels/{name}/events").get(events))
        .service(web::resource("/api/channels/{name}/items/{index}/{vote}").post(vote))
        .service(web::resource("/channels/{name}/stream.ts").get(stream_ts))
        .service(
            web::resource("/channels/{name}/live.m3u8")
                .get(master)
                .head(master),
        )
        .service(
            web::resource("/channels/{name}/live/{height}.m3u8")
                .get(variant)
                .head(variant),
        )
        .service(
            web::resource("/channels/{name}/live/ts/{offset}/{tail:.*}")
                .get(remuxed)
                .head(remuxed),
        )
        .service(
            web::resource("/channels/{name}/live/shift/{offset}/{tail:.*}")
                .get(shifted)
                .head(shifted),
        )
        .service(web::resource("/channels/{name}").get(watch_page).head(watch_page))
        .service(
            web::resource("/channels/{name}/ambient")
                .get(ambient_page)
                .head(ambient_page),
        );
}

fn hub(state: &AppState) -> &Arc<Channels> {
    &state.channels
}

async fn list(state: web::Data<AppState>) -> HttpResponse {
    let hub = hub(&state);
    let channels: Vec<_> = hub.names().iter().filter_map(|n| hub.view(n)).collect();
    no_store(HttpResponse::Ok()).json(serde_json::json!({ "channels": channels }))
}

async fn get(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let view = hub(&state)
        .view(&name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.clone()))?;
    Ok(no_store(HttpResponse::Ok()).json(view))
}

/// SSE: the current state at once (as `update`), then whatever the hub broadcasts.
async fn events(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let hub = hub(&state);
    let rx = hub
        .subscribe(&name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.clone()))?;
    let first = hub.view(&name).map(|v| {
        Bytes::from(format!(
            "event: update\ndata: {}\n\n",
            serde_json::to_string(&v).expect("views serialise")
        ))
    });
    let shutdown = state.shutdown.clone();
    let body = stream::unfold(
        (first, rx, shutdown),
        |(first, mut rx, mut shutdown)| async move {
            if let Some(b) = first {
                return Some((Ok::<_, actix_web::Error>(b), (None, rx, shutdown)));
            }
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                tokio::select! {
                    got = rx.recv() => match got {
                        Ok(b) => return Some((Ok(b), (None, rx, shutdown))),
                        // A slow client missed some events; the next one carries the full state.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = shutdown.changed() => return None,
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[derive(Serialize)]
struct VoteCounts {
    likes: u64,
    dislikes: u64,
}

async fn vote(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (name, index, which) = path.into_inner();
    let vote = match which.as_str() {
        "like" => Vote::Like,
        "dislike" => Vote::Dislike,
        _ => return Err(ApiError::NotFound),
    };
    let index: usize = index.parse().map_err(|_| ApiError::NotFound)?;
    let client = req
        .peer_addr()
        .map(|peer| state.trusted_proxies.client(peer.ip(), req.headers()));
    let hub = hub(&state).clone();
    if hub.view(&name).is_none() {
        return Err(ApiError::NoSuchChannel(name));
    }
    let n = name.clone();
    // Both may wait on Redis: off the actix worker.
    let voted = web::block(move || match client {
        Some(client) if !hub.allow_vote(client) => None,
        _ => Some(hub.vote(&n, index, vote)),
    })
    .await
    .map_err(|e| ApiError::internal("voting", e))?;
    let votes = voted
        .ok_or(ApiError::TooManyRequests)?
        .ok_or(ApiError::NoSuchItem { channel: name, index })?
        .map_err(|e| match e {
            PersistError::Unavailable(e) => ApiError::SharedStateUnavailable(format!("counting a vote: {e}")),
            PersistError::Io(e) => ApiError::internal("saving a vote", e),
        })?;
    Ok(no_store(HttpResponse::Ok()).json(VoteCounts {
        likes: votes.likes,
        dislikes: votes.dislikes,
    }))
}

/// The master live playlist: one variant per rung height any item has, each served by
/// the nearest rung of whatever item plays.
async fn master(name: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (_, media) = hub(&state)
        .playlist_inputs(&name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.clone()))?;
    let mut by_height: BTreeMap<u32, VariantStream> = BTreeMap::new();
    for item in media.values() {
        for r in &item.renditions {
            let v = by_height.entry(r.height).or_insert_with(|| VariantStream {
                uri: format!("live/{}.m3u8", r.height),
                codecs: Some(r.codecs.clone()),
                resolution: Some(Resolution {
                    width: u64::from(r.width),
                    height: u64::from(r.picture_height),
                }),
                frame_rate: (r.frame_rate > 0.0).then_some(r.frame_rate),
                ..Default::default()
            });
            v.bandwidth = v.bandwidth.max(r.bandwidth);
            if r.codecs > *v.codecs.as_ref().expect("set above") {
                v.codecs = Some(r.codecs.clone());
            }
        }
    }
    if by_height.is_empty() {
        return Err(ApiError::Busy(format!(
            "channel {name:?} has nothing to play yet"
        )));
    }
    let playlist = MasterPlaylist {
        version: Some(7),
        variants: by_height.into_values().rev().collect(),
        independent_segments: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    playlist
        .write_to(&mut out)
        .map_err(|e| ApiError::internal("writing a playlist", e))?;
    Ok(playlist_response(out))
}

async fn variant(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (name, height) = path.into_inner();
    let height: u32 = height.parse().map_err(|_| ApiError::NotFound)?;
    let hub = hub(&state);
    let (schedule, media) = hub
        .playlist_inputs(&name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.clone()))?;
    let origin = schedule.origin_ms().unwrap_or(0);
    let now = hub.now_ms();
    let text = live_playlist::media_playlist(&schedule, now, origin, height, &|key| media.get(key).cloned())
        .ok_or_else(|| ApiError::Busy(format!("channel {name:?} has nothing to play yet")))?;
    Ok(playlist_response(text))
}

/// The rung `stream.ts` follows without `?height=`: the best up to HD, what tuners want.
const STREAM_HEIGHT: u32 = 1080;

#[derive(serde::Deserialize)]
struct StreamQuery {
    height: Option<u32>,
}

/// The channel as one continuous MPEG-TS stream from now (`channel::ts_stream`), produced
/// on its own thread into a bounded channel: a reader that stops reading stops it.
async fn stream_ts(
    name: web::Path<String>,
    query: web::Query<StreamQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let hub = hub(&state).clone();
    let (schedule, _) = hub
        .playlist_inputs(&name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.clone()))?;
    if schedule.at(hub.now_ms()).is_none() {
        return Err(ApiError::Busy(format!(
            "channel {name:?} has nothing to play now"
        )));
    }
    let (mut writer, reader, _stop) = crate::live::stream::channel(Box::new(|| {}));
    let stream = TsStream {
        hub,
        channel: name.clone(),
        height: query.height.unwrap_or(STREAM_HEIGHT),
        media: state.media.clone(),
    };
    std::thread::Builder::new()
        .name("channel-ts".into())
        .spawn(move || {
            let ended = stream.run(&mut writer);
            log::debug!("channel {name}: stream.ts ended ({ended:?})");
        })
        .map_err(|e| ApiError::internal("starting a channel stream", e))?;
    Ok(HttpResponse::Ok()
        .content_type("video/mp2t")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(reader.into_stream()))
}

/// A ladder segment (`{id}/{rung}/{name}.ts` names `{name}.m4s` of an fMP4 ladder or
/// `{name}.ts` of an MPEG-TS one) as a standalone MPEG-TS segment whose timestamps move by
/// `offset_ms` onto the channel timeline, its audio cut at the end of its item's slot
/// ([`item_slot`]). The same URI always gives the same bytes.
async fn remuxed(
    path: web::Path<(String, u64, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_name, offset_ms, tail) = path.into_inner();
    let rel = RelPath::parse(&tail)?;
    if rel.extension() != "ts" || rel.depth() != 3 {
        return Err(ApiError::NotFound);
    }
    let (dir, file) = tail.rsplit_once('/').ok_or(ApiError::NotFound)?;
    let stem = file.strip_suffix(".ts").ok_or(ApiError::NotFound)?;
    let init_rel = RelPath::parse(&format!("{dir}/init.mp4"))?;
    let m4s_rel = RelPath::parse(&format!("{dir}/{stem}.m4s"))?;
    let place = Placement {
        offset: Ts90k::from_millis(offset_ms),
        slot: item_slot(&state, &tail),
    };
    let id = tail.split('/').next().unwrap_or_default().to_string();
    let stem = stem.to_string();
    let shared = state.clone();
    let bytes = web::block(move || -> Result<Vec<u8>, ApiError> {
        // An fMP4 ladder has an init segment beside its segments; an MPEG-TS one has not.
        let init = read_object(&shared, &init_rel)?;
        let source = if init.is_some() { &m4s_rel } else { &rel };
        let segment = read_object(&shared, source)?.ok_or(ApiError::NotFound)?;
        // An item whose source had several audio tracks: its first one's segment of the
        // same number goes in too (the video segments carry none).
        let audio = match init.is_some() {
            true => separate_audio(&shared, &id, &stem)?,
            false => None,
        };
        crate::engine::ts_remux::remux_segment(
            init.as_deref(),
            &segment,
            audio.as_ref().map(|(i, s)| (Some(i.as_slice()), s.as_slice())),
            place,
        )
        .map_err(|e| ApiError::internal("remuxing a segment", e))
    })
    .await
    .map_err(|e| ApiError::internal("remuxing a segment", e))??;
    Ok(segment_response(&state, "video/mp2t", bytes))
}

/// An fMP4 rendition's init segment and one of its media segments.
type InitAndSegment = (Vec<u8>, Vec<u8>);

/// The init segment and segment `{stem}.m4s` of the first audio rendition of video `id`'s
/// fMP4 ladder, when it has audio renditions. Blocking.
fn separate_audio(state: &AppState, id: &str, stem: &str) -> Result<Option<InitAndSegment>, ApiError> {
    let dir = crate::hls::audio_dir(0);
    match read_object(state, &RelPath::parse(&format!("{id}/{dir}/init.mp4"))?)? {
        Some(init) => {
            let segment = read_object(state, &RelPath::parse(&format!("{id}/{dir}/{stem}.m4s"))?)?
                .ok_or(ApiError::NotFound)?;
            Ok(Some((init, segment)))
        }
        None => Ok(None),
    }
}

/// A ladder fMP4 segment moved onto the channel timeline: every `tfdt` plus `offset_ms`,
/// in place. Each item's segments start their own timeline near zero, and players that
/// ignore `EXT-X-DISCONTINUITY` (mpv, through libavformat's HLS demuxer) stall when
/// timestamps jump back. Its audio is cut at the end of its item's slot ([`item_slot`]),
/// and the item's SPS/PPS go in band ([`ParameterSets::put_in_band`] says why).
async fn shifted(
    path: web::Path<(String, u64, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_name, offset_ms, tail) = path.into_inner();
    let rel = RelPath::parse(&tail)?;
    if rel.extension() != "m4s" || rel.depth() != 3 {
        return Err(ApiError::NotFound);
    }
    let init_rel = RelPath::parse(&format!(
        "{}/init.mp4",
        tail.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
    ))?;
    let slot = item_slot(&state, &tail);
    let shared = state.clone();
    let bytes = web::block(move || -> Result<Vec<u8>, ApiError> {
        let init = read_object(&shared, &init_rel)?.ok_or(ApiError::NotFound)?;
        let mut segment = read_object(&shared, &rel)?.ok_or(ApiError::NotFound)?;
        let tracks = mp4::tracks(&init).map_err(|e| ApiError::internal("reading an init segment", e))?;
        let audio = tracks.iter().find(|t| t.handler == mp4::Handler::Audio);
        if let (Some(slot), Some(audio)) = (slot, audio) {
            // The slot in the audio track's timescale (slot: 90 kHz ticks).
            let end = u64::try_from(slot.0).unwrap_or(0) * u64::from(audio.timescale) / HZ as u64;
            if let Some(cut) = mp4::cut_track_after(&segment, audio.id, end)
                .map_err(|e| ApiError::internal("cutting a segment's audio", e))?
            {
                segment = cut;
            }
        }
        let scales = tracks.iter().map(|t| (t.id, t.timescale)).collect();
        mp4::shift_decode_times(&mut segment, &scales, Ts90k::from_millis(offset_ms))
            .map_err(|e| ApiError::internal("retiming a segment", e))?;
        // The item's SPS/PPS in band, for players that keep the first item's init.
        match ParameterSets::from_init(&init).and_then(|sets| match sets {
            Some(sets) => sets.put_in_band(&segment).map(Some),
            None => Ok(None),
        }) {
            Ok(Some(with_sets)) => segment = with_sets,
            Ok(None) => {}
            Err(e) => log::debug!("serving a channel segment without in-band parameter sets: {e}"),
        }
        Ok(segment)
    })
    .await
    .map_err(|e| ApiError::internal("retiming a segment", e))??;
    Ok(segment_response(&state, "video/iso.segment", bytes))
}

/// The slot of the item whose ladder segment `tail` (`{id}/{rung}/{name}`) is: the
/// video's duration, as the schedule gives it (`channel::hub`). An item's audio runs up to
/// ~75 ms past its last video frame; cut at its slot, it no longer overlaps the next
/// item's. `None` (nothing cut) for a video the catalog no longer has.
fn item_slot(state: &AppState, tail: &str) -> Option<Ts90k> {
    let id = tail.split('/').next()?;
    let video = state.store.get(id)?;
    Some(Ts90k::from_millis((video.duration * 1000.0).round() as u64))
}

/// A whole ladder object (`{id}/{rung}/{name}`), read on a blocking thread: from a folder
/// store's files (through [`StaticRoot`](super::StaticRoot): no symlink leads out) or from
/// the bucket (through its cache). `Ok(None)` when there is none.
fn read_object(state: &AppState, rel: &RelPath) -> Result<Option<Vec<u8>>, ApiError> {
    match &state.media_root {
        Some(root) => match root.open(rel) {
            Ok(mut file) => {
                use std::io::Read;
                let mut buf = Vec::new();
                file.read_to_end(&mut buf)
                    .map_err(|e| ApiError::internal("reading a segment", e))?;
                Ok(Some(buf))
            }
            Err(ApiError::NotFound) => Ok(None),
            Err(e) => Err(e),
        },
        None => state
            .media
            .get(&rel.key())
            .map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| ApiError::internal("reading a segment from the store", e)),
    }
}

/// A channel segment: the same bytes for the same URI forever, counted as media served.
fn segment_response(state: &AppState, content_type: &'static str, bytes: Vec<u8>) -> HttpResponse {
    state
        .metrics
        .served(super::media::Area::Media, bytes.len() as u64);
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(bytes)
}

async fn watch_page(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
    pages: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    channel_page(&req, &name, &state, &pages, "channel.html")
}

async fn ambient_page(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
    pages: web::Data<Pages>,
) -> Result<HttpResponse, ApiError> {
    channel_page(&req, &name, &state, &pages, "ambient.html")
}

/// A channel's page, or 404 for a channel that does not exist.
fn channel_page(
    req: &HttpRequest,
    name: &str,
    state: &AppState,
    pages: &Pages,
    file: &str,
) -> Result<HttpResponse, ApiError> {
    hub(state)
        .view(name)
        .ok_or_else(|| ApiError::NoSuchChannel(name.to_string()))?;
    pages.html(req, file)
}

fn playlist_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/vnd.apple.mpegurl")
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body)
}

fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

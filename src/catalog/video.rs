//! [`Video`]: one upload and its ladder, exactly as `GET /api/videos/{id}` returns it and
//! as `manifest.json` stores it.

use serde::{Deserialize, Serialize};

use crate::engine::{LadderState, Probe};
use crate::hls::{AudioRendition, Rendition, SegmentFormat, SkippedTrack, SubtitleRendition};
use crate::storage::{Freshness, MediaStore};

/// The video object's name in its tree.
pub const MANIFEST: &str = "manifest.json";

/// Where a video is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Processing,
    Ready,
    Failed,
}

/// URLs of a video's files, absolute paths on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Links {
    pub master: String,
    pub manifest: String,
    pub poster: String,
    pub events: String,
    /// The WebVTT thumbnails track of seek previews (`engine::storyboard`), written when
    /// the video is done: a video still processing answers 404 for it. Manifests older
    /// than storyboards lack the field ([`Video::read_manifest`] fills it in; the file
    /// stays missing).
    #[serde(default)]
    pub storyboard: String,
}

/// Where players fetch media, set once at start from `--public-media-url`.
static PUBLIC_MEDIA_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sends every link to media (master, manifest, poster; channel items) to `url/{id}/...`
/// (a CDN or the bucket) instead of this server's `/media/{id}/...`. A process-wide
/// setting: call once, before the catalog loads (later calls are ignored).
pub fn set_public_media_url(url: &str) {
    let _ = PUBLIC_MEDIA_URL.set(url.trim_end_matches('/').to_string());
}

/// `/media`, or the public media URL.
pub fn media_base() -> &'static str {
    PUBLIC_MEDIA_URL.get().map(String::as_str).unwrap_or("/media")
}

impl Links {
    pub fn for_id(id: &str) -> Links {
        let base = media_base();
        Links {
            master: format!("{base}/{id}/master.m3u8"),
            manifest: format!("{base}/{id}/manifest.json"),
            poster: format!("{base}/{id}/poster.jpg"),
            events: format!("/api/videos/{id}/events"),
            storyboard: format!("{base}/{id}/storyboard.vtt"),
        }
    }
}

/// The library file a video was prepared from (`--library`), as it was when preparation
/// began: a change of size or modification time means the rendition is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibrarySource {
    /// Path below the library root, `/`-separated, as in `/library/{path}`.
    pub path: String,
    pub size: u64,
    /// Modification time, Unix milliseconds.
    pub modified_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Video {
    pub id: String,
    pub title: String,
    pub status: Status,
    /// 0..1
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at_ms: u64,
    /// Seconds; what was actually encoded once ready.
    pub duration: f64,
    pub source: Option<Probe>,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
    pub renditions: Vec<Rendition>,
    pub skipped_heights: Vec<u32>,
    /// One per audio track of the source (up to the engine's cap): muxed into the
    /// renditions (`playlist` null) for a one-track source, renditions of their own else.
    #[serde(default)]
    pub audio: Vec<AudioRendition>,
    /// One per text subtitle track, as segmented WebVTT.
    #[serde(default)]
    pub subtitles: Vec<SubtitleRendition>,
    /// Tracks left out and why (bitmap subtitles, tracks over the caps).
    #[serde(default)]
    pub skipped_tracks: Vec<SkippedTrack>,
    pub links: Links,
    /// Set for the HLS rendition of a library file; absent for uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibrarySource>,
}

impl Video {
    /// A freshly accepted upload.
    pub fn new(
        id: &str,
        title: &str,
        created_at_ms: u64,
        segment_seconds: f64,
        format: SegmentFormat,
    ) -> Video {
        Video {
            id: id.to_string(),
            title: title.to_string(),
            status: Status::Queued,
            progress: 0.0,
            error: None,
            created_at_ms,
            duration: 0.0,
            source: None,
            segment_seconds,
            format,
            renditions: Vec::new(),
            skipped_heights: Vec::new(),
            audio: Vec::new(),
            subtitles: Vec::new(),
            skipped_tracks: Vec::new(),
            links: Links::for_id(id),
            library: None,
        }
    }

    /// The same video queued again from scratch (an interrupted job that will run again):
    /// what the job's description fixes is kept, what the engine reported is dropped.
    pub fn requeued(&self) -> Video {
        Video {
            library: self.library.clone(),
            ..Video::new(
                &self.id,
                &self.title,
                self.created_at_ms,
                self.segment_seconds,
                self.format,
            )
        }
    }

    /// Takes the engine's view of the ladder (progress, renditions so far).
    pub fn apply(&mut self, state: &LadderState) {
        self.duration = state.duration;
        self.source = Some(state.source.clone());
        self.segment_seconds = state.segment_seconds;
        self.format = state.format;
        self.renditions = state.renditions.clone();
        self.skipped_heights = state.skipped_heights.clone();
        self.audio = state.audio.clone();
        self.subtitles = state.subtitles.clone();
        self.skipped_tracks = state.skipped_tracks.clone();
        self.progress = state.progress;
    }

    /// Stores the video's `manifest.json` in `store` under `{dir}/` (its id, or the name
    /// of a tree `reel transcode --out` makes).
    pub fn write_manifest(&self, store: &MediaStore, dir: &str) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        store.put(&format!("{dir}/{MANIFEST}"), json, Freshness::Revalidate)
    }

    /// Reads `{id}/manifest.json`; `Ok(None)` when there is none.
    pub fn read_manifest(store: &MediaStore, id: &str) -> std::io::Result<Option<Video>> {
        // Never a cached copy: callers decide from it (the catalog's truth).
        match store.get_uncached(&format!("{id}/{MANIFEST}"))? {
            Some(bytes) => Video::from_manifest(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Parses a `manifest.json`.
    pub fn from_manifest(bytes: &[u8]) -> std::io::Result<Video> {
        let mut video: Video = serde_json::from_slice(bytes).map_err(std::io::Error::other)?;
        if let Some(source) = video.source.as_mut() {
            source.fill_summary();
        }
        if video.links.storyboard.is_empty() {
            video.links.storyboard = Links::for_id(&video.id).storyboard;
        }
        Ok(video)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_from_before_storyboards_gets_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::folder(dir.path()).unwrap();
        let video = Video::new("abc", "film", 1, 4.0, SegmentFormat::Fmp4);
        let mut json = serde_json::to_value(&video).unwrap();
        json["links"].as_object_mut().unwrap().remove("storyboard");
        store
            .put(
                "abc/manifest.json",
                json.to_string().into_bytes(),
                Freshness::Revalidate,
            )
            .unwrap();
        let read = Video::read_manifest(&store, "abc").unwrap().unwrap();
        assert_eq!(read.links.storyboard, "/media/abc/storyboard.vtt");
        assert_eq!(read, video);
    }
}

//! What an object of a video's tree says about itself: its `Content-Type` (from the
//! name) and its `Cache-Control` (from what may still change about it).
//!
//! The same values go onto stored objects (so a CDN or the bucket serving them directly
//! says the right thing) and onto reel's own `/media` responses.

/// How long a cache may keep an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Written once under a name never reused for other bytes: segments, init segments,
    /// posters, sprites.
    Immutable,
    /// May grow while a job runs (an `EVENT` playlist, the master before the end): kept
    /// no longer than one second, far below one segment duration, so a player polling it
    /// sees each new segment in time.
    Growing,
    /// Done (a `VOD` playlist, the final master): long-lived, but not immutable, since a
    /// re-made video could rewrite it.
    Finished,
    /// Never cached without revalidation: `manifest.json`, which tracks progress.
    Revalidate,
}

impl Freshness {
    pub fn cache_control(self) -> &'static str {
        match self {
            Freshness::Immutable => "public, max-age=31536000, immutable",
            Freshness::Growing => "public, max-age=1",
            Freshness::Finished => "public, max-age=3600",
            Freshness::Revalidate => "no-cache",
        }
    }

    /// Whether a memory cache may keep the bytes until evicted.
    pub fn is_immutable(self) -> bool {
        self == Freshness::Immutable
    }
}

/// The extension of the last path segment, lowercase (`""` without one).
pub fn extension(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// True for names that are written once and never change: segments, init segments,
/// posters, sprites.
pub fn is_immutable_name(name: &str) -> bool {
    matches!(extension(name).as_str(), "m4s" | "ts" | "mp4" | "jpg" | "jpeg")
}

/// True for the names of a video's tree (playlists, segments, init segments, images,
/// manifest, WebVTT): what a store of reel's holds under `{id}/`.
pub fn is_media_name(name: &str) -> bool {
    matches!(
        extension(name).as_str(),
        "m3u8" | "m4s" | "ts" | "mp4" | "jpg" | "jpeg" | "json" | "vtt"
    )
}

/// Content types by extension, the ones HLS players and browsers expect.
pub fn content_type(name: &str) -> &'static str {
    match extension(name).as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "m4s" => "video/iso.segment",
        "mp4" | "m4v" => "video/mp4",
        "ts" => "video/mp2t",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "json" => "application/json",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "ogv" => "video/ogg",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "vtt" => "text/vtt; charset=utf-8",
        "srt" => "application/x-subrip",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decide_type_and_mutability() {
        assert_eq!(content_type("720p/seg00001.m4s"), "video/iso.segment");
        assert_eq!(content_type("720p/INDEX.M3U8"), "application/vnd.apple.mpegurl");
        assert_eq!(content_type(".hidden"), "application/octet-stream");
        assert!(is_immutable_name("360p/init.mp4"));
        assert!(is_immutable_name("poster.jpg"));
        assert!(!is_immutable_name("master.m3u8"));
        assert!(!is_immutable_name("manifest.json"));
        assert!(!Freshness::Finished.cache_control().contains("immutable"));
    }
}

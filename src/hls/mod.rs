//! HLS output: the shapes of a ladder's files (renditions, segments), the playlists that
//! describe them, and the CODECS strings they advertise.
//!
//! The engine fills these values while it encodes; [`playlist`] turns them into
//! `m3u8` text (through `m3u8-rs`) and writes them atomically.

pub mod codecs;
pub mod playlist;

use serde::{Deserialize, Serialize};

/// How segments are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SegmentFormat {
    /// CMAF fragmented MP4: one `init.mp4` per rendition, then `.m4s` media segments.
    #[default]
    Fmp4,
    /// MPEG-2 transport stream `.ts` segments, each self-contained.
    Ts,
}

impl SegmentFormat {
    pub fn extension(self) -> &'static str {
        match self {
            SegmentFormat::Fmp4 => "m4s",
            SegmentFormat::Ts => "ts",
        }
    }

    /// HLS protocol version the playlists need: 7 for fMP4 (EXT-X-MAP without I-frame
    /// playlists needs 6; Apple's authoring spec asks for 7), 3 for TS (float EXTINF).
    pub fn hls_version(self) -> usize {
        match self {
            SegmentFormat::Fmp4 => 7,
            SegmentFormat::Ts => 3,
        }
    }
}

impl std::str::FromStr for SegmentFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fmp4" => Ok(SegmentFormat::Fmp4),
            "ts" => Ok(SegmentFormat::Ts),
            other => Err(format!("format must be fmp4 or ts, not {other:?}")),
        }
    }
}

/// One media segment of a rendition, as listed in its playlist and in manifest.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Path relative to the video's directory (`720p/seg00003.m4s`).
    pub uri: String,
    /// Seconds, from the video pts of its first frame to the next segment's.
    pub duration: f64,
    pub bytes: u64,
}

/// One rung of a finished (or growing) ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// The rung number: the short side of the picture.
    pub height: u32,
    pub width: u32,
    /// Picture height in pixels (equal to `height` for landscape sources).
    pub picture_height: u32,
    /// Peak bits per second over any segment (the cap, until segments exist).
    pub bandwidth: u64,
    /// Mean bits per second over the whole rendition.
    pub average_bandwidth: u64,
    /// RFC 6381 codecs of what the segments hold, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    pub frame_rate: f64,
    /// Media playlist path relative to the video's directory (`720p/index.m3u8`).
    pub playlist: String,
    /// Init segment path (fMP4 only).
    pub init: Option<String>,
    pub segments: Vec<Segment>,
}

impl Rendition {
    /// Recomputes `bandwidth` (peak) and `average_bandwidth` from the segments so far.
    /// Segments carry video and audio muxed together, so their sizes are the whole cost.
    pub fn measure_bandwidth(&mut self) {
        let mut peak = 0.0f64;
        let (mut bits, mut secs) = (0.0f64, 0.0f64);
        for s in &self.segments {
            let b = s.bytes as f64 * 8.0;
            if s.duration > 0.0 {
                peak = peak.max(b / s.duration);
            }
            bits += b;
            secs += s.duration;
        }
        if secs > 0.0 {
            self.bandwidth = peak.ceil() as u64;
            self.average_bandwidth = (bits / secs).ceil() as u64;
        }
    }
}

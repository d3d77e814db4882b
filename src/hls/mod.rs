//! HLS output: the shapes of a ladder's files (renditions, segments), the playlists that
//! describe them, and the CODECS strings they advertise.
//!
//! The engine fills these values while it encodes; [`playlist`] turns them into
//! `m3u8` text (through `m3u8-rs`) and writes them atomically, [`webvtt`] renders
//! subtitle segments. Besides the video [`Rendition`]s a ladder may have
//! [`AudioRendition`]s (`EXT-X-MEDIA:TYPE=AUDIO`, one per audio track of the source) and
//! [`SubtitleRendition`]s (`EXT-X-MEDIA:TYPE=SUBTITLES`, segmented WebVTT).

pub mod codecs;
pub mod language;
pub mod playlist;
pub mod webvtt;

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
    /// With muxed audio the segments' sizes are the whole cost; with audio renditions the
    /// caller adds the largest one's ([`Rendition::add_audio`]).
    pub fn measure_bandwidth(&mut self) {
        if let Some((peak, average)) = measure(&self.segments) {
            self.bandwidth = peak;
            self.average_bandwidth = average;
        }
    }

    /// Adds what a player fetches beside this rendition's segments: the largest stereo
    /// audio rendition, of the group the variant names (RFC 8216 §4.3.4.2: BANDWIDTH
    /// covers every rendition that may play with it). The master's surround variants
    /// swap it for the largest surround one ([`playlist::master_playlist`]).
    pub fn add_audio(&mut self, audio: &[AudioRendition]) {
        let separate = audio.iter().filter(|a| a.playlist.is_some() && !a.is_surround());
        self.bandwidth += separate.clone().map(|a| a.bandwidth).max().unwrap_or(0);
        if self.average_bandwidth > 0 {
            self.average_bandwidth += separate.map(|a| a.average_bandwidth).max().unwrap_or(0);
        }
    }
}

/// Peak and mean bits per second of `segments`, once they last any time.
fn measure(segments: &[Segment]) -> Option<(u64, u64)> {
    let mut peak = 0.0f64;
    let (mut bits, mut secs) = (0.0f64, 0.0f64);
    for s in segments {
        let b = s.bytes as f64 * 8.0;
        if s.duration > 0.0 {
            peak = peak.max(b / s.duration);
        }
        bits += b;
        secs += s.duration;
    }
    (secs > 0.0).then(|| (peak.ceil() as u64, (bits / secs).ceil() as u64))
}

/// The directory of audio track `index`'s rendition under the video's (`audio0`). The
/// first one's is what players without an audio group take (channels mux it into their
/// MPEG-TS).
pub fn audio_dir(index: usize) -> String {
    format!("audio{index}")
}

/// The directory of audio track `index`'s surround (AC-3 5.1) rendition
/// (`audio0-surround`).
pub fn surround_dir(index: usize) -> String {
    format!("audio{index}-surround")
}

/// The directory of subtitle track `index`'s WebVTT rendition (`subtitles0`).
pub fn subtitles_dir(index: usize) -> String {
    format!("subtitles{index}")
}

/// One audio track of the source, encoded once (AAC-LC, stereo, 48 kHz) for every rung;
/// or the surround rendition of one (AC-3 5.1, 48 kHz) beside its stereo one.
///
/// A source with one audio track of at most 5 channels keeps it muxed into every video
/// rendition (`playlist` is `None`): the output every player, channels, `stream.ts` and
/// the live sessions' ladder re-use already take. A source with several, or with a track
/// of 6 or more channels, gets one audio-only rendition per track, cut at the video's
/// segment boundaries, in the master's audio group (`audio`); each track of 6 or more
/// channels also gets a surround rendition in a second group (`audio-surround`). The
/// stereo renditions come first, in the source's order, then the surround ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRendition {
    /// Counts the source's audio streams from 0: the live sessions' `audio_track`.
    pub index: usize,
    /// BCP 47 language (`en`, `fr`) from the stream's tag, when it has one.
    pub language: Option<String>,
    /// The stream's title, else its language's name, else `Audio N`; unique in the group.
    pub name: String,
    /// libavcodec's name of the encoded audio's codec: `aac` (stereo) or `ac3` (5.1).
    #[serde(default = "aac")]
    pub codec: String,
    /// Channels of the encoded audio (2, or 6 for a surround rendition).
    pub channels: u16,
    /// `GROUP-ID` of its `EXT-X-MEDIA` in the master (`audio` or `audio-surround`).
    #[serde(default = "stereo_group")]
    pub group: String,
    /// The track players pick first (the first one).
    pub default: bool,
    /// Media playlist relative to the video's directory (`audio0/index.m3u8`); `None`
    /// when the track is muxed into the video renditions.
    pub playlist: Option<String>,
    /// RFC 6381 codec (`mp4a.40.2`, `ac-3`).
    pub codecs: String,
    /// Peak bits per second over any segment (the encoder's rate, until measured).
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    /// Init segment path (fMP4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    #[serde(default)]
    pub segments: Vec<Segment>,
}

fn aac() -> String {
    "aac".into()
}

fn stereo_group() -> String {
    playlist::AUDIO_GROUP.into()
}

impl AudioRendition {
    /// Whether it is a surround (multichannel) rendition, in the second audio group.
    pub fn is_surround(&self) -> bool {
        self.channels > 2
    }

    pub fn measure_bandwidth(&mut self) {
        if let Some((peak, average)) = measure(&self.segments) {
            self.bandwidth = peak;
            self.average_bandwidth = average;
        }
    }
}

/// One text subtitle track, as segmented WebVTT cut at the video's segment boundaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtitleRendition {
    /// Counts the source's subtitle streams from 0; tracks from uploaded files follow.
    pub index: usize,
    /// BCP 47 language, when known.
    pub language: Option<String>,
    /// The stream's title, else its language's name, else `Subtitles N`; unique.
    pub name: String,
    /// Media playlist relative to the video's directory (`subtitles0/index.m3u8`).
    pub playlist: String,
    /// The uploaded file it came from (an upload's `subtitles` field), not a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub segments: Vec<Segment>,
}

/// A track of the source the ladder leaves out, and why (the video object says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTrack {
    /// `audio` or `subtitle`.
    pub kind: String,
    /// Counts the source's streams of that kind from 0.
    pub index: usize,
    pub codec: String,
    pub language: Option<String>,
    pub reason: String,
}

//! Probe: what a file holds, read through libavformat without decoding it all.
//!
//! [`probe`] opens the container, reads enough packets to fill in stream parameters and
//! describes the best video stream (with its display geometry: sample aspect and rotation
//! applied) and every audio track. It decodes one video frame so that a file whose video
//! cannot be decoded at all is refused here, before any job is queued.

use std::path::Path;

use ffmpeg_next::{codec, format, media, Rational};
use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::limits::Limits;

/// The description of a source file, as `reel probe` prints it and the catalog stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    /// Width of the picture as shown (sample aspect and rotation applied), the same as
    /// `video.display_width`: clients read the size and codec at the top of `source`.
    #[serde(default)]
    pub width: u32,
    /// Height of the picture as shown, the same as `video.display_height`.
    #[serde(default)]
    pub height: u32,
    /// The video codec, the same as `video.codec`.
    #[serde(default)]
    pub codec: String,
    /// Short demuxer name (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `mpegts`...).
    pub container: String,
    /// Container duration in seconds (0 when the container does not say).
    pub duration: f64,
    /// Container bit rate in bits per second (0 when unknown).
    pub bit_rate: i64,
    pub video: VideoInfo,
    pub audio_tracks: Vec<AudioTrack>,
    /// Every subtitle stream, text or bitmap.
    #[serde(default)]
    pub subtitle_tracks: Vec<SubtitleTrack>,
}

/// The video stream reel transcodes (the container's "best" one).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VideoInfo {
    /// Stream index in the container.
    pub stream_index: usize,
    pub codec: String,
    /// Coded picture size.
    pub width: u32,
    pub height: u32,
    /// Picture size as shown: sample aspect and rotation applied (not rounded to even).
    pub display_width: u32,
    pub display_height: u32,
    /// Sample (pixel) aspect ratio, `num:den`.
    pub sample_aspect: String,
    /// Display aspect ratio of the shown picture, `num:den`.
    pub display_aspect: String,
    /// Clockwise rotation, in degrees (0, 90, 180, 270), that playback must apply.
    pub rotation: u32,
    /// Average frame rate in frames per second (0 when unknown).
    pub frame_rate: f64,
    pub pix_fmt: String,
    /// Bits per component of the decoded picture (8, 10, 12...).
    pub bit_depth: u8,
}

/// One audio track. `index` counts audio streams from 0, as `audio_track` does in the API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AudioTrack {
    pub index: usize,
    pub stream_index: usize,
    pub codec: String,
    pub channels: u16,
    pub sample_rate: u32,
    pub language: Option<String>,
    /// The stream's `title` tag (`Director's commentary`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// One subtitle stream. `index` counts subtitle streams from 0.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubtitleTrack {
    pub index: usize,
    pub stream_index: usize,
    pub codec: String,
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Text (SubRip, ASS/SSA, mov_text, WebVTT), which becomes a WebVTT rendition;
    /// bitmap subtitles (PGS, DVB, DVD) and unknown codecs are left out.
    pub text: bool,
}

/// Whether libavcodec decodes `id` to text (its descriptor's `AV_CODEC_PROP_TEXT_SUB`
/// holds for these): the subtitle codecs that become WebVTT renditions.
pub(crate) fn is_text_subtitle(id: codec::Id) -> bool {
    matches!(
        id,
        codec::Id::SUBRIP
            | codec::Id::SRT
            | codec::Id::ASS
            | codec::Id::SSA
            | codec::Id::MOV_TEXT
            | codec::Id::WEBVTT
            | codec::Id::TEXT
    )
}

impl Probe {
    /// Fills the summary at the top (`width`, `height`, `codec`) from `video`, for a probe
    /// read from a manifest written before the summary existed.
    pub fn fill_summary(&mut self) {
        self.width = self.video.display_width;
        self.height = self.video.display_height;
        self.codec = self.video.codec.clone();
    }

    /// The short side of the displayed picture: the number a ladder rung is compared with.
    pub fn short_side(&self) -> u32 {
        self.video.display_width.min(self.video.display_height)
    }
}

/// Probes `path` whatever its size (`reel probe`, live sessions). Errors are typed:
/// [`EngineError::NotAVideo`] for anything libavformat cannot open,
/// [`EngineError::NoVideoStream`] for audio-only files, [`EngineError::Undecodable`] when
/// no video frame decodes.
pub fn probe(path: &Path) -> Result<Probe> {
    probe_within(path, &Limits::none())
}

/// Probes `path` and refuses it when it is over `limits`
/// ([`EngineError::SourceTooLarge`], [`EngineError::SourceTooLong`]). Nothing is decoded
/// at a size over the limit: the decoders libavformat opens to read the streams'
/// parameters, and the one that checks a frame decodes, are capped by `max_pixels`, and
/// the sizes are checked before that frame is decoded. A 200 KB 8192x8192 H.264 file
/// costs kilobytes to refuse, not the 200 MB its first frames would take.
pub fn probe_within(path: &Path, limits: &Limits) -> Result<Probe> {
    super::init();
    let mut input = super::ffi::open_input(path, limits.decoder_max_pixels())
        .map_err(|e| EngineError::NotAVideo(e.to_string()))?;
    let container = input.format().name().to_string();
    let duration = if input.duration() > 0 {
        input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)
    } else {
        0.0
    };
    let bit_rate = super::ffi::input_bit_rate(&input);

    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or(EngineError::NoVideoStream)?;
    let video = describe_video(&stream)?;

    let mut audio_tracks = Vec::new();
    for s in input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Audio)
    {
        let dec = codec::Context::from_parameters(s.parameters())
            .and_then(|c| c.decoder().audio())
            .map_err(|e| EngineError::NotAVideo(e.to_string()))?;
        audio_tracks.push(AudioTrack {
            index: audio_tracks.len(),
            stream_index: s.index(),
            codec: codec_name(s.parameters().id()),
            channels: dec.channels(),
            sample_rate: dec.rate(),
            language: s.metadata().get("language").map(str::to_string),
            title: s.metadata().get("title").map(str::to_string),
        });
    }
    let mut subtitle_tracks = Vec::new();
    for s in input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Subtitle)
    {
        let id = s.parameters().id();
        subtitle_tracks.push(SubtitleTrack {
            index: subtitle_tracks.len(),
            stream_index: s.index(),
            codec: codec_name(id),
            language: s.metadata().get("language").map(str::to_string),
            title: s.metadata().get("title").map(str::to_string),
            text: is_text_subtitle(id),
        });
    }

    let probe = Probe {
        width: video.display_width,
        height: video.display_height,
        codec: video.codec.clone(),
        container,
        duration,
        bit_rate,
        video,
        audio_tracks,
        subtitle_tracks,
    };
    limits.check(&probe)?;
    check_decodable(&mut input, probe.video.stream_index, limits)?;
    Ok(probe)
}

fn describe_video(stream: &format::stream::Stream) -> Result<VideoInfo> {
    let params = stream.parameters();
    if params.id() == codec::Id::None {
        return Err(EngineError::Undecodable("unknown video codec".into()));
    }
    let dec = codec::Context::from_parameters(params.clone())
        .and_then(|c| c.decoder().video())
        .map_err(|e| EngineError::Undecodable(e.to_string()))?;
    let (width, height) = (dec.width(), dec.height());
    if width == 0 || height == 0 {
        return Err(EngineError::Undecodable(
            "the video stream has no picture size".into(),
        ));
    }
    let sar = normalized_sar(dec.aspect_ratio());
    let rotation = stream_rotation(stream);
    // Display size: stretch the width by the sample aspect, then swap for quarter turns.
    let shown_w = ((f64::from(width) * f64::from(sar.0) / f64::from(sar.1)).round() as u32).max(1);
    let (display_width, display_height) = if rotation % 180 == 90 {
        (height, shown_w)
    } else {
        (shown_w, height)
    };
    let frame_rate = nominal_frame_rate(stream);
    let pix = dec.format();
    Ok(VideoInfo {
        stream_index: stream.index(),
        codec: codec_name(params.id()),
        width,
        height,
        display_width,
        display_height,
        sample_aspect: format!("{}:{}", sar.0, sar.1),
        display_aspect: reduced_ratio(display_width, display_height),
        rotation,
        frame_rate,
        pix_fmt: pix.descriptor().map(|d| d.name().to_string()).unwrap_or_default(),
        bit_depth: bit_depth(pix),
    })
}

/// Frames per second: the stream's base rate (`r_frame_rate`, exact for constant frame
/// rate) when the average agrees with it within 10 %, else the average (variable rate).
fn nominal_frame_rate(stream: &format::stream::Stream) -> f64 {
    let valid = |r: Rational| r.numerator() > 0 && r.denominator() > 0;
    let (base, avg) = (stream.rate(), stream.avg_frame_rate());
    match (valid(base), valid(avg)) {
        (true, true) if (f64::from(base) - f64::from(avg)).abs() <= 0.1 * f64::from(avg) => f64::from(base),
        (_, true) => f64::from(avg),
        (true, false) => f64::from(base),
        _ => 0.0,
    }
}

/// A sample aspect of 0:0 or 0:1 means "unknown", which players treat as square.
pub(crate) fn normalized_sar(sar: Rational) -> (i32, i32) {
    if sar.numerator() <= 0 || sar.denominator() <= 0 {
        (1, 1)
    } else {
        let r = sar.reduce();
        (r.numerator(), r.denominator())
    }
}

fn reduced_ratio(w: u32, h: u32) -> String {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(w, h).max(1);
    format!("{}:{}", w / g, h / g)
}

/// Clockwise rotation in degrees from the stream's display matrix, snapped to a quarter
/// turn. The matrix is nine 32-bit integers, 16.16 fixed point for the first two columns
/// (ISO 14496-12 `tkhd` matrix). libavutil's `av_display_rotation_get` returns minus this
/// angle and the ffmpeg CLI negates it again before choosing `transpose=clock` for 90.
pub(crate) fn stream_rotation(stream: &format::stream::Stream) -> u32 {
    for side in stream.side_data() {
        if side.kind() == codec::packet::side_data::Type::DisplayMatrix {
            return rotation_from_display_matrix(side.data());
        }
    }
    0
}

pub(crate) fn rotation_from_display_matrix(data: &[u8]) -> u32 {
    if data.len() < 36 {
        return 0;
    }
    let m = |i: usize| {
        f64::from(i32::from_le_bytes([
            data[4 * i],
            data[4 * i + 1],
            data[4 * i + 2],
            data[4 * i + 3],
        ])) / 65536.0
    };
    let scale0 = m(0).hypot(m(3));
    let scale1 = m(1).hypot(m(4));
    if scale0 == 0.0 || scale1 == 0.0 {
        return 0;
    }
    let clockwise = (m(1) / scale1).atan2(m(0) / scale0).to_degrees().round() as i64;
    (((clockwise.rem_euclid(360) + 45) / 90 * 90) % 360) as u32
}

fn bit_depth(pix: format::Pixel) -> u8 {
    pix.descriptor().map(super::ffi::pixel_bit_depth).unwrap_or(8)
}

pub(crate) fn codec_name(id: codec::Id) -> String {
    ffmpeg_next::decoder::find(id)
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| format!("{id:?}").to_lowercase())
}

/// Decodes packets of the video stream until one frame comes out, or fails.
fn check_decodable(input: &mut format::context::Input, index: usize, limits: &Limits) -> Result<()> {
    let params = input
        .stream(index)
        .ok_or(EngineError::NoVideoStream)?
        .parameters();
    let mut decoder = codec::Context::from_parameters(params)
        .and_then(|mut c| {
            super::ffi::set_max_pixels(&mut c, limits.decoder_max_pixels());
            c.decoder().video()
        })
        .map_err(|e| EngineError::Undecodable(e.to_string()))?;
    let mut frame = ffmpeg_next::frame::Video::empty();
    let mut packets = 0;
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        packets += 1;
        if decoder.send_packet(&packet).is_ok() && decoder.receive_frame(&mut frame).is_ok() {
            return Ok(());
        }
        if packets > 600 {
            break;
        }
    }
    let _ = decoder.send_eof();
    if decoder.receive_frame(&mut frame).is_ok() {
        return Ok(());
    }
    Err(EngineError::Undecodable(format!(
        "no frame decoded from {packets} packets"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(a: i32, b: i32, c: i32, d: i32) -> Vec<u8> {
        let m = [a, b, 0, c, d, 0, 0, 0, 1 << 30];
        m.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn display_matrix_rotations() {
        let one = 1 << 16;
        assert_eq!(rotation_from_display_matrix(&matrix(one, 0, 0, one)), 0);
        // av_display_rotation_set(m, 90), what a phone writes for portrait: turn clockwise.
        assert_eq!(rotation_from_display_matrix(&matrix(0, one, -one, 0)), 90);
        assert_eq!(rotation_from_display_matrix(&matrix(0, -one, one, 0)), 270);
        assert_eq!(rotation_from_display_matrix(&matrix(-one, 0, 0, -one)), 180);
    }
}

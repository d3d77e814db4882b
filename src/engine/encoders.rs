//! The encoders a ladder uses: one H.264 (libx264) per rung, one AAC per audio track
//! shared by all, and one AC-3 5.1 per surround track (libavcodec's native `ac3`).
//!
//! Both are opened with `GLOBAL_HEADER`, so SPS/PPS and the AudioSpecificConfig land in
//! extradata: the fMP4 muxer needs them in `avcC`/`esds`, the TS muxer inserts SPS/PPS
//! before each IDR from it, and [`crate::hls::codecs`] reads the CODECS string from it.
//! Names follow the send/receive API: `send_frame`, `receive_packets`.

use ffmpeg_next::{codec, encoder, format, frame, picture, Dictionary, Packet, Rational};

use super::error::{EngineError, Result};
use super::ffi;
use super::filters::{AUDIO_RATE, SURROUND_FRAME_SIZE};
use super::ladder::{Rung, AUDIO_BITRATE, CRF, SURROUND_BITRATE};
use super::limits;
use crate::time::{Ts90k, TIME_BASE_90K};

/// x264 settings every rung shares. `keyint=infinite` and `scenecut=0` leave IDR
/// placement entirely to us (a forced `I` frame at each segment boundary, made an IDR by
/// `forced-idr`), so every rung switches at the same instants and no scene cut adds a
/// stray IDR mid-segment.
pub const X264_PARAMS: &str = "keyint=infinite:scenecut=0:open-gop=0";

/// Default x264 preset (speed/quality trade-off); `reel transcode --preset` changes it.
pub const DEFAULT_PRESET: &str = "veryfast";

/// How x264 is driven: the ladder's settings or a live session's.
#[derive(Debug, Clone, PartialEq)]
pub struct X264Settings {
    pub preset: String,
    pub tune: Option<&'static str>,
    /// `x264-params`.
    pub params: String,
    /// Whether a frame marked `I` becomes an IDR (segment boundaries we force).
    pub forced_idr: bool,
    /// Encoder threads (0: x264 decides).
    pub threads: usize,
}

impl X264Settings {
    /// HLS ladder: IDRs only where the segmenter asks for them. A large rung gets fewer
    /// threads and at most a 10-frame lookahead, since every frame x264 holds is several
    /// times the picture ([`limits::x264_threads`], [`limits::x264_lookahead`]).
    pub fn ladder(preset: &str, rung: &Rung) -> X264Settings {
        let params = match limits::x264_lookahead(rung.width, rung.height) {
            Some(frames) => format!("{X264_PARAMS}:rc-lookahead={frames}"),
            None => X264_PARAMS.into(),
        };
        X264Settings {
            preset: preset.into(),
            tune: None,
            params,
            forced_idr: true,
            threads: limits::x264_threads(rung.width, rung.height),
        }
    }

    /// Live session: no lookahead or B-frames (`zerolatency`, first bytes out at once),
    /// an IDR every `keyint` frames so each ~1 s fragment starts with one.
    pub fn live(keyint: u32) -> X264Settings {
        X264Settings {
            preset: DEFAULT_PRESET.into(),
            tune: Some("zerolatency"),
            params: format!("keyint={keyint}:min-keyint={keyint}:scenecut=0"),
            forced_idr: false,
            threads: 2,
        }
    }
}

/// Encodes one rung's upright, scaled frames to H.264.
pub struct VideoEncoder {
    encoder: encoder::Video,
    codecs: String,
}

impl VideoEncoder {
    /// Opens libx264 for `rung`. Frame pts are in 90 kHz ticks.
    pub fn open(rung: &Rung, frame_rate: Rational, settings: &X264Settings) -> Result<VideoEncoder> {
        let codec = encoder::find_by_name("libx264")
            .ok_or_else(|| EngineError::Internal("libavcodec was built without libx264".into()))?;
        let mut enc = codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(EngineError::ffmpeg("creating the H.264 encoder"))?;
        enc.set_width(rung.width);
        enc.set_height(rung.height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_aspect_ratio(Rational(1, 1));
        enc.set_time_base(TIME_BASE_90K);
        if frame_rate.numerator() > 0 && frame_rate.denominator() > 0 {
            enc.set_frame_rate(Some(frame_rate));
        }
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        if settings.threads > 0 {
            enc.set_threading(codec::threading::Config {
                kind: codec::threading::Type::Frame,
                count: settings.threads,
                ..Default::default()
            });
        }
        let mut opts = Dictionary::new();
        opts.set("preset", &settings.preset);
        if let Some(tune) = settings.tune {
            opts.set("tune", tune);
        }
        opts.set("crf", &CRF.to_string());
        opts.set("maxrate", &rung.maxrate.to_string());
        opts.set("bufsize", &rung.bufsize.to_string());
        opts.set("forced-idr", if settings.forced_idr { "1" } else { "0" });
        opts.set("x264-params", &settings.params);
        let encoder = enc
            .open_with(opts)
            .map_err(EngineError::ffmpeg("opening libx264"))?;
        let codecs = crate::hls::codecs::avc1(&ffi::extradata(&encoder))
            .ok_or_else(|| EngineError::Internal("libx264 gave no SPS in its global header".into()))?;
        Ok(VideoEncoder { encoder, codecs })
    }

    /// RFC 6381 codec of the stream, from the encoder's own SPS (`avc1.64001f`).
    pub fn codecs(&self) -> &str {
        &self.codecs
    }

    pub fn encoder(&self) -> &encoder::Video {
        &self.encoder
    }

    /// Sends one frame; `idr` forces an IDR (a segment boundary). The frame's own picture
    /// type from the decoder must not leak into the encoder, hence the explicit reset.
    pub fn send_frame(&mut self, frame: &mut frame::Video, pts: Ts90k, idr: bool) -> Result<()> {
        frame.set_pts(Some(pts.0));
        frame.set_kind(if idr {
            picture::Type::I
        } else {
            picture::Type::None
        });
        self.encoder
            .send_frame(frame)
            .map_err(EngineError::ffmpeg("encoding video"))
    }

    pub fn send_eof(&mut self) -> Result<()> {
        self.encoder
            .send_eof()
            .map_err(EngineError::ffmpeg("flushing the video encoder"))
    }

    /// Moves every packet the encoder has ready into `out` (pts/dts in 90 kHz).
    pub fn receive_packets(&mut self, out: &mut Vec<Packet>) -> Result<()> {
        receive_packets(&mut self.encoder, out)
    }
}

/// Encodes an audio track: AAC-LC stereo ([`AudioEncoder::aac`]) or AC-3 5.1
/// ([`AudioEncoder::ac3`]), 48 kHz.
pub struct AudioEncoder {
    encoder: encoder::Audio,
    codecs: String,
    /// A sync frame's header, for a muxer's extradata (AC-3 only: the fMP4 muxer writes
    /// `dac3` from it before any packet exists).
    header: Vec<u8>,
}

impl AudioEncoder {
    /// AAC-LC, stereo, 48 kHz at [`AUDIO_BITRATE`]: every track's rendition.
    pub fn aac() -> Result<AudioEncoder> {
        let codec = encoder::find(codec::Id::AAC)
            .ok_or_else(|| EngineError::Internal("libavcodec has no AAC encoder".into()))?;
        let encoder = open_audio(
            codec,
            ffmpeg_next::ChannelLayout::STEREO,
            AUDIO_BITRATE,
            "opening the AAC encoder",
        )?;
        let codecs = crate::hls::codecs::mp4a(&ffi::extradata(&encoder));
        Ok(AudioEncoder {
            encoder,
            codecs,
            header: Vec::new(),
        })
    }

    /// AC-3 5.1 (`FL FR FC LFE BL BR`), 48 kHz at [`SURROUND_BITRATE`]: the surround
    /// rendition of a track of 6 or more channels. libavcodec's native (float) encoder.
    pub fn ac3() -> Result<AudioEncoder> {
        let open = || {
            let codec = encoder::find_by_name("ac3")
                .ok_or_else(|| EngineError::Internal("libavcodec has no AC-3 encoder".into()))?;
            open_audio(
                codec,
                ffmpeg_next::ChannelLayout::_5POINT1_BACK,
                SURROUND_BITRATE,
                "opening the AC-3 encoder",
            )
        };
        let encoder = open()?;
        if encoder.frame_size() != SURROUND_FRAME_SIZE {
            return Err(EngineError::Internal(format!(
                "the AC-3 encoder wants {} samples a frame",
                encoder.frame_size()
            )));
        }
        // Every frame of a stream shares its header's fields (rate, bit rate, channels):
        // one frame of silence from a twin encoder gives them before the real first one.
        let mut twin = open()?;
        let mut packets = Vec::new();
        let silence = silence(SURROUND_FRAME_SIZE, 0, ffmpeg_next::ChannelLayout::_5POINT1_BACK);
        twin.send_frame(&silence)
            .map_err(EngineError::ffmpeg("encoding AC-3"))?;
        twin.send_eof()
            .map_err(EngineError::ffmpeg("flushing the AC-3 encoder"))?;
        receive_packets(&mut twin, &mut packets)?;
        let header = packets
            .first()
            .and_then(|p| p.data())
            .map(|d| d[..d.len().min(16)].to_vec())
            .ok_or_else(|| EngineError::Internal("the AC-3 encoder gave no frame".into()))?;
        Ok(AudioEncoder {
            encoder,
            codecs: crate::hls::codecs::AC3.into(),
            header,
        })
    }

    /// The encoder's parameters for a muxer's stream (with extradata).
    pub fn parameters(&self) -> Result<codec::Parameters> {
        let mut p = codec::Parameters::from(self.encoder());
        if !self.header.is_empty() {
            ffi::set_extradata(&mut p, &self.header)
                .map_err(EngineError::ffmpeg("copying the AC-3 header"))?;
        }
        Ok(p)
    }

    /// `samples` of silence at `pts` (1/48000 s) in the format and layout it takes.
    pub fn silence(&self, pts: i64) -> frame::Audio {
        silence(self.frame_size(), pts, self.encoder.channel_layout())
    }

    pub fn codecs(&self) -> &str {
        &self.codecs
    }

    pub fn encoder(&self) -> &encoder::Audio {
        &self.encoder
    }

    /// The opened codec context (parameters and extradata for a muxer's stream).
    pub fn context(&self) -> &codec::Context {
        &self.encoder
    }

    /// Samples per frame the encoder wants (1024 for AAC-LC).
    pub fn frame_size(&self) -> u32 {
        self.encoder.frame_size()
    }

    pub fn send_frame(&mut self, frame: &frame::Audio) -> Result<()> {
        self.encoder
            .send_frame(frame)
            .map_err(EngineError::ffmpeg("encoding audio"))
    }

    pub fn send_eof(&mut self) -> Result<()> {
        self.encoder
            .send_eof()
            .map_err(EngineError::ffmpeg("flushing the audio encoder"))
    }

    /// Moves every ready packet into `out` (pts/dts in 1/48000 s).
    pub fn receive_packets(&mut self, out: &mut Vec<Packet>) -> Result<()> {
        receive_packets(&mut self.encoder, out)
    }
}

/// Opens an audio encoder: planar float, 48 kHz, `layout`, `bit_rate`, global header.
fn open_audio(
    codec: ffmpeg_next::Codec,
    layout: ffmpeg_next::ChannelLayout,
    bit_rate: usize,
    context: &'static str,
) -> Result<encoder::Audio> {
    let mut enc = codec::Context::new_with_codec(codec)
        .encoder()
        .audio()
        .map_err(EngineError::ffmpeg(context))?;
    enc.set_rate(AUDIO_RATE as i32);
    enc.set_format(format::Sample::F32(format::sample::Type::Planar));
    enc.set_channel_layout(layout);
    enc.set_bit_rate(bit_rate);
    enc.set_time_base(Rational(1, AUDIO_RATE as i32));
    enc.set_flags(codec::Flags::GLOBAL_HEADER);
    enc.open_as(codec).map_err(EngineError::ffmpeg(context))
}

/// `samples` of 48 kHz silence (planar float) in `layout` at `pts` (1/48000 s).
fn silence(samples: u32, pts: i64, layout: ffmpeg_next::ChannelLayout) -> frame::Audio {
    let mut f = frame::Audio::new(
        format::Sample::F32(format::sample::Type::Planar),
        samples as usize,
        layout,
    );
    f.set_rate(AUDIO_RATE);
    f.set_pts(Some(pts));
    for plane in 0..f.planes() {
        f.data_mut(plane).fill(0);
    }
    f
}

fn receive_packets(encoder: &mut encoder::Encoder, out: &mut Vec<Packet>) -> Result<()> {
    loop {
        let mut packet = Packet::empty();
        match encoder.receive_packet(&mut packet) {
            Ok(()) => out.push(packet),
            Err(ffmpeg_next::Error::Eof) => return Ok(()),
            Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => return Ok(()),
            Err(e) => {
                return Err(EngineError::Ffmpeg {
                    context: "receiving encoded packets",
                    source: e,
                })
            }
        }
    }
}

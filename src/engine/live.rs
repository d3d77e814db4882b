//! A live session's pipeline: one continuous fragmented MP4, produced as it is read.
//!
//! ```text
//! seek to the keyframe before `start` → decode (drop frames before start) → rotate
//!   → scale to the chosen height → x264 zerolatency, IDR every second
//!   → Segmenter (one moof/mdat fragment per IDR) → StreamSink → the caller's Write
//! audio: chosen track → aresample to stereo 48 kHz from `start` → AAC → same muxer
//! ```
//!
//! Everything runs on the calling thread (a session's engine thread). Timestamps stay on
//! the source's timeline ([`Origin::ContainerStart`], [`Timeline::Keep`]): a stream that
//! starts at 6 s begins at pts ≈ 6 s.
//!
//! Two things can hold production back, and both just block this thread (no CPU used):
//! * the writer: when the client stops reading, the caller's `Write` blocks (a bounded
//!   channel to the HTTP body) and so does everything upstream;
//! * the pace: before each frame, `pace(pts)` may wait until the session clock is
//!   within the lead of that frame, so production stays at most `lead` ahead.

use std::io::Write;
use std::path::PathBuf;

use ffmpeg_next::Rational;

use super::encoders::{AudioEncoder, VideoEncoder, X264Settings};
use super::error::{EngineError, Result};
use super::filters::AUDIO_RATE;
use super::ladder;
use super::probe::probe;
use super::scale::Scaler;
use super::segmenter::{SegmentSink, Segmenter, Timeline};
use super::source::{Decoded, Origin, Source, SourceLimits, SourceOptions};
use super::transcode::CancelToken;
use crate::hls::SegmentFormat;
use crate::time::Ts90k;

/// Largest picture a live session encodes by default (short side).
pub const DEFAULT_LIVE_HEIGHT: u32 = 720;

/// What to stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRequest {
    pub input: PathBuf,
    /// Media position to start at, in seconds.
    pub start: f64,
    /// Short side of the picture; `None` for the source's, capped at 720.
    pub height: Option<u32>,
    /// Audio track (counting audio streams from 0); ignored when the source has none.
    pub audio_track: usize,
}

/// Streams `req` as fragmented MP4 into `out` until the source ends (`Ok`), the pace
/// function or `cancel` says stop (`Err(Cancelled)`), or the writer fails
/// (`Err(ReaderGone)`, e.g. the client disconnected).
///
/// `pace(t)` is called with each frame's media time before it is encoded; it may block
/// and returns false to stop.
pub fn stream_fmp4<W: Write>(
    req: &LiveRequest,
    out: W,
    pace: &mut dyn FnMut(f64) -> bool,
    cancel: &CancelToken,
) -> Result<()> {
    let source_info = probe(&req.input)?;
    let wanted = req
        .height
        .unwrap_or_else(|| source_info.short_side().min(DEFAULT_LIVE_HEIGHT));
    let plan = ladder::plan(
        source_info.video.display_width,
        source_info.video.display_height,
        Some(&[wanted]),
    )?;
    let rung = plan.rungs[0].clone();
    let fps = if source_info.video.frame_rate > 0.0 {
        source_info.video.frame_rate
    } else {
        30.0
    };
    let frame_rate = Rational::from(fps).reduce();

    let has_audio = req.audio_track < source_info.audio_tracks.len();
    let mut audio = if has_audio {
        Some(AudioEncoder::aac()?)
    } else {
        None
    };
    let mut video = VideoEncoder::open(
        &rung,
        frame_rate,
        &X264Settings::live(fps.round().max(1.0) as u32),
    )?;
    let audio_ctx = audio
        .as_ref()
        .map(|a| (a.context(), Rational(1, AUDIO_RATE as i32)));
    let mut segmenter = Segmenter::open(
        StreamSink { out },
        SegmentFormat::Fmp4,
        Timeline::Keep,
        video.encoder(),
        audio_ctx,
    )?;

    let options = SourceOptions {
        audio_tracks: if has_audio {
            vec![req.audio_track]
        } else {
            Vec::new()
        },
        surround_tracks: Vec::new(),
        start: Some(Ts90k::from_secs(req.start.max(0.0))),
        origin: Origin::ContainerStart,
        limits: SourceLimits::default(),
    };
    let frame_size = audio.as_ref().map(|a| a.frame_size()).unwrap_or(1024);
    let mut source = Source::open(&req.input, &options, frame_size)?;
    let mut scaler = Scaler::new(rung.width, rung.height);
    let mut packets = Vec::new();
    let mut stopped = false;
    source.run(&mut |item| {
        if cancel.is_cancelled() {
            stopped = true;
            return Ok(false);
        }
        match item {
            Decoded::Video(frame, pts) => {
                if !pace(pts.secs()) {
                    stopped = true;
                    return Ok(false);
                }
                let scaled = scaler.run(&frame)?;
                video.send_frame(scaled, pts, false)?;
                video.receive_packets(&mut packets)?;
                for p in packets.drain(..) {
                    segmenter.push_video(p)?;
                }
            }
            Decoded::Audio { frame, .. } => {
                if let Some(enc) = audio.as_mut() {
                    enc.send_frame(&frame)?;
                    enc.receive_packets(&mut packets)?;
                    for p in packets.drain(..) {
                        segmenter.push_audio(p)?;
                    }
                }
            }
            Decoded::Origin(_) => {}
        }
        Ok(true)
    })?;
    if stopped {
        return Err(EngineError::Cancelled);
    }
    if let Some(enc) = audio.as_mut() {
        enc.send_eof()?;
        enc.receive_packets(&mut packets)?;
        for p in packets.drain(..) {
            segmenter.push_audio(p)?;
        }
    }
    video.send_eof()?;
    video.receive_packets(&mut packets)?;
    for p in packets.drain(..) {
        segmenter.push_video(p)?;
    }
    segmenter.finish(source.end())?;
    Ok(())
}

/// Writes the init segment and each fragment straight to the caller's writer.
struct StreamSink<W: Write> {
    out: W,
}

impl<W: Write> StreamSink<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(|_| EngineError::ReaderGone)
    }
}

impl<W: Write> SegmentSink for StreamSink<W> {
    fn init(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.write(&bytes)
    }

    fn segment(&mut self, _start: Ts90k, _end: Ts90k, bytes: Vec<u8>) -> Result<()> {
        self.write(&bytes)
    }
}

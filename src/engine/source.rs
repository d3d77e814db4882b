//! Demux and decode a source once: upright video frames with 90 kHz pts counted from the
//! first video frame, and each chosen audio track conformed to stereo 48 kHz in
//! encoder-sized frames (and, for the tracks asked for, also to 5.1: one decoder, two
//! conform graphs). (Text subtitles are read in a pass of their own:
//! [`super::subtitles`].)
//!
//! This is the only place that decodes the input. Timestamps are converted here, once,
//! from the stream's time base (`video_tb`, `audio_tb`) to [`Ts90k`], and shifted so that
//! the first video frame is at 0: HLS segment boundaries then fall at multiples of the
//! segment length on every rung.

use std::path::Path;

use ffmpeg_next::{codec, decoder, format, frame, media, Rational};

use super::error::{EngineError, Result};
use super::filters::{AudioConform, Mix, Rotate, SURROUND_FRAME_SIZE};
use super::probe::{normalized_sar, stream_rotation};
use crate::time::Ts90k;

/// Where a source's timeline has its zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The first decoded video frame (HLS ladders: segment boundaries at k x S).
    FirstVideoFrame,
    /// The container's start time: pts are media positions (live sessions: a stream that
    /// starts at 6 s begins at 6 s).
    ContainerStart,
}

/// How to read a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOptions {
    /// Which audio streams (counting audio streams from 0), in the order
    /// [`Decoded::Audio`]'s `track` counts them; one that does not exist is left out.
    pub audio_tracks: Vec<usize>,
    /// Audio streams (counting audio streams from 0) also handed out as 5.1, in frames of
    /// [`SURROUND_FRAME_SIZE`]: the `track` of the `k`th one's frames is the number of
    /// stereo tracks plus `k`. Each is decoded once for both.
    pub surround_tracks: Vec<usize>,
    /// Start here: seek to the keyframe before and drop what precedes (needs
    /// [`Origin::ContainerStart`]).
    pub start: Option<Ts90k>,
    pub origin: Origin,
    /// What the source may not exceed, whatever it declares.
    pub limits: SourceLimits,
}

/// At most `fps` frames a second: a frame that falls in the same 1/`fps` slot as the last
/// one handed out is dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRateCap {
    pub fps: u32,
    /// The source is declared faster than `fps`: each kept frame (the first at or after a
    /// slot's start) takes the slot's start as its pts, so the output is constant-rate
    /// and players read `fps` from its timestamps. Else pts are kept and slots are
    /// centred on them, so a 59.94 or jittery 60 fps source keeps every frame and only
    /// bursts of a variable-rate one lose frames.
    pub onto_grid: bool,
}

/// Applies a [`FrameRateCap`] to frames in pts order.
#[derive(Debug, Clone)]
struct FrameRateLimiter {
    cap: Option<FrameRateCap>,
    /// The 1/`fps` slot of the last frame handed out.
    last_slot: Option<i64>,
}

impl FrameRateLimiter {
    /// The pts to hand a frame out at, or `None` to drop it. A 1000 fps source keeps one
    /// frame in 16 or 17 at 60 fps.
    fn admit(&mut self, pts: Ts90k) -> Option<Ts90k> {
        let Some(cap) = self.cap.filter(|c| c.fps > 0) else {
            return Some(pts);
        };
        let (fps, hz) = (i64::from(cap.fps), crate::time::HZ);
        let slot = match cap.onto_grid {
            true => (pts.0 * fps).div_euclid(hz),
            false => (pts.0 * fps + hz / 2).div_euclid(hz),
        };
        if self.last_slot.is_some_and(|last| slot <= last) {
            return None;
        }
        self.last_slot = Some(slot);
        Some(if cap.onto_grid {
            Ts90k(slot * hz / fps)
        } else {
            pts
        })
    }
}

/// Guards on what a source's stream turns out to hold (its probe may have declared less).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SourceLimits {
    /// Hand out at most this many frames per second (frames go, time stays).
    pub max_fps: Option<FrameRateCap>,
    /// The decoder refuses pictures over this many pixels (libavcodec's `max_pixels`).
    pub max_pixels: Option<u64>,
    /// A video frame past this pts ends the run with [`EngineError::SourceTooLong`].
    pub max_duration: Option<Ts90k>,
}

/// What [`Source::run`] hands out, in decode order.
pub enum Decoded {
    /// An upright frame and its pts (90 kHz, on the timeline the [`Origin`] defines).
    Video(frame::Video, Ts90k),
    /// Stereo (or 5.1) 48 kHz planar float, pts in 1/48000 s on the same timeline;
    /// `track` is the position of its stream in [`SourceOptions::audio_tracks`] (or, for
    /// 5.1, as [`SourceOptions::surround_tracks`] says).
    Audio { track: usize, frame: frame::Audio },
    /// The source-timeline pts (90 kHz) of the timeline's zero: handed out once, before
    /// the first frame, for whoever has timestamps of the source to move onto it.
    Origin(Ts90k),
}

pub struct Source {
    input: format::context::Input,
    video_index: usize,
    video_tb: Rational,
    video: decoder::Video,
    rotate: Option<Rotate>,
    rotation: u32,
    audio: Vec<AudioPath>,
    /// pts (90 kHz, source timeline) of the first video frame: the output's zero.
    origin: Option<Ts90k>,
    /// Whether [`Decoded::Origin`] has been handed out.
    origin_told: bool,
    last_pts: Option<Ts90k>,
    /// Nominal frame duration, for frames without a duration and for the end time.
    frame_duration: Ts90k,
    /// End of the last video frame handed out (90 kHz, output timeline).
    end: Ts90k,
    /// Video frames before this pts are decoded (to reach it) but not handed out.
    start: Ts90k,
    limits: SourceLimits,
    frame_rate: FrameRateLimiter,
}

struct AudioPath {
    index: usize,
    tb: Rational,
    decoder: decoder::Audio,
    /// The output tracks made of it: each a `track` number and its conform graph.
    conforms: Vec<(usize, AudioConform)>,
    /// Audio decoded before the first video frame fixed the origin.
    early: Vec<frame::Audio>,
}

impl Source {
    /// Opens `path`, its best video stream and the chosen audio stream (if any).
    /// `audio_frame_size` is what the audio encoder wants per frame.
    pub fn open(path: &Path, options: &SourceOptions, audio_frame_size: u32) -> Result<Source> {
        let mut input = format::input(path).map_err(|e| EngineError::NotAVideo(e.to_string()))?;
        let container_start = super::ffi::input_start_time(&input).unwrap_or(0);
        let origin = match options.origin {
            Origin::FirstVideoFrame => None,
            Origin::ContainerStart => Some(Ts90k::from_time_base(
                container_start,
                Rational(1, ffmpeg_next::ffi::AV_TIME_BASE),
            )),
        };
        let start = options.start.unwrap_or(Ts90k::ZERO);
        let stream = input
            .streams()
            .best(media::Type::Video)
            .ok_or(EngineError::NoVideoStream)?;
        let video_index = stream.index();
        let video_tb = stream.time_base();
        let mut ctx = codec::Context::from_parameters(stream.parameters())
            .map_err(|e| EngineError::Undecodable(e.to_string()))?;
        // Each frame thread holds a picture: fewer threads for large ones.
        let declared = codec::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().video())
            .map(|d| super::ffi::picture_bytes(d.format(), d.width(), d.height()))
            .unwrap_or(0);
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: super::limits::decoder_threads(declared),
            ..Default::default()
        });
        if let Some(max) = options.limits.max_pixels {
            super::ffi::set_max_pixels(&mut ctx, max);
        }
        let mut video = ctx
            .decoder()
            .video()
            .map_err(|e| EngineError::Undecodable(e.to_string()))?;
        video.set_packet_time_base(video_tb);
        let rotation = stream_rotation(&stream);
        let rate = stream.avg_frame_rate();
        let frame_duration = if rate.numerator() > 0 && rate.denominator() > 0 {
            Ts90k::from_time_base(1, rate.invert())
        } else {
            Ts90k(3000)
        };

        let audio_streams: Vec<_> = input
            .streams()
            .filter(|s| s.parameters().medium() == media::Type::Audio)
            .collect();
        let mut audio: Vec<AudioPath> = Vec::new();
        let stereo = options
            .audio_tracks
            .iter()
            .filter(|n| audio_streams.get(**n).is_some())
            .count();
        let wanted = options
            .audio_tracks
            .iter()
            .map(|n| (*n, Mix::Stereo))
            .chain(options.surround_tracks.iter().map(|n| (*n, Mix::Surround)));
        let mut surround = 0;
        for (n, mix) in wanted {
            let Some(s) = audio_streams.get(n) else {
                continue;
            };
            let (track, frame_size) = match mix {
                Mix::Stereo => (audio.iter().map(|a| a.conforms.len()).sum(), audio_frame_size),
                Mix::Surround => {
                    surround += 1;
                    (stereo + surround - 1, SURROUND_FRAME_SIZE)
                }
            };
            let first = start.to_time_base(Rational(1, super::filters::AUDIO_RATE as i32));
            if let Some(path) = audio.iter_mut().find(|a| a.index == s.index()) {
                let rate_tb = Rational(1, path.decoder.rate().max(1) as i32);
                let conform = AudioConform::new(&path.decoder, rate_tb, frame_size, first, mix)?;
                path.conforms.push((track, conform));
                continue;
            }
            let tb = s.time_base();
            let mut dec = codec::Context::from_parameters(s.parameters())
                .and_then(|c| c.decoder().audio())
                .map_err(EngineError::ffmpeg("opening the audio decoder"))?;
            dec.set_packet_time_base(tb);
            // The conform graph's input time base is the sample rate, so pts we compute
            // below are exact sample counts.
            let rate_tb = Rational(1, dec.rate().max(1) as i32);
            let conform = AudioConform::new(&dec, rate_tb, frame_size, first, mix)?;
            audio.push(AudioPath {
                index: s.index(),
                tb,
                decoder: dec,
                conforms: vec![(track, conform)],
                early: Vec::new(),
            });
        }
        drop(audio_streams);
        // The demuxer skips the rest: other audio and subtitle tracks, and an HLS master's
        // other variants and renditions (libavformat's hls demuxer then never fetches
        // their segments).
        let keep: Vec<usize> = std::iter::once(video_index)
            .chain(audio.iter().map(|a| a.index))
            .collect();
        super::ffi::discard_streams_except(&mut input, &keep);
        if start > Ts90k::ZERO {
            // To the keyframe at or before the start, in AV_TIME_BASE (microseconds).
            let target = container_start + start.to_time_base(Rational(1, ffmpeg_next::ffi::AV_TIME_BASE));
            input
                .seek(target, ..target + 1)
                .map_err(|e| EngineError::Undecodable(format!("cannot seek: {e}")))?;
        }
        Ok(Source {
            input,
            video_index,
            video_tb,
            video,
            rotate: None,
            rotation,
            audio,
            origin,
            origin_told: false,
            last_pts: None,
            frame_duration,
            end: Ts90k::ZERO,
            start,
            limits: options.limits,
            frame_rate: FrameRateLimiter {
                cap: options.limits.max_fps,
                last_slot: None,
            },
        })
    }

    /// End of the last video frame handed out so far (output timeline).
    pub fn end(&self) -> Ts90k {
        self.end
    }

    /// Reads the whole input, handing every decoded item to `sink` in order. Stops early
    /// (returning `Ok`) when `sink` returns `Ok(false)`. A demux error after some frames
    /// ends the input there (a truncated file yields what was decodable); a decode error
    /// in one packet skips that packet.
    pub fn run(&mut self, sink: &mut dyn FnMut(Decoded) -> Result<bool>) -> Result<()> {
        loop {
            // A fresh packet each time: `Packet::read` (av_read_frame) does not unref the
            // packet it is given, so reusing one leaked every packet's buffer before the
            // last (the whole input's bytes, over a transcode).
            let mut packet = ffmpeg_next::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => break,
                Err(e) => {
                    if self.last_pts.is_none() {
                        return Err(EngineError::Undecodable(e.to_string()));
                    }
                    log::warn!("input ends early after {:.3}s: {e}", self.end.secs());
                    break;
                }
            }
            let index = packet.stream();
            if index == self.video_index {
                if self.video.send_packet(&packet).is_err() {
                    continue;
                }
                if !self.receive_video(sink)? {
                    return Ok(());
                }
            } else if let Some(track) = self.audio.iter().position(|a| a.index == index) {
                if self.audio[track].decoder.send_packet(&packet).is_err() {
                    continue;
                }
                if !self.receive_audio(track, sink)? {
                    return Ok(());
                }
            }
        }
        // Drain in order: decoders, then filters.
        let _ = self.video.send_eof();
        if !self.receive_video(sink)? {
            return Ok(());
        }
        for track in 0..self.audio.len() {
            let _ = self.audio[track].decoder.send_eof();
            if !self.receive_audio(track, sink)? {
                return Ok(());
            }
        }
        if self.last_pts.is_none() {
            return Err(EngineError::Undecodable("no video frame could be decoded".into()));
        }
        if !self.flush_early(sink)? {
            return Ok(());
        }
        for path in &mut self.audio {
            for (track, conform) in &mut path.conforms {
                let mut out = Vec::new();
                conform.run(None, &mut out)?;
                for frame in out {
                    if !sink(Decoded::Audio { track: *track, frame })? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn receive_video(&mut self, sink: &mut dyn FnMut(Decoded) -> Result<bool>) -> Result<bool> {
        let mut decoded = frame::Video::empty();
        while self.video.receive_frame(&mut decoded).is_ok() {
            let source_pts = match decoded.timestamp() {
                Some(ts) => Ts90k::from_time_base(ts, self.video_tb),
                None => match self.last_pts {
                    Some(last) => last + self.frame_duration + self.origin.unwrap_or_default(),
                    None => Ts90k::ZERO,
                },
            };
            let origin = *self.origin.get_or_insert(source_pts);
            let pts = source_pts - origin;
            // Encoders need strictly increasing pts: drop a frame that goes back.
            if self.last_pts.is_some_and(|last| pts <= last) {
                continue;
            }
            let duration = match decoded.packet().duration {
                d if d > 0 => Ts90k::from_time_base(d, self.video_tb),
                _ => self.frame_duration,
            };
            self.last_pts = Some(pts);
            self.end = pts + duration;
            if pts + duration <= self.start {
                continue; // decoded only to reach the start position
            }
            if let Some(max) = self.limits.max_duration.filter(|max| pts > *max) {
                return Err(EngineError::SourceTooLong {
                    seconds: pts.secs(),
                    max_seconds: max.secs(),
                });
            }
            let Some(pts) = self.frame_rate.admit(pts) else {
                continue;
            };
            if !self.flush_early(sink)? {
                return Ok(false);
            }
            if !self.origin_told {
                self.origin_told = true;
                if !sink(Decoded::Origin(origin))? {
                    return Ok(false);
                }
            }
            let upright = self.upright(decoded)?;
            decoded = frame::Video::empty();
            for f in upright {
                if !sink(Decoded::Video(f, pts))? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn upright(&mut self, frame: frame::Video) -> Result<Vec<frame::Video>> {
        if self.rotation == 0 {
            return Ok(vec![frame]);
        }
        if self.rotate.is_none() {
            let sar = normalized_sar(frame.aspect_ratio());
            self.rotate = Some(Rotate::new(
                self.rotation,
                frame.width(),
                frame.height(),
                frame.format(),
                sar,
                self.video_tb,
            )?);
        }
        let mut out = Vec::with_capacity(1);
        self.rotate.as_mut().expect("set above").run(&frame, &mut out)?;
        Ok(out)
    }

    fn receive_audio(&mut self, track: usize, sink: &mut dyn FnMut(Decoded) -> Result<bool>) -> Result<bool> {
        let a = &mut self.audio[track];
        let mut decoded = frame::Audio::empty();
        while a.decoder.receive_frame(&mut decoded).is_ok() {
            a.early
                .push(std::mem::replace(&mut decoded, frame::Audio::empty()));
        }
        if self.origin.is_some() {
            return self.flush_early(sink);
        }
        Ok(true)
    }

    /// Once the origin is known, passes decoded audio through the conform graph with
    /// pts rebased to the first video frame (in 1/sample_rate units).
    fn flush_early(&mut self, sink: &mut dyn FnMut(Decoded) -> Result<bool>) -> Result<bool> {
        let Some(origin) = self.origin else {
            return Ok(true);
        };
        for a in self.audio.iter_mut() {
            if a.early.is_empty() {
                continue;
            }
            let mut out: Vec<Vec<frame::Audio>> = a.conforms.iter().map(|_| Vec::new()).collect();
            for mut f in a.early.drain(..) {
                let rate_tb = Rational(1, f.rate().max(1) as i32);
                if let Some(ts) = f.timestamp() {
                    let rebased = Ts90k::from_time_base(ts, a.tb) - origin;
                    f.set_pts(Some(rebased.to_time_base(rate_tb)));
                }
                // A buffer source takes the frame's data: each graph but the last gets a
                // copy.
                let last = a.conforms.len() - 1;
                for (k, ((_, conform), out)) in a.conforms.iter_mut().zip(&mut out).enumerate() {
                    match k == last {
                        true => conform.run(Some(&f), out)?,
                        false => conform.run(Some(&f.clone()), out)?,
                    }
                }
            }
            for ((track, _), out) in a.conforms.iter().zip(out) {
                for frame in out {
                    if !sink(Decoded::Audio { track: *track, frame })? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admitted pts of frames at `pts`, under a cap of `fps`.
    fn admitted(fps: u32, onto_grid: bool, pts: impl Iterator<Item = i64>) -> Vec<i64> {
        let mut limiter = FrameRateLimiter {
            cap: Some(FrameRateCap { fps, onto_grid }),
            last_slot: None,
        };
        pts.filter_map(|t| limiter.admit(Ts90k(t))).map(|t| t.0).collect()
    }

    #[test]
    fn a_1000_fps_source_becomes_60_fps_on_the_grid_for_as_long() {
        let out = admitted(60, true, (0..2000).map(|n| n * 90));
        assert_eq!(out.len(), 120);
        assert!(out.iter().enumerate().all(|(i, t)| *t == i as i64 * 1500));
    }

    #[test]
    fn sources_at_or_under_the_cap_keep_every_frame_and_their_pts() {
        // 59.94 fps, and 60 fps in a 1/1000 time base (pts rounded to the millisecond).
        let ntsc: Vec<i64> = (0..600).map(|n| n * 1501 + n / 2).collect();
        assert_eq!(admitted(60, false, ntsc.iter().copied()), ntsc);
        let ms: Vec<i64> = (0..600).map(|n| (n * 1000 / 60) * 90).collect();
        assert_eq!(admitted(60, false, ms.iter().copied()), ms);
        // A burst of a variable-rate source: frames 2 ms apart share a slot.
        assert_eq!(
            admitted(60, false, [0, 180, 1500, 3000].into_iter()),
            vec![0, 1500, 3000]
        );
    }
}

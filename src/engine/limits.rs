//! What a source may demand of the machine, and the memory a transcode may take for it.
//!
//! An upload declares its picture size, frame rate and duration, and a 200 KB H.264 file
//! may declare 8192x8192 at 1000 fps. [`Limits`] are the operator's answer (flags of
//! `reel serve` and `reel transcode`): a source over `max_source_pixels` or
//! `max_duration_secs` is refused from its probe, before any frame is decoded; the ladder
//! stops at `max_short_side` (bigger sources are scaled down); output frame rates stop at
//! `max_fps` (frames are dropped, the duration stays).
//!
//! The rest of this module sizes what a transcode holds per picture, so that its memory
//! depends on these limits and not on the upload ([`queue_depth`], [`decoder_threads`],
//! [`x264_threads`], [`x264_lookahead`]); docs/architecture.md does the arithmetic.

use super::error::{EngineError, Result};
use super::ffi;
use super::ladder::Rung;
use super::probe::Probe;
use super::source::{FrameRateCap, SourceLimits};
use crate::time::Ts90k;

/// `--max-height`: the largest rung number (short side) by default, 2160 (4K UHD).
pub const DEFAULT_MAX_SHORT_SIDE: u32 = 2160;
/// `--max-source-pixels`: 8192x4320 (8K full format), the largest picture by default.
pub const DEFAULT_MAX_SOURCE_PIXELS: u64 = 8192 * 4320;
/// `--max-fps`: the highest output frame rate by default; what every device decodes.
pub const DEFAULT_MAX_FPS: u32 = 60;

/// The operator's limits on sources and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest rung number (short side of the picture); bigger sources are scaled down.
    pub max_short_side: u32,
    /// Largest coded source picture, width x height; bigger sources are refused.
    pub max_source_pixels: u64,
    /// Highest output frame rate; faster sources lose frames, not time.
    pub max_fps: u32,
    /// Longest source in seconds; longer sources are refused (`None`: no limit).
    pub max_duration_secs: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_short_side: DEFAULT_MAX_SHORT_SIDE,
            max_source_pixels: DEFAULT_MAX_SOURCE_PIXELS,
            max_fps: DEFAULT_MAX_FPS,
            max_duration_secs: None,
        }
    }
}

impl Limits {
    /// No limit beyond libavcodec's own (`max_pixels` INT_MAX): for looking at a file.
    pub fn none() -> Limits {
        Limits {
            max_short_side: u32::MAX,
            max_source_pixels: i32::MAX as u64,
            max_fps: u32::MAX,
            max_duration_secs: None,
        }
    }

    /// Refuses a source whose probe is over the picture or duration limit.
    pub fn check(&self, probe: &Probe) -> Result<()> {
        self.check_picture(probe.video.width, probe.video.height)?;
        if let Some(max) = self.max_duration_secs {
            if probe.duration > max {
                return Err(EngineError::SourceTooLong {
                    seconds: probe.duration,
                    max_seconds: max,
                });
            }
        }
        Ok(())
    }

    /// Refuses a coded picture over `max_source_pixels`.
    pub fn check_picture(&self, width: u32, height: u32) -> Result<()> {
        if u64::from(width) * u64::from(height) > self.max_source_pixels {
            return Err(EngineError::SourceTooLarge {
                width,
                height,
                max_pixels: self.max_source_pixels,
            });
        }
        Ok(())
    }

    /// What the decode thread of a transcode of `source` enforces: the frame rate (put
    /// on the output's grid when the source is declared faster), the duration, and the
    /// picture size: what the probe saw, or 1080p if smaller. A stream that grows mid-way
    /// (a second SPS: a 286 KB MPEG-TS of 160x90 then 8192x4320 took 450 MB) cannot
    /// outgrow what the frames in flight were sized for; its larger pictures do not decode.
    pub fn for_source(&self, source: &Probe) -> SourceLimits {
        let declared = u64::from(source.video.width) * u64::from(source.video.height);
        let picture = declared.max(u64::from(GROWTH_ALLOWED_PIXELS));
        SourceLimits {
            max_fps: Some(FrameRateCap {
                fps: self.max_fps,
                onto_grid: source.video.frame_rate > f64::from(self.max_fps),
            }),
            max_pixels: Some(with_stride_slack(picture).min(self.decoder_max_pixels())),
            max_duration: self.max_duration_secs.map(Ts90k::from_secs),
        }
    }

    /// The `max_pixels` a decoder is opened with: libavcodec refuses to allocate a picture
    /// above it, so a stream that grows mid-way (a second SPS) cannot outgrow the limit.
    pub fn decoder_max_pixels(&self) -> u64 {
        with_stride_slack(self.max_source_pixels)
    }
}

/// A stream may grow mid-way up to this size (1080p) whatever its probe said: the frames
/// in flight for any smaller picture are sized for it anyway (16 of 3 MB).
pub const GROWTH_ALLOWED_PIXELS: u32 = 1920 * 1088;

/// `pixels` and an eighth: libavcodec counts a line padded to its stride alignment.
fn with_stride_slack(pixels: u64) -> u64 {
    pixels.saturating_add(pixels / 8)
}

/// Bytes of one upright decoded picture of `source` (16-bit 4:4:4 when the pixel format
/// is unknown: the most it can be).
pub fn source_picture_bytes(source: &Probe) -> usize {
    let (w, h) = (source.video.width, source.video.height);
    match source.video.pix_fmt.parse::<ffmpeg_next::format::Pixel>() {
        Ok(pixel) if ffi::picture_bytes(pixel, w, h) > 0 => ffi::picture_bytes(pixel, w, h),
        _ => w as usize * h as usize * 6,
    }
}

/// Bytes of one scaled picture of `rung` (8-bit 4:2:0).
pub fn rung_picture_bytes(rung: &Rung) -> usize {
    rung.width as usize * rung.height as usize * 3 / 2
}

/// Bytes of frames a channel between the decoder and a rung (or a rung and the rungs
/// scaled from it) may hold.
pub const QUEUE_BYTES: usize = 128 << 20;
/// Most frames a channel holds, whatever their size: enough to smooth out rungs that
/// run at different speeds.
pub const MAX_QUEUE_FRAMES: usize = 16;
/// Fewest frames a channel holds: one being handed over while one is queued.
pub const MIN_QUEUE_FRAMES: usize = 2;

/// How many frames of `frame_bytes` a channel may hold: [`QUEUE_BYTES`] worth, within
/// [`MIN_QUEUE_FRAMES`]..=[`MAX_QUEUE_FRAMES`] (16 up to 8 MiB a frame: 1440p 4:2:0).
pub fn queue_depth(frame_bytes: usize) -> usize {
    (QUEUE_BYTES / frame_bytes.max(1)).clamp(MIN_QUEUE_FRAMES, MAX_QUEUE_FRAMES)
}

/// Bytes of pictures a frame-threaded decoder may hold in flight, one per thread.
pub const DECODER_BYTES: usize = 128 << 20;

/// Decoder frame threads for pictures of `frame_bytes`: libavcodec's own choice (0: the
/// cores plus one, at most 16) while that fits in [`DECODER_BYTES`], else as many as fit
/// (at least 1). Each frame thread holds a picture, and output lags a frame per thread.
pub fn decoder_threads(frame_bytes: usize) -> usize {
    let libavcodec_choice = (std::thread::available_parallelism().map_or(2, |n| n.get()) + 1).min(16);
    match DECODER_BYTES / frame_bytes.max(1) {
        fit if fit >= libavcodec_choice => 0,
        fit => fit.max(1),
    }
}

/// Bytes of reference pictures x264's frame threads may hold: each thread encodes a
/// picture of its own into a reference frame with half-pel planes, about 4.5 bytes a
/// pixel (40 MB at 4096x2160, 10 MB at 1920x1080).
pub const X264_THREAD_BYTES: usize = 96 << 20;

/// x264 frame threads for a rung of `width` x `height`: x264's own choice (0: 1.5 x the
/// cores) while that fits in [`X264_THREAD_BYTES`], else as many as fit (at least 1).
pub fn x264_threads(width: u32, height: u32) -> usize {
    let reference_bytes = width as usize * height as usize * 9 / 2;
    let x264_choice = std::thread::available_parallelism().map_or(2, |n| n.get()) * 3 / 2;
    let fit = X264_THREAD_BYTES / reference_bytes.max(1);
    if fit >= x264_choice {
        0
    } else {
        fit.max(1)
    }
}

/// Pictures larger than this (1080p) get at most [`X264_LARGE_LOOKAHEAD`].
pub const X264_LARGE_PIXELS: u32 = 1920 * 1088;
/// Frames x264 looks ahead in a large picture (`rc-lookahead`; `veryfast` uses 10, the
/// slower presets up to 60), each about 2.5 bytes a pixel with its quarter-size planes.
pub const X264_LARGE_LOOKAHEAD: u32 = 10;

/// x264's `rc-lookahead` for a rung of `width` x `height` (`None`: the preset's).
pub fn x264_lookahead(width: u32, height: u32) -> Option<u32> {
    (width * height > X264_LARGE_PIXELS).then_some(X264_LARGE_LOOKAHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_flight_shrink_with_the_picture() {
        let yuv420 = |w: usize, h: usize| w * h * 3 / 2;
        assert_eq!(queue_depth(yuv420(1920, 1080)), MAX_QUEUE_FRAMES);
        assert_eq!(queue_depth(yuv420(8192, 4320)), MIN_QUEUE_FRAMES);
        assert_eq!(queue_depth(yuv420(4096, 2160)), 10);
        assert_eq!(queue_depth(yuv420(8192, 8192) * 4), MIN_QUEUE_FRAMES);
        assert_eq!(decoder_threads(yuv420(1280, 720)), 0);
        let threads_8k = match decoder_threads(yuv420(8192, 4320)) {
            0 => std::thread::available_parallelism().unwrap().get() + 1,
            n => n,
        };
        assert!(threads_8k * yuv420(8192, 4320) <= DECODER_BYTES);
        assert_eq!(decoder_threads(yuv420(8192, 8192) * 4), 1);
        assert!(matches!(x264_threads(4096, 2160), 1 | 2));
        assert!(x264_threads(1280, 720) == 0 || x264_threads(1280, 720) >= 8);
    }

    #[test]
    fn the_default_picture_limit_is_8k_inclusive() {
        let limits = Limits::default();
        assert!(limits.check_picture(8192, 4320).is_ok());
        assert!(limits.check_picture(4320, 8192).is_ok());
        assert!(matches!(
            limits.check_picture(8192, 8192),
            Err(EngineError::SourceTooLarge { .. })
        ));
    }
}

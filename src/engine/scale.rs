//! Scaling a decoded picture to a rung: any size, pixel format and bit depth in, the
//! rung's size as 8-bit yuv420p out (swscale, bicubic, the ffmpeg CLI's default).
//!
//! `software::scaling::Context` is not `Send`: a [`Scaler`] is built on the thread that
//! uses it, and rebuilt when the input's size or format changes mid-stream.
//!
//! A picture already at the rung's size in yuv420p is passed through (a new reference to
//! its buffers, as the CLI's `scale` filter does), and scaled pictures are written into a
//! small pool of frames: the encoder copies what it is sent before `send_frame` returns,
//! so the same frame comes back at once unless a smaller rung scaling from this one
//! still holds it. A fresh 3 MB frame per 1080p picture only cost page faults.

use ffmpeg_next::{format, frame, software::scaling};

use super::error::{EngineError, Result};
use super::ffi;

pub struct Scaler {
    width: u32,
    height: u32,
    /// yuv420p for the encoders; yuvj420p (full range) for JPEG pictures.
    format: format::Pixel,
    context: Option<(scaling::Context, u32, u32, format::Pixel)>,
    /// Frames scaled pictures are written into; one no one else references is reused.
    pool: Vec<frame::Video>,
    /// The last picture passed through unscaled.
    passed: frame::Video,
}

impl Scaler {
    pub fn new(width: u32, height: u32) -> Scaler {
        Scaler::with_format(width, height, format::Pixel::YUV420P)
    }

    /// A scaler to another 8-bit 4:2:0 format (the storyboard's full-range yuvj420p).
    pub fn with_format(width: u32, height: u32, format: format::Pixel) -> Scaler {
        Scaler {
            width,
            height,
            format,
            context: None,
            pool: Vec::new(),
            passed: frame::Video::empty(),
        }
    }

    /// `input` as a picture of the target size and format, valid until the next call.
    pub fn run(&mut self, input: &frame::Video) -> Result<&mut frame::Video> {
        let (w, h, f) = (input.width(), input.height(), input.format());
        if w == self.width && h == self.height && f == self.format {
            self.passed = ffi::frame_ref(input).map_err(EngineError::ffmpeg("referencing a frame"))?;
            return Ok(&mut self.passed);
        }
        self.passed = frame::Video::empty();
        if !matches!(&self.context, Some((_, cw, ch, cf)) if *cw == w && *ch == h && *cf == f) {
            let ctx = scaling::Context::get(
                f,
                w,
                h,
                self.format,
                self.width,
                self.height,
                scaling::Flags::BICUBIC,
            )
            .map_err(EngineError::ffmpeg("creating a scaler"))?;
            self.context = Some((ctx, w, h, f));
        }
        let free = match self.pool.iter_mut().position(ffi::is_writable) {
            Some(i) => i,
            None => {
                self.pool
                    .push(frame::Video::new(self.format, self.width, self.height));
                self.pool.len() - 1
            }
        };
        let out = &mut self.pool[free];
        let (ctx, ..) = self.context.as_mut().expect("built above");
        ctx.run(input, out).map_err(EngineError::ffmpeg("scaling"))?;
        Ok(out)
    }
}

//! Scaling a decoded picture to a rung: any size, pixel format and bit depth in, the
//! rung's size as 8-bit yuv420p out (swscale, bicubic, the ffmpeg CLI's default).
//!
//! `software::scaling::Context` is not `Send`: a [`Scaler`] is built on the thread that
//! uses it, and rebuilt when the input's size or format changes mid-stream.

use ffmpeg_next::{format, frame, software::scaling};

use super::error::{EngineError, Result};

pub struct Scaler {
    width: u32,
    height: u32,
    context: Option<(scaling::Context, u32, u32, format::Pixel)>,
}

impl Scaler {
    pub fn new(width: u32, height: u32) -> Scaler {
        Scaler {
            width,
            height,
            context: None,
        }
    }

    /// Scales `input` into a new yuv420p frame of the target size.
    pub fn run(&mut self, input: &frame::Video) -> Result<frame::Video> {
        let (w, h, f) = (input.width(), input.height(), input.format());
        if !matches!(&self.context, Some((_, cw, ch, cf)) if *cw == w && *ch == h && *cf == f) {
            let ctx = scaling::Context::get(
                f,
                w,
                h,
                format::Pixel::YUV420P,
                self.width,
                self.height,
                scaling::Flags::BICUBIC,
            )
            .map_err(EngineError::ffmpeg("creating a scaler"))?;
            self.context = Some((ctx, w, h, f));
        }
        let mut out = frame::Video::empty();
        let (ctx, ..) = self.context.as_mut().expect("built above");
        ctx.run(input, &mut out).map_err(EngineError::ffmpeg("scaling"))?;
        Ok(out)
    }
}

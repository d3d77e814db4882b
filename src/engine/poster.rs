//! `poster.jpg`: a representative frame, not the black first frame most videos open with.
//!
//! The decode thread offers frames near a few instants (10 %, 30 % and 50 % of the
//! duration); each is scaled to a 640-pixel-wide thumbnail and scored by the spread of
//! its luma (a black, white or flat frame scores near zero). The first candidate is
//! stored at once, so a video still processing already has a poster; a better-scoring
//! later one replaces it. Candidates are stored as short-lived objects; the winner is
//! stored again as immutable when decoding ends ([`PosterPicker::finish`]), so a CDN never
//! keeps an early candidate forever.

use ffmpeg_next::{codec, encoder, format, frame, software::scaling, Dictionary, Packet, Rational};

use super::error::{EngineError, Result};
use crate::storage::{Freshness, VideoObjects};
use crate::time::Ts90k;

/// Width of the poster image (height follows the picture's aspect, rounded to even).
pub const POSTER_WIDTH: u32 = 640;

/// Fractions of the duration at which a candidate frame is taken.
const INSTANTS: [f64; 3] = [0.1, 0.3, 0.5];

/// The poster's name in the video's tree.
pub const POSTER: &str = "poster.jpg";

pub struct PosterPicker {
    out: VideoObjects,
    /// The best candidate's JPEG so far.
    best: Option<Vec<u8>>,
    instants: Vec<Ts90k>,
    best_score: f64,
    scaler: Option<(scaling::Context, u32, u32)>,
}

impl PosterPicker {
    pub fn new(out: VideoObjects, duration: Ts90k) -> PosterPicker {
        let mut instants: Vec<Ts90k> = INSTANTS
            .iter()
            .map(|f| Ts90k((duration.0 as f64 * f) as i64))
            .collect();
        instants.reverse(); // popped from the end, earliest first
        PosterPicker {
            out,
            best: None,
            instants,
            best_score: -1.0,
            scaler: None,
        }
    }

    /// Offers an upright decoded frame at `pts`; a no-op unless `pts` reached the next
    /// candidate instant.
    pub fn offer(&mut self, frame: &frame::Video, pts: Ts90k) -> Result<()> {
        match self.instants.last() {
            Some(t) if pts >= *t => {}
            _ => return Ok(()),
        }
        while self.instants.last().is_some_and(|t| pts >= *t) {
            self.instants.pop();
        }
        let thumb = self.thumbnail(frame)?;
        let score = luma_spread(&thumb);
        if score > self.best_score + 1.0 {
            self.best_score = score;
            let jpeg = encode_jpeg(&thumb, JpegQuality::Poster)?;
            self.out
                .put(POSTER, jpeg.clone(), Freshness::Growing)
                .map_err(EngineError::io("storing the poster"))?;
            self.best = Some(jpeg);
        }
        Ok(())
    }

    /// Stores the chosen poster for good (immutable): call once decoding has ended.
    pub fn finish(&mut self) -> Result<()> {
        match self.best.take() {
            Some(jpeg) => self
                .out
                .put(POSTER, jpeg, Freshness::Immutable)
                .map_err(EngineError::io("storing the poster")),
            None => Ok(()),
        }
    }

    fn thumbnail(&mut self, frame: &frame::Video) -> Result<frame::Video> {
        let (w, h) = (frame.width(), frame.height());
        let tw = POSTER_WIDTH.min(w.max(2)) & !1;
        let th = (((f64::from(tw) * f64::from(h) / f64::from(w)) / 2.0).round() as u32 * 2).max(2);
        let rebuild = !matches!(&self.scaler, Some((_, sw, sh)) if *sw == w && *sh == h);
        if rebuild {
            let ctx = scaling::Context::get(
                frame.format(),
                w,
                h,
                format::Pixel::YUVJ420P,
                tw,
                th,
                scaling::Flags::BICUBIC,
            )
            .map_err(EngineError::ffmpeg("creating the poster scaler"))?;
            self.scaler = Some((ctx, w, h));
        }
        let mut out = frame::Video::empty();
        let (scaler, _, _) = self.scaler.as_mut().expect("scaler set above");
        scaler
            .run(frame, &mut out)
            .map_err(EngineError::ffmpeg("scaling the poster"))?;
        Ok(out)
    }
}

/// Standard deviation of the luma plane, sampled every 4th pixel.
fn luma_spread(f: &frame::Video) -> f64 {
    let (w, h, stride) = (f.width() as usize, f.height() as usize, f.stride(0));
    let data = f.data(0);
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for y in (0..h).step_by(4) {
        for x in (0..w).step_by(4) {
            let v = f64::from(data[y * stride + x]);
            n += 1.0;
            sum += v;
            sq += v * v;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sq / n - mean * mean).max(0.0).sqrt()
}

/// How hard the JPEG encoder squeezes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JpegQuality {
    /// Rate control on one frame: ~200 kB per frame at 25 fps keeps quantisers low.
    Poster,
    /// A fixed quantiser (2 best .. 31 worst), whatever the picture's size: the
    /// storyboard's sheets are large and need only be recognisable.
    Quantiser(i32),
}

/// Encodes one full-range yuv420p frame as a JPEG image.
pub(super) fn encode_jpeg(f: &frame::Video, quality: JpegQuality) -> Result<Vec<u8>> {
    let codec = encoder::find(codec::Id::MJPEG)
        .ok_or_else(|| EngineError::Internal("libavcodec has no MJPEG encoder".into()))?;
    let mut enc = codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(EngineError::ffmpeg("creating the JPEG encoder"))?;
    enc.set_width(f.width());
    enc.set_height(f.height());
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base(Rational(1, 25));
    match quality {
        JpegQuality::Poster => enc.set_bit_rate(40_000_000),
        JpegQuality::Quantiser(q) => {
            // The rate control's choice is clamped to [qmin, qmax]: one value pins it.
            enc.set_qmin(q);
            enc.set_qmax(q);
        }
    }
    let mut enc = enc
        .open_with(Dictionary::new())
        .map_err(EngineError::ffmpeg("opening the JPEG encoder"))?;
    let mut frame = f.clone();
    frame.set_pts(Some(0));
    enc.send_frame(&frame)
        .map_err(EngineError::ffmpeg("encoding a JPEG"))?;
    enc.send_eof()
        .map_err(EngineError::ffmpeg("flushing the JPEG encoder"))?;
    let mut packet = Packet::empty();
    enc.receive_packet(&mut packet)
        .map_err(EngineError::ffmpeg("receiving a JPEG"))?;
    packet
        .data()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| EngineError::Internal("empty JPEG".into()))
}

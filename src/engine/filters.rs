//! Small libavfilter graphs the engine needs once per source, not once per rung.
//!
//! * [`Rotate`]: applies a display-matrix rotation (`transpose`, `hflip,vflip`) right
//!   after decoding, so every rung scales an upright picture.
//! * [`AudioConform`]: resamples any audio to stereo (or 5.1, [`Mix`]) 48 kHz planar
//!   float in frames of exactly the encoder's frame size, padding or trimming against
//!   timestamps so audio stays in sync with video (`aresample` with `async` and
//!   `first_pts`).

use ffmpeg_next::{filter, format, frame, Rational};

use super::error::{EngineError, Result};

/// Output sample rate of the shared AAC track (and of the AC-3 surround one).
pub const AUDIO_RATE: u32 = 48_000;

/// Samples per frame of the AC-3 encoder (6 blocks of 256), what a surround track's
/// conform graph hands out.
pub const SURROUND_FRAME_SIZE: u32 = 1536;

/// The channels an audio track is conformed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Stereo: every track's AAC rendition (5.1 and 7.1 downmixed by swresample).
    Stereo,
    /// 5.1 (`FL FR FC LFE BL BR`; a `5.1(side)` source's side surrounds map onto the
    /// back ones as they are, a 7.1 source's four surrounds are mixed into two): a
    /// 6-or-more-channel track's AC-3 rendition (AC-3's 3/2 mode has one pair of
    /// surrounds, either way).
    Surround,
}

impl Mix {
    /// `aformat`'s `channel_layouts`.
    fn layouts(self) -> &'static str {
        match self {
            Mix::Stereo => "stereo",
            Mix::Surround => "5.1",
        }
    }
}

fn graph_error(context: &'static str) -> impl FnOnce(ffmpeg_next::Error) -> EngineError {
    EngineError::ffmpeg(context)
}

fn find(name: &str) -> Result<filter::Filter> {
    filter::find(name).ok_or_else(|| EngineError::Internal(format!("libavfilter lacks {name}")))
}

/// Turns decoded frames upright. Frame pts pass through unchanged.
pub struct Rotate {
    graph: filter::Graph,
}

impl Rotate {
    /// `clockwise` is 90, 180 or 270. `time_base` is the frames' pts time base.
    pub fn new(
        clockwise: u32,
        width: u32,
        height: u32,
        pix: format::Pixel,
        sar: (i32, i32),
        time_base: Rational,
    ) -> Result<Rotate> {
        let spec = match clockwise {
            90 => "transpose=clock",
            180 => "hflip,vflip",
            270 => "transpose=cclock",
            other => return Err(EngineError::Internal(format!("unsupported rotation {other}"))),
        };
        let mut graph = filter::Graph::new();
        let args = format!(
            "video_size={width}x{height}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            ffmpeg_next::ffi::AVPixelFormat::from(pix) as i32,
            time_base.numerator(),
            time_base.denominator(),
            sar.0,
            sar.1
        );
        graph
            .add(&find("buffer")?, "in", &args)
            .map_err(graph_error("rotation filter source"))?;
        graph
            .add(&find("buffersink")?, "out", "")
            .map_err(graph_error("rotation filter sink"))?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(spec))
            .map_err(graph_error("rotation filter graph"))?;
        graph.validate().map_err(graph_error("rotation filter graph"))?;
        Ok(Rotate { graph })
    }

    /// Pushes one frame and appends the upright frames that come out to `out`.
    pub fn run(&mut self, input: &frame::Video, out: &mut Vec<frame::Video>) -> Result<()> {
        self.graph
            .get("in")
            .expect("graph has an input")
            .source()
            .add(input)
            .map_err(graph_error("rotating a frame"))?;
        pull(&mut self.graph, out, frame::Video::empty);
        Ok(())
    }
}

/// Resamples decoded audio to the encoder's format in fixed-size frames.
pub struct AudioConform {
    graph: filter::Graph,
}

impl AudioConform {
    /// `time_base` is the input frames' pts time base; output pts count 1/48000 s and
    /// start at `first_pts` (silence padded or samples trimmed to get there).
    pub fn new(
        decoder: &ffmpeg_next::decoder::Audio,
        time_base: Rational,
        frame_size: u32,
        first_pts: i64,
        mix: Mix,
    ) -> Result<AudioConform> {
        let layout = if decoder.channel_layout().is_empty() {
            ffmpeg_next::ChannelLayout::default(i32::from(decoder.channels()))
        } else {
            decoder.channel_layout()
        };
        let mut graph = filter::Graph::new();
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            time_base.numerator(),
            time_base.denominator(),
            decoder.rate(),
            decoder.format().name(),
            layout.bits()
        );
        graph
            .add(&find("abuffer")?, "in", &args)
            .map_err(graph_error("audio filter source"))?;
        graph
            .add(&find("abuffersink")?, "out", "")
            .map_err(graph_error("audio filter sink"))?;
        let spec = format!(
            "aresample={AUDIO_RATE}:async=1:first_pts={first_pts},aformat=sample_fmts=fltp:channel_layouts={}:sample_rates={AUDIO_RATE}",
            mix.layouts()
        );
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(&spec))
            .map_err(graph_error("audio filter graph"))?;
        graph.validate().map_err(graph_error("audio filter graph"))?;
        graph
            .get("out")
            .expect("graph has an output")
            .sink()
            .set_frame_size(frame_size);
        Ok(AudioConform { graph })
    }

    /// Pushes one decoded frame (or `None` at the end) and appends ready frames to `out`.
    pub fn run(&mut self, input: Option<&frame::Audio>, out: &mut Vec<frame::Audio>) -> Result<()> {
        let mut src = self.graph.get("in").expect("graph has an input");
        match input {
            Some(f) => src.source().add(f).map_err(graph_error("resampling audio"))?,
            None => src.source().flush().map_err(graph_error("flushing audio"))?,
        }
        pull(&mut self.graph, out, frame::Audio::empty);
        Ok(())
    }
}

/// Moves every frame the graph's sink has ready into `out` (until it asks for more input).
fn pull<F: std::ops::DerefMut<Target = frame::Frame>>(
    graph: &mut filter::Graph,
    out: &mut Vec<F>,
    empty: fn() -> F,
) {
    loop {
        let mut f = empty();
        match graph
            .get("out")
            .expect("graph has an output")
            .sink()
            .frame(&mut f)
        {
            Ok(()) => out.push(f),
            Err(_) => return,
        }
    }
}

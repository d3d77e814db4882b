//! `reel sample`: generated test clips, made in-process from lavfi sources.
//!
//! Video comes from `testsrc2` (moving, colourful, with a frame counter: easy to check by
//! eye and hard to compress to nothing), audio from `sine` at a different pitch per
//! track, and subtitles are SubRip cues written as packets (`{lang} subtitle {n}` from
//! 0.5 s to 1.5 s of every 2 s, so one spans each early segment boundary). Options cover
//! what the engine must cope with: odd sizes, portrait, a rotation
//! tag, 10-bit or 4:4:4 pictures, variable frame rate, several audio and subtitle tracks
//! (languages `eng`, `fra`, `deu`, `spa` in turn), and hostile
//! sizes and rates: a black picture (`color`) makes an 8192x8192 clip of a few hundred KB
//! in seconds. Tests and the demo content use this, so no test ever needs a media file on
//! disk first.

use std::path::Path;

use ffmpeg_next::{codec, encoder, filter, format, frame, Dictionary, Packet, Rational};

use super::error::{EngineError, Result};
use super::ffi;

/// What clip to make.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSpec {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub fps: u32,
    /// Number of audio tracks (0 for none), each a sine at its own pitch.
    pub audio_tracks: u32,
    /// Track `n` is a sine at `440 + n * tone_step` Hz.
    pub tone_step: u32,
    /// Channels of every audio track: 2 (stereo), 6 (5.1) or 8 (7.1). Each channel of a
    /// surround track has a pitch of its own (`aevalsrc`), so a downmix or a channel
    /// mix-up shows.
    pub audio_channels: u16,
    /// Number of SubRip subtitle tracks (the container must hold them: `.mkv`).
    pub subtitle_tracks: u32,
    /// Pixel format of the encoded picture: `yuv420p`, `yuv420p10le`, `yuv444p`...
    pub pix_fmt: String,
    /// Clockwise display rotation tag (0, 90, 180, 270).
    pub rotation: u32,
    /// Drop every third frame so frame durations vary.
    pub vfr: bool,
    /// Include a video stream (false makes an audio-only file, for error tests).
    pub video: bool,
    /// A black picture instead of the test pattern: cheap to make and tiny to store at
    /// any size (hostile-size tests).
    pub black: bool,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            width: 640,
            height: 360,
            seconds: 5.0,
            fps: 30,
            audio_tracks: 1,
            tone_step: 220,
            audio_channels: 2,
            subtitle_tracks: 0,
            pix_fmt: "yuv420p".into(),
            rotation: 0,
            vfr: false,
            video: true,
            black: false,
        }
    }
}

/// Writes a clip to `out`; the container follows the extension (`.mp4`, `.mkv`, `.ts`...).
pub fn write_sample(out: &Path, spec: &SampleSpec) -> Result<()> {
    super::init();
    if spec.width < 16 || spec.height < 16 || spec.seconds <= 0.0 || spec.fps == 0 {
        return Err(EngineError::InvalidOption(
            "a sample needs at least 16x16, a duration and a frame rate".into(),
        ));
    }
    let pix: format::Pixel = spec
        .pix_fmt
        .parse::<format::Pixel>()
        .ok()
        .filter(|p| *p != format::Pixel::None)
        .ok_or_else(|| EngineError::InvalidOption(format!("unknown pixel format {}", spec.pix_fmt)))?;
    // 4:2:0 needs even sizes; an odd-sized clip is made 4:4:4 (x264's High 4:4:4 takes it).
    let subsampled = pix
        .descriptor()
        .is_some_and(|d| d.log2_chroma_w() > 0 || d.log2_chroma_h() > 0);
    let pix = if (spec.width % 2 == 1 || spec.height % 2 == 1) && subsampled {
        format::Pixel::YUV444P
    } else {
        pix
    };
    let mut octx = format::output(out).map_err(EngineError::ffmpeg("creating the sample file"))?;
    let global = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

    // Video: testsrc2 → format → buffersink → libx264.
    let mut video = if spec.video {
        Some(open_video(&mut octx, spec, pix, global)?)
    } else {
        None
    };
    // Audio: one sine per track → AAC.
    let mut tracks = Vec::new();
    let layout = match spec.audio_channels {
        2 => ffmpeg_next::ChannelLayout::STEREO,
        6 => ffmpeg_next::ChannelLayout::_5POINT1_BACK,
        8 => ffmpeg_next::ChannelLayout::_7POINT1,
        n => {
            return Err(EngineError::InvalidOption(format!(
                "a sample's audio has 2, 6 or 8 channels, not {n}"
            )))
        }
    };
    let layout_name = match spec.audio_channels {
        2 => "stereo",
        6 => "5.1",
        _ => "7.1",
    };
    for t in 0..spec.audio_tracks {
        let mut g = filter::Graph::new();
        let freq = 440 + spec.tone_step * t;
        let src = match spec.audio_channels {
            2 => format!(
                "sine=frequency={freq}:sample_rate=48000:duration={}",
                spec.seconds
            ),
            n => {
                // One pitch per channel, a fifth of an octave apart.
                let exprs: Vec<String> = (0..u32::from(n))
                    .map(|c| format!("0.25*sin({}*2*PI*t)", freq + 110 * c))
                    .collect();
                format!(
                    "aevalsrc=exprs={}:channel_layout={layout_name}:sample_rate=48000:duration={}",
                    exprs.join("|"),
                    spec.seconds
                )
            }
        };
        build_source_graph(
            &mut g,
            "abuffersink",
            &format!("{src},aformat=sample_fmts=fltp:channel_layouts={layout_name}"),
        )?;
        let acodec =
            encoder::find(codec::Id::AAC).ok_or_else(|| EngineError::Internal("no AAC encoder".into()))?;
        let mut aenc = codec::Context::new_with_codec(acodec)
            .encoder()
            .audio()
            .map_err(EngineError::ffmpeg("sample audio encoder"))?;
        aenc.set_rate(48000);
        aenc.set_format(format::Sample::F32(format::sample::Type::Planar));
        aenc.set_channel_layout(layout);
        aenc.set_bit_rate(96_000 * usize::from(spec.audio_channels) / 2);
        aenc.set_time_base(Rational(1, 48000));
        if global {
            aenc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let aenc = aenc
            .open_as(acodec)
            .map_err(EngineError::ffmpeg("opening the sample audio encoder"))?;
        g.get("out")
            .expect("sink")
            .sink()
            .set_frame_size(aenc.frame_size());
        let index = {
            let mut st = octx
                .add_stream_with(&aenc)
                .map_err(EngineError::ffmpeg("adding a sample audio stream"))?;
            st.set_time_base(Rational(1, 48000));
            let mut md = Dictionary::new();
            md.set("language", LANGUAGES[(t % 4) as usize]);
            st.set_metadata(md);
            st.index()
        };
        tracks.push((g, aenc, index));
    }

    // Subtitles: SubRip streams, in milliseconds.
    let mut subtitle_streams = Vec::new();
    for t in 0..spec.subtitle_tracks {
        let codec = encoder::find(codec::Id::SUBRIP)
            .ok_or_else(|| EngineError::Internal("no SubRip encoder".into()))?;
        let ctx = codec::Context::new_with_codec(codec);
        let mut st = octx
            .add_stream_with(&ctx)
            .map_err(EngineError::ffmpeg("adding a sample subtitle stream"))?;
        st.set_time_base(Rational(1, 1000));
        let mut md = Dictionary::new();
        md.set("language", LANGUAGES[(t % 4) as usize]);
        st.set_metadata(md);
        subtitle_streams.push((st.index(), LANGUAGES[(t % 4) as usize]));
    }

    octx.write_header()
        .map_err(EngineError::ffmpeg("writing the sample header"))?;
    if let Some((vgraph, venc, vtb)) = video.as_mut() {
        let vst_tb = octx.stream(0).expect("video stream").time_base();
        let mut n: i64 = 0;
        let mut f = frame::Video::empty();
        while vgraph.get("out").expect("sink").sink().frame(&mut f).is_ok() {
            n += 1;
            if spec.vfr && n % 3 == 0 {
                continue;
            }
            f.set_kind(ffmpeg_next::picture::Type::None);
            venc.send_frame(&f)
                .map_err(EngineError::ffmpeg("encoding a sample frame"))?;
            drain(venc, &mut octx, 0, *vtb, vst_tb)?;
        }
        venc.send_eof()
            .map_err(EngineError::ffmpeg("flushing the sample encoder"))?;
        drain(venc, &mut octx, 0, *vtb, vst_tb)?;
    }

    for (g, aenc, index) in tracks.iter_mut() {
        let ost_tb = octx.stream(*index).expect("audio stream").time_base();
        let mut af = frame::Audio::empty();
        while g.get("out").expect("sink").sink().frame(&mut af).is_ok() {
            aenc.send_frame(&af)
                .map_err(EngineError::ffmpeg("encoding sample audio"))?;
            drain(aenc, &mut octx, *index, Rational(1, 48000), ost_tb)?;
        }
        aenc.send_eof()
            .map_err(EngineError::ffmpeg("flushing sample audio"))?;
        drain(aenc, &mut octx, *index, Rational(1, 48000), ost_tb)?;
    }
    for (index, lang) in subtitle_streams {
        let ost_tb = octx.stream(index).expect("subtitle stream").time_base();
        let mut n = 0;
        while f64::from(2 * n) + 0.5 < spec.seconds {
            let mut p = Packet::copy(format!("{lang} subtitle {}", n + 1).as_bytes());
            p.set_stream(index);
            p.set_pts(Some(i64::from(2000 * n + 500)));
            p.set_dts(Some(i64::from(2000 * n + 500)));
            p.set_duration(1000);
            p.rescale_ts(Rational(1, 1000), ost_tb);
            p.write_interleaved(&mut octx)
                .map_err(EngineError::ffmpeg("writing a sample subtitle"))?;
            n += 1;
        }
    }
    octx.write_trailer()
        .map_err(EngineError::ffmpeg("writing the sample trailer"))?;
    Ok(())
}

/// Languages of the tracks, in turn.
const LANGUAGES: [&str; 4] = ["eng", "fra", "deu", "spa"];

fn build_source_graph(g: &mut filter::Graph, sink: &str, spec: &str) -> Result<()> {
    let sink_filter = filter::find(sink).ok_or_else(|| EngineError::Internal(format!("no {sink}")))?;
    g.add(&sink_filter, "out", "")
        .map_err(EngineError::ffmpeg("sample filter sink"))?;
    g.input("out", 0)
        .and_then(|p| p.parse(spec))
        .map_err(EngineError::ffmpeg("sample filter graph"))?;
    g.validate().map_err(EngineError::ffmpeg("sample filter graph"))
}

fn drain(
    enc: &mut encoder::Encoder,
    octx: &mut format::context::Output,
    index: usize,
    enc_tb: Rational,
    ost_tb: Rational,
) -> Result<()> {
    let mut p = Packet::empty();
    while enc.receive_packet(&mut p).is_ok() {
        p.set_stream(index);
        p.rescale_ts(enc_tb, ost_tb);
        p.write_interleaved(octx)
            .map_err(EngineError::ffmpeg("writing a sample packet"))?;
    }
    Ok(())
}

/// Opens the test-pattern source and its encoder, and adds the video stream (index 0).
fn open_video(
    octx: &mut format::context::Output,
    spec: &SampleSpec,
    pix: format::Pixel,
    global: bool,
) -> Result<(filter::Graph, encoder::video::Encoder, Rational)> {
    let mut vgraph = filter::Graph::new();
    let pattern = if spec.black { "color=c=black:" } else { "testsrc2=" };
    let src = format!(
        "{pattern}size={}x{}:rate={}:duration={}",
        spec.width, spec.height, spec.fps, spec.seconds
    );
    let pix_name = pix.descriptor().map(|d| d.name()).unwrap_or("yuv420p");
    build_source_graph(&mut vgraph, "buffersink", &format!("{src},format={pix_name}"))?;
    let vtb = Rational(1, spec.fps as i32);
    let vcodec =
        encoder::find_by_name("libx264").ok_or_else(|| EngineError::Internal("no libx264".into()))?;
    let mut venc = codec::Context::new_with_codec(vcodec)
        .encoder()
        .video()
        .map_err(EngineError::ffmpeg("sample video encoder"))?;
    venc.set_width(spec.width);
    venc.set_height(spec.height);
    venc.set_format(pix);
    venc.set_time_base(vtb);
    venc.set_frame_rate(Some(Rational(spec.fps as i32, 1)));
    if global {
        venc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    // x264's threads each hold a picture: one is enough for a huge black one.
    if spec.width * spec.height > 4096 * 2160 {
        venc.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 1,
            ..Default::default()
        });
    }
    let mut vopts = Dictionary::new();
    vopts.set("preset", "ultrafast");
    vopts.set("crf", "20");
    let venc = venc
        .open_with(vopts)
        .map_err(EngineError::ffmpeg("opening the sample video encoder"))?;
    {
        let mut st = octx
            .add_stream_with(&venc)
            .map_err(EngineError::ffmpeg("adding the sample video stream"))?;
        st.set_time_base(vtb);
    }
    if spec.rotation != 0 {
        ffi::set_stream_rotation(octx, 0, spec.rotation).map_err(EngineError::ffmpeg("tagging rotation"))?;
    }
    Ok((vgraph, venc, vtb))
}

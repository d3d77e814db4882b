//! A ladder rung's video segments and one audio rendition's segments of the same numbers,
//! joined into one continuous fragmented MP4 with no decoding: what a live session streams
//! from a ready video whose audio tracks are renditions of their own.
//!
//! ```text
//! 720p/init.mp4 + seg0000k.m4s ──► mov demuxer ──┐ packets as they are (AVCC, raw AAC),
//! audio1/init.mp4 + seg0000k.m4s ─► mov demuxer ──┤ in decode order
//!                                                 ▼
//!           one mp4 muxer for the whole stream (ftyp moov, then moof mdat...) ──► bytes
//! ```
//!
//! Both renditions are cut at the same instants and carry the same timestamps (the
//! ladder's), so segment `k` of each covers the same time. The muxer keeps those
//! timestamps (`frag_discont`, no shift), as an encoded live stream keeps the source's.

use std::io::Cursor;

use ffmpeg_next::{format, media, Dictionary, Packet, Rational};

use super::error::{EngineError, Result};
use super::ffi;
use super::segmenter::SharedBuffer;
use crate::time::Ts90k;

/// Joins segment pairs into one stream; the first push's bytes start with the init part.
#[derive(Default)]
pub struct Fmp4Joiner {
    muxer: Option<Muxer>,
}

struct Muxer {
    output: format::context::Output,
    buffer: SharedBuffer,
    /// Time bases of the output's video and audio streams, read after `write_header`.
    out_tb: [Rational; 2],
}

/// A packet of one of the two inputs, with its decode time for ordering.
struct Queued {
    packet: Packet,
    /// Output stream: 0 video, 1 audio.
    stream: usize,
    in_tb: Rational,
    dts: Ts90k,
}

impl Fmp4Joiner {
    pub fn new() -> Fmp4Joiner {
        Fmp4Joiner::default()
    }

    /// Joins video segment `video.1` (of the rung whose init segment is `video.0`) and
    /// the audio segment of the same number (`audio.1`, init `audio.0`); returns the bytes
    /// for the stream.
    pub fn push(&mut self, video: (&[u8], &[u8]), audio: (&[u8], &[u8])) -> Result<Vec<u8>> {
        let mut video_in = open(video)?;
        let mut audio_in = open(audio)?;
        let video_stream = video_in
            .streams()
            .best(media::Type::Video)
            .ok_or(EngineError::NoVideoStream)?;
        let audio_stream = audio_in
            .streams()
            .best(media::Type::Audio)
            .ok_or_else(|| EngineError::Internal("an audio rendition's segment has no audio".into()))?;
        let (video_index, video_tb) = (video_stream.index(), video_stream.time_base());
        let (audio_index, audio_tb) = (audio_stream.index(), audio_stream.time_base());
        if self.muxer.is_none() {
            self.muxer = Some(Muxer::open(
                &video_stream.parameters(),
                &audio_stream.parameters(),
            )?);
        }
        let mut queued = Vec::new();
        for (input, index, tb, stream) in [
            (&mut video_in, video_index, video_tb, 0),
            (&mut audio_in, audio_index, audio_tb, 1),
        ] {
            for (s, packet) in input.packets() {
                if s.index() != index {
                    continue;
                }
                let dts = Ts90k::from_time_base(packet.dts().or(packet.pts()).unwrap_or(0), tb);
                queued.push(Queued {
                    packet,
                    stream,
                    in_tb: tb,
                    dts,
                });
            }
        }
        // Decode order across both (stable: video first on a tie).
        queued.sort_by_key(|q| q.dts);
        let muxer = self.muxer.as_mut().expect("opened above");
        for mut q in queued {
            q.packet.set_stream(q.stream);
            q.packet.set_position(-1);
            q.packet.rescale_ts(q.in_tb, muxer.out_tb[q.stream]);
            q.packet
                .write(&mut muxer.output)
                .map_err(EngineError::ffmpeg("joining a segment"))?;
        }
        ffi::flush_fragment(&mut muxer.output).map_err(EngineError::ffmpeg("flushing a joined segment"))?;
        Ok(muxer.buffer.take())
    }
}

impl Muxer {
    fn open(video: &ffmpeg_next::codec::Parameters, audio: &ffmpeg_next::codec::Parameters) -> Result<Muxer> {
        let buffer = SharedBuffer::default();
        let io = format::context::StreamIo::from_write(buffer.clone())
            .map_err(EngineError::ffmpeg("creating the joined stream's writer"))?;
        let mut output = format::output_to_stream(io, None, Some("mp4"))
            .map_err(EngineError::ffmpeg("creating the joined stream's muxer"))?;
        for params in [video, audio] {
            let mut st = output
                .add_stream(ffmpeg_next::encoder::find(params.id()))
                .map_err(EngineError::ffmpeg("adding a joined stream"))?;
            // The input's codec tags (avc1, mp4a) are the mp4 muxer's own.
            st.set_parameters(params.clone());
        }
        let mut opts = Dictionary::new();
        opts.set(
            "movflags",
            "frag_custom+empty_moov+default_base_moof+skip_trailer+frag_discont",
        );
        opts.set("avoid_negative_ts", "disabled");
        output
            .write_header_with(opts)
            .map_err(EngineError::ffmpeg("writing the joined stream's header"))?;
        let out_tb = [
            output.stream(0).expect("video stream").time_base(),
            output.stream(1).expect("audio stream").time_base(),
        ];
        ffi::flush_fragment(&mut output)
            .map_err(EngineError::ffmpeg("flushing the joined stream's header"))?;
        Ok(Muxer {
            output,
            buffer,
            out_tb,
        })
    }
}

/// An input reading `init` then `segment` from memory (the mov demuxer).
fn open((init, segment): (&[u8], &[u8])) -> Result<format::context::Input> {
    let mut bytes = Vec::with_capacity(init.len() + segment.len());
    bytes.extend_from_slice(init);
    bytes.extend_from_slice(segment);
    let io = format::context::StreamIo::from_read_seek(Cursor::new(bytes))
        .map_err(EngineError::ffmpeg("reading a segment"))?;
    format::input_from_stream(io, Some("segment.mp4"), None).map_err(EngineError::ffmpeg("opening a segment"))
}

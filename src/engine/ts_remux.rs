//! fMP4 segments of successive items → one continuous MPEG-TS stream, with no decoding
//! and no encoding: what a channel's `stream.ts` is made of.
//!
//! ```text
//! init.mp4 + segNNNNN.m4s ──► libavformat mov demuxer (in memory)
//!        H.264 (AVCC) ──► Annex B, the item's SPS/PPS before each keyframe ─┐
//!        AAC (raw)   ─────────────────────────────────────────────────────┤ pts/dts + offset
//!                                                                          ▼
//!                      one libavformat mpegts muxer for the whole stream ──► bytes
//! ```
//!
//! One muxer lives as long as the stream, so continuity counters and PCR run on across
//! items; each segment's timestamps move by the offset its caller names (the item's place
//! on the channel timeline), so PTS/DTS are continuous too. Items differ in picture size
//! and SPS/PPS: those travel in band (Annex B start codes, parameter sets repeated before
//! every keyframe), as broadcast receivers expect, and the muxer's own automatic
//! `h264_mp4toannexb` is kept out (it would repeat the first item's). AAC gets ADTS
//! headers from the muxer, from the AudioSpecificConfig of the first item (every ladder's
//! audio is AAC-LC stereo 48 kHz, so it is the same for all).
//!
//! Demuxing ([`Demuxed`]: the bytes in Annex B, timestamps in 90 kHz) and muxing
//! ([`TsRemuxer::push_demuxed`]) are apart: a segment demuxed once feeds any number of
//! streams, each with its own muxer.
//!
//! An item whose source had several audio tracks keeps its audio out of its video
//! segments (audio renditions of their own); [`Demuxed::with_audio`] joins the first
//! track's segment of the same number (cut at the same instants, with the same
//! timestamps) to the video's, so a channel plays that item with its default track.

use std::io::Cursor;

use ffmpeg_next::{codec, format, media, packet, Packet, Rational};
use parking_lot::Mutex;

use super::error::{EngineError, Result};
use super::ffi;
use super::segmenter::SharedBuffer;
use crate::mp4::avc::{append_annex_b, ParameterSets};
use crate::time::Ts90k;

/// Where an item's segment goes on the channel timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The item's start on the timeline: every timestamp moves by it.
    pub offset: Ts90k,
    /// The item's slot (its length on the timeline, in item time): audio frames that would
    /// run past it are left out. An item's audio runs up to ~75 ms past its last video
    /// frame (the AAC encoder's last frames), into the next item's slot: kept, it overlaps
    /// the next item's first frames. `None` keeps them all.
    pub slot: Option<Ts90k>,
}

impl Placement {
    /// Moved by `offset`, nothing cut.
    pub fn at(offset: Ts90k) -> Placement {
        Placement { offset, slot: None }
    }

    /// Whether `sample` lies outside the slot.
    fn cuts(&self, sample: &Sample) -> bool {
        match (self.slot, sample.pts) {
            (Some(slot), Some(pts)) if !sample.video => pts + sample.duration > slot,
            _ => false,
        }
    }
}

/// A continuous MPEG-TS stream fed one fMP4 segment at a time.
pub struct TsRemuxer {
    /// Opened with the first segment's streams.
    muxer: Option<Muxer>,
}

struct Muxer {
    output: format::context::Output,
    buffer: SharedBuffer,
    /// Output stream of the video, and of the audio when the stream has audio.
    video: usize,
    audio: Option<usize>,
    /// The last DTS written on the video and the audio stream (muxer time base).
    last_dts: [Option<i64>; 2],
}

/// One media segment demuxed, ready for any number of streams to mux: what
/// [`TsRemuxer::push_demuxed`] takes. Demuxing is most of the work of a segment, and it is
/// the same for every viewer of a channel (`channel::ts_stream` shares it).
pub struct Demuxed {
    /// The item's stream parameters (video, audio), for a muxer that opens on this
    /// segment. A mutex only to make them shareable across threads (they are `Send`).
    params: Mutex<(codec::Parameters, Option<codec::Parameters>)>,
    samples: Vec<Sample>,
}

/// A packet of a demuxed segment, timestamps at the segment's own (no offset yet).
struct Sample {
    video: bool,
    /// H.264 in Annex B (with the SPS/PPS before a keyframe), or the raw AAC frame.
    data: Vec<u8>,
    pts: Option<Ts90k>,
    dts: Option<Ts90k>,
    duration: Ts90k,
    flags: packet::Flags,
}

impl Demuxed {
    /// Demuxes `segment` of an item: an fMP4 one with `init`, that item's init segment,
    /// or an MPEG-TS one (`init` `None`: a `format=ts` ladder, Annex B already).
    pub fn new(init: Option<&[u8]>, segment: &[u8]) -> Result<Demuxed> {
        let (video, audio, samples) = demux(init, segment)?;
        Ok(Demuxed {
            params: Mutex::new((video.ok_or(EngineError::NoVideoStream)?, audio)),
            samples,
        })
    }

    /// This (video-only) segment with the audio of `audio_segment` (an audio rendition's
    /// segment of the same number, fMP4 with `audio_init` or MPEG-TS) muxed in.
    pub fn with_audio(self, audio_init: Option<&[u8]>, audio_segment: &[u8]) -> Result<Demuxed> {
        let (_, audio, audio_samples) = demux(audio_init, audio_segment)?;
        let Some(audio) = audio else {
            return Ok(self);
        };
        let (video, _) = self.params.into_inner();
        let mut samples: Vec<Sample> = self.samples.into_iter().filter(|s| s.video).collect();
        samples.extend(audio_samples.into_iter().filter(|s| !s.video));
        // Decode order across both (the sort is stable: video first on a tie).
        samples.sort_by_key(|s| s.dts.or(s.pts).unwrap_or(Ts90k::ZERO));
        Ok(Demuxed {
            params: Mutex::new((video, Some(audio))),
            samples,
        })
    }

    /// Bytes of media it holds.
    pub fn size(&self) -> usize {
        self.samples.iter().map(|s| s.data.len()).sum()
    }
}

/// The parameters of a segment's video and audio stream (each when present) and its
/// samples.
type DemuxedParts = (Option<codec::Parameters>, Option<codec::Parameters>, Vec<Sample>);

/// Demuxes `segment`: fMP4 with `init`, or MPEG-TS (`init` `None`, Annex B already).
fn demux(init: Option<&[u8]>, segment: &[u8]) -> Result<DemuxedParts> {
    let mut bytes = Vec::with_capacity(init.map_or(0, <[u8]>::len) + segment.len());
    bytes.extend_from_slice(init.unwrap_or_default());
    bytes.extend_from_slice(segment);
    let io = format::context::StreamIo::from_read_seek(Cursor::new(bytes))
        .map_err(EngineError::ffmpeg("reading a segment"))?;
    let name = if init.is_some() {
        "segment.mp4"
    } else {
        "segment.ts"
    };
    let mut input =
        format::input_from_stream(io, Some(name), None).map_err(EngineError::ffmpeg("opening a segment"))?;
    let video_in = input
        .streams()
        .best(media::Type::Video)
        .map(|s| (s.index(), s.time_base(), s.parameters()));
    let (video_index, video_tb) = video_in
        .as_ref()
        .map_or((usize::MAX, Rational(1, 1)), |v| (v.0, v.1));
    let audio_in = input
        .streams()
        .best(media::Type::Audio)
        .map(|s| (s.index(), s.time_base(), s.parameters()));
    // MPEG-TS input is Annex B with its parameter sets in band already.
    let sets = init.and_then(parameter_sets);
    let annex_b_already = init.is_none();
    let length_size = sets.as_ref().map_or(4, |s| s.0);
    let mut samples = Vec::new();
    for (stream, packet) in input.packets() {
        let (video, in_tb) = if stream.index() == video_index {
            (true, video_tb)
        } else if let Some((a_in, a_tb, _)) = &audio_in {
            if stream.index() != *a_in {
                continue;
            }
            (false, *a_tb)
        } else {
            continue;
        };
        let Some(data) = packet.data() else { continue };
        let data = if video && !annex_b_already {
            let mut annexb = Vec::with_capacity(data.len() + 64);
            if packet.is_key() {
                if let Some((length_size, prefix)) = &sets {
                    append_annex_b(&mut annexb, prefix, *length_size)?;
                }
            }
            append_annex_b(&mut annexb, data, length_size)?;
            annexb
        } else {
            data.to_vec()
        };
        let ts = |t: Option<i64>| t.map(|t| Ts90k::from_time_base(t, in_tb));
        samples.push(Sample {
            video,
            data,
            pts: ts(packet.pts()),
            dts: ts(packet.dts()),
            duration: Ts90k::from_time_base(packet.duration(), in_tb),
            flags: packet.flags(),
        });
    }
    Ok((video_in.map(|v| v.2), audio_in.map(|a| a.2), samples))
}

impl Default for TsRemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl TsRemuxer {
    pub fn new() -> TsRemuxer {
        TsRemuxer { muxer: None }
    }

    /// Remuxes one media segment of an item (`init` is that item's init segment), placed
    /// on the timeline by `place`. Returns the MPEG-TS bytes this produced (whole 188-byte
    /// packets; the first call's start with the PAT/PMT).
    pub fn push(&mut self, init: Option<&[u8]>, segment: &[u8], place: Placement) -> Result<Vec<u8>> {
        self.push_demuxed(&Demuxed::new(init, segment)?, place)
    }

    /// [`TsRemuxer::push`] of a segment already demuxed.
    pub fn push_demuxed(&mut self, segment: &Demuxed, place: Placement) -> Result<Vec<u8>> {
        if self.muxer.is_none() {
            let params = segment.params.lock();
            self.muxer = Some(Muxer::open(&params.0, params.1.as_ref())?);
        }
        let muxer = self.muxer.as_mut().expect("opened above");
        let out_video_tb = muxer.output.stream(muxer.video).expect("video").time_base();
        let out_audio = muxer
            .audio
            .map(|i| (i, muxer.output.stream(i).expect("audio").time_base()));
        for sample in segment.samples.iter().filter(|s| !place.cuts(s)) {
            let (out_index, out_tb) = match (sample.video, out_audio) {
                (true, _) => (muxer.video, out_video_tb),
                (false, Some(audio)) => audio,
                (false, None) => continue,
            };
            let mut out = Packet::copy(&sample.data);
            // Segment time base → 90 kHz (done once, in `Demuxed::new`), moved onto the
            // stream's timeline, → the muxer's.
            let shift = |ts: Option<Ts90k>| ts.map(|t| (t + place.offset).to_time_base(out_tb));
            let dts = shift(sample.dts);
            // A packet that would go back in time (an item placed without its slot, whose
            // audio overlaps the next item's first packets) is dropped: the muxer refuses
            // it, and the rest of the segment was lost with it.
            let last = &mut muxer.last_dts[usize::from(!sample.video)];
            if let (Some(d), Some(l)) = (dts, *last) {
                if d <= l {
                    continue;
                }
            }
            *last = dts.or(*last);
            out.set_pts(shift(sample.pts));
            out.set_dts(dts);
            out.set_duration(sample.duration.to_time_base(out_tb));
            out.set_flags(sample.flags);
            out.set_stream(out_index);
            out.write_interleaved(&mut muxer.output)
                .map_err(EngineError::ffmpeg("writing MPEG-TS"))?;
        }
        ffi::flush_fragment(&mut muxer.output).map_err(EngineError::ffmpeg("flushing MPEG-TS"))?;
        Ok(muxer.buffer.take())
    }

    /// Ends the stream: what the muxer still holds.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let Some(mut muxer) = self.muxer.take() else {
            return Ok(Vec::new());
        };
        muxer
            .output
            .write_trailer()
            .map_err(EngineError::ffmpeg("ending MPEG-TS"))?;
        Ok(muxer.buffer.take())
    }
}

impl Muxer {
    /// An mpegts muxer with the streams of the first segment: H.264 without its global
    /// header (the parameter sets go in band), AAC with its AudioSpecificConfig (for ADTS).
    fn open(video: &codec::Parameters, audio: Option<&codec::Parameters>) -> Result<Muxer> {
        let buffer = SharedBuffer::default();
        let io = format::context::StreamIo::from_write(buffer.clone())
            .map_err(EngineError::ffmpeg("creating the MPEG-TS writer"))?;
        let mut output = format::output_to_stream(io, None, Some("mpegts"))
            .map_err(EngineError::ffmpeg("creating the MPEG-TS muxer"))?;
        let mut add = |params: &codec::Parameters| -> Result<usize> {
            let mut st = output
                .add_stream(ffmpeg_next::encoder::find(params.id()))
                .map_err(EngineError::ffmpeg("adding an MPEG-TS stream"))?;
            st.set_parameters(params.clone());
            st.set_time_base(Rational(1, 90_000));
            Ok(st.index())
        };
        let video_out = add(video)?;
        let audio_out = audio.map(&mut add).transpose()?;
        ffi::fit_stream_for_ts(&mut output, video_out, true);
        if let Some(a) = audio_out {
            ffi::fit_stream_for_ts(&mut output, a, false);
        }
        // Each stream's first packet says its continuity counter starts here: a standalone
        // segment (the live playlist's) starts at 0 whatever came before it.
        let mut opts = ffmpeg_next::Dictionary::new();
        opts.set("mpegts_flags", "+initial_discontinuity");
        output
            .write_header_with(opts)
            .map_err(EngineError::ffmpeg("writing the MPEG-TS header"))?;
        Ok(Muxer {
            output,
            buffer,
            video: video_out,
            audio: audio_out,
            last_dts: [None, None],
        })
    }
}

/// One segment as a standalone MPEG-TS segment (PAT/PMT first, parameter sets before its
/// keyframe), placed on the timeline by `place`: a live playlist's segment. `audio` is
/// the item's first audio rendition's init segment and segment of the same number, for an
/// item whose video segments carry no audio.
pub fn remux_segment(
    init: Option<&[u8]>,
    segment: &[u8],
    audio: Option<(Option<&[u8]>, &[u8])>,
    place: Placement,
) -> Result<Vec<u8>> {
    let mut demuxed = Demuxed::new(init, segment)?;
    if let Some((audio_init, audio_segment)) = audio {
        demuxed = demuxed.with_audio(audio_init, audio_segment)?;
    }
    let mut remux = TsRemuxer::new();
    let mut bytes = remux.push_demuxed(&demuxed, place)?;
    bytes.extend(remux.finish()?);
    Ok(bytes)
}

/// The NAL length size and the SPS/PPS (length-prefixed) of `init`'s H.264 track.
fn parameter_sets(init: &[u8]) -> Option<(usize, Vec<u8>)> {
    ParameterSets::from_init(init)
        .ok()
        .flatten()
        .map(|sets| (sets.length_size, sets.prefix))
}

//! Cuts one rung's muxed output into HLS segments.
//!
//! A single muxer per rung (libavformat `mp4` or `mpegts`) writes into a custom output
//! (ffmpeg-next `StreamIo`) backed by an in-memory buffer. At each IDR that starts a new
//! segment we flush the muxer ([`ffi::flush_fragment`]), take the bytes written since the
//! last cut, and write them as one segment file. For fMP4 the bytes before the first
//! fragment are the init segment:
//!
//! ```text
//! init.mp4      ftyp moov(mvhd trak(avc1) trak(mp4a) mvex)      write_header + flush
//! seg00000.m4s  moof(mfhd traf(tfhd tfdt trun)...) mdat            flush at 2nd IDR
//! seg00001.m4s  moof ... mdat                                      flush at 3rd IDR
//! ```
//!
//! (`movflags=frag_custom+empty_moov+default_base_moof`, ISO 14496-12 §8.8.) For TS each
//! segment is a run of 188-byte packets that starts with PAT/PMT (the muxer repeats them
//! before every video keyframe) and an IDR with SPS/PPS.
//!
//! Audio and video reach the segmenter separately (audio is encoded once, for all rungs,
//! and usually arrives ahead of video, which waits in x264's lookahead). A segment
//! `[t_k, t_k+1)` holds the video from the IDR at `t_k` up to the next IDR and the audio
//! packets whose pts fall in the same interval, so before cutting at an IDR the segmenter
//! waits until audio has reached that instant.
//!
//! A source with several audio tracks keeps its audio out of the rungs: each track is an
//! audio-only rendition cut by an [`AudioSegmenter`], and each text subtitle track a
//! WebVTT rendition cut by a [`CueSegmenter`]. Both are told the video's segment
//! boundaries (the IDR instants) and the offset the video's muxer gives its timestamps
//! ([`Segmenter::offset`]), so their segments start where the video's do and their
//! timestamps line up with the video's:
//!
//! ```text
//! video (top rung)  |IDR 0 ........|IDR 1 ........|IDR 2 ...       pts + offset
//! audio0/           |seg00000.m4s  |seg00001.m4s  |...             pts + offset
//! subtitles0/       |seg00000.vtt  |seg00001.vtt  |...             MPEGTS = offset
//! ```

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use ffmpeg_next::{codec, format, Dictionary, Packet, Rational};
use parking_lot::Mutex;

use super::error::{EngineError, Result};
use super::ffi;
use crate::hls::webvtt::{self, Cue};
use crate::hls::{Segment, SegmentFormat};
use crate::storage::{Freshness, VideoObjects};
use crate::time::{Ts90k, TIME_BASE_90K};

/// The muxer's output: a byte buffer the segmenter drains at each cut.
#[derive(Clone, Default)]
pub(super) struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    pub(super) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// A packet waiting to be muxed, with its timestamps already in 90 kHz.
struct Queued {
    packet: Packet,
    pts: Ts90k,
    dts: Ts90k,
}

/// Where cut segments go: files of a ladder ([`StoreSink`]) or one continuous stream.
pub trait SegmentSink {
    /// The bytes before the first segment (fMP4: `ftyp` + `moov`; TS: nothing useful).
    fn init(&mut self, bytes: Vec<u8>) -> Result<()>;
    /// One segment: video from the IDR at `start` to `end`, with its audio.
    fn segment(&mut self, start: Ts90k, end: Ts90k, bytes: Vec<u8>) -> Result<()>;
}

/// Stores a ladder rung's segments (`init.mp4`, `seg00000.m4s`...) as they are cut, and
/// keeps the list for its playlist.
pub struct StoreSink {
    /// The init segment's name, when the format has one (fMP4).
    init: Option<&'static str>,
    /// Segment extension (`m4s`, `ts`, `vtt`).
    extension: &'static str,
    out: VideoObjects,
    /// Prefix of segment keys and URIs relative to the video (`720p/`).
    uri_prefix: String,
    segments: Vec<Segment>,
}

impl StoreSink {
    pub fn new(out: VideoObjects, uri_prefix: &str, format: SegmentFormat) -> StoreSink {
        StoreSink {
            init: (format == SegmentFormat::Fmp4).then_some("init.mp4"),
            extension: format.extension(),
            out,
            uri_prefix: uri_prefix.to_string(),
            segments: Vec::new(),
        }
    }

    /// A subtitle rendition's WebVTT segments (`seg00000.vtt`...), no init segment.
    pub fn webvtt(out: VideoObjects, uri_prefix: &str) -> StoreSink {
        StoreSink {
            init: None,
            extension: "vtt",
            out,
            uri_prefix: uri_prefix.to_string(),
            segments: Vec::new(),
        }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl SegmentSink for StoreSink {
    fn init(&mut self, bytes: Vec<u8>) -> Result<()> {
        if let Some(name) = self.init {
            self.out
                .put(&format!("{}{name}", self.uri_prefix), bytes, Freshness::Immutable)
                .map_err(EngineError::io("storing the init segment"))?;
        }
        Ok(())
    }

    fn segment(&mut self, start: Ts90k, end: Ts90k, bytes: Vec<u8>) -> Result<()> {
        let uri = format!(
            "{}seg{:05}.{}",
            self.uri_prefix,
            self.segments.len(),
            self.extension
        );
        let len = bytes.len() as u64;
        self.out
            .put(&uri, bytes, Freshness::Immutable)
            .map_err(EngineError::io("storing a segment"))?;
        self.segments.push(Segment {
            uri,
            duration: (end - start).secs(),
            bytes: len,
        });
        Ok(())
    }
}

/// How the muxer treats timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// HLS ladder: the muxer may shift every track by the same amount so decode times
    /// start at zero (x264's B-frame delay); all rungs shift alike.
    ShiftToZero,
    /// Live stream: keep the source's timestamps (`tfdt` of the first fragment is the
    /// start position), so a stream started at 6 s begins at 6 s.
    Keep,
}

pub struct Segmenter<S: SegmentSink> {
    output: format::context::Output,
    buffer: SharedBuffer,
    sink: S,
    video_tb: Rational,
    audio: Option<AudioTrackState>,
    pending_video: VecDeque<Queued>,
    /// Start of the segment being written (pts of its IDR), once the first IDR is in.
    segment_start: Option<Ts90k>,
    cuts: usize,
    timeline: Timeline,
    /// Decode time of the first packet muxed (either stream): what the muxer's shift to
    /// zero is computed from.
    first_dts: Option<Ts90k>,
}

struct AudioTrackState {
    stream_tb: Rational,
    /// Time base of packets handed to [`Segmenter::push_audio`].
    input_tb: Rational,
    queue: VecDeque<Queued>,
    /// The end of the latest audio packet seen: audio before this instant is complete.
    reached: Ts90k,
    done: bool,
}

impl<S: SegmentSink> Segmenter<S> {
    /// Opens the muxer. `video`/`audio` are the opened encoders whose parameters (and
    /// extradata) the output streams copy; audio packets come in time base `audio.1`.
    /// The init bytes go to the sink at once.
    pub fn open(
        mut sink: S,
        format: SegmentFormat,
        timeline: Timeline,
        video: &ffmpeg_next::codec::Context,
        audio: Option<(&ffmpeg_next::codec::Context, Rational)>,
    ) -> Result<Segmenter<S>> {
        let (mut output, buffer) = memory_muxer(format)?;
        {
            let mut st = output
                .add_stream_with(video)
                .map_err(EngineError::ffmpeg("adding the video stream"))?;
            st.set_time_base(TIME_BASE_90K);
        }
        if let Some((a, tb)) = audio {
            let mut st = output
                .add_stream_with(a)
                .map_err(EngineError::ffmpeg("adding the audio stream"))?;
            st.set_time_base(tb);
        }
        let mut opts = Dictionary::new();
        let mut movflags = String::from("frag_custom+empty_moov+default_base_moof+skip_trailer");
        if timeline == Timeline::Keep {
            // frag_discont makes the first fragment's tfdt the first packet's dts, and
            // without the default shift-to-zero the source's timestamps survive.
            movflags.push_str("+frag_discont");
            opts.set("avoid_negative_ts", "disabled");
        }
        if format == SegmentFormat::Fmp4 {
            opts.set("movflags", &movflags);
        }
        output
            .write_header_with(opts)
            .map_err(EngineError::ffmpeg("writing the muxer header"))?;
        // The muxer may pick its own time bases; read them after write_header.
        let video_tb = output.stream(0).expect("video stream").time_base();
        let audio = audio.map(|(_, input_tb)| AudioTrackState {
            stream_tb: output.stream(1).expect("audio stream").time_base(),
            input_tb,
            queue: VecDeque::new(),
            reached: Ts90k(i64::MIN),
            done: false,
        });
        if format == SegmentFormat::Fmp4 {
            ffi::flush_fragment(&mut output).map_err(EngineError::ffmpeg("flushing the init segment"))?;
            sink.init(buffer.take())?;
        }
        // TS writes nothing useful before the first packet; whatever it wrote (PAT/PMT)
        // stays at the head of the first segment.
        Ok(Segmenter {
            output,
            buffer,
            sink,
            video_tb,
            audio,
            pending_video: VecDeque::new(),
            segment_start: None,
            cuts: 0,
            timeline,
            first_dts: None,
        })
    }

    /// What the muxer adds to every timestamp handed to it (90 kHz), once the first
    /// packet is muxed: the video's pts `t` is `t + offset` in the segments. A ladder's
    /// muxer shifts the first packet's decode time to zero (x264's B-frames make it
    /// negative: 2 frames before the first pts); a live stream's keeps the source's.
    pub fn offset(&self) -> Option<Ts90k> {
        match self.timeline {
            Timeline::Keep => Some(Ts90k::ZERO),
            Timeline::ShiftToZero => self.first_dts.map(|d| Ts90k(-d.0).max(Ts90k::ZERO)),
        }
    }

    /// Where segments go (a [`StoreSink`] knows the segments written so far).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Segments cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts
    }

    /// Accepts one encoded video packet (pts/dts in 90 kHz, decode order). Returns how
    /// many segments were completed by it.
    pub fn push_video(&mut self, packet: Packet) -> Result<usize> {
        let pts = Ts90k(packet.pts().or(packet.dts()).unwrap_or(0));
        let dts = Ts90k(packet.dts().unwrap_or(pts.0));
        self.pending_video.push_back(Queued { packet, pts, dts });
        self.drain()
    }

    /// Accepts one encoded audio packet (timestamps in the time base given at open).
    pub fn push_audio(&mut self, packet: Packet) -> Result<usize> {
        let Some(a) = self.audio.as_mut() else {
            return Ok(0);
        };
        let pts = Ts90k::from_time_base(packet.pts().unwrap_or(0), a.input_tb);
        let dts = Ts90k::from_time_base(packet.dts().unwrap_or(0), a.input_tb);
        let end = pts + Ts90k::from_time_base(packet.duration(), a.input_tb);
        a.reached = a.reached.max(end);
        a.queue.push_back(Queued { packet, pts, dts });
        self.drain()
    }

    /// Marks the audio track complete (no more packets will come).
    pub fn end_audio(&mut self) -> Result<usize> {
        if let Some(a) = self.audio.as_mut() {
            a.done = true;
        }
        self.drain()
    }

    /// Writes everything still queued and cuts the last segment, which ends at `end`
    /// (the end of the last video frame). Returns the sink.
    pub fn finish(mut self, end: Ts90k) -> Result<S> {
        if let Some(a) = self.audio.as_mut() {
            a.done = true;
        }
        self.drain()?;
        self.write_audio_before(Ts90k(i64::MAX))?;
        if let Some(start) = self.segment_start {
            ffi::flush_fragment(&mut self.output)
                .map_err(EngineError::ffmpeg("flushing the last segment"))?;
            self.output
                .write_trailer()
                .map_err(EngineError::ffmpeg("writing the muxer trailer"))?;
            self.cut(start, end.max(start))?;
        }
        Ok(self.sink)
    }

    /// Muxes what can be muxed now; cuts a segment at each IDR that starts a new one.
    fn drain(&mut self) -> Result<usize> {
        let mut cuts = 0;
        while let Some(head) = self.pending_video.front() {
            let (pts, dts, key) = (head.pts, head.dts, head.packet.is_key());
            if key {
                if let Some(start) = self.segment_start {
                    if !self.audio_reached(pts) {
                        break; // wait for audio to fill the segment that this IDR ends
                    }
                    self.write_audio_before(pts)?;
                    ffi::flush_fragment(&mut self.output)
                        .map_err(EngineError::ffmpeg("flushing a segment"))?;
                    self.cut(start, pts)?;
                    cuts += 1;
                }
                self.segment_start = Some(pts);
            }
            // Interleave: audio that precedes this video packet in decode time goes first.
            if self.segment_start.is_some() {
                self.write_audio_before(dts)?;
            }
            let q = self.pending_video.pop_front().expect("head exists");
            self.write(q, 0)?;
        }
        Ok(cuts)
    }

    fn audio_reached(&self, t: Ts90k) -> bool {
        self.audio.as_ref().is_none_or(|a| a.done || a.reached >= t)
    }

    /// Muxes queued audio packets whose pts is before `limit`.
    fn write_audio_before(&mut self, limit: Ts90k) -> Result<()> {
        loop {
            let ready = match self.audio.as_ref().and_then(|a| a.queue.front()) {
                Some(q) => q.pts < limit,
                None => false,
            };
            if !ready {
                return Ok(());
            }
            let q = self
                .audio
                .as_mut()
                .and_then(|a| a.queue.pop_front())
                .expect("head exists");
            self.write(q, 1)?;
        }
    }

    fn write(&mut self, q: Queued, stream: usize) -> Result<()> {
        self.first_dts.get_or_insert(q.dts);
        let mut packet = q.packet;
        packet.set_stream(stream);
        if stream == 0 {
            packet.rescale_ts(TIME_BASE_90K, self.video_tb);
        } else if let Some(a) = &self.audio {
            packet.rescale_ts(a.input_tb, a.stream_tb);
        }
        packet
            .write(&mut self.output)
            .map_err(EngineError::ffmpeg("muxing a packet"))?;
        Ok(())
    }

    /// Hands the bytes written since the last cut to the sink as the next segment.
    fn cut(&mut self, start: Ts90k, end: Ts90k) -> Result<()> {
        self.cuts += 1;
        self.sink.segment(start, end, self.buffer.take())
    }
}

/// A muxer of `format` (`mp4` or `mpegts`) writing into a memory buffer.
fn memory_muxer(format: SegmentFormat) -> Result<(format::context::Output, SharedBuffer)> {
    let buffer = SharedBuffer::default();
    let io = format::context::StreamIo::from_write(buffer.clone())
        .map_err(EngineError::ffmpeg("creating the segment writer"))?;
    let muxer = match format {
        SegmentFormat::Fmp4 => "mp4",
        SegmentFormat::Ts => "mpegts",
    };
    let output =
        format::output_to_stream(io, None, Some(muxer)).map_err(EngineError::ffmpeg("creating the muxer"))?;
    Ok((output, buffer))
}

/// Whether to cut every announced segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whole {
    Yes,
    No,
}

/// What a rendition cut beside the video ([`SideSegmenter`]) puts in each segment.
pub trait SideTrack {
    /// Whether all that belongs before `end` is in (or will never come).
    fn reached(&self, end: Ts90k) -> bool;
    /// The bytes of segment `[start, end)`, whose timestamps carry the video muxer's
    /// `offset`; `last`: nothing follows it.
    fn segment(&mut self, start: Ts90k, end: Ts90k, offset: Ts90k, last: bool) -> Result<Vec<u8>>;
    /// Init bytes that only the first segment's cut made (an AC-3 track's fMP4 `moov`).
    fn take_init(&mut self) -> Option<Vec<u8>> {
        None
    }
}

/// Cuts a rendition beside the video (an audio track, a subtitle track) on the video's
/// segment boundaries, once the offset of the video's muxer ([`Segmenter::offset`]) is
/// known: segment `k` is `[t_k, t_k+1)`, cut once the track has reached `t_k+1`.
pub struct SideSegmenter<S: SegmentSink, T: SideTrack> {
    sink: S,
    track: T,
    /// Segment starts announced and not yet reached by a cut.
    boundaries: VecDeque<Ts90k>,
    segment_start: Option<Ts90k>,
    offset: Option<Ts90k>,
    cuts: usize,
}

impl<S: SegmentSink, T: SideTrack> SideSegmenter<S, T> {
    fn new(sink: S, track: T) -> SideSegmenter<S, T> {
        SideSegmenter {
            sink,
            track,
            boundaries: VecDeque::new(),
            segment_start: None,
            offset: None,
            cuts: 0,
        }
    }

    /// Where the segments went (a [`StoreSink`] knows them).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Segments cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts
    }

    /// The video muxer's offset; nothing is cut before it is known.
    pub fn set_offset(&mut self, offset: Ts90k) -> Result<usize> {
        self.offset = Some(offset);
        self.drain()
    }

    /// A video segment starts at `at` (the first call: the first segment's start).
    pub fn boundary(&mut self, at: Ts90k) -> Result<usize> {
        self.boundaries.push_back(at);
        self.drain()
    }

    /// Cuts every announced boundary, whatever the track has reached, and the last
    /// segment, which ends at `end` (the end of the video).
    pub fn finish(mut self, end: Ts90k) -> Result<S> {
        self.offset.get_or_insert(Ts90k::ZERO);
        self.cut_up_to(Whole::Yes)?;
        if let Some(start) = self.segment_start {
            self.cut(start, end.max(start), true)?;
        }
        Ok(self.sink)
    }

    fn drain(&mut self) -> Result<usize> {
        self.cut_up_to(Whole::No)
    }

    /// Cuts the announced segments the track has reached (or all of them).
    fn cut_up_to(&mut self, all: Whole) -> Result<usize> {
        if self.offset.is_none() {
            return Ok(0);
        }
        if self.segment_start.is_none() {
            match self.boundaries.pop_front() {
                Some(first) => self.segment_start = Some(first),
                None => return Ok(0),
            }
        }
        let mut cuts = 0;
        while let (Some(&next), Some(start)) = (self.boundaries.front(), self.segment_start) {
            if all == Whole::No && !self.track.reached(next) {
                break;
            }
            self.cut(start, next, false)?;
            self.boundaries.pop_front();
            self.segment_start = Some(next);
            cuts += 1;
        }
        Ok(cuts)
    }

    fn cut(&mut self, start: Ts90k, end: Ts90k, last: bool) -> Result<()> {
        let offset = self.offset.unwrap_or(Ts90k::ZERO);
        let bytes = self.track.segment(start, end, offset, last)?;
        if let Some(init) = self.track.take_init() {
            self.sink.init(init)?;
        }
        self.cuts += 1;
        self.sink.segment(start, end, bytes)
    }
}

/// One audio track, encoded once, cut into an audio-only rendition on the video's
/// segment boundaries.
///
/// Its muxer shifts nothing (`avoid_negative_ts=disabled`, and `frag_discont` so the
/// first fragment's `tfdt` is the first packet's time): it gets the audio's pts plus the
/// offset of the video's muxer, so audio at `t` and video at `t` carry the same
/// timestamp. A packet that the offset would leave before zero (the AAC encoder's
/// priming, when x264 makes no B-frames) is dropped. Segment `k` holds the packets whose
/// pts fall in `[t_k, t_k+1)`; the last one ends at the video's end (audio past it is
/// dropped, but the last segment always gets a packet when one is left: a last video
/// segment shorter than an AAC frame).
///
/// AC-3 in fMP4: libavformat writes the `dac3` box from a packet it has parsed, so the
/// `moov` waits for the first cut (`delay_moov`) and the init reaches the sink then,
/// just before the first segment.
pub type AudioSegmenter<S> = SideSegmenter<S, AudioTrack>;

/// The muxer and the waiting packets of an [`AudioSegmenter`].
pub struct AudioTrack {
    output: format::context::Output,
    buffer: SharedBuffer,
    format: SegmentFormat,
    /// Time base of the packets handed to [`AudioSegmenter::push`].
    input_tb: Rational,
    stream_tb: Rational,
    queue: VecDeque<Queued>,
    /// The end of the latest packet seen: audio before this instant is complete.
    reached: Ts90k,
    done: bool,
    /// The fMP4 `moov` is written at the first cut (AC-3): not yet.
    init_pending: bool,
    /// The init bytes that cut made, for the sink.
    init: Option<Vec<u8>>,
}

impl<S: SegmentSink> AudioSegmenter<S> {
    /// Opens the muxer with `encoder`'s parameters (and extradata); packets come in
    /// `input_tb`. The init bytes go to the sink at once.
    pub fn open(
        mut sink: S,
        format: SegmentFormat,
        encoder: &codec::Context,
        input_tb: Rational,
    ) -> Result<AudioSegmenter<S>> {
        let (mut output, buffer) = memory_muxer(format)?;
        output
            .add_stream_with(encoder)
            .map_err(EngineError::ffmpeg("adding the audio stream"))?
            .set_time_base(input_tb);
        let mut opts = Dictionary::new();
        opts.set("avoid_negative_ts", "disabled");
        let delay_moov =
            format == SegmentFormat::Fmp4 && matches!(encoder.id(), codec::Id::AC3 | codec::Id::EAC3);
        if format == SegmentFormat::Fmp4 {
            opts.set(
                "movflags",
                &format!(
                    "frag_custom+empty_moov+default_base_moof+skip_trailer+frag_discont{}",
                    if delay_moov { "+delay_moov" } else { "" }
                ),
            );
        }
        output
            .write_header_with(opts)
            .map_err(EngineError::ffmpeg("writing the audio muxer header"))?;
        let stream_tb = output.stream(0).expect("audio stream").time_base();
        if format == SegmentFormat::Fmp4 && !delay_moov {
            ffi::flush_fragment(&mut output).map_err(EngineError::ffmpeg("flushing the init segment"))?;
            sink.init(buffer.take())?;
        }
        let track = AudioTrack {
            output,
            buffer,
            format,
            input_tb,
            stream_tb,
            queue: VecDeque::new(),
            reached: Ts90k(i64::MIN),
            done: false,
            init_pending: delay_moov,
            init: None,
        };
        Ok(SideSegmenter::new(sink, track))
    }

    /// Accepts one encoded packet (timestamps in the time base given at open).
    pub fn push(&mut self, packet: Packet) -> Result<usize> {
        let t = &mut self.track;
        let pts = Ts90k::from_time_base(packet.pts().unwrap_or(0), t.input_tb);
        let dts = Ts90k::from_time_base(packet.dts().or(packet.pts()).unwrap_or(0), t.input_tb);
        let end = pts + Ts90k::from_time_base(packet.duration(), t.input_tb);
        t.reached = t.reached.max(end);
        t.queue.push_back(Queued { packet, pts, dts });
        self.drain()
    }

    /// No more packets will come.
    pub fn end_audio(&mut self) -> Result<usize> {
        self.track.done = true;
        self.drain()
    }
}

impl SideTrack for AudioTrack {
    fn reached(&self, end: Ts90k) -> bool {
        self.done || self.reached >= end
    }

    fn segment(&mut self, _start: Ts90k, end: Ts90k, offset: Ts90k, last: bool) -> Result<Vec<u8>> {
        self.write_before(end, offset)?;
        let mut head = Vec::new();
        if self.init_pending {
            // The delayed `moov` (with `ftyp`): everything before the first `moof`.
            ffi::flush_fragment(&mut self.output)
                .map_err(EngineError::ffmpeg("flushing the init segment"))?;
            let mut bytes = self.buffer.take();
            let found = |bytes: &[u8], kind: &[u8; 4]| {
                crate::mp4::find(bytes, crate::mp4::BoxType(*kind)).ok().flatten()
            };
            if let Some(moof) = found(&bytes, b"moof") {
                head = bytes.split_off(moof.start);
            }
            if found(&bytes, b"moov").is_some() {
                self.init_pending = false;
                self.init = Some(bytes);
            }
        }
        ffi::flush_fragment(&mut self.output).map_err(EngineError::ffmpeg("flushing an audio segment"))?;
        if last {
            self.output
                .write_trailer()
                .map_err(EngineError::ffmpeg("writing the audio muxer trailer"))?;
        } else if self.format == SegmentFormat::Ts {
            ffi::resend_ts_headers(&mut self.output).map_err(EngineError::ffmpeg("asking for PAT/PMT"))?;
        }
        head.extend(self.buffer.take());
        Ok(head)
    }

    fn take_init(&mut self) -> Option<Vec<u8>> {
        self.init.take()
    }
}

impl AudioTrack {
    /// Muxes the queued packets whose pts is before `limit`, and at least one.
    fn write_before(&mut self, limit: Ts90k, offset: Ts90k) -> Result<()> {
        let mut written = 0;
        while let Some(head) = self.queue.front() {
            if head.pts >= limit && written > 0 {
                break;
            }
            let q = self.queue.pop_front().expect("head exists");
            if (q.dts + offset).0 < 0 || (q.pts + offset).0 < 0 {
                continue;
            }
            let mut packet = q.packet;
            packet.set_stream(0);
            // 90 kHz offset → the packets' time base, then the muxer's.
            let shift = offset.to_time_base(self.input_tb);
            packet.set_pts(packet.pts().map(|t| t + shift));
            packet.set_dts(packet.dts().map(|t| t + shift));
            packet.rescale_ts(self.input_tb, self.stream_tb);
            packet
                .write(&mut self.output)
                .map_err(EngineError::ffmpeg("muxing an audio packet"))?;
            written += 1;
        }
        Ok(())
    }
}

/// One text subtitle track cut into WebVTT segments on the video's segment boundaries
/// (see [`webvtt`]): segment `k` lists the cues that show during `[t_k, t_k+1)`, written
/// as soon as the video reaches `t_k+1` (every cue is known before the video starts:
/// [`super::subtitles`]), with `X-TIMESTAMP-MAP`'s `MPEGTS` the video muxer's offset.
/// Cues after the video's end are in no segment.
pub type CueSegmenter<S> = SideSegmenter<S, CueTrack>;

/// The cues of a [`CueSegmenter`] not yet wholly in written segments, by start time.
pub struct CueTrack {
    pending: VecDeque<Cue>,
}

impl<S: SegmentSink> CueSegmenter<S> {
    /// A segmenter of `cues` (on the ladder's timeline, any order).
    pub fn of_cues(sink: S, mut cues: Vec<Cue>) -> CueSegmenter<S> {
        cues.sort_by_key(|c| (c.start, c.end));
        SideSegmenter::new(sink, CueTrack { pending: cues.into() })
    }
}

impl SideTrack for CueTrack {
    fn reached(&self, _end: Ts90k) -> bool {
        true
    }

    fn segment(&mut self, start: Ts90k, end: Ts90k, offset: Ts90k, last: bool) -> Result<Vec<u8>> {
        // Pending cues are by start: those that start before `end` may show in it.
        let cues: Vec<&Cue> = self
            .pending
            .iter()
            .take_while(|c| c.start < end)
            .filter(|c| c.overlaps(start, end))
            .collect();
        let bytes = webvtt::segment(&cues, offset);
        // Done with the cues that end in this segment (or before it: cues before the
        // first frame).
        self.pending.retain(|c| c.end > end);
        if last && !self.pending.is_empty() {
            log::info!(
                "a subtitle track has {} cue(s) after the video's end, left out",
                self.pending.len()
            );
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps what it is given.
    #[derive(Default)]
    struct Kept(Vec<(Ts90k, Ts90k, String)>);

    impl SegmentSink for Kept {
        fn init(&mut self, _: Vec<u8>) -> Result<()> {
            Ok(())
        }
        fn segment(&mut self, start: Ts90k, end: Ts90k, bytes: Vec<u8>) -> Result<()> {
            self.0.push((start, end, String::from_utf8(bytes).unwrap()));
            Ok(())
        }
    }

    fn cue(start: i64, end: i64, text: &str) -> Cue {
        Cue {
            start: Ts90k(start),
            end: Ts90k(end),
            text: text.into(),
        }
    }

    #[test]
    fn cues_land_in_every_segment_they_show_in_and_absurd_ones_in_none() {
        let s = crate::time::HZ;
        let cues = vec![
            cue(s / 2, 3 * s / 2, "spans the first boundary"),
            cue(i64::MAX - 1, i64::MAX, "in a million years"),
            cue(i64::MIN, i64::MIN + 1, "long before"),
            cue(-s, s / 4, "from before the first frame"),
        ];
        let mut segmenter = CueSegmenter::of_cues(Kept::default(), cues);
        // Nothing is written before the video's offset is known.
        segmenter.boundary(Ts90k::ZERO).unwrap();
        segmenter.boundary(Ts90k(s)).unwrap();
        assert_eq!(segmenter.cuts(), 0);
        segmenter.set_offset(Ts90k(6000)).unwrap();
        assert_eq!(segmenter.cuts(), 1);
        segmenter.boundary(Ts90k(2 * s)).unwrap();
        let kept = segmenter.finish(Ts90k(3 * s)).unwrap().0;
        assert_eq!(kept.len(), 3);
        assert!(
            kept[0].2.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:6000,"),
            "{}",
            kept[0].2
        );
        assert!(kept[0].2.contains("spans") && kept[0].2.contains("00:00:00.000 --> 00:00:00.250"));
        assert!(kept[1].2.contains("spans") && !kept[1].2.contains("from before"));
        assert!(!kept[2].2.contains("-->"), "{}", kept[2].2);
        assert!(kept
            .iter()
            .all(|k| !k.2.contains("years") && !k.2.contains("long before")));
        assert_eq!((kept[2].0, kept[2].1), (Ts90k(2 * s), Ts90k(3 * s)));
    }
}

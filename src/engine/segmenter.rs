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

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use ffmpeg_next::{format, Dictionary, Packet, Rational};
use parking_lot::Mutex;

use super::error::{EngineError, Result};
use super::ffi;
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
    format: SegmentFormat,
    out: VideoObjects,
    /// Prefix of segment keys and URIs relative to the video (`720p/`).
    uri_prefix: String,
    segments: Vec<Segment>,
}

impl StoreSink {
    pub fn new(out: VideoObjects, uri_prefix: &str, format: SegmentFormat) -> StoreSink {
        StoreSink {
            format,
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
        if self.format == SegmentFormat::Fmp4 {
            self.out
                .put(
                    &format!("{}init.mp4", self.uri_prefix),
                    bytes,
                    Freshness::Immutable,
                )
                .map_err(EngineError::io("storing the init segment"))?;
        }
        Ok(())
    }

    fn segment(&mut self, start: Ts90k, end: Ts90k, bytes: Vec<u8>) -> Result<()> {
        let uri = format!(
            "{}seg{:05}.{}",
            self.uri_prefix,
            self.segments.len(),
            self.format.extension()
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
        let buffer = SharedBuffer::default();
        let io = format::context::StreamIo::from_write(buffer.clone())
            .map_err(EngineError::ffmpeg("creating the segment writer"))?;
        let muxer = match format {
            SegmentFormat::Fmp4 => "mp4",
            SegmentFormat::Ts => "mpegts",
        };
        let mut output = format::output_to_stream(io, None, Some(muxer))
            .map_err(EngineError::ffmpeg("creating the muxer"))?;
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
        })
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

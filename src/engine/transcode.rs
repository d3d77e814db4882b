//! Upload → adaptive ladder: decode once, encode many.
//!
//! ```text
//!                      ┌──────────────── rung thread 1080p: scale → x264 → Segmenter ──┐
//! decode thread ───────┼──────────────── rung thread  720p: scale → x264 → Segmenter ──┼──► events
//! demux, decode,       └──────────────── rung thread  360p: ...                        ┘     │
//! rotate, AAC once    (bounded channels of Arc<frame> + AAC packets, one per rung)          ▼
//!                                                                coordinator (caller's thread):
//!                                                                playlists, progress, cleanup
//! ```
//!
//! The decode thread hands each upright frame (shared, `Arc`) to every rung with the
//! decision "IDR here or not", taken once from pts: a frame whose pts reaches the next
//! boundary of the [`SegmentGrid`] starts a segment on every rung. The grid cuts the first
//! `segment_seconds` short (at 1 s, 2 s, 4 s...), so the first segment of every rung lands
//! after one second of video is encoded instead of a whole segment's worth. The channels
//! are bounded, so the slowest rung paces decoding and memory stays flat. Each rung writes
//! its own segments and media playlist; the coordinator writes the master playlist once
//! every rung lists a segment, and reports progress. Any error or a cancel stops every
//! thread and removes the output directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};
use ffmpeg_next::{codec, frame, Packet, Rational};
use serde::{Deserialize, Serialize};

use super::encoders::{AudioEncoder, VideoEncoder, X264Settings, DEFAULT_PRESET};
use super::error::{EngineError, Result};
use super::ffi;
use super::filters::AUDIO_RATE;
use super::ladder::{self, Rung};
use super::limits::{self, Limits};
use super::poster::PosterPicker;
use super::probe::{probe_within, Probe};
use super::scale::Scaler;
use super::segmenter::{Segmenter, StoreSink, Timeline};
use super::source::{Decoded, Origin, Source, SourceLimits, SourceOptions};
use super::storyboard::StoryboardMaker;
use crate::hls::{playlist, Rendition, SegmentFormat};
use crate::storage::VideoObjects;
use crate::time::Ts90k;

/// What to make of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeOptions {
    /// Rung numbers (short sides); `None` for the default ladder.
    pub heights: Option<Vec<u32>>,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
    pub preset: String,
    /// The operator's limits: refused sources, the top rung, the frame rate.
    pub limits: Limits,
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        TranscodeOptions {
            heights: None,
            segment_seconds: 4.0,
            format: SegmentFormat::Fmp4,
            preset: DEFAULT_PRESET.into(),
            limits: Limits::default(),
        }
    }
}

impl TranscodeOptions {
    pub fn validate(&self) -> Result<()> {
        if !(1.0..=30.0).contains(&self.segment_seconds) || !self.segment_seconds.is_finite() {
            return Err(EngineError::InvalidOption(
                "segment_seconds must be a number from 1 to 30".into(),
            ));
        }
        Ok(())
    }
}

/// A ladder in progress or done: what manifest.json and the video object describe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderState {
    /// Seconds of video actually encoded (the probe's duration until done).
    pub duration: f64,
    pub source: Probe,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
    pub renditions: Vec<Rendition>,
    pub skipped_heights: Vec<u32>,
    /// 0..1
    pub progress: f64,
}

/// Stops a running job from another thread.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Input of a rung thread.
enum RungInput {
    Video {
        frame: Arc<frame::Video>,
        pts: Ts90k,
        idr: bool,
    },
    Audio(Packet),
    AudioEnd,
    End(Ts90k),
}

/// What pipeline threads tell the coordinator.
enum Event {
    RungReady { rung: usize, codecs: String },
    Segment { rung: usize, rendition: Rendition },
    RungDone { rung: usize, rendition: Rendition },
    Decoded(Ts90k),
    DecodeDone(Ts90k),
    Failed(EngineError),
}

/// Transcodes `input` into an HLS ladder stored as `out`'s objects (segments as they are
/// cut, each playlist after the segments it names).
///
/// `on_progress` is called on this thread whenever a segment lands or decoding moves on.
/// On error or cancel, every object of `out` is removed and the error returned.
pub fn transcode(
    input: &Path,
    out: &VideoObjects,
    opts: &TranscodeOptions,
    on_progress: &mut dyn FnMut(&LadderState),
    cancel: &CancelToken,
) -> Result<LadderState> {
    opts.validate()?;
    let source = probe_within(input, &opts.limits)?;
    let result = run(input, out, opts, source, on_progress, cancel);
    if result.is_err() {
        if let Err(e) = out.remove_all() {
            log::warn!("could not clean up a failed job's output: {e}");
        }
    }
    result
}

fn run(
    input: &Path,
    out: &VideoObjects,
    opts: &TranscodeOptions,
    source: Probe,
    on_progress: &mut dyn FnMut(&LadderState),
    cancel: &CancelToken,
) -> Result<LadderState> {
    let plan = ladder::plan_capped(
        source.video.display_width,
        source.video.display_height,
        opts.heights.as_deref(),
        opts.limits.max_short_side,
    )?;
    let frame_rate = frame_rate_of(&source, opts.limits.max_fps);
    let audio = if source.audio_tracks.is_empty() {
        None
    } else {
        Some(AudioEncoder::open()?)
    };
    let audio_params = audio.as_ref().map(|a| codec::Parameters::from(a.encoder()));
    let audio_codecs = audio.as_ref().map(|a| a.codecs().to_string());

    let mut state = LadderState {
        duration: source.duration,
        source: source.clone(),
        segment_seconds: opts.segment_seconds,
        format: opts.format,
        renditions: Vec::new(),
        skipped_heights: plan.skipped.clone(),
        progress: 0.0,
    };
    for rung in &plan.rungs {
        state.renditions.push(Rendition {
            height: rung.short_side,
            width: rung.width,
            picture_height: rung.height,
            bandwidth: rung.maxrate + ladder::AUDIO_BITRATE as u64,
            average_bandwidth: 0,
            codecs: String::new(),
            frame_rate: f64::from(frame_rate),
            playlist: format!("{}/index.m3u8", rung.name()),
            init: (opts.format == SegmentFormat::Fmp4).then(|| format!("{}/init.mp4", rung.name())),
            segments: Vec::new(),
        });
    }

    let stop = CancelToken::new();
    let (event_tx, event_rx) = bounded::<Event>(256);
    let feeders = feeders(
        &plan.rungs,
        (source.video.display_width, source.video.display_height),
    );
    // Frames in flight are counted in bytes: a channel of 8K pictures holds 2, not 16.
    let (txs, rxs): (Vec<_>, Vec<_>) = feeders
        .iter()
        .map(|feeder| {
            let picture_bytes = match feeder {
                None => limits::source_picture_bytes(&source),
                Some(j) => limits::rung_picture_bytes(&plan.rungs[*j]),
            };
            bounded::<RungInput>(limits::queue_depth(picture_bytes))
        })
        .unzip();
    let mut rung_txs = Vec::new();
    let mut children: Vec<Vec<Sender<RungInput>>> = plan.rungs.iter().map(|_| Vec::new()).collect();
    for (i, tx) in txs.into_iter().enumerate() {
        match feeders[i] {
            Some(j) => children[j].push(tx),
            None => rung_txs.push(tx),
        }
    }
    let mut handles = Vec::new();
    for ((i, rung), (rx, children)) in plan.rungs.iter().enumerate().zip(rxs.into_iter().zip(children)) {
        let job = RungJob {
            index: i,
            rung: rung.clone(),
            out: out.clone(),
            rendition: state.renditions[i].clone(),
            format: opts.format,
            segment_seconds: opts.segment_seconds,
            preset: opts.preset.clone(),
            children,
            frame_rate,
            audio_params: audio_params.clone(),
        };
        let events = event_tx.clone();
        handles.push(
            thread::Builder::new()
                .name(format!("rung-{}", rung.name()))
                .spawn(move || {
                    if let Err(e) = job.run(rx, &events) {
                        let _ = events.send(Event::Failed(e));
                    }
                })
                .map_err(EngineError::io("starting a rung thread"))?,
        );
    }
    {
        let decode = DecodeJob {
            input: input.to_path_buf(),
            has_audio: audio.is_some(),
            audio,
            grid: SegmentGrid::new(Ts90k::from_secs(opts.segment_seconds)),
            out: out.clone(),
            picture: (source.video.display_width, source.video.display_height),
            duration: Ts90k::from_secs(source.duration),
            stop: stop.clone(),
            limits: opts.limits.for_source(&source),
        };
        let events = event_tx.clone();
        handles.push(
            thread::Builder::new()
                .name("decode".into())
                .spawn(move || {
                    if let Err(e) = decode.run(rung_txs, &events) {
                        let _ = events.send(Event::Failed(e));
                    }
                })
                .map_err(EngineError::io("starting the decode thread"))?,
        );
    }
    drop(event_tx);

    let outcome = coordinate(
        &event_rx,
        &mut state,
        out,
        opts,
        audio_codecs.as_deref(),
        on_progress,
        cancel,
        &stop,
    );
    if outcome.is_err() {
        stop.cancel();
    }
    drop(event_rx); // unblocks any thread still sending events
    for h in handles {
        if h.join().is_err() {
            return Err(EngineError::Internal("a pipeline thread panicked".into()));
        }
    }
    outcome?;
    Ok(state)
}

#[allow(clippy::too_many_arguments)]
fn coordinate(
    events: &Receiver<Event>,
    state: &mut LadderState,
    out: &VideoObjects,
    opts: &TranscodeOptions,
    audio_codecs: Option<&str>,
    on_progress: &mut dyn FnMut(&LadderState),
    cancel: &CancelToken,
    stop: &CancelToken,
) -> Result<()> {
    let rungs = state.renditions.len();
    let mut done = 0;
    let mut master_published = false;
    let mut decode_end = None;
    // Set when a thread stopped only because another one failed.
    let mut knock_on = false;
    let duration = Ts90k::from_secs(state.source.duration.max(0.001));
    while done < rungs || decode_end.is_none() {
        let event = match events.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(e) => e,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if cancel.is_cancelled() {
                    stop.cancel();
                    return Err(EngineError::Cancelled);
                }
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) if knock_on => {
                return Err(EngineError::Cancelled)
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(EngineError::Internal(
                    "pipeline threads ended without finishing".into(),
                ))
            }
        };
        if cancel.is_cancelled() {
            stop.cancel();
            return Err(EngineError::Cancelled);
        }
        match event {
            Event::RungReady { rung, codecs } => {
                state.renditions[rung].codecs = match audio_codecs {
                    Some(a) => format!("{codecs},{a}"),
                    None => codecs,
                };
            }
            Event::Segment { rung, rendition } => {
                state.renditions[rung].segments = rendition.segments;
                // Players (video.js, Shaka) fail on a master whose playlists list nothing
                // yet: it appears with the last rung's first segment. A rung's RungReady
                // (its CODECS) always comes before its segments.
                if !master_published && state.renditions.iter().all(|r| !r.segments.is_empty()) {
                    playlist::write_master(out, &state.renditions, opts.format, false)
                        .map_err(EngineError::io("writing the master playlist"))?;
                    master_published = true;
                }
                on_progress(state);
            }
            Event::RungDone { rung, rendition } => {
                state.renditions[rung].segments = rendition.segments;
                done += 1;
            }
            Event::Decoded(pts) => {
                state.progress = (pts.secs() / duration.secs()).clamp(0.0, 0.99);
                on_progress(state);
            }
            Event::DecodeDone(end) => decode_end = Some(end),
            // A thread that stopped because another one failed first (its channel
            // closed): wait for the failure that says why.
            Event::Failed(EngineError::Cancelled) if !cancel.is_cancelled() => {
                stop.cancel();
                knock_on = true;
            }
            Event::Failed(e) => return Err(e),
        }
    }
    // Done: measured bandwidth, VOD playlists, then the master that points at them.
    state.duration = decode_end.map(Ts90k::secs).unwrap_or(state.duration);
    for r in &mut state.renditions {
        r.measure_bandwidth();
        playlist::write_media(out, r, opts.format, opts.segment_seconds, true)
            .map_err(EngineError::io("writing a media playlist"))?;
    }
    playlist::write_master(out, &state.renditions, opts.format, true)
        .map_err(EngineError::io("writing the master playlist"))?;
    state.progress = 1.0;
    Ok(())
}

/// Which rung each rung scales its pictures from: `None` for the source, `Some(j)` for
/// rung `j`'s scaled pictures. A rung at most half as wide and high as a scaled (smaller
/// than the source) rung scales from the smallest such rung: swscale's horizontal pass
/// reads every source line, so 360p from 720p costs about half of 360p from 1080p. The
/// cascade moves a rung's picture by about 61 dB PSNR from the direct bicubic scale
/// (testsrc2, 720p to 360p and 480p to 240p), against the 43 dB x264 leaves at CRF 23:
/// 0.07 dB less PSNR. Ratios under 2 move it too much (480p from 720p: 56 dB).
fn feeders(rungs: &[Rung], source: (u32, u32)) -> Vec<Option<usize>> {
    rungs
        .iter()
        .map(|r| {
            rungs
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    (f.width, f.height) != source && f.width >= 2 * r.width && f.height >= 2 * r.height
                })
                .min_by_key(|(_, f)| f.width * f.height)
                .map(|(j, _)| j)
        })
        .collect()
}

/// The output frame rate: the source's, at most `max_fps` (the decode thread drops the
/// frames above it).
fn frame_rate_of(p: &Probe, max_fps: u32) -> Rational {
    if p.video.frame_rate > f64::from(max_fps) {
        Rational(max_fps as i32, 1)
    } else if p.video.frame_rate > 0.0 {
        Rational::from(p.video.frame_rate).reduce()
    } else {
        Rational(30.min(max_fps) as i32, 1)
    }
}

/// Everything a rung thread needs; moved onto it.
struct RungJob {
    index: usize,
    rung: Rung,
    /// The video's objects; this rung's live under `{rung}/`.
    out: VideoObjects,
    rendition: Rendition,
    format: SegmentFormat,
    segment_seconds: f64,
    preset: String,
    /// Smaller rungs scaled from this one's pictures: they get everything this rung gets,
    /// its scaled picture in place of the source's.
    children: Vec<Sender<RungInput>>,
    frame_rate: Rational,
    audio_params: Option<codec::Parameters>,
}

impl RungJob {
    /// Passes a message on to the rungs scaled from this one.
    fn forward(&self, msg: impl Fn() -> RungInput) -> Result<()> {
        for tx in &self.children {
            tx.send(msg()).map_err(|_| EngineError::Cancelled)?;
        }
        Ok(())
    }

    /// Rewrites this rung's media playlist as an EVENT playlist of the segments so far.
    fn write_event_playlist(&self) -> Result<()> {
        playlist::write_media(
            &self.out,
            &self.rendition,
            self.format,
            self.segment_seconds,
            false,
        )
        .map_err(EngineError::io("writing a media playlist"))
    }

    fn run(mut self, input: Receiver<RungInput>, events: &Sender<Event>) -> Result<()> {
        let mut encoder = VideoEncoder::open(
            &self.rung,
            self.frame_rate,
            &X264Settings::ladder(&self.preset, &self.rung),
        )?;
        let audio_ctx = match &self.audio_params {
            Some(p) => Some(
                codec::Context::from_parameters(p.clone())
                    .map_err(EngineError::ffmpeg("copying audio parameters"))?,
            ),
            None => None,
        };
        let sink = StoreSink::new(self.out.clone(), &format!("{}/", self.rung.name()), self.format);
        let mut segmenter = Segmenter::open(
            sink,
            self.format,
            Timeline::ShiftToZero,
            encoder.encoder(),
            audio_ctx.as_ref().map(|c| (c, Rational(1, AUDIO_RATE as i32))),
        )?;
        self.write_event_playlist()?;
        send(
            events,
            Event::RungReady {
                rung: self.index,
                codecs: encoder.codecs().to_string(),
            },
        )?;

        let mut scaler = Scaler::new(self.rung.width, self.rung.height);
        let mut packets = Vec::new();
        let mut count = segmenter.cuts();
        for msg in input.iter() {
            match msg {
                RungInput::Video { frame, pts, idr } => {
                    let scaled = scaler.run(&frame)?;
                    drop(frame);
                    if !self.children.is_empty() {
                        let shared = Arc::new(
                            ffi::frame_ref(scaled).map_err(EngineError::ffmpeg("referencing a frame"))?,
                        );
                        self.forward(|| RungInput::Video {
                            frame: shared.clone(),
                            pts,
                            idr,
                        })?;
                    }
                    encoder.send_frame(scaled, pts, idr)?;
                    encoder.receive_packets(&mut packets)?;
                    for p in packets.drain(..) {
                        segmenter.push_video(p)?;
                    }
                }
                RungInput::Audio(p) => {
                    self.forward(|| RungInput::Audio(p.clone()))?;
                    segmenter.push_audio(p)?;
                }
                RungInput::AudioEnd => {
                    self.forward(|| RungInput::AudioEnd)?;
                    segmenter.end_audio()?;
                }
                RungInput::End(end) => {
                    self.forward(|| RungInput::End(end))?;
                    encoder.send_eof()?;
                    encoder.receive_packets(&mut packets)?;
                    for p in packets.drain(..) {
                        segmenter.push_video(p)?;
                    }
                    self.rendition.segments = segmenter.finish(end)?.segments().to_vec();
                    send(
                        events,
                        Event::RungDone {
                            rung: self.index,
                            rendition: self.rendition,
                        },
                    )?;
                    return Ok(());
                }
            }
            if segmenter.cuts() != count {
                count = segmenter.cuts();
                self.rendition.segments = segmenter.sink().segments().to_vec();
                self.write_event_playlist()?;
                send(
                    events,
                    Event::Segment {
                        rung: self.index,
                        rendition: self.rendition.clone(),
                    },
                )?;
            }
        }
        // The decode thread hung up without End: cancelled or failed; nothing to finish.
        Err(EngineError::Cancelled)
    }
}

fn send(events: &Sender<Event>, e: Event) -> Result<()> {
    events.send(e).map_err(|_| EngineError::Cancelled)
}

/// Where segments start: at 0, then at whole powers of two seconds (1 s, 2 s, 4 s...)
/// below the chosen length, then at its multiples. With 4 s segments: 0, 1, 2, 4, 8, 12...
/// (segments of 1, 1, 2, then 4 s); with 2 s: 0, 1, 2, 4... A player can start, and the
/// master be published, once one second of every rung is encoded; from the chosen length
/// on the boundaries are the ones a plain grid of `segment_seconds` would give, and no
/// segment is longer than `segment_seconds`, so TARGETDURATION does not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentGrid {
    segment: Ts90k,
}

impl SegmentGrid {
    /// The first of the short segments.
    const FIRST: Ts90k = Ts90k(crate::time::HZ);

    pub fn new(segment: Ts90k) -> SegmentGrid {
        SegmentGrid {
            segment: Ts90k(segment.0.max(1)),
        }
    }

    /// The first boundary strictly after `t`.
    pub fn boundary_after(self, t: Ts90k) -> Ts90k {
        if t >= self.segment {
            return Ts90k((t.0 / self.segment.0 + 1) * self.segment.0);
        }
        let mut short = Self::FIRST;
        while short <= t {
            short = Ts90k(short.0 * 2);
        }
        short.min(self.segment)
    }
}

/// Everything the decode thread needs; moved onto it.
struct DecodeJob {
    input: PathBuf,
    has_audio: bool,
    audio: Option<AudioEncoder>,
    grid: SegmentGrid,
    /// Where the poster and the storyboard go.
    out: VideoObjects,
    /// The displayed picture's size, which the storyboard's tiles take the shape of.
    picture: (u32, u32),
    /// What the source declares (zero when unknown).
    duration: Ts90k,
    stop: CancelToken,
    limits: SourceLimits,
}

impl DecodeJob {
    fn run(mut self, rungs: Vec<Sender<RungInput>>, events: &Sender<Event>) -> Result<()> {
        let frame_size = self.audio.as_ref().map(|a| a.frame_size()).unwrap_or(1024);
        let options = SourceOptions {
            audio_track: self.has_audio.then_some(0),
            start: None,
            origin: Origin::FirstVideoFrame,
            limits: self.limits,
        };
        let mut source = Source::open(&self.input, &options, frame_size)?;
        let mut next_boundary = Ts90k::ZERO;
        let mut last_report: Option<Ts90k> = None;
        let mut packets = Vec::new();
        let broadcast = |msg: &dyn Fn() -> RungInput| -> Result<()> {
            for tx in &rungs {
                tx.send(msg()).map_err(|_| EngineError::Cancelled)?;
            }
            Ok(())
        };
        let stop = self.stop.clone();
        let mut audio = self.audio.take();
        let poster = &mut PosterPicker::new(self.out.clone(), self.duration);
        // Built here: its scaler is not `Send`.
        let (width, height) = self.picture;
        let mut storyboard = StoryboardMaker::new(self.out.clone(), width, height, self.duration);
        let grid = self.grid;
        source.run(&mut |item| {
            if stop.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            match item {
                Decoded::Video(frame, pts) => {
                    poster.offer(&frame, pts)?;
                    storyboard.offer(&frame, pts)?;
                    let idr = pts >= next_boundary;
                    if idr {
                        next_boundary = grid.boundary_after(pts);
                    }
                    let frame = Arc::new(frame);
                    broadcast(&|| RungInput::Video {
                        frame: frame.clone(),
                        pts,
                        idr,
                    })?;
                    if last_report.is_none_or(|last| pts.0 - last.0 >= crate::time::HZ / 2) {
                        last_report = Some(pts);
                        send(events, Event::Decoded(pts))?;
                    }
                }
                Decoded::Audio(frame) => {
                    if let Some(enc) = audio.as_mut() {
                        enc.send_frame(&frame)?;
                        enc.receive_packets(&mut packets)?;
                        for p in packets.drain(..) {
                            broadcast(&|| RungInput::Audio(p.clone()))?;
                        }
                    }
                }
            }
            Ok(true)
        })?;
        if let Some(enc) = audio.as_mut() {
            enc.send_eof()?;
            enc.receive_packets(&mut packets)?;
            for p in packets.drain(..) {
                broadcast(&|| RungInput::Audio(p.clone()))?;
            }
        }
        broadcast(&|| RungInput::AudioEnd)?;
        poster.finish()?;
        let end = source.end();
        broadcast(&|| RungInput::End(end))?;
        // While the rungs drain their encoders: the last sheet and storyboard.vtt, before
        // DecodeDone lets the video become ready.
        storyboard.finish(end)?;
        send(events, Event::DecodeDone(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rungs_scale_from_a_rung_twice_their_size() {
        let plan = ladder::plan(1920, 1080, None).unwrap();
        let sizes: Vec<_> = plan.rungs.iter().map(|r| r.height).collect();
        assert_eq!(sizes, vec![1080, 720, 480, 360, 240]);
        assert_eq!(
            feeders(&plan.rungs, (1920, 1080)),
            vec![None, None, None, Some(1), Some(2)]
        );
        let plan = ladder::plan(768, 432, None).unwrap();
        assert!(feeders(&plan.rungs, (768, 432)).iter().all(Option::is_none));
    }

    /// The boundaries of the first `n` segments, in seconds.
    fn boundaries(segment_seconds: f64, n: usize) -> Vec<f64> {
        let grid = SegmentGrid::new(Ts90k::from_secs(segment_seconds));
        let mut t = vec![Ts90k::ZERO];
        while t.len() < n {
            t.push(grid.boundary_after(*t.last().unwrap()));
        }
        t.into_iter().map(Ts90k::secs).collect()
    }

    #[test]
    fn the_first_segments_are_short_then_the_chosen_length() {
        assert_eq!(boundaries(4.0, 7), [0.0, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0]);
        assert_eq!(boundaries(2.0, 5), [0.0, 1.0, 2.0, 4.0, 6.0]);
        assert_eq!(boundaries(1.0, 4), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(boundaries(6.0, 7), [0.0, 1.0, 2.0, 4.0, 6.0, 12.0, 18.0]);
        assert_eq!(boundaries(1.5, 5), [0.0, 1.0, 1.5, 3.0, 4.5]);
        assert_eq!(boundaries(10.0, 7), [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 20.0]);
        // A frame past a boundary (pts rarely fall on it) moves to the next one.
        let grid = SegmentGrid::new(Ts90k::from_secs(4.0));
        assert_eq!(grid.boundary_after(Ts90k::from_secs(1.03)), Ts90k::from_secs(2.0));
        assert_eq!(grid.boundary_after(Ts90k::from_secs(4.03)), Ts90k::from_secs(8.0));
    }
}

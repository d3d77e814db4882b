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
//!
//! Audio and subtitles ([`TrackPlan`]): every audio track is decoded and AAC-encoded once,
//! on the decode thread, and a track of 6 or more channels also AC-3-encoded in 5.1. A
//! source with one audio track (not surround) has it muxed into every rung (what every
//! player, channel and live re-use takes); with several, or a surround one, each is an
//! audio-only rendition, and each text subtitle track a WebVTT rendition, cut by the top rung's
//! thread on its own IDR instants with its muxer's offset ([`SideRenditions`]), so they
//! line up with the video exactly. At most [`MAX_AUDIO_TRACKS`] and
//! [`MAX_SUBTITLE_TRACKS`]: more are listed as skipped, never decoded.

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
use super::segmenter::{AudioSegmenter, CueSegmenter, Segmenter, StoreSink, Timeline};
use super::source::{Decoded, Origin, Source, SourceLimits, SourceOptions};
use super::storyboard::StoryboardMaker;
use crate::hls::webvtt::Cue;
use crate::hls::{
    self, language, playlist, AudioRendition, Rendition, Segment, SegmentFormat, SkippedTrack,
    SubtitleRendition,
};
use crate::storage::VideoObjects;
use crate::time::Ts90k;

/// Most audio tracks a ladder encodes. Each costs a decoder, a resampler and an AAC
/// encoder on the decode thread (about 1 % of a core and a few MB each) and a rendition;
/// a file with 40 audio tracks gets the first 8 and lists the rest in `skipped_tracks`.
pub const MAX_AUDIO_TRACKS: usize = 8;
/// Most text subtitle tracks a ladder turns into WebVTT renditions (likewise).
pub const MAX_SUBTITLE_TRACKS: usize = 16;

/// Channels from which an audio track also gets a surround (AC-3 5.1) rendition.
pub const SURROUND_CHANNELS: u16 = 6;

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
    /// Subtitle files that come with the source (an upload's `subtitles` fields): each a
    /// WebVTT rendition after the source's own subtitle tracks.
    pub subtitle_files: Vec<SubtitleFile>,
    /// Make a surround (AC-3 5.1) rendition of every audio track of 6 or more channels
    /// (on by default; `reel transcode --no-surround` turns it off).
    pub surround: bool,
}

/// A SubRip or WebVTT file to turn into a subtitle rendition; its times are the video's
/// as players show it (0 = the first frame).
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleFile {
    pub path: PathBuf,
    /// BCP 47 language, when known.
    pub language: Option<String>,
    /// The name it was uploaded under (`film.fr.srt`): the rendition's `file`, and its
    /// NAME's last resort.
    pub file_name: String,
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        TranscodeOptions {
            heights: None,
            segment_seconds: 4.0,
            format: SegmentFormat::Fmp4,
            preset: DEFAULT_PRESET.into(),
            limits: Limits::default(),
            subtitle_files: Vec::new(),
            surround: true,
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
    /// One per audio track encoded: muxed into the renditions (one track) or renditions
    /// of their own (several).
    #[serde(default)]
    pub audio: Vec<AudioRendition>,
    /// One per text subtitle track.
    #[serde(default)]
    pub subtitles: Vec<SubtitleRendition>,
    /// Tracks left out: bitmap subtitles, tracks over the caps.
    #[serde(default)]
    pub skipped_tracks: Vec<SkippedTrack>,
    /// 0..1
    pub progress: f64,
}

/// What becomes of a source's audio and subtitle tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPlan {
    /// The audio renditions: the stereo ones in the source's order, then the surround
    /// ones (in the same order); their `index` counts audio streams.
    pub audio: Vec<AudioRendition>,
    pub subtitles: Vec<SubtitleRendition>,
    /// For each subtitle rendition of a stream (the first ones), the subtitle stream it
    /// comes from (counting subtitle streams from 0).
    pub subtitle_streams: Vec<usize>,
    /// For each subtitle rendition of a file (after those of streams), the file.
    pub subtitle_files: Vec<PathBuf>,
    pub skipped: Vec<SkippedTrack>,
}

impl TrackPlan {
    /// One audio track stays muxed into the video renditions; several get renditions of
    /// their own (`audio{index}/`), and so does one of `surround` with 6 or more channels,
    /// whose surround rendition (`audio{index}-surround/`) follows the stereo ones (when
    /// `surround`); text subtitles get WebVTT renditions
    /// (`subtitles{index}/`), then `files` (indices after the streams'); bitmap subtitles
    /// and tracks over the caps are skipped.
    pub fn of(source: &Probe, format: SegmentFormat, files: &[SubtitleFile], surround: bool) -> TrackPlan {
        let mut skipped = Vec::new();
        let audio_tracks = &source.audio_tracks;
        for t in audio_tracks.iter().skip(MAX_AUDIO_TRACKS) {
            skipped.push(SkippedTrack {
                kind: "audio".into(),
                index: t.index,
                codec: t.codec.clone(),
                language: t.language.as_deref().and_then(language::bcp47),
                reason: format!("over the limit of {MAX_AUDIO_TRACKS} audio tracks"),
            });
        }
        let kept: Vec<_> = audio_tracks.iter().take(MAX_AUDIO_TRACKS).collect();
        let languages: Vec<Option<String>> = kept
            .iter()
            .map(|t| t.language.as_deref().and_then(language::bcp47))
            .collect();
        let names = language::track_names(
            &kept
                .iter()
                .zip(&languages)
                .map(|(t, l)| (t.title.as_deref(), l.as_deref()))
                .collect::<Vec<_>>(),
            "Audio",
        );
        // Tracks of 6 or more channels also get a surround rendition (when asked for).
        let is_surround = |channels: u16| surround && channels >= SURROUND_CHANNELS;
        let separate = kept.len() > 1 || kept.iter().any(|t| is_surround(t.channels));
        let mut audio: Vec<AudioRendition> = kept
            .iter()
            .zip(languages)
            .zip(names)
            .map(|((t, language), name)| AudioRendition {
                index: t.index,
                language,
                name,
                codec: "aac".into(),
                channels: 2,
                group: playlist::AUDIO_GROUP.into(),
                default: t.index == 0,
                playlist: separate.then(|| format!("{}/index.m3u8", hls::audio_dir(t.index))),
                codecs: String::new(),
                bandwidth: ladder::AUDIO_BITRATE as u64,
                average_bandwidth: 0,
                init: (separate && format == SegmentFormat::Fmp4)
                    .then(|| format!("{}/init.mp4", hls::audio_dir(t.index))),
                segments: Vec::new(),
            })
            .collect();
        // The surround renditions: the same tracks (names, languages), in a group of
        // their own whose first one is its default.
        let surrounds: Vec<AudioRendition> = kept
            .iter()
            .zip(audio.clone())
            .filter(|(t, _)| is_surround(t.channels))
            .enumerate()
            .map(|(k, (t, stereo))| AudioRendition {
                codec: "ac3".into(),
                channels: 6,
                group: playlist::SURROUND_GROUP.into(),
                default: k == 0,
                playlist: Some(format!("{}/index.m3u8", hls::surround_dir(t.index))),
                codecs: hls::codecs::AC3.into(),
                bandwidth: ladder::SURROUND_BITRATE as u64,
                init: (format == SegmentFormat::Fmp4)
                    .then(|| format!("{}/init.mp4", hls::surround_dir(t.index))),
                ..stereo
            })
            .collect();
        audio.extend(surrounds);

        let mut text = Vec::new();
        for t in &source.subtitle_tracks {
            let reason = if !t.text {
                "bitmap subtitles (or an unknown codec) cannot become WebVTT".to_string()
            } else if text.len() >= MAX_SUBTITLE_TRACKS {
                format!("over the limit of {MAX_SUBTITLE_TRACKS} subtitle tracks")
            } else {
                text.push(t);
                continue;
            };
            skipped.push(SkippedTrack {
                kind: "subtitle".into(),
                index: t.index,
                codec: t.codec.clone(),
                language: t.language.as_deref().and_then(language::bcp47),
                reason,
            });
        }
        let first_file_index = source.subtitle_tracks.len();
        let room = MAX_SUBTITLE_TRACKS.saturating_sub(text.len());
        for (i, f) in files.iter().enumerate().skip(room) {
            skipped.push(SkippedTrack {
                kind: "subtitle".into(),
                index: first_file_index + i,
                codec: f.file_name.clone(),
                language: f.language.clone(),
                reason: format!("over the limit of {MAX_SUBTITLE_TRACKS} subtitle tracks"),
            });
        }
        let files = &files[..files.len().min(room)];
        let rendition = |index: usize, language: Option<String>, file: Option<String>| SubtitleRendition {
            index,
            language,
            name: String::new(),
            playlist: format!("{}/index.m3u8", hls::subtitles_dir(index)),
            file,
            segments: Vec::new(),
        };
        let mut subtitles: Vec<SubtitleRendition> = text
            .iter()
            .map(|t| rendition(t.index, t.language.as_deref().and_then(language::bcp47), None))
            .collect();
        let mut titles: Vec<Option<&str>> = text.iter().map(|t| t.title.as_deref()).collect();
        for (i, f) in files.iter().enumerate() {
            subtitles.push(rendition(
                first_file_index + i,
                f.language.clone(),
                Some(f.file_name.clone()),
            ));
            // A file's name is its title only when it has no language to be named after.
            titles.push(f.language.is_none().then_some(f.file_name.as_str()));
        }
        let names = language::track_names(
            &titles
                .iter()
                .zip(&subtitles)
                .map(|(title, s)| (*title, s.language.as_deref()))
                .collect::<Vec<_>>(),
            "Subtitles",
        );
        for (s, name) in subtitles.iter_mut().zip(names) {
            s.name = name;
        }
        TrackPlan {
            audio,
            subtitles,
            subtitle_streams: text.iter().map(|t| t.index).collect(),
            subtitle_files: files.iter().map(|f| f.path.clone()).collect(),
            skipped,
        }
    }

    /// Whether the audio has renditions of its own (else it is muxed, or there is none).
    pub fn separate_audio(&self) -> bool {
        self.audio.iter().any(|a| a.playlist.is_some())
    }
}

/// Stops a running job from another thread.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    cancelled: Arc<AtomicBool>,
    /// Set by [`abandon`](Self::abandon): the output is someone else's now.
    keep_output: Arc<AtomicBool>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    /// Stops the job; what it wrote is removed.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
    /// Stops the job and leaves its output alone: another worker took the job over (its
    /// lease was lost) and writes the same objects now.
    pub fn abandon(&self) {
        self.keep_output.store(true, Ordering::SeqCst);
        self.cancel();
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
    /// True once [`abandon`](Self::abandon)ed: the output must not be touched.
    pub fn keeps_output(&self) -> bool {
        self.keep_output.load(Ordering::SeqCst)
    }
}

/// Input of a rung thread.
enum RungInput {
    Video {
        frame: Arc<frame::Video>,
        pts: Ts90k,
        idr: bool,
    },
    /// An encoded audio packet of audio rendition `track` (0 when muxed).
    Audio {
        track: usize,
        packet: Packet,
    },
    AudioEnd,
    /// Every cue of subtitle rendition `track`, on the ladder's timeline (the top rung
    /// only, before the video's second frame).
    Cues {
        track: usize,
        cues: Vec<Cue>,
    },
    End(Ts90k),
}

/// What pipeline threads tell the coordinator.
enum Event {
    RungReady {
        rung: usize,
        codecs: String,
    },
    Segment {
        rung: usize,
        rendition: Rendition,
    },
    RungDone {
        rung: usize,
        rendition: Rendition,
    },
    /// The segments of audio rendition `track` so far.
    AudioSegments {
        track: usize,
        segments: Vec<Segment>,
    },
    /// The segments of subtitle rendition `track` so far.
    SubtitleSegments {
        track: usize,
        segments: Vec<Segment>,
    },
    Decoded(Ts90k),
    DecodeDone(Ts90k),
    Failed(EngineError),
}

/// Transcodes `input` into an HLS ladder stored as `out`'s objects (segments as they are
/// cut, each playlist after the segments it names).
///
/// `on_progress` is called on this thread whenever a segment lands or decoding moves on.
/// On error or cancel, every object of `out` is removed and the error returned; but for a
/// job [abandoned](CancelToken::abandon), whose objects are another worker's now.
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
    if result.is_err() && !cancel.keeps_output() {
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
    let mut tracks = TrackPlan::of(&source, opts.format, &opts.subtitle_files, opts.surround);
    let audio = tracks
        .audio
        .iter()
        .map(|a| match a.is_surround() {
            true => AudioEncoder::ac3(),
            false => AudioEncoder::aac(),
        })
        .collect::<Result<Vec<_>>>()?;
    // The stereo renditions' (what the variants' CODECS name).
    let audio_codecs = audio.first().map(|a| a.codecs().to_string());
    for (a, enc) in tracks.audio.iter_mut().zip(&audio) {
        a.codecs = enc.codecs().to_string();
    }
    let separate_audio = tracks.separate_audio();
    // Muxed: every rung's muxer gets the one track.
    let muxed_audio_params = match separate_audio {
        false => audio.first().map(|a| a.parameters()).transpose()?,
        true => None,
    };
    let mut side = Some(SidePlan {
        audio: match separate_audio {
            true => tracks
                .audio
                .iter()
                .zip(&audio)
                .map(|(a, enc)| Ok((a.clone(), enc.parameters()?)))
                .collect::<Result<Vec<_>>>()?,
            false => Vec::new(),
        },
        subtitles: tracks.subtitles.clone(),
    })
    .filter(|s| !s.audio.is_empty() || !s.subtitles.is_empty());

    let mut state = LadderState {
        duration: source.duration,
        source: source.clone(),
        segment_seconds: opts.segment_seconds,
        format: opts.format,
        renditions: Vec::new(),
        skipped_heights: plan.skipped.clone(),
        audio: tracks.audio.clone(),
        subtitles: tracks.subtitles.clone(),
        skipped_tracks: tracks.skipped.clone(),
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
            audio_params: muxed_audio_params.clone(),
            // The top rung (fed by the source, first) cuts the audio and subtitle renditions.
            side: if i == 0 { side.take() } else { None },
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
            audio_tracks: tracks
                .audio
                .iter()
                .filter(|a| !a.is_surround())
                .map(|a| a.index)
                .collect(),
            surround_tracks: tracks
                .audio
                .iter()
                .filter(|a| a.is_surround())
                .map(|a| a.index)
                .collect(),
            separate_audio,
            subtitle_tracks: tracks.subtitle_streams.clone(),
            subtitle_files: tracks.subtitle_files.clone(),
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
                publish_master_once(state, out, opts.format, &mut master_published)?;
                on_progress(state);
            }
            Event::AudioSegments { track, segments } => {
                state.audio[track].segments = segments;
                publish_master_once(state, out, opts.format, &mut master_published)?;
            }
            Event::SubtitleSegments { track, segments } => {
                state.subtitles[track].segments = segments;
                publish_master_once(state, out, opts.format, &mut master_published)?;
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
    for a in &mut state.audio {
        if a.playlist.is_some() {
            a.measure_bandwidth();
            playlist::write_audio_media(out, a, opts.format, opts.segment_seconds, true)
                .map_err(EngineError::io("writing an audio playlist"))?;
        }
    }
    for s in &state.subtitles {
        playlist::write_subtitle_media(out, s, opts.segment_seconds, true)
            .map_err(EngineError::io("writing a subtitle playlist"))?;
    }
    for r in &mut state.renditions {
        r.measure_bandwidth();
        r.add_audio(&state.audio);
        playlist::write_media(out, r, opts.format, opts.segment_seconds, true)
            .map_err(EngineError::io("writing a media playlist"))?;
    }
    write_master(state, out, opts.format, true)?;
    state.progress = 1.0;
    Ok(())
}

/// Players (video.js, Shaka) fail on a master whose playlists list nothing yet: it
/// appears once every playlist it names lists a segment. A rung's RungReady (its CODECS)
/// always comes before its segments.
fn publish_master_once(
    state: &LadderState,
    out: &VideoObjects,
    format: SegmentFormat,
    published: &mut bool,
) -> Result<()> {
    let listed = state.renditions.iter().all(|r| !r.segments.is_empty())
        && state
            .audio
            .iter()
            .all(|a| a.playlist.is_none() || !a.segments.is_empty())
        && state.subtitles.iter().all(|s| !s.segments.is_empty());
    if !*published && listed {
        write_master(state, out, format, false)?;
        *published = true;
    }
    Ok(())
}

fn write_master(state: &LadderState, out: &VideoObjects, format: SegmentFormat, done: bool) -> Result<()> {
    playlist::write_master(
        out,
        &state.renditions,
        &state.audio,
        &state.subtitles,
        format,
        done,
    )
    .map_err(EngineError::io("writing the master playlist"))
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
    /// The muxed audio track's encoder parameters (a one-track source).
    audio_params: Option<codec::Parameters>,
    /// The audio and subtitle renditions this rung cuts (the top rung, if there are any).
    side: Option<SidePlan>,
}

/// The renditions the top rung cuts beside its own: audio (with its encoder's
/// parameters) and subtitles.
struct SidePlan {
    audio: Vec<(AudioRendition, codec::Parameters)>,
    subtitles: Vec<SubtitleRendition>,
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
        let mut side = match self.side.take() {
            Some(plan) => Some(SideRenditions::open(
                plan,
                &self.out,
                self.format,
                self.segment_seconds,
            )?),
            None => None,
        };

        let mut scaler = Scaler::new(self.rung.width, self.rung.height);
        let mut packets = Vec::new();
        let mut count = segmenter.cuts();
        for msg in input.iter() {
            match msg {
                RungInput::Video { frame, pts, idr } => {
                    if let Some(side) = side.as_mut().filter(|_| idr) {
                        side.boundary(pts)?;
                    }
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
                    if let (Some(side), Some(offset)) = (side.as_mut(), segmenter.offset()) {
                        side.set_offset(offset)?;
                    }
                }
                RungInput::Audio { track, packet } => match side.as_mut().filter(|s| !s.audio.is_empty()) {
                    Some(side) => side.push_audio(track, packet)?,
                    None => {
                        self.forward(|| RungInput::Audio {
                            track,
                            packet: packet.clone(),
                        })?;
                        segmenter.push_audio(packet)?;
                    }
                },
                RungInput::Cues { track, cues } => {
                    if let Some(side) = side.as_mut() {
                        side.set_cues(track, cues);
                    }
                }
                RungInput::AudioEnd => {
                    self.forward(|| RungInput::AudioEnd)?;
                    segmenter.end_audio()?;
                    if let Some(side) = side.as_mut() {
                        side.end_audio()?;
                    }
                }
                RungInput::End(end) => {
                    self.forward(|| RungInput::End(end))?;
                    encoder.send_eof()?;
                    encoder.receive_packets(&mut packets)?;
                    for p in packets.drain(..) {
                        segmenter.push_video(p)?;
                    }
                    if let (Some(side), Some(offset)) = (side.as_mut(), segmenter.offset()) {
                        side.set_offset(offset)?;
                    }
                    self.rendition.segments = segmenter.finish(end)?.segments().to_vec();
                    if let Some(side) = side.take() {
                        side.finish(end, events)?;
                    }
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
            if let Some(side) = side.as_mut() {
                side.publish(events)?;
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
    /// The audio streams to encode (counting audio streams), one AAC encoder each.
    audio_tracks: Vec<usize>,
    /// The audio streams to encode in 5.1 as well, one AC-3 encoder each (after the AAC
    /// ones in `audio`).
    surround_tracks: Vec<usize>,
    /// Whether the audio tracks are renditions of their own (to the top rung only)
    /// rather than muxed into every rung.
    separate_audio: bool,
    /// The text subtitle streams to read (counting subtitle streams).
    subtitle_tracks: Vec<usize>,
    /// The subtitle files to read (their cues are on the ladder's timeline already).
    subtitle_files: Vec<PathBuf>,
    audio: Vec<AudioEncoder>,
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
        let frame_size = self.audio.first().map(|a| a.frame_size()).unwrap_or(1024);
        let options = SourceOptions {
            audio_tracks: self.audio_tracks.clone(),
            surround_tracks: self.surround_tracks.clone(),
            start: None,
            origin: Origin::FirstVideoFrame,
            limits: self.limits,
        };
        // Every cue first, in a pass of its own (see `subtitles`): each is sent to the top
        // rung once the first video frame fixes the timeline's zero.
        let mut cues = Some(super::subtitles::read_stream_cues(
            &self.input,
            &self.subtitle_tracks,
        )?);
        let mut file_cues = self
            .subtitle_files
            .iter()
            .map(|f| super::subtitles::read_file_cues(f))
            .collect::<Result<Vec<_>>>()?;
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
        // Audio renditions and cues go to the top rung only, which cuts them.
        let top = |msg: RungInput| -> Result<()> { rungs[0].send(msg).map_err(|_| EngineError::Cancelled) };
        let separate = self.separate_audio;
        let send_audio = |track: usize, packets: &mut Vec<Packet>| -> Result<()> {
            for packet in packets.drain(..) {
                match separate {
                    true => top(RungInput::Audio { track, packet })?,
                    false => broadcast(&|| RungInput::Audio {
                        track,
                        packet: packet.clone(),
                    })?,
                }
            }
            Ok(())
        };
        let stop = self.stop.clone();
        let mut audio = std::mem::take(&mut self.audio);
        // Where each track's next frame starts (1/48000 s): silence pads it to the end.
        let mut audio_reached = vec![0i64; audio.len()];
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
                Decoded::Origin(origin) => {
                    let mut tracks = cues.take().unwrap_or_default();
                    for track_cues in &mut tracks {
                        super::subtitles::rebase(track_cues, origin);
                    }
                    // The files' cues are on the ladder's timeline: they follow as they are.
                    tracks.append(&mut file_cues);
                    for (track, cues) in tracks.into_iter().enumerate() {
                        top(RungInput::Cues { track, cues })?;
                    }
                }
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
                Decoded::Audio { track, frame } => {
                    if let Some(enc) = audio.get_mut(track) {
                        let end = frame.pts().unwrap_or(0) + frame.samples() as i64;
                        audio_reached[track] = audio_reached[track].max(end);
                        enc.send_frame(&frame)?;
                        enc.receive_packets(&mut packets)?;
                        send_audio(track, &mut packets)?;
                    }
                }
            }
            Ok(true)
        })?;
        let end = source.end();
        for (track, enc) in audio.iter_mut().enumerate() {
            if separate {
                // An audio rendition covers the whole video: each of its segments has
                // audio, however early the track ends (the muxed track need not).
                let until = end.to_time_base(Rational(1, AUDIO_RATE as i32));
                while audio_reached[track] < until {
                    let silence = enc.silence(audio_reached[track]);
                    audio_reached[track] += i64::from(enc.frame_size());
                    enc.send_frame(&silence)?;
                    enc.receive_packets(&mut packets)?;
                    send_audio(track, &mut packets)?;
                }
            }
            enc.send_eof()?;
            enc.receive_packets(&mut packets)?;
            send_audio(track, &mut packets)?;
        }
        broadcast(&|| RungInput::AudioEnd)?;
        poster.finish()?;
        broadcast(&|| RungInput::End(end))?;
        // While the rungs drain their encoders: the last sheet and storyboard.vtt, before
        // DecodeDone lets the video become ready.
        storyboard.finish(end)?;
        send(events, Event::DecodeDone(end))
    }
}

/// The audio and subtitle renditions, cut on the top rung's thread: its frames' IDR
/// flags are their boundaries, its muxer's offset theirs, and each writes its own
/// segments and EVENT playlist and tells the coordinator.
struct SideRenditions {
    out: VideoObjects,
    format: SegmentFormat,
    segment_seconds: f64,
    audio: Vec<SideAudio>,
    subtitles: Vec<SideSubtitles>,
    offset: Option<Ts90k>,
}

struct SideAudio {
    segmenter: AudioSegmenter<StoreSink>,
    rendition: AudioRendition,
    published: usize,
}

struct SideSubtitles {
    segmenter: CueSegmenter<StoreSink>,
    /// Its directory under the video's (`subtitles0`).
    dir: String,
    rendition: SubtitleRendition,
    published: usize,
}

impl SideRenditions {
    fn open(
        plan: SidePlan,
        out: &VideoObjects,
        format: SegmentFormat,
        segment_seconds: f64,
    ) -> Result<SideRenditions> {
        let dir_of = |playlist: &str| {
            playlist
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default()
        };
        let mut audio = Vec::new();
        for (rendition, params) in plan.audio {
            let dir = dir_of(rendition.playlist.as_deref().unwrap_or_default());
            let ctx = codec::Context::from_parameters(params)
                .map_err(EngineError::ffmpeg("copying audio parameters"))?;
            let sink = StoreSink::new(out.clone(), &format!("{dir}/"), format);
            let segmenter = AudioSegmenter::open(sink, format, &ctx, Rational(1, AUDIO_RATE as i32))?;
            playlist::write_audio_media(out, &rendition, format, segment_seconds, false)
                .map_err(EngineError::io("writing an audio playlist"))?;
            audio.push(SideAudio {
                segmenter,
                rendition,
                published: 0,
            });
        }
        let mut subtitles = Vec::new();
        for rendition in plan.subtitles {
            let dir = dir_of(&rendition.playlist);
            let sink = StoreSink::webvtt(out.clone(), &format!("{dir}/"));
            playlist::write_subtitle_media(out, &rendition, segment_seconds, false)
                .map_err(EngineError::io("writing a subtitle playlist"))?;
            subtitles.push(SideSubtitles {
                segmenter: CueSegmenter::of_cues(sink, Vec::new()),
                dir,
                rendition,
                published: 0,
            });
        }
        Ok(SideRenditions {
            out: out.clone(),
            format,
            segment_seconds,
            audio,
            subtitles,
            offset: None,
        })
    }

    /// A video segment starts at `at`.
    fn boundary(&mut self, at: Ts90k) -> Result<()> {
        for a in &mut self.audio {
            a.segmenter.boundary(at)?;
        }
        for s in &mut self.subtitles {
            s.segmenter.boundary(at)?;
        }
        Ok(())
    }

    /// The video muxer's offset, once known (set once).
    fn set_offset(&mut self, offset: Ts90k) -> Result<()> {
        if self.offset.is_some() {
            return Ok(());
        }
        self.offset = Some(offset);
        for a in &mut self.audio {
            a.segmenter.set_offset(offset)?;
        }
        for s in &mut self.subtitles {
            s.segmenter.set_offset(offset)?;
        }
        Ok(())
    }

    fn push_audio(&mut self, track: usize, packet: Packet) -> Result<()> {
        if let Some(a) = self.audio.get_mut(track) {
            a.segmenter.push(packet)?;
        }
        Ok(())
    }

    /// The cues of subtitle rendition `track` (before its first boundary is cut).
    fn set_cues(&mut self, track: usize, cues: Vec<Cue>) {
        if let Some(s) = self.subtitles.get_mut(track) {
            let sink = StoreSink::webvtt(self.out.clone(), &format!("{}/", s.dir));
            s.segmenter = CueSegmenter::of_cues(sink, cues);
        }
    }

    fn end_audio(&mut self) -> Result<()> {
        for a in &mut self.audio {
            a.segmenter.end_audio()?;
        }
        Ok(())
    }

    /// Writes the EVENT playlist of every rendition that cut a segment since the last
    /// call, and tells the coordinator.
    fn publish(&mut self, events: &Sender<Event>) -> Result<()> {
        for (track, a) in self.audio.iter_mut().enumerate() {
            if a.segmenter.cuts() != a.published {
                a.published = a.segmenter.cuts();
                a.rendition.segments = a.segmenter.sink().segments().to_vec();
                playlist::write_audio_media(
                    &self.out,
                    &a.rendition,
                    self.format,
                    self.segment_seconds,
                    false,
                )
                .map_err(EngineError::io("writing an audio playlist"))?;
                let segments = a.rendition.segments.clone();
                send(events, Event::AudioSegments { track, segments })?;
            }
        }
        for (track, s) in self.subtitles.iter_mut().enumerate() {
            if s.segmenter.cuts() != s.published {
                s.published = s.segmenter.cuts();
                s.rendition.segments = s.segmenter.sink().segments().to_vec();
                playlist::write_subtitle_media(&self.out, &s.rendition, self.segment_seconds, false)
                    .map_err(EngineError::io("writing a subtitle playlist"))?;
                let segments = s.rendition.segments.clone();
                send(events, Event::SubtitleSegments { track, segments })?;
            }
        }
        Ok(())
    }

    /// Cuts the last segments (ending at `end`, the video's end) and tells the
    /// coordinator every rendition's segments; it writes the VOD playlists.
    fn finish(self, end: Ts90k, events: &Sender<Event>) -> Result<()> {
        for (track, a) in self.audio.into_iter().enumerate() {
            let segments = a.segmenter.finish(end)?.segments().to_vec();
            send(events, Event::AudioSegments { track, segments })?;
        }
        for (track, s) in self.subtitles.into_iter().enumerate() {
            let segments = s.segmenter.finish(end)?.segments().to_vec();
            send(events, Event::SubtitleSegments { track, segments })?;
        }
        Ok(())
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

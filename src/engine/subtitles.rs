//! Text subtitles, read ahead of the transcode: every cue of the chosen subtitle streams
//! (or of an uploaded `.srt`/`.vtt` file), as plain text with 90 kHz times.
//!
//! A container stores a subtitle packet near the video of its instant only when its muxer
//! cares to: libavformat's interleaver waits at most `max_interleave_delta` (10 s) for a
//! sparse stream, so a file made by the `ffmpeg` CLI may hold a cue 10 s after the video
//! it belongs with, and other muxers put all subtitles at the end. Reading the cues in
//! one pass of their own before the transcode (the demuxer skips every other stream's
//! packets: `AVDISCARD_ALL`) makes each WebVTT segment complete as soon as the video
//! reaches its end, whatever the file's layout, at the cost of reading the file once more
//! for sources that have text subtitles.
//!
//! Hostile input gives limits, not crashes: times saturate instead of overflowing, a cue
//! keeps at most [`crate::hls::webvtt::MAX_CUE_TEXT_BYTES`] of text, a track at most
//! [`MAX_CUES_PER_TRACK`] cues, and cues outside the video are dropped when segmenting.

use std::path::Path;

use ffmpeg_next::{codec, format, media, Rational};

use super::error::{EngineError, Result};
use super::ffi::{self, SubtitleText};
use crate::hls::webvtt::{self, Cue};
use crate::time::Ts90k;

/// Cues kept per track; more are dropped (a feature film has 1 000 to 2 000).
pub const MAX_CUES_PER_TRACK: usize = 20_000;

/// How long a cue shows when its stream says neither an end nor a duration.
const DEFAULT_CUE: Ts90k = Ts90k(5 * crate::time::HZ);

/// The cues of each of `streams` (counting subtitle streams from 0; each must be a text
/// stream) of the file at `path`, on the file's timeline (90 kHz, the streams' own
/// timestamps: not rebased to the first video frame).
pub fn read_stream_cues(path: &Path, streams: &[usize]) -> Result<Vec<Vec<Cue>>> {
    let input = format::input(path).map_err(|e| EngineError::NotAVideo(e.to_string()))?;
    let indices: Vec<usize> = {
        let subtitle_streams: Vec<usize> = input
            .streams()
            .filter(|s| s.parameters().medium() == media::Type::Subtitle)
            .map(|s| s.index())
            .collect();
        streams
            .iter()
            .map(|n| {
                subtitle_streams
                    .get(*n)
                    .copied()
                    .ok_or_else(|| EngineError::Internal(format!("no subtitle stream {n}")))
            })
            .collect::<Result<_>>()?
    };
    read_cues(input, &indices)
}

/// The cues of a subtitle file (SubRip `.srt` or WebVTT `.vtt`: libavformat recognises
/// either by its content), on its own timeline, which is the video's as players show it
/// (0 = the first frame). Anything else is [`EngineError::NotSubtitles`].
pub fn read_file_cues(path: &Path) -> Result<Vec<Cue>> {
    super::init();
    let input = format::input(path).map_err(|e| EngineError::NotSubtitles(e.to_string()))?;
    let text_streams: Vec<usize> = input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Subtitle)
        .filter(|s| super::probe::is_text_subtitle(s.parameters().id()))
        .map(|s| s.index())
        .collect();
    match (input.streams().count(), text_streams.as_slice()) {
        (1, [index]) => {
            let index = *index;
            Ok(read_cues(input, &[index])?.pop().unwrap_or_default())
        }
        _ => Err(EngineError::NotSubtitles("not a SubRip or WebVTT file".into())),
    }
}

/// Reads every packet of the streams at `indices` (container indices) and decodes it;
/// the other streams' packets are skipped by the demuxer.
fn read_cues(mut input: format::context::Input, indices: &[usize]) -> Result<Vec<Vec<Cue>>> {
    let mut decoders = Vec::with_capacity(indices.len());
    for &index in indices {
        let stream = input
            .stream(index)
            .ok_or_else(|| EngineError::Internal(format!("no stream {index}")))?;
        let tb = stream.time_base();
        let mut decoder = codec::Context::from_parameters(stream.parameters())
            .map_err(EngineError::ffmpeg("reading a subtitle stream"))?
            .decoder();
        // Read by libavcodec to turn a packet's duration into the cue's end.
        decoder.set_packet_time_base(tb);
        let decoder = decoder
            .subtitle()
            .map_err(EngineError::ffmpeg("opening a subtitle decoder"))?;
        decoders.push((index, tb, decoder));
    }
    ffi::discard_streams_except(&mut input, indices);
    let mut cues: Vec<Vec<Cue>> = vec![Vec::new(); indices.len()];
    let mut dropped = 0usize;
    loop {
        // A fresh packet each time: `Packet::read` does not unref the one it is given.
        let mut packet = ffmpeg_next::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            // A damaged file ends its subtitles where it is damaged.
            Err(e) => {
                log::warn!("subtitles end early: {e}");
                break;
            }
        }
        let Some(track) = decoders.iter().position(|(i, _, _)| *i == packet.stream()) else {
            continue;
        };
        let (_, tb, decoder) = &mut decoders[track];
        let Some(cue) = cue_of(decoder, &packet, *tb) else {
            continue;
        };
        if cues[track].len() >= MAX_CUES_PER_TRACK {
            dropped += 1;
            continue;
        }
        cues[track].push(cue);
    }
    if dropped > 0 {
        log::info!("{dropped} subtitle cue(s) over the limit of {MAX_CUES_PER_TRACK} a track were dropped");
    }
    for track in &mut cues {
        track.sort_by_key(|c| (c.start, c.end));
    }
    Ok(cues)
}

/// One packet as a cue: its text (every rectangle's, one per line) from its pts for its
/// duration. `None` for a packet that does not decode or holds no text.
fn cue_of(
    decoder: &mut ffmpeg_next::decoder::Subtitle,
    packet: &ffmpeg_next::Packet,
    tb: Rational,
) -> Option<Cue> {
    let pts = packet.pts().or(packet.dts())?;
    let decoded = ffi::decode_subtitle(decoder, packet).ok()??;
    let ms = Rational(1, 1000);
    let at = Ts90k::from_time_base(pts, tb);
    let start = Ts90k(at.0.saturating_add(Ts90k::from_time_base(i64::from(decoded.start_ms), ms).0));
    let shown = if decoded.end_ms > decoded.start_ms && decoded.end_ms != u32::MAX {
        Ts90k::from_time_base(i64::from(decoded.end_ms - decoded.start_ms), ms)
    } else if packet.duration() > 0 {
        Ts90k::from_time_base(packet.duration(), tb)
    } else {
        DEFAULT_CUE
    };
    let end = Ts90k(start.0.saturating_add(shown.0));
    let text = decoded
        .texts
        .into_iter()
        .map(|t| match t {
            SubtitleText::Ass(event) => webvtt::plain_text_of_ass(&event),
            SubtitleText::Plain(text) => {
                webvtt::truncate(text.trim().to_string(), webvtt::MAX_CUE_TEXT_BYTES)
            }
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    (!text.is_empty() && end > start).then_some(Cue { start, end, text })
}

/// Moves cues read on the file's timeline onto the ladder's (0 = the first video frame at
/// `origin`), saturating.
pub fn rebase(cues: &mut [Cue], origin: Ts90k) {
    for c in cues {
        c.start = Ts90k(c.start.0.saturating_sub(origin.0));
        c.end = Ts90k(c.end.0.saturating_sub(origin.0));
    }
}

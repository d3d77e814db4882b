//! The cheap path: a session on a ready video at one of its rung heights streams the
//! ladder's already-encoded fMP4 (init segment, then media segments back to back) as one
//! continuous fragmented MP4. No decoding or encoding, so one machine holds many.
//!
//! Concatenating CMAF segments of one rendition is a valid fragmented MP4: each `moof`
//! carries its own `tfdt`, so timestamps run on. A stream can only start at a segment
//! boundary, so this path is taken when the start position is within
//! [`MAX_START_SLACK`] seconds after one; otherwise the session encodes.
//!
//! A video whose audio tracks are renditions of their own has silent rungs: its sessions
//! take this path always (the rung nearest the wanted height, from the segment holding the
//! start), with the chosen track's segments joined in ([`crate::engine::fmp4_join`]),
//! since libavformat 5.1 cannot seek in an fMP4 HLS playlist to encode from there.

use std::io::Write;

use crate::engine::fmp4_join::Fmp4Joiner;
use crate::engine::{CancelToken, EngineError};
use crate::hls::{AudioRendition, Rendition};
use crate::storage::MediaStore;

/// How far after a segment boundary a start may be and still re-use the ladder.
pub const MAX_START_SLACK: f64 = 1.0;

#[derive(Debug, Clone, PartialEq)]
pub struct ReusePlan {
    media: MediaStore,
    /// Key of the init segment.
    init: String,
    /// Keys of the segments from the one the stream starts with, and their start times.
    segments: Vec<(String, f64)>,
    /// An audio rendition's init segment and its segments of the same numbers (keys),
    /// joined in.
    audio: Option<(String, Vec<String>)>,
}

impl ReusePlan {
    /// The plan for video `id`'s rendition `r` from `start` seconds, if it can start there.
    pub fn new(media: &MediaStore, id: &str, r: &Rendition, start: f64) -> Option<ReusePlan> {
        let init = format!("{id}/{}", r.init.as_ref()?);
        let mut t = 0.0;
        let mut segments = Vec::new();
        for s in &r.segments {
            let end = t + s.duration;
            if end > start {
                if segments.is_empty() && start - t > MAX_START_SLACK {
                    return None;
                }
                segments.push((format!("{id}/{}", s.uri), t));
            }
            t = end;
        }
        (!segments.is_empty()).then(|| ReusePlan {
            media: media.clone(),
            init,
            segments,
            audio: None,
        })
    }

    /// Video `id`'s rung `r` with audio rendition `a` joined in, from the segment holding
    /// `start` whatever the slack (the stream starts up to a segment early).
    pub fn joined(
        media: &MediaStore,
        id: &str,
        r: &Rendition,
        a: &AudioRendition,
        start: f64,
    ) -> Option<ReusePlan> {
        let audio_init = format!("{id}/{}", a.init.as_ref()?);
        let init = format!("{id}/{}", r.init.as_ref()?);
        let mut t = 0.0;
        let (mut segments, mut audio) = (Vec::new(), Vec::new());
        let pairs = r.segments.len().min(a.segments.len());
        for (k, (s, sa)) in r.segments.iter().zip(&a.segments).enumerate() {
            let end = t + s.duration;
            // From the segment holding `start` (the last one, for a start past the end).
            if end > start || k + 1 == pairs && segments.is_empty() {
                segments.push((format!("{id}/{}", s.uri), t));
                audio.push(format!("{id}/{}", sa.uri));
            }
            t = end;
        }
        (!segments.is_empty()).then(|| ReusePlan {
            media: media.clone(),
            init,
            segments,
            audio: Some((audio_init, audio)),
        })
    }
}

/// Writes the plan's bytes to `out`, pacing each segment by its start time.
pub fn stream_ladder<W: Write>(
    plan: &ReusePlan,
    mut out: W,
    pace: &mut dyn FnMut(f64) -> bool,
    cancel: &CancelToken,
) -> Result<(), EngineError> {
    let read = |key: &str| match plan.media.get(key) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(EngineError::Internal(format!(
            "ladder segment {key} is not stored"
        ))),
        Err(e) => Err(EngineError::io("reading a ladder segment")(e)),
    };
    let init = read(&plan.init)?;
    let mut joiner = Fmp4Joiner::new();
    let audio_init = match &plan.audio {
        Some((audio_init, _)) => read(audio_init)?,
        None => {
            out.write_all(&init).map_err(|_| EngineError::ReaderGone)?;
            Default::default()
        }
    };
    for (k, (key, start)) in plan.segments.iter().enumerate() {
        if cancel.is_cancelled() || !pace(*start) {
            return Err(EngineError::Cancelled);
        }
        let bytes = match &plan.audio {
            Some((_, audio)) => joiner.push((&init, &read(key)?), (&audio_init, &read(&audio[k])?))?,
            None => read(key)?.to_vec(),
        };
        out.write_all(&bytes).map_err(|_| EngineError::ReaderGone)?;
    }
    Ok(())
}

//! The cheap path: a session on a ready video at one of its rung heights streams the
//! ladder's already-encoded fMP4 (init segment, then media segments back to back) as one
//! continuous fragmented MP4. No decoding or encoding, so one machine holds many.
//!
//! Concatenating CMAF segments of one rendition is a valid fragmented MP4: each `moof`
//! carries its own `tfdt`, so timestamps run on. A stream can only start at a segment
//! boundary, so this path is taken when the start position is within
//! [`MAX_START_SLACK`] seconds after one; otherwise the session encodes.

use std::io::Write;

use crate::engine::{CancelToken, EngineError};
use crate::hls::Rendition;
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
    out.write_all(&read(&plan.init)?)
        .map_err(|_| EngineError::ReaderGone)?;
    for (key, start) in &plan.segments {
        if cancel.is_cancelled() || !pace(*start) {
            return Err(EngineError::Cancelled);
        }
        out.write_all(&read(key)?).map_err(|_| EngineError::ReaderGone)?;
    }
    Ok(())
}

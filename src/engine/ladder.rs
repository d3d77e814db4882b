//! The resolution ladder: which rungs a source gets, their picture sizes and bitrate caps.
//!
//! A rung's number names the *short side* of the picture, so a portrait 720x1280 source's
//! `720` rung is 720x1280 and a landscape one's is 1280x720. Rungs are never upscaled:
//! requested numbers above the source's short side are reported as skipped.
//!
//! Rate control is capped CRF: x264 aims for constant quality (`crf`) but its VBV never
//! lets the bitrate exceed `maxrate` over a `bufsize` window. Flat or simple content comes
//! out well below the cap; complex content is held to it, so a player's bandwidth estimate
//! against BANDWIDTH stays honest. The caps (kbit/s, video only):
//!
//! | rung | maxrate | bufsize |
//! |------|---------|---------|
//! | 2160 | 16000   | 32000   |
//! | 1440 | 10000   | 20000   |
//! | 1080 | 6000    | 12000   |
//! | 720  | 3000    | 6000    |
//! | 480  | 1500    | 3000    |
//! | 360  | 800     | 1600    |
//! | 240  | 400     | 800     |
//!
//! A non-standard rung (the source's own short side, e.g. 481) gets a cap interpolated by
//! pixel count between its standard neighbours.

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};
use super::limits::DEFAULT_MAX_SHORT_SIDE;

/// The standard rungs made by default, largest first (only those at or below the source).
pub const DEFAULT_RUNGS: [u32; 5] = [1080, 720, 480, 360, 240];

/// Constant rate factor for every rung; the caps above do the per-rung limiting.
pub const CRF: u32 = 23;

/// AAC bitrate (bits/s) for the shared stereo audio track.
pub const AUDIO_BITRATE: usize = 128_000;

/// AC-3 bitrate (bits/s) of a 5.1 surround rendition: what Apple's HLS authoring
/// specification asks of AC-3 5.1 (384 kb/s).
pub const SURROUND_BITRATE: usize = 384_000;

/// Standard short sides and their caps in kbit/s, largest first.
const CAPS_KBPS: [(u32, u32); 7] = [
    (2160, 16000),
    (1440, 10000),
    (1080, 6000),
    (720, 3000),
    (480, 1500),
    (360, 800),
    (240, 400),
];

/// One rung of the ladder, as planned for a given source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    /// The rung's number: its short side in pixels.
    pub short_side: u32,
    /// Output picture size (even, aspect of the displayed source preserved).
    pub width: u32,
    pub height: u32,
    /// VBV cap in bits per second.
    pub maxrate: u64,
    /// VBV buffer in bits.
    pub bufsize: u64,
}

impl Rung {
    /// Directory and file stem for this rung's files, e.g. `720p`.
    pub fn name(&self) -> String {
        format!("{}p", self.short_side)
    }
}

/// The rungs to encode for a source, and the requested numbers that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    pub rungs: Vec<Rung>,
    pub skipped: Vec<u32>,
}

/// Plans a ladder for a source shown at `display_w` x `display_h` (rotation and sample
/// aspect already applied), rungs up to [`DEFAULT_MAX_SHORT_SIDE`]. `requested` is the
/// caller's list of rung numbers, or `None` for the default ladder plus the source's own
/// short side when it is not standard.
pub fn plan(display_w: u32, display_h: u32, requested: Option<&[u32]>) -> Result<Ladder> {
    plan_capped(display_w, display_h, requested, DEFAULT_MAX_SHORT_SIDE)
}

/// [`plan`] with rungs up to `max_short_side` (`--max-height`): a larger source is scaled
/// down to it (its own rung becomes `max_short_side`), requested numbers above it are
/// skipped like those above the source.
pub fn plan_capped(
    display_w: u32,
    display_h: u32,
    requested: Option<&[u32]>,
    max_short_side: u32,
) -> Result<Ladder> {
    if display_w < 2 || display_h < 2 {
        return Err(EngineError::Undecodable("the picture is smaller than 2x2".into()));
    }
    // Above the cap, the source is planned as if it were the cap's size: the top rung.
    let source_short = display_w.min(display_h).min(max_short_side.max(2));
    let mut wanted: Vec<u32> = match requested {
        Some(list) => {
            if list.is_empty() {
                return Err(EngineError::InvalidOption("no heights were requested".into()));
            }
            if let Some(bad) = list.iter().find(|h| **h < 16 || **h > 4320) {
                return Err(EngineError::InvalidOption(format!(
                    "height {bad} is outside 16..4320"
                )));
            }
            list.to_vec()
        }
        None => {
            let mut v: Vec<u32> = DEFAULT_RUNGS.to_vec();
            let own = even(source_short);
            if !v.contains(&own) && !v.contains(&source_short) && source_short >= 16 {
                v.push(source_short);
            }
            v
        }
    };
    wanted.sort_unstable_by(|a, b| b.cmp(a));
    wanted.dedup();

    let mut rungs: Vec<Rung> = Vec::new();
    let mut skipped = Vec::new();
    for short in wanted {
        if short > source_short {
            if requested.is_some() {
                skipped.push(short);
            }
            continue;
        }
        let rung = rung_for(short, display_w, display_h);
        // Two numbers can round to the same picture (481 and 480); keep the first.
        if !rungs
            .iter()
            .any(|r| r.width == rung.width && r.height == rung.height)
        {
            rungs.push(rung);
        }
    }
    if rungs.is_empty() {
        // Every requested rung was above a small source: encode it at its own size
        // rather than producing nothing.
        rungs.push(rung_for(source_short, display_w, display_h));
    }
    Ok(Ladder { rungs, skipped })
}

fn rung_for(short: u32, display_w: u32, display_h: u32) -> Rung {
    let (long_src, short_src) = (display_w.max(display_h), display_w.min(display_h));
    let short_px = even(short);
    let long_px = even_round(f64::from(short) * f64::from(long_src) / f64::from(short_src));
    let (width, height) = if display_w >= display_h {
        (long_px, short_px)
    } else {
        (short_px, long_px)
    };
    let maxrate = cap_kbps(short) * 1000;
    Rung {
        short_side: short,
        width,
        height,
        maxrate,
        bufsize: maxrate * 2,
    }
}

/// The bitrate cap for a short side, interpolated by pixel count (area ~ short^2) between
/// standard rungs, and extrapolated the same way below the smallest.
fn cap_kbps(short: u32) -> u64 {
    if let Some((_, cap)) = CAPS_KBPS.iter().find(|(s, _)| *s == short) {
        return u64::from(*cap);
    }
    let (hi_s, hi_c) = CAPS_KBPS
        .iter()
        .rev()
        .find(|(s, _)| *s >= short)
        .copied()
        .unwrap_or(CAPS_KBPS[0]);
    let (lo_s, lo_c) = CAPS_KBPS
        .iter()
        .find(|(s, _)| *s <= short)
        .copied()
        .unwrap_or(CAPS_KBPS[6]);
    let area = |s: u32| f64::from(s) * f64::from(s);
    let cap = if hi_s == lo_s || short > hi_s || short < lo_s {
        f64::from(lo_c) * area(short) / area(lo_s)
    } else {
        let t = (area(short) - area(lo_s)) / (area(hi_s) - area(lo_s));
        f64::from(lo_c) + t * (f64::from(hi_c) - f64::from(lo_c))
    };
    cap.round().max(100.0) as u64
}

fn even(v: u32) -> u32 {
    (v & !1).max(2)
}

fn even_round(v: f64) -> u32 {
    ((v / 2.0).round() as u32 * 2).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(l: &Ladder) -> Vec<(u32, u32)> {
        l.rungs.iter().map(|r| (r.width, r.height)).collect()
    }

    #[test]
    fn default_ladder_stops_at_the_source() {
        let l = plan(1280, 720, None).unwrap();
        assert_eq!(sizes(&l), vec![(1280, 720), (854, 480), (640, 360), (426, 240)]);
        assert!(l.skipped.is_empty());
    }

    #[test]
    fn portrait_rung_number_is_the_short_side() {
        let l = plan(720, 1280, Some(&[720, 360])).unwrap();
        assert_eq!(sizes(&l), vec![(720, 1280), (360, 640)]);
    }

    #[test]
    fn odd_source_adds_its_own_rung_unless_it_rounds_to_a_standard_one() {
        let l = plan(854, 481, None).unwrap();
        assert_eq!(l.rungs[0].short_side, 480);
        let l = plan(1000, 500, None).unwrap();
        assert_eq!(l.rungs[0].short_side, 500);
        assert_eq!((l.rungs[0].width, l.rungs[0].height), (1000, 500));
        assert!(l.rungs[0].maxrate > 1_500_000 && l.rungs[0].maxrate < 3_000_000);
    }

    #[test]
    fn requested_heights_above_the_source_are_skipped() {
        let l = plan(640, 360, Some(&[1080, 720, 360])).unwrap();
        assert_eq!(l.skipped, vec![1080, 720]);
        assert_eq!(sizes(&l), vec![(640, 360)]);
    }

    #[test]
    fn sources_above_the_cap_get_the_cap_as_their_top_rung() {
        let l = plan_capped(8192, 4320, None, 2160).unwrap();
        assert_eq!(l.rungs[0].short_side, 2160);
        assert_eq!((l.rungs[0].width, l.rungs[0].height), (4096, 2160));
        assert_eq!(l.rungs.len(), 6);
        let l = plan_capped(4320, 8192, Some(&[4320, 2160, 360]), 2160).unwrap();
        assert_eq!(l.skipped, vec![4320]);
        assert_eq!(sizes(&l), vec![(2160, 4096), (360, 682)]);
        let l = plan_capped(1920, 1080, None, 720).unwrap();
        assert_eq!(l.rungs[0].short_side, 720);
        let l = plan_capped(1920, 1080, Some(&[1080]), 720).unwrap();
        assert_eq!((l.skipped.clone(), sizes(&l)), (vec![1080], vec![(1280, 720)]));
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        assert!(matches!(
            plan(640, 360, Some(&[])),
            Err(EngineError::InvalidOption(_))
        ));
        assert!(matches!(
            plan(640, 360, Some(&[5])),
            Err(EngineError::InvalidOption(_))
        ));
    }
}

//! WebVTT subtitle segments (W3C WebVTT, RFC 8216 §3.5) and the cues they hold.
//!
//! A subtitle rendition is cut at the video's segment boundaries: segment `k` lists every
//! cue that shows during `[t_k, t_k+1)`, so a cue that spans a boundary is in both
//! segments (players drop the repeat) and a player that joins mid-cue still shows it.
//! Cue times are on the ladder's timeline (0 = the first video frame); the header's
//! `X-TIMESTAMP-MAP` ties that `LOCAL` zero to the 90 kHz timestamp the video segments
//! give it (`MPEGTS`, the muxer's offset), which is how players line cues up with
//! fMP4 and MPEG-TS video alike:
//!
//! ```text
//! WEBVTT
//! X-TIMESTAMP-MAP=MPEGTS:6000,LOCAL:00:00:00.000
//!
//! 00:00:01.000 --> 00:00:02.500
//! Hello
//! ```

use crate::time::Ts90k;

/// The longest cue text kept, in bytes (longer text is cut at a character boundary).
pub const MAX_CUE_TEXT_BYTES: usize = 2048;

/// One subtitle cue on the ladder's timeline, as plain text (lines separated by `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start: Ts90k,
    pub end: Ts90k,
    pub text: String,
}

impl Cue {
    /// Whether the cue shows at some instant of `[start, end)`.
    pub fn overlaps(&self, start: Ts90k, end: Ts90k) -> bool {
        self.start < end && self.end > start
    }
}

/// Renders one segment: the header with its timestamp map, then `cues` in order.
/// `mpegts` is the 90 kHz timestamp of the ladder's zero in the video segments.
pub fn segment(cues: &[&Cue], mpegts: Ts90k) -> Vec<u8> {
    // MPEG-TS timestamps are 33 bits; the map is one.
    let map = mpegts.0.rem_euclid(1 << 33);
    let mut out = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{map},LOCAL:00:00:00.000\n");
    for cue in cues {
        out.push_str(&format!(
            "\n{} --> {}\n{}\n",
            timestamp(cue.start),
            timestamp(cue.end),
            escape(&cue.text)
        ));
    }
    out.into_bytes()
}

/// `HH:MM:SS.mmm` (hours grow past 99 if they must; negative times are 0).
fn timestamp(t: Ts90k) -> String {
    let ms = (t.0.max(0) + 45) / 90;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Cue text as WebVTT cue payload: `&`, `<` and `>` escaped (so `-->` cannot appear),
/// no blank line (which would end the cue).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        for c in line.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c if c.is_control() => out.push(' '),
                c => out.push(c),
            }
        }
    }
    if out.is_empty() {
        out.push(' ');
    }
    out
}

/// The text of an ASS event as libavcodec's text subtitle decoders give it (SubRip, ASS,
/// SSA, mov_text, WebVTT all decode to ASS: `ReadOrder,Layer,Style,Name,MarginL,MarginR,
/// MarginV,Effect,Text`), as plain text: override blocks (`{\i1}`) dropped, `\N` and `\n`
/// as line breaks, `\h` as a space; at most [`MAX_CUE_TEXT_BYTES`].
pub fn plain_text_of_ass(event: &str) -> String {
    let text = event.splitn(9, ',').nth(8).unwrap_or("");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '\\' => match chars.peek() {
                Some('N') | Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('h') => {
                    chars.next();
                    out.push(' ');
                }
                _ => out.push('\\'),
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    truncate(out.trim().to_string(), MAX_CUE_TEXT_BYTES)
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: f64, end: f64, text: &str) -> Cue {
        Cue {
            start: Ts90k::from_secs(start),
            end: Ts90k::from_secs(end),
            text: text.into(),
        }
    }

    #[test]
    fn a_segment_has_the_map_and_escaped_cues() {
        let a = cue(1.0, 2.5, "Hello <world> & you\n\nsecond line");
        let b = cue(3661.0, 3662.0, "-->");
        let text = String::from_utf8(segment(&[&a, &b], Ts90k(6000))).unwrap();
        assert_eq!(
            text,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:6000,LOCAL:00:00:00.000\n\n\
             00:00:01.000 --> 00:00:02.500\nHello &lt;world&gt; &amp; you\nsecond line\n\n\
             01:01:01.000 --> 01:01:02.000\n--&gt;\n"
        );
        let empty = String::from_utf8(segment(&[], Ts90k::ZERO)).unwrap();
        assert_eq!(empty, "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n");
    }

    #[test]
    fn ass_events_become_plain_text() {
        assert_eq!(
            plain_text_of_ass("0,0,Default,,0,0,0,,{\\i1}Hello{\\i0}, you\\Nthere"),
            "Hello, you\nthere"
        );
        assert_eq!(plain_text_of_ass("3,0,Default,,0,0,0,,a\\hb \\ c"), "a b \\ c");
        assert_eq!(plain_text_of_ass("no commas"), "");
        let long = format!("0,0,Default,,0,0,0,,{}", "é".repeat(5000));
        assert!(plain_text_of_ass(&long).len() <= MAX_CUE_TEXT_BYTES);
    }

    #[test]
    fn overlap_is_half_open() {
        let c = cue(1.0, 2.0, "x");
        assert!(c.overlaps(Ts90k::from_secs(1.5), Ts90k::from_secs(4.0)));
        assert!(!c.overlaps(Ts90k::from_secs(2.0), Ts90k::from_secs(4.0)));
        assert!(!c.overlaps(Ts90k::ZERO, Ts90k::from_secs(1.0)));
    }
}

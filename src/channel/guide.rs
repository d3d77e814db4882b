//! What a Live TV client shows of the channels: the lineup (number, name, logo) and the
//! programme guide, both computed from the schedule like everything else a channel says.
//!
//! * [`programmes`]: one [`Programme`] per item play from an instant on, with its exact
//!   start and stop (the schedule's own instants, so the guide and `GET /api/channels`
//!   agree to the millisecond; XMLTV itself keeps whole seconds).
//! * [`xmltv`]: the XMLTV document (`xmltv.dtd`: `channel` elements first, then
//!   `programme`s in time order) for `GET /iptv/xmltv.xml`.
//!
//! Beyond [`super::schedule::FIXED_AHEAD_MS`] the guide is a forecast: an upload that
//! becomes ready changes what follows the item then playing, as it does on the channel.

use std::fmt::Write;

use chrono::{TimeZone, Utc};

use super::schedule::Schedule;

/// Programmes listed per channel at most, whatever the horizon: a channel of 3 s clips
/// would otherwise fill a day with 28 800 of them (20 000 cover a day of items of 4.4 s).
pub const MAX_PROGRAMMES: usize = 20_000;

/// A channel as a tuner lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineupEntry {
    pub name: String,
    /// Guide number (`"1"`, `"4.1"`): the `--channels` file's `number`, else 1 for `main`
    /// and the next free whole number for the others, in file order.
    pub number: String,
    /// Absolute logo URL from the `--channels` file, if any.
    pub logo: Option<String>,
}

/// One play of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Programme {
    pub start_ms: u64,
    pub stop_ms: u64,
    /// Schedule key of the item (`video:<id>`, `library:<path>`).
    pub key: String,
}

/// The plays of `schedule` that overlap `[from_ms, to_ms)`, in order (the one playing at
/// `from_ms` first), at most [`MAX_PROGRAMMES`].
pub fn programmes(schedule: &Schedule, from_ms: u64, to_ms: u64) -> Vec<Programme> {
    let mut out = Vec::new();
    let mut at = schedule.at_or_after(from_ms);
    while let Some(play) = at {
        if play.started_at_ms >= to_ms || out.len() >= MAX_PROGRAMMES {
            break;
        }
        let stop = play.ends_at_ms();
        out.push(Programme {
            start_ms: play.started_at_ms,
            stop_ms: stop,
            key: play.key,
        });
        at = schedule.at_or_after(stop);
    }
    out
}

/// What the guide says of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgrammeInfo {
    pub title: String,
    pub description: String,
    /// Absolute URL of a picture (the item's poster).
    pub icon: Option<String>,
}

/// A channel with its guide, for [`xmltv`].
pub struct GuideChannel<'a> {
    pub entry: &'a LineupEntry,
    /// `tvg-id` / XMLTV channel id.
    pub id: String,
    pub icon: Option<String>,
    pub programmes: Vec<(Programme, ProgrammeInfo)>,
}

/// The XMLTV document of `channels`.
pub fn xmltv(channels: &[GuideChannel<'_>]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n\
         <tv generator-info-name=\"reel\" source-info-name=\"reel\">\n",
    );
    for ch in channels {
        let _ = writeln!(out, "  <channel id=\"{}\">", escape(&ch.id));
        let _ = writeln!(out, "    <display-name>{}</display-name>", escape(&ch.entry.name));
        let _ = writeln!(
            out,
            "    <display-name>{}</display-name>",
            escape(&ch.entry.number)
        );
        if let Some(icon) = &ch.icon {
            let _ = writeln!(out, "    <icon src=\"{}\"/>", escape(icon));
        }
        out.push_str("  </channel>\n");
    }
    for ch in channels {
        for (p, info) in &ch.programmes {
            let _ = writeln!(
                out,
                "  <programme start=\"{}\" stop=\"{}\" channel=\"{}\">",
                xmltv_time(p.start_ms),
                xmltv_time(p.stop_ms),
                escape(&ch.id)
            );
            let _ = writeln!(out, "    <title>{}</title>", escape(&info.title));
            let _ = writeln!(out, "    <desc>{}</desc>", escape(&info.description));
            let _ = writeln!(
                out,
                "    <length units=\"seconds\">{}</length>",
                (p.stop_ms - p.start_ms).div_ceil(1000)
            );
            if let Some(icon) = &info.icon {
                let _ = writeln!(out, "    <icon src=\"{}\"/>", escape(icon));
            }
            out.push_str("  </programme>\n");
        }
    }
    out.push_str("</tv>\n");
    out
}

/// XMLTV's time: `YYYYMMDDhhmmss +0000` (whole seconds, UTC).
pub fn xmltv_time(ms: u64) -> String {
    Utc.timestamp_millis_opt(ms as i64)
        .single()
        .map(|t| t.format("%Y%m%d%H%M%S +0000").to_string())
        .unwrap_or_default()
}

/// Text for XML content and attributes: the five escapes, and characters XML 1.0 does not
/// allow left out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::schedule::ScheduleItem;

    fn item(key: &str, secs: u64) -> ScheduleItem {
        ScheduleItem {
            key: key.into(),
            duration_ms: secs * 1000,
            segments: secs / 2,
        }
    }

    #[test]
    fn programmes_follow_the_schedule_back_to_back() {
        let s = Schedule::default().with_items(vec![item("a", 10), item("b", 20)], 1_000_000);
        let p = programmes(&s, 1_015_000, 1_075_000);
        let got: Vec<(u64, u64, &str)> = p
            .iter()
            .map(|p| (p.start_ms, p.stop_ms, p.key.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1_010_000, 1_030_000, "b"),
                (1_030_000, 1_040_000, "a"),
                (1_040_000, 1_060_000, "b"),
                (1_060_000, 1_070_000, "a"),
                (1_070_000, 1_090_000, "b"),
            ]
        );
        for (p, q) in p.iter().zip(&p[1..]) {
            assert_eq!(p.stop_ms, q.start_ms);
            assert_eq!(s.at(p.start_ms).unwrap().key, p.key);
        }
        let many = programmes(&s, 1_000_000, u64::MAX / 2);
        assert_eq!(many.len(), MAX_PROGRAMMES);
    }

    #[test]
    fn a_run_played_once_ends_the_guide() {
        let s = Schedule::default().with_items_looping(vec![item("a", 10)], 0, false);
        assert_eq!(programmes(&s, 5_000, 100_000).len(), 1);
        assert!(programmes(&s, 10_000, 100_000).is_empty());
    }

    #[test]
    fn the_document_escapes_and_orders_channels_before_programmes() {
        let entry = LineupEntry {
            name: "Tom & Jerry's <best>".into(),
            number: "7".into(),
            logo: None,
        };
        let doc = xmltv(&[GuideChannel {
            entry: &entry,
            id: "tj.reel".into(),
            icon: Some("http://h/logo.svg?a=1&b=2".into()),
            programmes: vec![(
                Programme {
                    start_ms: 1_796_000_000_500,
                    stop_ms: 1_796_000_062_000,
                    key: "video:x".into(),
                },
                ProgrammeInfo {
                    title: "\"Quotes\"\u{1}".into(),
                    description: "d".into(),
                    icon: None,
                },
            )],
        }]);
        assert!(doc.contains("<display-name>Tom &amp; Jerry&apos;s &lt;best&gt;</display-name>"));
        assert!(doc.contains("src=\"http://h/logo.svg?a=1&amp;b=2\""));
        assert!(doc.contains("<title>&quot;Quotes&quot;</title>"));
        assert!(doc.contains("start=\"20261130005320 +0000\" stop=\"20261130005422 +0000\""));
        assert!(doc.find("<channel ").unwrap() < doc.find("<programme ").unwrap());
    }
}

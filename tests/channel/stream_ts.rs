//! `stream.ts` judged by strangers: the raw bytes (188-byte packets in sync, continuity
//! counters that never jump), ffprobe (PTS monotonic with no gap over a frame across item
//! boundaries, both items' picture sizes), `ffmpeg -f null` (decodes without a word), mpv
//! and VLC (play it across boundaries; VLC's own statistics count no lost frame), and its
//! pace (real time plus a small lead).

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

use super::*;
use super::{have_vlc, vlc_counts, vlc_stats};
use crate::util::clips::have;

/// Packets read; panics on lost sync or a continuity counter that jumps.
fn check_packets(ts: &[u8]) -> usize {
    let mut last: HashMap<u16, u8> = HashMap::new();
    let whole = ts.len() / 188 * 188;
    for (i, p) in ts[..whole].chunks_exact(188).enumerate() {
        assert_eq!(p[0], 0x47, "packet {i} lost sync");
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let (has_payload, cc) = ((p[3] >> 4) & 1 == 1, p[3] & 0x0f);
        if pid == 0x1fff || !has_payload {
            continue; // null packets and adaptation-only packets do not count
        }
        if let Some(prev) = last.insert(pid, cc) {
            assert_eq!(
                cc,
                (prev + 1) & 0x0f,
                "PID {pid:#x}: continuity counter jumped at packet {i}"
            );
        }
    }
    whole / 188
}

/// `(pts, width)` of each decoded video frame, or `(pts, 0)` of each audio frame.
fn frames(path: &std::path::Path, stream: &str, limit_secs: f64) -> Vec<(f64, u64)> {
    let entries = if stream == "v" {
        "frame=pts_time,width"
    } else {
        "frame=pts_time"
    };
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-read_intervals", &format!("%+{limit_secs}")])
        .args([
            "-select_streams",
            &format!("{stream}:0"),
            "-show_entries",
            entries,
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let pts = f.next()?.parse().ok()?;
            Some((pts, f.next().and_then(|w| w.parse().ok()).unwrap_or(0)))
        })
        .collect()
}

#[test]
fn stream_ts_runs_on_across_items_in_real_time_and_players_take_it() {
    for tool in ["curl", "ffprobe", "ffmpeg"] {
        if !have(tool) {
            assert!(std::env::var_os("CI").is_none(), "{tool} is absent");
            eprintln!("skipping: {tool} is not installed");
            return;
        }
    }
    // Items that differ in picture size: SPS/PPS change in band at the boundary.
    let (server, _, _, view) = two_sizes_channel();
    let remaining = view["now"]["duration"].as_f64().unwrap() - view["now"]["position"].as_f64().unwrap();
    // Long enough to cross into bravo and out of it again.
    let secs = remaining + 4.5;
    let url = format!("http://{}/channels/main/stream.ts", server.addr);

    let mpv = have("mpv").then(|| {
        let (url, log) = (url.clone(), server.dir.join("mpv-ts.log"));
        std::thread::spawn(move || {
            let out = Command::new("timeout")
                .arg("40")
                .args(["mpv", "--no-config", "--vo=null", "--ao=null", "--really-quiet"])
                .arg(format!("--length={:.1}", secs - 1.0))
                .arg(format!("--log-file={}", log.display()))
                .arg(&url)
                .output()
                .expect("mpv runs");
            (out, std::fs::read_to_string(&log).unwrap_or_default())
        })
    });
    let vlc = have_vlc().then(|| {
        let url = url.clone();
        std::thread::spawn(move || vlc_stats(&url, secs))
    });
    let file = server.dir.join("stream.ts");
    let started = Instant::now();
    let curl = Command::new("curl")
        .args(["-s", "--max-time", &format!("{secs:.1}"), "-o"])
        .arg(&file)
        .arg(&url)
        .status()
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    assert!(matches!(curl.code(), Some(0) | Some(28)), "curl: {curl}");
    assert!(took >= secs - 0.5, "the stream ended after {took:.1} s");

    let bytes = std::fs::read(&file).unwrap();
    let packets = check_packets(&bytes);
    assert!(packets > 100, "{packets} packets");

    // Everything but the last second (cut mid-packet by curl's time limit).
    let judged = secs - 1.0;
    let video = frames(&file, "v", judged);
    assert!(video.len() > 60, "{} video frames", video.len());
    for pair in video.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap > 0.0 && gap < 1.5 / 30.0,
            "video PTS {:.3} → {:.3}",
            pair[0].0,
            pair[1].0
        );
    }
    let widths: Vec<u64> = video.iter().map(|f| f.1).collect();
    assert!(
        widths.contains(&320) && widths.contains(&640),
        "one item only: {widths:?}"
    );
    // Audio runs on too; an item's AAC track may end up to a few frames (of 21.3 ms)
    // before its video does, which leaves that much silence at the boundary.
    let audio = frames(&file, "a", judged);
    assert!(!audio.is_empty());
    let aac_frame = 1024.0 / 48_000.0;
    let mut boundary_gaps = 0;
    for pair in audio.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap > 0.0 && gap < 5.0 * aac_frame,
            "audio PTS {:.4} → {:.4}",
            pair[0].0,
            pair[1].0
        );
        if gap > 1.5 * aac_frame {
            boundary_gaps += 1;
        }
    }
    assert!(
        boundary_gaps <= 3,
        "{boundary_gaps} audio gaps in {secs:.1} s (items of 3 s)"
    );
    // Paced: no more media than the time it ran, the lead (3 s) and a segment (1 s).
    let all = frames(&file, "v", 1e6);
    let span = all.last().unwrap().0 - all[0].0;
    assert!(
        span <= took + 3.0 + 1.0 + 0.3,
        "{span:.1} s of media in {took:.1} s"
    );
    assert!(span >= took - 1.5, "only {span:.1} s of media in {took:.1} s");
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-t", &format!("{:.1}", judged - 1.0), "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && complaints.trim().is_empty(),
        "ffmpeg: {complaints}"
    );

    if let Some(vlc) = vlc {
        let stats = vlc.join().unwrap();
        let (decoded, displayed, lost) = vlc_counts(&stats);
        // 30 fps items; VLC buffers about a second before it shows the first frame.
        assert!(
            displayed as f64 >= 20.0 * (secs - 3.0),
            "VLC displayed {displayed} frames:\n{stats}"
        );
        assert!(decoded >= displayed && lost == 0, "VLC:\n{stats}");
    } else {
        assert!(std::env::var_os("CI").is_none(), "cvlc is absent (vlc-bin)");
    }
    if let Some(mpv) = mpv {
        let (out, text) = mpv.join().unwrap();
        // What ended playback, and what went wrong before, then the last lines.
        let tail: String = text
            .lines()
            .filter(|l| l.contains("finished playback") || l.contains("[e]") || l.contains("EOF"))
            .chain(text.lines().rev().take(20))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            out.status.success() && text.contains("finished playback, success"),
            "mpv failed ({}): {}\n{tail}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for complaint in [
            "Invalid video timestamp",
            "Invalid audio PTS",
            "timestamp reset",
            "error while decoding",
        ] {
            assert!(!text.contains(complaint), "mpv: {complaint}\n{tail}");
        }
    }
}

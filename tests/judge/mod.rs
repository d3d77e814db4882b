//! Independent judges of reel's output: the `ffprobe` CLI and the `m3u8-rs` parser.
//!
//! Nothing here uses reel's own code to decide whether reel's output is right.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use m3u8_rs::{MasterPlaylist, MediaPlaylist, Playlist};
use serde_json::Value;

/// Runs `ffprobe -of json` with `args` on `path`.
pub fn ffprobe(path: &Path, args: &[&str]) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs (scripts/setup --test installs it)");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}

/// A video packet as ffprobe sees it.
#[derive(Debug, Clone, Copy)]
pub struct VideoPacket {
    pub pts: f64,
    pub key: bool,
}

/// Video packets of a file in decode order.
pub fn video_packets(path: &Path) -> Vec<VideoPacket> {
    let v = ffprobe(
        path,
        &["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"],
    );
    v["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| VideoPacket {
                    pts: p["pts_time"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(f64::NAN),
                    key: p["flags"].as_str().unwrap_or("").starts_with('K'),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// (width, height, codec, pix_fmt) of the first video stream.
pub fn video_stream(path: &Path) -> (u64, u64, String, String) {
    let v = ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,codec_name,pix_fmt",
        ],
    );
    let s = &v["streams"][0];
    (
        s["width"].as_u64().unwrap_or(0),
        s["height"].as_u64().unwrap_or(0),
        s["codec_name"].as_str().unwrap_or("").to_string(),
        s["pix_fmt"].as_str().unwrap_or("").to_string(),
    )
}

/// Number of audio streams.
pub fn audio_streams(path: &Path) -> usize {
    let v = ffprobe(path, &["-select_streams", "a", "-show_entries", "stream=index"]);
    v["streams"].as_array().map(Vec::len).unwrap_or(0)
}

/// Duration of the video as decoded: last packet pts + one frame - first pts.
pub fn decoded_video_duration(path: &Path) -> f64 {
    let mut pts: Vec<f64> = video_packets(path)
        .iter()
        .map(|p| p.pts)
        .filter(|p| p.is_finite())
        .collect();
    pts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if pts.len() < 2 {
        return 0.0;
    }
    let frame = (pts[pts.len() - 1] - pts[0]) / (pts.len() - 1) as f64;
    pts[pts.len() - 1] + frame - pts[0]
}

pub fn parse_master(path: &Path) -> MasterPlaylist {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match m3u8_rs::parse_playlist_res(&bytes) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("{} is not a master playlist: {other:?}", path.display()),
    }
}

pub fn parse_media(path: &Path) -> MediaPlaylist {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match m3u8_rs::parse_playlist_res(&bytes) {
        Ok(Playlist::MediaPlaylist(m)) => m,
        other => panic!("{} is not a media playlist: {other:?}", path.display()),
    }
}

/// One rendition as the judges found it.
#[derive(Debug)]
pub struct CheckedRendition {
    pub width: u64,
    pub height: u64,
    pub segments: usize,
    pub total: f64,
}

/// Checks a finished ladder under `dir` against its source:
/// - the master and every media playlist parse, media playlists are VOD with ENDLIST;
/// - every segment (init + segment for fMP4) starts with a video keyframe, its picture
///   size matches the variant's RESOLUTION, and ffprobe reads it as 8-bit yuv420p H.264;
/// - segments start where [`segment_starts`] says, within one frame (1 s, 1 s, 2 s...
///   then `segment_seconds`), no EXTINF exceeds TARGETDURATION, and EXTINF matches the
///   measured duration within one frame;
/// - the rendition's total is within 0.1 s of the source's decoded duration.
pub fn check_ladder(dir: &Path, source: &Path, segment_seconds: f64) -> Vec<CheckedRendition> {
    let master = parse_master(&dir.join("master.m3u8"));
    assert!(!master.variants.is_empty(), "master lists no variants");
    let source_duration = decoded_video_duration(source);
    let mut out = Vec::new();
    for variant in &master.variants {
        let codecs = variant.codecs.as_deref().unwrap_or("");
        assert!(codecs.starts_with("avc1."), "CODECS {codecs:?}");
        let res = variant.resolution.expect("RESOLUTION present");
        let playlist_path = dir.join(&variant.uri);
        let media = parse_media(&playlist_path);
        assert!(media.end_list, "{} has no ENDLIST", variant.uri);
        assert_eq!(media.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
        let rung_dir = playlist_path.parent().unwrap().to_path_buf();
        let init = media
            .segments
            .first()
            .and_then(|s| s.map.as_ref())
            .map(|m| rung_dir.join(&m.uri));
        let mut starts = Vec::new();
        let mut last_end = 0.0;
        // The shortest mean frame interval over the segments: the frame duration.
        let mut frame: f64 = f64::MAX;
        for seg in &media.segments {
            let file = joined(init.as_deref(), &rung_dir.join(&seg.uri));
            let (w, h, codec, pix) = video_stream(&file);
            assert_eq!((w, h), (res.width, res.height), "{} picture size", seg.uri);
            assert_eq!(codec, "h264");
            assert_eq!(pix, "yuv420p", "{} pixel format", seg.uri);
            let packets = video_packets(&file);
            assert!(!packets.is_empty(), "{} has no video", seg.uri);
            assert!(
                packets[0].key,
                "{} of {} does not start with a keyframe",
                seg.uri, variant.uri
            );
            let keys = packets.iter().filter(|p| p.key).count();
            assert_eq!(keys, 1, "{} has {keys} keyframes (stray IDR)", seg.uri);
            let mut pts: Vec<f64> = packets.iter().map(|p| p.pts).collect();
            pts.sort_by(|a, b| a.partial_cmp(b).unwrap());
            if pts.len() > 1 {
                frame = frame
                    .min((pts[pts.len() - 1] - pts[0]) / (pts.len() - 1) as f64)
                    .max(1.0 / 120.0);
            }
            starts.push(pts[0]);
            last_end = pts[pts.len() - 1];
        }
        if frame == f64::MAX {
            frame = 1.0 / 30.0; // one frame per segment: assume 30 fps
        }
        last_end += frame;
        let mut total = 0.0;
        let expected = segment_starts(segment_seconds, media.segments.len() + 1);
        assert_within_target_duration(&media);
        for (i, seg) in media.segments.iter().enumerate() {
            let measured = if i + 1 < starts.len() {
                starts[i + 1] - starts[i]
            } else {
                last_end - starts[i]
            };
            total += measured;
            let tolerance = frame + 0.002;
            assert!(
                (f64::from(seg.duration) - measured).abs() <= tolerance,
                "{}: EXTINF {} but measured {measured:.4}",
                seg.uri,
                seg.duration
            );
            if i + 1 < media.segments.len() {
                let want = expected[i + 1] - expected[i];
                assert!(
                    (measured - want).abs() <= tolerance,
                    "{} lasts {measured:.4}, not {want} within a frame",
                    seg.uri
                );
            }
        }
        assert!(
            (total - source_duration).abs() <= 0.1,
            "{}: {total:.3}s of video, the source has {source_duration:.3}s",
            variant.uri
        );
        out.push(CheckedRendition {
            width: res.width,
            height: res.height,
            segments: media.segments.len(),
            total,
        });
    }
    out
}

/// RFC 8216 §4.3.3.1: every EXTINF, rounded to the nearest integer, is at most
/// EXT-X-TARGETDURATION.
pub fn assert_within_target_duration(media: &MediaPlaylist) {
    for s in &media.segments {
        assert!(
            f64::from(s.duration).round() <= media.target_duration as f64,
            "{}: EXTINF {} over TARGETDURATION {}",
            s.uri,
            s.duration,
            media.target_duration
        );
    }
}

/// The first `n` segment start times (seconds) that docs/api.md promises for
/// `segment_seconds`: 0, then 1, 2, 4... seconds while under `segment_seconds`, then its
/// multiples. Written from the document, not from reel's code.
pub fn segment_starts(segment_seconds: f64, n: usize) -> Vec<f64> {
    let mut starts = vec![0.0];
    let mut short = 1.0;
    while short < segment_seconds && starts.len() < n {
        starts.push(short);
        short *= 2.0;
    }
    let mut k = 1.0;
    while starts.len() < n {
        starts.push(k * segment_seconds);
        k += 1.0;
    }
    starts
}

/// Pts (seconds) of every video keyframe of a rendition, in order: its init segment
/// (if any) and all its segments joined into one file, as a player would feed them.
pub fn keyframe_times(playlist_path: &Path) -> Vec<f64> {
    let media = parse_media(playlist_path);
    let dir = playlist_path.parent().unwrap();
    let mut bytes = Vec::new();
    if let Some(map) = media.segments.first().and_then(|s| s.map.as_ref()) {
        bytes.extend(std::fs::read(dir.join(&map.uri)).expect("init segment"));
    }
    for seg in &media.segments {
        bytes.extend(std::fs::read(dir.join(&seg.uri)).expect("segment"));
    }
    let joined = dir.join(".judge-joined.mp4");
    std::fs::write(&joined, bytes).expect("temp file");
    let mut keys: Vec<f64> = video_packets(&joined)
        .iter()
        .filter(|p| p.key)
        .map(|p| p.pts)
        .collect();
    keys.sort_by(f64::total_cmp);
    keys
}

/// For fMP4, a temp file holding init + segment (what a player feeds its decoder);
/// for TS, the segment itself.
fn joined(init: Option<&Path>, segment: &Path) -> PathBuf {
    match init {
        None => segment.to_path_buf(),
        Some(init) => {
            let mut bytes = std::fs::read(init).expect("init segment");
            bytes.extend(std::fs::read(segment).expect("segment"));
            // Next to the segment, which lives in the test's own temp directory.
            let name = segment.file_name().unwrap().to_string_lossy();
            let path = segment.with_file_name(format!(".judge-{name}.mp4"));
            std::fs::write(&path, bytes).expect("temp file");
            path
        }
    }
}

/// One cue of a WebVTT thumbnails track: times in milliseconds, the sprite (relative to
/// the track) and the rectangle `#xywh=` names in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailCue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub sprite: String,
    pub rect: (u64, u64, u64, u64),
}

/// Parses `hh:mm:ss.ttt` or `mm:ss.ttt` (WebVTT timestamps) into milliseconds.
fn vtt_ms(t: &str) -> u64 {
    let (hms, frac) = t
        .split_once('.')
        .unwrap_or_else(|| panic!("no milliseconds in {t:?}"));
    assert_eq!(frac.len(), 3, "{t:?}");
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().expect("a number")).collect();
    let secs = parts.iter().fold(0, |acc, p| acc * 60 + p);
    assert!(parts.len() == 2 || parts.len() == 3, "{t:?}");
    secs * 1000 + frac.parse::<u64>().unwrap()
}

/// Parses a WebVTT thumbnails track (cues whose text is `sprite.jpg#xywh=x,y,w,h`).
pub fn parse_thumbnails_vtt(text: &str) -> Vec<ThumbnailCue> {
    let mut blocks = text.split("\n\n").map(str::trim).filter(|b| !b.is_empty());
    let header = blocks.next().expect("a header");
    assert!(header.starts_with("WEBVTT"), "not WebVTT: {header:?}");
    blocks
        .map(|block| {
            let lines: Vec<&str> = block.lines().collect();
            let timing = lines
                .iter()
                .position(|l| l.contains("-->"))
                .expect("a timing line");
            let (from, to) = lines[timing].split_once("-->").unwrap();
            let payload = lines.get(timing + 1).expect("a cue payload");
            let (sprite, xywh) = payload.split_once("#xywh=").expect("a #xywh= fragment");
            let n: Vec<u64> = xywh
                .split(',')
                .map(|p| p.trim().parse().expect("a number"))
                .collect();
            assert_eq!(n.len(), 4, "{payload}");
            ThumbnailCue {
                start_ms: vtt_ms(from.trim()),
                end_ms: vtt_ms(to.split_whitespace().next().unwrap()),
                sprite: sprite.to_string(),
                rect: (n[0], n[1], n[2], n[3]),
            }
        })
        .collect()
}

/// What [`check_storyboard`] found.
#[derive(Debug)]
pub struct CheckedStoryboard {
    pub cues: Vec<ThumbnailCue>,
    /// (file name, width, height) of each sprite sheet, in order of first use.
    pub sprites: Vec<(String, u64, u64)>,
    pub bytes: u64,
}

/// Checks the storyboard of a finished video under `dir`:
/// - `storyboard.vtt` parses as a thumbnails track, its cues start at 0, each where the one
///   before ends (no gap, no overlap), and the last ends at `duration` (within 1 ms);
/// - every sprite it names decodes as a JPEG (ffprobe decodes a frame of it);
/// - every cue's rectangle lies inside its sprite, and all tiles have one size.
pub fn check_storyboard(dir: &Path, duration: f64) -> CheckedStoryboard {
    let vtt = dir.join("storyboard.vtt");
    let text = std::fs::read_to_string(&vtt).unwrap_or_else(|e| panic!("reading {}: {e}", vtt.display()));
    let cues = parse_thumbnails_vtt(&text);
    assert!(!cues.is_empty(), "no cues");
    assert_eq!(
        cues[0].start_ms, 0,
        "the first cue starts at {} ms",
        cues[0].start_ms
    );
    for pair in cues.windows(2) {
        assert_eq!(pair[0].end_ms, pair[1].start_ms, "gap or overlap: {pair:?}");
    }
    for c in &cues {
        assert!(c.end_ms > c.start_ms, "empty cue {c:?}");
    }
    let end = cues.last().unwrap().end_ms as f64 / 1000.0;
    assert!(
        (end - duration).abs() <= 0.0015,
        "the cues end at {end}, the video at {duration}"
    );
    let mut sprites: Vec<(String, u64, u64)> = Vec::new();
    let mut bytes = 0;
    for c in &cues {
        if !sprites.iter().any(|(name, ..)| *name == c.sprite) {
            let path = vtt.parent().unwrap().join(&c.sprite);
            bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let v = ffprobe(
                &path,
                &[
                    "-select_streams",
                    "v:0",
                    "-show_frames",
                    "-show_entries",
                    "frame=width,height:stream=codec_name",
                ],
            );
            assert_eq!(
                v["streams"][0]["codec_name"], "mjpeg",
                "{} is not a JPEG",
                c.sprite
            );
            let frame = &v["frames"][0];
            let (w, h) = (frame["width"].as_u64(), frame["height"].as_u64());
            let (Some(w), Some(h)) = (w, h) else {
                panic!("{} does not decode: {v}", c.sprite);
            };
            sprites.push((c.sprite.clone(), w, h));
        }
        let (_, w, h) = sprites.iter().find(|(name, ..)| *name == c.sprite).unwrap();
        let (x, y, cw, ch) = c.rect;
        assert!(
            cw > 0 && ch > 0 && x + cw <= *w && y + ch <= *h,
            "{c:?} is outside {w}x{h}"
        );
        assert_eq!((cw, ch), (cues[0].rect.2, cues[0].rect.3), "tiles of two sizes");
    }
    CheckedStoryboard { cues, sprites, bytes }
}

//! Independent judges of reel's output: the `ffprobe` CLI and the `m3u8-rs` parser.
//!
//! Nothing here uses reel's own code to decide whether reel's output is right.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use m3u8_rs::{AlternativeMediaType, MasterPlaylist, MediaPlaylist, Playlist};
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

/// The dominant pitch of the first audio stream of `path` in Hz, by counting rising zero
/// crossings of the decoded mono signal (the `ffmpeg` CLI decodes; the tracks of the
/// generated clips are pure sines: 440 Hz, 660 Hz...).
pub fn pitch(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg runs (scripts/setup --test installs it)");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(
        samples.len() > 48_000 / 2,
        "less than half a second of audio in {}",
        path.display()
    );
    // Skip the codec's priming and ramps: the middle 80%.
    let middle = &samples[samples.len() / 10..samples.len() * 9 / 10];
    let rising = middle.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    rising as f64 / (middle.len() as f64 / 48_000.0)
}

/// An audio rendition as the judges found it.
#[derive(Debug)]
pub struct CheckedAudio {
    pub language: Option<String>,
    pub name: String,
    pub default: bool,
    /// Its `GROUP-ID`: `audio`, or `audio-surround` for an AC-3 5.1 one.
    pub group: String,
    /// What ffprobe read: `aac` or `ac3`, and the channels.
    pub codec: String,
    pub channels: u64,
    /// The pitch of the whole rendition, init and segments joined (Hz).
    pub pitch: f64,
}

/// A subtitle rendition as the judges found it: each segment's cues.
#[derive(Debug)]
pub struct CheckedSubtitles {
    pub language: Option<String>,
    pub name: String,
    /// (start, end, text) of each cue of each segment, times in seconds.
    pub cues: Vec<Vec<(f64, f64, String)>>,
}

/// Checks the `EXT-X-MEDIA` renditions of a finished ladder under `dir` against its
/// video renditions (the first variant's playlist):
/// - every variant names the audio group when there are audio renditions, and the
///   subtitle group when there are subtitle renditions; the first audio one is DEFAULT;
/// - each media playlist parses, is VOD with ENDLIST, and lists as many segments as the
///   video, each lasting what the video's does (within a millisecond);
/// - ffprobe reads every audio segment (init + segment) as AAC, stereo, 48 kHz (in the
///   `audio-surround` group: AC-3, 6 channels, 48 kHz), and its first packet lies within
///   a frame (AAC 21.3 ms, AC-3 32 ms) of the video segment's start; every WebVTT
///   segment as WebVTT, with `X-TIMESTAMP-MAP` naming the offset the video's first
///   segment starts at (its first frame's pts, 90 kHz).
pub fn check_media_renditions(dir: &Path) -> (Vec<CheckedAudio>, Vec<CheckedSubtitles>) {
    let master = parse_master(&dir.join("master.m3u8"));
    let video_uri = &master.variants[0].uri;
    let video = parse_media(&dir.join(video_uri));
    let video_dir = dir.join(video_uri).parent().unwrap().to_path_buf();
    let video_init = video.segments[0].map.as_ref().map(|m| video_dir.join(&m.uri));
    // Where each video segment starts, as its first frame's pts (with the muxer's offset).
    let video_starts: Vec<f64> = video
        .segments
        .iter()
        .map(|s| {
            let file = joined(video_init.as_deref(), &video_dir.join(&s.uri));
            let mut pts: Vec<f64> = video_packets(&file).iter().map(|p| p.pts).collect();
            pts.sort_by(f64::total_cmp);
            pts[0]
        })
        .collect();
    let has_audio = master
        .alternatives
        .iter()
        .any(|a| a.media_type == AlternativeMediaType::Audio);
    let has_subs = master
        .alternatives
        .iter()
        .any(|a| a.media_type == AlternativeMediaType::Subtitles);
    for v in &master.variants {
        assert_eq!(v.audio.is_some(), has_audio, "{}: AUDIO group", v.uri);
        assert_eq!(v.subtitles.is_some(), has_subs, "{}: SUBTITLES group", v.uri);
    }
    let (mut audio, mut subtitles) = (Vec::new(), Vec::new());
    for alt in &master.alternatives {
        let uri = alt.uri.as_ref().expect("an EXT-X-MEDIA with a URI");
        let path = dir.join(uri);
        let media = parse_media(&path);
        assert!(media.end_list, "{uri} has no ENDLIST");
        assert_eq!(media.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
        assert_within_target_duration(&media);
        assert_eq!(
            media.segments.len(),
            video.segments.len(),
            "{uri}: segments, the video has {}",
            video.segments.len()
        );
        for (s, v) in media.segments.iter().zip(&video.segments) {
            assert!(
                (s.duration - v.duration).abs() < 0.001,
                "{uri}: {} lasts {}, the video's {}",
                s.uri,
                s.duration,
                v.duration
            );
        }
        let rendition_dir = path.parent().unwrap();
        match alt.media_type {
            AlternativeMediaType::Audio => {
                let init = media.segments[0].map.as_ref().map(|m| rendition_dir.join(&m.uri));
                let mut all = Vec::new();
                if let Some(init) = &init {
                    all.extend(std::fs::read(init).unwrap());
                }
                for (i, s) in media.segments.iter().enumerate() {
                    let file = joined(init.as_deref(), &rendition_dir.join(&s.uri));
                    let v = ffprobe(
                        &file,
                        &[
                            "-show_entries",
                            "stream=codec_type,codec_name,channels,sample_rate:packet=pts_time",
                        ],
                    );
                    let streams = v["streams"].as_array().unwrap();
                    assert_eq!(streams.len(), 1, "{uri} {}: {streams:?}", s.uri);
                    let (codec, channels, frame) = match alt.group_id.as_str() {
                        "audio-surround" => ("ac3", 6, 0.0321),
                        _ => ("aac", 2, 0.0214),
                    };
                    assert_eq!(streams[0]["codec_name"], codec, "{uri} {}", s.uri);
                    assert_eq!(streams[0]["channels"], channels, "{uri} {}", s.uri);
                    assert_eq!(streams[0]["sample_rate"], "48000");
                    let first: f64 = v["packets"][0]["pts_time"].as_str().unwrap().parse().unwrap();
                    // The first packet starts within a frame (AAC 21.3 ms, AC-3 32 ms)
                    // after the video segment's first frame (the first one: the AAC
                    // encoder's priming frame, one before).
                    let lead = first - video_starts[i];
                    assert!(
                        (-frame..frame).contains(&lead),
                        "{uri} {}: audio at {first}, video at {}",
                        s.uri,
                        video_starts[i]
                    );
                    all.extend(std::fs::read(rendition_dir.join(&s.uri)).unwrap());
                }
                let whole = rendition_dir.join(".judge-whole.mp4");
                std::fs::write(&whole, all).unwrap();
                let (codec, channels) = match alt.group_id.as_str() {
                    "audio-surround" => ("ac3", 6),
                    _ => ("aac", 2),
                };
                audio.push(CheckedAudio {
                    language: alt.language.clone(),
                    name: alt.name.clone(),
                    default: alt.default,
                    group: alt.group_id.clone(),
                    codec: codec.into(),
                    channels,
                    pitch: pitch(&whole),
                });
            }
            AlternativeMediaType::Subtitles => {
                let mut cues = Vec::new();
                for s in &media.segments {
                    let file = rendition_dir.join(&s.uri);
                    let text = std::fs::read_to_string(&file).unwrap();
                    let offset = (video_starts[0] * 90_000.0).round() as i64;
                    assert!(
                        text.starts_with(&format!(
                            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{offset},LOCAL:00:00:00.000\n"
                        )),
                        "{uri} {}: {text}",
                        s.uri
                    );
                    let v = ffprobe(
                        &file,
                        &[
                            "-show_entries",
                            "stream=codec_name:packet=pts_time,duration_time:packet_side_data=",
                        ],
                    );
                    assert_eq!(v["streams"][0]["codec_name"], "webvtt", "{}", s.uri);
                    let segment_cues = v["packets"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|p| {
                                    let t = |k: &str| p[k].as_str().unwrap().parse::<f64>().unwrap();
                                    let start = t("pts_time");
                                    (start, start + t("duration_time"), String::new())
                                })
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    // The texts, in order, from the file itself.
                    let texts: Vec<String> = text
                        .split("\n\n")
                        .skip(1)
                        .map(|block| block.lines().skip(1).collect::<Vec<_>>().join("\n"))
                        .collect();
                    assert_eq!(texts.len(), segment_cues.len(), "{}: {text}", s.uri);
                    cues.push(
                        segment_cues
                            .into_iter()
                            .zip(texts)
                            .map(|((a, b, _), t)| (a, b, t))
                            .collect(),
                    );
                }
                subtitles.push(CheckedSubtitles {
                    language: alt.language.clone(),
                    name: alt.name.clone(),
                    cues,
                });
            }
            ref other => panic!("unexpected EXT-X-MEDIA type {other:?}"),
        }
    }
    (audio, subtitles)
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

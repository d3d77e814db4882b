//! The storyboard: seek-bar previews as sprite sheets of small frames and a WebVTT
//! thumbnails track that points into them, made from the frames the decode thread already
//! has (no second decode).
//!
//! ```text
//! media/{id}/storyboard.vtt              WEBVTT
//!                                         00:00:00.000 --> 00:00:02.000
//!                                         storyboard/sprite-000.jpg#xywh=0,0,160,90
//!                                         00:00:02.000 --> 00:00:04.000
//!                                         storyboard/sprite-000.jpg#xywh=160,0,160,90 ...
//! media/{id}/storyboard/sprite-000.jpg   ┌────┬────┬─ ─ ─┬────┐  10 x 10 tiles, row by row:
//!                                         │ 0  │ 1  │     │ 9  │  tile k at column k % 10,
//!                                         ├────┼────┼─ ─ ─┼────┤  row (k / 10) % 10 of sheet
//!                                         │ 10 │ 11 │     │ 19 │  k / 100; 1600x900 for 16:9
//!                                         └────┴────┴─ ─ ─┴────┘
//! media/{id}/storyboard/sprite-001.jpg   tiles 100..199 ...; the last sheet only as tall
//!                                         (and, alone, as wide) as its tiles need
//! ```
//!
//! **Layout** ([`Layout::for_source`]). A tile is the displayed picture fitted into a
//! [`TILE_BOX`] (160 px) square, never enlarged, with even sides: 160x90 for 16:9, 90x160
//! for a portrait 9:16, 64x36 for a 64x36 source. One tile every `interval`: whole seconds,
//! at least [`MIN_INTERVAL_SECS`], long enough that the declared duration needs at most
//! [`MAX_TILES`] tiles. A 2-hour film gets a tile every 8 s: 900 tiles on 9 sheets.
//!
//! **Cues.** Tile k is the first frame at or after its slot's start (a multiple of the
//! interval; the first tile starts at 0). Its cue runs from that slot's start to the next
//! tile's, and the last one to the end of the video, so the cues cover the whole duration
//! without gaps or overlaps, even where frames skip slots (variable frame rate) or the
//! file runs longer than it declared. [`MAX_TILES`] is a hard cap: past it no tile is
//! taken and the last cue stretches to the end, so memory and files stay bounded
//! whatever the source declares.
//!
//! **Cost.** Each tile is one swscale call (the engine's [`Scaler`], full-range yuvj420p)
//! into a sheet held in memory (one at a time: 2.2 MB for 1600x900): about 1 ms for a
//! 1080p frame (3 ms for the first, which builds the scaler). A sheet is JPEG-encoded and
//! written when full and at the end; `storyboard.vtt` once, when complete. With a 2 s
//! minimum interval and 100 tiles a sheet, nothing is encoded in a video's first 200 s,
//! so the first segment waits for that one small scale only.
//!
//! Every file leaves through [`StoryboardMaker::store`], the one place that writes.

use std::fmt::Write as _;

use ffmpeg_next::{format, frame};

use super::error::{EngineError, Result};
use super::poster::{encode_jpeg, JpegQuality};
use super::scale::Scaler;
use crate::storage::{Freshness, VideoObjects};
use crate::time::{Ts90k, HZ};

/// A tile fits in a square of this many pixels.
pub const TILE_BOX: u32 = 160;
/// Tiles across a sheet.
pub const COLUMNS: u32 = 10;
/// Tiles down a sheet.
pub const ROWS: u32 = 10;
/// The most tiles a storyboard holds, however long the video: 10 full sheets.
pub const MAX_TILES: u32 = 1000;
/// The shortest interval between tiles, in seconds.
pub const MIN_INTERVAL_SECS: i64 = 2;
/// The sheets' JPEG quantiser (2 best .. 31 worst). At 5 a full 16:9 sheet of the
/// detailed, saturated test patterns (`testsrc2`, `mandelbrot`) is 280-290 kB, so a
/// 2-hour film's nine sheets stay under 2.6 MB (docs/architecture.md, "Storyboard").
const QUANTISER: i32 = 5;

/// Where the storyboard's files live, relative to the video's directory.
pub const VTT_NAME: &str = "storyboard.vtt";
const SPRITE_DIR: &str = "storyboard";

/// The shape of a video's storyboard, fixed before the first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub tile_width: u32,
    pub tile_height: u32,
    pub interval: Ts90k,
}

impl Layout {
    /// The layout for a displayed picture of `width` x `height` that declares `duration`
    /// (zero when unknown).
    pub fn for_source(width: u32, height: u32, duration: Ts90k) -> Layout {
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        let scale = (f64::from(TILE_BOX) / w.max(h)).min(1.0);
        let even = |x: f64| (((x / 2.0).round() as u32) * 2).max(2);
        let per_tile = (duration.0.max(0) as u64).div_ceil(u64::from(MAX_TILES));
        let interval_secs = (per_tile.div_ceil(HZ as u64) as i64).max(MIN_INTERVAL_SECS);
        Layout {
            tile_width: even(w * scale),
            tile_height: even(h * scale),
            interval: Ts90k(interval_secs * HZ),
        }
    }

    /// How many tiles a video of `duration` gets.
    pub fn tiles_for(&self, duration: Ts90k) -> u32 {
        let slots = (duration.0.max(1) as u64).div_ceil(self.interval.0 as u64);
        slots.min(u64::from(MAX_TILES)) as u32
    }

    /// The size of a sheet holding `tiles` tiles (a full one for `tiles` >= 100).
    pub fn sheet_size(&self, tiles: u32) -> (u32, u32) {
        let tiles = tiles.clamp(1, COLUMNS * ROWS);
        let columns = tiles.min(COLUMNS);
        let rows = tiles.div_ceil(COLUMNS);
        (columns * self.tile_width, rows * self.tile_height)
    }

    /// The rectangle of tile `k` on its sheet: x, y, width, height in pixels.
    pub fn rectangle(&self, k: u32) -> (u32, u32, u32, u32) {
        let on_sheet = k % (COLUMNS * ROWS);
        (
            (on_sheet % COLUMNS) * self.tile_width,
            (on_sheet / COLUMNS) * self.tile_height,
            self.tile_width,
            self.tile_height,
        )
    }
}

/// The name of sheet `n`, relative to the video's directory (and to `storyboard.vtt`).
pub fn sprite_name(n: u32) -> String {
    format!("{SPRITE_DIR}/sprite-{n:03}.jpg")
}

/// The WebVTT thumbnails track for tiles starting at `starts` (as [`StoryboardMaker`]
/// takes them), the last running to `end`.
pub fn storyboard_vtt(layout: &Layout, starts: &[Ts90k], end: Ts90k) -> String {
    let mut out = String::from("WEBVTT\n");
    // Each instant is rounded once, so one cue's end is the next one's start exactly.
    let ms = |t: Ts90k| (t.0.max(0) + 45) / 90;
    for (k, start) in starts.iter().enumerate() {
        let from = ms(*start);
        let to = match starts.get(k + 1) {
            Some(next) => ms(*next),
            None => ms(end).max(from + 1),
        };
        let (x, y, w, h) = layout.rectangle(k as u32);
        let sheet = k as u32 / (COLUMNS * ROWS);
        let _ = write!(
            out,
            "\n{} --> {}\n{}#xywh={x},{y},{w},{h}\n",
            vtt_time(from),
            vtt_time(to),
            sprite_name(sheet)
        );
    }
    out
}

/// `hh:mm:ss.ttt` (WebVTT allows more than two digits of hours).
fn vtt_time(ms: i64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    format!(
        "{h:02}:{:02}:{:02}.{:03}",
        rest / 60_000,
        rest % 60_000 / 1000,
        rest % 1000
    )
}

/// Builds a video's storyboard from the frames offered to it, on the decode thread.
pub struct StoryboardMaker {
    /// The video's objects; the storyboard's live beside its playlists.
    out: VideoObjects,
    layout: Layout,
    scaler: Scaler,
    /// The sheet being filled (allocated with its first tile, black where no tile is).
    sheet: Option<frame::Video>,
    /// Cue starts of the tiles taken so far, one a tile.
    starts: Vec<Ts90k>,
    /// The slot start from which the next tile is taken.
    next: Ts90k,
}

impl StoryboardMaker {
    /// A storyboard written into `dir` (the video's directory) for a displayed picture of
    /// `width` x `height` that declares `duration`.
    pub fn new(out: VideoObjects, width: u32, height: u32, duration: Ts90k) -> StoryboardMaker {
        let layout = Layout::for_source(width, height, duration);
        StoryboardMaker {
            out,
            scaler: Scaler::with_format(layout.tile_width, layout.tile_height, format::Pixel::YUVJ420P),
            layout,
            sheet: None,
            starts: Vec::new(),
            next: Ts90k::ZERO,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Offers an upright decoded frame at `pts` (90 kHz, rebased to the first frame); a
    /// no-op unless it is the first frame of a new slot.
    pub fn offer(&mut self, picture: &frame::Video, pts: Ts90k) -> Result<()> {
        if pts < self.next || self.starts.len() >= MAX_TILES as usize {
            return Ok(());
        }
        let interval = self.layout.interval.0;
        let start = if self.starts.is_empty() {
            Ts90k::ZERO
        } else {
            Ts90k(pts.0.div_euclid(interval) * interval)
        };
        let k = self.starts.len() as u32;
        let tile = self.scaler.run(picture)?;
        let sheet = self.sheet.get_or_insert_with(|| black_sheet(&self.layout));
        let (x, y, w, h) = self.layout.rectangle(k);
        copy_into(tile, sheet, (x, y), (w, h));
        self.starts.push(start);
        self.next = Ts90k(start.0 + interval);
        if (k + 1).is_multiple_of(COLUMNS * ROWS) {
            self.write_sheet()?;
        }
        Ok(())
    }

    /// Writes the last sheet and `storyboard.vtt`, whose last cue ends at `end`. Writes
    /// nothing when no frame was offered.
    pub fn finish(mut self, end: Ts90k) -> Result<()> {
        if self.starts.is_empty() {
            return Ok(());
        }
        if self.sheet.is_some() {
            self.write_sheet()?;
        }
        let vtt = storyboard_vtt(&self.layout, &self.starts, end);
        self.store(VTT_NAME, vtt.into_bytes(), Freshness::Finished)
    }

    /// Encodes the sheet being filled, cropped to the rows it uses, and writes it.
    fn write_sheet(&mut self) -> Result<()> {
        let Some(sheet) = self.sheet.take() else {
            return Ok(());
        };
        let per_sheet = COLUMNS * ROWS;
        let count = self.starts.len() as u32;
        let n = (count - 1) / per_sheet;
        let (w, h) = self.layout.sheet_size(count - n * per_sheet);
        let jpeg = if (w, h) == (sheet.width(), sheet.height()) {
            encode_jpeg(&sheet, JpegQuality::Quantiser(QUANTISER))?
        } else {
            encode_jpeg(&crop(&sheet, w, h), JpegQuality::Quantiser(QUANTISER))?
        };
        self.store(&sprite_name(n), jpeg, Freshness::Immutable)
    }

    /// Stores one file of the storyboard under the video's directory: the one place its
    /// bytes leave the engine. Sheets never change once written (cacheable for ever);
    /// `storyboard.vtt` is written once, complete.
    fn store(&self, name: &str, bytes: Vec<u8>, freshness: Freshness) -> Result<()> {
        self.out
            .put(name, bytes, freshness)
            .map_err(EngineError::io("storing the storyboard"))
    }
}

/// A full sheet of black (full-range: Y 0, chroma 128).
fn black_sheet(layout: &Layout) -> frame::Video {
    let (w, h) = layout.sheet_size(COLUMNS * ROWS);
    let mut sheet = frame::Video::new(format::Pixel::YUVJ420P, w, h);
    for plane in 0..3 {
        let fill = if plane == 0 { 0 } else { 128 };
        sheet.data_mut(plane).fill(fill);
    }
    sheet
}

/// Copies the top-left `w` x `h` of `from` into `to` with its corner at (`x`, `y`): both
/// 8-bit 4:2:0, and `x`, `y`, `w`, `h` even (as tiles are), so the chroma lands at half of
/// each. Pastes a tile into a sheet, and crops a sheet into a smaller picture.
fn copy_into(from: &frame::Video, to: &mut frame::Video, (x, y): (u32, u32), (w, h): (u32, u32)) {
    for plane in 0..3 {
        let shift = u32::from(plane > 0);
        let (w, h) = ((w >> shift) as usize, (h >> shift) as usize);
        let (x, y) = ((x >> shift) as usize, (y >> shift) as usize);
        let (from_stride, to_stride) = (from.stride(plane), to.stride(plane));
        for row in 0..h {
            let line = &from.data(plane)[row * from_stride..][..w];
            to.data_mut(plane)[(y + row) * to_stride + x..][..w].copy_from_slice(line);
        }
    }
}

/// The top-left `w` x `h` of `sheet` as a picture of its own.
fn crop(sheet: &frame::Video, w: u32, h: u32) -> frame::Video {
    let mut out = frame::Video::new(sheet.format(), w, h);
    copy_into(sheet, &mut out, (0, 0), (w, h));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: i64) -> Ts90k {
        Ts90k(s * HZ)
    }

    #[test]
    fn tiles_fit_a_160_pixel_box_with_even_sides_and_are_never_enlarged() {
        let tile = |w, h| {
            let l = Layout::for_source(w, h, secs(60));
            (l.tile_width, l.tile_height)
        };
        assert_eq!(tile(1920, 1080), (160, 90));
        assert_eq!(tile(1080, 1920), (90, 160));
        assert_eq!(tile(640, 480), (160, 120));
        assert_eq!(tile(854, 481), (160, 90));
        assert_eq!(tile(64, 36), (64, 36));
        assert_eq!(tile(3, 3), (4, 4));
        assert_eq!(tile(4096, 2), (160, 2));
        assert_eq!(tile(0, 0), (2, 2));
    }

    #[test]
    fn the_interval_bounds_the_tile_count() {
        let interval = |d: Ts90k| Layout::for_source(1920, 1080, d).interval;
        assert_eq!(interval(Ts90k::ZERO), secs(2));
        assert_eq!(interval(secs(10)), secs(2));
        assert_eq!(interval(secs(2000)), secs(2));
        assert_eq!(interval(secs(2001)), secs(3));
        // A 2-hour film: a tile every 8 s, 900 tiles on 9 sheets.
        let film = Layout::for_source(1920, 1080, secs(7200));
        assert_eq!(film.interval, secs(8));
        assert_eq!(film.tiles_for(secs(7200)), 900);
        // A thousand hours: still at most MAX_TILES.
        let endless = Layout::for_source(1920, 1080, secs(3_600_000));
        assert!(endless.tiles_for(secs(3_600_000)) <= MAX_TILES);
        assert_eq!(endless.tiles_for(secs(36_000_000)), MAX_TILES);
    }

    #[test]
    fn sheets_are_10_by_10_and_the_last_one_only_as_big_as_it_needs() {
        let l = Layout::for_source(1280, 720, secs(60));
        assert_eq!(l.sheet_size(100), (1600, 900));
        assert_eq!(l.sheet_size(31), (1600, 360));
        assert_eq!(l.sheet_size(3), (480, 90));
        assert_eq!(l.rectangle(0), (0, 0, 160, 90));
        assert_eq!(l.rectangle(13), (480, 90, 160, 90));
        assert_eq!(l.rectangle(113), (480, 90, 160, 90));
    }

    #[test]
    fn cues_run_from_zero_to_the_end_without_gaps() {
        let l = Layout::for_source(1920, 1080, secs(5));
        let starts: Vec<_> = [0, 2, 4].map(secs).to_vec();
        let vtt = storyboard_vtt(&l, &starts, Ts90k(5 * HZ + 30));
        assert_eq!(
            vtt,
            "WEBVTT\n\
             \n00:00:00.000 --> 00:00:02.000\nstoryboard/sprite-000.jpg#xywh=0,0,160,90\n\
             \n00:00:02.000 --> 00:00:04.000\nstoryboard/sprite-000.jpg#xywh=160,0,160,90\n\
             \n00:00:04.000 --> 00:00:05.000\nstoryboard/sprite-000.jpg#xywh=320,0,160,90\n"
        );
        assert_eq!(vtt_time(100 * 3_600_000 + 61_001), "100:01:01.001");
    }

    /// A 320x180 picture of one luma value.
    fn picture(luma: u8) -> frame::Video {
        let mut f = frame::Video::new(format::Pixel::YUV420P, 320, 180);
        f.data_mut(0).fill(luma);
        f.data_mut(1).fill(128);
        f.data_mut(2).fill(128);
        f
    }

    #[test]
    fn frames_become_sheets_and_a_track_that_point_into_them() {
        crate::engine::init();
        let tmp = tempfile::tempdir().unwrap();
        let out = VideoObjects::new(crate::storage::MediaStore::folder(tmp.path()).unwrap(), "v");
        let dir = tmp.path().join("v");
        let mut maker = StoryboardMaker::new(out, 320, 180, secs(250));
        // 25 fps for 250 s with a hole from 100 s to 107 s (variable frame rate).
        for i in (0..250 * 25).filter(|i| !(2500..2675).contains(i)) {
            maker
                .offer(&picture((i % 250) as u8), Ts90k(i * HZ / 25))
                .unwrap();
        }
        maker.finish(secs(250)).unwrap();
        let vtt = std::fs::read_to_string(dir.join(VTT_NAME)).unwrap();
        let cues: Vec<_> = vtt.split("\n\n").skip(1).collect();
        // 125 slots of 2 s, less the three the hole swallowed: the tile of 98 s runs to
        // 106 s, the slot of the first frame after the hole.
        assert_eq!(cues.len(), 122);
        assert!(vtt.contains("00:01:38.000 --> 00:01:46.000\n"), "{vtt}");
        assert!(cues[121].starts_with("00:04:08.000 --> 00:04:10.000\n"));
        for n in 0..2 {
            let jpeg = std::fs::read(dir.join(sprite_name(n))).unwrap();
            assert_eq!(&jpeg[..2], [0xff, 0xd8], "sheet {n} is a JPEG");
        }
        assert!(!dir.join(sprite_name(2)).exists());
        let last = crate::engine::probe(&dir.join(sprite_name(1))).unwrap();
        assert_eq!((last.video.width, last.video.height), (1600, 270));
    }

    #[test]
    fn no_more_than_max_tiles_whatever_the_source_declares() {
        crate::engine::init();
        let tmp = tempfile::tempdir().unwrap();
        let out = VideoObjects::new(crate::storage::MediaStore::folder(tmp.path()).unwrap(), "v");
        let dir = tmp.path().join("v");
        // Declares 10 s, runs for 3000 s at one frame a second.
        let mut maker = StoryboardMaker::new(out, 64, 64, secs(10));
        let tiny = {
            let mut f = frame::Video::new(format::Pixel::YUV420P, 64, 64);
            f.data_mut(0).fill(90);
            f
        };
        for s in 0..3000 {
            maker.offer(&tiny, secs(s)).unwrap();
        }
        assert_eq!(maker.starts.len(), MAX_TILES as usize);
        maker.finish(secs(3000)).unwrap();
        let vtt = std::fs::read_to_string(dir.join(VTT_NAME)).unwrap();
        assert!(
            vtt.ends_with("00:33:18.000 --> 00:50:00.000\nstoryboard/sprite-009.jpg#xywh=576,576,64,64\n"),
            "{}",
            &vtt[vtt.len() - 200..]
        );
        assert!(!dir.join(sprite_name(10)).exists());
    }
}

//! Movie fragments (§8.8): a media segment's `moof` read in place, and the rewrites a
//! channel makes of a segment: moving its decode times ([`shift_decode_times`]), putting
//! bytes in front of a track's first sample ([`insert_before_first_sample`]) and leaving
//! out a track's samples past an instant ([`cut_track_after`]).
//!
//! Sample data offsets are only rewritten for the layout reel's muxer writes
//! (`default_base_moof`): every run carries a `data_offset` counted from its `moof`.
//! Other layouts are an [`Error::Unsupported`], never a guess.

use std::collections::HashMap;

use super::boxes::{boxes, BoxHeader, BoxRef, BoxType};
use super::Error;
use crate::time::{Ts90k, HZ};

/// `tfhd` flags (§8.8.7.1).
pub mod tfhd {
    /// `base_data_offset` is present: data offsets count from it.
    pub const BASE_DATA_OFFSET: u32 = 0x00_0001;
    pub const SAMPLE_DESCRIPTION_INDEX: u32 = 0x00_0002;
    pub const DEFAULT_SAMPLE_DURATION: u32 = 0x00_0008;
    pub const DEFAULT_SAMPLE_SIZE: u32 = 0x00_0010;
    pub const DEFAULT_SAMPLE_FLAGS: u32 = 0x00_0020;
    pub const DURATION_IS_EMPTY: u32 = 0x01_0000;
    /// Data offsets count from the first byte of the enclosing `moof`.
    pub const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
}

/// `trun` flags (§8.8.8.1).
pub mod trun {
    pub const DATA_OFFSET: u32 = 0x00_0001;
    pub const FIRST_SAMPLE_FLAGS: u32 = 0x00_0004;
    /// The per-sample fields, in the order they appear in each sample's record.
    pub const SAMPLE_DURATION: u32 = 0x00_0100;
    pub const SAMPLE_SIZE: u32 = 0x00_0200;
    pub const SAMPLE_FLAGS: u32 = 0x00_0400;
    pub const SAMPLE_COMPOSITION_TIME_OFFSET: u32 = 0x00_0800;
}

/// A `moof` and its track fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub moof: BoxRef,
    pub tracks: Vec<TrackFragment>,
}

/// A `traf`: its `tfhd`, `tfdt` and `trun`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFragment {
    pub traf: BoxRef,
    pub track_id: u32,
    /// `tfhd` flags ([`tfhd`]).
    pub flags: u32,
    pub default_sample_duration: Option<u32>,
    pub default_sample_size: Option<u32>,
    pub decode_time: Option<DecodeTime>,
    pub runs: Vec<TrackRun>,
}

/// A `tfdt`: the decode time of the fragment's first sample, in the track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeTime {
    pub tfdt: BoxRef,
    /// 1: a 64-bit time; 0: a 32-bit one.
    pub version: u8,
    pub value: u64,
}

/// A `trun`: a run of contiguous samples of one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackRun {
    pub trun: BoxRef,
    /// `trun` flags ([`trun`]).
    pub flags: u32,
    pub sample_count: u32,
    pub data_offset: Option<i32>,
    /// Offset of the first sample's record in the buffer.
    records: usize,
}

/// Per-sample fields of a run, where present (the rest come from `tfhd` or `trex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleFields {
    pub duration: Option<u32>,
    pub size: Option<u32>,
}

impl DecodeTime {
    fn parse(data: &[u8], tfdt: BoxRef) -> Result<DecodeTime, Error> {
        let (version, _) = tfdt.version_flags(data)?;
        let value = match version {
            0 => u64::from(tfdt.u32_at(data, 4)?),
            1 => tfdt.u64_at(data, 4)?,
            _ => return Err(Error::Unsupported("a tfdt version above 1")),
        };
        Ok(DecodeTime { tfdt, version, value })
    }
}

impl TrackRun {
    fn parse(data: &[u8], trun: BoxRef) -> Result<TrackRun, Error> {
        let (_, flags) = trun.version_flags(data)?;
        let sample_count = trun.u32_at(data, 4)?;
        let mut at = 8;
        let data_offset = if flags & trun::DATA_OFFSET != 0 {
            at += 4;
            Some(trun.u32_at(data, 4 + 4)? as i32)
        } else {
            None
        };
        if flags & trun::FIRST_SAMPLE_FLAGS != 0 {
            at += 4;
        }
        let run = TrackRun {
            trun,
            flags,
            sample_count,
            data_offset,
            records: trun.field_at::<0>(at)?,
        };
        // Every record must lie in the box: a hostile count cannot make us read past it.
        let records_len = (sample_count as usize)
            .checked_mul(run.record_len())
            .and_then(|n| n.checked_add(run.records))
            .filter(|&end| end <= trun.end);
        records_len.ok_or(Error::ShortBox { kind: BoxType::TRUN })?;
        Ok(run)
    }

    /// Bytes of each sample's record: 4 per per-sample field present.
    fn record_len(&self) -> usize {
        let fields = [
            trun::SAMPLE_DURATION,
            trun::SAMPLE_SIZE,
            trun::SAMPLE_FLAGS,
            trun::SAMPLE_COMPOSITION_TIME_OFFSET,
        ];
        4 * fields.iter().filter(|&&f| self.flags & f != 0).count()
    }

    /// Offset in the buffer of sample `i`'s size field, when the run has per-sample sizes.
    pub fn size_field_at(&self, i: u32) -> Option<usize> {
        if self.flags & trun::SAMPLE_SIZE == 0 || i >= self.sample_count {
            return None;
        }
        let duration = if self.flags & trun::SAMPLE_DURATION != 0 {
            4
        } else {
            0
        };
        Some(self.records + i as usize * self.record_len() + duration)
    }

    /// Offset in the buffer of the `data_offset` field, when present.
    pub fn data_offset_at(&self) -> Option<usize> {
        self.data_offset.map(|_| self.trun.body + 8)
    }

    /// Sample `i`'s per-sample duration and size.
    pub fn sample(&self, data: &[u8], i: u32) -> Result<SampleFields, Error> {
        if i >= self.sample_count {
            return Ok(SampleFields::default());
        }
        let mut at = self.records - self.trun.body + i as usize * self.record_len();
        let mut next = |present: u32| -> Result<Option<u32>, Error> {
            if self.flags & present == 0 {
                return Ok(None);
            }
            let v = self.trun.u32_at(data, at)?;
            at += 4;
            Ok(Some(v))
        };
        let duration = next(trun::SAMPLE_DURATION)?;
        let size = next(trun::SAMPLE_SIZE)?;
        Ok(SampleFields { duration, size })
    }
}

impl TrackFragment {
    fn parse(data: &[u8], traf: BoxRef) -> Result<TrackFragment, Error> {
        let tfhd = traf.required(data, BoxType::TFHD)?;
        let (_, flags) = tfhd.version_flags(data)?;
        let track_id = tfhd.u32_at(data, 4)?;
        // Optional fields follow track_ID in flag order (§8.8.7.1).
        let mut at = 8;
        let mut optional = |flag: u32, len: usize| -> Result<Option<usize>, Error> {
            if flags & flag == 0 {
                return Ok(None);
            }
            let here = at;
            at += len;
            Ok(Some(here))
        };
        optional(tfhd::BASE_DATA_OFFSET, 8)?;
        optional(tfhd::SAMPLE_DESCRIPTION_INDEX, 4)?;
        let duration_at = optional(tfhd::DEFAULT_SAMPLE_DURATION, 4)?;
        let size_at = optional(tfhd::DEFAULT_SAMPLE_SIZE, 4)?;
        let read = |at: Option<usize>| at.map(|at| tfhd.u32_at(data, at)).transpose();
        let default_sample_duration = read(duration_at)?;
        let default_sample_size = read(size_at)?;

        let mut decode_time = None;
        let mut runs = Vec::new();
        for b in traf.children(data, 0) {
            let b = b?;
            match b.kind {
                BoxType::TFDT => decode_time = Some(DecodeTime::parse(data, b)?),
                BoxType::TRUN => runs.push(TrackRun::parse(data, b)?),
                _ => {}
            }
        }
        Ok(TrackFragment {
            traf,
            track_id,
            flags,
            default_sample_duration,
            default_sample_size,
            decode_time,
            runs,
        })
    }

    /// The fragment's duration in the track's timescale: the sum of its samples'.
    pub fn duration(&self, data: &[u8]) -> Result<u64, Error> {
        let mut total = 0u64;
        for run in &self.runs {
            if run.flags & trun::SAMPLE_DURATION == 0 {
                let each = self
                    .default_sample_duration
                    .ok_or(Error::Unsupported("sample durations from trex"))?;
                total += u64::from(each) * u64::from(run.sample_count);
                continue;
            }
            for i in 0..run.sample_count {
                total += u64::from(run.sample(data, i)?.duration.unwrap_or(0));
            }
        }
        Ok(total)
    }
}

impl Fragment {
    /// Reads `moof`, a box of `data`.
    pub fn parse(data: &[u8], moof: BoxRef) -> Result<Fragment, Error> {
        let mut tracks = Vec::new();
        for b in moof.children(data, 0) {
            let b = b?;
            if b.kind == BoxType::TRAF {
                tracks.push(TrackFragment::parse(data, b)?);
            }
        }
        Ok(Fragment { moof, tracks })
    }

    /// The track fragment of `track_id`.
    pub fn track(&self, track_id: u32) -> Option<&TrackFragment> {
        self.tracks.iter().find(|t| t.track_id == track_id)
    }

    /// Where the data of `run` (a run of `traf`) starts in the buffer, for the layouts
    /// reel rewrites: data offsets counted from the `moof` (§8.8.7.1: with
    /// `default-base-is-moof`, or in the first track fragment when no base is given).
    fn run_data_start(&self, traf: &TrackFragment, run: &TrackRun) -> Result<usize, Error> {
        if traf.flags & tfhd::BASE_DATA_OFFSET != 0 {
            return Err(Error::Unsupported("an explicit base data offset"));
        }
        let first = self.tracks.first().is_some_and(|t| t.traf == traf.traf);
        if traf.flags & tfhd::DEFAULT_BASE_IS_MOOF == 0 && !first {
            return Err(Error::Unsupported(
                "data offsets that follow the previous track's",
            ));
        }
        let offset = run
            .data_offset
            .ok_or(Error::Unsupported("a trun without data_offset"))?;
        let start = i64::try_from(self.moof.start).map_err(|_| Error::Overflow("a sample's offset"))?;
        usize::try_from(start + i64::from(offset)).map_err(|_| Error::Overflow("a sample's offset"))
    }
}

/// The `moof` boxes at the top level of `segment`, read.
pub fn fragments(segment: &[u8]) -> Result<Vec<Fragment>, Error> {
    let mut out = Vec::new();
    for b in boxes(segment) {
        let b = b?;
        if b.kind == BoxType::MOOF {
            out.push(Fragment::parse(segment, b)?);
        }
    }
    Ok(out)
}

/// Adds `offset` to the decode time (`tfdt`) of every track fragment of `segment`, in each
/// track's own timescale (`timescales`: track id → timescale, from
/// [`super::timescales`]). The rewrite is in place: the segment keeps its size and every
/// other byte. A version 0 `tfdt` keeps its 32 bits: a time that no longer fits in them is
/// an [`Error::Overflow`], and so is a time that would go below zero.
pub fn shift_decode_times(
    segment: &mut [u8],
    timescales: &HashMap<u32, u32>,
    offset: Ts90k,
) -> Result<(), Error> {
    // Read everything first, so a bad fragment leaves the segment untouched.
    let mut writes = Vec::new();
    for fragment in fragments(segment)? {
        for traf in &fragment.tracks {
            let Some(time) = traf.decode_time else { continue };
            let scale = *timescales
                .get(&traf.track_id)
                .ok_or(Error::UnknownTrack(traf.track_id))?;
            // offset (90 kHz) → the track's timescale, rounded down.
            let delta = (i128::from(offset.0) * i128::from(scale)).div_euclid(i128::from(HZ));
            let shifted = i128::from(time.value) + delta;
            // The time follows version/flags; DecodeTime::parse checked it lies in the box.
            let field = time.tfdt.body + 4;
            let bytes = if time.version == 1 {
                let v = u64::try_from(shifted).map_err(|_| Error::Overflow("a tfdt decode time"))?;
                v.to_be_bytes().to_vec()
            } else {
                let v = u32::try_from(shifted).map_err(|_| Error::Overflow("a 32-bit tfdt decode time"))?;
                v.to_be_bytes().to_vec()
            };
            writes.push((field, bytes));
        }
    }
    for (at, bytes) in writes {
        segment[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    Ok(())
}

/// `segment` without the samples of `track_id` that would end after `end` (a decode time
/// in the track's timescale): the track's runs lose their last samples, whose records
/// leave the `trun`s (which shrink, and their `traf` and `moof` with them, and every run of
/// that `moof` has its `data_offset` moved back by as much). The samples' bytes stay in
/// the `mdat`, referenced by nothing (§8.1.1 allows it). `None` when every sample of the
/// track ends by `end`.
pub fn cut_track_after(segment: &[u8], track_id: u32, end: u64) -> Result<Option<Vec<u8>>, Error> {
    let mut work = segment.to_vec();
    // Byte ranges to leave out, in order, once the fields are rewritten.
    let mut removed: Vec<(usize, usize)> = Vec::new();
    for fragment in fragments(segment)? {
        let Some(traf) = fragment.track(track_id) else {
            continue;
        };
        let mut time = traf
            .decode_time
            .ok_or(Error::Unsupported("a track fragment without tfdt"))?
            .value;
        let mut traf_shrink = 0;
        let mut cutting = false;
        for run in &traf.runs {
            let mut keep = run.sample_count;
            for i in 0..run.sample_count {
                // Once one sample is cut, every later one is.
                if cutting {
                    keep = i;
                    break;
                }
                let duration = match run.sample(segment, i)?.duration {
                    Some(d) => d,
                    None => traf
                        .default_sample_duration
                        .ok_or(Error::Unsupported("sample durations from trex"))?,
                };
                time = time.saturating_add(u64::from(duration));
                if time > end {
                    cutting = true;
                    keep = i;
                    break;
                }
            }
            if keep == run.sample_count {
                continue;
            }
            let from = run.records + keep as usize * run.record_len();
            let to = run.records + run.sample_count as usize * run.record_len();
            removed.push((from, to));
            work[run.trun.body + 4..run.trun.body + 8].copy_from_slice(&keep.to_be_bytes());
            shrink_box(&mut work, run.trun, to - from)?;
            traf_shrink += to - from;
        }
        if traf_shrink == 0 {
            continue;
        }
        shrink_box(&mut work, traf.traf, traf_shrink)?;
        shrink_box(&mut work, fragment.moof, traf_shrink)?;
        // The moof shrank: its data (after it) comes that much closer to its start.
        for t in &fragment.tracks {
            for r in &t.runs {
                fragment.run_data_start(t, r)?;
                let at = r.data_offset_at().expect("checked by run_data_start");
                let offset = i64::from(r.data_offset.expect("checked")) - traf_shrink as i64;
                let offset = i32::try_from(offset).map_err(|_| Error::Overflow("a data offset"))?;
                work[at..at + 4].copy_from_slice(&offset.to_be_bytes());
            }
        }
    }
    if removed.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(work.len());
    let mut at = 0;
    for (from, to) in removed {
        out.extend_from_slice(&work[at..from]);
        at = to;
    }
    out.extend_from_slice(&work[at..]);
    Ok(Some(out))
}

/// Takes `by` bytes off the size in `b`'s header (32- or 64-bit; a size 0, "to the end",
/// stays 0).
fn shrink_box(data: &mut [u8], b: BoxRef, by: usize) -> Result<(), Error> {
    let header = BoxHeader::parse(&data[b.start..])?.ok_or(Error::Truncated { kind: b.kind })?;
    match (header.size, header.header_len) {
        (None, _) => {}
        (Some(size), 16) => {
            let size = size - by as u64;
            data[b.start + 8..b.start + 16].copy_from_slice(&size.to_be_bytes());
        }
        (Some(size), _) => {
            let size = u32::try_from(size - by as u64).expect("smaller than a u32 size");
            data[b.start..b.start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }
    Ok(())
}

/// Where the first sample of `track_id` starts in `segment` (its first `moof`), and the
/// sample's bytes.
pub fn first_sample(segment: &[u8], track_id: u32) -> Result<(usize, &[u8]), Error> {
    let plan = Insertion::plan(segment, track_id)?;
    let end = plan
        .at
        .checked_add(plan.size as usize)
        .filter(|&e| e <= plan.mdat.end);
    let end = end.ok_or(Error::Truncated { kind: BoxType::MDAT })?;
    Ok((plan.at, &segment[plan.at..end]))
}

/// `segment` with `bytes` in front of the first sample of `track_id` in its first `moof`.
/// That sample grows by `bytes.len()`, and so does the `mdat` holding it; every run whose
/// data lies after it has its `data_offset` moved. Nothing else changes.
pub fn insert_before_first_sample(segment: &[u8], track_id: u32, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let plan = Insertion::plan(segment, track_id)?;
    let added = bytes.len();
    let mut out = Vec::with_capacity(segment.len() + added);
    out.extend_from_slice(&segment[..plan.at]);
    out.extend_from_slice(bytes);
    out.extend_from_slice(&segment[plan.at..]);
    // Every field patched below lies before `plan.at`, so its offset is unchanged.
    let add32 = |out: &mut Vec<u8>, at: usize, what: &'static str| -> Result<(), Error> {
        let field: &mut [u8; 4] = (&mut out[at..at + 4]).try_into().expect("4 bytes");
        let v = u32::from_be_bytes(*field);
        let v = u32::try_from(v as usize + added).map_err(|_| Error::Overflow(what))?;
        *field = v.to_be_bytes();
        Ok(())
    };
    add32(&mut out, plan.size_field, "a sample size")?;
    for at in plan.moved_offsets {
        let field: &mut [u8; 4] = (&mut out[at..at + 4]).try_into().expect("4 bytes");
        let v = i32::from_be_bytes(*field);
        let v = i32::try_from(i64::from(v) + added as i64).map_err(|_| Error::Overflow("a data offset"))?;
        *field = v.to_be_bytes();
    }
    let mdat = plan.mdat;
    match BoxHeader::parse(&segment[mdat.start..])? {
        // Size 0 ("to the end of the file") still says so.
        Some(BoxHeader { size: None, .. }) => {}
        Some(BoxHeader { header_len: 16, .. }) => {
            let field: &mut [u8; 8] = (&mut out[mdat.start + 8..mdat.start + 16])
                .try_into()
                .expect("8 bytes");
            *field = (u64::from_be_bytes(*field) + added as u64).to_be_bytes();
        }
        _ => add32(&mut out, mdat.start, "an mdat size")?,
    }
    Ok(out)
}

/// What [`insert_before_first_sample`] changes, read from the segment before any change.
struct Insertion {
    /// Where the sample starts.
    at: usize,
    /// Its size, and where that size is written.
    size: u32,
    size_field: usize,
    /// `data_offset` fields of the runs whose data starts after `at`.
    moved_offsets: Vec<usize>,
    /// The `mdat` holding the sample.
    mdat: BoxRef,
}

impl Insertion {
    fn plan(segment: &[u8], track_id: u32) -> Result<Insertion, Error> {
        let mut moof = None;
        for b in boxes(segment) {
            let b = b?;
            match b.kind {
                // They give sizes of what follows, which would change.
                BoxType::SIDX | BoxType::SSIX => return Err(Error::Unsupported("a segment index")),
                BoxType::MOOF => {
                    moof = Some(b);
                    break;
                }
                _ => {}
            }
        }
        let moof = moof.ok_or(Error::NotAtTopLevel(BoxType::MOOF))?;
        let fragment = Fragment::parse(segment, moof)?;
        let traf = fragment
            .track(track_id)
            .ok_or(Error::Unsupported("no fragment of the track"))?;
        let run = traf
            .runs
            .iter()
            .find(|r| r.sample_count > 0)
            .ok_or(Error::Unsupported("no sample of the track"))?;
        let size_field = run
            .size_field_at(0)
            .ok_or(Error::Unsupported("no per-sample sizes"))?;
        let size = u32::from_be_bytes(segment[size_field..size_field + 4].try_into().expect("4 bytes"));
        let at = fragment.run_data_start(traf, run)?;
        let mut moved_offsets = Vec::new();
        for t in &fragment.tracks {
            for r in &t.runs {
                if fragment.run_data_start(t, r)? > at {
                    moved_offsets.push(r.data_offset_at().expect("checked by run_data_start"));
                }
            }
        }
        let mut mdat = None;
        for b in boxes(segment) {
            let b = b?;
            if b.start >= moof.end && b.kind == BoxType::MDAT && b.body <= at && at < b.end {
                mdat = Some(b);
                break;
            }
        }
        let mdat = mdat.ok_or(Error::Unsupported("a sample outside every mdat after its moof"))?;
        Ok(Insertion {
            at,
            size,
            size_field,
            moved_offsets,
            mdat,
        })
    }
}

//! Reading an init segment's `moov`: each track's id, timescale, handler and sample entry.

use std::collections::HashMap;

use super::boxes::{find, BoxRef, BoxType};
use super::Error;

/// Bytes of a `SampleEntry` before its format's own fields: six reserved bytes and
/// `data_reference_index` (§8.5.2.2).
const SAMPLE_ENTRY: usize = 8;
/// Bytes of a `VisualSampleEntry` before its child boxes (§12.1.3).
pub const VISUAL_SAMPLE_ENTRY: usize = SAMPLE_ENTRY + 70;
/// Bytes of an `AudioSampleEntry` (version 0) before its child boxes (§12.2.3).
pub const AUDIO_SAMPLE_ENTRY: usize = SAMPLE_ENTRY + 20;
/// Bytes of `stsd` before its entries: version/flags and `entry_count` (§8.5.2.2).
const STSD_HEADER: usize = 8;

/// What a track carries, from its `hdlr` (§8.4.3, §12.1.2, §12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Video,
    Audio,
    Other(BoxType),
}

/// One `trak` of a `moov`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// `tkhd` track_ID: what a fragment's `tfhd` names.
    pub id: u32,
    /// `mdhd` timescale: ticks per second of the track's times (`tfdt`, durations).
    pub timescale: u32,
    pub handler: Handler,
    /// The `trak` box in the init segment.
    pub trak: BoxRef,
}

impl Track {
    /// The first sample entry of the track's `stsd` (`avc1`, `mp4a`...), if it has one.
    pub fn sample_entry(&self, init: &[u8]) -> Result<Option<BoxRef>, Error> {
        let path = [BoxType::MDIA, BoxType::MINF, BoxType::STBL, BoxType::STSD];
        let Some(stsd) = self.trak.path(init, &path)? else {
            return Ok(None);
        };
        stsd.children(init, STSD_HEADER).next().transpose()
    }

    /// The payload of the track's `avcC`, when its sample entry is `avc1` or `avc3`.
    pub fn avc_config<'a>(&self, init: &'a [u8]) -> Result<Option<&'a [u8]>, Error> {
        match self.sample_entry(init)? {
            Some(entry) if matches!(entry.kind, BoxType::AVC1 | BoxType::AVC3) => {
                let avcc = entry.child(init, VISUAL_SAMPLE_ENTRY, BoxType::AVCC)?;
                let avcc = avcc.ok_or(Error::Missing {
                    kind: BoxType::AVCC,
                    parent: entry.kind,
                })?;
                Ok(Some(avcc.payload(init)))
            }
            _ => Ok(None),
        }
    }
}

/// The tracks of the `moov` at the top level of `init`, in order.
pub fn tracks(init: &[u8]) -> Result<Vec<Track>, Error> {
    let moov = find(init, BoxType::MOOV)?.ok_or(Error::NotAtTopLevel(BoxType::MOOV))?;
    let mut out = Vec::new();
    for trak in moov.children(init, 0) {
        let trak = trak?;
        if trak.kind != BoxType::TRAK {
            continue;
        }
        let tkhd = trak.required(init, BoxType::TKHD)?;
        let mdia = trak.required(init, BoxType::MDIA)?;
        let mdhd = mdia.required(init, BoxType::MDHD)?;
        // tkhd and mdhd: version 1 has 64-bit creation and modification times before the
        // field we want, version 0 32-bit ones (§8.3.2, §8.4.2).
        let after_times = |b: &BoxRef| -> Result<usize, Error> {
            Ok(if b.version_flags(init)?.0 == 1 {
                4 + 16
            } else {
                4 + 8
            })
        };
        let id = tkhd.u32_at(init, after_times(&tkhd)?)?;
        let timescale = mdhd.u32_at(init, after_times(&mdhd)?)?;
        // hdlr: version/flags, pre_defined, then handler_type.
        let handler = match mdia.child(init, 0, BoxType::HDLR)? {
            Some(hdlr) => match BoxType(hdlr.u32_at(init, 8)?.to_be_bytes()) {
                BoxType(kind) if &kind == b"vide" => Handler::Video,
                BoxType(kind) if &kind == b"soun" => Handler::Audio,
                other => Handler::Other(other),
            },
            None => Handler::Other(BoxType(*b"\0\0\0\0")),
        };
        out.push(Track {
            id,
            timescale,
            handler,
            trak,
        });
    }
    Ok(out)
}

/// Track id → timescale, from an init segment.
pub fn timescales(init: &[u8]) -> Result<HashMap<u32, u32>, Error> {
    Ok(tracks(init)?.into_iter().map(|t| (t.id, t.timescale)).collect())
}

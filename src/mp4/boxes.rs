//! The box layer of ISO/IEC 14496-12 (§4.2): a 32-bit size, a four-character type, an
//! optional 64-bit size; full boxes add a version and 24 bits of flags (§4.2.2).
//!
//! [`Boxes`] walks the boxes of a byte range in place and yields [`BoxRef`]s, which are
//! offsets into the caller's buffer: the rewrites of [`super::fragment`] need to know where
//! each field lies, not only its value. Every size is checked against the range it sits
//! in, so a hostile size gives an [`Error`], never a panic or an out-of-range slice.

use std::fmt;

use super::Error;

/// A box type, the four characters of its header (`moov`, `trak`...).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoxType(pub [u8; 4]);

impl BoxType {
    /// File type and compatibility (§4.3).
    pub const FTYP: BoxType = BoxType(*b"ftyp");
    /// Segment type, the `ftyp` of a media segment (§8.16.2).
    pub const STYP: BoxType = BoxType(*b"styp");
    /// Media data: the samples (§8.1.1).
    pub const MDAT: BoxType = BoxType(*b"mdat");
    /// Movie: the tracks' metadata (§8.2.1).
    pub const MOOV: BoxType = BoxType(*b"moov");
    /// Movie header (§8.2.2).
    pub const MVHD: BoxType = BoxType(*b"mvhd");
    /// Track (§8.3.1).
    pub const TRAK: BoxType = BoxType(*b"trak");
    /// Track header: `track_ID` (§8.3.2).
    pub const TKHD: BoxType = BoxType(*b"tkhd");
    /// Media (§8.4.1).
    pub const MDIA: BoxType = BoxType(*b"mdia");
    /// Media header: `timescale` (§8.4.2).
    pub const MDHD: BoxType = BoxType(*b"mdhd");
    /// Handler reference: `handler_type`, `vide` or `soun` (§8.4.3).
    pub const HDLR: BoxType = BoxType(*b"hdlr");
    /// Media information (§8.4.4).
    pub const MINF: BoxType = BoxType(*b"minf");
    /// Sample table (§8.5.1).
    pub const STBL: BoxType = BoxType(*b"stbl");
    /// Sample descriptions: one sample entry per coding (§8.5.2).
    pub const STSD: BoxType = BoxType(*b"stsd");
    /// AVC sample entry, parameter sets in `avcC` only (ISO/IEC 14496-15 §5.4.2).
    pub const AVC1: BoxType = BoxType(*b"avc1");
    /// AVC sample entry, parameter sets may also be in band (ISO/IEC 14496-15 §5.4.2).
    pub const AVC3: BoxType = BoxType(*b"avc3");
    /// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1).
    pub const AVCC: BoxType = BoxType(*b"avcC");
    /// MPEG-4 audio sample entry (ISO/IEC 14496-14).
    pub const MP4A: BoxType = BoxType(*b"mp4a");
    /// Elementary stream descriptor, the AudioSpecificConfig inside (ISO/IEC 14496-14).
    pub const ESDS: BoxType = BoxType(*b"esds");
    /// Movie extends: the file is fragmented (§8.8.1).
    pub const MVEX: BoxType = BoxType(*b"mvex");
    /// Movie fragment (§8.8.4).
    pub const MOOF: BoxType = BoxType(*b"moof");
    /// Movie fragment header: `sequence_number` (§8.8.5).
    pub const MFHD: BoxType = BoxType(*b"mfhd");
    /// Track fragment (§8.8.6).
    pub const TRAF: BoxType = BoxType(*b"traf");
    /// Track fragment header: `track_ID`, where data starts, sample defaults (§8.8.7).
    pub const TFHD: BoxType = BoxType(*b"tfhd");
    /// Track fragment run: `data_offset` and the samples (§8.8.8).
    pub const TRUN: BoxType = BoxType(*b"trun");
    /// Track fragment decode time: `baseMediaDecodeTime` (§8.8.12).
    pub const TFDT: BoxType = BoxType(*b"tfdt");
    /// Segment index (§8.16.3).
    pub const SIDX: BoxType = BoxType(*b"sidx");
    /// Subsegment index (§8.16.4).
    pub const SSIX: BoxType = BoxType(*b"ssix");
}

impl fmt::Display for BoxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BoxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxType({self})")
    }
}

/// A box header (§4.2) as it starts a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: BoxType,
    /// 8, or 16 with a 64-bit `largesize`.
    pub header_len: usize,
    /// The whole box's size, header included; `None` for size 0: "to the end of the file".
    pub size: Option<u64>,
}

impl BoxHeader {
    /// The header at the start of `bytes`; `Ok(None)` when `bytes` is too short to hold it
    /// (a stream reader waits for more).
    pub fn parse(bytes: &[u8]) -> Result<Option<BoxHeader>, Error> {
        let Some(head) = bytes.get(..8) else {
            return Ok(None);
        };
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = BoxType([head[4], head[5], head[6], head[7]]);
        let (size, header_len) = match size32 {
            0 => (None, 8),
            1 => match bytes.get(8..16) {
                Some(large) => (Some(u64::from_be_bytes(large.try_into().expect("8 bytes"))), 16),
                None => return Ok(None),
            },
            n => (Some(u64::from(n)), 8),
        };
        if size.is_some_and(|s| s < header_len as u64) {
            return Err(Error::BadSize { kind });
        }
        Ok(Some(BoxHeader {
            kind,
            header_len,
            size,
        }))
    }

    /// The box's size when `available` bytes follow its start: size 0 takes them all.
    pub fn size_in(&self, available: u64) -> Result<u64, Error> {
        let size = self.size.unwrap_or(available);
        if size > available {
            return Err(Error::Truncated { kind: self.kind });
        }
        Ok(size)
    }
}

/// Where a box lies in the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxRef {
    pub kind: BoxType,
    /// Offset of the box's first byte (its size field).
    pub start: usize,
    /// Offset of its payload, after the header.
    pub body: usize,
    /// Offset one past its last byte.
    pub end: usize,
}

impl BoxRef {
    /// The payload, from the buffer the box was read from.
    pub fn payload<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.body..self.end).unwrap_or_default()
    }

    /// The boxes inside the payload, after `skip` bytes of the payload's own fields (a full
    /// box's version and flags, a sample entry's fixed fields).
    pub fn children<'a>(&self, data: &'a [u8], skip: usize) -> Boxes<'a> {
        Boxes::new(data, self.body.saturating_add(skip), self.end)
    }

    /// The first child of `kind` (see [`BoxRef::children`]), `None` when there is none.
    pub fn child(&self, data: &[u8], skip: usize, kind: BoxType) -> Result<Option<BoxRef>, Error> {
        for b in self.children(data, skip) {
            let b = b?;
            if b.kind == kind {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// The first child of `kind`, which the layout requires.
    pub fn required(&self, data: &[u8], kind: BoxType) -> Result<BoxRef, Error> {
        self.child(data, 0, kind)?.ok_or(Error::Missing {
            kind,
            parent: self.kind,
        })
    }

    /// The box at `kinds` below this one, one level per kind; `None` when one is missing.
    pub fn path(&self, data: &[u8], kinds: &[BoxType]) -> Result<Option<BoxRef>, Error> {
        let mut at = *self;
        for &kind in kinds {
            match at.child(data, 0, kind)? {
                Some(found) => at = found,
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    /// A full box's version and flags (§4.2.2).
    pub fn version_flags(&self, data: &[u8]) -> Result<(u8, u32), Error> {
        let v = self.u32_at(data, 0)?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// The payload's `u32` at `offset`: an error, not a panic, when the box is too short.
    pub fn u32_at(&self, data: &[u8], offset: usize) -> Result<u32, Error> {
        self.field::<4>(data, offset).map(u32::from_be_bytes)
    }

    /// The payload's `u64` at `offset`.
    pub fn u64_at(&self, data: &[u8], offset: usize) -> Result<u64, Error> {
        self.field::<8>(data, offset).map(u64::from_be_bytes)
    }

    /// Absolute offset of the payload's `N`-byte field at `offset`, checked against the box.
    pub fn field_at<const N: usize>(&self, offset: usize) -> Result<usize, Error> {
        let at = self
            .body
            .checked_add(offset)
            .filter(|at| at.checked_add(N).is_some_and(|field_end| field_end <= self.end));
        at.ok_or(Error::ShortBox { kind: self.kind })
    }

    fn field<const N: usize>(&self, data: &[u8], offset: usize) -> Result<[u8; N], Error> {
        let at = self.field_at::<N>(offset)?;
        data.get(at..at + N)
            .map(|b| b.try_into().expect("N bytes"))
            .ok_or(Error::ShortBox { kind: self.kind })
    }
}

/// The boxes of `data[start..end]`, in order; stops after the first error.
pub struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Boxes<'a> {
    /// The boxes of `data[start..end]` (clamped to `data`).
    pub fn new(data: &'a [u8], start: usize, end: usize) -> Boxes<'a> {
        let end = end.min(data.len());
        Boxes {
            data,
            pos: start.min(end),
            end,
        }
    }
}

/// The top-level boxes of `data`.
pub fn boxes(data: &[u8]) -> Boxes<'_> {
    Boxes::new(data, 0, data.len())
}

/// The first top-level box of `kind` in `data`.
pub fn find(data: &[u8], kind: BoxType) -> Result<Option<BoxRef>, Error> {
    for b in boxes(data) {
        let b = b?;
        if b.kind == kind {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

impl Iterator for Boxes<'_> {
    type Item = Result<BoxRef, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let result = (|| {
            let rest = &self.data[self.pos..self.end];
            let header = BoxHeader::parse(rest)?.ok_or(Error::TrailingBytes { bytes: rest.len() })?;
            let size = header.size_in(rest.len() as u64)?;
            // size ≤ rest.len(), so it fits a usize and pos + size ≤ end.
            let size = size as usize;
            Ok(BoxRef {
                kind: header.kind,
                start: self.pos,
                body: self.pos + header.header_len,
                end: self.pos + size,
            })
        })();
        match &result {
            Ok(b) => self.pos = b.end,
            Err(_) => self.pos = self.end,
        }
        Some(result)
    }
}

/// A box of `kind` around `payload`, with a 32-bit size (tests and benches build boxes
/// with it).
pub fn boxed(kind: BoxType, payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(payload.len() + 8).expect("a box under 4 GiB");
    let mut v = Vec::with_capacity(payload.len() + 8);
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&kind.0);
    v.extend_from_slice(payload);
    v
}

/// A full box (§4.2.2): `version`, `flags` (24 bits), then `payload`.
pub fn full_box(kind: BoxType, version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let head = (u32::from(version) << 24 | (flags & 0x00ff_ffff)).to_be_bytes();
    boxed(kind, &[&head[..], payload].concat())
}

//! Reading ISO BMFF (MP4) boxes in place: just enough for the channel's segment rewrites
//! ([`super::retime`], [`super::inband`]), which must not copy or re-mux segments.

/// Why a segment could not be rewritten.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Mp4Error {
    #[error("malformed MP4 box structure")]
    Malformed,
    #[error("a track has no timescale in the init segment")]
    UnknownTrack,
    #[error("the shifted time does not fit a 32-bit tfdt")]
    Overflow,
    #[error("an MP4 layout reel does not rewrite: {0}")]
    Unsupported(&'static str),
}

/// Iterates the boxes in `data[start..end]`: (type, payload start, box end).
pub fn boxes(
    data: &[u8],
    start: usize,
    end: usize,
) -> impl Iterator<Item = Result<([u8; 4], usize, usize), Mp4Error>> + '_ {
    boxes_from(data, start, end).map(|b| b.map(|(kind, _, body, end)| (kind, body, end)))
}

/// Like [`boxes`], with where each box begins: (type, box start, payload start, box end).
pub fn boxes_from(
    data: &[u8],
    start: usize,
    end: usize,
) -> impl Iterator<Item = Result<([u8; 4], usize, usize, usize), Mp4Error>> + '_ {
    let mut pos = start;
    std::iter::from_fn(move || {
        if pos + 8 > end {
            return None;
        }
        let size32 = u32::from_be_bytes(data[pos..pos + 4].try_into().ok()?) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().ok()?;
        let (size, header) = match size32 {
            1 if pos + 16 <= end => (
                u64::from_be_bytes(data[pos + 8..pos + 16].try_into().ok()?) as usize,
                16,
            ),
            0 => (end - pos, 8),
            s => (s, 8),
        };
        if size < header || pos + size > end {
            pos = end;
            return Some(Err(Mp4Error::Malformed));
        }
        let item = (kind, pos, pos + header, pos + size);
        pos += size;
        Some(Ok(item))
    })
}

pub fn find(
    data: &[u8],
    start: usize,
    end: usize,
    kind: &[u8; 4],
) -> Result<Option<(usize, usize)>, Mp4Error> {
    for b in boxes(data, start, end) {
        let (k, s, e) = b?;
        if &k == kind {
            return Ok(Some((s, e)));
        }
    }
    Ok(None)
}

pub fn be32(data: &[u8], at: usize) -> Result<u32, Mp4Error> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        .ok_or(Mp4Error::Malformed)
}

/// The box at `kinds` below `data[start..end]`, one level per kind: (payload start, end).
pub fn path(
    data: &[u8],
    start: usize,
    end: usize,
    kinds: &[&[u8; 4]],
) -> Result<Option<(usize, usize)>, Mp4Error> {
    let mut at = (start, end);
    for kind in kinds {
        match find(data, at.0, at.1, kind)? {
            Some(found) => at = found,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}

/// The tracks of an init segment: (track_ID from `tkhd`, `trak` payload start, end).
pub fn tracks(init: &[u8]) -> Result<Vec<(u32, usize, usize)>, Mp4Error> {
    let (ms, me) = find(init, 0, init.len(), b"moov")?.ok_or(Mp4Error::Malformed)?;
    let mut out = Vec::new();
    for b in boxes(init, ms, me) {
        let (kind, ts, te) = b?;
        if &kind != b"trak" {
            continue;
        }
        let (hs, _) = find(init, ts, te, b"tkhd")?.ok_or(Mp4Error::Malformed)?;
        let id = be32(init, hs + if init[hs] == 1 { 20 } else { 12 })?;
        out.push((id, ts, te));
    }
    Ok(out)
}

/// A box of `kind` around `payload` (tests build segments with it).
#[cfg(test)]
pub fn make_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(payload);
    v
}

//! H.264 parameter sets carried in band in the segments a channel serves.
//!
//! A channel's live playlist switches `EXT-X-MAP` at each item boundary, and items differ
//! in picture size, profile and level (each is mapped to its nearest rung). libavformat's
//! HLS demuxer (mpv, ffplay) reads only the first init segment ("Found duplicated MOOV
//! Atom. Skipped it"), so its decoder would decode the next item with the first item's
//! SPS and PPS: corrupt pictures. Serving every segment with its item's SPS and PPS in
//! front of its first sample (always an IDR in reel's ladders) lets a decoder reconfigure
//! from the stream itself, the way `avc3` streams carry them; decoders that did read the
//! new init see the same parameter sets twice, which changes nothing.
//!
//! Boxes (ISO 14496-12 and 14496-15): read `moov/trak/tkhd` (track_ID) and
//! `.../stbl/stsd/avc1/avcC` (NAL length size, SPS, PPS) from the init segment; in the
//! media segment, insert the NAL units at the first video sample and fix what points past
//! them: that sample's size in `trun`, every `trun` data_offset beyond it, and the size of
//! the `mdat` holding it.

use super::mp4box::{be32, boxes, boxes_from, find, path, tracks, Mp4Error};

/// The parameter sets of an init segment's H.264 track, ready to prepend to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSets {
    pub track_id: u32,
    /// Bytes of each NAL unit's length prefix (from `avcC`).
    pub length_size: usize,
    /// SPS and PPS NAL units, each behind its length prefix.
    pub prefix: Vec<u8>,
}

/// Bytes of a visual sample entry before its child boxes (ISO 14496-12 §12.1.3).
const VISUAL_SAMPLE_ENTRY: usize = 78;

/// The SPS and PPS of the H.264 track of `init`; `None` when it has none.
pub fn parameter_sets(init: &[u8]) -> Result<Option<ParameterSets>, Mp4Error> {
    for (track_id, ts, te) in tracks(init)? {
        let Some(stsd) = path(init, ts, te, &[b"mdia", b"minf", b"stbl", b"stsd"])? else {
            continue;
        };
        // stsd: version/flags, entry_count, then the sample entries.
        for e in boxes(init, stsd.0 + 8, stsd.1) {
            let (kind, es, ee) = e?;
            if !matches!(&kind, b"avc1" | b"avc3") {
                continue;
            }
            let (cs, ce) = find(init, es + VISUAL_SAMPLE_ENTRY, ee, b"avcC")?.ok_or(Mp4Error::Malformed)?;
            return parse_avcc(&init[cs..ce]).map(|(length_size, prefix)| {
                Some(ParameterSets {
                    track_id,
                    length_size,
                    prefix,
                })
            });
        }
    }
    Ok(None)
}

/// AVCDecoderConfigurationRecord (ISO 14496-15 §5.3.3.1) → NAL length size and the SPS
/// and PPS, each behind a length prefix of that size.
fn parse_avcc(c: &[u8]) -> Result<(usize, Vec<u8>), Mp4Error> {
    let byte = |i: usize| c.get(i).copied().ok_or(Mp4Error::Malformed);
    let length_size = usize::from(byte(4)? & 0x3) + 1;
    if length_size == 3 {
        return Err(Mp4Error::Malformed);
    }
    let mut prefix = Vec::new();
    let mut pos = 5;
    for mask in [0x1f, 0xff] {
        let count = byte(pos)? & mask;
        pos += 1;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([byte(pos)?, byte(pos + 1)?]));
            let nal = c.get(pos + 2..pos + 2 + len).ok_or(Mp4Error::Malformed)?;
            if length_size < 4 && len >> (8 * length_size) != 0 {
                return Err(Mp4Error::Unsupported(
                    "a parameter set longer than its length prefix allows",
                ));
            }
            prefix.extend_from_slice(&(len as u32).to_be_bytes()[4 - length_size..]);
            prefix.extend_from_slice(nal);
            pos += 2 + len;
        }
    }
    Ok((length_size, prefix))
}

/// A `trun` of the first `moof`: where it is and what it says.
struct Trun {
    /// Payload start (version/flags).
    at: usize,
    flags: u32,
    data_offset: i64,
    video: bool,
}

/// `segment` with `sets` in front of its first video sample. Unchanged when that sample
/// already starts with an SPS.
pub fn prepend(segment: &[u8], sets: &ParameterSets) -> Result<Vec<u8>, Mp4Error> {
    let len = segment.len();
    let mut moof = None;
    for b in boxes_from(segment, 0, len) {
        let (kind, start, body, end) = b?;
        match &kind {
            b"sidx" | b"ssix" => return Err(Mp4Error::Unsupported("a segment index")),
            b"moof" => {
                moof = Some((start, body, end));
                break;
            }
            _ => {}
        }
    }
    let (moof_at, body, moof_end) = moof.ok_or(Mp4Error::Unsupported("no moof"))?;

    let mut truns = Vec::new();
    for t in boxes(segment, body, moof_end) {
        let (kind, ts, te) = t?;
        if &kind != b"traf" {
            continue;
        }
        let (hs, _) = find(segment, ts, te, b"tfhd")?.ok_or(Mp4Error::Malformed)?;
        if be32(segment, hs)? & 0x1 != 0 {
            return Err(Mp4Error::Unsupported("an explicit base data offset"));
        }
        let video = be32(segment, hs + 4)? == sets.track_id;
        for r in boxes(segment, ts, te) {
            let (kind, rs, _) = r?;
            if &kind != b"trun" {
                continue;
            }
            let flags = be32(segment, rs)? & 0x00ff_ffff;
            if flags & 0x1 == 0 {
                return Err(Mp4Error::Unsupported("a trun without data_offset"));
            }
            let data_offset = i64::from(be32(segment, rs + 8)? as i32);
            truns.push(Trun {
                at: rs,
                flags,
                data_offset,
                video,
            });
        }
    }
    let first = truns
        .iter()
        .find(|t| t.video)
        .ok_or(Mp4Error::Unsupported("no video track fragment"))?;
    if first.flags & 0x200 == 0 || be32(segment, first.at + 4)? == 0 {
        return Err(Mp4Error::Unsupported("no per-sample sizes"));
    }
    let insert_at = usize::try_from(moof_at as i64 + first.data_offset).map_err(|_| Mp4Error::Malformed)?;
    // Already in band? The first NAL unit's type, after its length prefix.
    let nal_type = segment
        .get(insert_at + sets.length_size)
        .ok_or(Mp4Error::Malformed)?
        & 0x1f;
    if nal_type == 7 {
        return Ok(segment.to_vec());
    }
    // The first sample's size: after sample_count, data_offset, first_sample_flags and
    // (when present) the first sample's duration.
    let mut size_at = first.at + 12;
    if first.flags & 0x4 != 0 {
        size_at += 4;
    }
    if first.flags & 0x100 != 0 {
        size_at += 4;
    }
    let (mdat_at, mdat_large) = boxes_from(segment, moof_end, len)
        .filter_map(Result::ok)
        .find(|(kind, _, body, end)| kind == b"mdat" && *body <= insert_at && insert_at < *end)
        .map(|(_, start, body, _)| (start, body - start == 16))
        .ok_or(Mp4Error::Malformed)?;

    let added = sets.prefix.len();
    let mut out = Vec::with_capacity(len + added);
    out.extend_from_slice(&segment[..insert_at]);
    out.extend_from_slice(&sets.prefix);
    out.extend_from_slice(&segment[insert_at..]);
    // Every field patched below lies before `insert_at`, so its offset is unchanged.
    let add32 = |out: &mut Vec<u8>, at: usize, n: usize| -> Result<(), Mp4Error> {
        let v = u32::from_be_bytes(out[at..at + 4].try_into().unwrap());
        let v = u32::try_from(v as usize + n).map_err(|_| Mp4Error::Overflow)?;
        out[at..at + 4].copy_from_slice(&v.to_be_bytes());
        Ok(())
    };
    add32(&mut out, size_at, added)?;
    for t in &truns {
        if moof_at as i64 + t.data_offset > insert_at as i64 {
            add32(&mut out, t.at + 8, added)?;
        }
    }
    if mdat_large {
        let v = u64::from_be_bytes(out[mdat_at + 8..mdat_at + 16].try_into().unwrap()) + added as u64;
        out[mdat_at + 8..mdat_at + 16].copy_from_slice(&v.to_be_bytes());
    } else {
        add32(&mut out, mdat_at, added)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::mp4box::make_box as bx;

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x0d, 0xac];
    const PPS: &[u8] = &[0x68, 0xee, 0x3c];

    fn init() -> Vec<u8> {
        let mut tkhd = vec![0u8; 84];
        tkhd[12..16].copy_from_slice(&1u32.to_be_bytes());
        let mut avcc = vec![1, 0x64, 0, 0x0d, 0xff, 0xe1];
        avcc.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
        avcc.extend_from_slice(SPS);
        avcc.push(1);
        avcc.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
        avcc.extend_from_slice(PPS);
        let entry = bx(
            b"avc1",
            &[vec![0u8; VISUAL_SAMPLE_ENTRY], bx(b"avcC", &avcc)].concat(),
        );
        let stsd = bx(b"stsd", &[vec![0, 0, 0, 0, 0, 0, 0, 1], entry].concat());
        let trak = bx(
            b"trak",
            &[bx(b"tkhd", &tkhd), bx(b"mdia", &bx(b"minf", &bx(b"stbl", &stsd)))].concat(),
        );
        bx(b"moov", &trak)
    }

    /// moof (video track 1: two samples of 6 and 4 bytes; audio track 2: one of 3) + mdat.
    fn segment() -> (Vec<u8>, usize) {
        let traf = |id: u32, sizes: &[u32], offset: u32| {
            let mut h = vec![0, 2, 0, 0];
            h.extend_from_slice(&id.to_be_bytes());
            let mut r = vec![0, 0, 0x02, 0x05]; // data_offset, first_sample_flags, sizes
            r.extend_from_slice(&(sizes.len() as u32).to_be_bytes());
            r.extend_from_slice(&offset.to_be_bytes());
            r.extend_from_slice(&0u32.to_be_bytes());
            for s in sizes {
                r.extend_from_slice(&s.to_be_bytes());
            }
            bx(b"traf", &[bx(b"tfhd", &h), bx(b"trun", &r)].concat())
        };
        // Sizes are fixed, so the offsets can be computed from a first build.
        let moof_len = bx(b"moof", &[traf(1, &[6, 4], 0), traf(2, &[3], 0)].concat()).len() as u32;
        let video = moof_len + 8;
        let moof = bx(
            b"moof",
            &[traf(1, &[6, 4], video), traf(2, &[3], video + 10)].concat(),
        );
        // Video sample 1: one 2-byte IDR NAL (type 5) behind a 4-byte length.
        let mdat = bx(b"mdat", &[0, 0, 0, 2, 0x65, 0x88, 1, 2, 3, 4, 0xa, 0xb, 0xc]);
        ([moof, mdat].concat(), video as usize)
    }

    #[test]
    fn reads_the_parameter_sets_of_the_avc_track() {
        let sets = parameter_sets(&init()).unwrap().unwrap();
        assert_eq!(sets.track_id, 1);
        assert_eq!(sets.length_size, 4);
        assert_eq!(sets.prefix, [&[0, 0, 0, 5][..], SPS, &[0, 0, 0, 3], PPS].concat());
    }

    #[test]
    fn prepends_them_and_moves_what_follows() {
        let sets = parameter_sets(&init()).unwrap().unwrap();
        let (seg, video_at) = segment();
        let out = prepend(&seg, &sets).unwrap();
        let n = sets.prefix.len();
        assert_eq!(out.len(), seg.len() + n);
        assert_eq!(&out[video_at..video_at + n], &sets.prefix[..]);
        assert_eq!(
            &out[video_at + n..],
            &seg[video_at..],
            "the samples follow, untouched"
        );
        let truns: Vec<usize> = (0..out.len() - 4)
            .filter(|&i| &out[i..i + 4] == b"trun")
            .collect();
        let field = |i: usize| u32::from_be_bytes(out[i..i + 4].try_into().unwrap()) as usize;
        // Video: offset unchanged, first sample grown, second unchanged.
        assert_eq!(field(truns[0] + 12), video_at);
        assert_eq!((field(truns[0] + 20), field(truns[0] + 24)), (6 + n, 4));
        // Audio: its data moved by n, and still points at its sample.
        let audio = field(truns[1] + 12);
        assert_eq!(audio, video_at + 10 + n);
        assert_eq!(&out[audio..audio + 3], &[0xa, 0xb, 0xc]);
        let mdat = out.len() - (13 + n + 8);
        assert_eq!(&out[mdat + 4..mdat + 8], b"mdat");
        assert_eq!(field(mdat), 13 + n + 8);
        // Done once: a second pass finds the SPS in place.
        assert_eq!(prepend(&out, &sets).unwrap(), out);
    }
}

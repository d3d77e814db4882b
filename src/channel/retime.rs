//! Moves an fMP4 media segment along the timeline by rewriting its `tfdt` boxes.
//!
//! A channel plays items one after another; each item's segments start their own
//! timeline near zero. Players that ignore `EXT-X-DISCONTINUITY` (mpv, through
//! libavformat's HLS demuxer) stall when timestamps jump back, so a channel serves every
//! segment shifted by the instant its item started on the channel's timeline.
//!
//! Boxes touched (ISO 14496-12): in the init segment, `moov/trak/tkhd` (track_ID,
//! §8.3.2) and `moov/trak/mdia/mdhd` (timescale, §8.4.2) are read; in a media segment,
//! `moof/traf/tfhd` (track_ID, §8.8.7) is read and `moof/traf/tfdt`
//! (baseMediaDecodeTime, §8.8.12) is rewritten in place. reel's muxer writes `tfdt`
//! version 1 (64-bit); a version 0 box is widened only if the new time still fits.

use std::collections::HashMap;

use super::mp4box::{be32, boxes, find, tracks, Mp4Error};

/// Track id → timescale, from an init segment.
pub fn track_timescales(init: &[u8]) -> Result<HashMap<u32, u32>, Mp4Error> {
    let mut out = HashMap::new();
    for (id, ts, te) in tracks(init)? {
        let (ds, de) = find(init, ts, te, b"mdia")?.ok_or(Mp4Error::Malformed)?;
        let (mh, _) = find(init, ds, de, b"mdhd")?.ok_or(Mp4Error::Malformed)?;
        let scale = be32(init, mh + if init[mh] == 1 { 20 } else { 12 })?;
        out.insert(id, scale);
    }
    Ok(out)
}

/// Adds `offset_ms` milliseconds to every track fragment's decode time in `segment`.
pub fn shift(segment: &mut [u8], timescales: &HashMap<u32, u32>, offset_ms: u64) -> Result<(), Mp4Error> {
    let len = segment.len();
    let mut tfdts = Vec::new();
    for b in boxes(segment, 0, len) {
        let (kind, ms, me) = b?;
        if &kind != b"moof" {
            continue;
        }
        for t in boxes(segment, ms, me) {
            let (kind, ts, te) = t?;
            if &kind != b"traf" {
                continue;
            }
            let (hs, _) = find(segment, ts, te, b"tfhd")?.ok_or(Mp4Error::Malformed)?;
            let id = be32(segment, hs + 4)?;
            let scale = *timescales.get(&id).ok_or(Mp4Error::UnknownTrack)?;
            if let Some((ds, _)) = find(segment, ts, te, b"tfdt")? {
                tfdts.push((ds, scale));
            }
        }
    }
    for (at, scale) in tfdts {
        let delta = offset_ms * u64::from(scale) / 1000;
        if segment[at] == 1 {
            let field = segment.get_mut(at + 4..at + 12).ok_or(Mp4Error::Malformed)?;
            let t = u64::from_be_bytes(field.try_into().unwrap()) + delta;
            field.copy_from_slice(&t.to_be_bytes());
        } else {
            let field = segment.get_mut(at + 4..at + 8).ok_or(Mp4Error::Malformed)?;
            let t = u64::from(u32::from_be_bytes(field.try_into().unwrap())) + delta;
            let t = u32::try_from(t).map_err(|_| Mp4Error::Overflow)?;
            field.copy_from_slice(&t.to_be_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::mp4box::make_box as bx;

    #[test]
    fn shifts_each_track_in_its_own_timescale() {
        let tkhd = |id: u32| {
            let mut p = vec![0u8; 84];
            p[12..16].copy_from_slice(&id.to_be_bytes());
            bx(b"tkhd", &p)
        };
        let mdhd = |scale: u32| {
            let mut p = vec![0u8; 24];
            p[12..16].copy_from_slice(&scale.to_be_bytes());
            bx(b"mdia", &bx(b"mdhd", &p))
        };
        let init = bx(
            b"moov",
            &[
                bx(b"trak", &[tkhd(1), mdhd(90_000)].concat()),
                bx(b"trak", &[tkhd(2), mdhd(48_000)].concat()),
            ]
            .concat(),
        );
        let scales = track_timescales(&init).unwrap();
        assert_eq!(scales, HashMap::from([(1, 90_000), (2, 48_000)]));

        let traf = |id: u32, t: u64| {
            let mut h = vec![0u8; 8];
            h[4..8].copy_from_slice(&id.to_be_bytes());
            let mut d = vec![1u8, 0, 0, 0];
            d.extend_from_slice(&t.to_be_bytes());
            bx(b"traf", &[bx(b"tfhd", &h), bx(b"tfdt", &d)].concat())
        };
        let mut seg = [
            bx(b"moof", &[traf(1, 360_000), traf(2, 192_000)].concat()),
            bx(b"mdat", b"xx"),
        ]
        .concat();
        shift(&mut seg, &scales, 10_500).unwrap();
        let times: Vec<u64> = (0..seg.len() - 4)
            .filter(|&i| &seg[i..i + 4] == b"tfdt")
            .map(|i| u64::from_be_bytes(seg[i + 8..i + 16].try_into().unwrap()))
            .collect();
        assert_eq!(times, vec![360_000 + 945_000, 192_000 + 504_000]);
        assert_eq!(
            shift(&mut [0, 0, 0, 99, b'm', b'o', b'o', b'f'], &scales, 1),
            Err(Mp4Error::Malformed)
        );
    }
}

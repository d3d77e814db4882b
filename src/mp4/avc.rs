//! H.264 as MP4 carries it (ISO/IEC 14496-15): the AVCDecoderConfigurationRecord of an
//! `avcC` (§5.3.3.1), samples made of NAL units each behind a big-endian length (§5.3),
//! and the same NAL units as an Annex B byte stream (ISO/IEC 14496-10 Annex B), which
//! MPEG-TS and x264's global header use.
//!
//! [`ParameterSets`] puts an item's SPS and PPS in band, in front of the first sample of
//! its segments (see [`ParameterSets::put_in_band`] for why a channel does).

use super::fragment::{first_sample, insert_before_first_sample};
use super::{init, Error};

/// `nal_unit_type`s reel looks for (ISO/IEC 14496-10 §7.4.1, Table 7-1).
pub mod nal_type {
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
}

/// The `nal_unit_type` of a NAL unit, from its first byte (§7.3.1).
pub fn nal_unit_type(header: u8) -> u8 {
    header & 0x1f
}

/// Annex B start code, as libavformat's muxers write it before an access unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), borrowing its NAL units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig<'a> {
    /// `AVCProfileIndication`, `profile_compatibility` (the SPS's constraint flags byte)
    /// and `AVCLevelIndication`: the bytes of an RFC 6381 `avc1.PPCCLL`.
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// Bytes of each sample NAL unit's length prefix: 1, 2 or 4.
    pub length_size: usize,
    pub sps: Vec<&'a [u8]>,
    pub pps: Vec<&'a [u8]>,
}

impl<'a> DecoderConfig<'a> {
    /// Reads the record (an `avcC` payload).
    pub fn parse(record: &'a [u8]) -> Result<DecoderConfig<'a>, Error> {
        let byte = |i: usize| record.get(i).copied().ok_or(Error::AvcConfig("it ends early"));
        if byte(0)? != 1 {
            return Err(Error::AvcConfig("configurationVersion is not 1"));
        }
        let length_size = usize::from(byte(4)? & 0x3) + 1;
        if length_size == 3 {
            return Err(Error::AvcConfig("a 3-byte NAL length"));
        }
        let mut pos = 5;
        let mut sets = [Vec::new(), Vec::new()];
        // numOfSequenceParameterSets is 5 bits (3 reserved bits set), numOfPictureParameterSets 8.
        for (list, mask) in sets.iter_mut().zip([0x1f, 0xff]) {
            let count = byte(pos)? & mask;
            pos += 1;
            for _ in 0..count {
                let len = usize::from(u16::from_be_bytes([byte(pos)?, byte(pos + 1)?]));
                let nal = record
                    .get(pos + 2..pos + 2 + len)
                    .ok_or(Error::AvcConfig("a parameter set runs past it"))?;
                list.push(nal);
                pos += 2 + len;
            }
        }
        let [sps, pps] = sets;
        Ok(DecoderConfig {
            profile_idc: byte(1)?,
            constraint_flags: byte(2)?,
            level_idc: byte(3)?,
            length_size,
            sps,
            pps,
        })
    }

    /// The SPS then the PPS, each behind a length prefix of `length_size` bytes: the form
    /// they take inside a sample.
    pub fn length_prefixed_parameter_sets(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for nal in self.sps.iter().chain(&self.pps) {
            let len = nal.len();
            if self.length_size < 4 && len >> (8 * self.length_size) != 0 {
                return Err(Error::Unsupported(
                    "a parameter set longer than its length prefix allows",
                ));
            }
            out.extend_from_slice(&(len as u32).to_be_bytes()[4 - self.length_size..]);
            out.extend_from_slice(nal);
        }
        Ok(out)
    }
}

/// The parameter sets of an init segment's H.264 track, ready to go in front of a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    pub track_id: u32,
    /// Bytes of each NAL unit's length prefix (from `avcC`).
    pub length_size: usize,
    /// SPS and PPS NAL units, each behind its length prefix.
    pub prefix: Vec<u8>,
}

impl ParameterSets {
    /// The SPS and PPS of the first H.264 (`avc1`/`avc3`) track of `init`; `None` when it
    /// has none.
    pub fn from_init(init: &[u8]) -> Result<Option<ParameterSets>, Error> {
        for track in init::tracks(init)? {
            if let Some(record) = track.avc_config(init)? {
                let config = DecoderConfig::parse(record)?;
                return Ok(Some(ParameterSets {
                    track_id: track.id,
                    length_size: config.length_size,
                    prefix: config.length_prefixed_parameter_sets()?,
                }));
            }
        }
        Ok(None)
    }

    /// `segment` with these parameter sets in front of its first video sample (always an
    /// IDR in reel's ladders); unchanged when that sample starts with an SPS already.
    ///
    /// Why a channel serves them in band: its live playlist switches `EXT-X-MAP` at each
    /// item, and items differ in picture size, profile and level. libavformat's HLS
    /// demuxer (mpv, ffplay) reads only the first init segment ("Found duplicated MOOV
    /// Atom. Skipped it") and would decode the next item with the first item's SPS and
    /// PPS: corrupt pictures. With them in band a decoder reconfigures from the stream
    /// itself, the way `avc3` streams carry them; decoders that did read the new init see
    /// the same parameter sets twice, which changes nothing.
    pub fn put_in_band(&self, segment: &[u8]) -> Result<Vec<u8>, Error> {
        let (_, sample) = first_sample(segment, self.track_id)?;
        let first_nal = sample
            .get(self.length_size)
            .ok_or(Error::NalUnit("a sample shorter than its first length prefix"))?;
        if nal_unit_type(*first_nal) == nal_type::SPS {
            return Ok(segment.to_vec());
        }
        insert_before_first_sample(segment, self.track_id, &self.prefix)
    }
}

/// Appends `sample` (NAL units behind `length_size`-byte lengths) to `out` as Annex B
/// (each NAL unit behind a start code).
pub fn append_annex_b(out: &mut Vec<u8>, sample: &[u8], length_size: usize) -> Result<(), Error> {
    if !(1..=4).contains(&length_size) {
        return Err(Error::NalUnit("a NAL length size outside 1..=4"));
    }
    let mut at = 0;
    while at < sample.len() {
        let header = sample
            .get(at..at + length_size)
            .ok_or(Error::NalUnit("a NAL length runs past the sample"))?;
        let len = header.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        let nal = sample
            .get(at + length_size..)
            .and_then(|rest| rest.get(..len))
            .ok_or(Error::NalUnit("a NAL unit runs past the sample"))?;
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
        at += length_size + len;
    }
    Ok(())
}

/// The first NAL unit of `nal_type` in an Annex B byte stream: from its header byte to the
/// end of `data` (the caller reads the fields it needs from the front).
pub fn find_annex_b(data: &[u8], wanted: u8) -> Option<&[u8]> {
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            let header = i + 3;
            if nal_unit_type(data[header]) == wanted {
                return Some(&data[header..]);
            }
            i = header;
        } else {
            i += 1;
        }
    }
    None
}

/// `profile_idc`, the constraint flags byte and `level_idc` (ISO/IEC 14496-10 §7.3.2.1.1)
/// from codec extradata: an AVCDecoderConfigurationRecord (`01 PP CC LL ...`, what MP4
/// stores) or Annex B (`00 00 01 67 PP CC LL ...`, x264's global header).
pub fn profile_and_level(extradata: &[u8]) -> Option<[u8; 3]> {
    if extradata.first() == Some(&1) {
        return extradata.get(1..4).map(|b| [b[0], b[1], b[2]]);
    }
    let sps = find_annex_b(extradata, nal_type::SPS)?;
    sps.get(1..4).map(|b| [b[0], b[1], b[2]])
}

//! MP4 (ISO base media file format) and the codec configurations it carries: the one
//! place in reel that reads or writes boxes, H.264 parameter sets and AAC configs by hand.
//!
//! reel's ladders are written by libavformat's `mp4` muxer
//! (`frag_custom+empty_moov+default_base_moof`); what this module reads of them, and the
//! section of ISO/IEC 14496-12 (boxes) or 14496-15 (AVC in MP4) each box comes from:
//!
//! ```text
//! init.mp4                                                  read by
//! ├─ ftyp                          §4.3
//! └─ moov                          §8.2.1
//!    ├─ mvhd                       §8.2.2
//!    ├─ trak                       §8.3.1  one per track
//!    │  ├─ tkhd  track_ID          §8.3.2                  tracks()
//!    │  └─ mdia                    §8.4.1
//!    │     ├─ mdhd  timescale      §8.4.2                  tracks(), timescales()
//!    │     ├─ hdlr  handler_type   §8.4.3                  tracks()
//!    │     └─ minf                 §8.4.4
//!    │        └─ stbl              §8.5.1
//!    │           └─ stsd           §8.5.2                  Track::sample_entry()
//!    │              ├─ avc1|avc3   14496-15 §5.4.2 (a VisualSampleEntry, §12.1.3)
//!    │              │  └─ avcC     14496-15 §5.3.3.1       Track::avc_config(), avc::DecoderConfig
//!    │              └─ mp4a        14496-14 (an AudioSampleEntry, §12.2.3)
//!    │                 └─ esds     14496-14: its AudioSpecificConfig is 14496-3 §1.6.2.1 (aac)
//!    └─ mvex                       §8.8.1  (the file is fragmented)
//!
//! segNNNNN.m4s                                       read by           written by
//! ├─ (styp §8.16.2, sidx §8.16.3, ssix §8.16.4: reel writes none; an insertion refuses sidx/ssix)
//! ├─ moof                            §8.8.4          fragments()       cut (size)
//! │  ├─ mfhd                         §8.8.5
//! │  └─ traf                         §8.8.6          Fragment::parse   cut (size)
//! │     ├─ tfhd  track_ID, flags     §8.8.7          Fragment::parse
//! │     ├─ tfdt  baseMediaDecodeTime §8.8.12         Fragment::parse   shift (in place)
//! │     └─ trun  data_offset,        §8.8.8          Fragment::parse   insert, cut
//! │              samples
//! └─ mdat                            §8.1.1                            insert (size)
//! ```
//!
//! (shift: [`shift_decode_times`]; insert: [`insert_before_first_sample`]; cut:
//! [`cut_track_after`].)
//!
//! * [`mod@boxes`]: the box layer (§4.2): [`BoxType`] constants, [`BoxHeader`], [`Boxes`]
//!   walking a byte range in place, [`BoxRef`] offsets and bounded field reads;
//! * [`init`]: [`tracks`] of a `moov` (id, timescale, handler, sample entry, `avcC`);
//! * [`fragment`]: [`Fragment`]s of a media segment and the rewrites a channel needs:
//!   [`shift_decode_times`] (a segment moved along the channel timeline, in place: same
//!   size, every other byte kept), [`insert_before_first_sample`] (an item's SPS/PPS in
//!   band, [`avc::ParameterSets::put_in_band`]) and [`cut_track_after`] (an item's audio
//!   cut at the end of its slot);
//! * [`avc`]: AVCDecoderConfigurationRecord, length-prefixed NAL units → Annex B, the
//!   profile and level bytes of an RFC 6381 `avc1` string;
//! * [`aac`]: the AudioSpecificConfig's object type.
//!
//! Every read is bounded by the box it lies in: truncated or hostile input is an
//! [`Error`], never a panic.
//!
//! ## Why not the `mp4-atom` crate
//!
//! `mp4-atom` (0.17) decodes every box above into typed values, and the tests use it as an
//! independent judge: they build box trees with its encoder and decode what reel rewrote
//! with its decoder. It does not fit the rewrites themselves:
//!
//! * its encoder does not give the bytes back: decoding and re-encoding a reel `init.mp4`
//!   moves `mvex` and `udta` before the tracks and `vmhd` after `stbl`, turns `mvhd`,
//!   `tkhd` and `mdhd` into version 1 boxes and re-sizes the `esds` descriptors (1228 →
//!   1276 bytes); a media segment's `moof` keeps its size but every `trun` becomes
//!   version 1. A segment moved along the channel timeline should differ from the ladder's
//!   by its `tfdt` values only;
//! * its values carry no offsets, so patching a `tfdt` or a `trun` in place (8 bytes
//!   written, no copy) would need this walker anyway, and two readers of the same bytes.
//!
//! So the rewrites are ours, on the in-place walker of [`mod@boxes`], and the reads share it.

#![forbid(unsafe_code)]

pub mod aac;
pub mod avc;
pub mod boxes;
pub mod fragment;
pub mod init;

pub use boxes::{boxed, boxes, find, full_box, BoxHeader, BoxRef, BoxType, Boxes};
pub use fragment::{cut_track_after, fragments, insert_before_first_sample, shift_decode_times, Fragment};
pub use init::{timescales, tracks, Handler, Track};

/// Why an MP4 could not be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("a {kind} box runs past the end of what holds it")]
    Truncated { kind: BoxType },
    #[error("{bytes} bytes after the last box are too few for a box header")]
    TrailingBytes { bytes: usize },
    #[error("a {kind} box declares a size smaller than its header")]
    BadSize { kind: BoxType },
    #[error("a {kind} box is too short for its fields")]
    ShortBox { kind: BoxType },
    #[error("no {kind} box in {parent}")]
    Missing { kind: BoxType, parent: BoxType },
    #[error("no {0} box at the top level")]
    NotAtTopLevel(BoxType),
    #[error("track {0} of a fragment is not in the init segment")]
    UnknownTrack(u32),
    #[error("{0} does not fit its field")]
    Overflow(&'static str),
    #[error("an MP4 layout reel does not rewrite: {0}")]
    Unsupported(&'static str),
    #[error("a malformed AVCDecoderConfigurationRecord: {0}")]
    AvcConfig(&'static str),
    #[error("a malformed H.264 sample: {0}")]
    NalUnit(&'static str),
}

#[cfg(test)]
mod tests;

//! RFC 6381 `CODECS` strings from the real bitstream headers.
//!
//! `avc1.PPCCLL` takes profile_idc, the constraint flags byte and level_idc straight from
//! the encoder's SPS (ISO 14496-10 §7.3.2.1.1), so the master playlist advertises exactly
//! what the segments hold. `mp4a.40.N` takes N, the audio object type, from the AAC
//! AudioSpecificConfig (ISO 14496-3 §1.6.2.1). Both are read by [`crate::mp4`]. AC-3 has
//! one fixed string, [`AC3`] (its MP4 sample entry's four-character code).

use crate::mp4::{aac, avc};

/// RFC 6381 / HLS `CODECS` of AC-3 audio (surround renditions).
pub const AC3: &str = "ac-3";

/// `avc1.PPCCLL` from H.264 extradata, Annex B (`00 00 01 67 ...`, what x264 gives with
/// a global header) or avcC (`01 PP CC LL ...`, what MP4 stores).
pub fn avc1(extradata: &[u8]) -> Option<String> {
    let [profile, constraints, level] = avc::profile_and_level(extradata)?;
    Some(format!("avc1.{profile:02x}{constraints:02x}{level:02x}"))
}

/// `mp4a.40.N` from an AudioSpecificConfig; `mp4a.40.2` (AAC-LC) when it is missing.
pub fn mp4a(asc: &[u8]) -> String {
    let object_type = aac::audio_object_type(asc).unwrap_or(2);
    format!("mp4a.40.{object_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc1_from_annex_b_and_avcc() {
        let annexb = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 1, 0x68, 0xeb];
        assert_eq!(avc1(&annexb).as_deref(), Some("avc1.64001f"));
        let avcc = [1, 0x42, 0xc0, 0x1e, 0xff];
        assert_eq!(avc1(&avcc).as_deref(), Some("avc1.42c01e"));
        assert_eq!(avc1(&[0, 0, 1, 0x68]), None);
    }

    #[test]
    fn mp4a_object_type() {
        assert_eq!(mp4a(&[0x11, 0x90]), "mp4a.40.2");
        assert_eq!(mp4a(&[0x29, 0x90]), "mp4a.40.5");
        assert_eq!(mp4a(&[]), "mp4a.40.2");
    }
}

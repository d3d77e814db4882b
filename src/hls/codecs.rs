//! RFC 6381 `CODECS` strings from the real bitstream headers.
//!
//! `avc1.PPCCLL` takes profile_idc, the constraint flags byte and level_idc straight from
//! the encoder's SPS (ISO 14496-10 §7.3.2.1.1), so the master playlist advertises exactly
//! what the segments hold. `mp4a.40.N` takes N, the audio object type, from the AAC
//! AudioSpecificConfig (ISO 14496-3 §1.6.2.1).

/// `avc1.PPCCLL` from H.264 extradata, Annex B (`00 00 01 67 ...`, what x264 gives with
/// a global header) or avcC (`01 PP CC LL ...`, what MP4 stores).
pub fn avc1(extradata: &[u8]) -> Option<String> {
    let sps = if extradata.first() == Some(&1) && extradata.len() >= 4 {
        &extradata[1..4]
    } else {
        let start = find_nal(extradata, 7)?;
        extradata.get(start + 1..start + 4)?
    };
    Some(format!("avc1.{:02x}{:02x}{:02x}", sps[0], sps[1], sps[2]))
}

/// Offset of the first NAL unit of `nal_type` after an Annex B start code.
fn find_nal(data: &[u8], nal_type: u8) -> Option<usize> {
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let header = i + 3;
            if data[header] & 0x1f == nal_type {
                return Some(header);
            }
            i = header;
        } else {
            i += 1;
        }
    }
    None
}

/// `mp4a.40.N` from an AudioSpecificConfig; `mp4a.40.2` (AAC-LC) when it is missing.
pub fn mp4a(asc: &[u8]) -> String {
    let object_type = match asc.first() {
        Some(b) => {
            let aot = b >> 3;
            if aot == 31 && asc.len() >= 2 {
                32 + (((b & 0x07) << 3) | (asc[1] >> 5))
            } else {
                aot
            }
        }
        None => 2,
    };
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

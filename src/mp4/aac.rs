//! AAC as MP4 carries it: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) that an
//! `esds` holds and libavcodec's AAC encoder gives as extradata.

/// `audioObjectType` of an AudioSpecificConfig (2: AAC-LC, 5: SBR...): 5 bits, or 31
/// followed by 6 more bits for types from 32 on. `None` when `asc` is too short.
pub fn audio_object_type(asc: &[u8]) -> Option<u8> {
    let first = *asc.first()?;
    match first >> 3 {
        31 => asc
            .get(1)
            .map(|second| 32 + (((first & 0x07) << 3) | (second >> 5))),
        aot => Some(aot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_bits_or_the_escape() {
        assert_eq!(audio_object_type(&[0x11, 0x90]), Some(2));
        assert_eq!(audio_object_type(&[0x29, 0x90]), Some(5));
        // 31, then 6 bits 000011: type 35.
        assert_eq!(audio_object_type(&[0xf8, 0x60]), Some(35));
        assert_eq!(audio_object_type(&[0xf8]), None);
        assert_eq!(audio_object_type(&[]), None);
    }
}

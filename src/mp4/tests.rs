//! Box trees built here (with [`boxed`] and, as a writer reel did not write, `mp4-atom`),
//! read back, rewritten, and the rewrites judged by `mp4-atom`'s decoder.

use std::collections::HashMap;

use super::avc::{self, DecoderConfig, ParameterSets};
use super::fragment::{tfhd, trun};
use super::*;
use crate::time::Ts90k;

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x0d, 0xac];
const PPS: &[u8] = &[0x68, 0xee, 0x3c];
/// Video sample 1 (one 2-byte IDR NAL unit behind a 4-byte length), sample 2, then the
/// audio sample.
const MDAT: &[u8] = &[0, 0, 0, 2, 0x65, 0x88, 1, 2, 3, 4, 0xa, 0xb, 0xc];

fn encode<T: mp4_atom::Encode>(atom: &T) -> Vec<u8> {
    let mut out = Vec::new();
    atom.encode(&mut out).unwrap();
    out
}

fn decode<T: mp4_atom::Decode>(bytes: &[u8]) -> T {
    T::decode(&mut &bytes[..]).unwrap()
}

/// `ftyp` + `moov` with an H.264 track 1 (90 kHz) and an audio track 2 (48 kHz), written
/// by mp4-atom (version 1 `tkhd` and `mdhd`, as it writes them).
fn init_by_mp4_atom() -> Vec<u8> {
    use mp4_atom::*;
    let trak = |id: u32, timescale: u32, handler: &[u8; 4], codecs: Vec<Codec>| Trak {
        tkhd: Tkhd {
            track_id: id,
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(handler),
                name: "handler".into(),
            },
            minf: Minf {
                stbl: Stbl {
                    stsd: Stsd { codecs },
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let avc1 = Avc1 {
        visual: Visual {
            width: 320,
            height: 180,
            ..Default::default()
        },
        avcc: Avcc {
            configuration_version: 1,
            avc_profile_indication: 0x64,
            profile_compatibility: 0,
            avc_level_indication: 0x0d,
            length_size: 4,
            sequence_parameter_sets: vec![SPS.to_vec()],
            picture_parameter_sets: vec![PPS.to_vec()],
            ext: None,
        },
        ..Default::default()
    };
    let moov = Moov {
        trak: vec![
            trak(1, 90_000, b"vide", vec![avc1.into()]),
            trak(2, 48_000, b"soun", vec![]),
        ],
        ..Default::default()
    };
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso5"),
        minor_version: 512,
        compatible_brands: vec![FourCC::new(b"iso6")],
    };
    [encode(&ftyp), encode(&moov)].concat()
}

/// The same two tracks in version 0 boxes, built by hand (as libavformat writes them).
fn init_v0() -> Vec<u8> {
    let tkhd = |id: u32| {
        let mut p = vec![0u8; 80];
        p[8..12].copy_from_slice(&id.to_be_bytes());
        full_box(BoxType::TKHD, 0, 3, &p)
    };
    let mdia = |scale: u32, handler: &[u8; 4]| {
        let mut mdhd = vec![0u8; 20];
        mdhd[8..12].copy_from_slice(&scale.to_be_bytes());
        let hdlr = [&[0u8; 4][..], handler, &[0u8; 13]].concat();
        boxed(
            BoxType::MDIA,
            &[
                full_box(BoxType::MDHD, 0, 0, &mdhd),
                full_box(BoxType::HDLR, 0, 0, &hdlr),
            ]
            .concat(),
        )
    };
    boxed(
        BoxType::MOOV,
        &[
            boxed(BoxType::TRAK, &[tkhd(1), mdia(90_000, b"vide")].concat()),
            boxed(BoxType::TRAK, &[tkhd(2), mdia(48_000, b"soun")].concat()),
        ]
        .concat(),
    )
}

/// A media segment by mp4-atom: `moof` (video track 1: samples of 6 and 4 bytes; audio
/// track 2: one of 3), then `mdat`. Returns it and where the video data starts.
fn segment_by_mp4_atom(video_time: u64, audio_time: u64) -> (Vec<u8>, usize) {
    use mp4_atom::*;
    let traf = |id: u32, time: u64, sizes: &[u32], offset: i32| Traf {
        tfhd: Tfhd {
            track_id: id,
            default_base_is_moof: true,
            default_sample_duration: Some(3000),
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: time,
        }),
        trun: vec![Trun {
            data_offset: Some(offset),
            samples: TrunSamples::Explicit(
                sizes
                    .iter()
                    .map(|&s| TrunEntry {
                        size: Some(s),
                        ..Default::default()
                    })
                    .collect(),
            ),
        }],
        ..Default::default()
    };
    let moof = |video_at: i32| Moof {
        mfhd: Mfhd { sequence_number: 7 },
        traf: vec![
            traf(1, video_time, &[6, 4], video_at),
            traf(2, audio_time, &[3], video_at + 10),
        ],
    };
    // Sizes do not depend on the offsets: a first build gives the moof's length.
    let video_at = encode(&moof(0)).len() + 8;
    let bytes = [encode(&moof(video_at as i32)), boxed(BoxType::MDAT, MDAT)].concat();
    (bytes, video_at)
}

/// The first moof of `segment`, decoded by mp4-atom.
fn judge_moof(segment: &[u8]) -> mp4_atom::Moof {
    decode(&segment[..find(segment, BoxType::MOOF).unwrap().unwrap().end])
}

#[test]
fn walks_boxes_in_place_with_their_offsets() {
    let large = [&1u32.to_be_bytes()[..], b"free", &20u64.to_be_bytes(), b"abcd"].concat();
    let to_end = [&0u32.to_be_bytes()[..], b"mdat", b"xyz"].concat();
    let data = [boxed(BoxType::FTYP, b"iso5"), large, to_end].concat();
    let found: Vec<BoxRef> = boxes(&data).map(Result::unwrap).collect();
    assert_eq!(
        found,
        [
            BoxRef {
                kind: BoxType::FTYP,
                start: 0,
                body: 8,
                end: 12
            },
            BoxRef {
                kind: BoxType(*b"free"),
                start: 12,
                body: 28,
                end: 32
            },
            BoxRef {
                kind: BoxType::MDAT,
                start: 32,
                body: 40,
                end: 43
            },
        ]
    );
    assert_eq!(found[1].payload(&data), b"abcd");
    assert_eq!(format!("{}", BoxType::AVCC), "avcC");
    assert_eq!(
        format!("{:?}", BoxType([b'a', 0, b'b', 0xff])),
        "BoxType(a\\x00b\\xff)"
    );
}

#[test]
fn reads_the_tracks_of_an_init_segment_written_by_mp4_atom() {
    let init = init_by_mp4_atom();
    let tracks = tracks(&init).unwrap();
    let summary: Vec<(u32, u32, Handler)> = tracks.iter().map(|t| (t.id, t.timescale, t.handler)).collect();
    assert_eq!(
        summary,
        [(1, 90_000, Handler::Video), (2, 48_000, Handler::Audio)]
    );
    assert_eq!(
        timescales(&init).unwrap(),
        HashMap::from([(1, 90_000), (2, 48_000)])
    );

    let record = tracks[0].avc_config(&init).unwrap().unwrap();
    let config = DecoderConfig::parse(record).unwrap();
    assert_eq!(
        (config.profile_idc, config.constraint_flags, config.level_idc),
        (0x64, 0, 0x0d)
    );
    assert_eq!(
        (config.length_size, config.sps, config.pps),
        (4, vec![SPS], vec![PPS])
    );
    assert_eq!(tracks[1].avc_config(&init).unwrap(), None, "no sample entry");

    let sets = ParameterSets::from_init(&init).unwrap().unwrap();
    assert_eq!(sets.track_id, 1);
    assert_eq!(sets.prefix, [&[0, 0, 0, 5][..], SPS, &[0, 0, 0, 3], PPS].concat());
}

#[test]
fn reads_version_0_headers() {
    assert_eq!(
        timescales(&init_v0()).unwrap(),
        HashMap::from([(1, 90_000), (2, 48_000)])
    );
    assert_eq!(
        ParameterSets::from_init(&init_v0()).unwrap(),
        None,
        "no H.264 track"
    );
}

#[test]
fn reads_fragments_and_their_durations() {
    let (segment, video_at) = segment_by_mp4_atom(360_000, 192_000);
    let fragments = fragments(&segment).unwrap();
    assert_eq!(fragments.len(), 1);
    let video = fragments[0].track(1).unwrap();
    assert_eq!(video.decode_time.unwrap().value, 360_000);
    assert_eq!(video.default_sample_duration, Some(3000));
    assert_eq!(
        video.flags & tfhd::DEFAULT_BASE_IS_MOOF,
        tfhd::DEFAULT_BASE_IS_MOOF
    );
    let run = video.runs[0];
    assert_eq!((run.sample_count, run.data_offset), (2, Some(video_at as i32)));
    assert_eq!(run.flags & trun::SAMPLE_SIZE, trun::SAMPLE_SIZE);
    assert_eq!(run.sample(&segment, 1).unwrap().size, Some(4));
    assert_eq!(
        video.duration(&segment).unwrap(),
        6000,
        "two samples of the tfhd default"
    );
}

#[test]
fn shifts_each_track_in_its_own_timescale_and_nothing_else() {
    let (original, _) = segment_by_mp4_atom(360_000, 192_000);
    let mut shifted = original.clone();
    shift_decode_times(
        &mut shifted,
        &timescales(&init_by_mp4_atom()).unwrap(),
        Ts90k(945_000),
    )
    .unwrap();

    let mut expected = judge_moof(&original);
    expected.traf[0].tfdt.as_mut().unwrap().base_media_decode_time = 360_000 + 945_000;
    expected.traf[1].tfdt.as_mut().unwrap().base_media_decode_time = 192_000 + 504_000;
    assert_eq!(judge_moof(&shifted), expected);
    assert_eq!(shifted.len(), original.len());
    let changed = original.iter().zip(&shifted).filter(|(a, b)| a != b).count();
    assert!(
        changed <= 16,
        "only the two 8-byte times change, {changed} bytes did"
    );
}

#[test]
fn a_version_0_decode_time_keeps_its_32_bits_or_fails_untouched() {
    let traf = |id: u32, time: u32| {
        let tfhd = full_box(BoxType::TFHD, 0, 0, &id.to_be_bytes());
        let tfdt = full_box(BoxType::TFDT, 0, 0, &time.to_be_bytes());
        boxed(BoxType::TRAF, &[tfhd, tfdt].concat())
    };
    let segment = [
        boxed(BoxType::MOOF, &[traf(1, 90_000), traf(2, 48_000)].concat()),
        boxed(BoxType::MDAT, b"xx"),
    ]
    .concat();
    let scales = timescales(&init_v0()).unwrap();
    let time = |s: &[u8], i: usize| fragments(s).unwrap()[0].tracks[i].decode_time.unwrap();

    let mut shifted = segment.clone();
    shift_decode_times(&mut shifted, &scales, Ts90k(90_000)).unwrap();
    assert_eq!(
        (time(&shifted, 0).value, time(&shifted, 1).value),
        (180_000, 96_000)
    );
    assert_eq!(time(&shifted, 0).version, 0);

    let mut untouched = segment.clone();
    let far = Ts90k(i64::from(u32::MAX));
    assert_eq!(
        shift_decode_times(&mut untouched, &scales, far),
        Err(Error::Overflow("a 32-bit tfdt decode time"))
    );
    assert_eq!(
        shift_decode_times(&mut untouched, &scales, Ts90k(-90_001)),
        Err(Error::Overflow("a 32-bit tfdt decode time")),
        "before zero"
    );
    assert_eq!(untouched, segment, "a failed shift changes nothing");
    assert_eq!(
        shift_decode_times(&mut untouched, &HashMap::from([(1, 90_000)]), Ts90k(1)),
        Err(Error::UnknownTrack(2))
    );
}

#[test]
fn puts_parameter_sets_in_band_and_moves_what_follows() {
    let sets = ParameterSets::from_init(&init_by_mp4_atom()).unwrap().unwrap();
    let (segment, video_at) = segment_by_mp4_atom(0, 0);
    let out = sets.put_in_band(&segment).unwrap();
    let n = sets.prefix.len();
    assert_eq!(out.len(), segment.len() + n);
    assert_eq!(&out[video_at..video_at + n], &sets.prefix[..]);
    assert_eq!(
        &out[video_at + n..],
        &segment[video_at..],
        "the samples follow, untouched"
    );

    // The judge: the first video sample grew by n, the audio data moved by n, the mdat
    // grew by n; nothing else changed.
    let mut expected = judge_moof(&segment);
    let mp4_atom::TrunSamples::Explicit(video) = &mut expected.traf[0].trun[0].samples else {
        panic!("per-sample sizes")
    };
    video[0].size = Some(6 + n as u32);
    expected.traf[1].trun[0].data_offset = Some((video_at + 10 + n) as i32);
    assert_eq!(judge_moof(&out), expected);
    let mdat = find(&out, BoxType::MDAT).unwrap().unwrap();
    let judged: mp4_atom::Mdat = decode(&out[mdat.start..]);
    assert_eq!(judged.data, [&sets.prefix[..], MDAT].concat());
    let audio = (video_at + 10 + n)..(video_at + 13 + n);
    assert_eq!(&out[audio], &[0xa, 0xb, 0xc]);

    // Done once: a second pass finds the SPS in place.
    assert_eq!(sets.put_in_band(&out).unwrap(), out);
}

#[test]
fn cuts_the_samples_that_end_after_an_instant() {
    let (segment, video_at) = segment_by_mp4_atom(90_000, 0);
    // Video samples last 3000 each from 90 000: the second one ends at 96 000.
    assert_eq!(
        cut_track_after(&segment, 1, 96_000).unwrap(),
        None,
        "nothing ends after"
    );
    let out = cut_track_after(&segment, 1, 95_999).unwrap().unwrap();
    // The judge: one record fewer (4 bytes: sizes only), every data offset 4 back, the
    // mdat as it was.
    let mut expected = judge_moof(&segment);
    let mp4_atom::TrunSamples::Explicit(video) = &mut expected.traf[0].trun[0].samples else {
        panic!("per-sample sizes")
    };
    video.truncate(1);
    expected.traf[0].trun[0].data_offset = Some(video_at as i32 - 4);
    expected.traf[1].trun[0].data_offset = Some(video_at as i32 + 10 - 4);
    assert_eq!(judge_moof(&out), expected);
    assert_eq!(out.len(), segment.len() - 4);
    assert_eq!(&out[out.len() - MDAT.len()..], MDAT);
    let audio = fragments(&out).unwrap()[0].tracks[1].runs[0];
    let at = video_at + 10 - 4;
    assert_eq!(audio.data_offset, Some(at as i32), "counted from the moof, at 0");
    assert_eq!(
        &out[at..at + 3],
        &[0xa, 0xb, 0xc],
        "the audio is where its offset says"
    );

    // Everything: an empty run.
    let none = cut_track_after(&segment, 1, 0).unwrap().unwrap();
    assert_eq!(fragments(&none).unwrap()[0].tracks[0].runs[0].sample_count, 0);
    assert_eq!(judge_moof(&none).traf[0].trun[0].samples.len(), 0);
}

#[test]
fn a_64_bit_mdat_grows_in_its_64_bit_size_and_one_to_the_end_keeps_size_0() {
    let (segment, _) = segment_by_mp4_atom(0, 0);
    let mdat = find(&segment, BoxType::MDAT).unwrap().unwrap();
    let moof = &segment[..mdat.start];
    // The same moof, with an mdat whose header is 16 bytes (the data offsets move by 8).
    let mut moved = segment.clone();
    shift_run_offsets(&mut moved, 8);
    let large = [
        &moved[..mdat.start],
        &1u32.to_be_bytes()[..],
        b"mdat",
        &(16 + MDAT.len() as u64).to_be_bytes(),
        MDAT,
    ]
    .concat();
    let out = insert_before_first_sample(&large, 1, b"PS").unwrap();
    let header = BoxHeader::parse(&out[mdat.start..]).unwrap().unwrap();
    assert_eq!(
        (header.header_len, header.size),
        (16, Some(16 + MDAT.len() as u64 + 2))
    );

    let to_end = [moof, &0u32.to_be_bytes()[..], b"mdat", MDAT].concat();
    let out = insert_before_first_sample(&to_end, 1, b"PS").unwrap();
    assert_eq!(&out[mdat.start..mdat.start + 4], &[0, 0, 0, 0]);
    assert_eq!(out.len(), to_end.len() + 2);
}

/// Adds `by` to every run's data_offset of the first moof.
fn shift_run_offsets(segment: &mut [u8], by: i32) {
    for traf in &fragments(segment).unwrap()[0].tracks {
        for run in &traf.runs {
            let at = run.data_offset_at().unwrap();
            let v = i32::from_be_bytes(segment[at..at + 4].try_into().unwrap()) + by;
            segment[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[test]
fn refuses_layouts_it_does_not_rewrite() {
    let (segment, _) = segment_by_mp4_atom(0, 0);
    let sidx = [boxed(BoxType::SIDX, &[0; 24]), segment.clone()].concat();
    assert_eq!(
        insert_before_first_sample(&sidx, 1, b"x"),
        Err(Error::Unsupported("a segment index"))
    );
    assert_eq!(
        insert_before_first_sample(&segment, 9, b"x"),
        Err(Error::Unsupported("no fragment of the track"))
    );
    // The same moof with sizes from a tfhd default instead of per sample.
    let mut no_sizes = segment.clone();
    let run = fragments(&segment).unwrap()[0].tracks[0].runs[0];
    no_sizes[run.trun.body + 2] &= !((trun::SAMPLE_SIZE >> 8) as u8);
    assert_eq!(
        insert_before_first_sample(&no_sizes, 1, b"x"),
        Err(Error::Unsupported("no per-sample sizes"))
    );
    // An explicit base data offset.
    let mut based = segment.clone();
    let traf = &fragments(&segment).unwrap()[0].tracks[0];
    let tfhd_box = traf.traf.required(&segment, BoxType::TFHD).unwrap();
    based[tfhd_box.body + 3] |= tfhd::BASE_DATA_OFFSET as u8;
    assert_eq!(
        insert_before_first_sample(&based, 1, b"x"),
        Err(Error::ShortBox { kind: BoxType::TFHD }),
        "the base offset would run past the tfhd"
    );
    let tfhd = full_box(
        BoxType::TFHD,
        0,
        tfhd::BASE_DATA_OFFSET,
        &[&1u32.to_be_bytes()[..], &0u64.to_be_bytes()].concat(),
    );
    let flags = trun::DATA_OFFSET | trun::SAMPLE_SIZE;
    let trun = full_box(BoxType::TRUN, 0, flags, &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 6]);
    let based = [
        boxed(BoxType::MOOF, &boxed(BoxType::TRAF, &[tfhd, trun].concat())),
        boxed(BoxType::MDAT, MDAT),
    ]
    .concat();
    assert_eq!(
        insert_before_first_sample(&based, 1, b"x"),
        Err(Error::Unsupported("an explicit base data offset"))
    );
}

#[test]
fn hostile_sizes_and_counts_are_errors() {
    let huge = [&u32::MAX.to_be_bytes()[..], b"moof", &[0; 8]].concat();
    assert_eq!(
        boxes(&huge).next(),
        Some(Err(Error::Truncated { kind: BoxType::MOOF }))
    );
    let largest = [&1u32.to_be_bytes()[..], b"moov", &u64::MAX.to_be_bytes()].concat();
    assert_eq!(tracks(&largest), Err(Error::Truncated { kind: BoxType::MOOV }));
    let small = [&4u32.to_be_bytes()[..], b"moof"].concat();
    assert_eq!(
        boxes(&small).next(),
        Some(Err(Error::BadSize { kind: BoxType::MOOF }))
    );
    assert_eq!(
        boxes(&[0, 0, 0]).next(),
        Some(Err(Error::TrailingBytes { bytes: 3 }))
    );
    // A trun that claims 4 billion samples in a few bytes.
    let trun = full_box(
        BoxType::TRUN,
        0,
        trun::DATA_OFFSET | trun::SAMPLE_SIZE,
        &[&u32::MAX.to_be_bytes()[..], &[0; 12]].concat(),
    );
    let traf = boxed(
        BoxType::TRAF,
        &[full_box(BoxType::TFHD, 0, 0, &[0, 0, 0, 1]), trun].concat(),
    );
    let segment = boxed(BoxType::MOOF, &traf);
    assert_eq!(fragments(&segment), Err(Error::ShortBox { kind: BoxType::TRUN }));
    // A tkhd too short for its track_ID.
    let moov = boxed(
        BoxType::MOOV,
        &boxed(
            BoxType::TRAK,
            &[full_box(BoxType::TKHD, 0, 0, &[0; 4]), boxed(BoxType::MDIA, &[])].concat(),
        ),
    );
    assert_eq!(
        tracks(&moov),
        Err(Error::Missing {
            kind: BoxType::MDHD,
            parent: BoxType::MDIA
        })
    );
}

/// Every reader and rewrite over every truncation and every one-byte corruption of an init
/// and a segment: errors are fine, panics are not.
#[test]
fn truncated_or_corrupt_input_never_panics() {
    let init = init_by_mp4_atom();
    let (segment, _) = segment_by_mp4_atom(5, 5);
    let sets = ParameterSets::from_init(&init).unwrap().unwrap();
    let scales = timescales(&init).unwrap();
    let exercise_init = |bytes: &[u8]| {
        for track in tracks(bytes).unwrap_or_default() {
            let _ = track.avc_config(bytes);
        }
        let _ = ParameterSets::from_init(bytes);
    };
    let exercise_segment = |bytes: &[u8]| {
        for fragment in fragments(bytes).unwrap_or_default() {
            for traf in &fragment.tracks {
                let _ = traf.duration(bytes);
            }
        }
        let _ = shift_decode_times(&mut bytes.to_vec(), &scales, Ts90k(1_000));
        let _ = sets.put_in_band(bytes);
        let _ = cut_track_after(bytes, 1, 90_000);
    };
    for len in 0..init.len() {
        exercise_init(&init[..len]);
    }
    for len in 0..segment.len() {
        exercise_segment(&segment[..len]);
    }
    for value in [0x00, 0x01, 0x7f, 0xff] {
        for at in 0..init.len() {
            let mut bad = init.clone();
            bad[at] = value;
            exercise_init(&bad);
        }
        for at in 0..segment.len() {
            let mut bad = segment.clone();
            bad[at] = value;
            exercise_segment(&bad);
        }
    }
}

#[test]
fn avc_records_samples_and_profiles() {
    let record = [&[1, 0x64, 0, 0x0d, 0xfd, 0xe1, 0, 5][..], SPS, &[1, 0, 3], PPS].concat();
    let config = DecoderConfig::parse(&record).unwrap();
    assert_eq!(config.length_size, 2);
    assert_eq!(
        config.length_prefixed_parameter_sets().unwrap(),
        [&[0, 5][..], SPS, &[0, 3], PPS].concat()
    );
    assert_eq!(
        DecoderConfig::parse(&record[..record.len() - 1]),
        Err(Error::AvcConfig("a parameter set runs past it"))
    );
    assert_eq!(
        DecoderConfig::parse(&[2, 0x64, 0, 0x0d, 0xff, 0xe0, 0]),
        Err(Error::AvcConfig("configurationVersion is not 1"))
    );

    let mut out = Vec::new();
    avc::append_annex_b(&mut out, &[0, 0, 0, 2, 0x67, 0x42, 0, 0, 0, 1, 0x68], 4).unwrap();
    assert_eq!(out, [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68]);
    out.clear();
    avc::append_annex_b(&mut out, &[0, 2, 0x65, 1], 2).unwrap();
    assert_eq!(out, [0, 0, 0, 1, 0x65, 1]);
    assert!(
        avc::append_annex_b(&mut out, &[0, 0, 0, 9, 0x65], 4).is_err(),
        "truncated"
    );
    assert!(
        avc::append_annex_b(&mut out, &[0, 0, 0], 4).is_err(),
        "a cut length"
    );

    let annexb = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 1, 0x68, 0xeb];
    assert_eq!(avc::profile_and_level(&annexb), Some([0x64, 0x00, 0x1f]));
    assert_eq!(
        avc::profile_and_level(&[1, 0x42, 0xc0, 0x1e, 0xff]),
        Some([0x42, 0xc0, 0x1e])
    );
    assert_eq!(avc::profile_and_level(&[0, 0, 1, 0x68]), None);
    assert_eq!(avc::profile_and_level(&[0, 0, 1, 0x67, 0x64]), None, "a cut SPS");
}

//! The only place reel calls `ffmpeg-sys-next` directly.
//!
//! ffmpeg-next covers most of what the engine needs; these are the few operations it does
//! not wrap. Each function is a safe wrapper: it takes the ffmpeg-next owner of the raw
//! pointer by reference (so the pointer is alive and not aliased mutably elsewhere for the
//! call's duration) and says in a `SAFETY:` note why the call is sound.
//!
//! The crate denies `unsafe` everywhere else (`#![deny(unsafe_code)]` in `lib.rs`), so
//! the one other unsafe operation reel needs, borrowing a connection's socket by its
//! number ([`duplicate_connection_socket`]), lives here too.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ffmpeg_next::{codec, ffi, format, util::format::pixel::Descriptor, Error};

/// A duplicate of the socket `raw` of the connection a request arrived on (for a live
/// session's stream thread, which watches it for a hang-up after the request returns).
/// Call only while handling a request of that connection.
pub fn duplicate_connection_socket(raw: std::os::fd::RawFd) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: `raw` is the descriptor of the connection the request being handled arrived
    // on, noted when it was accepted (`http::sessions::remember_socket`). The connection
    // owns the descriptor and is alive while one of its requests is handled, so the
    // descriptor is open and is that socket. It is only borrowed for the duplication.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    rustix::io::fcntl_dupfd_cloexec(borrowed, 0).ok()
}

/// Bits per component of a pixel format (8 for yuv420p, 10 for yuv420p10le).
pub fn pixel_bit_depth(desc: Descriptor) -> u8 {
    // SAFETY: `Descriptor` only exists for a non-null pointer into libavutil's static,
    // immutable table of pixel format descriptors; `comp[0]` is always present.
    unsafe { (*desc.as_ptr()).comp[0].depth as u8 }
}

/// The container-level bit rate libavformat computed or read (0 when unknown).
pub fn input_bit_rate(input: &format::context::Input) -> i64 {
    // SAFETY: `input` owns a live AVFormatContext; reading a plain integer field.
    unsafe { (*input.as_ptr()).bit_rate }
}

/// The container's start time in microseconds (`AV_TIME_BASE`), when it has one. A media
/// position of 0 s is this instant (MPEG-TS files often start at 1.4 s, MP4 at 0).
pub fn input_start_time(input: &format::context::Input) -> Option<i64> {
    // SAFETY: `input` owns a live AVFormatContext; reading a plain integer field.
    let t = unsafe { (*input.as_ptr()).start_time };
    (t != ffi::AV_NOPTS_VALUE).then_some(t)
}

/// Ends the current fragment (fMP4 with `movflags=frag_custom`) or flushes pending PES
/// packets (MPEG-TS), then pushes everything the AVIO buffer holds to the writer.
///
/// After this returns, every byte of the output so far has reached the custom writer, so
/// the caller can cut a segment exactly here. ffmpeg-next has no wrapper for writing a
/// NULL packet ("flush") nor for `avio_flush`.
pub fn flush_fragment(output: &mut format::context::Output) -> Result<(), Error> {
    // SAFETY: `output` owns a live AVFormatContext whose header has been written (the
    // callers only flush between write_header and write_trailer). A NULL packet is the
    // documented way to ask a muxer with AVFMT_ALLOW_FLUSH to flush; both muxers we use
    // (mp4, mpegts) set that flag. `pb` is the custom AVIOContext ffmpeg-next installed
    // and keeps alive as long as `output`.
    unsafe {
        let ctx = output.as_mut_ptr();
        let ret = ffi::av_write_frame(ctx, std::ptr::null_mut());
        if ret < 0 {
            return Err(Error::from(ret));
        }
        if !(*ctx).pb.is_null() {
            ffi::avio_flush((*ctx).pb);
        }
    }
    Ok(())
}

/// The codec's global header (`extradata`): SPS/PPS for H.264 encoded with
/// `GLOBAL_HEADER`, the AudioSpecificConfig for AAC.
pub fn extradata(ctx: &codec::Context) -> Vec<u8> {
    // SAFETY: `ctx` owns a live AVCodecContext; `extradata` is either null or points at
    // `extradata_size` bytes owned by that context, which we copy before returning.
    unsafe {
        let raw = ctx.as_ptr();
        if (*raw).extradata.is_null() || (*raw).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*raw).extradata, (*raw).extradata_size as usize).to_vec()
    }
}

/// Replaces the codec parameters' `extradata` with a copy of `bytes` (what a muxer's
/// stream takes them from). For AC-3, whose encoder has no global header, the fMP4
/// muxer reads its `dac3` box from the first 7+ bytes of a sync frame held there.
pub fn set_extradata(params: &mut codec::Parameters, bytes: &[u8]) -> Result<(), Error> {
    // SAFETY: `params` owns a live AVCodecParameters, borrowed mutably for the call. The
    // old extradata (null, or allocated by libav*) is freed with `av_freep`, which nulls
    // the pointer; the new buffer comes from `av_mallocz` with the padding libavcodec
    // requires, is filled from `bytes` (non-overlapping, `len` bytes), and from then on
    // is owned (and freed) by the parameters.
    unsafe {
        let raw = params.as_mut_ptr();
        ffi::av_freep(std::ptr::addr_of_mut!((*raw).extradata).cast());
        (*raw).extradata_size = 0;
        if bytes.is_empty() {
            return Ok(());
        }
        let size = bytes.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
        let buf = ffi::av_mallocz(size).cast::<u8>();
        if buf.is_null() {
            return Err(Error::from(ffi::AVERROR(ffi::ENOMEM)));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        (*raw).extradata = buf;
        (*raw).extradata_size = bytes.len() as i32;
    }
    Ok(())
}

/// Marks an output stream as to be displayed rotated by `clockwise` degrees (writes a
/// display matrix into the stream's side data, as a phone does for portrait video). Used
/// by `reel sample` to make rotated test sources. Call before `write_header`.
pub fn set_stream_rotation(
    output: &mut format::context::Output,
    stream_index: usize,
    clockwise: u32,
) -> Result<(), Error> {
    // SAFETY: `output` owns a live AVFormatContext; the index is checked against
    // nb_streams. `av_stream_new_side_data` allocates a buffer of the requested size owned
    // by the stream (freed with it), which `av_display_rotation_set` fills with 9 int32.
    unsafe {
        let ctx = output.as_mut_ptr();
        if stream_index >= (*ctx).nb_streams as usize {
            return Err(Error::StreamNotFound);
        }
        let stream = *(*ctx).streams.add(stream_index);
        let data = ffi::av_stream_new_side_data(
            stream,
            ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
            9 * std::mem::size_of::<i32>(),
        );
        if data.is_null() {
            return Err(Error::Other { errno: ENOMEM });
        }
        // The matrix `av_display_rotation_set(m, 90)` writes is what players (and the
        // ffmpeg CLI's autorotate) read as "turn 90 degrees clockwise to display".
        ffi::av_display_rotation_set(data as *mut i32, f64::from(clockwise));
    }
    Ok(())
}

const ENOMEM: i32 = 12;

/// A new frame that shares `frame`'s picture buffers (`av_frame_ref`: a reference, no
/// copy), with its own properties (pts, picture type) to set.
pub fn frame_ref(frame: &ffmpeg_next::frame::Video) -> Result<ffmpeg_next::frame::Video, Error> {
    let mut out = ffmpeg_next::frame::Video::empty();
    // SAFETY: `frame` owns a live AVFrame; `out` owns a freshly allocated, empty AVFrame
    // (what av_frame_ref requires of its destination). On success `out` holds new
    // references to `frame`'s buffers, released when `out` is dropped (av_frame_free).
    let ret = unsafe { ffi::av_frame_ref(out.as_mut_ptr(), frame.as_ptr()) };
    if ret < 0 {
        return Err(Error::from(ret));
    }
    Ok(out)
}

/// Whether `frame`'s buffers are referenced by no one else, so writing them is safe
/// (`av_frame_is_writable`).
pub fn is_writable(frame: &mut ffmpeg_next::frame::Video) -> bool {
    // SAFETY: `frame` owns a live AVFrame; av_frame_is_writable only reads its buffer
    // references (it takes a non-const pointer in FFmpeg 5.1, hence `&mut`).
    unsafe { ffi::av_frame_is_writable(frame.as_mut_ptr()) > 0 }
}

/// Whether the CPU's vendor string is `AuthenticAMD` (CPUID leaf 0).
pub fn cpu_is_amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: CPUID exists on every x86_64 CPU; leaf 0 returns the vendor string in
        // EBX, EDX, ECX.
        #[allow(unused_unsafe)]
        let r = unsafe { std::arch::x86_64::__cpuid(0) };
        let mut vendor = [0u8; 12];
        vendor[..4].copy_from_slice(&r.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&r.edx.to_le_bytes());
        vendor[8..].copy_from_slice(&r.ecx.to_le_bytes());
        &vendor == b"AuthenticAMD"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Adds `AV_CPU_FLAG_SLOW_GATHER` to the CPU flags libav detected, for every codec and
/// scaler set up afterwards. In FFmpeg 5.1 only swscale's x86 horizontal scalers read
/// it; the code they fall back to computes the same output.
pub fn mark_gathers_slow() {
    // SAFETY: plain calls on libavutil's process-wide CPU flag word (an atomic).
    unsafe {
        let flags = ffi::av_get_cpu_flags();
        ffi::av_force_cpu_flags(flags | ffi::AV_CPU_FLAG_SLOW_GATHER);
    }
}

/// Makes an output stream's parameters, copied from an MP4 input, fit MPEG-TS: no codec
/// tag (an MP4 `avc1` means nothing there) and, with `drop_extradata`, no global header
/// (H.264 whose SPS/PPS the caller puts in band before each keyframe, so the muxer must
/// not insert the first item's ones through its automatic `h264_mp4toannexb`). Call
/// before `write_header`. ffmpeg-next has no setter for either field.
pub fn fit_stream_for_ts(output: &mut format::context::Output, index: usize, drop_extradata: bool) {
    // SAFETY: `output` owns a live AVFormatContext; `index` is checked against
    // `nb_streams` before `streams[index]` is read, and each stream owns its `codecpar`.
    // `extradata` is either null or a buffer allocated by libavcodec for this codecpar
    // (copied in by `avcodec_parameters_copy`), which `av_freep` frees and nulls.
    unsafe {
        let ctx = output.as_mut_ptr();
        if index >= (*ctx).nb_streams as usize {
            return;
        }
        let par = (*(*(*ctx).streams.add(index))).codecpar;
        (*par).codec_tag = 0;
        if drop_extradata {
            ffi::av_freep(std::ptr::addr_of_mut!((*par).extradata).cast());
            (*par).extradata_size = 0;
        }
    }
}

/// libavcodec's own ceiling for `max_pixels` (the option is range-checked up to INT_MAX).
const MAX_PIXELS_CEILING: u64 = i32::MAX as u64;

/// Opens `path` for demuxing, as `format::input` does, except that every decoder that
/// `avformat_find_stream_info` opens to learn the streams' parameters (it decodes up to
/// 7 H.264 frames, single-threaded) refuses pictures over `max_pixels` before allocating
/// them. The sizes themselves still come out of the headers and the parsers. ffmpeg-next
/// has no way to pass codec options to `avformat_find_stream_info`.
pub fn open_input(path: &Path, max_pixels: u64) -> Result<format::context::Input, Error> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidData)?;
    let key = CString::new("max_pixels").expect("no NUL");
    let value = CString::new(max_pixels.min(MAX_PIXELS_CEILING).to_string()).expect("no NUL");
    // SAFETY: `ps` starts null, as avformat_open_input requires, and on success points at
    // a context we own until it is wrapped (or closed on error). The options array has
    // one dictionary per stream that exists before find_stream_info (its documented
    // length); each is allocated by av_dict_set and freed here after the call, whatever
    // entries find_stream_info consumed. The CStrings outlive every call that reads them.
    unsafe {
        let mut ps = std::ptr::null_mut();
        let ret = ffi::avformat_open_input(
            &mut ps,
            c_path.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        if ret < 0 {
            return Err(Error::from(ret));
        }
        let mut options = vec![std::ptr::null_mut::<ffi::AVDictionary>(); (*ps).nb_streams as usize];
        for dict in options.iter_mut() {
            ffi::av_dict_set(dict, key.as_ptr(), value.as_ptr(), 0);
        }
        let options_ptr = if options.is_empty() {
            std::ptr::null_mut()
        } else {
            options.as_mut_ptr()
        };
        let ret = ffi::avformat_find_stream_info(ps, options_ptr);
        for dict in options.iter_mut() {
            ffi::av_dict_free(dict);
        }
        if ret < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(Error::from(ret));
        }
        Ok(format::context::Input::wrap(ps))
    }
}

/// Makes a decoder, once opened, refuse pictures over `max_pixels` (libavcodec checks it
/// before it allocates a picture, so a stream that changes size mid-way cannot outgrow
/// it). Call before opening; ffmpeg-next has no setter for the field.
pub fn set_max_pixels(ctx: &mut codec::Context, max_pixels: u64) {
    // SAFETY: `ctx` owns a live AVCodecContext not yet opened; writing a plain int64
    // field that avcodec_open2 and the decoder read later.
    unsafe {
        (*ctx.as_mut_ptr()).max_pixels = max_pixels.min(MAX_PIXELS_CEILING) as i64;
    }
}

/// Bytes of one picture of `pixel` format at `width` x `height`, planes packed (0 when
/// libavutil does not know the format).
pub fn picture_bytes(pixel: format::Pixel, width: u32, height: u32) -> usize {
    let (Ok(w), Ok(h)) = (i32::try_from(width), i32::try_from(height)) else {
        return 0;
    };
    // SAFETY: a pure computation over libavutil's static pixel format table; it returns a
    // negative error for an unknown format or a size that overflows.
    let n = unsafe { ffi::av_image_get_buffer_size(pixel.into(), w, h, 1) };
    usize::try_from(n).unwrap_or(0)
}

/// One text rectangle of a decoded subtitle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubtitleText {
    /// An ASS event (`ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text`):
    /// what libavcodec's SubRip, ASS, mov_text and WebVTT decoders all give.
    Ass(String),
    /// Plain text.
    Plain(String),
}

/// What a text subtitle decoder made of one packet: display times relative to the
/// packet's pts, in milliseconds (`end_ms` 0 or `u32::MAX` when unknown), and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSubtitle {
    pub start_ms: u32,
    pub end_ms: u32,
    pub texts: Vec<SubtitleText>,
}

/// An `AVSubtitle` freed when dropped: ffmpeg-next's `Subtitle` never calls
/// `avsubtitle_free`, so every decoded subtitle would leak its rectangles.
struct OwnedSubtitle(ffmpeg_next::Subtitle);

impl Drop for OwnedSubtitle {
    fn drop(&mut self) {
        // SAFETY: the AVSubtitle is either zeroed (ffmpeg-next's `Subtitle::new`) or was
        // filled by avcodec_decode_subtitle2; avsubtitle_free accepts both, frees the
        // rectangles and zeroes the struct, so a second free would be harmless too.
        unsafe { ffi::avsubtitle_free(self.0.as_mut_ptr()) }
    }
}

/// Decodes one packet of a text subtitle stream. `Ok(None)` when the packet gives no
/// subtitle. Text that is not valid UTF-8 (libavcodec refuses it for text codecs anyway)
/// is read lossily rather than trusted: ffmpeg-next's own accessors assume UTF-8.
pub fn decode_subtitle(
    decoder: &mut ffmpeg_next::decoder::Subtitle,
    packet: &ffmpeg_next::Packet,
) -> Result<Option<DecodedSubtitle>, Error> {
    let mut sub = OwnedSubtitle(ffmpeg_next::Subtitle::new());
    if !decoder.decode(packet, &mut sub.0)? {
        return Ok(None);
    }
    // SAFETY: `sub` holds an AVSubtitle avcodec_decode_subtitle2 just filled: `rects`
    // points at `num_rects` valid rectangle pointers, and each rectangle's `text`/`ass`
    // is null or a NUL-terminated string it owns. Everything is copied out before `sub`
    // is dropped (which frees them).
    let texts = unsafe {
        let raw = sub.0.as_ptr();
        let mut texts = Vec::new();
        for i in 0..(*raw).num_rects as usize {
            let rect = *(*raw).rects.add(i);
            if rect.is_null() {
                continue;
            }
            let read = |p: *const std::os::raw::c_char| {
                (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
            };
            match (*rect).type_ {
                ffi::AVSubtitleType::SUBTITLE_ASS => texts.extend(read((*rect).ass).map(SubtitleText::Ass)),
                ffi::AVSubtitleType::SUBTITLE_TEXT => {
                    texts.extend(read((*rect).text).map(SubtitleText::Plain))
                }
                _ => {}
            }
        }
        texts
    };
    Ok(Some(DecodedSubtitle {
        start_ms: sub.0.start(),
        end_ms: sub.0.end(),
        texts,
    }))
}

/// Asks an `mpegts` muxer to write PAT and PMT again before its next packet
/// (`mpegts_flags=+resend_headers`, which the muxer clears once done): each HLS segment
/// must start with them, and an audio-only stream has no keyframes that would bring them.
/// ffmpeg-next has no way to set a muxer's private option after `write_header`.
pub fn resend_ts_headers(output: &mut format::context::Output) -> Result<(), Error> {
    let key = CString::new("mpegts_flags").expect("no NUL");
    let value = CString::new("+resend_headers").expect("no NUL");
    // SAFETY: `output` owns a live AVFormatContext of the mpegts muxer (callers only ask
    // for TS); its `priv_data` is the muxer's AVClass-carrying private context, which is
    // what av_opt_set takes. The CStrings outlive the call.
    let ret = unsafe {
        let ctx = output.as_mut_ptr();
        if (*ctx).priv_data.is_null() {
            return Ok(());
        }
        ffi::av_opt_set((*ctx).priv_data, key.as_ptr(), value.as_ptr(), 0)
    };
    if ret < 0 {
        return Err(Error::from(ret));
    }
    Ok(())
}

/// Makes the demuxer skip the packets of every stream but `keep` (container indices):
/// `AVDISCARD_ALL`, which the mov and matroska demuxers honour without reading the
/// packets' data. ffmpeg-next has no setter for a stream's `discard`.
pub fn discard_streams_except(input: &mut format::context::Input, keep: &[usize]) {
    // SAFETY: `input` owns a live AVFormatContext; `streams` holds `nb_streams` valid
    // stream pointers, and `discard` is a plain field the demuxer reads on each packet.
    unsafe {
        let ctx = input.as_mut_ptr();
        for i in 0..(*ctx).nb_streams as usize {
            if !keep.contains(&i) {
                (*(*(*ctx).streams.add(i))).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

//! The engine's typed errors. Each variant reads as a sentence a user can act on; none
//! carries a path of the server's disk (the HTTP layer shows these messages verbatim).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// libavformat could not recognise the container or find any decodable stream.
    #[error("not a video file: {0}")]
    NotAVideo(String),
    /// The container opened but holds no video stream (audio-only, subtitles...).
    #[error("no video stream in the file")]
    NoVideoStream,
    /// The video stream exists but no frame of it could be decoded.
    #[error("the video stream could not be decoded: {0}")]
    Undecodable(String),
    /// The coded picture is larger than the operator allows (`--max-source-pixels`).
    #[error(
        "the picture is {width}x{height} ({pixels} pixels), over the limit of {max_pixels} \
         pixels",
        pixels = u64::from(*width) * u64::from(*height)
    )]
    SourceTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    /// The source lasts longer than the operator allows (`--max-duration-seconds`).
    #[error("the video lasts {seconds:.1} s, over the limit of {max_seconds} s")]
    SourceTooLong { seconds: f64, max_seconds: f64 },
    /// An uploaded subtitle file is not SubRip or WebVTT.
    #[error("not a subtitle file: {0}")]
    NotSubtitles(String),
    /// A caller asked for something the engine cannot do (bad height, segment length...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The job was cancelled; everything it wrote has been removed.
    #[error("cancelled")]
    Cancelled,
    /// A live stream's reader went away (the client disconnected).
    #[error("the reader went away")]
    ReaderGone,
    /// An encoder or muxer failed mid-job.
    #[error("{context} failed: {source}")]
    Ffmpeg {
        context: &'static str,
        #[source]
        source: ffmpeg_next::Error,
    },
    /// Reading the input or writing the output failed.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A segment's boxes or H.264 samples could not be read (a damaged ladder).
    #[error("reading a segment: {0}")]
    Mp4(#[from] crate::mp4::Error),
    /// A pipeline thread panicked or hung up; a bug, reported rather than hidden.
    #[error("internal engine error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Wraps an ffmpeg error with the step that produced it.
    pub fn ffmpeg(context: &'static str) -> impl FnOnce(ffmpeg_next::Error) -> EngineError {
        move |source| EngineError::Ffmpeg { context, source }
    }

    /// Wraps an I/O error with the step that produced it.
    pub fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> EngineError {
        move |source| EngineError::Io { context, source }
    }

    /// True when the source is over one of the operator's [`Limits`](super::Limits).
    pub fn is_over_limit(&self) -> bool {
        matches!(
            self,
            EngineError::SourceTooLarge { .. } | EngineError::SourceTooLong { .. }
        )
    }

    /// True when the error is the input's fault (the HTTP layer answers 415/400, not 500).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            EngineError::NotAVideo(_) | EngineError::NoVideoStream | EngineError::Undecodable(_)
        )
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

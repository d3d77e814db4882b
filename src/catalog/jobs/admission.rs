//! Admission: from an upload (or a library file) to a queued job. The source is probed
//! and checked against the operator's limits, kept in a new job directory (made under a
//! hidden name, `flock`ed, then renamed: no other process ever sees it half-made), the
//! video recorded as queued, and the job handed to the coordination's queue.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::coordination::{CatalogChange, Refused, Ticket};
use super::job_files;
use super::spec::{JobSpec, SubtitleFileSpec};
use super::Jobs;
use crate::catalog::layout::{self, new_id};
use crate::catalog::store::remove_dir_if_present;
use crate::catalog::video::{now_ms, LibrarySource, Video};
use crate::engine::{self, ladder, EngineError, TranscodeOptions};
use crate::hls::SegmentFormat;

/// A received upload waiting to be accepted.
pub struct Upload {
    /// The bytes as received, in a temp file on the media volume (removed on drop).
    pub file: tempfile::TempPath,
    /// Extension for the kept source (`mp4`), already sanitised.
    pub extension: String,
    pub title: String,
    pub heights: Option<Vec<u32>>,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
    /// Subtitle files that came with it.
    pub subtitles: Vec<UploadedSubtitles>,
}

/// A subtitle file received with an upload (its `subtitles` field).
pub struct UploadedSubtitles {
    /// The bytes as received, in a temp file (removed on drop).
    pub file: tempfile::TempPath,
    /// `srt` or `vtt`, what it is kept as.
    pub extension: &'static str,
    /// BCP 47 language, when the upload gave one.
    pub language: Option<String>,
    /// The name it was uploaded under.
    pub name: String,
}

/// Why an upload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Not a decodable video (the engine's sentence).
    #[error("{0}")]
    NotAVideo(String),
    /// A field the engine refuses for this source.
    #[error("{field}: {message}")]
    InvalidOption { field: &'static str, message: String },
    /// Over `--max-source-pixels` (the engine's sentence).
    #[error("{0}")]
    TooLarge(String),
    /// Over `--max-duration-seconds` (the engine's sentence).
    #[error("{0}")]
    TooLong(String),
    #[error("the transcode queue is full")]
    QueueFull,
    /// The job queue shared with other instances (Redis) is not answering.
    #[error("{0}")]
    Unavailable(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A library file's rendition that another reel process on the root has taken on.
    #[error("another reel process is preparing this library file")]
    TakenElsewhere,
    /// Disk trouble and the like: logged, not shown.
    #[error("{0}")]
    Internal(String),
}

impl Jobs {
    /// Probes an upload, keeps it as a job's source, records a queued video and submits the
    /// job. Blocking: call from `web::block` or a plain thread.
    pub fn accept(&self, upload: Upload) -> Result<Video, AcceptError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(AcceptError::ShuttingDown);
        }
        let probe = engine::probe_within(&upload.file, &self.inner.limits)
            .map_err(|e| refusal("probing an upload", e))?;
        // Every subtitle file must read as SubRip or WebVTT before anything is kept.
        for s in &upload.subtitles {
            engine::subtitles::read_file_cues(&s.file).map_err(|e| AcceptError::InvalidOption {
                field: "subtitles",
                message: format!("{}: {e}", s.name),
            })?;
        }
        let subtitle_files: Vec<SubtitleFileSpec> = upload
            .subtitles
            .iter()
            .enumerate()
            .map(|(i, s)| SubtitleFileSpec {
                file: format!("subtitles{i}.{}", s.extension),
                language: s.language.clone(),
                uploaded_as: s.name.clone(),
            })
            .collect();
        let spec = JobSpec {
            title: upload.title,
            created_at_ms: now_ms(),
            heights: upload.heights,
            segment_seconds: upload.segment_seconds,
            format: upload.format,
            source: format!("source.{}", upload.extension),
            library: None,
            subtitle_files,
        };
        let file = upload.file;
        let subtitles = upload.subtitles;
        let kept_as: Vec<String> = spec.subtitle_files.iter().map(|f| f.file.clone()).collect();
        self.admit(&new_id(), spec, probe, |path| {
            file.persist(path).map_err(|e| e.error)?;
            let dir = path.parent().unwrap_or(path);
            for (s, name) in subtitles.into_iter().zip(kept_as) {
                s.file.persist(dir.join(name)).map_err(|e| e.error)?;
            }
            Ok(())
        })
    }

    /// Queues the preparation of a library file's HLS rendition as video `id` (a function
    /// of the file's path, so every process on the root picks the same). The job's source
    /// is a symlink to the file: nothing is copied. Blocking.
    pub fn prepare_library(
        &self,
        id: &str,
        source: LibrarySource,
        file: &Path,
        title: &str,
    ) -> Result<Video, AcceptError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(AcceptError::ShuttingDown);
        }
        let probe = engine::probe_within(file, &self.inner.limits)
            .map_err(|e| refusal("probing a library file", e))?;
        let extension = file
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("bin")
            .to_ascii_lowercase();
        let spec = JobSpec {
            title: title.to_string(),
            created_at_ms: now_ms(),
            heights: None,
            segment_seconds: TranscodeOptions::default().segment_seconds,
            format: SegmentFormat::Fmp4,
            source: format!("source.{extension}"),
            library: Some(source),
            subtitle_files: Vec::new(),
        };
        self.admit(id, spec, probe, |path| std::os::unix::fs::symlink(file, path))
    }

    /// Checks a job's options against its source, keeps the source in a new job directory
    /// (`put_source` places it at the given path), records a queued video and submits the
    /// job.
    fn admit(
        &self,
        id: &str,
        spec: JobSpec,
        probe: engine::Probe,
        put_source: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Result<Video, AcceptError> {
        let limits = &self.inner.limits;
        spec.options(limits, &self.inner.store.layout().job_dir(id))
            .validate()
            .map_err(|e| invalid_option("segment_seconds", e))?;
        ladder::plan_capped(
            probe.video.display_width,
            probe.video.display_height,
            spec.heights.as_deref(),
            limits.max_short_side,
        )
        .map_err(|e| invalid_option("heights", e))?;

        let layout = self.inner.store.layout();
        let job_dir = layout.job_dir(id);
        let media = self.inner.store.media();
        // Made complete under a hidden name, locked, then renamed: another process on the
        // root never sees a half-made job directory, nor one it could take. The rename
        // fails while another process has a job directory of the same id.
        let staging = layout.jobs_dir().join(format!(".new-{id}"));
        if let Err(e) = std::fs::create_dir(&staging) {
            return Err(match e.kind() {
                // Another process is making the same library job right now.
                std::io::ErrorKind::AlreadyExists if spec.library.is_some() => AcceptError::TakenElsewhere,
                _ => AcceptError::Internal(format!("making a job directory: {e}")),
            });
        }
        let keep = || -> std::io::Result<std::fs::File> {
            let lock = layout::try_lock(&staging.join("lock"))?
                .ok_or_else(|| std::io::Error::other("a new job directory is locked"))?;
            put_source(&staging.join(&spec.source))?;
            spec.write(&staging)?;
            std::fs::rename(&staging, &job_dir)?;
            Ok(lock)
        };
        let lock = match keep() {
            Ok(lock) => lock,
            Err(e) => {
                remove_dir_if_present(&staging);
                if spec.library.is_some() && job_dir.exists() {
                    return Err(AcceptError::TakenElsewhere); // running elsewhere
                }
                return Err(AcceptError::Internal(format!("keeping a job's source: {e}")));
            }
        };
        // A library id is the same in every process: one that finished it (and removed
        // its job directory) before our rename has left its manifest. Checked after the
        // rename, while we hold the only job directory, so no process can slip between.
        if spec.library.is_some() && matches!(Video::read_manifest(media, id), Ok(Some(_))) {
            remove_dir_if_present(&job_dir);
            return Err(AcceptError::TakenElsewhere);
        }
        let mut video = Video::new(
            id,
            &spec.title,
            spec.created_at_ms,
            spec.segment_seconds,
            spec.format,
        );
        video.library = spec.library.clone();
        video.duration = probe.duration;
        video.source = Some(probe);
        if let Err(e) = video.write_manifest(media, id) {
            remove_dir_if_present(&job_dir);
            self.inner.store.remove_files(id);
            return Err(AcceptError::Internal(format!("writing a manifest: {e}")));
        }

        let coordination = &self.inner.coordination;
        // Joined with instances on other machines: the job's files go to the store first,
        // where whichever worker claims the job finds them.
        if coordination.spans_machines() && media.folder_root().is_none() {
            if let Err(e) = job_files::put_in_store(media, id, &spec, &job_dir.join(&spec.source)) {
                remove_dir_if_present(&job_dir);
                self.inner.store.remove_files(id);
                return Err(AcceptError::Internal(format!(
                    "keeping a job's source in the store: {e}"
                )));
            }
        }
        let ticket = Ticket {
            id: id.to_string(),
            spec: spec.clone(),
            dir_lock: lock,
        };
        let result = self
            .inner
            .store
            .insert_with(video.clone(), || coordination.submit(ticket));
        if let Err(refused) = result {
            job_files::forget(&self.inner.store, id);
            self.inner.store.remove_files(id);
            return Err(match refused {
                Refused::Full(_) => AcceptError::QueueFull,
                e @ Refused::Unavailable(..) => AcceptError::Unavailable(e.to_string()),
            });
        }
        coordination.announce(&CatalogChange::Created(video.clone()));
        self.inner.stats.accepted.fetch_add(1, Ordering::Relaxed);
        log::info!("video {id} ({:?}) queued", spec.title);
        Ok(video)
    }
}

/// Why a probe refused a source: its content, a limit, or trouble on our side (`doing`).
fn refusal(doing: &str, e: EngineError) -> AcceptError {
    match e {
        EngineError::SourceTooLarge { .. } => AcceptError::TooLarge(e.to_string()),
        EngineError::SourceTooLong { .. } => AcceptError::TooLong(e.to_string()),
        e if e.is_bad_input() => AcceptError::NotAVideo(e.to_string()),
        e => AcceptError::Internal(format!("{doing}: {e}")),
    }
}

fn invalid_option(field: &'static str, e: EngineError) -> AcceptError {
    match e {
        EngineError::InvalidOption(message) => AcceptError::InvalidOption { field, message },
        e if e.is_bad_input() => AcceptError::NotAVideo(e.to_string()),
        e => AcceptError::Internal(e.to_string()),
    }
}

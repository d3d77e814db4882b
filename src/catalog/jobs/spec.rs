//! [`JobSpec`]: what a job needs to run (again), kept as `.jobs/{id}/job.json` beside its
//! source until the job ends, and carried by the job queue.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::video::LibrarySource;
use crate::engine::{Limits, SubtitleFile, TranscodeOptions};
use crate::hls::SegmentFormat;

/// What a job needs to run (again): stored as `.jobs/{id}/job.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub title: String,
    pub created_at_ms: u64,
    /// Requested rung numbers; `None` for the default ladder.
    pub heights: Option<Vec<u32>>,
    pub segment_seconds: f64,
    pub format: SegmentFormat,
    /// File name of the source inside the job directory (`source.mp4`): the upload, or a
    /// symlink to the library file being prepared.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibrarySource>,
    /// Subtitle files uploaded with the source, kept in the job directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtitle_files: Vec<SubtitleFileSpec>,
}

/// An uploaded subtitle file, as the job keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtitleFileSpec {
    /// File name inside the job directory (`subtitles0.srt`).
    pub file: String,
    /// BCP 47 language, when the upload gave one.
    pub language: Option<String>,
    /// The name it was uploaded under.
    pub uploaded_as: String,
}

impl JobSpec {
    /// A plain upload's spec named `title` (unit tests of the coordinations).
    #[cfg(test)]
    pub(crate) fn example(title: &str) -> JobSpec {
        JobSpec {
            title: title.into(),
            created_at_ms: 1,
            heights: None,
            segment_seconds: 4.0,
            format: SegmentFormat::Fmp4,
            source: "source.mp4".into(),
            library: None,
            subtitle_files: Vec::new(),
        }
    }

    /// The engine's options for this job (whose directory is `job_dir`) under the
    /// process's `limits` (those of the process that runs it, which may not be the one
    /// that accepted it).
    pub fn options(&self, limits: &Limits, job_dir: &Path) -> TranscodeOptions {
        TranscodeOptions {
            heights: self.heights.clone(),
            segment_seconds: self.segment_seconds,
            format: self.format,
            limits: limits.clone(),
            subtitle_files: self
                .subtitle_files
                .iter()
                .map(|f| SubtitleFile {
                    path: job_dir.join(&f.file),
                    language: f.language.clone(),
                    file_name: f.uploaded_as.clone(),
                })
                .collect(),
            ..TranscodeOptions::default()
        }
    }

    /// Reads `job.json` of a job directory.
    pub fn read(job_dir: &Path) -> std::io::Result<JobSpec> {
        let bytes = std::fs::read(job_dir.join("job.json"))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// Reads `job.json` of a job directory whose source is still there; `None` when either
    /// is missing or unreadable.
    pub fn read_with_source(job_dir: &Path) -> Option<JobSpec> {
        JobSpec::read(job_dir)
            .ok()
            .filter(|s| job_dir.join(&s.source).is_file())
    }

    /// Writes `job.json` into a job directory (atomically).
    pub fn write(&self, job_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&job_dir.join("job.json"), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_its_file_and_needs_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let spec = JobSpec {
            title: "t".into(),
            created_at_ms: 1,
            heights: Some(vec![360]),
            segment_seconds: 2.0,
            format: SegmentFormat::Fmp4,
            source: "source.mp4".into(),
            library: None,
            subtitle_files: Vec::new(),
        };
        spec.write(dir.path()).unwrap();
        assert_eq!(JobSpec::read(dir.path()).unwrap(), spec);
        assert_eq!(JobSpec::read_with_source(dir.path()), None, "no source yet");
        std::fs::write(dir.path().join("source.mp4"), b"x").unwrap();
        assert_eq!(JobSpec::read_with_source(dir.path()), Some(spec));
    }
}

//! Whole-file replacement that readers never see half-done: write a sibling temp file,
//! flush it, rename it over the target. A reader opens either the old file or the new
//! one. Playlists, manifests and segments are all written this way.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (same directory temp file + rename).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data().ok();
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

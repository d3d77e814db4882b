//! [`StaticRoot`]: a folder that files are served from, and the only way the server opens
//! a file for a client.
//!
//! Two walls keep requests inside the folder:
//!
//! 1. [`RelPath::parse`] takes the raw (still percent-encoded) URL tail and decodes each
//!    segment exactly once. Empty segments (`//`, absolute paths), `.` and `..` (however
//!    encoded), backslashes and NUL are refused with 400; hidden names (a leading dot) are
//!    not found. A double-encoded `%252e%252e` decodes to the literal name `%2e%2e`, which
//!    is just a file that does not exist.
//! 2. [`StaticRoot::open`] opens the file relative to a descriptor of the folder with
//!    `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses any
//!    resolution, symlinks included, that would leave the folder (403). Kernels without
//!    `openat2` (before 5.6) get the same check in user space through `canonicalize`.
//!
//! Nothing here redirects: a directory is "not found", never a listing.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::error::ApiError;

/// A request path known to be a plain relative path of visible names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath(PathBuf);

impl RelPath {
    /// Checks the raw URL tail after a route prefix (`/media/`, `/library/`).
    pub fn parse(raw: &str) -> Result<RelPath, ApiError> {
        if raw.is_empty() {
            return Err(ApiError::NotFound);
        }
        let segments: Vec<&str> = raw.split('/').collect();
        let mut path = PathBuf::new();
        for (i, segment) in segments.iter().enumerate() {
            if segment.is_empty() {
                // A trailing slash asks for a directory: there are no listings.
                return Err(if i + 1 == segments.len() {
                    ApiError::NotFound
                } else {
                    ApiError::BadPath
                });
            }
            let bytes: Vec<u8> = percent_decode_str(segment).collect();
            if bytes == b"." || bytes == b".." || bytes.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
                return Err(ApiError::BadPath);
            }
            if bytes.starts_with(b".") {
                return Err(ApiError::NotFound);
            }
            path.push(OsStr::from_bytes(&bytes));
        }
        Ok(RelPath(path))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The first segment (a video id under `/media/`).
    pub fn first(&self) -> &str {
        self.0
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("")
    }

    /// Lowercase extension of the last segment.
    pub fn extension(&self) -> String {
        self.0
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
    }

    pub fn file_name(&self) -> &str {
        self.0.file_name().and_then(OsStr::to_str).unwrap_or("")
    }

    /// The path as a store key (`{id}/720p/seg00001.m4s`): plain segments joined by `/`.
    pub fn key(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    pub fn depth(&self) -> usize {
        self.0.components().count()
    }
}

/// An opened folder to serve from.
#[derive(Debug)]
pub struct StaticRoot {
    dir: OwnedFd,
    path: PathBuf,
    canonical: PathBuf,
}

impl StaticRoot {
    pub fn new(path: &Path) -> std::io::Result<StaticRoot> {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(StaticRoot {
            dir,
            path: path.to_path_buf(),
            canonical: path.canonicalize()?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a regular file below the root for reading; anything else (a directory, a
    /// device, a FIFO) is "not found".
    pub fn open(&self, rel: &RelPath) -> Result<File, ApiError> {
        let file = self.open_any(rel)?;
        let meta = file
            .metadata()
            .map_err(|e| ApiError::internal("reading file metadata", e))?;
        if !meta.is_file() {
            return Err(ApiError::NotFound);
        }
        Ok(file)
    }

    /// Like [`open`](Self::open) without the file type check, for a caller that makes it
    /// from the `fstat` it does anyway (the media handler: one syscall less per request).
    pub fn open_any(&self, rel: &RelPath) -> Result<File, ApiError> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        let file = match rustix::fs::openat2(
            &self.dir,
            rel.as_path(),
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => File::from(fd),
            Err(Errno::NOSYS) => self.open_checked_in_user_space(rel)?,
            Err(e) => return Err(open_error(e)),
        };
        Ok(file)
    }

    fn open_checked_in_user_space(&self, rel: &RelPath) -> Result<File, ApiError> {
        let full = self.path.join(rel.as_path());
        let real = full
            .canonicalize()
            .map_err(|e| open_error(Errno::from_io_error(&e).unwrap_or(Errno::NOENT)))?;
        if !real.starts_with(&self.canonical) {
            return Err(ApiError::Forbidden);
        }
        File::open(&real).map_err(|e| open_error(Errno::from_io_error(&e).unwrap_or(Errno::IO)))
    }
}

fn open_error(e: Errno) -> ApiError {
    match e {
        Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => ApiError::NotFound,
        // Resolution would leave the root (absolute or escaping symlink).
        Errno::XDEV | Errno::LOOP | Errno::ACCESS | Errno::PERM => ApiError::Forbidden,
        e => ApiError::internal("opening a file to serve", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: &str) -> Result<PathBuf, u16> {
        use actix_web::ResponseError;
        RelPath::parse(raw)
            .map(|p| p.0)
            .map_err(|e| e.status_code().as_u16())
    }

    #[test]
    fn plain_paths_pass() {
        assert_eq!(
            status("a/720p/seg00000.m4s"),
            Ok(PathBuf::from("a/720p/seg00000.m4s"))
        );
        assert_eq!(status("My%20Film.mkv"), Ok(PathBuf::from("My Film.mkv")));
        assert_eq!(status("%252e%252e"), Ok(PathBuf::from("%2e%2e")));
    }

    #[test]
    fn hostile_paths_fail() {
        for raw in [
            "..",
            "a/../b",
            "%2e%2e/x",
            "%2E%2E/x",
            ".%2e/x",
            "a/./b",
            "/etc/passwd",
            "a//b",
            "a%2f..%2fb",
            "..%5cx",
            "a%00b",
            "%2fetc%2fpasswd",
        ] {
            assert_eq!(status(raw), Err(400), "{raw}");
        }
        for raw in ["", "a/", ".hidden", "a/.tmp-x"] {
            assert_eq!(status(raw), Err(404), "{raw}");
        }
    }

    #[test]
    fn symlinks_out_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(tmp.path().join("secret"), b"x").unwrap();
        std::fs::write(root.join("sub/ok.txt"), b"ok").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../secret", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("sub/ok.txt", root.join("inside")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("dirlink")).unwrap();
        let r = StaticRoot::new(&root).unwrap();
        let open = |p: &str| {
            r.open(&RelPath::parse(p).unwrap())
                .map(|_| ())
                .map_err(|e| e.code())
        };
        assert_eq!(open("sub/ok.txt"), Ok(()));
        assert_eq!(open("inside"), Ok(()));
        assert_eq!(open("abs"), Err("forbidden"));
        assert_eq!(open("rel"), Err("forbidden"));
        assert_eq!(open("dirlink/secret"), Err("forbidden"));
        assert_eq!(open("sub"), Err("not_found"));
        let any = r.open_any(&RelPath::parse("sub").unwrap()).unwrap();
        assert!(any.metadata().unwrap().is_dir());
        assert_eq!(open("missing"), Err("not_found"));
    }
}

//! [`Location`]: where a store lives, parsed from `--store URL`.
//!
//! `file:///abs/path` is a folder on this machine (what `--media DIR` means);
//! `s3://BUCKET[/PREFIX]` is a bucket of any S3-compatible service, its settings taken from
//! the standard `AWS_*` variables.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder; the video tree sits directly in it.
    Folder(PathBuf),
    /// A bucket and a key prefix (no leading or trailing slash; empty for the bucket's top).
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parses `file:///abs/path` or `s3://bucket[/prefix]`; a plain path is a folder.
    pub fn parse(url: &str) -> Result<Location, String> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{url}: a file:// store needs an absolute path (file:///srv/media)"
                ));
            }
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .map_err(|_| format!("{url}: the path is not UTF-8"))?;
            return Ok(Location::Folder(PathBuf::from(decoded.as_ref())));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'));
            if !bucket_ok {
                return Err(format!(
                    "{url}: a bucket name is 3 to 63 lowercase letters, digits, dots or dashes"
                ));
            }
            let prefix = prefix.trim_matches('/');
            if prefix
                .split('/')
                .any(|s| (s.is_empty() && !prefix.is_empty()) || s == "." || s == "..")
            {
                return Err(format!("{url}: the prefix has an empty, . or .. part"));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if url.contains("://") {
            return Err(format!(
                "{url}: a store is file:///abs/path or s3://bucket[/prefix]"
            ));
        }
        Ok(Location::Folder(PathBuf::from(url)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Folder(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_kinds() {
        assert_eq!(
            Location::parse("file:///srv/media").unwrap(),
            Location::Folder("/srv/media".into())
        );
        assert_eq!(
            Location::parse("./media").unwrap(),
            Location::Folder("./media".into())
        );
        assert_eq!(
            Location::parse("s3://reel-media/prod/videos/").unwrap(),
            Location::S3 {
                bucket: "reel-media".into(),
                prefix: "prod/videos".into()
            }
        );
        assert_eq!(
            Location::parse("s3://abc").unwrap(),
            Location::S3 {
                bucket: "abc".into(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn refuses_what_cannot_be_a_store() {
        for bad in [
            "file://relative",
            "s3://ab",
            "s3://Upper",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "http://example.com/",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }
}

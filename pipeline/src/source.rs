//! Source objects: local files and directories, and `s3://bucket/prefix`.
//!
//! Listing turns what the user named into [`SourceObject`]s (with a size and a version, so
//! that the manifest can tell an object it has seen before without reading it). Objects in
//! a walked directory or prefix that are not event files by name (digests, AWS Config's
//! writability check, hidden files, other file types) are listed as skipped. Fetching
//! ([`fetch`]) gets an object's bytes for an ingest to read.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::files::walk;
use crate::s3;
use crate::{Error, Result};

/// Where a source object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectLoc {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

/// One object to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// `file:///abs/path` or `s3://bucket/key`: the provenance written into every row.
    pub uri: String,
    pub size: u64,
    /// ETag (S3) or modification time in nanoseconds (files).
    pub version: String,
    pub loc: ObjectLoc,
    /// Why the object is skipped without being read (by its name), if it is.
    pub skip: Option<&'static str>,
}

/// The skip reason of names whose extension says they are not JSON.
pub const NOT_JSON_BY_NAME: &str = "not a JSON file by its name";

/// Why a name found while walking is not read, if it is not.
pub fn skip_reason(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.contains("/CloudTrail-Digest/") || name.contains("_CloudTrail-Digest_") {
        return Some("CloudTrail digest file");
    }
    if name == "ConfigWritabilityCheckFile" {
        return Some("AWS Config writability check");
    }
    if name.starts_with('.') || name.starts_with('_') {
        return Some("hidden file");
    }
    let lower = name.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    match lower.rsplit_once('.') {
        None => None,
        Some((_, "json" | "jsonl" | "ndjson" | "log" | "txt")) => None,
        Some((_, ext)) if ext.len() <= 10 && ext.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(NOT_JSON_BY_NAME)
        }
        Some(_) => None,
    }
}

/// List the objects named by `src` (a file, a directory, or `s3://bucket/prefix`). Files
/// named directly are always read, whatever their name.
pub async fn list(src: &str, s3: Option<&s3::Client>) -> Result<Vec<SourceObject>> {
    if src.starts_with("s3://") {
        let (bucket, prefix) = s3::parse_uri(src).ok_or_else(|| Error::InvalidUri {
            uri: src.to_string(),
            reason: "expected s3://bucket/prefix".into(),
        })?;
        let client = s3.ok_or_else(|| Error::InvalidUri {
            uri: src.to_string(),
            reason: "S3 sources need an S3 client".into(),
        })?;
        return list_s3(client, &bucket, &prefix).await;
    }
    if src.contains("://") {
        return Err(Error::InvalidUri {
            uri: src.to_string(),
            reason: "a CloudTrail source is a file, a directory or s3://bucket/prefix".into(),
        });
    }
    let path = Path::new(src);
    let meta = std::fs::metadata(path).map_err(|e| Error::io("reading source", path, e))?;
    let root = path
        .canonicalize()
        .map_err(|e| Error::io("reading source", path, e))?;
    let mut out = Vec::new();
    if meta.is_file() {
        out.push(file_object(&root, &meta, None));
        return Ok(out);
    }
    let mut err = None;
    walk(&root, &mut |p| match std::fs::metadata(p) {
        Ok(m) => {
            let rel = p
                .strip_prefix(&root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/");
            let skip = skip_reason(&format!("/{rel}"));
            out.push(file_object(p, &m, skip));
        }
        Err(e) => err = Some(Error::io("reading source", p, e)),
    })
    .map_err(|e| Error::io("listing", &root, e))?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn file_object(path: &Path, meta: &std::fs::Metadata, skip: Option<&'static str>) -> SourceObject {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    SourceObject {
        uri: format!("file://{}", path.display()),
        size: meta.len(),
        version: mtime.to_string(),
        loc: ObjectLoc::File(path.to_path_buf()),
        skip,
    }
}

async fn list_s3(client: &s3::Client, bucket: &str, prefix: &str) -> Result<Vec<SourceObject>> {
    let listed = s3::list(client, bucket, prefix).await?;
    Ok(listed
        .into_iter()
        .filter(|obj| !obj.key.ends_with('/'))
        .map(|obj| SourceObject {
            uri: format!("s3://{bucket}/{}", obj.key),
            size: obj.size,
            version: obj.etag,
            skip: skip_reason(&format!("/{}", obj.key)),
            loc: ObjectLoc::S3 {
                bucket: bucket.to_string(),
                key: obj.key,
            },
        })
        .collect())
}

/// Where a fetched object's bytes are.
#[derive(Debug)]
pub enum Body {
    /// A local file, not read yet (the reader decides how).
    File(PathBuf),
    Bytes(bytes::Bytes),
    /// An S3 object too large for memory, downloaded; the file is deleted when this drops.
    Temp(tempfile::NamedTempFile),
}

impl Body {
    /// The bytes, in memory (files are read whole).
    pub fn into_bytes(self) -> std::io::Result<bytes::Bytes> {
        match self {
            Body::Bytes(b) => Ok(b),
            Body::File(path) => std::fs::read(path).map(bytes::Bytes::from),
            Body::Temp(t) => std::fs::read(t.path()).map(bytes::Bytes::from),
        }
    }
}

/// Get `obj`'s bytes: local files are left in place; S3 objects up to `in_memory_max` bytes
/// are downloaded into memory, larger ones streamed to a temporary file.
pub async fn fetch(
    obj: &SourceObject,
    s3: Option<&s3::Client>,
    in_memory_max: u64,
) -> Result<Body> {
    match &obj.loc {
        ObjectLoc::File(path) => Ok(Body::File(path.clone())),
        ObjectLoc::S3 { bucket, key } => {
            let client = s3.ok_or_else(|| Error::InvalidUri {
                uri: obj.uri.clone(),
                reason: "no S3 client".into(),
            })?;
            if obj.size <= in_memory_max {
                s3::get_bytes(client, bucket, key).await.map(Body::Bytes)
            } else {
                s3::get_to_temp_file(client, bucket, key)
                    .await
                    .map(Body::Temp)
            }
        }
    }
}

/// The account and region an `AWSLogs/…/CloudTrail/<region>/…` key names, for records that
/// do not say.
pub fn path_account_region(uri: &str) -> (Option<&str>, Option<&str>) {
    let Some((_, rest)) = uri.split_once("AWSLogs/") else {
        return (None, None);
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let account = segs
        .iter()
        .position(|s| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()));
    let region = segs
        .iter()
        .position(|s| *s == "CloudTrail" || *s == "CloudTrail-Insight")
        .and_then(|i| segs.get(i + 1))
        .copied();
    (account.map(|i| segs[i]), region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_skipped() {
        assert_eq!(
            skip_reason("/AWSLogs/1/CloudTrail/us-east-1/2024/01/01/x.json.gz"),
            None
        );
        assert!(
            skip_reason("/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz").is_some()
        );
        assert!(skip_reason("/AWSLogs/1/ConfigWritabilityCheckFile").is_some());
        assert!(skip_reason("/export/.DS_Store").is_some());
        assert!(skip_reason("/export/notes.md").is_some());
        assert!(skip_reason("/export/lake.parquet").is_some());
        assert_eq!(skip_reason("/export/events"), None);
        assert_eq!(skip_reason("/export/events.ndjson"), None);
        assert_eq!(skip_reason("/export/test-us-gov-arn.log"), None);
        assert_eq!(skip_reason("/export/part.00001"), None);
    }

    #[test]
    fn account_and_region_from_keys() {
        assert_eq!(
            path_account_region(
                "s3://b/AWSLogs/o-abc/123456789012/CloudTrail/eu-west-1/2024/01/01/f.json.gz"
            ),
            (Some("123456789012"), Some("eu-west-1"))
        );
        assert_eq!(path_account_region("file:///tmp/x.json"), (None, None));
    }
}

//! The lake: a local directory or an `s3://bucket/prefix` holding Hive-partitioned zstd
//! Parquet tables, the `_manifest` of ingested source objects and the `_quarantine`.
//!
//! [`Lake`] is the one place that reads and writes lake objects, so every table writer works
//! the same on disk and on S3. Data files are staged (beside their final path on disk, in a
//! temporary directory for S3) and only put in place at commit, right before the manifest
//! that names them; see [`manifest`] for how a crashed run is cleaned up.

pub mod compact;
mod lock;
pub mod manifest;
pub mod quarantine;
pub mod writer;

use std::path::{Path, PathBuf};

/// The directory walk, here too for the callers that know it by this name.
pub use crate::files::walk;
use crate::s3;
use crate::{Error, Result};
pub use lock::TableLock;

/// Where a lake lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl LakeLocation {
    pub fn parse(uri: &str) -> Result<Self> {
        if uri.starts_with("s3://") {
            let (bucket, prefix) = s3::parse_uri(uri).ok_or_else(|| Error::InvalidUri {
                uri: uri.to_string(),
                reason: "expected s3://bucket/prefix".into(),
            })?;
            return Ok(LakeLocation::S3 {
                bucket,
                prefix: prefix.trim_end_matches('/').to_string(),
            });
        }
        if uri.contains("://") {
            return Err(Error::InvalidUri {
                uri: uri.to_string(),
                reason: "a lake is a local directory or s3://bucket/prefix".into(),
            });
        }
        Ok(LakeLocation::Local(PathBuf::from(uri)))
    }
}

/// An open lake.
#[derive(Clone)]
pub struct Lake {
    location: LakeLocation,
    s3: Option<s3::Client>,
    /// Local lakes: the root directory (created on open).
    root: PathBuf,
    /// S3 lakes: where files are staged before upload.
    /// Kept for its lifetime: the staging directory is removed when the last clone drops.
    _staging: Option<std::sync::Arc<tempfile::TempDir>>,
    /// S3 lakes: the table leases this process holds (see [`lock`]), by manifest table.
    leases: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<lock::Lease>>>,
    >,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("location", &self.location)
            .finish()
    }
}

impl Lake {
    /// Open (and for a local lake, create) a lake. `s3` is required for S3 lakes.
    pub fn open(uri: &str, s3: Option<s3::Client>) -> Result<Self> {
        let location = LakeLocation::parse(uri)?;
        match &location {
            LakeLocation::Local(path) => {
                std::fs::create_dir_all(path)
                    .map_err(|e| Error::io("creating lake directory", path, e))?;
                let root = path
                    .canonicalize()
                    .map_err(|e| Error::io("opening lake", path, e))?;
                Ok(Lake {
                    location: LakeLocation::Local(root.clone()),
                    s3: None,
                    root,
                    _staging: None,
                    leases: Default::default(),
                })
            }
            LakeLocation::S3 { .. } => {
                let s3 = s3.ok_or_else(|| Error::InvalidUri {
                    uri: uri.to_string(),
                    reason: "an S3 lake needs an S3 client".into(),
                })?;
                let staging = tempfile::Builder::new()
                    .prefix("trailhound-staging-")
                    .tempdir()
                    .map_err(|e| {
                        Error::io("creating staging directory", std::env::temp_dir(), e)
                    })?;
                Ok(Lake {
                    location,
                    s3: Some(s3),
                    root: staging.path().to_path_buf(),
                    _staging: Some(std::sync::Arc::new(staging)),
                    leases: Default::default(),
                })
            }
        }
    }

    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    /// The lake's address as a user wrote it (`/abs/dir` or `s3://bucket/prefix`).
    pub fn uri(&self) -> String {
        match &self.location {
            LakeLocation::Local(p) => p.display().to_string(),
            LakeLocation::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            LakeLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// The URL of a table directory, for query engines (`file:///…/cloudtrail/`,
    /// `s3://bucket/prefix/cloudtrail/`).
    pub fn table_url(&self, table: &str) -> String {
        match &self.location {
            LakeLocation::Local(p) => format!("file://{}/{table}/", p.display()),
            LakeLocation::S3 { .. } => format!("{}/{table}/", self.uri()),
        }
    }

    /// The URL of the file at `rel` (for a query engine).
    pub fn file_url(&self, rel: &str) -> String {
        match &self.location {
            LakeLocation::Local(p) => format!("file://{}/{rel}", p.display()),
            LakeLocation::S3 { .. } => format!("{}/{rel}", self.uri()),
        }
    }

    /// Whether this is a local lake.
    pub fn is_local(&self) -> bool {
        matches!(self.location, LakeLocation::Local(_))
    }

    /// The local file where `rel` is staged before [`Lake::commit_file`] puts it in place.
    pub fn staging_path(&self, rel: &str) -> PathBuf {
        match &self.location {
            LakeLocation::Local(p) => p.join(format!("{rel}.inprogress")),
            LakeLocation::S3 { .. } => self.root.join(rel),
        }
    }

    /// The bucket and key of a lake object, with the client to reach it (S3 lakes only).
    fn s3_key(&self, rel: &str) -> Result<(&s3::Client, String, String)> {
        match (&self.location, &self.s3) {
            (LakeLocation::S3 { bucket, prefix }, Some(client)) => {
                let key = if prefix.is_empty() {
                    rel.to_string()
                } else {
                    format!("{prefix}/{rel}")
                };
                Ok((client, bucket.clone(), key))
            }
            _ => Err(Error::InvalidUri {
                uri: self.uri(),
                reason: "not an S3 lake, or no S3 client".into(),
            }),
        }
    }

    /// Put a staged file in place as `rel`.
    pub async fn commit_file(&self, staged: &Path, rel: &str) -> Result<()> {
        match &self.location {
            LakeLocation::Local(p) => {
                let dest = p.join(rel);
                std::fs::rename(staged, &dest).map_err(|e| Error::io("committing", &dest, e))
            }
            LakeLocation::S3 { .. } => {
                let (client, bucket, key) = self.s3_key(rel)?;
                s3::put_file(client, &bucket, &key, staged).await?;
                let _ = std::fs::remove_file(staged);
                Ok(())
            }
        }
    }

    /// Write a small object whole (atomically on disk: temporary file, then rename).
    pub async fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        match &self.location {
            LakeLocation::Local(p) => {
                let dest = p.join(rel);
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io("creating directory", dir, e))?;
                }
                let tmp = p.join(format!("{rel}.inprogress"));
                std::fs::write(&tmp, &bytes).map_err(|e| Error::io("writing", &tmp, e))?;
                std::fs::rename(&tmp, &dest).map_err(|e| Error::io("committing", &dest, e))
            }
            LakeLocation::S3 { .. } => {
                let (client, bucket, key) = self.s3_key(rel)?;
                s3::put_bytes(client, &bucket, &key, bytes).await
            }
        }
    }

    /// Read a whole object.
    pub async fn get_bytes(&self, rel: &str) -> Result<Vec<u8>> {
        match &self.location {
            LakeLocation::Local(p) => {
                let path = p.join(rel);
                std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))
            }
            LakeLocation::S3 { .. } => {
                let (client, bucket, key) = self.s3_key(rel)?;
                Ok(s3::get_bytes(client, &bucket, &key).await?.to_vec())
            }
        }
    }

    /// Every object under `rel_prefix` (a directory such as `_manifest/`), as paths relative
    /// to the lake root, sorted.
    pub async fn list(&self, rel_prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match &self.location {
            LakeLocation::Local(p) => {
                let dir = p.join(rel_prefix);
                if dir.is_dir() {
                    walk(&dir, &mut |path| {
                        if let Ok(rel) = path.strip_prefix(p) {
                            out.push(rel.to_string_lossy().replace('\\', "/"));
                        }
                    })
                    .map_err(|e| Error::io("listing", &dir, e))?;
                }
            }
            LakeLocation::S3 { .. } => {
                out = self
                    .list_s3(rel_prefix)
                    .await?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
            }
        }
        out.sort();
        Ok(out)
    }

    /// The objects of an S3 lake under `rel_prefix`, lake-relative, with their sizes.
    async fn list_s3(&self, rel_prefix: &str) -> Result<Vec<(String, u64)>> {
        let (client, bucket, key_prefix) = self.s3_key(rel_prefix)?;
        let strip = key_prefix.len() - rel_prefix.len();
        Ok(s3::list(client, &bucket, &key_prefix)
            .await?
            .into_iter()
            .map(|obj| (obj.key[strip..].to_string(), obj.size))
            .collect())
    }

    /// [`Lake::list`] with each object's size in bytes.
    pub async fn list_sized(&self, rel_prefix: &str) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        match &self.location {
            LakeLocation::Local(p) => {
                for rel in self.list(rel_prefix).await? {
                    let path = p.join(&rel);
                    match std::fs::metadata(&path) {
                        Ok(m) => out.push((rel, m.len())),
                        // Removed since it was listed.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io("reading", &path, e)),
                    }
                }
            }
            LakeLocation::S3 { .. } => {
                out = self.list_s3(rel_prefix).await?;
                out.sort();
            }
        }
        Ok(out)
    }

    /// Delete one object (missing objects are fine).
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match &self.location {
            LakeLocation::Local(p) => {
                let path = p.join(rel);
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io("deleting", &path, e)),
                }
            }
            LakeLocation::S3 { .. } => {
                let (client, bucket, key) = self.s3_key(rel)?;
                s3::delete(client, &bucket, &key).await
            }
        }
    }

    fn remember_lease(&self, table: &str, lease: std::sync::Arc<lock::Lease>) {
        if let Ok(mut leases) = self.leases.lock() {
            leases.insert(table.to_string(), lease);
        }
    }

    fn forget_lease(&self, table: &str) {
        if let Ok(mut leases) = self.leases.lock() {
            leases.remove(table);
        }
    }

    fn lease(&self, table: &str) -> Option<std::sync::Arc<lock::Lease>> {
        self.leases.lock().ok()?.get(table).cloned()
    }
}

/// A partition value made safe for a path segment: letters, digits, `-`, `_` and `.` are
/// kept, anything else becomes `_`; an empty value becomes `unknown`.
pub fn partition_value(v: &str) -> std::borrow::Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !v.is_empty() && v.len() <= 64 && v.chars().all(ok) && v != "." && v != ".." {
        return std::borrow::Cow::Borrowed(v);
    }
    if v.is_empty() {
        return std::borrow::Cow::Borrowed("unknown");
    }
    let cleaned: String = v
        .chars()
        .take(64)
        .map(|c| if ok(c) { c } else { '_' })
        .collect();
    std::borrow::Cow::Owned(if cleaned.chars().all(|c| c == '.') {
        "_".into()
    } else {
        cleaned
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_path_safe() {
        assert_eq!(partition_value("123456789012"), "123456789012");
        assert_eq!(partition_value("us-east-1"), "us-east-1");
        assert_eq!(partition_value(""), "unknown");
        assert_eq!(partition_value("a/b"), "a_b");
        assert_eq!(partition_value(".."), "_");
        assert_eq!(partition_value(&"x".repeat(100)).len(), 64);
    }

    #[tokio::test]
    async fn one_writer_per_table_and_tables_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), None).unwrap();
        let cloudtrail = lake.lock("cloudtrail").await.unwrap();
        // The Lambda tables are another writer's to take…
        let _lambda = lake.lock("lambda").await.unwrap();
        // …but a second CloudTrail writer is refused, naming the lock.
        let err = lake.lock("cloudtrail").await.unwrap_err().to_string();
        assert!(err.contains("cloudtrail.lock"), "{err}");
        drop(cloudtrail);
        lake.lock("cloudtrail").await.unwrap();
    }

    #[test]
    fn locations() {
        assert_eq!(
            LakeLocation::parse("s3://b/p/").unwrap(),
            LakeLocation::S3 {
                bucket: "b".into(),
                prefix: "p".into()
            }
        );
        assert!(LakeLocation::parse("gs://b/p").is_err());
        assert_eq!(
            LakeLocation::parse("lake").unwrap(),
            LakeLocation::Local("lake".into())
        );
    }
}

//! `_manifest`: which source objects a table has ingested.
//!
//! Each committed segment of an ingest run writes one manifest file,
//! `_manifest/<table>/<run>-<segment>.json`, naming the source objects it read (URI, size,
//! version, content hash, counts) and the data files it added. The manifest is written last:
//! a data file whose run and segment have no manifest belongs to a run that stopped before
//! committing, and the next ingest removes it ([`clean_orphans`]) — its sources were not
//! recorded, so they are read again and nothing is lost or counted twice.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Lake;
use crate::{Error, Result};

/// What happened to a source object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Read; its events are in the lake (bad records, if any, in the quarantine).
    Ingested,
    /// Not an event file (a digest, other JSON): nothing to ingest.
    Skipped,
    /// Could not be read as events at all; a copy is in the quarantine.
    Quarantined,
    /// Same bytes as an object ingested before under another address.
    Duplicate,
}

/// One source object in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceEntry {
    pub uri: String,
    pub size: u64,
    /// ETag for S3 objects, `mtime` in nanoseconds for files.
    pub version: String,
    /// xxh3-128 of the object's bytes as stored.
    pub hash: String,
    pub status: SourceStatus,
    pub events: u64,
    pub records_quarantined: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One manifest file: a committed segment of an ingest run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub table: String,
    pub run: String,
    pub segment: u32,
    pub committed_at: String,
    pub tool: String,
    pub data_files: Vec<String>,
    pub quarantine_files: Vec<String>,
    pub sources: Vec<SourceEntry>,
    /// State a later run continues from (e.g. Lambda invocations still open), written with
    /// this commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_files: Vec<String>,
    /// A compaction's manifest: the commits whose manifests it replaces (their files stay
    /// committed under their names)…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// …and the data files it merged into its own (removed; see [`super::compact`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_files: Vec<String>,
}

impl Manifest {
    /// Read the manifest at `rel` in `lake`.
    pub async fn read(lake: &Lake, rel: &str) -> Result<Manifest> {
        let bytes = lake.get_bytes(rel).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            path: format!("{}/{rel}", lake.uri()),
            message: e.to_string(),
        })
    }

    pub fn rel_path(table: &str, run: &str, segment: u32) -> String {
        format!("_manifest/{table}/{}", commit_id(run, segment) + ".json")
    }
}

/// `<run>-<segment>`, the commit a data file belongs to.
pub fn commit_id(run: &str, segment: u32) -> String {
    format!("{run}-{segment:05}")
}

/// What earlier runs ingested, for skipping known objects.
#[derive(Debug, Default)]
pub struct ManifestIndex {
    by_uri: HashMap<String, (u64, String, u64)>,
    by_hash: HashMap<String, u64>,
    commits: HashSet<String>,
    /// The state files of the latest commit that wrote any: (commit id, files).
    latest_state: Option<(String, Vec<String>)>,
    /// Data files a compaction merged into another: removed, never read.
    replaced: HashSet<String>,
}

impl ManifestIndex {
    /// Load every manifest of `table`.
    pub async fn load(lake: &Lake, table: &str) -> Result<Self> {
        let mut index = ManifestIndex::default();
        for rel in lake.list(&format!("_manifest/{table}/")).await? {
            if !rel.ends_with(".json") {
                continue;
            }
            let m = Manifest::read(lake, &rel).await?;
            let commit = commit_id(&m.run, m.segment);
            // Run ids are time-ordered (UUIDv7), so the greatest commit id is the latest.
            if !m.state_files.is_empty()
                && index
                    .latest_state
                    .as_ref()
                    .is_none_or(|(latest, _)| *latest < commit)
            {
                index.latest_state = Some((commit.clone(), m.state_files.clone()));
            }
            index.commits.insert(commit);
            index.commits.extend(m.commits);
            index.replaced.extend(m.replaced_files);
            for s in m.sources {
                if s.status != SourceStatus::Duplicate && !s.hash.is_empty() {
                    index.by_hash.insert(s.hash.clone(), s.events);
                }
                index.by_uri.insert(s.uri, (s.size, s.version, s.events));
            }
        }
        Ok(index)
    }

    /// The events recorded for this exact object version, when it was ingested before.
    pub fn known(&self, uri: &str, size: u64, version: &str) -> Option<u64> {
        match self.by_uri.get(uri) {
            Some((s, v, events)) if *s == size && v == version => Some(*events),
            _ => None,
        }
    }

    /// Whether an object was recorded under this URI in another version.
    pub fn changed(&self, uri: &str) -> bool {
        self.by_uri.contains_key(uri)
    }

    /// The events recorded for an object with these bytes, when one was ingested before.
    pub fn known_hash(&self, hash: &str) -> Option<u64> {
        self.by_hash.get(hash).copied()
    }

    pub fn is_committed(&self, commit: &str) -> bool {
        self.commits.contains(commit)
    }

    /// The state files of the latest commit that wrote state.
    pub fn latest_state(&self) -> &[String] {
        self.latest_state.as_ref().map_or(&[], |(_, files)| files)
    }

    pub fn sources(&self) -> usize {
        self.by_uri.len()
    }

    /// Whether a compaction merged this data file into another.
    pub fn is_replaced(&self, rel: &str) -> bool {
        self.replaced.contains(rel)
    }
}

/// The commit (`<run>-<segment>`) a data or quarantine file name belongs to:
/// `part-<run>-<segment>-…` or `<run>-<segment>-…`.
pub fn commit_of(file_name: &str) -> Option<String> {
    let name = file_name.strip_prefix("part-").unwrap_or(file_name);
    let mut parts = name.splitn(3, '-');
    let (run, seg) = (parts.next()?, parts.next()?);
    (run.len() == 32
        && run.bytes().all(|b| b.is_ascii_hexdigit())
        && seg.len() == 5
        && seg.bytes().all(|b| b.is_ascii_digit()))
    .then(|| format!("{run}-{seg}"))
}

/// Remove what runs that stopped before committing left behind under `table/`, in the
/// quarantine and in `_state/`. Returns how many files were removed.
pub async fn clean_orphans(lake: &Lake, table: &str, index: &ManifestIndex) -> Result<usize> {
    let mut removed = 0;
    for prefix in [
        format!("{table}/"),
        format!("_quarantine/{table}/"),
        format!("_state/{table}/"),
    ] {
        for rel in lake.list(&prefix).await? {
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            let orphan = name.ends_with(".inprogress")
                || commit_of(name).is_some_and(|c| !index.is_committed(&c))
                || index.is_replaced(&rel);
            if orphan {
                tracing::warn!(file = %rel, "removing a file of an ingest that did not commit");
                lake.delete(&rel).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ids_from_names() {
        let run = "0193a0b0c0d0e0f00112233445566778";
        assert_eq!(
            commit_of(&format!("part-{run}-00002-w1-3.parquet")),
            Some(format!("{run}-00002"))
        );
        assert_eq!(
            commit_of(&format!("{run}-00000-w0.ndjson")),
            Some(format!("{run}-00000"))
        );
        assert_eq!(commit_of("part-0.parquet"), None);
        assert_eq!(commit_of("user-file.parquet"), None);
    }
}

//! Compaction: many small data files and manifests into few.
//!
//! Frequent small commits — the streaming watch commits every poll — leave a partition with a
//! file per poll and `_manifest/` with a manifest per poll; queries then spend their time
//! opening files, and every ingest reads every manifest. A compaction merges a partition's
//! small committed files into one, and the small manifests into one, as its own commit:
//!
//! 1. the merged files are written (named by the compaction's commit: until its manifest
//!    exists they are orphans, removed by the next ingest);
//! 2. its manifest is written, naming the merged files, the sources, quarantine and state of
//!    the manifests it replaces, their commit ids (`commits`: their files stay committed) and
//!    the files it merged (`replaced_files`);
//! 3. the merged-away files are removed, then the state files the newest state superseded,
//!    then the replaced manifests.
//!
//! A crash after 2 leaves files that are both merged and present until the next ingest or
//! compaction removes them ([`super::manifest::clean_orphans`] removes replaced files);
//! nothing is lost. Compaction takes the lake's ingest lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::Lake;
use super::manifest::{Manifest, commit_id, commit_of};
use crate::{Error, Result};

/// Files up to 256 KiB are tier 0; each tier holds files up to `TIER_FACTOR` times bigger.
const TIER_FACTOR: u64 = 8;

fn tier(size: u64) -> u32 {
    let mut t = 0;
    let mut bound = 256 << 10;
    while size > bound {
        bound *= TIER_FACTOR;
        t += 1;
    }
    t
}

/// Whether a data file's name is a compaction's (`part-<run>-<segment>-c<n>.parquet`): its
/// rows are those of the files it replaced.
pub fn is_merged(file_name: &str) -> bool {
    commit_of(file_name).is_some_and(|c| {
        file_name
            .strip_prefix("part-")
            .and_then(|n| n.strip_prefix(c.as_str()))
            .is_some_and(|rest| rest.starts_with("-c"))
    })
}

/// When to compact.
#[derive(Debug, Clone, Copy)]
pub struct CompactOptions {
    /// A partition's files of one size tier are merged once there are this many…
    pub min_files: usize,
    /// …files under this size being small (larger ones are left as they are).
    pub small_file_bytes: u64,
    /// At most this many bytes of files are merged into one.
    pub max_merged_bytes: u64,
    /// Manifests are merged once there are this many small ones…
    pub min_manifests: usize,
    /// …manifests under this size being small.
    pub small_manifest_bytes: u64,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            min_files: 8,
            small_file_bytes: 16 << 20,
            max_merged_bytes: 64 << 20,
            min_manifests: 16,
            small_manifest_bytes: 4 << 20,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Compacted {
    pub files_merged: usize,
    pub files_written: usize,
    pub rows: u64,
    pub manifests_merged: usize,
    /// Files left by an interrupted compaction, removed.
    pub leftovers_removed: usize,
}

/// Compact the data tables `tables` (name and Parquet settings) whose commits are recorded
/// under `_manifest/<manifest_table>/`.
pub async fn compact(
    lake: &Lake,
    manifest_table: &str,
    tables: &[(&str, Arc<WriterProperties>)],
    opts: &CompactOptions,
) -> Result<Compacted> {
    compact_only(lake, manifest_table, tables, opts, &|_| true).await
}

/// [`compact`], merging only the data files (paths relative to the lake) `only` accepts:
/// the watch merges only files whose rows its shared views have counted.
pub async fn compact_only(
    lake: &Lake,
    manifest_table: &str,
    tables: &[(&str, Arc<WriterProperties>)],
    opts: &CompactOptions,
    only: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Compacted> {
    let _lock = lake.lock(manifest_table).await?;
    let mut out = Compacted::default();
    let prefix = format!("_manifest/{manifest_table}/");
    let mut manifests: Vec<(String, u64, Manifest)> = Vec::new();
    for (rel, size) in lake.list_sized(&prefix).await? {
        if !rel.ends_with(".json") {
            continue;
        }
        let m = Manifest::read(lake, &rel).await?;
        manifests.push((rel, size, m));
    }
    let mut committed: BTreeSet<String> = BTreeSet::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for (_, _, m) in &manifests {
        committed.insert(commit_id(&m.run, m.segment));
        committed.extend(m.commits.iter().cloned());
        replaced.extend(m.replaced_files.iter().cloned());
    }

    let run = uuid::Uuid::now_v7().simple().to_string();
    let commit = commit_id(&run, 0);
    let mut written = Vec::new();
    let mut merged_away = Vec::new();
    for (table, props) in tables {
        // Committed small files by partition directory.
        let mut by_dir: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for (rel, size) in lake.list_sized(&format!("{table}/")).await? {
            if replaced.contains(&rel) {
                // A compaction stopped before removing what it merged.
                lake.delete(&rel).await?;
                out.leftovers_removed += 1;
                continue;
            }
            let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
            let committed_file = name.ends_with(".parquet")
                && commit_of(name).is_some_and(|c| committed.contains(&c));
            if committed_file && size < opts.small_file_bytes && only(&rel) {
                by_dir.entry(dir.to_string()).or_default().push((rel, size));
            }
        }
        for (dir, files) in by_dir {
            // Size tiers (each `TIER_FACTOR` times the one below): files merge with files of
            // their own tier, so a byte is rewritten about once per tier, not once per merge.
            let mut tiers: BTreeMap<u32, Vec<(String, u64)>> = BTreeMap::new();
            for f in files {
                tiers.entry(tier(f.1)).or_default().push(f);
            }
            for (_, mut files) in tiers {
                if files.len() < opts.min_files {
                    continue;
                }
                // Oldest first (names carry time-ordered run ids), up to the size bound.
                files.sort();
                let mut total = 0;
                files.retain(|(_, size)| {
                    total += size;
                    total <= opts.max_merged_bytes
                });
                if files.len() < 2 {
                    continue;
                }
                let rel = format!("{dir}/part-{commit}-c{}.parquet", written.len());
                let rows = merge(lake, &files, &rel, props.clone()).await?;
                out.rows += rows;
                out.files_merged += files.len();
                written.push(rel);
                merged_away.extend(files.into_iter().map(|(r, _)| r));
            }
        }
    }

    let small: Vec<&(String, u64, Manifest)> = manifests
        .iter()
        .filter(|(_, size, _)| *size < opts.small_manifest_bytes)
        .collect();
    if written.is_empty() && small.len() < opts.min_manifests {
        return Ok(out);
    }
    // The state files a later ingest continues from: those of the newest commit with state.
    // They move into this (newer) manifest only when the manifest holding them is merged.
    let newest_state = manifests
        .iter()
        .filter(|(_, _, m)| !m.state_files.is_empty())
        .max_by_key(|(_, _, m)| commit_id(&m.run, m.segment));
    let mut m = Manifest {
        format: 1,
        table: manifest_table.to_string(),
        run: run.clone(),
        segment: 0,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tool: format!("trailhound {} (compaction)", env!("CARGO_PKG_VERSION")),
        data_files: written.clone(),
        quarantine_files: Vec::new(),
        sources: Vec::new(),
        state_files: Vec::new(),
        commits: Vec::new(),
        replaced_files: merged_away.clone(),
    };
    let away: BTreeSet<&String> = merged_away.iter().collect();
    for (rel, _, old) in &small {
        m.commits.push(commit_id(&old.run, old.segment));
        m.commits.extend(old.commits.iter().cloned());
        m.data_files
            .extend(old.data_files.iter().filter(|f| !away.contains(f)).cloned());
        m.quarantine_files
            .extend(old.quarantine_files.iter().cloned());
        m.sources.extend(old.sources.iter().cloned());
        // Replaced files of merged manifests stay named until they are surely gone.
        m.replaced_files.extend(
            old.replaced_files
                .iter()
                .filter(|f| !away.contains(f))
                .cloned(),
        );
        if newest_state.is_some_and(|(r, _, _)| r == rel) {
            m.state_files = old.state_files.clone();
        }
    }
    let bytes = serde_json::to_vec_pretty(&m).map_err(|e| Error::Manifest {
        path: Manifest::rel_path(manifest_table, &run, 0),
        message: e.to_string(),
    })?;
    lake.put_manifest(&Manifest::rel_path(manifest_table, &run, 0), bytes)
        .await?;
    for rel in &merged_away {
        lake.delete(rel).await?;
    }
    // State that a newer commit's state superseded is never read again.
    for (_, _, old) in &small {
        for f in &old.state_files {
            if !m.state_files.contains(f) {
                lake.delete(f).await?;
            }
        }
    }
    for (rel, _, _) in &small {
        lake.delete(rel).await?;
    }
    out.files_written = written.len();
    out.manifests_merged = small.len();
    tracing::info!(
        table = manifest_table,
        files_merged = out.files_merged,
        files_written = out.files_written,
        manifests_merged = out.manifests_merged,
        "compacted"
    );
    Ok(out)
}

/// Merge `files` (lake-relative) into one file at `rel`: the rows in order, one writer.
async fn merge(
    lake: &Lake,
    files: &[(String, u64)],
    rel: &str,
    props: Arc<WriterProperties>,
) -> Result<u64> {
    let staged = lake.staging_path(rel);
    if let Some(dir) = staged.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
    }
    let mut inputs = Vec::with_capacity(files.len());
    for (f, _) in files {
        inputs.push((f.clone(), bytes::Bytes::from(lake.get_bytes(f).await?)));
    }
    let staged_clone = staged.clone();
    let lake_uri = lake.uri();
    let rows = tokio::task::spawn_blocking(move || -> Result<u64> {
        let parquet_err = |path: &str| {
            let path = format!("{lake_uri}/{path}");
            move |e: parquet::errors::ParquetError| Error::Parquet {
                path: path.clone(),
                source: e,
            }
        };
        let out =
            File::create(&staged_clone).map_err(|e| Error::io("creating", &staged_clone, e))?;
        let mut writer: Option<ArrowWriter<File>> = None;
        let mut out_file = Some(out);
        let mut rows = 0u64;
        let mut schema: Option<arrow::datatypes::SchemaRef> = None;
        for (path, bytes) in inputs {
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet_err(&path))?;
            if writer.is_none() {
                schema = Some(builder.schema().clone());
                writer = Some(
                    ArrowWriter::try_new(
                        out_file.take().expect("one writer"),
                        builder.schema().clone(),
                        Some((*props).clone()),
                    )
                    .map_err(parquet_err(&path))?,
                );
            }
            let w = writer.as_mut().expect("writer");
            if Some(builder.schema()) != schema.as_ref() {
                return Err(Error::Parquet {
                    path: format!("{lake_uri}/{path}"),
                    source: parquet::errors::ParquetError::General(
                        "its schema differs from the other files of the partition; not merged"
                            .into(),
                    ),
                });
            }
            let reader = builder
                .with_batch_size(64 * 1024)
                .build()
                .map_err(parquet_err(&path))?;
            for batch in reader {
                let batch = batch.map_err(|e| Error::Parquet {
                    path: format!("{lake_uri}/{path}"),
                    source: e.into(),
                })?;
                rows += batch.num_rows() as u64;
                w.write(&batch).map_err(parquet_err(&path))?;
            }
        }
        if let Some(w) = writer {
            w.close().map_err(parquet_err("merged file"))?;
        }
        Ok(rows)
    })
    .await
    .map_err(|e| Error::Worker(e.to_string()))??;
    lake.commit_file(&staged, rel).await?;
    Ok(rows)
}

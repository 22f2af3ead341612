//! The `findings` table of the lake: `<lake>/findings/dt=<first seen day>/<run>.parquet`.
//! A finding's `uid` is stable, so a finding already in the lake is not written again.

use std::collections::{BTreeMap, HashSet};

use arrow::array::AsArray;
use datafusion::prelude::SessionContext;
use parquet::arrow::ArrowWriter;
use pipeline::lake::Lake;

use crate::finding::{Finding, schema, to_batch};
use crate::{Error, Result};

/// The table's name in the lake and in sessions.
pub const TABLE: &str = "findings";

/// The uids of the findings already in the lake.
pub async fn existing_uids(ctx: &SessionContext) -> Result<HashSet<String>> {
    let query = |source| Error::Query {
        context: "reading the uids of the findings table".into(),
        source,
    };
    let batches = ctx
        .sql("SELECT DISTINCT uid FROM findings")
        .await
        .map_err(query)?
        .collect()
        .await
        .map_err(query)?;
    let mut out = HashSet::new();
    for b in &batches {
        let a = b.column(0).as_string::<i32>();
        out.extend(a.iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// Add the findings the lake does not hold yet (by uid, a finding once) to its `findings`
/// table, in one file per day named by a new run id. Returns how many were added.
pub async fn store_new(lake: &Lake, ctx: &SessionContext, findings: &[Finding]) -> Result<usize> {
    let known = existing_uids(ctx).await?;
    let fresh: Vec<&Finding> = findings
        .iter()
        .filter(|f| !known.contains(&f.uid))
        .collect();
    if !fresh.is_empty() {
        write(lake, &fresh, &uuid::Uuid::now_v7().to_string()).await?;
    }
    Ok(fresh.len())
}

/// Write `findings` (those not yet in the lake: see [`existing_uids`]) as one Parquet file per
/// day. Returns the files' paths in the lake.
pub async fn write(lake: &Lake, findings: &[&Finding], run_id: &str) -> Result<Vec<String>> {
    let mut by_day: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for f in findings {
        let day = pipeline::time::date_string(f.first_seen.div_euclid(86_400_000_000));
        by_day.entry(day).or_default().push((*f).clone());
    }
    let mut written = Vec::new();
    for (day, fs) in by_day {
        let rel = format!("{TABLE}/dt={day}/{run_id}.parquet");
        let err = |m: String| Error::Detector {
            path: format!("{}/{rel}", lake.uri()),
            message: m,
        };
        let batch = to_batch(&fs).map_err(|e| err(e.to_string()))?;
        let bytes = encode(&[batch]).map_err(|e| err(e.to_string()))?;
        lake.put_bytes(&rel, bytes).await?;
        written.push(rel);
    }
    Ok(written)
}

/// Merge each day's findings files into one once there are `min_files` of them (the watch
/// writes one per poll that found something), keeping each uid once. The merged file is
/// written before the old ones are removed: a crash in between leaves rows twice, which the
/// next compaction folds (readers already count findings by distinct uid). Returns the files
/// merged.
pub async fn compact(lake: &Lake, min_files: usize) -> Result<usize> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut by_day: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rel in lake.list(&format!("{TABLE}/")).await? {
        if let Some((dir, name)) = rel.rsplit_once('/')
            && name.ends_with(".parquet")
        {
            by_day.entry(dir.to_string()).or_default().push(rel);
        }
    }
    let mut merged = 0;
    for (dir, files) in by_day {
        if files.len() < min_files.max(2) {
            continue;
        }
        let err = |rel: &str, m: String| Error::Detector {
            path: format!("{}/{rel}", lake.uri()),
            message: m,
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut batches = Vec::new();
        for rel in &files {
            let bytes = bytes::Bytes::from(lake.get_bytes(rel).await?);
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|e| err(rel, e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| err(rel, e.to_string()))?;
                if batch.schema().fields() != schema().fields() {
                    // Written by another version: left as it is.
                    return Ok(merged);
                }
                let uids = batch
                    .column_by_name("uid")
                    .ok_or_else(|| err(rel, "no uid column".into()))?
                    .as_string::<i32>()
                    .clone();
                let keep: arrow::array::BooleanArray = (0..batch.num_rows())
                    .map(|i| Some(seen.insert(uids.value(i).to_string())))
                    .collect();
                let kept = arrow::compute::filter_record_batch(&batch, &keep)
                    .map_err(|e| err(rel, e.to_string()))?;
                if kept.num_rows() > 0 {
                    batches.push(kept);
                }
            }
        }
        let rel = format!("{dir}/merged-{}.parquet", uuid::Uuid::now_v7());
        let bytes = encode(&batches).map_err(|e| err(&rel, e.to_string()))?;
        lake.put_bytes(&rel, bytes).await?;
        for old in &files {
            lake.delete(old).await?;
        }
        merged += files.len();
    }
    Ok(merged)
}

/// Findings batches as one Parquet file of the `findings` table.
fn encode(batches: &[arrow::array::RecordBatch]) -> parquet::errors::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let props =
        pipeline::lake::writer::writer_properties(&["finding", "summary"], &["first_seen"], &[], 3);
    let mut w = ArrowWriter::try_new(&mut bytes, schema(), Some(props))?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(bytes)
}

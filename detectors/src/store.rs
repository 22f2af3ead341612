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
    let batches = crate::session::run_sql(ctx, "SELECT DISTINCT uid FROM findings").await?;
    let mut out = HashSet::new();
    for b in &batches {
        let a = b.column(0).as_string::<i32>();
        out.extend(a.iter().flatten().map(str::to_string));
    }
    Ok(out)
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
        let mut bytes = Vec::new();
        let props = pipeline::lake::writer::writer_properties(
            &["finding", "summary"],
            &["first_seen"],
            &[],
            3,
        );
        let mut w = ArrowWriter::try_new(&mut bytes, schema(), Some(props))
            .map_err(|e| err(e.to_string()))?;
        w.write(&batch).map_err(|e| err(e.to_string()))?;
        w.close().map_err(|e| err(e.to_string()))?;
        lake.put_bytes(&rel, bytes).await?;
        written.push(rel);
    }
    Ok(written)
}

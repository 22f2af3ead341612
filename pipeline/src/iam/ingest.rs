//! `ingest iam`: authorization details (read by [`super::read`]) written as the day's
//! snapshot of their account in the `iam` table, replacing an earlier one of the same day.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

use super::{authz, read, table};
use crate::ingest::{Clients, Progress};
use crate::lake::Lake;
use crate::{Error, Result};

/// How an IAM ingest runs.
#[derive(Debug, Clone)]
pub struct IamOptions {
    /// The day the snapshots are of (default: today, UTC).
    pub date: chrono::NaiveDate,
}

impl Default for IamOptions {
    fn default() -> Self {
        IamOptions {
            date: chrono::Utc::now().date_naive(),
        }
    }
}

/// What an `ingest iam` run did.
#[derive(Debug, Serialize)]
pub struct IamSummary {
    pub source: String,
    pub account_id: String,
    pub snapshot_date: String,
    pub roles: usize,
    /// Roles that Lambda may assume (their trust policy names `lambda.amazonaws.com`).
    pub function_roles: usize,
    pub users: usize,
    pub groups: usize,
    pub managed_policies: usize,
    pub rows: usize,
    pub statements_unreadable: usize,
    /// The first unreadable statements, with where they are and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<table::Unreadable>,
    /// An earlier snapshot of the same account and day was replaced.
    pub replaced: bool,
    pub seconds: f64,
    pub lake: String,
}

/// Ingest each of `sources` as a snapshot of the day [`IamOptions::date`]; a summary per
/// source, in order. A source that cannot be read stops the run (the snapshots written
/// before it stay).
pub async fn ingest_iam(
    sources: &[String],
    lake: &Lake,
    clients: &Clients<'_>,
    opts: &IamOptions,
    progress: &Progress,
) -> Result<Vec<IamSummary>> {
    progress
        .files_total
        .fetch_add(sources.len() as u64, Ordering::Relaxed);
    let date = opts.date.format("%Y-%m-%d").to_string();
    let mut out = Vec::new();
    for src in sources {
        let summary = ingest_one(src, lake, clients, &date).await?;
        progress.files_done.fetch_add(1, Ordering::Relaxed);
        progress
            .events
            .fetch_add(summary.rows as u64, Ordering::Relaxed);
        progress
            .quarantined
            .fetch_add(summary.statements_unreadable as u64, Ordering::Relaxed);
        out.push(summary);
    }
    Ok(out)
}

/// Ingest `src` as the snapshot of day `date` (`YYYY-MM-DD`).
async fn ingest_one(
    src: &str,
    lake: &Lake,
    clients: &Clients<'_>,
    date: &str,
) -> Result<IamSummary> {
    let started = Instant::now();
    let details = read(src, clients).await?;
    let account = table::account_of(&details).ok_or_else(|| Error::InvalidInput {
        source_uri: src.to_string(),
        reason: "no principal with an account in its ARN: nothing to ingest".into(),
    })?;
    let (rows, bad) = table::rows(&details);
    let source_uri = if src.starts_with("iam://") || src.starts_with("s3://") || src == "-" {
        src.to_string()
    } else {
        std::path::Path::new(src)
            .canonicalize()
            .map(|p| format!("file://{}", p.display()))
            .unwrap_or_else(|_| src.to_string())
    };
    let batch = table::to_batch(&rows, &source_uri)?;
    let props = crate::lake::writer::writer_properties(
        &["resources", "not_resources", "conditions"],
        &["principal_arn", "action_pattern"],
        &[],
        3,
    );
    let parquet_err = |source| Error::Parquet {
        path: table::TABLE.into(),
        source,
    };
    let mut buf = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, table::schema(), Some(props))
            .map_err(parquet_err)?;
        w.write(&batch).map_err(parquet_err)?;
        w.close().map_err(parquet_err)?;
    }
    let dir = format!("{}/account_id={account}/dt={date}/", table::TABLE);
    let replaced = !lake.list(&dir).await?.is_empty();
    lake.put_bytes(&format!("{dir}snapshot.parquet"), buf)
        .await?;
    let function_roles = details
        .role_detail_list
        .iter()
        .filter(|r| {
            authz::trusted_services(r.assume_role_policy_document.as_ref())
                .iter()
                .any(|s| s == "lambda.amazonaws.com")
        })
        .count();
    tracing::info!(account = %account, date, rows = rows.len(), unreadable = bad.len(), "iam snapshot written");
    Ok(IamSummary {
        source: src.to_string(),
        account_id: account,
        snapshot_date: date.to_string(),
        roles: details.role_detail_list.len(),
        function_roles,
        users: details.user_detail_list.len(),
        groups: details.group_detail_list.len(),
        managed_policies: details.policies.len(),
        rows: rows.len(),
        statements_unreadable: bad.len(),
        unreadable: bad.into_iter().take(20).collect(),
        replaced,
        seconds: started.elapsed().as_secs_f64(),
        lake: lake.uri(),
    })
}

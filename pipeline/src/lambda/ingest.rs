//! `ingest lambda-logs` from files and S3 objects: subscription payloads, `filter-log-events`
//! output and raw lines, into `lambda_invocations` and `lambda_logs`.
//!
//! One run is one commit: data files are staged, then put in place, then the open-invocation
//! state, then the manifest (`_manifest/lambda/`) that names them all. Sources already in a
//! manifest are not read again; invocations whose last lines have not arrived yet are carried
//! in the state and finished by a later run, so an invocation cut between two reads is one row.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::file::read_log_file;
use super::invocation::{Invocation, Merger, function_name};
use super::line::{Line, parse_line};
use super::table::{InvocationsBuilder, LogRow, LogsBuilder, invocations_schema, logs_schema};
use crate::ingest::get_object_bytes;
use crate::lake::manifest::{
    Manifest, ManifestIndex, SourceEntry, SourceStatus, clean_orphans, commit_id,
};
use crate::lake::quarantine::{QuarantineRecord, QuarantineWriter};
use crate::lake::writer::{PartitionedWriter, StagedFile, WriterLimits, writer_properties};
use crate::lake::{Lake, partition_value};
use crate::source::{self, ObjectLoc, SourceObject, path_account_region};
use crate::{Error, Result};

pub const INVOCATIONS_TABLE: &str = "lambda_invocations";
pub const LOGS_TABLE: &str = "lambda_logs";
/// Manifests and quarantine of the Lambda ingest (both tables commit together).
const MANIFEST_TABLE: &str = "lambda";

/// Lambda stops an invocation after 15 minutes: one whose last line is older than this,
/// measured against the newest line of the run, will get no more lines.
const QUIET_MICROS: i64 = 20 * 60 * 1_000_000;

#[derive(Debug, Clone)]
pub struct LambdaOptions {
    /// The log group of inputs that do not name one (raw lines, `filter-log-events` output);
    /// by default the file's name without extensions.
    pub log_group: Option<String>,
    pub zstd_level: i32,
    pub limits: WriterLimits,
    pub cancel: Arc<AtomicBool>,
}

impl Default for LambdaOptions {
    fn default() -> Self {
        LambdaOptions {
            log_group: None,
            zstd_level: 1,
            limits: WriterLimits::default(),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What a run did (the `--json` summary).
#[derive(Debug, Default, Clone, Serialize)]
pub struct LambdaSummary {
    pub files_read: u64,
    pub files_skipped: u64,
    pub files_quarantined: u64,
    pub files_already_ingested: u64,
    pub files_failed: u64,
    pub log_events: u64,
    pub control_messages: u64,
    pub invocations_written: u64,
    /// Invocations whose last lines have not been read yet, carried to the next run.
    pub invocations_open: u64,
    pub log_lines_written: u64,
    pub records_quarantined: u64,
    pub orphans_removed: u64,
    pub interrupted: bool,
    pub seconds: f64,
    pub lake: String,
    pub run_id: String,
    pub errors: Vec<String>,
}

struct Writers {
    invocations: PartitionedWriter<InvocationsBuilder>,
    logs: PartitionedWriter<LogsBuilder>,
    run: String,
    today: i64,
    invocations_written: u64,
    log_lines_written: u64,
}

impl Writers {
    fn invocation(&mut self, inv: &Invocation) -> Result<()> {
        let account = partition_value(inv.account.as_deref().unwrap_or("unknown")).into_owned();
        let region = partition_value(inv.region.as_deref().unwrap_or("unknown")).into_owned();
        let day = inv
            .start_time
            .or(inv.end_time)
            .map_or(self.today, |t| t.div_euclid(86_400_000_000));
        self.invocations
            .builder(&account, &region, day)?
            .append(inv, &inv.source_uri, &self.run);
        self.invocations_written += 1;
        Ok(())
    }

    fn log(&mut self, account: &str, region: &str, row: &LogRow<'_>) -> Result<()> {
        let day = row
            .time_micros
            .map_or(self.today, |t| t.div_euclid(86_400_000_000));
        self.logs.builder(account, region, day)?.append(row);
        self.log_lines_written += 1;
        Ok(())
    }
}

/// Ingest Lambda log files and S3 objects into the lake.
pub async fn ingest_lambda_files(
    sources: &[String],
    lake: &Lake,
    s3: Option<&aws_sdk_s3::Client>,
    opts: &LambdaOptions,
) -> Result<LambdaSummary> {
    let started = Instant::now();
    let _lock = lake.lock()?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let commit = commit_id(&run, 0);
    let mut summary = LambdaSummary {
        lake: lake.uri(),
        run_id: run.clone(),
        ..LambdaSummary::default()
    };
    let index = ManifestIndex::load(lake, MANIFEST_TABLE).await?;
    for table in [INVOCATIONS_TABLE, LOGS_TABLE, MANIFEST_TABLE] {
        summary.orphans_removed += clean_orphans(lake, table, &index).await? as u64;
    }

    let mut merger = Merger::new();
    for rel in index.latest_state() {
        let bytes = lake.get_bytes(rel).await?;
        let open: Vec<Invocation> =
            serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
                path: format!("{}/{rel}", lake.uri()),
                message: format!("open invocations: {e}"),
            })?;
        open.into_iter().for_each(|inv| merger.resume(inv));
    }

    let mut todo = Vec::new();
    let mut seen = HashSet::new();
    for src in sources {
        for obj in source::list(src, s3).await? {
            if !seen.insert(obj.uri.clone()) {
                continue;
            }
            // Names never worth reading (hidden files, CloudTrail digests, …); raw log lines
            // may have any extension, so the by-extension rule of CloudTrail does not apply.
            if obj.skip.is_some_and(|r| r != source::NOT_JSON_BY_NAME) {
                summary.files_skipped += 1;
            } else if index.known(&obj.uri, obj.size, &obj.version).is_some() {
                summary.files_already_ingested += 1;
            } else {
                todo.push(obj);
            }
        }
    }

    let props = Arc::new(writer_properties(
        &["message", "raw", "request_id"],
        &["time", "start_time", "function_name", "status"],
        opts.zstd_level,
    ));
    let prefix = format!("part-{commit}");
    let mut w = Writers {
        invocations: PartitionedWriter::new(
            lake.clone(),
            INVOCATIONS_TABLE,
            invocations_schema(),
            props.clone(),
            format!("{prefix}-i"),
            opts.limits,
        ),
        logs: PartitionedWriter::new(
            lake.clone(),
            LOGS_TABLE,
            logs_schema(),
            props,
            format!("{prefix}-l"),
            opts.limits,
        ),
        run: run.clone(),
        today: chrono::Utc::now().timestamp().div_euclid(86_400),
        invocations_written: 0,
        log_lines_written: 0,
    };
    let q_rel = format!("_quarantine/{MANIFEST_TABLE}/{commit}.ndjson");
    let mut quarantine = QuarantineWriter::new(lake.staging_path(&q_rel), q_rel);
    let mut entries = Vec::new();
    let mut seen_hashes = HashSet::new();
    let mut newest = i64::MIN;

    for obj in &todo {
        if opts.cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let bytes = match fetch(obj, s3).await {
            Ok(b) => b,
            Err(e) => {
                summary.files_failed += 1;
                if summary.errors.len() < 20 {
                    summary.errors.push(format!("{}: {e}", obj.uri));
                }
                continue;
            }
        };
        let hash = format!("xxh3:{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes));
        let mut entry = SourceEntry {
            uri: obj.uri.clone(),
            size: obj.size,
            version: obj.version.clone(),
            hash: hash.clone(),
            status: SourceStatus::Ingested,
            events: 0,
            records_quarantined: 0,
            reason: None,
        };
        if index.known_hash(&hash).is_some() || !seen_hashes.insert(hash) {
            entry.status = SourceStatus::Duplicate;
            entry.reason = Some("same bytes as an object ingested before".into());
            summary.files_already_ingested += 1;
            entries.push(entry);
            continue;
        }
        let file = read_log_file(&bytes);
        for (offset, raw, reason) in &file.bad {
            quarantine.write(
                &QuarantineRecord {
                    source_uri: &obj.uri,
                    record_index: None,
                    byte_offset: Some(*offset),
                    reason,
                    raw: None,
                    raw_base64: None,
                    object: None,
                    run: &run,
                }
                .with_raw(raw.as_bytes()),
            )?;
            entry.records_quarantined += 1;
        }
        summary.records_quarantined += entry.records_quarantined;
        summary.control_messages += file.control_messages;
        if file.shape == "empty" {
            entry.status = SourceStatus::Skipped;
            entry.reason = Some("empty file".into());
            summary.files_skipped += 1;
            entries.push(entry);
            continue;
        }
        let (path_account, path_region) = path_account_region(&obj.uri);
        let default_group = opts
            .log_group
            .clone()
            .unwrap_or_else(|| file_stem(&obj.uri));
        let mut index_in_file = 0u64;
        for batch in &file.batches {
            let group = batch.log_group.as_deref().unwrap_or(&default_group);
            let account = batch.owner.as_deref().or(path_account);
            merger.origin(account, path_region, &obj.uri);
            let account_part = partition_value(account.unwrap_or("unknown")).into_owned();
            let region_part = partition_value(path_region.unwrap_or("unknown")).into_owned();
            for ev in &batch.events {
                let record_index = index_in_file;
                index_in_file += 1;
                entry.events += 1;
                let stream = ev
                    .log_stream
                    .as_deref()
                    .or(batch.log_stream.as_deref())
                    .unwrap_or("");
                let line = parse_line(&ev.message);
                let at = ev.timestamp_ms.map(|ms| ms * 1000).or(match &line {
                    Line::App(a) => a.time_micros,
                    _ => None,
                });
                if let Some(t) = at {
                    newest = newest.max(t);
                }
                if let Some(done) = merger.line(group, stream, at, &line) {
                    w.invocation(&done)?;
                }
                let text = ev.message.trim_end_matches(['\n', '\r']);
                let (kind, level, request_id, message, raw) = match &line {
                    Line::App(a) => (
                        "app",
                        a.level.as_deref(),
                        a.request_id.as_deref(),
                        a.message.as_str(),
                        a.structured.then_some(text),
                    ),
                    Line::Platform { kind } => (kind.as_str(), None, None, text, None),
                    Line::InitStart { .. } => ("platform.initStart", None, None, text, None),
                    Line::Timeout { request_id, .. } => {
                        ("timeout", Some("ERROR"), request_id.as_deref(), text, None)
                    }
                    Line::Crash { request_id, .. } => {
                        ("crash", Some("ERROR"), request_id.as_deref(), text, None)
                    }
                    // Summed up in the invocation row.
                    Line::Start { .. }
                    | Line::End { .. }
                    | Line::Report(_)
                    | Line::RuntimeDone { .. }
                    | Line::XRay { .. } => continue,
                };
                w.log(
                    &account_part,
                    &region_part,
                    &LogRow {
                        time_micros: at,
                        function_name: function_name(group),
                        log_group: group,
                        log_stream: stream,
                        request_id,
                        level,
                        message,
                        raw,
                        kind,
                        structured: raw.is_some(),
                        event_id: ev.id.as_deref(),
                        source_uri: &obj.uri,
                        source_record_index: record_index,
                        run: &run,
                    },
                )?;
            }
            w.invocations.enforce_budget()?;
            w.logs.enforce_budget()?;
        }
        summary.log_events += entry.events;
        summary.files_read += 1;
        entries.push(entry);
    }

    if newest > i64::MIN {
        for inv in merger.close_stale(newest, QUIET_MICROS) {
            w.invocation(&inv)?;
        }
    }
    let open = merger.into_open();
    summary.invocations_open = open.len() as u64;
    summary.invocations_written = w.invocations_written;
    summary.log_lines_written = w.log_lines_written;

    // Commit: data, quarantine, state, then the manifest that names them.
    let mut data: Vec<StagedFile> = w.invocations.finish()?;
    data.extend(w.logs.finish()?);
    let mut quarantine_files = Vec::new();
    let mut staged: Vec<(std::path::PathBuf, String)> = data
        .iter()
        .map(|f| (f.staged.clone(), f.rel.clone()))
        .collect();
    if let Some(q) = quarantine.finish()? {
        quarantine_files.push(q.1.clone());
        staged.push(q);
    }
    if entries.is_empty() && staged.is_empty() {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    for (path, rel) in &staged {
        lake.commit_file(path, rel).await?;
    }
    let state_rel = format!("_state/{MANIFEST_TABLE}/{commit}-open.json");
    let state = serde_json::to_vec(&open).map_err(|e| Error::Manifest {
        path: state_rel.clone(),
        message: e.to_string(),
    })?;
    lake.put_bytes(&state_rel, state).await?;
    let manifest = Manifest {
        format: 1,
        table: MANIFEST_TABLE.to_string(),
        run: run.clone(),
        segment: 0,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tool: format!("trailhound {}", env!("CARGO_PKG_VERSION")),
        data_files: data.iter().map(|f| f.rel.clone()).collect(),
        quarantine_files,
        sources: entries,
        state_files: vec![state_rel],
    };
    let rel = Manifest::rel_path(MANIFEST_TABLE, &run, 0);
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Manifest {
        path: rel.clone(),
        message: e.to_string(),
    })?;
    lake.put_bytes(&rel, bytes).await?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// `orders` of `…/orders.log.gz`.
fn file_stem(uri: &str) -> String {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    name.split('.').next().unwrap_or(name).to_string()
}

async fn fetch(
    obj: &SourceObject,
    s3: Option<&aws_sdk_s3::Client>,
) -> std::result::Result<bytes::Bytes, String> {
    match &obj.loc {
        ObjectLoc::File(path) => std::fs::read(path)
            .map(bytes::Bytes::from)
            .map_err(|e| e.to_string()),
        ObjectLoc::S3 { bucket, key } => {
            get_object_bytes(s3.ok_or("no S3 client")?, bucket, key).await
        }
    }
}

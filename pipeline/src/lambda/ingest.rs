//! `ingest lambda-logs` from files, S3 objects (subscription payloads, `filter-log-events`
//! output and raw lines) and CloudWatch Logs groups (`cwl://`), into `lambda_invocations`
//! and `lambda_logs`.
//!
//! One run is one commit: data files are staged, then put in place, then the open-invocation
//! state, then the manifest (`_manifest/lambda/`) that names them all. Sources already in a
//! manifest are not read again, and each CloudWatch Logs group has a cursor of the time ranges
//! read ([`cwl::Cursor`]), carried in the state with the commit; invocations whose last lines have not arrived yet are carried
//! in the state and finished by a later run, so an invocation cut between two reads is one row.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::cwl::{self, Cursor, LogGroup, group_of};
use super::file::{LogBatch, read_log_file};
use super::invocation::{Invocation, Merger, function_name};
use super::line::{Line, parse_line};
use super::table::{InvocationsBuilder, LogRow, LogsBuilder, invocations_schema, logs_schema};
use crate::ingest::{Clients, Progress};
use crate::lake::compact::{CompactOptions, Compacted, compact_only};
use crate::lake::manifest::{
    Manifest, ManifestIndex, SourceEntry, SourceStatus, clean_orphans, commit_id,
};
use crate::lake::quarantine::{QuarantineRecord, QuarantineWriter};
use crate::lake::writer::{PartitionedWriter, StagedFile, WriterLimits, writer_properties};
use crate::lake::{Lake, partition_value};
use crate::source::{self, SourceObject, path_account_region};
use crate::{Error, Result};

pub const INVOCATIONS_TABLE: &str = "lambda_invocations";
pub const LOGS_TABLE: &str = "lambda_logs";
/// Manifests and quarantine of the Lambda ingest (both tables commit together).
const MANIFEST_TABLE: &str = "lambda";
/// The state file of the CloudWatch Logs cursors ends so; the other holds open invocations.
const CURSORS_SUFFIX: &str = "-cwl.json";
/// The groups `cwl://` reads without `--log-group-prefix`: Lambda's default log groups.
pub const DEFAULT_GROUP_PREFIX: &str = "/aws/lambda/";

/// The Parquet settings of `lambda_invocations` and `lambda_logs`.
pub fn properties(zstd_level: i32) -> parquet::file::properties::WriterProperties {
    writer_properties(
        &["message", "raw", "request_id"],
        &["time", "start_time", "function_name", "status"],
        &["request_id"],
        zstd_level,
    )
}

/// The manifest table of the Lambda ingest, which covers both of its data tables.
pub const MANIFEST: &str = MANIFEST_TABLE;

/// Merge the Lambda tables' small files and manifests: every `lambda_logs` file and the
/// `lambda_invocations` files `only` accepts (the watch passes those its history has counted).
pub async fn compact(
    lake: &Lake,
    opts: &CompactOptions,
    only: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Compacted> {
    let props = Arc::new(properties(1));
    let tables = [(INVOCATIONS_TABLE, props.clone()), (LOGS_TABLE, props)];
    let only = |rel: &str| rel.starts_with(LOGS_TABLE) || only(rel);
    compact_only(lake, MANIFEST_TABLE, &tables, opts, &only).await
}

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
    /// The groups a bare `cwl://` reads (default [`DEFAULT_GROUP_PREFIX`]).
    pub log_group_prefix: Option<String>,
    /// Bounds of CloudWatch Logs reads, milliseconds since the epoch (inclusive). Without
    /// `since_ms` a group's first read takes all it keeps and later reads continue from the
    /// last; without `until_ms` reads go up to now.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// How far a continued CloudWatch Logs read starts inside the last one (ms; default
    /// [`cwl::OVERLAP_MS`]), to meet events that became readable after that read.
    pub overlap_ms: i64,
}

impl Default for LambdaOptions {
    fn default() -> Self {
        LambdaOptions {
            log_group: None,
            zstd_level: 1,
            limits: WriterLimits::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            log_group_prefix: None,
            since_ms: None,
            until_ms: None,
            overlap_ms: cwl::OVERLAP_MS,
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
    pub log_groups_read: u64,
    /// Groups not found, or whose reads failed after the SDK's retries.
    pub log_groups_failed: u64,
    /// `FilterLogEvents` pages read.
    pub api_pages: u64,
    pub log_events: u64,
    /// Events of a continued read's overlap that an earlier run already ingested.
    pub log_events_already_ingested: u64,
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

impl LambdaSummary {
    /// Keep the first errors for the summary (the rest are only counted).
    fn error(&mut self, message: String) {
        if self.errors.len() < 20 {
            self.errors.push(message);
        }
    }
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

/// Where a batch of log events came from.
struct Origin<'a> {
    source_uri: &'a str,
    /// The group of events whose batch does not name one.
    default_group: &'a str,
    account: Option<&'a str>,
    region: Option<&'a str>,
}

/// One ingest run: events in, invocations merged, rows out.
struct Run {
    run_id: String,
    writers: Writers,
    merger: Merger,
    /// The newest event time read (microseconds), to close invocations that went quiet.
    newest: i64,
}

impl Run {
    /// Parse, merge and write the events of `batch`; `first_index` numbers its first event
    /// within its source. Returns how many events it held.
    fn batch(&mut self, batch: &LogBatch, from: &Origin<'_>, first_index: u64) -> Result<u64> {
        let group = batch.log_group.as_deref().unwrap_or(from.default_group);
        let account = batch.owner.as_deref().or(from.account);
        self.merger.origin(account, from.region, from.source_uri);
        let account_part = partition_value(account.unwrap_or("unknown")).into_owned();
        let region_part = partition_value(from.region.unwrap_or("unknown")).into_owned();
        let w = &mut self.writers;
        for (i, ev) in batch.events.iter().enumerate() {
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
                self.newest = self.newest.max(t);
            }
            if let Some(done) = self.merger.line(group, stream, at, &line) {
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
                    source_uri: from.source_uri,
                    source_record_index: first_index + i as u64,
                    run: &self.run_id,
                },
            )?;
        }
        w.invocations.enforce_budget()?;
        w.logs.enforce_budget()?;
        Ok(batch.events.len() as u64)
    }
}

/// Ingest Lambda logs from files, S3 objects and CloudWatch Logs groups into the lake.
pub async fn ingest_lambda_logs(
    sources: &[String],
    lake: &Lake,
    clients: &Clients<'_>,
    opts: &LambdaOptions,
    progress: &Progress,
) -> Result<LambdaSummary> {
    let started = Instant::now();
    let _lock = lake.lock(MANIFEST_TABLE).await?;
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let commit = commit_id(&run_id, 0);
    let mut summary = LambdaSummary {
        lake: lake.uri(),
        run_id: run_id.clone(),
        ..LambdaSummary::default()
    };
    let index = ManifestIndex::load(lake, MANIFEST_TABLE).await?;
    for table in [INVOCATIONS_TABLE, LOGS_TABLE, MANIFEST_TABLE] {
        summary.orphans_removed += clean_orphans(lake, table, &index).await? as u64;
    }

    let mut merger = Merger::new();
    let mut cursors: BTreeMap<String, Cursor> = BTreeMap::new();
    for rel in index.latest_state() {
        let bytes = lake.get_bytes(rel).await?;
        let bad = |e: serde_json::Error| Error::Manifest {
            path: format!("{}/{rel}", lake.uri()),
            message: format!("ingest state: {e}"),
        };
        if rel.ends_with(CURSORS_SUFFIX) {
            cursors = serde_json::from_slice(&bytes).map_err(bad)?;
        } else {
            let open: Vec<Invocation> = serde_json::from_slice(&bytes).map_err(bad)?;
            open.into_iter().for_each(|inv| merger.resume(inv));
        }
    }

    let (groups, files): (Vec<&String>, Vec<&String>) =
        sources.iter().partition(|s| group_of(s).is_some());
    let mut todo = Vec::new();
    let mut seen = HashSet::new();
    for src in files {
        for obj in source::list(src, clients.s3).await? {
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

    progress
        .files_total
        .fetch_add(todo.len() as u64, Ordering::Relaxed);

    let props = Arc::new(properties(opts.zstd_level));
    let prefix = format!("part-{commit}");
    let mut run = Run {
        run_id: run_id.clone(),
        writers: Writers {
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
            run: run_id.clone(),
            today: chrono::Utc::now().timestamp().div_euclid(86_400),
            invocations_written: 0,
            log_lines_written: 0,
        },
        merger,
        newest: i64::MIN,
    };
    let q_rel = format!("_quarantine/{MANIFEST_TABLE}/{commit}.ndjson");
    let mut quarantine = QuarantineWriter::new(lake.staging_path(&q_rel), q_rel);
    let mut entries = Vec::new();
    let mut seen_hashes = HashSet::new();

    for obj in &todo {
        if opts.cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let bytes = match fetch(obj, clients.s3).await {
            Ok(b) => b,
            Err(e) => {
                summary.files_failed += 1;
                summary.error(format!("{}: {e}", obj.uri));
                continue;
            }
        };
        progress.files_done.fetch_add(1, Ordering::Relaxed);
        progress
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
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
                    run: &run_id,
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
        let from = Origin {
            source_uri: &obj.uri,
            default_group: &default_group,
            account: path_account,
            region: path_region,
        };
        for batch in &file.batches {
            entry.events += run.batch(batch, &from, entry.events)?;
        }
        progress.events.fetch_add(entry.events, Ordering::Relaxed);
        summary.log_events += entry.events;
        summary.files_read += 1;
        entries.push(entry);
    }

    if !groups.is_empty() {
        let client = clients.logs.ok_or_else(|| Error::InvalidUri {
            uri: "cwl://".into(),
            reason: "no CloudWatch Logs client was configured".into(),
        })?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut targets: Vec<LogGroup> = Vec::new();
        for src in groups {
            let name = group_of(src).unwrap_or_default();
            let found = if name.is_empty() {
                let prefix = opts
                    .log_group_prefix
                    .as_deref()
                    .unwrap_or(DEFAULT_GROUP_PREFIX);
                // Nothing under the prefix is most likely a mistyped prefix: a failure.
                cwl::discover(client, prefix).await.and_then(|g| {
                    if g.is_empty() {
                        Err(format!("no log group name starts with {prefix:?}"))
                    } else {
                        Ok(g)
                    }
                })
            } else {
                cwl::describe(client, name).await.map(|g| vec![g])
            };
            match found {
                Ok(found) => {
                    for g in found {
                        if !targets.contains(&g) {
                            targets.push(g);
                        }
                    }
                }
                Err(e) => {
                    summary.log_groups_failed += 1;
                    summary.error(format!("{src}: {e}"));
                }
            }
        }
        progress
            .files_total
            .fetch_add(targets.len() as u64, Ordering::Relaxed);
        for group in &targets {
            if opts.cancel.load(Ordering::Relaxed) {
                summary.interrupted = true;
                break;
            }
            let cursor = cursors.entry(group.name.clone()).or_default();
            let start = match opts.since_ms {
                Some(t) => t,
                // Continue where the last run ended; a first run reads all the group keeps.
                None => cursor.read_until().map_or(0, |t| t + 1),
            };
            let end = opts.until_ms.unwrap_or(now_ms);
            let uri = format!("cwl://{}", group.name);
            let from = Origin {
                source_uri: &uri,
                default_group: &group.name,
                account: group.account.as_deref(),
                region: group.region.as_deref(),
            };
            let mut group_failed = false;
            for window in cursor.plan_with(start, end, opts.overlap_ms) {
                let mut events = 0u64;
                let read = cwl::read_window(client, group, &window, |batch| {
                    let n = run.batch(&batch, &from, events)?;
                    events += n;
                    progress.events.fetch_add(n, Ordering::Relaxed);
                    Ok::<_, Error>(())
                })
                .await?;
                summary.log_events += read.events;
                summary.log_events_already_ingested += read.skipped;
                summary.api_pages += read.pages;
                let mut entry = SourceEntry {
                    uri: format!(
                        "{uri}?start={}&end={}",
                        ms_rfc3339(window.start_ms),
                        ms_rfc3339(window.end_ms)
                    ),
                    size: 0,
                    version: String::new(),
                    hash: String::new(),
                    status: SourceStatus::Ingested,
                    events: read.events,
                    records_quarantined: 0,
                    reason: None,
                };
                if let Some(e) = read.error {
                    group_failed = true;
                    let upto = read.range.as_ref().map_or_else(
                        || "nothing read".to_string(),
                        |r| format!("read up to {}", ms_rfc3339(r.end_ms)),
                    );
                    summary.error(format!("{uri}: {e} ({upto}; the next run continues)"));
                    entry.reason = Some(format!("stopped: {e}"));
                }
                if let Some(range) = read.range {
                    cursor.record(range);
                }
                entries.push(entry);
                if group_failed {
                    break;
                }
            }
            progress.files_done.fetch_add(1, Ordering::Relaxed);
            if group_failed {
                summary.log_groups_failed += 1;
            } else {
                summary.log_groups_read += 1;
            }
        }
    }

    if run.newest > i64::MIN {
        for inv in run.merger.close_stale(run.newest, QUIET_MICROS) {
            run.writers.invocation(&inv)?;
        }
    }
    let Run {
        writers: w, merger, ..
    } = run;
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
    let mut state_files = Vec::new();
    let state_err = |rel: &str, e: serde_json::Error| Error::Manifest {
        path: rel.to_string(),
        message: e.to_string(),
    };
    let open_rel = format!("_state/{MANIFEST_TABLE}/{commit}-open.json");
    let state = serde_json::to_vec(&open).map_err(|e| state_err(&open_rel, e))?;
    lake.put_bytes(&open_rel, state).await?;
    state_files.push(open_rel);
    if !cursors.is_empty() {
        let rel = format!("_state/{MANIFEST_TABLE}/{commit}{CURSORS_SUFFIX}");
        let state = serde_json::to_vec(&cursors).map_err(|e| state_err(&rel, e))?;
        lake.put_bytes(&rel, state).await?;
        state_files.push(rel);
    }
    let manifest = Manifest {
        format: 1,
        table: MANIFEST_TABLE.to_string(),
        run: run_id.clone(),
        segment: 0,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tool: format!("trailhound {}", env!("CARGO_PKG_VERSION")),
        data_files: data.iter().map(|f| f.rel.clone()).collect(),
        quarantine_files,
        sources: entries,
        state_files,
        commits: Vec::new(),
        replaced_files: Vec::new(),
    };
    let rel = Manifest::rel_path(MANIFEST_TABLE, &run_id, 0);
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| state_err(&rel, e))?;
    lake.put_manifest(&rel, bytes).await?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn ms_rfc3339(ms: i64) -> String {
    crate::time::rfc3339_millis(ms).unwrap_or_else(|| ms.to_string())
}

/// `orders` of `…/orders.log.gz`.
fn file_stem(uri: &str) -> String {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    name.split('.').next().unwrap_or(name).to_string()
}

/// The whole object in memory.
async fn fetch(
    obj: &SourceObject,
    s3: Option<&crate::s3::Client>,
) -> std::result::Result<bytes::Bytes, String> {
    let body = source::fetch(obj, s3, u64::MAX)
        .await
        .map_err(|e| e.to_string())?;
    body.into_bytes().map_err(|e| e.to_string())
}

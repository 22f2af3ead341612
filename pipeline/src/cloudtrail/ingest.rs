//! The CloudTrail ingest run: list sources, skip what the manifest knows, read and parse the
//! rest on worker threads, write partitioned Parquet, quarantine what cannot be read, and
//! commit — data files first, the manifest last.
//!
//! Work is split into commit segments (bounded by objects and bytes) so that a long run
//! commits as it goes and an interrupted or crashed run loses at most one segment of work,
//! which the next run redoes. Within a segment, object fetches (local reads or concurrent S3
//! GETs) feed a bounded queue; each worker owns its partition writers, so workers never
//! contend for a lock on the hot path.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use super::reader::{ReadOptions, RecordSink, Shape, read_object, read_object_in_memory};
use super::record::RawEvent;
use super::table::{
    self, BLOOM_FILTER_COLUMNS, CloudTrailBuilder, JSON_COLUMNS, STATISTICS_COLUMNS,
    UNIQUE_COLUMNS, check,
};
use crate::gzip::Inflater;
use crate::ingest::{Clients, Progress};
use crate::lake::Lake;
use crate::lake::compact::{CompactOptions, Compacted, compact_only};
use crate::lake::manifest::{
    Manifest, ManifestIndex, SourceEntry, SourceStatus, clean_orphans, commit_id,
};
use crate::lake::partition_value;
use crate::lake::quarantine::{QuarantineRecord, QuarantineWriter};
use crate::lake::writer::{PartitionedWriter, StagedFile, WriterLimits, writer_properties};
use crate::source::{self, Body, SourceObject, path_account_region};
use crate::{Error, Result};

const TABLE: &str = "cloudtrail";

/// How a CloudTrail ingest runs.
#[derive(Debug, Clone)]
pub struct CloudTrailOptions {
    /// Parsing and encoding threads.
    pub threads: usize,
    pub reader: ReadOptions,
    pub limits: WriterLimits,
    pub zstd_level: i32,
    /// A commit segment ends after this many objects…
    pub segment_max_objects: usize,
    /// …or this many bytes of objects as stored.
    pub segment_max_bytes: u64,
    /// S3 GETs in flight.
    pub fetch_concurrency: usize,
    /// Local files up to this size are read into memory whole; larger ones are streamed.
    pub in_memory_max_bytes: u64,
    /// S3 objects up to this size are downloaded into memory; larger ones go to a temporary
    /// file (with `fetch_concurrency` GETs in flight, this bounds the memory they take).
    pub s3_in_memory_max_bytes: u64,
    /// Set to stop early: the current segment is committed and the run ends.
    pub cancel: Arc<AtomicBool>,
}

impl Default for CloudTrailOptions {
    fn default() -> Self {
        CloudTrailOptions {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            reader: ReadOptions::default(),
            // Batches are sorted by API before they are written (`table::SORT_COLUMNS`): the
            // longer the batch, the longer each API's run and the more pages a query skips.
            limits: WriterLimits {
                batch_rows: 32 * 1024,
                ..WriterLimits::default()
            },
            zstd_level: 1,
            segment_max_objects: 50_000,
            segment_max_bytes: 8 << 30,
            fetch_concurrency: 32,
            in_memory_max_bytes: 64 << 20,
            s3_in_memory_max_bytes: 8 << 20,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What a CloudTrail ingest did (the `--json` summary).
#[derive(Debug, Default, Clone, Serialize)]
pub struct CloudTrailSummary {
    pub files_read: u64,
    pub events_ingested: u64,
    pub events_duplicate: u64,
    pub files_skipped: u64,
    pub files_quarantined: u64,
    pub records_quarantined: u64,
    pub seconds: f64,
    /// Objects the manifest already had (their events are counted in `events_duplicate`).
    pub files_already_ingested: u64,
    /// Objects that could not be fetched or opened; the next run tries them again.
    pub files_failed: u64,
    /// Bytes of the objects read, as stored.
    pub bytes_read: u64,
    pub data_files_written: u64,
    /// Files of earlier runs that stopped before committing, removed.
    pub orphans_removed: u64,
    /// The run stopped early (interrupted); what was committed stays, the rest is read next time.
    pub interrupted: bool,
    pub lake: String,
    pub run_id: String,
    /// The first errors of failed objects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The objects of this run the manifest holds now (not in the `--json` summary).
    #[serde(skip)]
    pub done: Vec<String>,
}

struct Job {
    obj: SourceObject,
    body: Result<Body>,
}

/// Ingest CloudTrail from `sources` (files, directories, `s3://bucket/prefix`) into `lake`.
pub async fn ingest_cloudtrail(
    sources: &[String],
    lake: &Lake,
    clients: &Clients<'_>,
    opts: &CloudTrailOptions,
    progress: &Progress,
) -> Result<CloudTrailSummary> {
    let mut objects = Vec::new();
    for src in sources {
        objects.extend(source::list(src, clients.s3).await?);
    }
    ingest_objects(objects, lake, clients, opts, progress, true).await
}

/// Ingest CloudTrail from objects listed already (say, announced by S3 event notifications).
/// The summary's `done` names those the lake's manifest holds afterwards (read now or
/// before, skipped or quarantined): the others failed and can be tried again. Unlike
/// [`ingest_cloudtrail`] it leaves files of interrupted runs to
/// [`clean_cloudtrail_orphans`] (a walk of the table, too slow for every poll).
pub async fn ingest_cloudtrail_objects(
    objects: Vec<SourceObject>,
    lake: &Lake,
    clients: &Clients<'_>,
    opts: &CloudTrailOptions,
    progress: &Progress,
) -> Result<CloudTrailSummary> {
    ingest_objects(objects, lake, clients, opts, progress, false).await
}

/// Merge the `cloudtrail` table's small files and manifests, the files `only` accepts (the
/// watch passes those its history has counted).
pub async fn compact(
    lake: &Lake,
    opts: &CompactOptions,
    only: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Compacted> {
    let tables = [("cloudtrail", Arc::new(properties(1)))];
    compact_only(lake, "cloudtrail", &tables, opts, only).await
}

/// The Parquet settings of the `cloudtrail` table. Pages of at most 4,096 rows (the default
/// is 20,000): the rows of one API sit together within each sorted batch
/// (`table::SORT_COLUMNS`), and a query for it decodes only the pages that hold them, which
/// are fewer the smaller the pages.
pub fn properties(zstd_level: i32) -> parquet::file::properties::WriterProperties {
    writer_properties(
        &JSON_COLUMNS
            .iter()
            .chain(UNIQUE_COLUMNS)
            .copied()
            .collect::<Vec<_>>(),
        STATISTICS_COLUMNS,
        BLOOM_FILTER_COLUMNS,
        zstd_level,
    )
    .into_builder()
    .set_data_page_row_count_limit(4096)
    .build()
}

/// Remove the CloudTrail data files of runs that stopped before their commit (what every
/// [`ingest_cloudtrail`] does first); the number removed.
pub async fn clean_cloudtrail_orphans(lake: &Lake) -> Result<usize> {
    let _lock = lake.lock(TABLE).await?;
    let index = ManifestIndex::load(lake, TABLE).await?;
    clean_orphans(lake, TABLE, &index).await
}

async fn ingest_objects(
    objects: Vec<SourceObject>,
    lake: &Lake,
    clients: &Clients<'_>,
    opts: &CloudTrailOptions,
    progress: &Progress,
    clean: bool,
) -> Result<CloudTrailSummary> {
    let started = Instant::now();
    let _lock = lake.lock(TABLE).await?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut summary = CloudTrailSummary {
        lake: lake.uri(),
        run_id: run.clone(),
        ..CloudTrailSummary::default()
    };
    let index = Arc::new(ManifestIndex::load(lake, TABLE).await?);
    if clean {
        summary.orphans_removed = clean_orphans(lake, TABLE, &index).await? as u64;
    }
    let mut todo = Vec::new();
    let mut seen = HashSet::new();
    for obj in objects {
        if !seen.insert(obj.uri.clone()) {
            continue;
        }
        if let Some(reason) = obj.skip {
            tracing::debug!(uri = %obj.uri, reason, "skipped by name");
            summary.files_skipped += 1;
            summary.done.push(obj.uri.clone());
        } else if let Some(events) = index.known(&obj.uri, obj.size, &obj.version) {
            summary.files_already_ingested += 1;
            summary.events_duplicate += events;
            summary.done.push(obj.uri.clone());
        } else {
            if index.changed(&obj.uri) {
                tracing::warn!(uri = %obj.uri, "source changed since it was ingested; reading it again");
            }
            todo.push(obj);
        }
    }
    progress
        .files_total
        .store(todo.len() as u64, Ordering::Relaxed);
    tracing::info!(
        objects = todo.len(),
        known = summary.files_already_ingested,
        "ingest planned"
    );

    let props = Arc::new(properties(opts.zstd_level));
    let seen_hashes = Arc::new(Mutex::new(HashSet::new()));
    let mut segment = 0u32;
    let mut rest = &todo[..];
    while !rest.is_empty() {
        if opts.cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let mut n = 0;
        let mut bytes = 0;
        while n < rest.len()
            && n < opts.segment_max_objects
            && (n == 0 || bytes < opts.segment_max_bytes)
        {
            bytes += rest[n].size;
            n += 1;
        }
        let (objs, tail) = rest.split_at(n);
        rest = tail;
        let ctx = SegmentCtx {
            lake: lake.clone(),
            run: run.clone(),
            segment,
            opts: opts.clone(),
            props: props.clone(),
            index: index.clone(),
            seen_hashes: seen_hashes.clone(),
            progress: progress.clone(),
        };
        let result = run_segment(ctx, objs, clients).await?;
        commit_segment(lake, &run, segment, result, &mut summary).await?;
        segment += 1;
    }
    if opts.cancel.load(Ordering::Relaxed) && !rest.is_empty() {
        summary.interrupted = true;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[derive(Clone)]
struct SegmentCtx {
    lake: Lake,
    run: String,
    segment: u32,
    opts: CloudTrailOptions,
    props: Arc<parquet::file::properties::WriterProperties>,
    index: Arc<ManifestIndex>,
    seen_hashes: Arc<Mutex<HashSet<u128>>>,
    progress: Progress,
}

#[derive(Default)]
struct SegmentResult {
    sources: Vec<SourceEntry>,
    failures: Vec<String>,
    data: Vec<StagedFile>,
    /// Quarantine files and object copies: (staged, lake-relative).
    quarantine: Vec<(PathBuf, String)>,
    bytes_read: u64,
}

async fn run_segment(
    ctx: SegmentCtx,
    objs: &[SourceObject],
    clients: &Clients<'_>,
) -> Result<SegmentResult> {
    let threads = ctx.opts.threads.max(1);
    let (tx, rx) = async_channel::bounded::<Job>(threads * 2);
    let mut workers = Vec::new();
    for id in 0..threads {
        let rx = rx.clone();
        let ctx = ctx.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("ingest-{id}"))
                .spawn(move || worker(ctx, id, rx))
                .map_err(|e| Error::Worker(e.to_string()))?,
        );
    }
    drop(rx);

    let cancel = ctx.opts.cancel.clone();
    let fetches = futures::stream::iter(objs.iter().cloned())
        .take_while(|_| {
            let go = !cancel.load(Ordering::Relaxed);
            async move { go }
        })
        .map(|obj| fetch(obj, clients, ctx.opts.s3_in_memory_max_bytes))
        .buffer_unordered(ctx.opts.fetch_concurrency.max(1));
    futures::pin_mut!(fetches);
    while let Some(job) = fetches.next().await {
        if tx.send(job).await.is_err() {
            break; // every worker stopped: their results say why
        }
    }
    tx.close();

    let mut result = SegmentResult::default();
    let mut first_err = None;
    for handle in workers {
        let joined = tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|e| Error::Worker(e.to_string()))?;
        match joined {
            Ok(Ok(r)) => {
                result.sources.extend(r.sources);
                result.failures.extend(r.failures);
                result.data.extend(r.data);
                result.quarantine.extend(r.quarantine);
                result.bytes_read += r.bytes_read;
            }
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => {
                first_err = first_err.or(Some(Error::Worker("a worker thread panicked".into())))
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

async fn fetch(obj: SourceObject, clients: &Clients<'_>, in_memory_max: u64) -> Job {
    let body = source::fetch(&obj, clients.s3, in_memory_max).await;
    Job { obj, body }
}

struct WorkerResult {
    sources: Vec<SourceEntry>,
    failures: Vec<String>,
    data: Vec<StagedFile>,
    quarantine: Vec<(PathBuf, String)>,
    bytes_read: u64,
}

impl WorkerResult {
    /// An object that could not be fetched or opened: reported, not recorded in the manifest,
    /// so the next run tries it again.
    fn fail(&mut self, progress: &Progress, uri: &str, err: &dyn std::fmt::Display) {
        tracing::warn!(uri, error = %err, "could not read object");
        self.failures.push(format!("{uri}: {err}"));
        progress.files_done.fetch_add(1, Ordering::Relaxed);
    }
}

fn worker(ctx: SegmentCtx, id: usize, rx: async_channel::Receiver<Job>) -> Result<WorkerResult> {
    let commit = commit_id(&ctx.run, ctx.segment);
    let mut writer = PartitionedWriter::<CloudTrailBuilder>::new(
        ctx.lake.clone(),
        TABLE,
        table::schema(),
        ctx.props.clone(),
        format!("part-{commit}-w{id}"),
        ctx.opts.limits,
    )
    .sorted_by(table::SORT_COLUMNS);
    let q_rel = format!("_quarantine/{TABLE}/{commit}-w{id}.ndjson");
    let mut quarantine = QuarantineWriter::new(ctx.lake.staging_path(&q_rel), q_rel);
    let mut out = WorkerResult {
        sources: Vec::new(),
        failures: Vec::new(),
        data: Vec::new(),
        quarantine: Vec::new(),
        bytes_read: 0,
    };
    let mut read_buf = Vec::new();
    let mut file_buf = Vec::new();
    let mut inflater = Inflater::default();
    let mut copies = 0u32;
    while let Ok(job) = rx.recv_blocking() {
        let obj = job.obj;
        let body = match job.body {
            Ok(b) => b,
            Err(e) => {
                out.fail(&ctx.progress, &obj.uri, &e);
                continue;
            }
        };
        let input = match Input::open(body, &mut file_buf, ctx.opts.in_memory_max_bytes) {
            Ok(i) => i,
            Err(e) => {
                out.fail(&ctx.progress, &obj.uri, &e);
                continue;
            }
        };
        let hash = match input.hash(&file_buf) {
            Ok(h) => h,
            Err(e) => {
                out.fail(&ctx.progress, &obj.uri, &e);
                continue;
            }
        };
        let hash_text = format!("xxh3:{hash:032x}");
        let earlier = ctx.index.known_hash(&hash_text);
        let first_in_run = ctx
            .seen_hashes
            .lock()
            .map(|mut s| s.insert(hash))
            .unwrap_or(true);
        let duplicate = earlier.is_some() || !first_in_run;

        let (path_account, path_region) = path_account_region(&obj.uri);
        let mut sink = FileSink {
            writer: &mut writer,
            quarantine: &mut quarantine,
            uri: &obj.uri,
            run: &ctx.run,
            path_account,
            path_region,
            write: !duplicate,
            events: 0,
            bad: 0,
            error: None,
        };
        let report = match &earlier {
            // Same bytes ingested by an earlier run: nothing to read.
            Some(_) => None,
            None => Some(match input.in_memory(&file_buf) {
                Some(data) => read_object_in_memory(
                    data,
                    &mut inflater,
                    &mut read_buf,
                    ctx.opts.reader,
                    &mut sink,
                ),
                None => match input.reader(&file_buf) {
                    Ok(r) => read_object(r, &mut read_buf, ctx.opts.reader, &mut sink),
                    Err(e) => {
                        out.fail(&ctx.progress, &obj.uri, &e);
                        continue;
                    }
                },
            }),
        };
        let (events, bad) = (sink.events, sink.bad);
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        let mut entry = SourceEntry {
            uri: obj.uri.clone(),
            size: obj.size,
            version: obj.version.clone(),
            hash: hash_text,
            status: SourceStatus::Ingested,
            events,
            records_quarantined: bad,
            reason: None,
        };
        match report.map(|r| r.shape) {
            None => {
                entry.status = SourceStatus::Duplicate;
                entry.events = earlier.unwrap_or(0);
                entry.reason = Some("same bytes as an object ingested before".into());
            }
            Some(_) if duplicate => {
                entry.status = SourceStatus::Duplicate;
                entry.reason = Some("same bytes as another object of this run".into());
            }
            Some(Shape::Events) => {}
            Some(Shape::Digest) => {
                entry.status = SourceStatus::Skipped;
                entry.reason = Some("CloudTrail digest file".into());
            }
            Some(Shape::NotCloudTrail) => {
                entry.status = SourceStatus::Skipped;
                entry.reason = Some("JSON without CloudTrail events".into());
            }
            Some(shape @ (Shape::Empty | Shape::NotJson(_))) => {
                let reason = match shape {
                    Shape::NotJson(r) => r,
                    _ => "empty file".to_string(),
                };
                entry.status = SourceStatus::Quarantined;
                entry.reason = Some(reason.clone());
                let copy_rel = if obj.size > 0 {
                    copies += 1;
                    let name = obj.uri.rsplit('/').next().unwrap_or("object");
                    let rel = format!(
                        "_quarantine/{TABLE}/objects/{commit}-w{id}-{copies}-{}",
                        partition_value(name)
                    );
                    let staged = ctx.lake.staging_path(&rel);
                    input.copy_to(&file_buf, &staged)?;
                    out.quarantine.push((staged, rel.clone()));
                    Some(rel)
                } else {
                    None
                };
                quarantine.write(&QuarantineRecord {
                    source_uri: &obj.uri,
                    record_index: None,
                    byte_offset: None,
                    reason: &reason,
                    raw: None,
                    raw_base64: None,
                    object: copy_rel.as_deref(),
                    run: &ctx.run,
                })?;
            }
        }
        tracing::debug!(uri = %obj.uri, events, bad, status = ?entry.status, "object read");
        out.bytes_read += obj.size;
        ctx.progress.bytes.fetch_add(obj.size, Ordering::Relaxed);
        ctx.progress.files_done.fetch_add(1, Ordering::Relaxed);
        if !duplicate {
            ctx.progress.events.fetch_add(events, Ordering::Relaxed);
        }
        ctx.progress.quarantined.fetch_add(bad, Ordering::Relaxed);
        out.sources.push(entry);
        writer.enforce_budget()?;
    }
    out.data = writer.finish()?;
    if let Some(q) = quarantine.finish()? {
        out.quarantine.push(q);
    }
    Ok(out)
}

/// An object's bytes, in memory or in a file.
enum Input {
    /// Read whole into the worker's file buffer (`len` bytes).
    Memory(usize),
    Owned(bytes::Bytes),
    /// A file; a downloaded temporary one is deleted when this drops.
    File(PathBuf, #[allow(dead_code)] Option<tempfile::NamedTempFile>),
}

impl Input {
    fn open(body: Body, file_buf: &mut Vec<u8>, in_memory_max: u64) -> std::io::Result<Input> {
        match body {
            Body::Bytes(b) => Ok(Input::Owned(b)),
            Body::Temp(t) => Ok(Input::File(t.path().to_path_buf(), Some(t))),
            Body::File(path) => {
                let mut f = File::open(&path)?;
                let len = f.metadata()?.len();
                if len > in_memory_max {
                    return Ok(Input::File(path, None));
                }
                file_buf.clear();
                f.read_to_end(file_buf)?;
                Ok(Input::Memory(file_buf.len()))
            }
        }
    }

    fn hash(&self, file_buf: &[u8]) -> std::io::Result<u128> {
        match self {
            Input::Memory(n) => Ok(xxhash_rust::xxh3::xxh3_128(&file_buf[..*n])),
            Input::Owned(b) => Ok(xxhash_rust::xxh3::xxh3_128(b)),
            Input::File(path, _) => {
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                let mut f = File::open(path)?;
                let mut chunk = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut chunk)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&chunk[..n]);
                }
                Ok(h.digest128())
            }
        }
    }

    /// The object's bytes, when they are in memory.
    fn in_memory<'a>(&'a self, file_buf: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            Input::Memory(n) => Some(&file_buf[..*n]),
            Input::Owned(b) => Some(b),
            Input::File(..) => None,
        }
    }

    fn reader<'a>(&'a self, file_buf: &'a [u8]) -> std::io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Input::Memory(n) => Box::new(&file_buf[..*n]),
            Input::Owned(b) => Box::new(&b[..]),
            Input::File(path, _) => Box::new(BufReader::with_capacity(1 << 20, File::open(path)?)),
        })
    }

    fn copy_to(&self, file_buf: &[u8], dest: &std::path::Path) -> Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))?;
        }
        let r = match self {
            Input::Memory(n) => std::fs::write(dest, &file_buf[..*n]),
            Input::Owned(b) => std::fs::write(dest, b),
            Input::File(path, _) => std::fs::copy(path, dest).map(|_| ()),
        };
        r.map_err(|e| Error::io("copying to quarantine", dest, e))
    }
}

/// Receives the records of one object: good ones into the partition writers, bad ones into
/// the quarantine.
struct FileSink<'a> {
    writer: &'a mut PartitionedWriter<CloudTrailBuilder>,
    quarantine: &'a mut QuarantineWriter,
    uri: &'a str,
    run: &'a str,
    path_account: Option<&'a str>,
    path_region: Option<&'a str>,
    /// False for objects whose bytes were already ingested: count, do not write.
    write: bool,
    events: u64,
    bad: u64,
    /// A failure of the lake itself (not of the input), which stops the run.
    error: Option<Error>,
}

impl FileSink<'_> {
    fn quarantine_record(
        &mut self,
        index: Option<u64>,
        offset: Option<u64>,
        raw: &[u8],
        reason: &str,
    ) {
        self.bad += 1;
        if !self.write || self.error.is_some() {
            return;
        }
        let rec = QuarantineRecord {
            source_uri: self.uri,
            record_index: index,
            byte_offset: offset,
            reason,
            raw: None,
            raw_base64: None,
            object: None,
            run: self.run,
        }
        .with_raw(raw);
        if let Err(e) = self.quarantine.write(&rec) {
            self.error = Some(e);
        }
    }
}

impl RecordSink for FileSink<'_> {
    fn record(&mut self, index: u64, event: &RawEvent<'_>, raw: &[u8]) {
        let checked = match check(event) {
            Ok(c) => c,
            Err(table::Reject(reason)) => {
                self.quarantine_record(Some(index), None, raw, &reason);
                return;
            }
        };
        self.events += 1;
        if !self.write || self.error.is_some() {
            return;
        }
        let account = partition_value(checked.account().or(self.path_account).unwrap_or("unknown"));
        let region = partition_value(checked.region().or(self.path_region).unwrap_or("unknown"));
        match self.writer.builder(&account, &region, checked.day) {
            Ok(b) => b.append(&checked, raw, self.uri, index, self.run),
            Err(e) => self.error = Some(e),
        }
    }

    fn bad_record(&mut self, index: Option<u64>, offset: u64, raw: &[u8], reason: &str) {
        self.quarantine_record(index, Some(offset), raw, reason);
    }
}

/// Put a segment's files in place and write its manifest (last).
async fn commit_segment(
    lake: &Lake,
    run: &str,
    segment: u32,
    r: SegmentResult,
    summary: &mut CloudTrailSummary,
) -> Result<()> {
    let mut files: Vec<(PathBuf, String)> = r
        .data
        .iter()
        .map(|f| (f.staged.clone(), f.rel.clone()))
        .collect();
    files.extend(r.quarantine.iter().cloned());
    let uploads = futures::stream::iter(files.iter())
        .map(|(staged, rel)| lake.commit_file(staged, rel))
        .buffer_unordered(8);
    futures::pin_mut!(uploads);
    while let Some(res) = uploads.next().await {
        res?;
    }
    for s in &r.sources {
        summary.done.push(s.uri.clone());
        match s.status {
            SourceStatus::Ingested => {
                summary.files_read += 1;
                summary.events_ingested += s.events;
            }
            SourceStatus::Skipped => summary.files_skipped += 1,
            SourceStatus::Quarantined => summary.files_quarantined += 1,
            SourceStatus::Duplicate => {
                summary.files_already_ingested += 1;
                summary.events_duplicate += s.events;
            }
        }
        summary.records_quarantined += s.records_quarantined;
    }
    summary.files_failed += r.failures.len() as u64;
    summary.errors.extend(
        r.failures
            .iter()
            .take(20usize.saturating_sub(summary.errors.len()))
            .cloned(),
    );
    summary.bytes_read += r.bytes_read;
    summary.data_files_written += r.data.len() as u64;
    if r.sources.is_empty() && files.is_empty() {
        return Ok(());
    }
    let manifest = Manifest {
        format: 1,
        table: TABLE.to_string(),
        run: run.to_string(),
        segment,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tool: format!("trailhound {}", env!("CARGO_PKG_VERSION")),
        data_files: r.data.iter().map(|f| f.rel.clone()).collect(),
        quarantine_files: r.quarantine.iter().map(|(_, rel)| rel.clone()).collect(),
        sources: r.sources,
        state_files: Vec::new(),
        commits: Vec::new(),
        replaced_files: Vec::new(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Manifest {
        path: Manifest::rel_path(TABLE, run, segment),
        message: e.to_string(),
    })?;
    lake.put_manifest(&Manifest::rel_path(TABLE, run, segment), bytes)
        .await?;
    tracing::info!(
        segment,
        data_files = manifest.data_files.len(),
        sources = manifest.sources.len(),
        "segment committed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::files::walk;

    fn file(n: usize) -> Vec<u8> {
        let records: Vec<serde_json::Value> = (0..5)
            .map(|i| {
                serde_json::json!({
                    "eventVersion": "1.08",
                    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/u", "accountId": "123456789012"},
                    "eventTime": format!("2026-11-29T10:{n:02}:{i:02}Z"),
                    "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                    "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1",
                    "eventID": format!("{n:08}-0000-0000-0000-{i:012}"),
                    "recipientAccountId": "123456789012"
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap()
    }

    fn rows(lake: &std::path::Path) -> (usize, u64) {
        let mut files = 0;
        let mut rows = 0;
        walk(&lake.join("cloudtrail"), &mut |p| {
            if p.extension().is_some_and(|e| e == "parquet") {
                files += 1;
                let r = ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap()).unwrap();
                rows += r.metadata().file_metadata().num_rows() as u64;
            }
        })
        .unwrap();
        (files, rows)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn small_commits_become_one_file_and_one_manifest_losing_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap(), None).unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        // Ingest these sources with the default options.
        async fn ingest(sources: &[String], lake: &Lake) -> CloudTrailSummary {
            let opts = CloudTrailOptions::default();
            ingest_cloudtrail(
                sources,
                lake,
                &Clients::default(),
                &opts,
                &Progress::default(),
            )
            .await
            .unwrap()
        }
        // Write the n-th source file and ingest it alone: one small commit.
        async fn add(lake: &Lake, src: &std::path::Path, n: usize) -> String {
            let p = src.join(format!("f{n}.json"));
            std::fs::write(&p, file(n)).unwrap();
            let uri = p.display().to_string();
            ingest(std::slice::from_ref(&uri), lake).await;
            uri
        }
        let mut sources = Vec::new();
        for n in 0..10 {
            sources.push(add(&lake, &src, n).await);
        }
        let root = dir.path().join("lake");
        assert_eq!(rows(&root), (10, 50));
        let opts_c = CompactOptions {
            min_manifests: 4,
            ..CompactOptions::default()
        };
        let c = compact(&lake, &opts_c, &|_| true).await.unwrap();
        assert_eq!((c.files_merged, c.files_written, c.rows), (10, 1, 50));
        assert_eq!(c.manifests_merged, 10);
        assert_eq!(rows(&root), (1, 50));
        assert_eq!(lake.list("_manifest/cloudtrail/").await.unwrap().len(), 1);

        // The merged manifest still knows every source, and keeps its file committed.
        let index = ManifestIndex::load(&lake, "cloudtrail").await.unwrap();
        assert_eq!(index.sources(), 10);
        assert_eq!(clean_orphans(&lake, "cloudtrail", &index).await.unwrap(), 0);
        let again = ingest(&sources, &lake).await;
        assert_eq!(
            (again.files_already_ingested, again.events_ingested),
            (10, 0)
        );
        assert_eq!(rows(&root), (1, 50));

        // Nothing more to do until more small commits come.
        let c = compact(&lake, &opts_c, &|_| true).await.unwrap();
        assert_eq!((c.files_merged, c.manifests_merged), (0, 0));

        // A compaction that stopped after its manifest, before removing what it merged: the
        // next ingest removes the merged-away files, so no row is there twice.
        for n in 10..19 {
            sources.push(add(&lake, &src, n).await);
        }
        let before: Vec<(String, Vec<u8>)> = {
            let mut v = Vec::new();
            for rel in lake.list("cloudtrail/").await.unwrap() {
                let bytes = lake.get_bytes(&rel).await.unwrap();
                v.push((rel, bytes));
            }
            v
        };
        compact(&lake, &opts_c, &|_| true).await.unwrap();
        for (rel, bytes) in &before {
            if !root.join(rel).exists() {
                lake.put_bytes(rel, bytes.clone()).await.unwrap();
            }
        }
        assert!(
            rows(&root).1 > 95,
            "the crash left duplicates: {:?}",
            rows(&root)
        );
        let summary = ingest(&sources, &lake).await;
        assert!(summary.orphans_removed >= 9, "{summary:?}");
        assert_eq!(rows(&root).1, 95);
        assert_eq!(summary.events_ingested, 0);
    }
}

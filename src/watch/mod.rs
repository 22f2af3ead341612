//! `trailhound watch --config watch.toml`: the streaming watch.
//!
//! Every poll: new CloudTrail objects (announced on SQS, or found under an S3 prefix) and new
//! Lambda log events (CloudWatch Logs) are appended to the lake through the same ingest as
//! `trailhound ingest` (so the lake's manifest and the log groups' cursors are the watch's
//! checkpoint of what was read); the SQS messages whose objects are in the lake are deleted;
//! the detectors run over the lake (with all its history) and, every `baseline.interval`, the
//! behaviour baseline scores the recent activity; findings not alerted before go to the lake,
//! to each sink's spool and out to the sinks (see [`alerts`] for why nothing is lost or
//! repeated). A status line goes to stderr and the status file is rewritten after each poll.

pub mod alerts;
pub mod config;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use detectors::baseline::Model;
use detectors::finding::Finding;
use detectors::incremental::History;
use detectors::registry::{Registry, WINDOWED_TABLES};
use detectors::runner::Scope;
use pipeline::cloudtrail::ingest::{CloudTrailOptions, ingest_cloudtrail_objects};
use pipeline::ingest::{Clients, Progress};
use pipeline::lake::Lake;
use pipeline::lambda::ingest::{LambdaOptions, ingest_lambda_logs};
use pipeline::sink::{FileSink, SNS_MAX_BYTES, Sink, SnsSink};
use pipeline::sqs::{self, Notice, Received};
use serde::Serialize;

use crate::UsageError;
use crate::cli::WatchArgs;
use alerts::{Alerted, Spool, render, write_atomic};
use config::{Config, SinkConfig};

/// Alerts handed to one sink in one poll at most.
const MAX_SENDS_PER_POLL: usize = 500;

/// The longest wait between two delivery attempts to a sink that keeps failing.
const MAX_BACKOFF_SECS: u64 = 60;

/// Fault injection for the crash tests: `TRAILHOUND_FAILPOINT=<name>` makes the process
/// abort (no clean-up, like `kill -9`) when it reaches that point.
fn failpoint(name: &str) {
    if std::env::var("TRAILHOUND_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("watch: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// This process's resident set size in MiB, from `/proc/self/status` (None elsewhere).
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A sink, its spool and its retry state.
struct Out {
    sink: Sink,
    name: String,
    spool: Spool,
    failures: u32,
    next_try: Option<Instant>,
    delivered: u64,
    last_error: Option<String>,
}

/// What the status file and line say.
#[derive(Debug, Default, Clone, Serialize)]
struct Status {
    started_at: String,
    updated_at: String,
    polls: u64,
    /// The last poll's seconds, from reading the sources to the alerts handed to the sinks.
    last_poll_seconds: f64,
    /// Where the last poll's time went (seconds): reading CloudTrail, bringing the shared
    /// views up to date, detecting (detectors and baseline), alerting and delivering,
    /// compacting; and `lambda`, the seconds of the Lambda read that ended during the poll
    /// (it runs beside the polls).
    last_poll_split: BTreeMap<&'static str, f64>,
    /// Seconds from the oldest SQS notification handled in the last poll being sent to its
    /// alerts being out (0 when it handled none).
    lag_seconds: f64,
    /// Events (CloudTrail records and Lambda log events) appended per second, over the
    /// last status interval.
    events_per_second: f64,
    events_total: u64,
    cloudtrail_objects_total: u64,
    log_events_total: u64,
    findings_total: u64,
    /// Findings the watch remembers having alerted (within the horizon).
    alerts_remembered: usize,
    alerts_queued_total: u64,
    alerts_delivered: BTreeMap<String, u64>,
    spool_depth: BTreeMap<String, usize>,
    alerts_refused: BTreeMap<String, usize>,
    sink_errors: BTreeMap<String, String>,
    sqs_messages_deleted_total: u64,
    sqs_messages_unreadable_total: u64,
    records_quarantined_total: u64,
    /// Small data files merged into bigger ones.
    files_compacted_total: u64,
    /// Rows of the shared views kept in memory (per role, API, function and hour).
    history_rows: usize,
    /// The process's resident memory (MiB; Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    resident_mib: Option<f64>,
    errors_total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

impl Status {
    /// Count an error and keep it as the last one.
    fn error(&mut self, message: String) {
        self.errors_total += 1;
        self.last_error = Some(message);
    }
}

struct Watch {
    config: Config,
    lake: Lake,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    registry: Registry,
    /// The AWS settings (a lake on S3 is read with them).
    sdk: aws_config::SdkConfig,
    /// The query runtime every poll's session shares (its Parquet footer cache).
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    model: Option<Model>,
    last_baseline: Option<Instant>,
    state_dir: PathBuf,
    alerted: Alerted,
    outs: Vec<Out>,
    status: Status,
    status_file: PathBuf,
    /// Detector id → dedup window (µs), for recognising a finding alerted before.
    gaps: HashMap<String, i64>,
    /// The shared views kept up to date from each poll's new files, and which files they
    /// have counted.
    history: History,
    /// The earliest event time among the files counted since the detectors last ran to the
    /// end (kept across a failed poll): the next run reads from there.
    pending_from: Option<i64>,
    /// Queue messages received while waiting for the poll, by source.
    prefetched: HashMap<usize, Vec<Received>>,
    last_compaction: Instant,
    /// The Lambda sources' read in flight: it runs beside the polls (CloudWatch Logs answers
    /// slowly, and a CloudTrail alert should not wait for it); its rows are detected on by
    /// the first poll after their commit.
    lambda_read: Option<tokio::task::JoinHandle<LambdaRead>>,
    /// The Lambda tables' compaction, put off while a read was in flight.
    lambda_compaction_due: bool,
    _lock: std::fs::File,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let config = config::Config::load(&args.config)?;
    let mut watch = Watch::start(config, &args.config).await?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("watch: stopping after this poll");
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let poll = watch.config.poll_interval.std();
    let status_every = watch.config.status.interval.std();
    let mut last_line = Instant::now();
    let mut events_at_line = 0u64;
    eprintln!(
        "watch: {} source(s) into {}, {} detector(s){}, {} sink(s); polling every {:?}; status in {}",
        watch.config.cloudtrail.len() + watch.config.lambda.len(),
        watch.lake.uri(),
        watch.selected_ids().len(),
        if watch.model.is_some() {
            " and the baseline"
        } else {
            ""
        },
        watch.outs.len(),
        poll,
        watch.status_file.display()
    );
    let mut failed_polls = 0u64;
    loop {
        let started = Instant::now();
        if let Err(e) = watch.poll().await {
            failed_polls += 1;
            watch.status.error(format!("{e:#}"));
            tracing::error!(error = %format!("{e:#}"), "poll failed; trying again next poll");
            eprintln!("watch: error: {e:#}");
        }
        watch.status.polls += 1;
        watch.status.last_poll_seconds = started.elapsed().as_secs_f64();
        let since_line = last_line.elapsed();
        if !status_every.is_zero() && since_line >= status_every {
            watch.status.events_per_second =
                (watch.status.events_total - events_at_line) as f64 / since_line.as_secs_f64();
            events_at_line = watch.status.events_total;
            last_line = Instant::now();
            eprintln!("{}", watch.status_line());
        }
        if let Err(e) = watch.write_status() {
            tracing::warn!(error = %format!("{e:#}"), "status file not written");
        }
        if args.once || stop.load(Ordering::SeqCst) {
            break;
        }
        let rest = poll.saturating_sub(started.elapsed());
        if !rest.is_zero() {
            tokio::select! {
                // With a queue, the wait is a long poll of it: a notification starts the next
                // poll at once (the log groups are read then too).
                _ = watch.wait(rest) => {}
                _ = wait_for(&stop) => {}
            }
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    // The Lambda read in flight commits before the watch stops (a kill would leave it to the
    // next start, which reads from the last commit).
    watch.end_lambda_read(true).await;
    if let Err(e) = watch.write_status() {
        tracing::warn!(error = %format!("{e:#}"), "status file not written");
    }
    eprintln!("{}", watch.status_line());
    Ok(if args.once && failed_polls > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// What one read of the Lambda sources did, per source, and its seconds.
type LambdaRead = (
    Vec<anyhow::Result<pipeline::lambda::ingest::LambdaSummary>>,
    f64,
);

/// New events of one Lambda source into the lake.
async fn read_lambda(
    lake: &Lake,
    s3: &aws_sdk_s3::Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    src: &config::LambdaSource,
) -> anyhow::Result<pipeline::lambda::ingest::LambdaSummary> {
    let (source, prefix) = match (&src.log_group, &src.log_group_prefix) {
        (Some(g), _) => (format!("cwl://{g}"), None),
        (None, Some(p)) => ("cwl://".to_string(), Some(p.clone())),
        (None, None) => return Ok(Default::default()),
    };
    let opts = LambdaOptions {
        log_group_prefix: prefix,
        overlap_ms: src.late_events.0 / 1000,
        ..LambdaOptions::default()
    };
    let clients = Clients {
        s3: Some(s3),
        logs: Some(logs),
        ..Clients::default()
    };
    ingest_lambda_logs(
        std::slice::from_ref(&source),
        lake,
        &clients,
        &opts,
        &Progress::default(),
    )
    .await
    .with_context(|| format!("appending {source} to the lake"))
}

/// One run of the detectors (and the baseline, when it has a model) over the lake.
struct Detection<'a> {
    lake: &'a Lake,
    /// For a lake on S3: how the query engine reaches it.
    sdk: &'a aws_config::SdkConfig,
    runtime: &'a Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    history: &'a History,
    /// The earliest event time of the rows not detected on yet (none: only the baseline).
    from: Option<i64>,
    registry: &'a Registry,
    detectors: &'a [String],
    model: Option<&'a Model>,
    /// The watch's scope: findings about activity since then.
    since: i64,
}

struct Detected {
    findings: Vec<Finding>,
    failures: Vec<String>,
    baseline_scored: bool,
}

impl Detection<'_> {
    async fn run(self) -> anyhow::Result<Detected> {
        let since = self.since;
        let selected = self.registry.select(self.detectors)?;
        let started = Instant::now();
        let mut findings: Vec<Finding> = Vec::new();
        let mut failures = Vec::new();
        if let Some(from) = self.from {
            // Each detector reads the raw tables from its window before the new rows (or
            // before the scope, when they are older); the shared views hold the history.
            // Detectors of one window share a session.
            let mut by_window: BTreeMap<Vec<i64>, Vec<&detectors::registry::Detector>> =
                BTreeMap::new();
            for d in selected {
                let windows = WINDOWED_TABLES.iter().map(|t| d.window_of(t)).collect();
                by_window.entry(windows).or_default().push(d);
            }
            // Findings from the new rows on: what came before was judged when it was new,
            // and a detector's rows are judged right only with its whole window before them.
            let scope = Scope {
                since: Some(from.max(since)),
                until: None,
            };
            let mut sessions = Vec::new();
            for group in by_window.into_values() {
                // The detectors of a group have the same windows.
                let start = from.max(since);
                let since_of = |table: &str| Some(start - group[0].window_of(table));
                let ctx = self
                    .history
                    .session_by_table(self.lake, Some(self.sdk), self.runtime, &since_of)
                    .await?;
                let sqls: Vec<&str> = group.iter().map(|d| d.sql.as_str()).collect();
                match detectors::views::materialize(&ctx, &self.registry.views, &sqls).await {
                    Ok(_) => sessions.push((ctx, group)),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            // Every detector, whatever its session, `DETECTORS_AT_ONCE` at a time.
            use futures::StreamExt;
            let detected_at = now_micros();
            let mut runs = futures::stream::iter(
                sessions
                    .iter()
                    .flat_map(|(ctx, group)| group.iter().map(move |d| (ctx, *d))),
            )
            .map(|(ctx, d)| async move {
                let outcome = detectors::runner::run(ctx, d, scope, detected_at).await;
                (d, outcome)
            })
            .buffer_unordered(DETECTORS_AT_ONCE);
            while let Some((d, outcome)) = runs.next().await {
                match outcome {
                    Ok(o) => {
                        tracing::debug!(detector = %d.meta.id, findings = o.findings.len(), seconds = o.seconds, "detector ran");
                        findings.extend(o.findings);
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
            tracing::info!(
                findings = findings.len(),
                seconds = started.elapsed().as_secs_f64(),
                "detectors ran"
            );
        }
        // The last two hours (buckets start on the hour), within the scope: an incident
        // that began earlier is recognised by its detector, subject and time range.
        let recent = (now_micros() - 2 * 3_600_000_000).max(since);
        let from_hour = recent - recent.rem_euclid(3_600_000_000);
        let ctx = self
            .history
            .session(self.lake, Some(self.sdk), self.runtime, Some(from_hour))
            .await?;
        let baseline_scored = self.model.is_some();
        if let Some(model) = self.model {
            let started = Instant::now();
            let scored = detectors::baseline::score(
                &ctx,
                model,
                from_hour,
                crate::baseline::END_OF_TIME,
                now_micros(),
            )
            .await?;
            tracing::info!(
                findings = scored.findings.len(),
                seconds = started.elapsed().as_secs_f64(),
                "baseline scored"
            );
            findings.extend(scored.findings.into_iter().filter(|f| f.last_seen >= since));
        }
        findings.sort_by(|a, b| {
            (a.first_seen, &a.detector_id, &a.subject).cmp(&(
                b.first_seen,
                &b.detector_id,
                &b.subject,
            ))
        });
        // Keep the lake's findings table complete (those it lacks).
        crate::detect::store_new(self.lake, &ctx, &findings, false).await?;
        Ok(Detected {
            findings,
            failures,
            baseline_scored,
        })
    }
}

/// Detectors run at once (more take more memory for little gain on two cores).
const DETECTORS_AT_ONCE: usize = 2;

/// A directory name for a sink's spool: readable, and distinct per sink.
fn slug(name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let tail: String = readable
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "{}-{:016x}",
        tail.trim_matches('-'),
        xxhash_rust::xxh3::xxh3_64(name.as_bytes())
    )
}

impl Watch {
    async fn start(config: Config, config_path: &Path) -> anyhow::Result<Watch> {
        let state_dir = config.state_dir.clone().context("state_dir")?;
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
        let lock_path = state_dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            return Err(UsageError(format!(
                "another watch is running with the state directory {} ({} is held)",
                state_dir.display(),
                lock_path.display()
            ))
            .into());
        }
        let registry = Registry::load(config.sql_dir.as_deref())?;
        registry
            .select(&config.detectors)
            .map_err(|e| UsageError(format!("{}: detectors: {e}", config_path.display())))?;
        let model = match &config.baseline {
            Some(b) => Some(crate::baseline::read_model(&b.model)?),
            None => None,
        };
        let sdk = pipeline::aws::sdk_config().await;
        let s3 = pipeline::aws::s3_client(&sdk);
        let lake = Lake::open(&config.lake, Some(s3.clone()))
            .with_context(|| format!("opening lake {}", config.lake))?;
        let removed = pipeline::cloudtrail::ingest::clean_cloudtrail_orphans(&lake).await?;
        if removed > 0 {
            tracing::info!(removed, "files of an interrupted ingest removed");
        }
        let mut outs = Vec::new();
        for s in &config.sinks {
            if let SinkConfig::Sns { topic_arn } = s {
                let check = aws_sdk_sns::Client::new(&sdk)
                    .get_topic_attributes()
                    .topic_arn(topic_arn)
                    .send()
                    .await;
                if let Err(e) = check {
                    let e = aws_sdk_sns::error::DisplayErrorContext(e);
                    eprintln!(
                        "watch: warning: SNS topic {topic_arn} cannot be read ({e}); alerts wait in the spool until it can be published to"
                    );
                }
            }
            let sink = match s {
                SinkConfig::Sns { topic_arn } => Sink::Sns(SnsSink::new(&sdk, topic_arn)),
                SinkConfig::File { path } => Sink::File(FileSink::new(path)),
                SinkConfig::Stdout {} => Sink::Stdout,
            };
            let name = sink.name();
            let spool = Spool::open(state_dir.join("spool").join(slug(&name)))?;
            outs.push(Out {
                sink,
                name,
                spool,
                failures: 0,
                next_try: None,
                delivered: 0,
                last_error: None,
            });
        }
        let horizon = config.horizon.0;
        let mut alerted = Alerted::load(
            &state_dir.join("alerted.json"),
            now_micros() - config.lookback.0,
        )?;
        if alerted.forget_before(now_micros() - horizon) {
            alerted.save(&state_dir.join("alerted.json"))?;
        }
        let mut gaps: HashMap<String, i64> = registry
            .detectors
            .iter()
            .map(|d| (d.meta.id.clone(), d.dedup_micros))
            .collect();
        if let Some(m) = &model {
            for c in detectors::baseline::Category::ALL {
                gaps.insert(c.detector_id(), m.params.merge_gap_minutes * 60_000_000);
            }
        }
        let status_file = config
            .status
            .file
            .clone()
            .unwrap_or_else(|| state_dir.join("status.json"));
        let status = Status {
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ..Status::default()
        };
        let registry_views = registry.views.clone();
        Ok(Watch {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            sdk: sdk.clone(),
            logs: pipeline::lambda::cwl::logs_client(&sdk),
            s3,
            lake,
            registry,
            runtime: detectors::session::shared_runtime()?,
            model,
            last_baseline: None,
            state_dir,
            alerted,
            outs,
            status,
            status_file,
            gaps,
            // The first poll counts every file of the lake as new, so its detectors run over
            // the lookback: the last run may have stopped between appending data and alerting.
            history: History::new(&registry_views),
            pending_from: None,
            prefetched: HashMap::new(),
            last_compaction: Instant::now(),
            lambda_read: None,
            lambda_compaction_due: false,
            config,
            _lock: lock,
        })
    }

    fn selected_ids(&self) -> Vec<String> {
        self.registry
            .select(&self.config.detectors)
            .map(|d| d.iter().map(|d| d.meta.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Wait for the next poll: `rest`, or with a queue source, until a notification arrives
    /// (at most a second longer than `rest`: SQS waits in whole seconds). What arrives is kept
    /// for the poll. A wait cut short (Ctrl-C) may leave messages received and not kept: SQS
    /// shows them again after the queue's visibility timeout.
    async fn wait(&mut self, rest: std::time::Duration) {
        let Some((i, queue)) = self
            .config
            .cloudtrail
            .iter()
            .enumerate()
            .find_map(|(i, c)| c.queue_url.clone().map(|q| (i, q)))
        else {
            tokio::time::sleep(rest).await;
            return;
        };
        let seconds = rest.as_secs_f64().ceil().max(1.0) as i32;
        let max = self.config.cloudtrail[i].max_per_poll;
        match sqs::receive_waiting(&self.sqs, &queue, max, seconds).await {
            Ok(got) => self.prefetched.entry(i).or_default().extend(got),
            Err(e) => {
                tracing::warn!(error = %e, "waiting on the queue failed");
                tokio::time::sleep(rest).await;
            }
        }
    }

    /// One poll: read, append, detect, alert, deliver.
    async fn poll(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut new_events = 0u64;
        let mut oldest_sent: Option<i64> = None;

        let mut split = BTreeMap::new();
        let mut lap = Instant::now();
        let mut mark = |split: &mut BTreeMap<&'static str, f64>, what: &'static str| {
            split.insert(
                what,
                (lap.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            );
            lap = Instant::now();
        };
        // Lambda: the read an earlier poll started, if it has ended, and the next one.
        if let Some(seconds) = self.end_lambda_read(false).await {
            split.insert("lambda", (seconds * 1000.0).round() / 1000.0);
        }
        self.start_lambda_read();
        // CloudTrail.
        for i in 0..self.config.cloudtrail.len() {
            let (n, sent) = self.poll_cloudtrail(i).await?;
            new_events += n;
            if let Some(s) = sent {
                oldest_sent = Some(oldest_sent.map_or(s, |o: i64| o.min(s)));
            }
        }
        mark(&mut split, "cloudtrail");

        // The detectors (when CloudTrail or the last poll brought something, or the baseline
        // is due) run while the Lambda logs are read: what those bring is detected on the
        // next poll.
        let baseline_due = self.model.is_some()
            && self.last_baseline.is_none_or(|t| {
                t.elapsed()
                    >= self
                        .config
                        .baseline
                        .as_ref()
                        .map_or(std::time::Duration::MAX, |b| b.interval.std())
            });
        // The shared views take in the files committed since the last poll (this poll's
        // CloudTrail, the last poll's Lambda logs, anything another ingest added).
        let counted = self
            .history
            .update(&self.lake, Some(&self.sdk), &self.runtime)
            .await
            .context("bringing the shared views up to date")?;
        tracing::debug!(
            files = counted.new_files,
            rows = counted.new_rows,
            seconds = counted.seconds,
            "shared views updated"
        );
        self.status.history_rows = self.history.state_rows();
        self.status.resident_mib = resident_mib();
        if let Some(t) = counted.fresh_from {
            self.pending_from = Some(self.pending_from.map_or(t, |p| p.min(t)));
        }
        mark(&mut split, "history");
        let run_detect = self.pending_from.is_some() || baseline_due;
        let input = Detection {
            lake: &self.lake,
            sdk: &self.sdk,
            runtime: &self.runtime,
            history: &self.history,
            from: self.pending_from,
            registry: &self.registry,
            detectors: &self.config.detectors,
            model: if baseline_due {
                self.model.as_ref()
            } else {
                None
            },
            since: self.alerted.since,
        };
        let detected = if run_detect {
            Some(input.run().await)
        } else {
            None
        };
        mark(&mut split, "detect");
        self.status.events_total += new_events;
        if let Some(d) = detected {
            let d = d?;
            for f in &d.failures {
                self.status.error(f.clone());
                tracing::error!(error = %f, "detector failed");
            }
            if d.baseline_scored {
                self.last_baseline = Some(Instant::now());
            }
            self.alert(d.findings).await?;
            self.pending_from = None;
        }
        self.deliver().await;
        mark(&mut split, "alert");
        if let Some(seconds) = self.end_lambda_read(false).await {
            split.insert("lambda", (seconds * 1000.0).round() / 1000.0);
        }
        // Every poll commits small files; merge them before they slow the detectors down.
        let every = self.config.compaction_interval.std();
        if !every.is_zero() && self.last_compaction.elapsed() >= every {
            self.last_compaction = Instant::now();
            self.compact().await?;
            mark(&mut split, "compaction");
        } else if self.lambda_compaction_due && self.lambda_read.is_none() {
            self.compact_lambda().await?;
            mark(&mut split, "compaction");
        }
        tracing::debug!(target: "trailhound::watch::poll", seconds = started.elapsed().as_secs_f64(), split = ?split, "poll");
        self.status.last_poll_split = split;
        if let Some(sent) = oldest_sent {
            self.status.lag_seconds = (now_micros() - sent * 1000) as f64 / 1e6;
        } else if new_events > 0 {
            self.status.lag_seconds = started.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Merge the small files and manifests the polls committed.
    async fn compact(&mut self) -> anyhow::Result<()> {
        use pipeline::lake::compact::{CompactOptions, compact_only};
        let opts = CompactOptions::default();
        // Only files the shared views have counted: a merged file is never counted again.
        let counted = |rel: &str| self.history.is_counted(rel);
        let ct = compact_only(
            &self.lake,
            "cloudtrail",
            &[(
                "cloudtrail",
                Arc::new(pipeline::cloudtrail::ingest::properties(1)),
            )],
            &opts,
            &counted,
        )
        .await
        .context("compacting cloudtrail")?;
        let findings = detectors::store::compact(&self.lake, 16)
            .await
            .context("compacting the findings")?;
        self.status.files_compacted_total += (ct.files_merged + findings) as u64;
        if self.lambda_read.is_some() {
            self.lambda_compaction_due = true;
        } else {
            self.compact_lambda().await?;
        }
        Ok(())
    }

    /// Merge the Lambda tables' small files and manifests (no read of them in flight).
    async fn compact_lambda(&mut self) -> anyhow::Result<()> {
        use pipeline::lake::compact::{CompactOptions, compact_only};
        use pipeline::lambda::ingest as lambda;
        let opts = CompactOptions::default();
        let counted = |rel: &str| self.history.is_counted(rel);
        let props = Arc::new(lambda::properties(1));
        let lb = compact_only(
            &self.lake,
            lambda::MANIFEST,
            &[
                (lambda::INVOCATIONS_TABLE, props.clone()),
                (lambda::LOGS_TABLE, props),
            ],
            &opts,
            &|rel: &str| rel.starts_with(lambda::LOGS_TABLE) || counted(rel),
        )
        .await
        .context("compacting the Lambda tables")?;
        self.lambda_compaction_due = false;
        self.status.files_compacted_total += lb.files_merged as u64;
        Ok(())
    }

    /// Start reading the Lambda sources, unless a read is in flight.
    fn start_lambda_read(&mut self) {
        if self.lambda_read.is_some() || self.config.lambda.is_empty() {
            return;
        }
        let (lake, s3, logs) = (self.lake.clone(), self.s3.clone(), self.logs.clone());
        let sources = self.config.lambda.clone();
        self.lambda_read = Some(tokio::spawn(async move {
            let started = Instant::now();
            let mut out = Vec::new();
            for src in &sources {
                out.push(read_lambda(&lake, &s3, &logs, src).await);
            }
            (out, started.elapsed().as_secs_f64())
        }));
    }

    /// Take in the Lambda read in flight if it has ended (or, with `wait`, once it ends):
    /// its seconds.
    async fn end_lambda_read(&mut self, wait: bool) -> Option<f64> {
        let ended = self.lambda_read.as_ref()?.is_finished();
        if !ended && !wait {
            return None;
        }
        let handle = self.lambda_read.take()?;
        let (read, seconds) = match handle.await {
            Ok(read) => read,
            Err(e) => (
                vec![Err(anyhow::anyhow!("the Lambda log read stopped: {e}"))],
                0.0,
            ),
        };
        for r in read {
            match r {
                Ok(summary) => {
                    self.status.events_total += summary.log_events;
                    self.note_lambda(&summary);
                }
                Err(e) => {
                    self.status.error(format!("{e:#}"));
                    tracing::error!(error = %format!("{e:#}"), "Lambda log read failed; reading again next poll");
                    eprintln!("watch: error: {e:#}");
                }
            }
        }
        Some(seconds)
    }

    /// New objects of one CloudTrail source into the lake: (events appended, the oldest
    /// notification's sent time in ms).
    async fn poll_cloudtrail(&mut self, i: usize) -> anyhow::Result<(u64, Option<i64>)> {
        let src = &self.config.cloudtrail[i];
        let max = src.max_per_poll;
        let mut messages: Vec<Received> = Vec::new();
        let objects = if let Some(queue) = &src.queue_url {
            messages = self.prefetched.remove(&i).unwrap_or_default();
            if messages.len() < max {
                let more = sqs::receive(&self.sqs, queue, max - messages.len())
                    .await
                    .map_err(anyhow::Error::msg)?;
                messages.extend(more);
            }
            let mut objs = Vec::new();
            for m in &messages {
                if let Notice::Objects(o) = &m.notice {
                    objs.extend(o.iter().cloned());
                }
            }
            objs
        } else {
            let prefix = src.s3.as_deref().unwrap_or_default();
            pipeline::source::list(prefix, Some(&self.s3))
                .await
                .with_context(|| format!("listing {prefix}"))?
        };
        let oldest_sent = messages.iter().filter_map(|m| m.sent_ms).min();
        let mut events = 0;
        let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
        if !objects.is_empty() {
            let opts = CloudTrailOptions {
                fetch_concurrency: 16,
                ..CloudTrailOptions::default()
            };
            let clients = Clients {
                s3: Some(&self.s3),
                ..Clients::default()
            };
            let summary = ingest_cloudtrail_objects(
                objects,
                &self.lake,
                &clients,
                &opts,
                &Progress::default(),
            )
            .await
            .context("appending CloudTrail to the lake")?;
            events = summary.events_ingested;
            self.status.cloudtrail_objects_total += summary.files_read;
            self.status.records_quarantined_total += summary.records_quarantined;
            for e in &summary.errors {
                self.status.error(e.clone());
                tracing::warn!(error = %e, "object not read; its notification stays on the queue");
            }
            done.extend(summary.done);
            if events > 0 {
                failpoint("watch-after-ingest");
            }
        }
        if let Some(queue) = &self.config.cloudtrail[i].queue_url {
            let mut unreadable = Vec::new();
            let deletable: Vec<&Received> = messages
                .iter()
                .filter(|m| match &m.notice {
                    Notice::Objects(o) => o.iter().all(|o| done.contains(&o.uri)),
                    Notice::Test => true,
                    Notice::Unreadable(why) => {
                        unreadable.push((*m).clone());
                        tracing::warn!(message = %m.message_id, reason = %why, "queue message is not an S3 notification; quarantined");
                        true
                    }
                })
                .collect();
            if !unreadable.is_empty() {
                self.quarantine_messages(queue, &unreadable).await?;
                self.status.sqs_messages_unreadable_total += unreadable.len() as u64;
            }
            let failed = sqs::delete(&self.sqs, queue, &deletable).await;
            for (id, why) in &failed {
                tracing::warn!(message = %id, reason = %why, "queue message not deleted (it will come back; its objects are in the lake)");
            }
            self.status.sqs_messages_deleted_total += (deletable.len() - failed.len()) as u64;
        }
        Ok((events, oldest_sent))
    }

    /// Keep queue messages that are not S3 notifications in the lake's quarantine.
    async fn quarantine_messages(&self, queue: &str, messages: &[Received]) -> anyhow::Result<()> {
        let run = uuid::Uuid::now_v7().simple().to_string();
        let rel = format!("_quarantine/sqs/{run}.ndjson");
        let mut q =
            pipeline::lake::quarantine::QuarantineWriter::new(self.lake.staging_path(&rel), rel);
        for m in messages {
            let reason = match &m.notice {
                Notice::Unreadable(why) => why.as_str(),
                _ => "unreadable",
            };
            let uri = format!("{queue}#{}", m.message_id);
            q.write(
                &pipeline::lake::quarantine::QuarantineRecord {
                    source_uri: &uri,
                    record_index: None,
                    byte_offset: None,
                    reason,
                    raw: None,
                    raw_base64: None,
                    object: None,
                    run: &run,
                }
                .with_raw(m.body.as_bytes()),
            )?;
        }
        if let Some((staged, rel)) = q.finish()? {
            self.lake.commit_file(&staged, &rel).await?;
        }
        Ok(())
    }

    /// Count what a Lambda read did in the status.
    fn note_lambda(&mut self, summary: &pipeline::lambda::ingest::LambdaSummary) {
        for e in &summary.errors {
            self.status.error(e.clone());
            tracing::warn!(error = %e, "log group read failed; read again next poll");
        }
        self.status.log_events_total += summary.log_events;
        self.status.records_quarantined_total += summary.records_quarantined;
    }

    /// Queue the findings not alerted before on every sink, then remember them as alerted.
    async fn alert(&mut self, findings: Vec<Finding>) -> anyhow::Result<()> {
        let now = now_micros();
        let mut changed = false;
        let mut fresh = Vec::new();
        for f in &findings {
            let gap = self
                .gaps
                .get(&f.detector_id)
                .copied()
                .unwrap_or(3_600_000_000);
            if self.alerted.is_new(f, gap, &mut changed)
                && !fresh.iter().any(|x: &&Finding| x.uid == f.uid)
            {
                fresh.push(f);
            }
        }
        let lake = self.lake.uri();
        for f in &fresh {
            let message = render(f, &lake, SNS_MAX_BYTES - 1024);
            for out in &self.outs {
                out.spool.put(&message, now)?;
            }
        }
        if !fresh.is_empty() {
            failpoint("watch-after-spool");
        }
        for f in &fresh {
            self.alerted.insert(f, now);
            changed = true;
        }
        if self.alerted.forget_before(now - self.config.horizon.0) {
            changed = true;
        }
        if changed {
            self.alerted.save(&self.state_dir.join("alerted.json"))?;
        }
        if !fresh.is_empty() {
            tracing::info!(new = fresh.len(), "alerts queued");
        }
        self.status.findings_total += fresh.len() as u64;
        self.status.alerts_queued_total += (fresh.len() * self.outs.len()) as u64;
        Ok(())
    }

    /// Hand each sink what its spool holds (unless it is backing off after failures).
    async fn deliver(&mut self) {
        for out in &mut self.outs {
            if out.next_try.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            let pending = match out.spool.pending() {
                Ok(p) => p,
                Err(e) => {
                    out.last_error = Some(format!("{e:#}"));
                    continue;
                }
            };
            if pending.is_empty() {
                continue;
            }
            // A backlog (after an outage) goes out a slice per poll, oldest first.
            let pending: Vec<alerts::Spooled> =
                pending.into_iter().take(MAX_SENDS_PER_POLL).collect();
            let messages: Vec<pipeline::sink::Message> =
                pending.iter().map(|s| s.message.clone()).collect();
            let d = out.sink.send(&messages).await;
            let mut by_id: HashMap<String, alerts::Spooled> = pending
                .into_iter()
                .map(|s| (s.message.id.clone(), s))
                .collect();
            for id in &d.delivered {
                if let Err(e) = out.spool.done(id) {
                    tracing::error!(error = %format!("{e:#}"), "spool file not removed (the alert may be sent again)");
                }
                by_id.remove(id);
            }
            out.delivered += d.delivered.len() as u64;
            for (id, why) in &d.refused {
                tracing::error!(sink = %out.name, alert = %id, reason = %why, "alert refused; kept in the spool's refused/ directory");
                if let Some(s) = by_id.remove(id) {
                    let _ = out.spool.refuse(s, why);
                }
            }
            if d.retry.is_empty() {
                out.failures = 0;
                out.next_try = None;
                out.last_error = None;
            } else {
                out.failures += 1;
                let wait = (1u64 << out.failures.min(6)).min(MAX_BACKOFF_SECS);
                out.next_try = Some(Instant::now() + std::time::Duration::from_secs(wait));
                let why = d.retry[0].1.clone();
                tracing::warn!(sink = %out.name, pending = d.retry.len(), reason = %why, retry_in_s = wait, "alerts not delivered; kept in the spool");
                out.last_error = Some(why.clone());
                for (id, why) in &d.retry {
                    if let Some(s) = by_id.remove(id) {
                        let _ = out.spool.failed(s, why);
                    }
                }
            }
        }
    }

    fn refresh_sinks(&mut self) {
        for out in &self.outs {
            self.status
                .alerts_delivered
                .insert(out.name.clone(), out.delivered);
            self.status
                .spool_depth
                .insert(out.name.clone(), out.spool.len());
            self.status
                .alerts_refused
                .insert(out.name.clone(), out.spool.refused());
            match &out.last_error {
                Some(e) => {
                    self.status.sink_errors.insert(out.name.clone(), e.clone());
                }
                None => {
                    self.status.sink_errors.remove(&out.name);
                }
            }
        }
    }

    fn write_status(&mut self) -> anyhow::Result<()> {
        self.refresh_sinks();
        self.status.alerts_remembered = self.alerted.len();
        self.status.updated_at =
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        write_atomic(&self.status_file, &serde_json::to_vec_pretty(&self.status)?)
    }

    fn status_line(&mut self) -> String {
        self.refresh_sinks();
        let s = &self.status;
        let spool: usize = s.spool_depth.values().sum();
        format!(
            "watch: {} polls (last {:.2} s), lag {:.1} s, {:.0} events/s ({} total), {} findings alerted, spool {}{}",
            s.polls,
            s.last_poll_seconds,
            s.lag_seconds,
            s.events_per_second,
            s.events_total,
            s.findings_total,
            spool,
            if s.sink_errors.is_empty() {
                String::new()
            } else {
                format!(" ({} sink(s) failing)", s.sink_errors.len())
            }
        )
    }
}

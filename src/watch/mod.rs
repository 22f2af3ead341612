//! `trailhound watch --config watch.toml`: the streaming watch.
//!
//! Every poll ([`poll`]): new CloudTrail objects (announced on SQS, or found under an S3
//! prefix) are appended to the lake through the same ingest as `trailhound ingest` (the lake's
//! manifest is the watch's checkpoint of what was read) and their SQS messages deleted; the
//! Lambda log groups are read the same way beside the polls. The shared history views take in
//! the files committed since the last poll; the detectors run over the new rows with the
//! window each needs before them and, every `baseline.interval`, the behaviour baseline scores
//! the recent activity ([`detection`]); findings not alerted before go to the lake, to each
//! sink's spool and out to the sinks ([`delivery`]; [`alerts`] says why nothing is lost or
//! repeated). The status file and line ([`status`]) are written after each poll.

pub mod alerts;
pub mod config;
mod delivery;
mod detection;
mod poll;
mod status;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use detectors::baseline::Model;
use detectors::incremental::History;
use detectors::registry::Registry;
use pipeline::lake::Lake;
use pipeline::sink::{FileSink, Sink, SnsSink};
use pipeline::sqs::Received;

use crate::cli::{UsageError, WatchArgs};
use alerts::{Alerted, Spool};
use config::{Config, SinkConfig};
use delivery::{Out, slug};
use poll::LambdaRead;
use status::Status;

/// Fault injection for the crash tests: `TRAILHOUND_FAILPOINT=<name>` makes the process
/// abort (no clean-up, like `kill -9`) when it reaches that point.
fn failpoint(name: &str) {
    if std::env::var("TRAILHOUND_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("watch: failpoint {name}: aborting");
        std::process::abort();
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The watch: its sources, lake, detectors, sinks and what it remembers between polls.
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
            let sink = match s {
                SinkConfig::Sns { topic_arn } => {
                    let sns = SnsSink::new(&sdk, topic_arn);
                    if let Err(e) = sns.check().await {
                        eprintln!(
                            "watch: warning: SNS topic {topic_arn} cannot be read ({e}); alerts wait in the spool until it can be published to"
                        );
                    }
                    Sink::Sns(sns)
                }
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
}

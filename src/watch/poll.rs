//! One poll of the watch: read the sources into the lake, bring the shared views up to date,
//! detect, alert and deliver, compact; and the Lambda read that runs beside the polls.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use anyhow::Context;
use pipeline::cloudtrail::ingest::{CloudTrailOptions, ingest_cloudtrail_objects};
use pipeline::ingest::{Clients, Progress};
use pipeline::lake::Lake;
use pipeline::lambda::ingest::{LambdaOptions, ingest_lambda_logs};
use pipeline::sqs::{self, Notice, Received};

use super::detection::Detection;
use super::status::resident_mib;
use super::{Watch, config, failpoint, now_micros};

/// What one read of the Lambda sources did, per source, and its seconds.
pub(super) type LambdaRead = (
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

/// The queue messages that can be deleted after a poll — those whose objects are all in the
/// lake (`done`), S3's test events, and messages that are not notifications — and, of them,
/// the ones to quarantine first. A message with an object not read yet stays on the queue.
fn settled<'a>(
    messages: &'a [Received],
    done: &HashSet<String>,
) -> (Vec<&'a Received>, Vec<Received>) {
    let mut unreadable = Vec::new();
    let deletable = messages
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
    (deletable, unreadable)
}

impl Watch {
    /// Wait for the next poll: `rest`, or with a queue source, until a notification arrives
    /// (at most a second longer than `rest`: SQS waits in whole seconds). What arrives is kept
    /// for the poll. A wait cut short (Ctrl-C) may leave messages received and not kept: SQS
    /// shows them again after the queue's visibility timeout.
    pub(super) async fn wait(&mut self, rest: std::time::Duration) {
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
    pub(super) async fn poll(&mut self) -> anyhow::Result<()> {
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
        let opts = pipeline::lake::compact::CompactOptions::default();
        // Only files the shared views have counted: a merged file is never counted again.
        let counted = |rel: &str| self.history.is_counted(rel);
        let ct = pipeline::cloudtrail::ingest::compact(&self.lake, &opts, &counted)
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
        let opts = pipeline::lake::compact::CompactOptions::default();
        let counted = |rel: &str| self.history.is_counted(rel);
        let lb = pipeline::lambda::ingest::compact(&self.lake, &opts, &counted)
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
    pub(super) async fn end_lambda_read(&mut self, wait: bool) -> Option<f64> {
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
        let mut done: HashSet<String> = HashSet::new();
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
            let (deletable, unreadable) = settled(&messages, &done);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::source::{ObjectLoc, SourceObject};

    fn message(id: &str, notice: Notice) -> Received {
        Received {
            message_id: id.into(),
            receipt_handle: format!("r-{id}"),
            body: "{}".into(),
            notice,
            sent_ms: None,
        }
    }

    fn object(key: &str) -> SourceObject {
        SourceObject {
            uri: format!("s3://trail/{key}"),
            size: 1,
            version: "e".into(),
            loc: ObjectLoc::S3 {
                bucket: "trail".into(),
                key: key.into(),
            },
            skip: None,
        }
    }

    #[test]
    fn a_message_is_deleted_only_once_all_its_objects_are_in_the_lake() {
        let messages = vec![
            message("both", Notice::Objects(vec![object("a"), object("b")])),
            message("half", Notice::Objects(vec![object("a"), object("c")])),
            message("none", Notice::Objects(vec![])),
            message("test", Notice::Test),
            message("junk", Notice::Unreadable("not JSON".into())),
        ];
        let done: HashSet<String> = ["s3://trail/a", "s3://trail/b"]
            .into_iter()
            .map(String::from)
            .collect();
        let (deletable, unreadable) = settled(&messages, &done);
        let ids: Vec<&str> = deletable.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["both", "none", "test", "junk"]);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].message_id, "junk");
        // Nothing read: only what needs no reading goes.
        let (deletable, _) = settled(&messages, &HashSet::new());
        let ids: Vec<&str> = deletable.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["none", "test", "junk"]);
    }
}

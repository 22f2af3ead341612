//! One run of the detectors and the baseline over what the polls brought.

use std::sync::Arc;
use std::time::Instant;

use detectors::baseline::Model;
use detectors::finding::Finding;
use detectors::incremental::History;
use detectors::registry::Registry;
use detectors::run::{Over, RunSet, run_set};
use detectors::runner::Scope;
use pipeline::lake::Lake;

use super::now_micros;

/// One run of the detectors (and the baseline, when it has a model) over the lake.
pub(super) struct Detection<'a> {
    pub(super) lake: &'a Lake,
    /// For a lake on S3: how the query engine reaches it.
    pub(super) sdk: &'a aws_config::SdkConfig,
    pub(super) runtime: &'a Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    pub(super) history: &'a History,
    /// The earliest event time of the rows not detected on yet (none: only the baseline).
    pub(super) from: Option<i64>,
    pub(super) registry: &'a Registry,
    pub(super) detectors: &'a [String],
    pub(super) model: Option<&'a Model>,
    /// The watch's scope: findings about activity since then.
    pub(super) since: i64,
}

pub(super) struct Detected {
    pub(super) findings: Vec<Finding>,
    pub(super) failures: Vec<String>,
    pub(super) baseline_scored: bool,
}

impl Detection<'_> {
    pub(super) async fn run(self) -> anyhow::Result<Detected> {
        let since = self.since;
        let selected = self.registry.select(self.detectors)?;
        let started = Instant::now();
        let mut findings: Vec<Finding> = Vec::new();
        let mut failures = Vec::new();
        if let Some(from) = self.from {
            // Findings from the new rows on: what came before was judged when it was new,
            // and a detector's rows are judged right only with its whole window before them.
            // Each detector reads the raw tables from its window before them; the shared views
            // hold the history. New findings go into the lake's findings table.
            let ran = run_set(RunSet {
                detectors: &selected,
                views: &self.registry.views,
                over: Over::Window {
                    history: self.history,
                    lake: self.lake,
                    sdk: Some(self.sdk),
                    runtime: self.runtime,
                    from,
                },
                scope: Scope {
                    since: Some(from.max(since)),
                    until: None,
                },
                at_once: detectors::run::AT_ONCE,
                store: Some(self.lake),
                on_done: None,
            })
            .await?;
            tracing::info!(
                findings = ran.findings.len(),
                seconds = started.elapsed().as_secs_f64(),
                "detectors ran"
            );
            findings.extend(ran.findings);
            failures.extend(ran.failures);
        }
        // The last two hours (buckets start on the hour), within the scope: an incident
        // that began earlier is recognised by its detector, subject and time range.
        let baseline_scored = self.model.is_some();
        if let Some(model) = self.model {
            let started = Instant::now();
            let recent = (now_micros() - 2 * 3_600_000_000).max(since);
            let from_hour = recent - recent.rem_euclid(3_600_000_000);
            let ctx = self
                .history
                .session(self.lake, Some(self.sdk), self.runtime, Some(from_hour))
                .await?;
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
            let scored: Vec<Finding> = scored
                .findings
                .into_iter()
                .filter(|f| f.last_seen >= since)
                .collect();
            // Keep the lake's findings table complete (those it lacks).
            detectors::store::store_new(self.lake, &ctx, &scored).await?;
            findings.extend(scored);
        }
        detectors::run::sort(&mut findings);
        Ok(Detected {
            findings,
            failures,
            baseline_scored,
        })
    }
}

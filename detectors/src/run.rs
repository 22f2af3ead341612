//! Running a set of detectors over a lake: the one way `detect`, `eval`, `demo` and the
//! streaming watch run them.
//!
//! [`run_set`] takes the detectors, where they read ([`Over`]: one session over the whole lake,
//! or per detector the window of raw tables before the new rows with the watch's kept-up-to-date
//! history views), the scope findings are reported for, how many run at once, and whether the
//! new findings go into the lake's `findings` table. Shared views the detectors read are
//! computed once per session; a detector that fails is reported and the others still run.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use pipeline::lake::Lake;

use crate::finding::Finding;
use crate::incremental::History;
use crate::registry::{Detector, WINDOWED_TABLES};
use crate::runner::{Outcome, Scope};
use crate::views::View;
use crate::{Result, store};

/// Where the detectors read.
pub enum Over<'a> {
    /// One session over the whole lake (its views are computed once for every detector).
    Session(&'a SessionContext),
    /// The lake as the watch sees it: each detector reads the raw tables from its window
    /// before `from` (or before the scope's start, when that is later), and the merged
    /// history views for everything older. Detectors with the same windows share a session.
    Window {
        history: &'a History,
        lake: &'a Lake,
        /// For a lake on S3: how the query engine reaches it.
        sdk: Option<&'a aws_config::SdkConfig>,
        runtime: &'a Arc<RuntimeEnv>,
        /// The earliest event time of the rows not judged yet (µs).
        from: i64,
    },
}

/// A run of a set of detectors: what runs, over what, and what is done with the findings.
pub struct RunSet<'a> {
    pub detectors: &'a [&'a Detector],
    /// The views the detectors may read (the registry's).
    pub views: &'a [View],
    pub over: Over<'a>,
    /// Findings are reported for evidence in this range; the history before it is still read.
    pub scope: Scope,
    /// Detectors run at once (1: one after the other; [`AT_ONCE`] is what the commands use).
    pub at_once: usize,
    /// Add the findings this lake's `findings` table does not hold yet to it.
    pub store: Option<&'a Lake>,
    /// Called after each detector has run (progress).
    pub on_done: Option<&'a (dyn Fn(&Outcome) + Sync)>,
}

/// Detectors run at once by `detect`, `eval`, `demo` and the watch. Each detector's query
/// uses every core, but has serial stretches (planning, a final aggregation, a join's build
/// side) in which a second one keeps the cores busy: on `bench/detect`'s lake, two at once took
/// the pack from 9.6-10.3 s to 8.8-9.1 s on two cores, with the same peak memory (the heaviest
/// detector's). More take more memory for little gain.
pub const AT_ONCE: usize = 2;

/// What a [`RunSet`] produced.
#[derive(Debug, Default)]
pub struct Ran {
    /// Each detector that ran, in the order given.
    pub outcomes: Vec<Outcome>,
    /// Every finding, by first seen, detector and subject.
    pub findings: Vec<Finding>,
    /// Detectors (or shared views) that failed: the error messages, which name them.
    pub failures: Vec<String>,
    /// Findings added to the lake (0 when not storing).
    pub stored: usize,
}

/// Run a set of detectors (see the module's documentation).
pub async fn run_set(set: RunSet<'_>) -> Result<Ran> {
    let mut ran = Ran::default();
    let sessions = sessions(&set, &mut ran.failures).await?;
    let result = run_in(&set, &sessions, ran).await;
    // The shared views' files of a cluster session are deleted whatever happened.
    for (ctx, _) in &sessions {
        if let Err(e) = crate::views::release(ctx, set.views).await {
            tracing::warn!(error = %e, "could not delete the shared views' files");
        }
    }
    result
}

async fn run_in(
    set: &RunSet<'_>,
    sessions: &[(SessionContext, Vec<&Detector>)],
    mut ran: Ran,
) -> Result<Ran> {
    let detected_at = chrono::Utc::now().timestamp_micros();
    let order: BTreeMap<&str, usize> = set
        .detectors
        .iter()
        .enumerate()
        .map(|(i, d)| (d.meta.id.as_str(), i))
        .collect();
    let scope = set.scope;
    let mut runs = futures::stream::iter(
        sessions
            .iter()
            .flat_map(|(ctx, group)| group.iter().map(move |d| (ctx, *d))),
    )
    .map(|(ctx, d)| async move { (d, crate::runner::run(ctx, d, scope, detected_at).await) })
    .buffer_unordered(set.at_once.max(1));
    let mut done = Vec::with_capacity(set.detectors.len());
    while let Some((d, result)) = runs.next().await {
        match result {
            Ok(o) => {
                tracing::info!(detector = %o.detector_id, findings = o.findings.len(), rows = o.rows, seconds = o.seconds, "detector ran");
                if let Some(f) = set.on_done {
                    f(&o);
                }
                done.push((order.get(d.meta.id.as_str()).copied().unwrap_or(0), o));
            }
            Err(e) => ran.failures.push(e.to_string()),
        }
    }
    done.sort_by_key(|(i, _)| *i);
    ran.outcomes = done.into_iter().map(|(_, o)| o).collect();
    ran.findings = ran
        .outcomes
        .iter()
        .flat_map(|o| o.findings.iter().cloned())
        .collect();
    sort(&mut ran.findings);
    if let Some(lake) = set.store {
        let ctx = match sessions.first() {
            Some((ctx, _)) => ctx.clone(),
            None => crate::session::open(lake, None).await?,
        };
        ran.stored = store::store_new(lake, &ctx, &ran.findings).await?;
    }
    Ok(ran)
}

/// Findings in the order people read them: by first seen, detector and subject.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.first_seen, &a.detector_id, &a.subject).cmp(&(b.first_seen, &b.detector_id, &b.subject))
    });
}

/// The sessions the detectors run in, each with its detectors, their shared views computed.
/// A view that cannot be computed fails the detectors of its session (they are left out and
/// the error is in `failures`).
async fn sessions<'a>(
    set: &RunSet<'a>,
    failures: &mut Vec<String>,
) -> Result<Vec<(SessionContext, Vec<&'a Detector>)>> {
    let groups: Vec<(SessionContext, Vec<&'a Detector>)> = match &set.over {
        Over::Session(ctx) => vec![((*ctx).clone(), set.detectors.to_vec())],
        Over::Window {
            history,
            lake,
            sdk,
            runtime,
            from,
        } => {
            // Detectors with the same windows share a session.
            let mut by_window: BTreeMap<Vec<i64>, Vec<&'a Detector>> = BTreeMap::new();
            for d in set.detectors {
                let windows = WINDOWED_TABLES.iter().map(|t| d.window_of(t)).collect();
                by_window.entry(windows).or_default().push(*d);
            }
            let start = set.scope.since.map_or(*from, |s| s.max(*from));
            let mut out = Vec::new();
            for group in by_window.into_values() {
                let first = group[0];
                let since_of = |table: &str| Some(start - first.window_of(table));
                let ctx = history
                    .session_by_table(lake, *sdk, runtime, &since_of)
                    .await?;
                out.push((ctx, group));
            }
            out
        }
    };
    let mut ready = Vec::with_capacity(groups.len());
    for (ctx, group) in groups {
        let started = std::time::Instant::now();
        let sqls: Vec<&str> = group.iter().map(|d| d.sql.as_str()).collect();
        match crate::views::materialize(&ctx, set.views, &sqls).await {
            Ok(computed) => {
                for (view, rows, seconds) in computed {
                    tracing::info!(%view, rows, seconds, "shared view computed");
                }
                tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    "shared views computed"
                );
                ready.push((ctx, group));
            }
            Err(e) => {
                failures.push(e.to_string());
                if let Err(e) = crate::views::release(&ctx, set.views).await {
                    tracing::warn!(error = %e, "could not delete the shared views' files");
                }
            }
        }
    }
    Ok(ready)
}

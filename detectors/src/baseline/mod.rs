//! The behaviour baseline: what each Lambda function normally does, learnt from the lake, and
//! the buckets where it stops doing it.
//!
//! **Features** ([`features`]): per function and bucket (five minutes and one hour), from
//! `lambda_invocations` and the CloudTrail sessions of its execution role: invocations, error and
//! timeout counts, duration p50/p95, memory p95, cold starts, API calls, distinct APIs, source
//! addresses and user agents, and refused calls.
//!
//! **Model** ([`model`]), per function, learnt from its hourly buckets:
//! 1. **Counts are judged as counts.** Per seasonal cell (hour of day, weekdays and weekends
//!    apart, pooled with the hours either side) the mean count an hour, winsorised a little
//!    above the cell's median so that the attacks hidden in the history do not raise it, with
//!    Jeffreys' half count so that it is never exactly zero; and per function and count the
//!    overdispersion beyond Poisson (moments). A bucket's count k is judged by the negative
//!    binomial's P(X ≥ k) at that mean (a five-minute bucket expects a twelfth of its hour),
//!    widened by the uncertainty of the rate itself (a gamma of shape count-seen + ½).
//!    Errors and timeouts are judged against the usual failure share as a beta-binomial:
//!    the share's beta comes from every invocation and (winsorised) failure seen, with
//!    Jeffreys' prior. A probability at most `p_alert` (10⁻⁶ an hour,
//!    a twelfth of it for five minutes) raises a finding: no fixed minimum count, so four
//!    errors of ten invocations after two weeks without one are as visible as 600 errors.
//! 2. **Hours and kinds of day it never runs in.** Activity in an hour of day in which (with
//!    the hours either side) the function ran on at most one day of its history, or on a kind
//!    of day (weekend, weekday) it ran on at most once, is a finding of its own, for functions
//!    that average at least one invocation an hour (below that, silence is chance).
//! 3. **Levels** (durations, memory) are medians on a log scale with a robust scale (1.4826 ×
//!    MAD); one at least `z_alert` (6) robust deviations and 1.5× above normal, over as many
//!    invocations as the function's usual bucket holds (up to 3), raises a finding when a
//!    Gaussian mixture (linfa, full covariance, fitted to the hourly vectors of standardised
//!    deviations that no feature calls unusual) also finds the whole hour unusual.
//!
//! Every deviation in a finding says what was observed, what was expected and how probable
//! it was (for levels, the robust deviations and their normal-tail probability).
//!
//! **Why this method** (measured with `bench/baseline`, which prints the three ways of judging a
//! bucket side by side on the same lakes; `eval --method` re-measures them, `docs/baseline.md`
//! has the figures). The model before it judged counts by robust z-scores on the Anscombe
//! scale with fixed minimum effects (10 more invocations, five failures): right for busy
//! functions, blind to small ones, where four errors or a night's three invocations are a few
//! robust deviations and under the minimum. The mixture alone flags every bucket where a
//! feature that is normally constant moves at all; it stays as the veto of level findings,
//! where it removed the false findings of single slow invocations.
//!
//! Functions seen for less than a week, or invoked in fewer than 24 hours, are `learning`:
//! they are listed, never alerted on.

pub mod features;
mod file;
pub mod model;
pub mod plot;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::finding::{Evidence, Finding, finding_uid};
use crate::registry::Severity;
use crate::{Error, Result};
pub use features::{Category, FEATURES, Feature, Granularity, Row};
pub use file::{SUMMARY_FORMAT, summary_path};
pub use model::{FunctionModel, Method, Model, Params, Quiet, State};

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// Evidence records kept per finding (the rest are counted).
const MAX_EVIDENCE: usize = 200;

fn iso(micros: i64) -> String {
    pipeline::time::rfc3339_millis(micros.div_euclid(1000)).unwrap_or_default()
}

/// What training saw.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub functions: usize,
    pub ready: usize,
    pub learning: usize,
    pub buckets: usize,
    pub feature_rows: usize,
    pub since: String,
    pub until: String,
    pub seconds_features: f64,
    pub seconds_fit: f64,
}

/// Learn every function's normal from the lake's activity in `[since, until)` (µs; `None`:
/// all of it).
pub async fn train(
    ctx: &SessionContext,
    since: Option<i64>,
    until: Option<i64>,
    params: &Params,
    now: i64,
) -> Result<(Model, TrainSummary)> {
    let Some((lo, hi)) = features::data_span(ctx).await? else {
        return Err(Error::Usage(
            "the lake has no Lambda invocations or CloudTrail events to learn from".into(),
        ));
    };
    // Training ends where the data does: hours after the last event are not quiet hours.
    let (first_hour, after_last_hour) = (lo - lo.rem_euclid(HOUR), hi - hi.rem_euclid(HOUR) + HOUR);
    let since = since.unwrap_or(first_hour).max(first_hour);
    let until = until.unwrap_or(after_last_hour).min(after_last_hour);
    if until <= since {
        return Err(Error::Usage(format!(
            "nothing to learn from between {} and {} (the lake holds {} to {})",
            iso(since),
            iso(until),
            iso(lo),
            iso(hi)
        )));
    }
    let t = std::time::Instant::now();
    // Hours only: five-minute buckets are judged against a twelfth of their hour.
    let rows = features::compute(ctx, Granularity::Hour, since, until, Some((lo, hi))).await?;
    let seconds_features = t.elapsed().as_secs_f64();
    let feature_rows = rows.len();
    let t = std::time::Instant::now();

    // Functions: whatever was invoked (CloudTrail sessions of other principals are not
    // functions). Rows come sorted by function and bucket.
    let mut spans: Vec<(&str, std::ops::Range<usize>)> = Vec::new();
    let mut start = 0;
    for i in 1..=rows.len() {
        if i == rows.len() || rows[i].function != rows[start].function {
            if rows[start..i].iter().any(|r| r.invocations > 0.0) {
                spans.push((&*rows[start].function, start..i));
            }
            start = i;
        }
    }
    // One function per task on rayon's threads: the mixture's k-means steps are rayon's
    // parallel loops too, which run on the calling worker rather than waking another thread.
    let results: Vec<(String, FunctionModel)> = {
        use rayon::prelude::*;
        spans
            .par_iter()
            .map(|(name, span)| {
                (
                    name.to_string(),
                    train_function(&rows[span.clone()], since, until, params),
                )
            })
            .collect()
    };
    drop(rows);
    let functions: BTreeMap<String, FunctionModel> = results.into_iter().collect();
    let ready = functions
        .values()
        .filter(|f| f.state == State::Ready)
        .count();
    let summary = TrainSummary {
        functions: functions.len(),
        ready,
        learning: functions.len() - ready,
        buckets: functions
            .values()
            .filter_map(|f| f.normal.as_ref())
            .map(|w| w.buckets)
            .sum(),
        feature_rows,
        since: iso(since),
        until: iso(until),
        seconds_features,
        seconds_fit: t.elapsed().as_secs_f64(),
    };
    let model = Model {
        format: model::FORMAT.to_string(),
        trained_at: iso(now),
        since: iso(since),
        until: iso(until),
        params: params.clone(),
        features: FEATURES.iter().map(|f| f.name().to_string()).collect(),
        functions,
    };
    Ok((model, summary))
}

/// One function's model from its hourly rows (sorted by bucket).
fn train_function(hourly: &[Row], since: i64, until: i64, params: &Params) -> FunctionModel {
    let first = hourly.first().map_or(since, |r| r.bucket).max(since);
    let active_hours = hourly.iter().filter(|r| r.invocations > 0.0).count();
    let history_days = (until - first) as f64 / DAY as f64;
    let mut roles: HashMap<&str, usize> = HashMap::new();
    for r in hourly {
        if let Some(a) = &r.actor_arn {
            *roles.entry(&**a).or_default() += 1;
        }
    }
    let role = roles
        .into_iter()
        .max_by_key(|(a, n)| (*n, std::cmp::Reverse(*a)))
        .map(|(a, _)| a.to_string());
    let learning = if history_days < params.min_history_days {
        Some(format!(
            "seen for {history_days:.1} days; learning until {} days",
            params.min_history_days
        ))
    } else if active_hours < params.min_active_hours {
        Some(format!(
            "invoked in {active_hours} hours; learning until {}",
            params.min_active_hours
        ))
    } else {
        None
    };
    let normal = learning.is_none().then(|| {
        let refs: Vec<&Row> = hourly.iter().filter(|r| r.bucket >= first).collect();
        model::train_width(&refs, first, until, params)
    });
    FunctionModel {
        role,
        state: if learning.is_some() {
            State::Learning
        } else {
            State::Ready
        },
        learning,
        first_seen: iso(first),
        history_days: (history_days * 10.0).round() / 10.0,
        active_hours,
        normal,
    }
}

/// One feature's deviation in a flagged bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Deviation {
    /// The feature's name, or `quiet_hour` / `quiet_day` for activity when the function never
    /// runs.
    pub feature: &'static str,
    pub category: Category,
    /// As people read it: a count, a fraction, ms or MB.
    pub value: f64,
    /// What was expected: the count, the usual share, the usual level.
    pub normal: f64,
    /// The usual range at this bucket.
    pub low: f64,
    pub high: f64,
    /// Robust standard deviations above normal (the mixture's scale).
    pub z: f64,
    /// ln P(at least the value seen) under the learnt normal.
    pub ln_p: f64,
    /// Failures: the invocations they are a share of.
    pub invocations: f64,
    /// What a quiet-hour deviation is about (`02:00 UTC and the hours either side ran on 0 of
    /// 21 days`).
    pub note: Option<String>,
}

impl Deviation {
    /// How strongly it deviates, to rank deviations: −log₁₀ of its probability.
    pub fn strength(&self) -> f64 {
        -self.ln_p / std::f64::consts::LN_10
    }
}

/// A bucket judged unusual.
#[derive(Debug, Clone, Serialize)]
pub struct Flag {
    pub function: String,
    pub width: Granularity,
    pub bucket: i64,
    pub nll: f64,
    pub threshold: f64,
    pub deviations: Vec<Deviation>,
    pub category: Category,
    pub invocations: f64,
    pub api_calls: f64,
}

/// The result of scoring.
#[derive(Debug, Default)]
pub struct Scored {
    pub findings: Vec<Finding>,
    pub flags: Vec<Flag>,
    /// Functions with activity in the window that are still learning (with why).
    pub learning: BTreeMap<String, String>,
    /// Functions with activity in the window that the model has never seen.
    pub unknown: BTreeSet<String>,
    pub buckets_scored: usize,
}

/// ln of the upper tail of a standard normal at `z` (the probability a level's deviation
/// is given in).
fn ln_normal_tail(z: f64) -> f64 {
    if z < 5.0 {
        // Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7).
        let x = z.max(0.0) / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * x);
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        (0.5 * poly * (-x * x).exp()).ln()
    } else {
        // The asymptotic series: good to better than 1 % from z = 5.
        -z * z / 2.0 - (z * (2.0 * std::f64::consts::PI).sqrt()).ln() + (1.0 - 1.0 / (z * z)).ln()
    }
}

/// Judge one bucket of a ready function.
pub fn judge(
    name: &str,
    f: &FunctionModel,
    width: Granularity,
    row: &Row,
    params: &Params,
) -> Option<Flag> {
    let w = f.normal.as_ref()?;
    let hourly = width == Granularity::Hour;
    let z = w.z(row);
    let nll = match &w.mixture {
        Some(m) if hourly => m.nll(&z),
        _ => 0.0,
    };
    let unusual = hourly && (w.mixture.is_none() || nll > w.nll_threshold);
    // The same chance of a false finding per hour at either width.
    let ln_alert = (params.p_alert * width.micros() as f64 / HOUR as f64).ln();
    let ln_report = params.p_report.ln().max(ln_alert);
    let (mut count_alert, mut level_alert) = (false, false);
    let mut deviations = Vec::new();
    for ((feature, z), n) in FEATURES.iter().copied().zip(&z).zip(&w.features) {
        let (low, high) = n.range(feature, row.bucket, width, row.invocations);
        let deviation = |normal: f64, ln_p: f64| Deviation {
            feature: feature.name(),
            category: feature.category(),
            value: row.value(feature).unwrap_or(0.0),
            normal,
            low,
            high,
            z: (*z * 10.0).round() / 10.0,
            ln_p,
            invocations: row.invocations,
            note: None,
        };
        match w.surprise(feature, row, width) {
            Some(s) => {
                count_alert |= s.ln_p <= ln_alert;
                if s.ln_p <= ln_report {
                    deviations.push(deviation(n.expected(feature, row.bucket, width), s.ln_p));
                }
            }
            // Levels: a percentile of an hour's invocations, not of five minutes'.
            None if hourly => {
                let meaningful = n.meaningful(feature, row, w.typical_invocations);
                level_alert |= *z >= params.z_alert && meaningful;
                if *z >= params.z_report && (params.method == Method::Mixture || meaningful) {
                    deviations.push(deviation(
                        n.expected(feature, row.bucket, width),
                        ln_normal_tail(*z),
                    ));
                }
            }
            None => {}
        }
    }
    let quiet = if hourly && row.invocations > 0.0 {
        w.quiet(row.bucket, params)
    } else {
        None
    };
    if let Some(q) = quiet {
        let inv = Feature::Invocations;
        let s = w.surprise(inv, row, width)?;
        let (feature, note) = match q {
            Quiet::Hour { hour, ran, days } => (
                "quiet_hour",
                format!(
                    "at {hour:02}:00 UTC, an hour in which (with the hours either side) it ran on \
                     {ran} of {days} days of history"
                ),
            ),
            Quiet::DayKind { weekend, ran, days } => (
                "quiet_day",
                format!(
                    "on a {}, a kind of day it ran on {ran} of {days} times in its history",
                    if weekend { "weekend" } else { "weekday" }
                ),
            ),
        };
        deviations.push(Deviation {
            feature,
            category: Category::OffHours,
            value: row.invocations,
            normal: s.expected,
            low: 0.0,
            high: s.expected,
            z: 0.0,
            ln_p: s.ln_p,
            invocations: row.invocations,
            note: Some(note),
        });
    }
    let flagged = match params.method {
        Method::Features => count_alert || level_alert || quiet.is_some(),
        Method::Mixture => hourly && w.mixture.is_some() && unusual,
        Method::Combined => count_alert || quiet.is_some() || (level_alert && unusual),
    };
    if !flagged {
        return None;
    }
    deviations.sort_by(|a, b| b.strength().total_cmp(&a.strength()));
    // What the bucket is about, most specific first: failures and resource use are per
    // invocation, so they stand whatever the volume; activity when the function never runs
    // comes next; more invocations bring more API calls, so API deviations name the finding
    // only when the volume is normal.
    let deviated: Vec<Category> = deviations.iter().map(|d| d.category).collect();
    let mut category = [
        Category::Failures,
        Category::Resources,
        Category::OffHours,
        Category::Volume,
        Category::Api,
    ]
    .into_iter()
    .find(|c| deviated.contains(c))
    .unwrap_or(Category::Volume);
    if category == Category::Volume && off_hours(w, row.bucket) {
        category = Category::OffHours;
    }
    Some(Flag {
        function: name.to_string(),
        width,
        bucket: row.bucket,
        nll: (nll * 10.0).round() / 10.0,
        threshold: (w.nll_threshold * 10.0).round() / 10.0,
        deviations,
        category,
        invocations: row.invocations,
        api_calls: row.api_calls,
    })
}

/// Whether the function is normally quiet at this hour: its usual invocations here are under a
/// quarter of its busiest hour's.
fn off_hours(w: &model::WidthModel, bucket: i64) -> bool {
    let n = &w.features[Feature::Invocations.index()];
    let busiest = n.rate.iter().map(|r| f64::from(*r)).fold(0.0, f64::max);
    busiest > 0.0 && n.expected(Feature::Invocations, bucket, Granularity::Hour) < 0.25 * busiest
}

/// Judge the lake's buckets in `[since, until)` (µs) against the model, of every function or
/// only of `only`: the flagged buckets, with the learning and unknown functions noted. `span`:
/// the lake's [`features::data_span`], which bounds the window.
pub async fn judge_lake(
    ctx: &SessionContext,
    model: &Model,
    since: i64,
    until: i64,
    span: Option<(i64, i64)>,
    only: Option<&str>,
) -> Result<Scored> {
    let mut out = Scored::default();
    for width in Granularity::ALL {
        // Chunk by chunk: a long window at five minutes is millions of buckets, and only the
        // flagged ones are kept.
        let mut flags = Vec::new();
        features::for_each_chunk(ctx, width, since, until, span, |rows| {
            for row in rows {
                if only.is_some_and(|f| f != &*row.function) {
                    continue;
                }
                let Some(f) = model.functions.get(&*row.function) else {
                    if row.invocations > 0.0 {
                        out.unknown.insert(row.function.to_string());
                    }
                    continue;
                };
                if f.state == State::Learning {
                    out.learning.insert(
                        row.function.to_string(),
                        f.learning.clone().unwrap_or_default(),
                    );
                    continue;
                }
                out.buckets_scored += 1;
                if let Some(flag) = judge(&row.function, f, width, &row, &model.params) {
                    flags.push(flag);
                }
            }
            Ok(())
        })
        .await?;
        flags.sort_by(|a, b| (&a.function, a.bucket).cmp(&(&b.function, b.bucket)));
        out.flags.extend(flags);
    }
    Ok(out)
}

/// Score the lake's buckets in `[since, until)` (µs) against the model: [`judge_lake`], the
/// flagged buckets grouped into findings with their evidence.
pub async fn score(
    ctx: &SessionContext,
    model: &Model,
    since: i64,
    until: i64,
    now: i64,
) -> Result<Scored> {
    let span = features::data_span(ctx).await?;
    let mut out = judge_lake(ctx, model, since, until, span, None).await?;
    out.findings = group(model, &out.flags, now);
    attach_evidence(ctx, &mut out.findings).await?;
    Ok(out)
}

fn severity(c: Category) -> Severity {
    match c {
        Category::Resources | Category::Api => Severity::High,
        Category::Volume | Category::OffHours | Category::Failures => Severity::Medium,
    }
}

fn title(c: Category) -> &'static str {
    match c {
        Category::Volume => "Function invoked far more than its normal",
        Category::OffHours => "Function active at an hour it is normally quiet",
        Category::Failures => "Function failing far more than its normal",
        Category::Resources => "Function running far longer or using far more memory than normal",
        Category::Api => "Function role calling AWS far more than its normal",
    }
}

fn mitre(c: Category) -> Vec<String> {
    let ids: &[&str] = match c {
        Category::Volume => &["T1499.003", "T1648"],
        Category::OffHours => &["T1648"],
        Category::Failures => &["T1499"],
        Category::Resources => &["T1496"],
        Category::Api => &["T1530", "T1648"],
    };
    ids.iter().map(|s| s.to_string()).collect()
}

fn fmt_value(feature: &str, v: f64) -> String {
    match Feature::parse(feature).map(|f| f.kind()) {
        Some(features::Kind::Rate) => format!("{:.1}%", v * 100.0),
        Some(features::Kind::Level) if feature.ends_with("_mb") => format!("{v:.0} MB"),
        Some(features::Kind::Level) => format!("{v:.0} ms"),
        _ if v < 10.0 && v.fract() != 0.0 => format!("{v:.2}"),
        _ => format!("{v:.0}"),
    }
}

/// A deviation as one line that says what was seen, what was expected and how probable it
/// was: `invocations 412 in the 1h from 2026-11-12 03:00 (expected 3.1, usual range 0–6.6;
/// probability of 412 or more at the learnt rate < 1e-300)`.
pub fn describe(d: &Deviation, width: Granularity, bucket: i64) -> String {
    let when = iso(bucket);
    let when = when.get(..16).unwrap_or(&when).replace('T', " ");
    let p = stats::fmt_probability(d.ln_p);
    let w = width.label();
    match Feature::parse(d.feature).map(|f| f.kind()) {
        Some(features::Kind::Rate) => {
            let failures = (d.value * d.invocations).round();
            format!(
                "{} {} ({failures:.0} of {:.0} invocations) in the {w} from {when} (expected \
                 {:.1} of {:.0} at the usual share {}, usual range {}–{}; probability of \
                 {failures:.0} or more {p})",
                d.feature,
                fmt_value(d.feature, d.value),
                d.invocations,
                d.normal * d.invocations,
                d.invocations,
                fmt_value(d.feature, d.normal),
                fmt_value(d.feature, d.low),
                fmt_value(d.feature, d.high),
            )
        }
        Some(features::Kind::Level) => format!(
            "{} {} in the {w} from {when} (expected {}, usual range {}–{}; {:.1} robust SD \
             above, probability {p} under a normal)",
            d.feature,
            fmt_value(d.feature, d.value),
            fmt_value(d.feature, d.normal),
            fmt_value(d.feature, d.low),
            fmt_value(d.feature, d.high),
            d.z
        ),
        Some(features::Kind::Count) => format!(
            "{} {} in the {w} from {when} (expected {}, usual range {}–{}; probability of {} \
             or more at the learnt rate {p})",
            d.feature,
            fmt_value(d.feature, d.value),
            fmt_value(d.feature, d.normal),
            fmt_value(d.feature, d.low),
            fmt_value(d.feature, d.high),
            fmt_value(d.feature, d.value),
        ),
        None => format!(
            "{} invocations in the {w} from {when}, {} (expected {}; probability of {} or more \
             at the learnt rate {p})",
            d.value,
            d.note.as_deref().unwrap_or("when it does not run"),
            fmt_value("invocations", d.normal),
            d.value,
        ),
    }
}
/// Flagged buckets of a function less than `merge_gap_minutes` apart make one finding.
fn group(model: &Model, flags: &[Flag], now: i64) -> Vec<Finding> {
    let gap = model.params.merge_gap_minutes * 60_000_000;
    let mut by_fn: BTreeMap<&str, Vec<&Flag>> = BTreeMap::new();
    for f in flags {
        by_fn.entry(f.function.as_str()).or_default().push(f);
    }
    let mut out = Vec::new();
    for (name, mut fl) in by_fn {
        fl.sort_by_key(|f| (f.bucket, f.width));
        let mut groups: Vec<Vec<&Flag>> = Vec::new();
        let mut end = i64::MIN;
        for f in fl {
            let (s, e) = (f.bucket, f.bucket + f.width.micros());
            match groups.last_mut() {
                Some(g) if s <= end + gap => g.push(f),
                _ => groups.push(vec![f]),
            }
            end = end.max(e);
        }
        let fm = &model.functions[name];
        for g in groups {
            let first = g.iter().map(|f| f.bucket).min().unwrap_or(0);
            let last = g
                .iter()
                .map(|f| f.bucket + f.width.micros())
                .max()
                .unwrap_or(first);
            // Per feature, its largest deviation; the largest of all names the finding.
            let mut best: BTreeMap<&str, (&Deviation, &Flag)> = BTreeMap::new();
            for f in &g {
                for d in &f.deviations {
                    let e = best.entry(d.feature).or_insert((d, f));
                    if d.strength() > e.0.strength() {
                        *e = (d, f);
                    }
                }
            }
            let mut ranked: Vec<(&Deviation, &Flag)> = best.into_values().collect();
            ranked.sort_by(|a, b| b.0.strength().total_cmp(&a.0.strength()));
            let category = ranked.first().map_or(g[0].category, |(_, f)| f.category);
            let reasons: Vec<String> = ranked
                .iter()
                .map(|(d, f)| describe(d, f.width, f.bucket))
                .collect();
            let detector = category.detector_id();
            let description = format!(
                "{name} behaved unlike its learnt normal: {} ({} flagged bucket{} of 5 minutes \
                 or an hour, each compared with the same hour of day on the same kind of day \
                 over {:.0} days of history). Check a deployment or configuration change \
                 first; otherwise look at who invoked it and what its role did in this window.",
                reasons.first().map_or("", String::as_str),
                g.len(),
                if g.len() == 1 { "" } else { "s" },
                fm.history_days
            );
            out.push(Finding {
                uid: finding_uid(&detector, name, first, HOUR),
                detector_id: detector,
                title: title(category).to_string(),
                description,
                severity: severity(category),
                mitre: mitre(category),
                subject: name.to_string(),
                first_seen: first,
                last_seen: last,
                actor_arn: fm.role.clone(),
                function_names: vec![name.to_string()],
                account_id: fm
                    .role
                    .as_deref()
                    .and_then(|r| r.split(':').nth(4))
                    .map(str::to_string),
                region: None,
                source_ips: Vec::new(),
                access_key_ids: Vec::new(),
                user_agents: Vec::new(),
                api_calls: Vec::new(),
                reasons,
                evidence_count: 0,
                evidence: Vec::new(),
                detected_at: now,
            });
        }
    }
    out.sort_by(|a, b| (a.first_seen, &a.subject).cmp(&(b.first_seen, &b.subject)));
    out
}

/// The evidence query, with `$function`, `$since`, `$until` and `$max_evidence`.
const EVIDENCE_SQL: &str = include_str!("../../../sql/baseline/evidence.sql");

/// The raw records behind each finding: the function's invocations and its role's calls in the
/// finding's window (the first [`MAX_EVIDENCE`] of each kept, all counted), with their source
/// file and index, and the addresses, keys, agents and APIs seen.
async fn attach_evidence(ctx: &SessionContext, findings: &mut [Finding]) -> Result<()> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    use datafusion::common::ScalarValue;
    for f in findings.iter_mut() {
        let params = vec![
            ("function", ScalarValue::from(f.subject.as_str())),
            ("since", ScalarValue::from(f.first_seen)),
            ("until", ScalarValue::from(f.last_seen)),
            ("max_evidence", ScalarValue::from(MAX_EVIDENCE as i64)),
        ];
        let batches =
            crate::session::run_sql_with(ctx, EVIDENCE_SQL, params, "reading a finding's evidence")
                .await?;
        let mut totals = (0i64, 0i64);
        let (mut ips, mut uas, mut keys, mut apis) = (
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeMap::<String, usize>::new(),
        );
        for b in &batches {
            let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let strings: Vec<arrow::array::StringArray> = (0..b.num_columns())
                .map(|i| {
                    arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8)
                        .map(|c| c.as_string::<i32>().clone())
                        .unwrap_or_else(|_| arrow::array::StringArray::new_null(b.num_rows()))
                })
                .collect();
            let s = |i: usize| &strings[i];
            let total = b.column(12).as_primitive::<Int64Type>();
            let idx = b.column(4).as_primitive::<Int64Type>();
            let opt = |c: usize, i: usize| (!s(c).is_null(i)).then(|| s(c).value(i).to_string());
            for i in 0..b.num_rows() {
                let is_call = !s(2).is_null(i);
                if is_call {
                    totals.1 = total.value(i);
                } else {
                    totals.0 = total.value(i);
                }
                let e = Evidence {
                    subject: f.subject.clone(),
                    time: t.value(i),
                    actor_arn: f.actor_arn.clone(),
                    function_name: Some(f.subject.clone()),
                    event_id: opt(2, i),
                    source_uri: opt(3, i),
                    source_record_index: (!idx.is_null(i)).then(|| idx.value(i)),
                    source_ip_address: opt(5, i),
                    user_agent: opt(6, i),
                    access_key_id: opt(7, i),
                    event_source: opt(8, i),
                    event_name: opt(9, i),
                    error_code: opt(10, i),
                    request_id: opt(1, i),
                    reason: opt(11, i).map(|s| format!("invocation {s}")),
                    account_id: f.account_id.clone(),
                    region: None,
                    severity: None,
                };
                if is_call {
                    ips.extend(e.source_ip_address.clone());
                    uas.extend(e.user_agent.clone());
                    keys.extend(e.access_key_id.clone());
                    if let (Some(src), Some(n)) = (&e.event_source, &e.event_name) {
                        let svc = src.split('.').next().unwrap_or(src);
                        *apis.entry(format!("{svc}:{n}")).or_default() += 1;
                    }
                }
                f.evidence.push(e);
            }
        }
        f.evidence.sort_by_key(|e| e.time);
        f.evidence_count = (totals.0 + totals.1) as usize;
        f.source_ips = ips.into_iter().collect();
        f.user_agents = uas.into_iter().collect();
        f.access_key_ids = keys.into_iter().collect();
        let mut apis: Vec<(String, usize)> = apis.into_iter().collect();
        apis.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        f.api_calls = apis.into_iter().map(|(a, _)| a).collect();
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn at(s: &str) -> i64 {
        pipeline::time::parse_timestamp_micros(s).unwrap()
    }

    fn row(b: i64, n: f64) -> Row {
        Row {
            function: "f".into(),
            bucket: b,
            actor_arn: Some("arn:aws:iam::123456789012:role/f-role".into()),
            invocations: n,
            // About 2 % of invocations fail, whatever the volume.
            errors: (n * 0.02).round(),
            timeouts: 0.0,
            cold_starts: (n / 20.0).ceil(),
            duration_p50_ms: (n > 0.0).then_some(100.0),
            duration_p95_ms: (n > 0.0).then_some(180.0),
            memory_p95_mb: (n > 0.0).then_some(90.0),
            memory_size_mb: Some(256.0),
            api_calls: 2.0 * n,
            distinct_apis: if n > 0.0 { 2.0 } else { 0.0 },
            distinct_source_ips: if n > 0.0 { 1.0 } else { 0.0 },
            distinct_user_agents: if n > 0.0 { 1.0 } else { 0.0 },
            access_denied: 0.0,
        }
    }

    /// A function with a steady daily rhythm for three weeks; one hour of it is a flood.
    fn history(flood_at: Option<i64>) -> Vec<Row> {
        let start = at("2026-11-01T00:00:00Z");
        let mut rows = Vec::new();
        for h in 0..21 * 24 {
            let b = start + h * HOUR;
            let hod = h % 24;
            let mut n = if (9..18).contains(&hod) { 40.0 } else { 4.0 };
            n += ((h * 7919) % 5) as f64; // a little deterministic noise
            if Some(b) == flood_at {
                n = 600.0;
            }
            let mut r = row(b, n);
            r.duration_p50_ms = Some(100.0 + (h % 7) as f64);
            r.duration_p95_ms = Some(180.0 + (h % 11) as f64);
            r.memory_p95_mb = Some(90.0 + (h % 3) as f64);
            r.distinct_source_ips = 1.0 + (n / 20.0).ceil().min(3.0);
            rows.push(r);
        }
        rows
    }

    /// A small function: 3–10 invocations an hour from 08:00 to 18:00 UTC, none at night, no
    /// errors in two weeks (Poisson draws from a seeded generator).
    fn small(days: i64) -> Vec<Row> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let start = at("2026-11-02T00:00:00Z");
        let mut rows = Vec::new();
        for h in 0..days * 24 {
            let b = start + h * HOUR;
            if !(8..18).contains(&(h % 24)) {
                continue;
            }
            let n: f64 = rng.random_range(3..=10) as f64;
            let mut r = row(b, n);
            r.errors = 0.0;
            r.cold_starts = f64::from(rng.random_range(0..=1u8));
            r.api_calls = (0..n as usize).filter(|_| rng.random_bool(0.7)).count() as f64;
            r.distinct_apis = r.api_calls.min(2.0);
            r.duration_p95_ms = Some(rng.random_range(150.0..260.0));
            rows.push(r);
        }
        rows
    }

    fn model_of(rows: &[Row]) -> FunctionModel {
        let params = Params::default();
        let end = rows.last().unwrap().bucket + HOUR;
        let start = rows[0].bucket - rows[0].bucket.rem_euclid(DAY);
        train_function(rows, start, end, &params)
    }

    fn flags(m: &FunctionModel, rows: &[Row], width: Granularity) -> Vec<Flag> {
        let params = Params::default();
        rows.iter()
            .filter_map(|r| judge("f", m, width, r, &params))
            .collect()
    }

    #[test]
    fn learns_the_rhythm_and_flags_a_flood_in_its_training_data() {
        let flood = at("2026-11-12T11:00:00Z");
        let rows = history(Some(flood));
        let m = model_of(&rows);
        assert_eq!(m.state, State::Ready);
        assert_eq!(
            m.role.as_deref(),
            Some("arn:aws:iam::123456789012:role/f-role")
        );
        let w = m.normal.as_ref().unwrap();
        // The flood did not become normal.
        let inv = &w.features[Feature::Invocations.index()];
        let e = inv.expected(Feature::Invocations, flood, Granularity::Hour);
        assert!((38.0..46.0).contains(&e), "{e} {inv:?}");
        assert!(w.trimmed >= 1);
        let flags = flags(&m, &rows, Granularity::Hour);
        assert_eq!(flags.len(), 1, "{flags:#?}");
        assert_eq!(flags[0].bucket, flood);
        assert_eq!(flags[0].category, Category::Volume);
        let d = flags[0]
            .deviations
            .iter()
            .find(|d| d.feature == "invocations")
            .unwrap();
        assert_eq!(d.value, 600.0);
        assert!(d.ln_p < (1e-100f64).ln(), "{d:?}");
        let text = describe(d, Granularity::Hour, flood);
        assert!(
            text.starts_with("invocations 600 in the 1h from 2026-11-12 11:00 (expected 4")
                && text.contains("probability of 600 or more at the learnt rate"),
            "{text}"
        );
    }

    #[test]
    fn the_night_is_not_the_day() {
        let rows = history(None);
        let m = model_of(&rows);
        let params = Params::default();
        // Its daytime volume at 03:00 on a weekday: unusual for the hour, normal for the day.
        let mut night = rows[(10 * 24 + 3) as usize].clone();
        night.invocations = 44.0;
        night.api_calls = 88.0;
        night.cold_starts = 3.0;
        let flag = judge("f", &m, Granularity::Hour, &night, &params).expect("flagged");
        assert_eq!(flag.category, Category::OffHours);
        let mut day = rows[(10 * 24 + 14) as usize].clone();
        day.invocations = 44.0;
        day.api_calls = 88.0;
        assert!(judge("f", &m, Granularity::Hour, &day, &params).is_none());
    }

    #[test]
    fn shifts_and_storms() {
        let rows = history(None);
        let m = model_of(&rows);
        let params = Params::default();
        let mut slow = rows[300].clone();
        slow.duration_p95_ms = Some(14_500.0);
        slow.duration_p50_ms = Some(14_000.0);
        slow.memory_p95_mb = Some(250.0);
        let f = judge("f", &m, Granularity::Hour, &slow, &params).expect("slow flagged");
        assert_eq!(f.category, Category::Resources);
        let mut storm = rows[14].clone();
        storm.errors = (storm.invocations * 0.7).round();
        let f = judge("f", &m, Granularity::Hour, &storm, &params).expect("storm flagged");
        assert_eq!(f.category, Category::Failures);
        let d = f
            .deviations
            .iter()
            .find(|d| d.feature == "error_rate")
            .unwrap();
        assert!(d.value > 0.6 && d.high < 0.2, "{d:?}");
        let mut burst = rows[15].clone();
        burst.api_calls = 2_000.0;
        let f = judge("f", &m, Granularity::Hour, &burst, &params).expect("burst flagged");
        assert_eq!(f.category, Category::Api);
        // The same burst within five minutes.
        let mut burst5 = burst.clone();
        burst5.invocations = (burst5.invocations / 12.0).round();
        burst5.errors = 0.0;
        burst5.cold_starts = 0.0;
        burst5.distinct_source_ips = 1.0;
        let f = judge("f", &m, Granularity::FiveMinutes, &burst5, &params).expect("5m burst");
        assert_eq!(f.category, Category::Api);
        // Small wobbles are not findings: one more error, a little slower.
        let mut wobble = rows[16].clone();
        wobble.errors += 1.0;
        wobble.duration_p95_ms = Some(260.0);
        assert!(judge("f", &m, Granularity::Hour, &wobble, &params).is_none());
    }

    #[test]
    fn a_small_function_is_seen_whole() {
        let rows = small(21);
        let m = model_of(&rows[..rows.len() * 2 / 3]);
        assert_eq!(m.state, State::Ready, "{m:?}");
        // Its own hour-to-hour noise over three weeks raises nothing.
        let quiet = flags(&m, &rows, Granularity::Hour);
        assert!(quiet.is_empty(), "{quiet:#?}");
        // Nor does it in five-minute buckets (each hour's invocations spread over its twelve).
        let share = |x: f64, i: i64| {
            ((x * (i + 1) as f64) / 12.0).floor() - ((x * i as f64) / 12.0).floor()
        };
        let five: Vec<Row> = rows
            .iter()
            .flat_map(|r| {
                (0..12).map(move |i| {
                    let mut f = r.clone();
                    f.bucket += i * 5 * 60_000_000;
                    f.invocations = share(r.invocations, i);
                    f.api_calls = share(r.api_calls, i);
                    f.cold_starts = share(r.cold_starts, i);
                    f
                })
            })
            .collect();
        let f5 = flags(&m, &five, Granularity::FiveMinutes);
        assert!(f5.is_empty(), "{f5:#?}");

        // Four errors in an hour, after two weeks without one.
        let mut errors = rows[rows.len() - 5].clone();
        errors.errors = 4.0;
        errors.invocations = errors.invocations.max(6.0);
        let params = Params::default();
        let f = judge("f", &m, Granularity::Hour, &errors, &params).expect("4 errors flagged");
        assert_eq!(f.category, Category::Failures);
        let d = &f.deviations[0];
        assert_eq!(d.feature, "error_rate");
        let text = describe(d, Granularity::Hour, errors.bucket);
        assert!(
            text.contains("(4 of ")
                && text.contains("expected 0.0 of")
                && text.contains("probability of 4 or more"),
            "{text}"
        );

        // Three invocations at 02:00, an hour it never ran in.
        let night = at("2026-11-20T02:00:00Z");
        let mut r = row(night, 3.0);
        r.errors = 0.0;
        let f = judge("f", &m, Granularity::Hour, &r, &params).expect("02:00 flagged");
        assert_eq!(f.category, Category::OffHours);
        let d = f
            .deviations
            .iter()
            .find(|d| d.feature == "quiet_hour")
            .unwrap();
        let text = describe(d, Granularity::Hour, night);
        assert!(
            text.contains("at 02:00 UTC")
                && text.contains("ran on 0 of 14 days")
                && text.contains("probability"),
            "{text}"
        );
        // At 07:00, next to its first hour, the same three are no finding.
        let mut early = row(at("2026-11-20T07:00:00Z"), 3.0);
        early.errors = 0.0;
        assert!(judge("f", &m, Granularity::Hour, &early, &params).is_none());
    }

    #[test]
    fn short_history_is_learning() {
        let rows: Vec<Row> = history(None).into_iter().take(3 * 24).collect();
        let m = model_of(&rows);
        assert_eq!(m.state, State::Learning);
        assert!(m.learning.as_deref().unwrap().contains("3.0 days"), "{m:?}");
        assert!(m.normal.is_none());
    }

    #[test]
    fn normal_tail() {
        for (z, p) in [
            (1.0, 0.158_655_25),
            (3.0, 1.349_898e-3),
            (6.0, 9.865_876e-10),
        ] {
            let got = ln_normal_tail(z).exp();
            assert!((got - p).abs() / p < 0.01, "{z}: {got} vs {p}");
        }
    }
}

//! The behaviour baseline: what each Lambda function normally does, learnt from the lake, and
//! the buckets where it stops doing it.
//!
//! **Features** ([`features`]): per function and bucket (five minutes and one hour), from
//! `lambda_invocations` and the CloudTrail sessions of its execution role: invocations, error and
//! timeout rates, duration p50/p95, memory p95, cold starts, API calls, distinct APIs, source
//! addresses and user agents, and refused calls.
//!
//! **Model** ([`model`]), per function and bucket width, in two layers:
//! 1. A robust seasonal normal per feature. Counts are put on the Anscombe scale (2·√(x+3/8),
//!    about unit variance for Poisson counts whatever their mean), and their normal is the
//!    median per hour of day, weekdays and weekends apart, pooled with the hours either side;
//!    the scale is 1.4826 × the median absolute deviation, never below the Poisson's 1. Levels
//!    (durations, memory) are medians on a log scale; error and timeout rates compare the
//!    failures with the usual share of the bucket's invocations (the median daily share).
//!    Medians ignore the few attack buckets hidden in the training data, where means and
//!    standard deviations would learn them as normal.
//! 2. A Gaussian mixture (linfa, full covariance) over the vectors of standardised deviations,
//!    fitted to the training buckets that no feature calls unusual (|z| ≤ 5), with a threshold
//!    at the 99.9th percentile of their negative log-likelihood plus a margin. It knows which
//!    deviations go together (more invocations bring more API calls and cold starts).
//!
//! A bucket raises a finding when a feature is at least `z_alert` (6) robust deviations above
//! its seasonal normal by an amount that matters ([`features::Feature::min_effect`]: 10 more
//! invocations, 1.5× the duration over as many invocations as the function's usual bucket
//! holds (up to 3), five failures…) **and** the mixture finds the whole bucket unusual. Flagged buckets of a function less than an hour apart make one finding, which lists
//! every feature that deviated, by how much, and against what normal range.
//!
//! **Why this method** (measured with `bench/baseline`, which prints the three ways of judging a
//! bucket side by side on the same lakes; `eval --method` re-measures them). On a simulated
//! account of 1,000 functions over 30 days with each behaviour anomaly injected four times:
//! per-feature scores alone (`features`) had precision 0.91 (2 false findings), the mixture
//! alone (`mixture`) 0.03 (756 false findings: it flags every bucket where a feature that is
//! normally constant moves at all), and requiring both (`combined`) 1.00 with every anomaly
//! caught. On a clean account (100 functions, 30 days) `combined` and `features` raised no
//! finding over 429 function-weeks, `mixture` 83. So `combined` is the default: the robust
//! scores say what deviated and by how much, the mixture vetoes buckets that are unusual on
//! one score but ordinary as a whole. An earlier version let a single slow invocation in a
//! normally busy hour raise a finding (4 false `resources` findings on the 1,000 functions):
//! percentiles of fewer invocations than the function's usual bucket now need not to.
//!
//! Functions seen for less than a week, or invoked in fewer than 24 hours, are `learning`:
//! they are listed, never alerted on.

pub mod features;
pub mod model;
pub mod plot;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::finding::{Evidence, Finding, finding_uid};
use crate::registry::Severity;
use crate::{Error, Result};
pub use features::{Category, FEATURES, Feature, Granularity, Row};
pub use model::{FunctionModel, Method, Model, Params, State};

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// Evidence records kept per finding (the rest are counted).
const MAX_EVIDENCE: usize = 200;

fn iso(micros: i64) -> String {
    pipeline::time::rfc3339_millis(micros.div_euclid(1000)).unwrap_or_default()
}

/// The times of the lake's first and last invocation or CloudTrail event (µs).
async fn data_span(ctx: &SessionContext) -> Result<Option<(i64, i64)>> {
    let sql = "SELECT CAST(min(t) AS BIGINT) AS lo, CAST(max(t) AS BIGINT) AS hi FROM ( \
               SELECT min(start_time) AS t FROM lambda_invocations UNION ALL \
               SELECT max(start_time) FROM lambda_invocations UNION ALL \
               SELECT min(event_time) FROM cloudtrail UNION ALL \
               SELECT max(event_time) FROM cloudtrail)";
    let batches = crate::session::run_sql(ctx, sql).await?;
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    let lo = b.column(0).as_primitive::<Int64Type>();
    let hi = b.column(1).as_primitive::<Int64Type>();
    if lo.is_null(0) || hi.is_null(0) {
        return Ok(None);
    }
    Ok(Some((lo.value(0), hi.value(0))))
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
    let Some((lo, hi)) = data_span(ctx).await? else {
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
    let mut by_width: Vec<(Granularity, Vec<Row>)> = Vec::new();
    for g in Granularity::ALL {
        by_width.push((g, features::compute(ctx, g, since, until).await?));
    }
    let seconds_features = t.elapsed().as_secs_f64();
    let feature_rows = by_width.iter().map(|(_, r)| r.len()).sum();
    let t = std::time::Instant::now();

    // Functions: whatever was invoked (CloudTrail sessions of other principals are not
    // functions).
    let mut functions: BTreeMap<String, Vec<[usize; 2]>> = BTreeMap::new();
    for (gi, (_, rows)) in by_width.iter().enumerate() {
        let mut start = 0;
        for i in 1..=rows.len() {
            if i == rows.len() || rows[i].function != rows[start].function {
                functions
                    .entry(rows[start].function.clone())
                    .or_insert_with(|| vec![[0, 0]; 2])[gi] = [start, i];
                start = i;
            }
        }
    }
    let hourly = &by_width[1].1;
    functions.retain(|_, spans| {
        hourly[spans[1][0]..spans[1][1]]
            .iter()
            .any(|r| r.invocations > 0.0)
    });
    let names: Vec<&String> = functions.keys().collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(names.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(String, FunctionModel)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else { break };
                        let spans = &functions[*name];
                        let slices: Vec<(Granularity, &[Row])> = by_width
                            .iter()
                            .zip(spans)
                            .map(|((g, rows), [a, b])| (*g, &rows[*a..*b]))
                            .collect();
                        out.push((
                            (*name).clone(),
                            train_function(&slices, since, until, params),
                        ));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
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
            .flat_map(|f| f.widths.values())
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

fn train_function(
    slices: &[(Granularity, &[Row])],
    since: i64,
    until: i64,
    params: &Params,
) -> FunctionModel {
    let hourly = slices
        .iter()
        .find(|(g, _)| *g == Granularity::Hour)
        .map_or(&[][..], |(_, r)| *r);
    let first = hourly.first().map_or(since, |r| r.bucket).max(since);
    let active_hours = hourly.iter().filter(|r| r.invocations > 0.0).count();
    let history_days = (until - first) as f64 / DAY as f64;
    let mut roles: HashMap<&str, usize> = HashMap::new();
    for r in hourly {
        if let Some(a) = &r.actor_arn {
            *roles.entry(a.as_str()).or_default() += 1;
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
    let mut widths = BTreeMap::new();
    if learning.is_none() {
        for (g, rows) in slices {
            let refs: Vec<&Row> = rows.iter().filter(|r| r.bucket >= first).collect();
            widths.insert(*g, model::train_width(&refs, *g, first, until, params));
        }
    }
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
        widths,
    }
}

impl Model {
    /// Read and check a model file.
    pub fn read(path: &std::path::Path) -> Result<Model> {
        let err = |m: String| Error::Model {
            path: path.display().to_string(),
            message: m,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let head: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
        match head.get("format").and_then(|f| f.as_str()) {
            Some(model::FORMAT) => {}
            Some(other) => {
                return Err(err(format!(
                    "format {other:?}; this trailhound reads {:?}: train it again",
                    model::FORMAT
                )));
            }
            None => return Err(err("no \"format\": not a trailhound baseline model".into())),
        }
        let m: Model = serde_json::from_value(head).map_err(|e| err(e.to_string()))?;
        let names: Vec<&str> = FEATURES.iter().map(|f| f.name()).collect();
        if m.features != names {
            return Err(err(format!(
                "features {:?}; this trailhound computes {names:?}: train it again",
                m.features
            )));
        }
        for (name, f) in &m.functions {
            for (g, w) in &f.widths {
                if w.features.len() != FEATURES.len()
                    || w.features.iter().zip(FEATURES).any(|(n, f)| {
                        n.feature != f.name()
                            || n.center.is_empty()
                            || n.scale.is_nan()
                            || n.scale <= 0.0
                    })
                {
                    return Err(err(format!(
                        "function {name:?} ({}): feature normals do not match the feature list",
                        g.label()
                    )));
                }
            }
        }
        Ok(m)
    }

    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let err = |m: String| Error::Model {
            path: path.display().to_string(),
            message: m,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        // Write beside and rename: a crash never leaves half a model.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }
}

/// One feature's deviation in a flagged bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Deviation {
    pub feature: &'static str,
    /// As people read it: a count, a fraction, ms or MB.
    pub value: f64,
    /// The usual value and range at this bucket.
    pub normal: f64,
    pub low: f64,
    pub high: f64,
    /// Robust standard deviations above normal.
    pub z: f64,
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

/// Judge one bucket of a ready function.
pub fn judge(
    name: &str,
    f: &FunctionModel,
    width: Granularity,
    row: &Row,
    params: &Params,
) -> Option<Flag> {
    let w = f.widths.get(&width)?;
    let z = w.z(row);
    let nll = w.mixture.as_ref().map_or(0.0, |m| m.nll(&z));
    let unusual = w.mixture.is_none() || nll > w.nll_threshold;
    let alert =
        FEATURES.iter().zip(&z).zip(&w.features).any(|((f, z), n)| {
            *z >= params.z_alert && n.meaningful(*f, row, w.typical_invocations)
        });
    let flagged = match params.method {
        Method::Features => alert,
        Method::Mixture => w.mixture.is_some() && unusual,
        Method::Combined => alert && unusual,
    };
    if !flagged {
        return None;
    }
    let mut deviations: Vec<Deviation> = FEATURES
        .iter()
        .zip(&z)
        .zip(&w.features)
        .filter(|((f, z), n)| {
            **z >= params.z_report
                && (params.method == Method::Mixture
                    || n.meaningful(**f, row, w.typical_invocations))
        })
        .map(|((f, z), n)| {
            let (low, high) = n.range(*f, row.bucket, row.invocations);
            Deviation {
                feature: f.name(),
                value: row.value(*f).unwrap_or(0.0),
                normal: n.expected(*f, row.bucket),
                low,
                high,
                z: (*z * 10.0).round() / 10.0,
            }
        })
        .collect();
    deviations.sort_by(|a, b| b.z.total_cmp(&a.z));
    // What the bucket is about, most specific first: failures and resource use are per
    // invocation, so they stand whatever the volume; more invocations bring more API calls,
    // so API deviations name the finding only when the volume is normal.
    let deviated: Vec<Category> = deviations
        .iter()
        .filter_map(|d| Feature::parse(d.feature))
        .map(Feature::category)
        .collect();
    let mut category = [
        Category::Failures,
        Category::Resources,
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
    let busiest = n
        .center
        .iter()
        .map(|c| model::inverse_anscombe(*c))
        .fold(0.0, f64::max);
    busiest > 0.0 && n.expected(Feature::Invocations, bucket) < 0.25 * busiest
}

/// Judge the lake's buckets in `[since, until)` (µs) against the model, of every function or
/// only of `only`: the flagged buckets, with the learning and unknown functions noted.
pub async fn judge_lake(
    ctx: &SessionContext,
    model: &Model,
    since: i64,
    until: i64,
    only: Option<&str>,
) -> Result<Scored> {
    let mut out = Scored::default();
    for width in Granularity::ALL {
        for row in features::compute(ctx, width, since, until).await? {
            if only.is_some_and(|f| f != row.function) {
                continue;
            }
            let Some(f) = model.functions.get(&row.function) else {
                if row.invocations > 0.0 {
                    out.unknown.insert(row.function.clone());
                }
                continue;
            };
            if f.state == State::Learning {
                out.learning
                    .insert(row.function.clone(), f.learning.clone().unwrap_or_default());
                continue;
            }
            out.buckets_scored += 1;
            if let Some(flag) = judge(&row.function, f, width, &row, &model.params) {
                out.flags.push(flag);
            }
        }
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
    let mut out = judge_lake(ctx, model, since, until, None).await?;
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
        _ => format!("{v:.0}"),
    }
}

/// A deviation as one line: `invocations 412 in the 1h from 2026-11-12 03:00 (normal 3, usual
/// range 0–14; 14.2 robust SD above)`.
pub fn describe(d: &Deviation, width: Granularity, bucket: i64) -> String {
    let when = iso(bucket);
    format!(
        "{} {} in the {} from {} (normal {}, usual range {}–{}; {:.1} robust SD above)",
        d.feature,
        fmt_value(d.feature, d.value),
        width.label(),
        when.get(..16).unwrap_or(&when).replace('T', " "),
        fmt_value(d.feature, d.normal),
        fmt_value(d.feature, d.low),
        fmt_value(d.feature, d.high),
        d.z
    )
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
                    if d.z > e.0.z {
                        *e = (d, f);
                    }
                }
            }
            let mut ranked: Vec<(&Deviation, &Flag)> = best.into_values().collect();
            ranked.sort_by(|a, b| b.0.z.total_cmp(&a.0.z));
            let category = ranked.first().map_or(g[0].category, |(_, f)| f.category);
            let reasons: Vec<String> = ranked
                .iter()
                .map(|(d, f)| describe(d, f.width, f.bucket))
                .collect();
            let detector = category.detector_id();
            let description = format!(
                "{name} behaved unlike its learnt normal ({} flagged bucket{} of 5 minutes or an \
                 hour, compared with the same hour of day on the same kind of day over {:.0} days \
                 of history). Check a deployment or configuration change first; otherwise look \
                 at who invoked it and what its role did in this window.",
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
            rows.push(Row {
                function: "f".into(),
                bucket: b,
                actor_arn: Some("arn:aws:iam::123456789012:role/f-role".into()),
                invocations: n,
                errors: (n / 50.0).floor(),
                timeouts: 0.0,
                cold_starts: (n / 20.0).ceil(),
                duration_p50_ms: Some(100.0 + (h % 7) as f64),
                duration_p95_ms: Some(180.0 + (h % 11) as f64),
                memory_p95_mb: Some(90.0 + (h % 3) as f64),
                memory_size_mb: Some(256.0),
                api_calls: 2.0 * n,
                distinct_apis: 2.0,
                distinct_source_ips: 1.0 + (n / 20.0).ceil().min(3.0),
                distinct_user_agents: 1.0,
                access_denied: 0.0,
            });
        }
        rows
    }

    fn model_of(rows: &[Row]) -> FunctionModel {
        let params = Params::default();
        let end = rows.last().unwrap().bucket + HOUR;
        train_function(&[(Granularity::Hour, rows)], rows[0].bucket, end, &params)
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
        let w = &m.widths[&Granularity::Hour];
        // The flood did not become normal.
        let inv = &w.features[Feature::Invocations.index()];
        assert!(inv.expected(Feature::Invocations, flood) < 50.0, "{inv:?}");
        assert!(w.trimmed >= 1);
        let params = Params::default();
        let flags: Vec<Flag> = rows
            .iter()
            .filter_map(|r| judge("f", &m, Granularity::Hour, r, &params))
            .collect();
        assert_eq!(flags.len(), 1, "{flags:#?}");
        assert_eq!(flags[0].bucket, flood);
        assert_eq!(flags[0].category, Category::Volume);
        let d = &flags[0].deviations[0];
        assert!(
            ["invocations", "api_calls", "cold_starts"].contains(&d.feature),
            "{d:?}"
        );
        assert!(
            flags[0]
                .deviations
                .iter()
                .any(|d| d.feature == "invocations" && d.value == 600.0)
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
        storm.errors = storm.invocations * 0.7;
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
        // Small wobbles are not findings: one more error, a little slower.
        let mut wobble = rows[16].clone();
        wobble.errors += 1.0;
        wobble.duration_p95_ms = Some(260.0);
        assert!(judge("f", &m, Granularity::Hour, &wobble, &params).is_none());
    }

    #[test]
    fn short_history_is_learning() {
        let rows: Vec<Row> = history(None).into_iter().take(3 * 24).collect();
        let m = model_of(&rows);
        assert_eq!(m.state, State::Learning);
        assert!(m.learning.as_deref().unwrap().contains("3.0 days"), "{m:?}");
        assert!(m.widths.is_empty());
    }

    #[test]
    fn model_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let rows = history(None);
        let model = Model {
            format: model::FORMAT.into(),
            trained_at: "2026-11-29T00:00:00.000Z".into(),
            since: "2026-11-01T00:00:00.000Z".into(),
            until: "2026-11-22T00:00:00.000Z".into(),
            params: Params::default(),
            features: FEATURES.iter().map(|f| f.name().to_string()).collect(),
            functions: [("f".to_string(), model_of(&rows))].into_iter().collect(),
        };
        let p = dir.path().join("m.json");
        model.write(&p).unwrap();
        assert_eq!(Model::read(&p).unwrap(), model);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace(model::FORMAT, "trailhound.baseline/0")).unwrap();
        let e = Model::read(&p).unwrap_err().to_string();
        assert!(e.contains("m.json") && e.contains("train it again"), "{e}");
        std::fs::write(&p, "{\"records\": []}").unwrap();
        let e = Model::read(&p).unwrap_err().to_string();
        assert!(e.contains("not a trailhound baseline model"), "{e}");
    }
}

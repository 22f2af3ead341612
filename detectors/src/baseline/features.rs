//! The behaviour features: one row per function and time bucket, computed by
//! `sql/baseline/features.sql` over `lambda_invocations` and `cloudtrail`.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::{Error, Result};

/// The feature query, with `${bucket}`, `${since}`, `${until}`, `${first_day}` and
/// `${last_day}` to fill in.
pub const FEATURES_SQL: &str = include_str!("../../../sql/baseline/features.sql");

const MINUTE: i64 = 60_000_000;

/// The two bucket widths judged: five minutes (fast bursts) and an hour (slower shifts, and
/// counts too small to see in five minutes). The model learns from hours; a five-minute
/// bucket expects a twelfth of its hour's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Granularity {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    Hour,
}

impl Granularity {
    pub const ALL: [Granularity; 2] = [Granularity::FiveMinutes, Granularity::Hour];

    pub fn micros(self) -> i64 {
        match self {
            Granularity::FiveMinutes => 5 * MINUTE,
            Granularity::Hour => 60 * MINUTE,
        }
    }

    /// The SQL interval.
    pub fn interval(self) -> &'static str {
        match self {
            Granularity::FiveMinutes => "5 minutes",
            Granularity::Hour => "1 hour",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Granularity::FiveMinutes => "5m",
            Granularity::Hour => "1h",
        }
    }
}

/// How a feature's normal is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count per bucket, with a daily and weekly rhythm (negative binomial per seasonal
    /// cell).
    Count,
    /// A share of the bucket's invocations (errors, timeouts), against the function's usual
    /// share (beta-binomial).
    Rate,
    /// A level (duration, memory) on a log scale, the same at any hour.
    Level,
}

/// What a deviation is about: it names the finding's detector (`baseline-<category>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Many more invocations than usual at this hour.
    Volume,
    /// Activity at an hour the function is normally quiet.
    OffHours,
    /// Errors or timeouts far above the function's usual rate.
    Failures,
    /// Durations or memory far above the function's usual.
    Resources,
    /// The role's sessions call AWS far more, more widely or from more places than usual.
    Api,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Volume,
        Category::OffHours,
        Category::Failures,
        Category::Resources,
        Category::Api,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Volume => "volume",
            Category::OffHours => "off-hours",
            Category::Failures => "failures",
            Category::Resources => "resources",
            Category::Api => "api",
        }
    }

    /// The detector id of its findings.
    pub fn detector_id(self) -> String {
        format!("baseline-{}", self.name())
    }

    pub fn from_detector_id(id: &str) -> Option<Category> {
        let name = id.strip_prefix("baseline-")?;
        Category::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The features, in the order of the model's vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Invocations,
    ErrorRate,
    TimeoutRate,
    DurationP50,
    DurationP95,
    MemoryP95,
    ColdStarts,
    ApiCalls,
    DistinctApis,
    DistinctSourceIps,
    DistinctUserAgents,
    AccessDenied,
}

pub const FEATURES: [Feature; 12] = [
    Feature::Invocations,
    Feature::ErrorRate,
    Feature::TimeoutRate,
    Feature::DurationP50,
    Feature::DurationP95,
    Feature::MemoryP95,
    Feature::ColdStarts,
    Feature::ApiCalls,
    Feature::DistinctApis,
    Feature::DistinctSourceIps,
    Feature::DistinctUserAgents,
    Feature::AccessDenied,
];

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::Invocations => "invocations",
            Feature::ErrorRate => "error_rate",
            Feature::TimeoutRate => "timeout_rate",
            Feature::DurationP50 => "duration_p50_ms",
            Feature::DurationP95 => "duration_p95_ms",
            Feature::MemoryP95 => "memory_p95_mb",
            Feature::ColdStarts => "cold_starts",
            Feature::ApiCalls => "api_calls",
            Feature::DistinctApis => "distinct_apis",
            Feature::DistinctSourceIps => "distinct_source_ips",
            Feature::DistinctUserAgents => "distinct_user_agents",
            Feature::AccessDenied => "access_denied",
        }
    }

    pub fn parse(name: &str) -> Option<Feature> {
        FEATURES.into_iter().find(|f| f.name() == name)
    }

    pub fn index(self) -> usize {
        FEATURES.iter().position(|f| *f == self).unwrap_or(0)
    }

    pub fn kind(self) -> Kind {
        match self {
            Feature::ErrorRate | Feature::TimeoutRate => Kind::Rate,
            Feature::DurationP50 | Feature::DurationP95 | Feature::MemoryP95 => Kind::Level,
            _ => Kind::Count,
        }
    }

    pub fn category(self) -> Category {
        match self {
            Feature::Invocations | Feature::ColdStarts => Category::Volume,
            Feature::ErrorRate | Feature::TimeoutRate => Category::Failures,
            Feature::DurationP50 | Feature::DurationP95 | Feature::MemoryP95 => Category::Resources,
            _ => Category::Api,
        }
    }

    /// Invocations a bucket needs before its duration or memory percentiles can raise a
    /// finding (fewer when the function's buckets usually hold fewer).
    pub const MIN_LEVEL_INVOCATIONS: f64 = 3.0;

    /// The smallest ratio to normal of a duration or memory level that is worth a finding
    /// (counts and failures are judged by their probability, not by a fixed minimum).
    pub fn min_effect(self) -> f64 {
        1.5
    }
}

/// One function's activity in one bucket. Quiet buckets have no row: every count is zero.
/// The names are shared by a function's rows (a month of hours is 720 rows per function).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub function: Arc<str>,
    /// Bucket start, µs since the epoch.
    pub bucket: i64,
    pub actor_arn: Option<Arc<str>>,
    pub invocations: f64,
    pub errors: f64,
    pub timeouts: f64,
    pub cold_starts: f64,
    pub duration_p50_ms: Option<f64>,
    pub duration_p95_ms: Option<f64>,
    pub memory_p95_mb: Option<f64>,
    pub memory_size_mb: Option<f64>,
    pub api_calls: f64,
    pub distinct_apis: f64,
    pub distinct_source_ips: f64,
    pub distinct_user_agents: f64,
    pub access_denied: f64,
}

impl Row {
    /// A quiet bucket.
    pub fn quiet(function: &str, bucket: i64) -> Row {
        Row {
            function: function.into(),
            bucket,
            ..Row::default()
        }
    }

    /// The same bucket without its names (the numbers are what a model learns from).
    pub fn numbers(&self) -> Row {
        Row {
            function: Arc::default(),
            actor_arn: None,
            ..*self
        }
    }

    /// The observed value of a count or level feature; for rates, the failed invocations
    /// (the rate is that over [`Row::invocations`]). `None`: no invocation to measure.
    pub fn raw(&self, f: Feature) -> Option<f64> {
        Some(match f {
            Feature::Invocations => self.invocations,
            Feature::ErrorRate => self.errors,
            Feature::TimeoutRate => self.timeouts,
            Feature::DurationP50 => return self.duration_p50_ms,
            Feature::DurationP95 => return self.duration_p95_ms,
            Feature::MemoryP95 => return self.memory_p95_mb,
            Feature::ColdStarts => self.cold_starts,
            Feature::ApiCalls => self.api_calls,
            Feature::DistinctApis => self.distinct_apis,
            Feature::DistinctSourceIps => self.distinct_source_ips,
            Feature::DistinctUserAgents => self.distinct_user_agents,
            Feature::AccessDenied => self.access_denied,
        })
    }

    /// The value as people read it: counts, rates as fractions, levels in ms or MB.
    pub fn value(&self, f: Feature) -> Option<f64> {
        match f.kind() {
            Kind::Rate if self.invocations > 0.0 => {
                Some(self.raw(f).unwrap_or(0.0) / self.invocations)
            }
            Kind::Rate => None,
            _ => self.raw(f),
        }
    }
}

/// How much time one feature query covers. Buckets do not depend on each other, so a window
/// is computed a few days at a time: the query's hash tables (a group per function, bucket,
/// API, address and agent) hold one chunk, and memory follows the chunk, not the length of
/// the history.
pub const CHUNK_MICROS: i64 = 2 * DAY;

const DAY: i64 = 24 * 60 * MINUTE;

/// The features of every function for buckets starting in `[since, until)` (µs), sorted by
/// function and bucket. `span`: the lake's [`data_span`], which bounds the window.
pub async fn compute(
    ctx: &SessionContext,
    granularity: Granularity,
    since: i64,
    until: i64,
    span: Option<(i64, i64)>,
) -> Result<Vec<Row>> {
    let mut chunks = Vec::new();
    for_each_chunk(ctx, granularity, since, until, span, |chunk| {
        chunks.push(chunk);
        Ok(())
    })
    .await?;
    // One allocation of the final size, each chunk freed once moved.
    let mut rows = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for chunk in chunks {
        rows.extend(chunk);
    }
    // Sorted within a chunk, chunks in time order; a function has one row per bucket.
    rows.sort_unstable_by(|a, b| (&a.function, a.bucket).cmp(&(&b.function, b.bucket)));
    Ok(rows)
}

/// The times of the lake's first and last invocation or CloudTrail event (µs); `None` when
/// it holds neither.
pub async fn data_span(ctx: &SessionContext) -> Result<Option<(i64, i64)>> {
    let sql = "SELECT CAST(min(t) AS BIGINT) AS lo, CAST(max(t) AS BIGINT) AS hi FROM ( \
               SELECT min(start_time) AS t FROM lambda_invocations UNION ALL \
               SELECT max(start_time) FROM lambda_invocations UNION ALL \
               SELECT min(event_time) FROM cloudtrail UNION ALL \
               SELECT max(event_time) FROM cloudtrail)";
    let batches = crate::session::run_sql(ctx, sql).await?;
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let lo = b.column(0).as_primitive::<Int64Type>();
    let hi = b.column(1).as_primitive::<Int64Type>();
    if lo.is_null(0) || hi.is_null(0) {
        return Ok(None);
    }
    Ok(Some((lo.value(0), hi.value(0))))
}

/// The chunks of `[since, until)`: bounds at whole multiples of [`CHUNK_MICROS`] since the
/// epoch, so that every bucket (five minutes or an hour) falls in one chunk.
pub fn chunks(since: i64, until: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut from = since;
    while from < until {
        let to = (from.div_euclid(CHUNK_MICROS) + 1)
            .saturating_mul(CHUNK_MICROS)
            .min(until);
        out.push((from, to));
        from = to;
    }
    out
}

/// The features of `[since, until)` chunk by chunk ([`chunks`] of the part of the window that
/// `span`, the lake's [`data_span`], holds data in, in time order), each chunk's rows sorted
/// by function and bucket and handed to `each`.
pub async fn for_each_chunk(
    ctx: &SessionContext,
    granularity: Granularity,
    since: i64,
    until: i64,
    span: Option<(i64, i64)>,
    mut each: impl FnMut(Vec<Row>) -> Result<()>,
) -> Result<()> {
    // An open window (`eval`, `score` without --since) is bounded by the data, whole buckets
    // of it: chunks from the epoch would each be a query over nothing.
    let (since, until) = match span {
        None => return Ok(()),
        Some((lo, hi)) => {
            let step = granularity.micros();
            (
                since.max(lo - lo.rem_euclid(step)),
                until.min(hi.saturating_add(step - hi.rem_euclid(step))),
            )
        }
    };
    // DataFusion 55's percentile_cont gives a wrong state to its final aggregation (a panic:
    // "one argument to merge_batch") when the partial aggregation is skipped, which it is
    // when most groups hold one row: here, five-minute buckets. Keep the partial aggregation
    // for this query, and the session's setting for the others.
    const SKIP: &str = "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold";
    let before = ctx
        .state()
        .config()
        .options()
        .execution
        .skip_partial_aggregation_probe_ratio_threshold;
    crate::session::run_sql(ctx, &format!("SET {SKIP} = 2.0")).await?;
    let mut result = Ok(());
    for (from, to) in chunks(since, until) {
        // Batch by batch: the rows take a fraction of the memory of the Arrow batches.
        result = read_stream(ctx, &chunk_sql(granularity, from, to))
            .await
            .and_then(&mut each);
        if result.is_err() {
            break;
        }
    }
    crate::session::run_sql(ctx, &format!("SET {SKIP} = {before:?}")).await?;
    result.map_err(|e| match e {
        Error::Query { context, source } => Error::Query {
            context: format!("baseline features ({}): {context}", granularity.label()),
            source,
        },
        e => e,
    })
}

/// The feature query for `[from, to)`, reading only the `dt` partitions of its days (the lake
/// files an invocation under the day it started, an event under the day of its time).
fn chunk_sql(granularity: Granularity, from: i64, to: i64) -> String {
    let day = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros).map_or_else(
            || "9999-12-31".to_string(),
            |t| t.format("%Y-%m-%d").to_string(),
        )
    };
    FEATURES_SQL
        .replace("${bucket}", granularity.interval())
        .replace("${since}", &from.to_string())
        .replace("${until}", &to.to_string())
        .replace("${first_day}", &day(from))
        .replace("${last_day}", &day(to.saturating_sub(1).max(from)))
}

async fn read_stream(ctx: &SessionContext, sql: &str) -> Result<Vec<Row>> {
    use futures::StreamExt;
    let err = |context: &str| {
        let context = context.to_string();
        move |source| Error::Query { context, source }
    };
    let mut stream = ctx
        .sql(sql)
        .await
        .map_err(err("planning query"))?
        .execute_stream()
        .await
        .map_err(err("running query"))?;
    let mut rows = Vec::new();
    while let Some(b) = stream.next().await {
        read_batch(&b.map_err(err("running query"))?, &mut rows)?;
    }
    rows.shrink_to_fit();
    Ok(rows)
}

fn read_batch(b: &RecordBatch, out: &mut Vec<Row>) -> Result<()> {
    let col = |name: &str| {
        b.column_by_name(name).ok_or_else(|| {
            Error::Usage(format!(
                "the baseline feature query returned no column {name:?}"
            ))
        })
    };
    // Strings come back as views or dictionaries depending on the plan: read them as Utf8.
    let utf8 = |name: &str| -> Result<arrow::array::StringArray> {
        let c = arrow::compute::cast(col(name)?, &arrow::datatypes::DataType::Utf8)
            .map_err(|e| Error::Usage(format!("baseline feature column {name}: {e}")))?;
        Ok(c.as_string::<i32>().clone())
    };
    let function = utf8("function")?;
    let bucket = col("bucket_micros")?.as_primitive::<Int64Type>().clone();
    let actor = utf8("actor_arn")?;
    let names = [
        "invocations",
        "errors",
        "timeouts",
        "cold_starts",
        "duration_p50_ms",
        "duration_p95_ms",
        "memory_p95_mb",
        "memory_size_mb",
        "api_calls",
        "distinct_apis",
        "distinct_source_ips",
        "distinct_user_agents",
        "access_denied",
    ];
    let mut nums = Vec::with_capacity(names.len());
    for n in names {
        nums.push(col(n)?.as_primitive::<Float64Type>().clone());
    }
    let get = |c: usize, i: usize| (!nums[c].is_null(i)).then(|| nums[c].value(i));
    // Rows come sorted by function: a name is shared with the row before when it repeats.
    let shared = |last: Option<&Arc<str>>, v: &str| match last {
        Some(a) if &**a == v => a.clone(),
        _ => Arc::<str>::from(v),
    };
    for i in 0..b.num_rows() {
        if function.is_null(i) || bucket.is_null(i) {
            continue;
        }
        let n = |c: usize| get(c, i).unwrap_or(0.0);
        let last = out.last();
        let function = shared(last.map(|r| &r.function), function.value(i));
        let actor_arn = (!actor.is_null(i))
            .then(|| shared(last.and_then(|r| r.actor_arn.as_ref()), actor.value(i)));
        out.push(Row {
            function,
            bucket: bucket.value(i),
            actor_arn,
            invocations: n(0),
            errors: n(1),
            timeouts: n(2),
            cold_starts: n(3),
            duration_p50_ms: get(4, i),
            duration_p95_ms: get(5, i),
            memory_p95_mb: get(6, i),
            memory_size_mb: get(7, i),
            api_calls: n(8),
            distinct_apis: n(9),
            distinct_source_ips: n(10),
            distinct_user_agents: n(11),
            access_denied: n(12),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_window_and_split_no_bucket() {
        let hour = 60 * MINUTE;
        // From 13:05 on one day to 09:00 eleven days later.
        let since = 20_000 * 24 * hour + 13 * hour + 5 * MINUTE;
        let until = since + 10 * 24 * hour + 20 * hour - 5 * MINUTE;
        let c = chunks(since, until);
        assert_eq!(c.first().map(|c| c.0), Some(since));
        assert_eq!(c.last().map(|c| c.1), Some(until));
        assert!(c.windows(2).all(|w| w[0].1 == w[1].0), "{c:?}");
        assert!(c.len() >= 5, "{c:?}");
        for (from, to) in &c[1..] {
            assert_eq!(from % hour, 0, "a chunk starts inside an hour: {c:?}");
            assert!(to - from <= CHUNK_MICROS);
        }
        assert!(chunks(since, since).is_empty());
        assert_eq!(chunks(since, since + 1), vec![(since, since + 1)]);
    }

    #[test]
    fn chunk_sql_fills_every_placeholder() {
        let sql = chunk_sql(
            Granularity::FiveMinutes,
            1_700_000_000_000_000,
            1_700_100_000_000_000,
        );
        assert!(!sql.contains("${"), "{sql}");
        // 2023-11-14T22:13:20Z to 2023-11-16T02:00:00Z.
        assert!(sql.contains("'2023-11-14' AND '2023-11-16'"), "{sql}");
        assert!(sql.contains("INTERVAL '5 minutes'"), "{sql}");
        // A window ending at midnight does not read the next day.
        let sql = chunk_sql(
            Granularity::Hour,
            1_700_006_400_000_000,
            1_700_092_800_000_000,
        );
        assert!(sql.contains("'2023-11-15' AND '2023-11-15'"), "{sql}");
        assert!(sql.contains("INTERVAL '1 hour'"), "{sql}");
    }
}

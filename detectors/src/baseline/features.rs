//! The behaviour features: one row per function and time bucket, computed by
//! `sql/baseline/features.sql` over `lambda_invocations` and `cloudtrail`.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The feature query, with `${bucket}`, `${since}` and `${until}` to fill in.
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub function: String,
    /// Bucket start, µs since the epoch.
    pub bucket: i64,
    pub actor_arn: Option<String>,
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
            function: function.to_string(),
            bucket,
            ..Row::default()
        }
    }

    /// The same bucket without its names (the numbers are what a model learns from).
    pub fn numbers(&self) -> Row {
        Row {
            function: String::new(),
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

/// The features of every function for buckets starting in `[since, until)` (µs).
pub async fn compute(
    ctx: &SessionContext,
    granularity: Granularity,
    since: i64,
    until: i64,
) -> Result<Vec<Row>> {
    let sql = FEATURES_SQL
        .replace("${bucket}", granularity.interval())
        .replace("${since}", &since.to_string())
        .replace("${until}", &until.to_string());
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
    // Batch by batch: the rows take a fraction of the memory of the Arrow batches.
    let result = read_stream(ctx, &sql).await;
    crate::session::run_sql(ctx, &format!("SET {SKIP} = {before:?}")).await?;
    result.map_err(|e| match e {
        Error::Query { context, source } => Error::Query {
            context: format!("baseline features ({}): {context}", granularity.label()),
            source,
        },
        e => e,
    })
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
    for i in 0..b.num_rows() {
        if function.is_null(i) || bucket.is_null(i) {
            continue;
        }
        let n = |c: usize| get(c, i).unwrap_or(0.0);
        out.push(Row {
            function: function.value(i).to_string(),
            bucket: bucket.value(i),
            actor_arn: (!actor.is_null(i)).then(|| actor.value(i).to_string()),
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

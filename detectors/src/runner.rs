//! Running detectors: plan and check their SQL, run it, and turn its rows into findings.

use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;

use crate::finding::{Evidence, Finding, group};
use crate::registry::{Detector, line_of};
use crate::{Error, Result};

/// The time range findings are reported for (µs, `until` exclusive). Detectors still read
/// the history before `since` to compare with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Scope {
    pub fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// What one detector produced.
#[derive(Debug)]
pub struct Outcome {
    pub detector_id: String,
    pub findings: Vec<Finding>,
    /// Evidence rows the SQL returned within the scope.
    pub rows: usize,
    pub seconds: f64,
}

/// The columns a detector's SQL may return, beyond `subject` and `event_time`.
pub const OPTIONAL_COLUMNS: &[&str] = &[
    "actor_arn",
    "function_name",
    "event_id",
    "source_uri",
    "source_record_index",
    "source_ip_address",
    "user_agent",
    "access_key_id",
    "event_source",
    "event_name",
    "error_code",
    "request_id",
    "reason",
    "account_id",
    "region",
    "severity",
];

fn sql_error(d: &Detector, what: &str, e: &datafusion::error::DataFusionError) -> Error {
    let mut message = e.to_string();
    // DataFusion lists every column of the table after a wrong name; the name is enough.
    if let Some(i) = message.find("Valid fields are") {
        message.truncate(i);
        message = message.trim_end().to_string();
    }
    Error::Detector {
        path: d.sql_path.clone(),
        message: format!("{}{what}: {message}", locate(&d.sql, &message)),
    }
}

/// `line N: ` for an error message: the parser's own `Line: N`, else the first line of the
/// SQL that holds a name the message quotes.
pub fn locate(sql: &str, message: &str) -> String {
    if let Some(i) = message.find("Line: ") {
        let digits: String = message[i + 6..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if !digits.is_empty() {
            return format!("line {digits}: ");
        }
    }
    let mut names: Vec<&str> = Vec::new();
    if let Some(i) = message.find("No field named ") {
        let rest = &message[i + 15..];
        let token = rest.split_whitespace().next().unwrap_or("");
        let token = token
            .trim_end_matches('.')
            .trim_matches(|c| c == '"' || c == '`');
        if !token.is_empty() {
            names.push(token);
        }
    }
    for quote in ['\'', '"', '`'] {
        let parts: Vec<&str> = message.split(quote).collect();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 1 && !p.is_empty() && p.len() < 80 {
                names.push(p);
            }
        }
    }
    for name in names {
        // A qualified name (`c.foo`) is found by its last part.
        let bare = name.rsplit('.').next().unwrap_or(name);
        if let Some(o) = sql.find(bare) {
            return format!("line {}: ", line_of(sql, o));
        }
    }
    String::new()
}

/// Plan the detector's SQL against the session (the lake's schema, views and UDFs) and check
/// that it returns `subject` (text) and `event_time` (a timestamp).
pub async fn validate(ctx: &SessionContext, d: &Detector) -> Result<()> {
    plan(ctx, d).await.map(|_| ())
}

/// The detector's SQL planned and its result columns checked (see [`validate`]).
async fn plan(ctx: &SessionContext, d: &Detector) -> Result<datafusion::dataframe::DataFrame> {
    let df = ctx
        .sql(&d.sql)
        .await
        .map_err(|e| sql_error(d, "planning", &e))?;
    let schema = df.schema();
    let field = |name: &str| {
        schema
            .fields()
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.data_type().clone())
    };
    let bad = |m: String| Error::Detector {
        path: d.sql_path.clone(),
        message: m,
    };
    match field("subject") {
        Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {}
        Some(t) => return Err(bad(format!("column subject is {t}, not text"))),
        None => return Err(bad("the SELECT has no subject column".into())),
    }
    match field("event_time") {
        Some(DataType::Timestamp(_, _)) => {}
        Some(t) => return Err(bad(format!("column event_time is {t}, not a timestamp"))),
        None => return Err(bad("the SELECT has no event_time column".into())),
    }
    Ok(df)
}

fn strings(
    batch: &RecordBatch,
    name: &str,
) -> Result<Option<Vec<Option<String>>>, arrow::error::ArrowError> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let col = cast(col, &DataType::Utf8)?;
    let a = col.as_string::<i32>();
    Ok(Some(
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
            .collect(),
    ))
}

/// Rows of a detector's result as evidence.
pub fn evidence(batches: &[RecordBatch]) -> Result<Vec<Evidence>, arrow::error::ArrowError> {
    let mut out = Vec::new();
    for b in batches {
        let n = b.num_rows();
        let subject = strings(b, "subject")?.unwrap_or_else(|| vec![None; n]);
        let times = match b.column_by_name("event_time") {
            Some(c) => cast(c, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
            None => continue,
        };
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let index = match b.column_by_name("source_record_index") {
            Some(c) => Some(cast(c, &DataType::Int64)?),
            None => None,
        };
        let index = index.as_ref().map(|a| a.as_primitive::<Int64Type>());
        let mut cols: Vec<Option<Vec<Option<String>>>> = Vec::new();
        for name in OPTIONAL_COLUMNS {
            cols.push(if *name == "source_record_index" {
                None
            } else {
                strings(b, name)?
            });
        }
        let get = |c: usize, i: usize| cols[c].as_ref().and_then(|v| v[i].clone());
        for (i, subject) in subject.iter().enumerate().take(n) {
            let (Some(s), false) = (subject.clone(), times.is_null(i)) else {
                continue;
            };
            out.push(Evidence {
                subject: s,
                time: times.value(i),
                actor_arn: get(0, i),
                function_name: get(1, i),
                event_id: get(2, i),
                source_uri: get(3, i),
                source_record_index: index.and_then(|a| (!a.is_null(i)).then(|| a.value(i))),
                source_ip_address: get(5, i),
                user_agent: get(6, i),
                access_key_id: get(7, i),
                event_source: get(8, i),
                event_name: get(9, i),
                error_code: get(10, i),
                request_id: get(11, i),
                reason: get(12, i),
                account_id: get(13, i),
                region: get(14, i),
                severity: get(15, i),
            });
        }
    }
    Ok(out)
}

/// Run one detector: its findings whose evidence falls in `scope`.
pub async fn run(
    ctx: &SessionContext,
    d: &Detector,
    scope: Scope,
    detected_at: i64,
) -> Result<Outcome> {
    let started = Instant::now();
    let df = plan(ctx, d).await?;
    // Only the columns evidence is made of: a detector may select every column of the events
    // (`e.*` from `cloudtrail_evidence`), and the engine then reads just these from the files.
    let keep: Vec<&str> = ["subject", "event_time"]
        .iter()
        .chain(OPTIONAL_COLUMNS)
        .copied()
        .filter(|c| df.schema().field_with_unqualified_name(c).is_ok())
        .collect();
    let mut df = df
        .select_columns(&keep)
        .map_err(|e| sql_error(d, "planning", &e))?;
    // The scope as a filter on the result, which the engine pushes down where it can (into
    // the scan of the events a join reports on, say): rows outside it are dropped anyway.
    if scope.since.is_some() || scope.until.is_some() {
        use datafusion::prelude::{ident, lit};
        use datafusion::scalar::ScalarValue;
        let tz = match df
            .schema()
            .field_with_unqualified_name("event_time")
            .map(|f| f.data_type().clone())
        {
            Ok(DataType::Timestamp(TimeUnit::Microsecond, tz)) => Some(tz),
            _ => None,
        };
        // Only a microsecond timestamp is compared as is (other units are left to the check
        // below).
        if let Some(tz) = tz {
            let at = |t: i64| lit(ScalarValue::TimestampMicrosecond(Some(t), tz.clone()));
            if let Some(s) = scope.since {
                df = df
                    .filter(ident("event_time").gt_eq(at(s)))
                    .map_err(|e| sql_error(d, "planning", &e))?;
            }
            if let Some(u) = scope.until {
                df = df
                    .filter(ident("event_time").lt(at(u)))
                    .map_err(|e| sql_error(d, "planning", &e))?;
            }
        }
    }
    let logical = df.logical_plan().clone();
    let physical = df
        .create_physical_plan()
        .await
        .map_err(|e| sql_error(d, "planning", &e))?;
    let batches = datafusion::physical_plan::collect(physical.clone(), ctx.task_ctx())
        .await
        .map_err(|e| {
            sql_error(
                d,
                "running",
                &crate::cluster::with_function_hint(&logical, e),
            )
        })?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        // `-vv`: where the detector's time went, operator by operator.
        let shown =
            datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(&*physical)
                .indent(true);
        tracing::debug!(detector = %d.meta.id, "plan with metrics:\n{shown}");
    }
    let rows = evidence(&batches).map_err(|e| Error::Detector {
        path: d.sql_path.clone(),
        message: format!("reading its result: {e}"),
    })?;
    let rows: Vec<Evidence> = rows
        .into_iter()
        .filter(|r| scope.contains(r.time))
        .collect();
    let n = rows.len();
    let findings = group(d, rows, detected_at);
    Ok(Outcome {
        detector_id: d.meta.id.clone(),
        findings,
        rows: n,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_at_a_line() {
        let sql = "SELECT\n  actor_arn AS subject,\n  evnt_time\nFROM cloudtrail";
        assert_eq!(
            locate(
                sql,
                "Schema error: No field named evnt_time. Valid fields are ..."
            ),
            "line 3: "
        );
        assert_eq!(
            locate(sql, "Schema error: No field named \"evnt_time\"."),
            "line 3: "
        );
        assert_eq!(
            locate(
                sql,
                "sql parser error: Expected: end of statement, found: x at Line: 4, Column: 2"
            ),
            "line 4: "
        );
    }
}

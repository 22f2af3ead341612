//! `date_trunc(granularity, time)`, DataFusion's own function with the fast path it keeps for
//! times without a time zone also taken for times in UTC. The lake's times are UTC
//! (`Timestamp(µs, "UTC")`), for which the built-in converts every value through the time-zone
//! database to truncate it to the hour or the day; in UTC an hour and a day are fixed lengths,
//! so truncating is arithmetic, done here on the values as they are (casting them to times
//! without a zone and back went through the time-zone database too). Per-hour views of
//! millions of invocations spent most of their time there. Same name, arguments, types and
//! results; anything else goes to the built-in.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{
    ArrowTimestampType, DataType, FieldRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::error::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::scalar::ScalarValue;

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateTrunc {
    inner: Arc<ScalarUDF>,
}

/// The SQL function `date_trunc`, replacing the built-in of the same name.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(DateTrunc {
        inner: datafusion::functions::datetime::date_trunc(),
    })
}

/// Whether a time zone is UTC under another name.
fn is_utc(tz: &str) -> bool {
    matches!(
        tz,
        "UTC" | "utc" | "Z" | "+00:00" | "+00" | "Etc/UTC" | "GMT"
    )
}

/// UTC times truncated to the hour or the day: a whole number of those lengths since the
/// epoch (`rem_euclid`: times before 1970 round down too). The values keep their type, zone
/// included; nulls stay null.
fn truncate_utc(times: &ArrayRef, unit: TimeUnit, hour: bool) -> Result<ArrayRef> {
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let step = per_second * if hour { 3_600 } else { 86_400 };
    fn truncate<T: ArrowTimestampType>(times: &ArrayRef, step: i64) -> ArrayRef {
        let times = times.as_primitive::<T>();
        Arc::new(
            times
                .unary::<_, T>(|v| v - v.rem_euclid(step))
                .with_timezone_opt(times.timezone().map(str::to_string)),
        )
    }
    Ok(match unit {
        TimeUnit::Second => truncate::<TimestampSecondType>(times, step),
        TimeUnit::Millisecond => truncate::<TimestampMillisecondType>(times, step),
        TimeUnit::Microsecond => truncate::<TimestampMicrosecondType>(times, step),
        TimeUnit::Nanosecond => truncate::<TimestampNanosecondType>(times, step),
    })
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [
            ColumnarValue::Scalar(granularity),
            ColumnarValue::Array(times),
        ] = args.args.as_slice()
            && let ScalarValue::Utf8(Some(g)) | ScalarValue::Utf8View(Some(g)) = granularity
            && matches!(g.to_ascii_lowercase().as_str(), "hour" | "day")
            && let DataType::Timestamp(unit, Some(tz)) = times.data_type()
            && is_utc(tz)
        {
            let hour = g.eq_ignore_ascii_case("hour");
            return Ok(ColumnarValue::Array(truncate_utc(times, *unit, hour)?));
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same results as the built-in, through SQL, for UTC times (the fast path), times in
    /// another zone and without one, every granularity, before and after 1970, and NULLs.
    #[tokio::test]
    async fn same_results_as_the_built_in() {
        let times = "(VALUES (TIMESTAMP '2026-03-29 01:59:59.123456'), (TIMESTAMP '1969-12-31 23:30:00'), \
                     (TIMESTAMP '2026-11-01 00:00:00'), (NULL)) AS t(x)";
        let query = |unit: &str, zone: &str| {
            format!(
                "SELECT {} FROM (SELECT arrow_cast(x, 'Timestamp({unit}, {zone})') AS x FROM {times}) t",
                ["second", "minute", "hour", "day", "week", "month", "year"]
                    .iter()
                    .map(|g| format!("CAST(date_trunc('{g}', x) AS VARCHAR) AS {g}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for (unit, zone) in ["Second", "Millisecond", "Microsecond", "Nanosecond"]
            .into_iter()
            .flat_map(|unit| {
                [
                    "Some(\"UTC\")",
                    "Some(\"+00:00\")",
                    "Some(\"Europe/Berlin\")",
                    "None",
                ]
                .map(|zone| (unit, zone))
            })
        {
            let built_in = datafusion::prelude::SessionContext::new();
            let ours = datafusion::prelude::SessionContext::new();
            ours.register_udf(udf());
            let run = |ctx: datafusion::prelude::SessionContext| {
                let sql = query(unit, zone);
                async move {
                    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                    super::super::sql_rows(&batches)
                }
            };
            let (expected, _) = run(built_in).await;
            let (got, text) = run(ours).await;
            assert_eq!(got, expected, "{unit} {zone}: {text}");
            assert_eq!(got.len(), 4);
        }
    }
}

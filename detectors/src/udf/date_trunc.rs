//! `date_trunc(granularity, time)`, DataFusion's own function with the fast path it keeps for
//! times without a time zone also taken for times in UTC. The lake's times are UTC
//! (`Timestamp(µs, "UTC")`), for which the built-in converts every value through the time-zone
//! database to truncate it to the hour or the day; in UTC an hour and a day are fixed lengths,
//! so truncating is arithmetic. Per-hour views of millions of invocations spent most of their
//! time there. Same name, arguments, types and results; anything else goes to the built-in.

use std::sync::Arc;

use arrow::array::Array;
use arrow::compute::cast;
use arrow::datatypes::{DataType, FieldRef};
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
            // The same values without the zone take the built-in's arithmetic path; in UTC
            // they are the same instants, and the zone goes back on the result.
            let zoned = times.data_type().clone();
            let naive = DataType::Timestamp(*unit, None);
            let without_zone =
                |f: &FieldRef| Arc::new(f.as_ref().clone().with_data_type(naive.clone()));
            let mut naive_args = args.args.clone();
            naive_args[1] = ColumnarValue::Array(cast(times, &naive)?);
            let mut arg_fields = args.arg_fields.clone();
            arg_fields[1] = without_zone(&arg_fields[1]);
            let out = self.inner.invoke_with_args(ScalarFunctionArgs {
                args: naive_args,
                arg_fields,
                number_rows: args.number_rows,
                return_field: without_zone(&args.return_field),
                config_options: args.config_options.clone(),
            })?;
            return Ok(match out {
                ColumnarValue::Array(a) => ColumnarValue::Array(cast(&a, &zoned)?),
                ColumnarValue::Scalar(s) => ColumnarValue::Scalar(ScalarValue::try_from_array(
                    &cast(&s.to_array()?, &zoned)?,
                    0,
                )?),
            });
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
        let query = |zone: &str| {
            format!(
                "SELECT {} FROM (SELECT arrow_cast(x, 'Timestamp(Microsecond, {zone})') AS x FROM {times}) t",
                ["second", "minute", "hour", "day", "week", "month", "year"]
                    .iter()
                    .map(|g| format!("CAST(date_trunc('{g}', x) AS VARCHAR) AS {g}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for zone in [
            "Some(\"UTC\")",
            "Some(\"+00:00\")",
            "Some(\"Europe/Berlin\")",
            "None",
        ] {
            let built_in = datafusion::prelude::SessionContext::new();
            let ours = datafusion::prelude::SessionContext::new();
            ours.register_udf(udf());
            let run = |ctx: datafusion::prelude::SessionContext| {
                let sql = query(zone);
                async move {
                    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                    super::super::sql_rows(&batches)
                }
            };
            let (expected, _) = run(built_in).await;
            let (got, text) = run(ours).await;
            assert_eq!(got, expected, "{zone}: {text}");
            assert_eq!(got.len(), 4);
        }
    }
}

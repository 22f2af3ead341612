//! `epoch_us(time)`: a time as microseconds since the epoch (BIGINT), as DuckDB's function of
//! the same name gives it. Views that bin times by the minute or the hour with integer
//! arithmetic use it instead of `CAST(time AS BIGINT)`, which DuckDB refuses: the benchmark
//! runs the portable views on DuckDB from the same SQL files.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
struct EpochUs {
    signature: Signature,
}

/// The SQL function `epoch_us`.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(EpochUs {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

impl ScalarUDFImpl for EpochUs {
    fn name(&self) -> &str {
        "epoch_us"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Timestamp(_, _)] | [DataType::Null] => Ok(DataType::Int64),
            other => Err(DataFusionError::Plan(format!(
                "epoch_us takes a timestamp, not {other:?}"
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Execution(
                "epoch_us takes one argument".to_string(),
            ));
        };
        // Microseconds first (a no-op for the lake's times), then the raw values.
        let micros = arg.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None), None)?;
        micros.cast_to(&DataType::Int64, None)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn microseconds_since_the_epoch_of_any_unit_and_zone() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(super::udf());
        let batches = ctx
            .sql(
                "SELECT epoch_us(TIMESTAMP '2026-11-20 10:00:00.000123') AS a,
                        epoch_us(to_timestamp_seconds(3600)) AS b,
                        epoch_us(arrow_cast(TIMESTAMP '1970-01-01 00:00:01', 'Timestamp(Microsecond, Some(\"UTC\"))')) AS c,
                        epoch_us(CAST(NULL AS TIMESTAMP)) AS d",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let (rows, text) = crate::udf::sql_rows(&batches);
        assert_eq!(
            rows,
            vec![vec!["1795168800000123", "3600000000", "1000000", ""]],
            "{text}"
        );
    }
}

//! SQL functions registered in every session, one file each.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::scalar::ScalarValue;

pub mod cidr;
pub mod contains;
pub mod date_trunc;
pub mod epoch_us;
pub mod iam_action;
pub mod iam_match;

/// Every trailhound UDF.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        iam_action::udf(),
        iam_match::udf(),
        cidr::udf(),
        contains::udf(),
        date_trunc::udf(),
        epoch_us::udf(),
    ]
}

/// Register every trailhound UDF on `ctx`.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    for udf in all() {
        ctx.register_udf(udf);
    }
}

/// A SQL function of two strings, `f` applied row by row (NULL in, NULL out); `A` is the
/// result's array type, `ret` its data type.
fn two_string_udf<A, T>(
    name: &'static str,
    ret: DataType,
    f: fn(&str, &str) -> Option<T>,
) -> ScalarUDF
where
    A: Array + FromIterator<Option<T>> + 'static,
    T: 'static,
{
    let body = move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let strings = |a: &ArrayRef| {
            a.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "{name} takes strings, not {}",
                        a.data_type()
                    ))
                })
        };
        let [a, b] = arrays.as_slice() else {
            return Err(DataFusionError::Execution(format!(
                "{name} takes two arguments, not {}",
                arrays.len()
            )));
        };
        let (a, b) = (strings(a)?, strings(b)?);
        let out: A = a.iter().zip(b.iter()).map(|(x, y)| f(x?, y?)).collect();
        let out: ArrayRef = Arc::new(out);
        // A scalar when every argument was one.
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) && out.len() == 1 {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    };
    create_udf(
        name,
        vec![DataType::Utf8, DataType::Utf8],
        ret,
        Volatility::Immutable,
        Arc::new(body),
    )
}

/// A query result's data rows as text cells (the header left out), and the printed table.
#[cfg(test)]
pub(crate) fn sql_rows(batches: &[arrow::array::RecordBatch]) -> (Vec<Vec<String>>, String) {
    let text = arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string();
    let rows = text
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    (rows, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The functions through SQL, on scalars and on a table's columns.
    #[tokio::test]
    async fn in_sql() {
        let ctx = datafusion::prelude::SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql(
                "SELECT iam_action(s, n) AS a, iam_match('lambda:Update*', iam_action(s, n)) AS m,
                        cidr_contains('3.208.0.0/12', ip) AS aws
                 FROM (VALUES ('lambda.amazonaws.com', 'UpdateFunctionCode20150331v2', '3.210.1.1'),
                              ('s3.amazonaws.com', 'ListObjects', '203.0.113.50'),
                              (NULL, 'GetItem', 'AWS Internal')) AS t(s, n, ip)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let (rows, text) = sql_rows(&batches);
        assert_eq!(
            rows,
            vec![
                vec!["lambda:UpdateFunctionCode", "true", "true"],
                vec!["s3:ListBucket", "false", "false"],
                vec!["", "", "false"],
            ],
            "{text}"
        );
        let one = ctx
            .sql("SELECT cidr_contains('10.0.0.0/8', '10.9.9.9') AS c")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(one[0].num_rows(), 1);
    }
}

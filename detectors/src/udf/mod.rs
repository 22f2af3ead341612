//! SQL functions registered in every session, one file each.

use arrow::array::{Array, ArrayRef, StringArray};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::ColumnarValue;
use datafusion::scalar::ScalarValue;

pub mod cidr;
pub mod iam_action;
pub mod iam_match;

/// Register every trailhound UDF on `ctx`.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(iam_action::udf());
    ctx.register_udf(iam_match::udf());
    ctx.register_udf(cidr::udf());
}

/// The two string arguments of a function, as arrays.
fn two_strings(name: &str, args: &[ColumnarValue]) -> Result<(StringArray, StringArray)> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let strings = |a: &ArrayRef| {
        a.as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| {
                DataFusionError::Execution(format!("{name} takes strings, not {}", a.data_type()))
            })
    };
    match arrays.as_slice() {
        [a, b] => Ok((strings(a)?, strings(b)?)),
        _ => Err(DataFusionError::Execution(format!(
            "{name} takes two arguments, not {}",
            arrays.len()
        ))),
    }
}

/// A function's result: a scalar when every argument was one, else the array.
fn scalar_or_array(args: &[ColumnarValue], out: ArrayRef) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) && out.len() == 1 {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
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
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains(" a "))
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
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

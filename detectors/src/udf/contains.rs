//! `contains(text, search)`, DataFusion's own function with a faster path for the columns
//! detectors search most: a column read from Parquet's dictionary pages (user agents, ARNs)
//! holds few distinct values, each row a view of the same bytes. The search runs once per
//! distinct view and its answer is reused, where the built-in searches every row's bytes
//! again (10 M user agents scanned for the Lambda runtime's marker is most of a view's time).
//! Same name, arguments, types and results; anything but a string-view column searched for
//! a constant goes to the built-in.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, StringViewArray};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::DataType;
use datafusion::common::types::logical_string;
use datafusion::error::Result;
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignatureClass, Volatility,
};
use datafusion::scalar::ScalarValue;

/// Slots of the per-batch answer cache (a power of two).
const SLOTS: usize = 256;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Contains {
    signature: Signature,
}

/// The SQL function `contains`, replacing the built-in of the same name.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(Contains {
        signature: Signature::coercible(
            vec![
                Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
                Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
            ],
            Volatility::Immutable,
        ),
    })
}

/// Whether each row of `text` contains `search`, searching each distinct view once.
///
/// A view (length, prefix, buffer, offset; or the whole string when short) names the same
/// bytes wherever it repeats in one array, so an answer found for a view holds for every row
/// with that view. Answers live in a small direct-mapped cache: a column of many distinct
/// values only pays a comparison per row on top of the search.
pub fn contains_views(text: &StringViewArray, search: &str) -> BooleanArray {
    let finder = memchr::memmem::Finder::new(search.as_bytes());
    let views = text.views();
    let mut keys = [0u128; SLOTS];
    let mut answers = [false; SLOTS];
    let mut filled = [false; SLOTS];
    let nulls = text.nulls();
    let values = BooleanBuffer::collect_bool(text.len(), |i| {
        if nulls.is_some_and(|n| n.is_null(i)) {
            return false;
        }
        let view = views[i];
        let slot = slot(view);
        if filled[slot] && keys[slot] == view {
            return answers[slot];
        }
        let found = finder.find(text.value(i).as_bytes()).is_some();
        keys[slot] = view;
        answers[slot] = found;
        filled[slot] = true;
        found
    });
    BooleanArray::new(values, text.nulls().cloned())
}

fn slot(view: u128) -> usize {
    let folded = (view as u64) ^ ((view >> 64) as u64);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize & (SLOTS - 1)
}

impl ScalarUDFImpl for Contains {
    fn name(&self) -> &str {
        "contains"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [ColumnarValue::Array(text), ColumnarValue::Scalar(search)] = args.args.as_slice()
            && let Some(text) = text.as_any().downcast_ref::<StringViewArray>()
        {
            let search = match search {
                ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => s,
                _ => return datafusion::functions::string::contains().invoke_with_args(args),
            };
            return Ok(match search {
                Some(search) => ColumnarValue::Array(Arc::new(contains_views(text, search))),
                None => ColumnarValue::Scalar(ScalarValue::Boolean(None)),
            });
        }
        datafusion::functions::string::contains().invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answers as a plain search, row by row, for repeated long and short values,
    /// nulls, and more distinct values than the cache holds.
    #[test]
    fn same_answers_as_a_plain_search() {
        let marker = "exec-env/AWS_Lambda_";
        let mut values: Vec<Option<String>> = Vec::new();
        for i in 0..5000 {
            values.push(match i % 7 {
                0 => None,
                1 => Some("aws-sdk-python/1.34 exec-env/AWS_Lambda_python3.12".into()),
                2 => Some("aws-cli/2.15.0 Python/3.11".into()),
                3 => Some("short".into()),
                4 => Some(format!("agent {i} exec-env/AWS_Lambda_nodejs20.x")),
                5 => Some(format!("agent number {i} from somewhere else")),
                _ => Some("".into()),
            });
        }
        let array = StringViewArray::from_iter(values.iter().map(|v| v.as_deref()));
        // Sliced, so views point into shared buffers at an offset.
        let array = array.slice(3, 4000);
        let got = contains_views(&array, marker);
        for (i, v) in values[3..4003].iter().enumerate() {
            assert_eq!(
                got.is_valid(i).then(|| got.value(i)),
                v.as_ref().map(|s| s.contains(marker)),
                "row {i}: {v:?}"
            );
        }
        let empty = contains_views(&array, "");
        assert!((0..empty.len()).all(|i| empty.is_null(i) || empty.value(i)));
    }

    /// Through SQL: string views (the fast path), plain strings and a NULL search (the
    /// built-in) agree.
    #[tokio::test]
    async fn in_sql() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(udf());
        let batches = ctx
            .sql(
                "SELECT contains(arrow_cast(t, 'Utf8View'), 'run') AS v, contains(t, 'run') AS s,
                        contains(t, NULL) AS n, contains(arrow_cast(t, 'Utf8View'), s) AS c
                 FROM (VALUES ('the runtime', 'time'), ('elsewhere', 'x'), (NULL, 'y')) AS x(t, s)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let (rows, text) = super::super::sql_rows(&batches);
        assert_eq!(
            rows,
            vec![
                vec!["true", "true", "", "true"],
                vec!["false", "false", "", "false"],
                vec!["", "", "", ""],
            ],
            "{text}"
        );
    }
}

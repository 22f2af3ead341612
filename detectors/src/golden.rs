//! Golden tests of detectors: each test's rows are written as Parquet into an empty lake, the
//! detector runs over it in a full session (views and UDFs), and the number of findings must
//! be what the test expects.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use pipeline::lake::Lake;
use serde_json::{Map, Value};

use crate::finding::Finding;
use crate::registry::{Detector, GoldenTest};
use crate::runner::{Scope, run};
use crate::{Error, Result};

/// The account and region of fixture rows that do not name theirs.
pub const FIXTURE_ACCOUNT: &str = "123456789012";
pub const FIXTURE_REGION: &str = "us-east-1";

/// The result of one golden test.
#[derive(Debug)]
pub struct TestResult {
    pub detector_id: String,
    pub name: String,
    pub expected: usize,
    pub findings: Vec<Finding>,
    pub error: Option<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.findings.len() == self.expected
    }
}

fn table_schema(table: &str) -> Option<SchemaRef> {
    if table == pipeline::iam::table::TABLE {
        return Some(pipeline::iam::table::schema());
    }
    crate::session::lake_tables()
        .into_iter()
        .find(|(n, _)| *n == table)
        .map(|(_, s)| s)
}

/// The day of the IAM snapshot fixture rows make (before any fixture activity).
const IAM_SNAPSHOT_DAY: &str = "2026-01-01";

/// The column that places a row of `table` in time (and in its `dt` partition).
fn time_column(table: &str) -> &'static str {
    match table {
        "lambda_invocations" => "start_time",
        "lambda_logs" => "time",
        _ => "event_time",
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Expand a test's rows into (table, JSON object) pairs, in the lake's column types.
pub fn expand(
    detector_id: &str,
    test_index: usize,
    test: &GoldenTest,
) -> Result<Vec<(String, Map<String, Value>)>> {
    let bad = |m: String| Error::Detector {
        path: format!("{detector_id}.toml"),
        message: format!("test {} ({:?}): {m}", test_index + 1, test.name),
    };
    let mut out = Vec::new();
    for (ri, row) in test.rows.iter().enumerate() {
        let table = row
            .get("table")
            .or_else(|| test.defaults.get("table"))
            .cloned();
        let mut merged = toml::Table::new();
        if let Some(t) = &table {
            merged.insert("table".into(), t.clone());
        }
        let table_name = match &table {
            Some(toml::Value::String(t)) => t.as_str(),
            _ => "cloudtrail",
        };
        // Defaults fill the columns this row's table has; the row's own keys must all exist.
        if let Some(schema) = table_schema(table_name) {
            for (k, v) in &test.defaults {
                if schema.field_with_name(k).is_ok() || matches!(k.as_str(), "repeat" | "every") {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in row {
            merged.insert(k.clone(), v.clone());
        }
        let table = match merged.remove("table") {
            Some(toml::Value::String(t)) => t,
            None => "cloudtrail".into(),
            Some(v) => return Err(bad(format!("row {}: table = {v:?} is not a name", ri + 1))),
        };
        let schema = table_schema(&table)
            .ok_or_else(|| bad(format!("row {}: unknown table {table:?}", ri + 1)))?;
        let repeat = match merged.remove("repeat") {
            Some(toml::Value::Integer(n)) if (1..=100_000).contains(&n) => n as usize,
            None => 1,
            Some(v) => return Err(bad(format!("row {}: repeat = {v:?} (1 to 100000)", ri + 1))),
        };
        let every = match merged.remove("every") {
            Some(toml::Value::String(s)) => pipeline::time::parse_duration(&s)
                .ok_or_else(|| bad(format!("row {}: every = {s:?} is not a duration", ri + 1)))?,
            None => 0,
            Some(v) => {
                return Err(bad(format!(
                    "row {}: every = {v:?} is not a duration",
                    ri + 1
                )));
            }
        };
        for (k, _) in &merged {
            if schema.field_with_name(k).is_err() {
                return Err(bad(format!("row {}: {table} has no column {k:?}", ri + 1)));
            }
        }
        for k in 0..repeat {
            let mut obj = Map::new();
            for (col, v) in &merged {
                let v = match toml_to_json(v) {
                    Value::Array(a) if !a.is_empty() => a[k % a.len()].clone(),
                    v => v,
                };
                let field = schema
                    .field_with_name(col)
                    .map_err(|e| bad(e.to_string()))?;
                let v = if matches!(field.data_type(), DataType::Timestamp(_, _)) {
                    let s = v
                        .as_str()
                        .ok_or_else(|| bad(format!("row {}: {col} = {v} is not a time", ri + 1)))?;
                    let t = pipeline::time::parse_timestamp_micros(s).ok_or_else(|| {
                        bad(format!(
                            "row {}: {col} = {s:?} is not an RFC 3339 time",
                            ri + 1
                        ))
                    })?;
                    Value::from(t + every * k as i64)
                } else {
                    v
                };
                obj.insert(col.clone(), v);
            }
            let n = out.len();
            let function = obj
                .get("function_name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut default = |col: &str, v: Value| {
                if schema.field_with_name(col).is_ok() && !obj.contains_key(col) {
                    obj.insert(col.to_string(), v);
                }
            };
            default(
                "source_uri",
                Value::from(format!("fixture://{detector_id}/{}", test_index + 1)),
            );
            default("source_record_index", Value::from(n as i64));
            default("ingest_run", Value::from("fixture"));
            match table.as_str() {
                "cloudtrail" => {
                    default(
                        "event_id",
                        Value::from(format!("fixture-{}-{n:05}", test_index + 1)),
                    );
                    default("event_version", Value::from("1.08"));
                    default("event_type", Value::from("AwsApiCall"));
                    default("recipient_account_id", Value::from(FIXTURE_ACCOUNT));
                    default("aws_region", Value::from(FIXTURE_REGION));
                }
                "lambda_invocations" => {
                    default("log_group", Value::from(format!("/aws/lambda/{function}")));
                    default(
                        "request_id",
                        Value::from(format!("fixture-{}-{n:05}", test_index + 1)),
                    );
                    default("cold_start", Value::Bool(false));
                    default("status", Value::from("success"));
                }
                _ => {
                    default("log_group", Value::from(format!("/aws/lambda/{function}")));
                    default("message", Value::from(""));
                    default("kind", Value::from("app"));
                    default("structured", Value::Bool(false));
                }
            }
            for f in schema.fields() {
                if !f.is_nullable() && !obj.contains_key(f.name()) {
                    return Err(bad(format!(
                        "row {}: {table} needs a value for {}",
                        ri + 1,
                        f.name()
                    )));
                }
            }
            out.push((table.clone(), obj));
        }
    }
    Ok(out)
}

/// Write rows into a new lake at `root`, partitioned as ingest would.
pub fn write_lake(root: &Path, rows: &[(String, Map<String, Value>)]) -> Result<()> {
    let io = |op: &'static str, path: &Path, e: std::io::Error| {
        Error::Lake(pipeline::Error::Io {
            op,
            path: path.to_path_buf(),
            source: e,
        })
    };
    // (table, account, region, day) → rows
    type Partition = (String, String, String, String);
    let mut parts: BTreeMap<Partition, Vec<&Map<String, Value>>> = BTreeMap::new();
    for (table, obj) in rows {
        let t = obj
            .get(time_column(table))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let iam = table == pipeline::iam::table::TABLE;
        let day = if iam {
            IAM_SNAPSHOT_DAY.to_string()
        } else {
            pipeline::time::date_string(t.div_euclid(86_400_000_000))
        };
        let text = |col: &str| obj.get(col).and_then(Value::as_str);
        // An IAM row's account is its principal's; an event's, the recipient account.
        let account = if iam {
            text("principal_arn").and_then(|arn| arn.split(':').nth(4))
        } else {
            text("recipient_account_id")
        }
        .unwrap_or(FIXTURE_ACCOUNT)
        .to_string();
        let region = text("aws_region").unwrap_or(FIXTURE_REGION).to_string();
        parts
            .entry((table.clone(), account, region, day))
            .or_default()
            .push(obj);
    }
    for ((table, account, region, day), objs) in parts {
        let schema = table_schema(&table).ok_or_else(|| Error::Detector {
            path: table.clone(),
            message: "unknown table".into(),
        })?;
        // The iam table has no region partition.
        let dir = if table == pipeline::iam::table::TABLE {
            root.join(format!("{table}/account_id={account}/dt={day}"))
        } else {
            root.join(format!(
                "{table}/account_id={account}/region={region}/dt={day}"
            ))
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("creating fixture directory", &dir, e))?;
        let arrow_err = |e: arrow::error::ArrowError| Error::Detector {
            path: dir.display().to_string(),
            message: format!("fixture rows do not fit the {table} schema: {e}"),
        };
        let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
            .build_decoder()
            .map_err(arrow_err)?;
        decoder.serialize(&objs).map_err(arrow_err)?;
        let batch = decoder.flush().map_err(arrow_err)?;
        let path = dir.join("fixture.parquet");
        let file =
            std::fs::File::create(&path).map_err(|e| io("creating fixture file", &path, e))?;
        let parquet_err = |e: parquet::errors::ParquetError| Error::Detector {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut w = ArrowWriter::try_new(file, schema, None).map_err(parquet_err)?;
        if let Some(b) = batch {
            w.write(&b).map_err(parquet_err)?;
        }
        w.close().map_err(parquet_err)?;
    }
    Ok(())
}

/// Run every golden test of `d`, in sessions with `views`.
pub async fn run_tests(d: &Detector, views: &[crate::views::View]) -> Vec<TestResult> {
    let mut out = Vec::new();
    for (i, test) in d.meta.tests.iter().enumerate() {
        let mut result = TestResult {
            detector_id: d.meta.id.clone(),
            name: test.name.clone(),
            expected: test.expect,
            findings: Vec::new(),
            error: None,
        };
        match run_one(d, i, test, views).await {
            Ok(f) => result.findings = f,
            Err(e) => result.error = Some(e.to_string()),
        }
        out.push(result);
    }
    out
}

async fn run_one(
    d: &Detector,
    i: usize,
    test: &GoldenTest,
    views: &[crate::views::View],
) -> Result<Vec<Finding>> {
    let dir = tempfile::tempdir().map_err(|e| {
        Error::Lake(pipeline::Error::Io {
            op: "creating a temporary lake",
            path: std::env::temp_dir(),
            source: e,
        })
    })?;
    let rows = expand(&d.meta.id, i, test)?;
    write_lake(dir.path(), &rows)?;
    let lake = Lake::open(&dir.path().display().to_string(), None)?;
    let ctx = crate::session::open_with(&lake, None, views).await?;
    crate::views::materialize(&ctx, views, &[d.sql.as_str()]).await?;
    let outcome = run(&ctx, d, Scope::default(), 0).await?;
    Ok(outcome.findings)
}

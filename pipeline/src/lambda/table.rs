//! The `lambda_invocations` and `lambda_logs` tables: Arrow schemas and column builders.
//!
//! `lambda_invocations` has one row per request id (DESIGN.md's columns plus `restore_duration_ms`,
//! `version`, `ingest_run`). `lambda_logs` keeps every line that is not summed up in an
//! invocation row: application output, and platform lines such as `INIT_START`, timeouts and
//! crashes, whole, so that nothing read is dropped.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::invocation::Invocation;
use crate::lake::writer::BatchBuilder;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

static INVOCATIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let f = |name: &str| Field::new(name, DataType::Float64, true);
    let i = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        s("function_name", false),
        s("log_group", false),
        s("log_stream", true),
        s("request_id", false),
        Field::new("start_time", ts(), true),
        Field::new("end_time", ts(), true),
        f("duration_ms"),
        f("billed_duration_ms"),
        i("memory_size_mb"),
        i("max_memory_used_mb"),
        f("init_duration_ms"),
        f("restore_duration_ms"),
        Field::new("cold_start", DataType::Boolean, false),
        s("status", false),
        s("error_type", true),
        s("xray_trace_id", true),
        s("version", true),
        s("source_uri", false),
        s("ingest_run", false),
    ]))
});

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("time", ts(), true),
        s("function_name", false),
        s("log_group", false),
        s("log_stream", true),
        s("request_id", true),
        s("level", true),
        s("message", false),
        // The whole line when it was structured JSON (the message is then its `message`).
        s("raw", true),
        // `app` for application output, else the platform line's kind (`platform.initStart`,
        // `timeout`, `crash`, …).
        s("kind", false),
        Field::new("structured", DataType::Boolean, false),
        // The CloudWatch Logs event id, when the source gives one.
        s("event_id", true),
        s("source_uri", false),
        Field::new("source_record_index", DataType::Int64, false),
        s("ingest_run", false),
    ]))
});

pub fn invocations_schema() -> SchemaRef {
    INVOCATIONS.clone()
}

pub fn logs_schema() -> SchemaRef {
    LOGS.clone()
}

/// Column builders for `lambda_invocations`.
pub struct InvocationsBuilder {
    function_name: StringBuilder,
    log_group: StringBuilder,
    log_stream: StringBuilder,
    request_id: StringBuilder,
    start_time: TimestampMicrosecondBuilder,
    end_time: TimestampMicrosecondBuilder,
    duration_ms: Float64Builder,
    billed_duration_ms: Float64Builder,
    memory_size_mb: Int64Builder,
    max_memory_used_mb: Int64Builder,
    init_duration_ms: Float64Builder,
    restore_duration_ms: Float64Builder,
    cold_start: BooleanBuilder,
    status: StringBuilder,
    error_type: StringBuilder,
    xray_trace_id: StringBuilder,
    version: StringBuilder,
    source_uri: StringBuilder,
    ingest_run: StringBuilder,
    rows: usize,
}

impl InvocationsBuilder {
    pub fn append(&mut self, inv: &Invocation, source_uri: &str, run: &str) {
        self.function_name.append_value(&inv.function_name);
        self.log_group.append_value(&inv.log_group);
        self.log_stream
            .append_option((!inv.log_stream.is_empty()).then_some(&inv.log_stream));
        self.request_id.append_value(&inv.request_id);
        self.start_time.append_option(inv.start_time);
        self.end_time.append_option(inv.end_time);
        self.duration_ms.append_option(inv.duration_ms);
        self.billed_duration_ms
            .append_option(inv.billed_duration_ms);
        self.memory_size_mb.append_option(inv.memory_size_mb);
        self.max_memory_used_mb
            .append_option(inv.max_memory_used_mb);
        self.init_duration_ms.append_option(inv.init_duration_ms);
        self.restore_duration_ms
            .append_option(inv.restore_duration_ms);
        self.cold_start.append_value(inv.cold_start);
        self.status.append_value(inv.status().as_str());
        self.error_type.append_option(inv.error_type.as_deref());
        self.xray_trace_id
            .append_option(inv.xray_trace_id.as_deref());
        self.version.append_option(inv.version.as_deref());
        self.source_uri.append_value(source_uri);
        self.ingest_run.append_value(run);
        self.rows += 1;
    }
}

impl BatchBuilder for InvocationsBuilder {
    fn new(capacity: usize) -> Self {
        let s = || StringBuilder::with_capacity(capacity, capacity * 32);
        let t = || TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC");
        let f = || Float64Builder::with_capacity(capacity);
        let i = || Int64Builder::with_capacity(capacity);
        InvocationsBuilder {
            function_name: s(),
            log_group: s(),
            log_stream: s(),
            request_id: s(),
            start_time: t(),
            end_time: t(),
            duration_ms: f(),
            billed_duration_ms: f(),
            memory_size_mb: i(),
            max_memory_used_mb: i(),
            init_duration_ms: f(),
            restore_duration_ms: f(),
            cold_start: BooleanBuilder::with_capacity(capacity),
            status: s(),
            error_type: s(),
            xray_trace_id: s(),
            version: s(),
            source_uri: s(),
            ingest_run: s(),
            rows: 0,
        }
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn memory_bytes(&self) -> usize {
        self.rows * 512
    }

    fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.function_name.finish()),
            Arc::new(self.log_group.finish()),
            Arc::new(self.log_stream.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.billed_duration_ms.finish()),
            Arc::new(self.memory_size_mb.finish()),
            Arc::new(self.max_memory_used_mb.finish()),
            Arc::new(self.init_duration_ms.finish()),
            Arc::new(self.restore_duration_ms.finish()),
            Arc::new(self.cold_start.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.error_type.finish()),
            Arc::new(self.xray_trace_id.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.source_uri.finish()),
            Arc::new(self.ingest_run.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(invocations_schema(), columns)
    }
}

/// One `lambda_logs` row.
#[derive(Debug, Clone, Copy)]
pub struct LogRow<'a> {
    pub time_micros: Option<i64>,
    pub function_name: &'a str,
    pub log_group: &'a str,
    pub log_stream: &'a str,
    pub request_id: Option<&'a str>,
    pub level: Option<&'a str>,
    pub message: &'a str,
    pub raw: Option<&'a str>,
    pub kind: &'a str,
    pub structured: bool,
    pub event_id: Option<&'a str>,
    pub source_uri: &'a str,
    pub source_record_index: u64,
    pub run: &'a str,
}

/// Column builders for `lambda_logs`.
pub struct LogsBuilder {
    time: TimestampMicrosecondBuilder,
    function_name: StringBuilder,
    log_group: StringBuilder,
    log_stream: StringBuilder,
    request_id: StringBuilder,
    level: StringBuilder,
    message: StringBuilder,
    raw: StringBuilder,
    kind: StringBuilder,
    structured: BooleanBuilder,
    event_id: StringBuilder,
    source_uri: StringBuilder,
    source_record_index: Int64Builder,
    ingest_run: StringBuilder,
    rows: usize,
    bytes: usize,
}

impl LogsBuilder {
    pub fn append(&mut self, row: &LogRow<'_>) {
        self.time.append_option(row.time_micros);
        self.function_name.append_value(row.function_name);
        self.log_group.append_value(row.log_group);
        self.log_stream
            .append_option((!row.log_stream.is_empty()).then_some(row.log_stream));
        self.request_id.append_option(row.request_id);
        self.level.append_option(row.level);
        self.message.append_value(row.message);
        self.raw.append_option(row.raw);
        self.kind.append_value(row.kind);
        self.structured.append_value(row.structured);
        self.event_id.append_option(row.event_id);
        self.source_uri.append_value(row.source_uri);
        self.source_record_index
            .append_value(row.source_record_index as i64);
        self.ingest_run.append_value(row.run);
        self.rows += 1;
        self.bytes += row.message.len() + row.raw.map_or(0, str::len);
    }
}

impl BatchBuilder for LogsBuilder {
    fn new(capacity: usize) -> Self {
        let s = || StringBuilder::with_capacity(capacity, capacity * 32);
        LogsBuilder {
            time: TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            function_name: s(),
            log_group: s(),
            log_stream: s(),
            request_id: s(),
            level: s(),
            message: s(),
            raw: s(),
            kind: s(),
            structured: BooleanBuilder::with_capacity(capacity),
            event_id: s(),
            source_uri: s(),
            source_record_index: Int64Builder::with_capacity(capacity),
            ingest_run: s(),
            rows: 0,
            bytes: 0,
        }
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn memory_bytes(&self) -> usize {
        self.bytes + self.rows * 256
    }

    fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.function_name.finish()),
            Arc::new(self.log_group.finish()),
            Arc::new(self.log_stream.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.level.finish()),
            Arc::new(self.message.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.structured.finish()),
            Arc::new(self.event_id.finish()),
            Arc::new(self.source_uri.finish()),
            Arc::new(self.source_record_index.finish()),
            Arc::new(self.ingest_run.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(logs_schema(), columns)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;

    use super::super::invocation::Merger;
    use super::super::line::parse_line;
    use super::*;

    #[test]
    fn an_invocation_row() {
        let mut m = Merger::new();
        let id = "11111111-2222-3333-4444-555555555555";
        let g = "/aws/lambda/orders";
        m.line(
            g,
            "s",
            Some(1),
            &parse_line(&format!("START RequestId: {id} Version: 3")),
        );
        let inv = m
            .line(g, "s", Some(2), &parse_line(&format!(
                "REPORT RequestId: {id}\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tInit Duration: 100.00 ms"
            )))
            .unwrap();
        let mut b = InvocationsBuilder::new(4);
        b.append(&inv, "file:///x", "run1");
        let batch = b.finish().unwrap();
        assert_eq!(batch.schema(), invocations_schema());
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        assert_eq!(col("function_name").as_string::<i32>().value(0), "orders");
        assert_eq!(col("status").as_string::<i32>().value(0), "success");
        assert!(col("cold_start").as_boolean().value(0));
        assert_eq!(
            col("duration_ms")
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(0),
            2.5
        );
        assert_eq!(
            col("max_memory_used_mb")
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            60
        );
        assert!(col("error_type").is_null(0));
        assert_eq!(col("version").as_string::<i32>().value(0), "3");
    }

    #[test]
    fn a_log_row() {
        let mut b = LogsBuilder::new(2);
        b.append(&LogRow {
            time_micros: Some(5),
            function_name: "orders",
            log_group: "/aws/lambda/orders",
            log_stream: "",
            request_id: None,
            level: Some("INFO"),
            message: "hello",
            raw: None,
            kind: "app",
            structured: false,
            event_id: Some("3791"),
            source_uri: "file:///x",
            source_record_index: 7,
            run: "run1",
        });
        let batch = b.finish().unwrap();
        assert_eq!(batch.schema(), logs_schema());
        assert!(batch.column_by_name("log_stream").unwrap().is_null(0));
        assert_eq!(
            batch
                .column_by_name("message")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "hello"
        );
    }
}

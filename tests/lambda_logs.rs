//! `ingest lambda-logs` from files: subscription payloads in both log formats, an invocation
//! cut between two runs, idempotency, and the Lambda samples of tests/data.

use serde_json::{Value, json};

use crate::common::*;

const GROUP: &str = "/aws/lambda/orders";
const A: &str = "a1111111-2222-3333-4444-555555555555";
const B: &str = "b1111111-2222-3333-4444-555555555555";
const C: &str = "c1111111-2222-3333-4444-555555555555";
/// 2024-08-02T10:00:00Z in milliseconds.
const T0: i64 = 1_722_592_800_000;

fn payload(stream: &str, events: &[(i64, String)]) -> Vec<u8> {
    let log_events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (ms, message))| json!({"id": format!("{stream}-{ms}-{i}"), "timestamp": ms, "message": message}))
        .collect();
    serde_json::to_vec(&json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP,
        "logStream": stream, "subscriptionFilters": ["to-firehose"], "logEvents": log_events,
    }))
    .unwrap()
}

#[test]
fn invocations_and_logs_from_subscription_payloads() {
    let dir = tempdir();
    let lake = lake_of(&dir);
    // Text format: a cold invocation that logs and succeeds, then one that times out; the JSON
    // format in another stream: an invocation whose REPORT arrives in the second file.
    let text = [
        (
            T0,
            "INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: arn:x\n".to_string(),
        ),
        (T0 + 1, format!("START RequestId: {A} Version: $LATEST\n")),
        (
            T0 + 2,
            format!("[INFO]\t2024-08-02T10:00:00.002Z\t{A}\tprocessing order 7\n"),
        ),
        (T0 + 3, format!("END RequestId: {A}\n")),
        (
            T0 + 4,
            format!(
                "REPORT RequestId: {A}\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 51 MB\tInit Duration: 250.50 ms\t\n"
            ),
        ),
        (T0 + 10, format!("START RequestId: {B} Version: $LATEST\n")),
        (
            T0 + 3010,
            format!("2024-08-02T10:00:03.010Z {B} Task timed out after 3.00 seconds\n"),
        ),
        (T0 + 3011, format!("END RequestId: {B}\n")),
        (
            T0 + 3012,
            format!(
                "REPORT RequestId: {B}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\n"
            ),
        ),
    ];
    let first_json = [
        (T0 + 20, json!({"time": "2024-08-02T10:00:00.020Z", "type": "platform.start", "record": {"requestId": C, "version": "$LATEST"}}).to_string()),
        (T0 + 21, json!({"timestamp": "2024-08-02T10:00:00.021Z", "level": "ERROR", "message": "payment declined", "requestId": C}).to_string()),
    ];
    let second_json = [
        (T0 + 30, json!({"time": "2024-08-02T10:00:00.030Z", "type": "platform.runtimeDone", "record": {"requestId": C, "status": "failure", "errorType": "PaymentError"}}).to_string()),
        (T0 + 31, json!({"time": "2024-08-02T10:00:00.031Z", "type": "platform.report", "record": {"requestId": C, "status": "error", "errorType": "PaymentError", "metrics": {"durationMs": 11.0, "billedDurationMs": 12, "memorySizeMB": 256, "maxMemoryUsedMB": 70}}}).to_string()),
    ];
    let src1 = dir.path().join("first");
    write(
        &src1.join("a.gz"),
        &gz(&[
            payload("text-stream", &text),
            payload("json-stream", &first_json),
        ]
        .concat()),
    );
    let s = ingest_lambda(&[&src1], &lake);
    assert_eq!(s["files_read"], 1);
    assert_eq!(s["log_events"], 11);
    assert_eq!(s["invocations_written"], 2);
    assert_eq!(s["invocations_open"], 1, "{s}");

    // The rest of C arrives later, in another file: one row for it, not two.
    let src2 = dir.path().join("second");
    write(&src2.join("b.json"), &payload("json-stream", &second_json));
    let s = ingest_lambda(&[&src2], &lake);
    assert_eq!(s["invocations_written"], 1);
    assert_eq!(s["invocations_open"], 0);

    let rows = query(
        &lake,
        "SELECT request_id, function_name, status, cold_start, duration_ms, init_duration_ms,
                max_memory_used_mb, memory_size_mb, error_type, account_id, dt,
                CAST(start_time AS VARCHAR) AS start_time
         FROM lambda_invocations ORDER BY request_id",
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    let (a, b, c) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(a["request_id"], A);
    assert_eq!(a["function_name"], "orders");
    assert_eq!(a["status"], "success");
    assert_eq!(a["cold_start"], true);
    assert_eq!(a["duration_ms"], 2.0);
    assert_eq!(a["init_duration_ms"], 250.5);
    assert_eq!(a["max_memory_used_mb"], 51);
    assert_eq!(a["account_id"], "123456789012");
    assert_eq!(a["dt"], "2024-08-02");
    assert!(
        a["start_time"]
            .as_str()
            .unwrap()
            .starts_with("2024-08-02T10:00:00.001"),
        "{a}"
    );
    assert_eq!(b["status"], "timeout");
    assert_eq!(b["cold_start"], false);
    assert_eq!(c["status"], "error");
    assert_eq!(c["error_type"], "PaymentError");
    assert_eq!(c["memory_size_mb"], 256);

    let logs = query(
        &lake,
        "SELECT kind, level, request_id, message, structured FROM lambda_logs ORDER BY time",
    );
    let kinds: Vec<&str> = logs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["platform.initStart", "app", "app", "timeout"],
        "{logs:?}"
    );
    assert_eq!(logs[1]["message"], "processing order 7");
    assert_eq!(logs[1]["request_id"], A);
    assert_eq!(logs[2]["level"], "ERROR");
    assert_eq!(logs[2]["message"], "payment declined");
    assert_eq!(logs[2]["structured"], true);

    // Idempotent: the same files again add nothing.
    let s = ingest_lambda(&[&src1, &src2], &lake);
    assert_eq!(s["files_already_ingested"], 2);
    assert_eq!(s["invocations_written"], 0);
    assert_eq!(
        query(&lake, "SELECT count(*) AS n FROM lambda_invocations")[0]["n"],
        3
    );
    assert_eq!(
        query(&lake, "SELECT count(*) AS n FROM lambda_logs")[0]["n"],
        4
    );
}

#[test]
fn damaged_payloads_keep_the_good_part() {
    let dir = tempdir();
    let lake = lake_of(&dir);
    let good = payload("s", &[(T0, "hello from the function\n".to_string())]);
    let mut bytes = good.clone();
    bytes.extend_from_slice(b"{\"messageType\":\"DATA_MESSAGE\",\"logEv");
    write(&dir.path().join("src/p.json"), &bytes);
    write(&dir.path().join("src/.DS_Store"), b"not logs");
    let s = ingest_lambda(&[dir.path().join("src")], &lake);
    assert_eq!(s["files_skipped"], 1, "hidden files are not read: {s}");
    assert_eq!(s["log_events"], 1);
    assert_eq!(s["records_quarantined"], 1);
    assert_eq!(
        query(&lake, "SELECT message FROM lambda_logs")[0]["message"],
        "hello from the function"
    );
    let q = std::fs::read_dir(dir.path().join("lake/_quarantine/lambda"))
        .unwrap()
        .count();
    assert_eq!(q, 1);
}

/// Every Lambda sample in tests/data, through the binary: text blocks as raw log files,
/// Telemetry API events and Powertools outputs as NDJSON lines. Every line is read, and the
/// REPORT blocks become invocations.
#[test]
fn lambda_samples() {
    let dir = tempdir();
    let src = dir.path().join("src");
    let docs = test_data().join("awsdocs_lambda_log_examples");
    let blocks: Value = serde_json::from_slice(
        &std::fs::read(docs.join("cloudwatch_text_log_examples.json")).unwrap(),
    )
    .unwrap();
    let mut lines = 0usize;
    let mut reports = 0usize;
    // Several documents show the same block: the same bytes are one source (read once).
    let mut seen = std::collections::HashSet::new();
    for (i, block) in blocks["blocks"].as_array().unwrap().iter().enumerate() {
        let text = block["text"].as_str().unwrap();
        if !seen.insert(text) {
            continue;
        }
        // A block that is a subscription payload holds its log events, not its text lines.
        lines += match serde_json::from_str::<Value>(text) {
            Ok(p) if p["logEvents"].is_array() => p["logEvents"].as_array().unwrap().len(),
            _ => text.lines().filter(|l| !l.trim().is_empty()).count(),
        };
        reports += text
            .lines()
            .filter(|l| l.starts_with("REPORT RequestId: "))
            .count();
        write(&src.join(format!("block-{i:03}.log")), text.as_bytes());
    }
    let telemetry: Value = serde_json::from_slice(
        &std::fs::read(docs.join("telemetry_api_event_examples.json")).unwrap(),
    )
    .unwrap();
    let ndjson: String = telemetry["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}\n", e["event"]))
        .collect();
    lines += ndjson.lines().count();
    write(&src.join("telemetry.ndjson"), ndjson.as_bytes());
    let mut powertools = String::new();
    for f in
        std::fs::read_dir(test_data().join("powertools_lambda_json_log_examples/logger_outputs"))
            .unwrap()
    {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        for value in serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>() {
            let Ok(value) = value else { break };
            let items = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            for item in items {
                powertools.push_str(&format!("{item}\n"));
            }
        }
    }
    lines += powertools.lines().count();
    write(&src.join("powertools.ndjson"), powertools.as_bytes());

    let lake = lake_of(&dir);
    let s = ingest_lambda(&[&src], &lake);
    assert_eq!(s["log_events"], lines as u64, "{s}");
    assert_eq!(s["records_quarantined"], 0, "{s}");
    let invocations =
        s["invocations_written"].as_u64().unwrap() + s["invocations_open"].as_u64().unwrap();
    assert!(
        invocations as usize >= reports,
        "{invocations} invocations for {reports} REPORT lines: {s}"
    );
    let structured = query(
        &lake,
        "SELECT count(*) AS n FROM lambda_logs WHERE structured AND level IS NOT NULL",
    );
    assert!(structured[0]["n"].as_u64().unwrap() >= 20, "{structured:?}");
}

//! `ingest lambda-logs cwl://…` against the emulator's CloudWatch Logs: groups and streams
//! created, events put in both Lambda log formats, read back through FilterLogEvents, and
//! every field compared; cursors (reruns add nothing, later windows add only what is new),
//! `--since/--until`, group discovery, a missing group, and throttling.

use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::*;

const A: &str = "a2222222-2222-3333-4444-555555555555";
const B: &str = "b2222222-2222-3333-4444-555555555555";
const C: &str = "c2222222-2222-3333-4444-555555555555";
const TEXT_STREAM: &str = "2026/11/29/[$LATEST]0123456789abcdef";
const JSON_STREAM: &str = "2026/11/29/[$LATEST]fedcba9876543210";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `2026-11-29T10:00:00.123Z` of milliseconds since the epoch (what the query prints for
/// timestamps is compared against it).
fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

async fn create_group(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, streams: &[&str]) {
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {group}: {e:?}"));
    for s in streams {
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(*s)
            .send()
            .await
            .unwrap();
    }
}

fn ingest_cwl(args: &[&str], lake: &str, endpoint: Option<&str>) -> (Output, Value) {
    let mut cmd = bin();
    cmd.args(["ingest", "lambda-logs"])
        .args(args)
        .args(["--lake", lake, "--json"]);
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", e);
    }
    let out = run(&mut cmd);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, summary)
}

fn ingest_ok(args: &[&str], lake: &str) -> Value {
    let (out, s) = ingest_cwl(args, lake, None);
    assert!(
        out.status.success(),
        "ingest {args:?} failed: {}\nstdout: {}",
        text(&out.stderr),
        text(&out.stdout)
    );
    s
}

fn n(lake: &str, sql: &str) -> u64 {
    query(lake, sql)[0]["n"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_logs_both_formats_every_field_and_cursor() {
    let logs = logs().await;
    let function = unique_name("orders");
    let group = format!("/aws/lambda/{function}");
    create_group(&logs, &group, &[TEXT_STREAM, JSON_STREAM]).await;
    let t0 = now_ms() - 10 * 60 * 1000;
    let text_lines = [
        (t0, "INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc\n".to_string()),
        (t0 + 1, format!("START RequestId: {A} Version: $LATEST\n")),
        (t0 + 2, format!("[INFO]\t{}\t{A}\tprocessing order 7\n", iso(t0 + 2))),
        (t0 + 3, "a line no parser knows \u{1F600}\n".to_string()),
        (t0 + 4, format!("END RequestId: {A}\n")),
        (t0 + 5, format!("REPORT RequestId: {A}\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 51 MB\tInit Duration: 250.50 ms\t\nXRAY TraceId: 1-6751a2b3-0123456789abcdef01234567\tSegmentId: 0123456789abcdef\tSampled: true\n")),
        (t0 + 10, format!("START RequestId: {B} Version: 7\n")),
        (t0 + 3010, format!("{} {B} Task timed out after 3.00 seconds\n", iso(t0 + 3010))),
        (t0 + 3011, format!("END RequestId: {B}\n")),
        (t0 + 3012, format!("REPORT RequestId: {B}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\n")),
    ];
    let json_lines = [
        (t0 + 20, json!({"time": iso(t0 + 20), "type": "platform.start", "record": {"requestId": C, "version": "$LATEST"}}).to_string()),
        (t0 + 21, json!({"timestamp": iso(t0 + 21), "level": "ERROR", "message": "payment declined", "requestId": C, "cold_start": false}).to_string()),
    ];
    put_events(&logs, &group, TEXT_STREAM, &text_lines).await;
    put_events(&logs, &group, JSON_STREAM, &json_lines).await;

    let lake_dir = tempdir();
    let lake = lake_of(&lake_dir);
    let src = format!("cwl://{group}");
    let s = ingest_ok(&[&src], &lake);
    assert_eq!(s["log_groups_read"], 1, "{s}");
    assert_eq!(s["log_events"], 12, "{s}");
    assert_eq!(s["invocations_written"], 2, "{s}");
    assert_eq!(s["invocations_open"], 1, "C has not ended yet: {s}");

    // A rerun reads nothing again.
    let s = ingest_ok(&[&src], &lake);
    assert_eq!(s["log_events"], 0, "{s}");
    assert_eq!(s["invocations_written"], 0, "{s}");
    assert_eq!(s["invocations_open"], 1, "{s}");

    // The rest of C arrives: the next run reads only it and finishes C as one row.
    let t1 = now_ms();
    let rest = [
        (t1, json!({"time": iso(t1), "type": "platform.runtimeDone", "record": {"requestId": C, "status": "failure", "errorType": "PaymentError"}}).to_string()),
        (t1 + 1, json!({"time": iso(t1 + 1), "type": "platform.report", "record": {"requestId": C, "status": "error", "errorType": "PaymentError", "metrics": {"durationMs": 11.25, "billedDurationMs": 12, "memorySizeMB": 256, "maxMemoryUsedMB": 70}}}).to_string()),
    ];
    put_events(&logs, &group, JSON_STREAM, &rest).await;
    let s = ingest_ok(&[&src], &lake);
    assert_eq!(s["log_events"], 2, "{s}");
    assert_eq!(s["invocations_written"], 1, "{s}");
    assert_eq!(s["invocations_open"], 0, "{s}");

    let rows = query(
        &lake,
        "SELECT function_name, log_group, log_stream, request_id,
                CAST(start_time AS VARCHAR) AS start_time, CAST(end_time AS VARCHAR) AS end_time,
                duration_ms, billed_duration_ms, memory_size_mb, max_memory_used_mb,
                init_duration_ms, restore_duration_ms, cold_start, status, error_type,
                xray_trace_id, version, source_uri, account_id, region, dt
         FROM lambda_invocations ORDER BY request_id",
    );
    assert_eq!(rows.len(), 3, "one row per request id: {rows:?}");
    let ts = iso;
    let day = &iso(t0)[..10];
    let common = json!({
        "function_name": function, "log_group": group, "source_uri": src,
        "account_id": "123456789012", "region": "us-east-1",
    });
    let expect = [
        json!({"log_stream": TEXT_STREAM, "request_id": A, "start_time": ts(t0 + 1),
               "end_time": ts(t0 + 5), "duration_ms": 2.5, "billed_duration_ms": 3.0,
               "memory_size_mb": 128, "max_memory_used_mb": 51, "init_duration_ms": 250.5,
               "cold_start": true, "status": "success",
               "xray_trace_id": "1-6751a2b3-0123456789abcdef01234567", "version": "$LATEST",
               "dt": day}),
        json!({"log_stream": TEXT_STREAM, "request_id": B, "start_time": ts(t0 + 10),
               "end_time": ts(t0 + 3012), "duration_ms": 3000.0, "billed_duration_ms": 3000.0,
               "memory_size_mb": 128, "max_memory_used_mb": 60, "cold_start": false,
               "status": "timeout", "version": "7", "dt": day}),
        json!({"log_stream": JSON_STREAM, "request_id": C, "start_time": ts(t0 + 20),
               "end_time": ts(t1 + 1), "duration_ms": 11.25, "billed_duration_ms": 12.0,
               "memory_size_mb": 256, "max_memory_used_mb": 70, "cold_start": false,
               "status": "error", "error_type": "PaymentError", "version": "$LATEST",
               "dt": day}),
    ];
    for (row, want) in rows.iter().zip(&expect) {
        let mut want = want.clone();
        want.as_object_mut()
            .unwrap()
            .extend(common.as_object().unwrap().clone());
        for (k, v) in row.as_object().unwrap() {
            let w = want.get(k).unwrap_or(&Value::Null);
            let same = match (v.as_f64(), w.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => v == w,
            };
            // Timestamps print with as many fraction digits as they need.
            let same = same
                || (k.ends_with("_time")
                    && v.as_str().zip(w.as_str()).is_some_and(|(a, b)| {
                        let short = |t: &str| {
                            let t = t.trim_end_matches('Z').trim_end_matches('0');
                            t.trim_end_matches('.').to_string()
                        };
                        short(a) == short(b)
                    }));
            assert!(same, "{} {k}: got {v}, want {w}", row["request_id"]);
        }
    }

    let lines = query(
        &lake,
        "SELECT CAST(time AS VARCHAR) AS time, function_name, log_group, log_stream, request_id,
                level, message, raw, kind, structured, event_id, source_uri
         FROM lambda_logs ORDER BY time",
    );
    let kinds: Vec<&str> = lines.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["platform.initStart", "app", "app", "app", "timeout"],
        "{lines:?}"
    );
    for l in &lines {
        assert_eq!(l["function_name"], function.as_str());
        assert_eq!(l["log_group"], group.as_str());
        assert_eq!(l["source_uri"], src.as_str());
        assert!(
            l["event_id"].as_str().is_some_and(|id| !id.is_empty()),
            "CloudWatch's event id is kept: {l}"
        );
    }
    assert_eq!(lines[1]["message"], "processing order 7");
    assert_eq!(lines[1]["level"], "INFO");
    assert_eq!(lines[1]["request_id"], A);
    assert_eq!(lines[1]["log_stream"], TEXT_STREAM);
    assert_eq!(lines[2]["message"], "a line no parser knows \u{1F600}");
    assert_eq!(lines[2]["structured"], false);
    assert_eq!(lines[3]["message"], "payment declined");
    assert_eq!(lines[3]["level"], "ERROR");
    assert_eq!(lines[3]["request_id"], C);
    assert_eq!(lines[3]["structured"], true);
    assert_eq!(lines[3]["raw"], json_lines[1].1.as_str());
    assert_eq!(lines[3]["log_stream"], JSON_STREAM);
    assert_eq!(lines[4]["request_id"], B);
    assert_eq!(lines[4]["level"], "ERROR");
    let ids: std::collections::HashSet<&str> = lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), lines.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn since_until_windows_are_read_once() {
    let logs = logs().await;
    let group = format!("/aws/lambda/{}", unique_name("windows"));
    create_group(&logs, &group, &["s"]).await;
    let t0 = now_ms() - 60 * 60 * 1000;
    let minute = 60_000;
    let events: Vec<(i64, String)> = (0..10)
        .map(|i| (t0 + i * minute, format!("tick {i}\n")))
        .collect();
    put_events(&logs, &group, "s", &events).await;
    let dir = tempdir();
    let lake = lake_of(&dir);
    let src = format!("cwl://{group}");
    let (since, until) = (iso(t0), iso(t0 + 4 * minute + 30_000));

    let s = ingest_ok(&[&src, "--since", &since, "--until", &until], &lake);
    assert_eq!(s["log_events"], 5, "ticks 0..=4: {s}");
    let s = ingest_ok(&[&src, "--since", &since, "--until", &until], &lake);
    assert_eq!(s["log_events"], 0, "the same window again: {s}");
    assert_eq!(s["api_pages"], 0, "not even asked again: {s}");

    // From the same start to now: only ticks 5..=9 are new; the read starts inside the
    // overlap before the covered range's end and skips what it ingested.
    let s = ingest_ok(&[&src, "--since", &since], &lake);
    assert_eq!(s["log_events"], 5, "{s}");
    assert_eq!(s["log_events_already_ingested"], 5, "{s}");
    assert_eq!(n(&lake, "SELECT count(*) AS n FROM lambda_logs"), 10);
    assert_eq!(
        n(
            &lake,
            "SELECT count(DISTINCT message) AS n FROM lambda_logs"
        ),
        10
    );

    // An age works too, and a window already read adds nothing.
    let s = ingest_ok(&[&src, "--since", "2h"], &lake);
    assert_eq!(s["log_events"], 0, "{s}");
    assert_eq!(n(&lake, "SELECT count(*) AS n FROM lambda_logs"), 10);

    // Bad times are usage errors that name the flag.
    let (out, _) = ingest_cwl(&[&src, "--since", "yesterday"], &lake, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--since"),
        "{}",
        text(&out.stderr)
    );
    let (out, _) = ingest_cwl(
        &[dir.path().to_str().unwrap(), "--since", "1d"],
        &lake,
        None,
    );
    assert_eq!(out.status.code(), Some(2), "files are read whole");
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_by_prefix_and_a_missing_group() {
    let logs = logs().await;
    let prefix = format!("/aws/lambda/{}-", unique_name("pfx"));
    let t = now_ms() - 60_000;
    for name in ["alpha", "beta"] {
        let group = format!("{prefix}{name}");
        create_group(&logs, &group, &["s"]).await;
        put_events(&logs, &group, "s", &[(t, format!("hello from {name}\n"))]).await;
    }
    let other = format!("/aws/other/{}", unique_name("x"));
    create_group(&logs, &other, &["s"]).await;
    put_events(&logs, &other, "s", &[(t, "not lambda\n".to_string())]).await;

    let dir = tempdir();
    let lake = lake_of(&dir);
    let s = ingest_ok(&["cwl://", "--log-group-prefix", &prefix], &lake);
    assert_eq!(s["log_groups_read"], 2, "{s}");
    let rows = query(
        &lake,
        "SELECT function_name, message FROM lambda_logs ORDER BY function_name",
    );
    let alpha = prefix.trim_start_matches("/aws/lambda/").to_string() + "alpha";
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["function_name"], alpha.as_str());
    assert_eq!(rows[0]["message"], "hello from alpha");

    // A group that does not exist fails the run (exit 1) with its name; the others are read.
    let missing = format!("/aws/lambda/{}", unique_name("missing"));
    let (out, s) = ingest_cwl(
        &[&format!("cwl://{missing}"), &format!("cwl://{other}")],
        &lake,
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&missing),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s["log_groups_failed"], 1, "{s}");
    assert_eq!(s["log_groups_read"], 1, "{s}");
    assert_eq!(s["log_events"], 1, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_run_finishes() {
    let logs = logs().await;
    let group = format!("/aws/lambda/{}", unique_name("throttled"));
    create_group(&logs, &group, &["s"]).await;
    let t = now_ms() - 60_000;
    let events: Vec<(i64, String)> = (0..3).map(|i| (t + i, format!("line {i}\n"))).collect();
    put_events(&logs, &group, "s", &events).await;
    // The first three FilterLogEvents calls are throttled.
    let proxy = throttling_proxy("FilterLogEvents", 0, 3);
    let dir = tempdir();
    let lake = lake_of(&dir);
    let (out, s) = ingest_cwl(&[&format!("cwl://{group}")], &lake, Some(&proxy.endpoint));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(proxy.throttled.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(proxy.passed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(s["log_events"], 3, "{s}");
    assert_eq!(n(&lake, "SELECT count(*) AS n FROM lambda_logs"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_beyond_retries_mid_read_loses_nothing() {
    let logs = logs().await;
    let group = format!("/aws/lambda/{}", unique_name("cut"));
    create_group(&logs, &group, &["s"]).await;
    // More than one page (the emulator returns 10,000 events a page), 100 ms apart.
    let total = 10_001i64;
    let t = now_ms() - total * 100 - 60_000;
    let events: Vec<(i64, String)> = (0..total)
        .map(|i| (t + i * 100, format!("event {i}\n")))
        .collect();
    put_events(&logs, &group, "s", &events).await;
    let src = format!("cwl://{group}");
    let dir = tempdir();
    let lake = lake_of(&dir);

    // The first page passes; every later call is throttled, and only two attempts are made.
    let proxy = throttling_proxy("FilterLogEvents", 1, u32::MAX);
    let mut cmd = bin();
    cmd.args(["ingest", "lambda-logs", &src, "--lake", &lake, "--json"])
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_MAX_ATTEMPTS", "2");
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Throttling"),
        "the error says why: {}",
        text(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["log_groups_failed"], 1, "{s}");
    let first = s["log_events"].as_u64().unwrap();
    assert_eq!(first, 10_000, "the first page is kept: {s}");

    // The next run continues: every event exactly once.
    let s = ingest_ok(&[&src], &lake);
    assert_eq!(
        s["log_events"].as_u64().unwrap() + first,
        total as u64,
        "{s}"
    );
    assert_eq!(
        n(&lake, "SELECT count(*) AS n FROM lambda_logs"),
        total as u64
    );
    assert_eq!(
        n(
            &lake,
            "SELECT count(DISTINCT event_id) AS n FROM lambda_logs"
        ),
        total as u64
    );
}

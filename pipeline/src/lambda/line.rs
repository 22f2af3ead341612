//! One Lambda log line, recognised: the platform lines of both log formats (text `START`,
//! `END`, `REPORT`, `INIT_START`, `Task timed out`, runtime crashes; JSON `platform.*`), and
//! application lines (the runtimes' text formats and structured JSON logs such as Powertools').
//!
//! A line is never rejected here: what is not recognised is an application line whose message
//! is the whole text, so nothing is dropped.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::time::parse_timestamp_micros;

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Error,
    Timeout,
    Crash,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::Crash => "crash",
        }
    }

    /// The status words of `REPORT … Status:` and `platform.runtimeDone`/`platform.report`.
    fn from_word(word: &str) -> Option<Status> {
        match word.trim().to_ascii_lowercase().as_str() {
            "success" => Some(Status::Success),
            "error" | "failure" => Some(Status::Error),
            "timeout" => Some(Status::Timeout),
            "crash" | "fault" => Some(Status::Crash),
            _ => None,
        }
    }
}

/// The figures of a `REPORT` line or a `platform.report` event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: Option<f64>,
    pub billed_duration_ms: Option<f64>,
    pub memory_size_mb: Option<i64>,
    pub max_memory_used_mb: Option<i64>,
    /// Present only on a cold start.
    pub init_duration_ms: Option<f64>,
    /// SnapStart restores.
    pub restore_duration_ms: Option<f64>,
    pub status: Option<Status>,
    pub error_type: Option<String>,
    pub xray_trace_id: Option<String>,
}

/// An application log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppLine {
    pub time_micros: Option<i64>,
    pub level: Option<String>,
    pub request_id: Option<String>,
    pub message: String,
    /// Whether the line came as structured JSON (the message is then the JSON's `message`).
    pub structured: bool,
    pub cold_start: Option<bool>,
    pub xray_trace_id: Option<String>,
}

/// What a line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    InitStart {
        runtime_version: Option<String>,
    },
    Start {
        request_id: String,
        version: Option<String>,
    },
    End {
        request_id: String,
    },
    Report(Report),
    /// `Task timed out after N seconds`.
    Timeout {
        request_id: Option<String>,
        after_seconds: Option<f64>,
    },
    /// `platform.runtimeDone`: how the runtime says the invocation ended.
    RuntimeDone {
        request_id: String,
        status: Option<Status>,
        error_type: Option<String>,
    },
    /// The runtime process died (`Runtime exited with error`, `Process exited before completing
    /// request`, `platform.fault`).
    Crash {
        request_id: Option<String>,
        reason: String,
    },
    /// `XRAY TraceId: … SegmentId: …`.
    XRay {
        trace_id: String,
    },
    /// A platform line of no use to the invocation table (`platform.initReport`, extension
    /// and telemetry notices, …); kept as a log line with its type as the level.
    Platform {
        kind: String,
    },
    App(AppLine),
}

/// Recognise one log line (a CloudWatch Logs event's `message`, trailing newline allowed).
pub fn parse_line(message: &str) -> Line {
    let text = message.trim_end_matches(['\n', '\r']);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Some(line) = parse_json(trimmed)
    {
        return line;
    }
    parse_text(text).unwrap_or_else(|| Line::App(app_text(text)))
}

fn parse_text(text: &str) -> Option<Line> {
    if let Some(rest) = text.strip_prefix("START RequestId: ") {
        let (id, rest) = split_word(rest);
        let version = rest
            .trim()
            .strip_prefix("Version:")
            .map(|v| v.trim().to_string());
        return Some(Line::Start {
            request_id: id.to_string(),
            version,
        });
    }
    if let Some(rest) = text.strip_prefix("END RequestId: ") {
        return Some(Line::End {
            request_id: split_word(rest).0.to_string(),
        });
    }
    if let Some(rest) = text.strip_prefix("REPORT RequestId: ") {
        return Some(Line::Report(report_text(rest)));
    }
    if let Some(rest) = text.strip_prefix("INIT_START") {
        let version = field(rest, "Runtime Version:").map(|(v, _)| v.to_string());
        return Some(Line::InitStart {
            runtime_version: version,
        });
    }
    if let Some(rest) = text.strip_prefix("XRAY TraceId: ") {
        return Some(Line::XRay {
            trace_id: split_word(rest).0.to_string(),
        });
    }
    if let Some(at) = text.find("Task timed out after ") {
        let request_id = text[..at]
            .split_whitespace()
            .find(|w| is_request_id(w))
            .map(str::to_string);
        let after = &text[at + "Task timed out after ".len()..];
        let after_seconds = split_word(after).0.parse().ok();
        return Some(Line::Timeout {
            request_id,
            after_seconds,
        });
    }
    for marker in [
        "Runtime exited with error",
        "Process exited before completing request",
        "Runtime.ExitError",
    ] {
        if let Some(at) = text.find(marker) {
            let request_id = text[..at]
                .split_whitespace()
                .find(|w| is_request_id(w))
                .map(str::to_string);
            return Some(Line::Crash {
                request_id,
                reason: text.trim().to_string(),
            });
        }
    }
    None
}

/// The first whitespace-separated word and the rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// The value after `label` up to the next tab (or two spaces), and its unit word if any:
/// `Duration: 12.34 ms` gives ("12.34", "ms"). A match right after one of the words in `not_after`
/// belongs to a longer label (`Billed Duration:` is not `Duration:`) and is passed over.
fn field_after<'s>(text: &'s str, label: &str, not_after: &[&str]) -> Option<(&'s str, &'s str)> {
    let at = text.match_indices(label).map(|(at, _)| at).find(|&at| {
        let before = text[..at].trim_end();
        let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
        !not_after.contains(&word)
    })?;
    let rest = text[at + label.len()..].trim_start();
    let end = rest
        .find('\t')
        .or_else(|| rest.find("  "))
        .unwrap_or(rest.len());
    let value = rest[..end].trim();
    Some(match value.split_once(' ') {
        Some((number, unit)) => (number, unit),
        None => (value, ""),
    })
}

fn field<'s>(text: &'s str, label: &str) -> Option<(&'s str, &'s str)> {
    field_after(text, label, &[])
}

fn report_text(rest: &str) -> Report {
    let (id, rest) = split_word(rest);
    let number = |label: &str, not_after: &[&str]| {
        field_after(rest, label, not_after).and_then(|(v, _)| v.parse::<f64>().ok())
    };
    let int = |label: &str| number(label, &[]).map(|v| v as i64);
    Report {
        request_id: id.to_string(),
        duration_ms: number("Duration:", &["Billed", "Init", "Restore"]),
        billed_duration_ms: number("Billed Duration:", &[]),
        memory_size_mb: int("Memory Size:"),
        max_memory_used_mb: int("Max Memory Used:"),
        init_duration_ms: number("Init Duration:", &[]),
        restore_duration_ms: number("Restore Duration:", &["Billed"]),
        status: field(rest, "Status:").and_then(|(v, _)| Status::from_word(v)),
        error_type: field(rest, "Error Type:").map(|(v, u)| {
            if u.is_empty() {
                v.to_string()
            } else {
                format!("{v} {u}")
            }
        }),
        xray_trace_id: None,
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (letters allowed: the documentation's examples are
/// masked with `xmpl`).
pub fn is_request_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_alphanumeric(),
        })
}

/// The runtimes' text formats: `<time>\t<request id>\t<LEVEL>\t<message>` (Node.js, Java…),
/// `[LEVEL]\t<time>\t<request id>\t<message>` (Python), or any text.
fn app_text(text: &str) -> AppLine {
    let mut line = AppLine {
        message: text.to_string(),
        ..AppLine::default()
    };
    let mut rest = text;
    let take = |rest: &mut &str| -> Option<String> {
        let (word, after) = split_word(rest);
        if word.is_empty() {
            return None;
        }
        *rest = after;
        Some(word.to_string())
    };
    let mut probe = rest;
    if let Some(word) = take(&mut probe)
        && let Some(level) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']'))
        && is_level(level)
    {
        line.level = Some(level.to_ascii_uppercase());
        rest = probe;
    }
    let mut probe = rest;
    if let Some(word) = take(&mut probe)
        && let Some(t) = parse_timestamp_micros(&word)
    {
        line.time_micros = Some(t);
        rest = probe;
    }
    let mut probe = rest;
    if let Some(word) = take(&mut probe)
        && is_request_id(&word)
    {
        line.request_id = Some(word);
        rest = probe;
    }
    if line.level.is_none() {
        let mut probe = rest;
        if let Some(word) = take(&mut probe)
            && is_level(&word)
        {
            line.level = Some(word.to_ascii_uppercase());
            rest = probe;
        }
    }
    if line.time_micros.is_some() || line.request_id.is_some() || line.level.is_some() {
        line.message = rest.trim_start_matches([' ', '\t']).to_string();
    }
    line
}

fn is_level(word: &str) -> bool {
    matches!(
        word.to_ascii_uppercase().as_str(),
        "TRACE" | "DEBUG" | "INFO" | "WARN" | "WARNING" | "ERROR" | "FATAL" | "CRITICAL"
    )
}

#[derive(Deserialize)]
struct Platform<'a> {
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    record: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PlatformRecord<'a> {
    #[serde(rename = "requestId", borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "errorType", borrow)]
    error_type: Option<Cow<'a, str>>,
    #[serde(rename = "runtimeVersion", borrow)]
    runtime_version: Option<Cow<'a, str>>,
    metrics: Option<Metrics>,
    #[serde(borrow)]
    tracing: Option<Tracing<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metrics {
    #[serde(rename = "durationMs")]
    duration_ms: Option<f64>,
    #[serde(rename = "billedDurationMs")]
    billed_duration_ms: Option<f64>,
    #[serde(rename = "memorySizeMB")]
    memory_size_mb: Option<f64>,
    #[serde(rename = "maxMemoryUsedMB")]
    max_memory_used_mb: Option<f64>,
    #[serde(rename = "initDurationMs")]
    init_duration_ms: Option<f64>,
    #[serde(rename = "restoreDurationMs")]
    restore_duration_ms: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tracing<'a> {
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

/// A structured application log: Lambda's JSON format and the common library formats.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AppJson<'a> {
    #[serde(alias = "time", borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(alias = "levelname", alias = "severity", borrow)]
    level: Option<Cow<'a, str>>,
    #[serde(alias = "msg", borrow)]
    message: Option<&'a RawValue>,
    #[serde(
        rename = "requestId",
        alias = "function_request_id",
        alias = "request_id",
        alias = "AWSRequestId",
        alias = "awsRequestId",
        borrow
    )]
    request_id: Option<Cow<'a, str>>,
    cold_start: Option<bool>,
    #[serde(alias = "xray_trace_id", borrow)]
    xray: Option<Cow<'a, str>>,
}

fn parse_json(text: &str) -> Option<Line> {
    if let Ok(p) = serde_json::from_str::<Platform>(text)
        && p.kind.starts_with("platform.")
    {
        return Some(platform(&p));
    }
    let app: AppJson = serde_json::from_str(text).ok()?;
    let message = match app.message {
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(s) => s,
            Err(_) => raw.get().to_string(),
        },
        None => text.to_string(),
    };
    let time_micros = app.timestamp.and_then(|raw| {
        if let Ok(s) = serde_json::from_str::<Cow<str>>(raw.get()) {
            parse_timestamp_micros(&s)
        } else {
            // Epoch milliseconds.
            raw.get().parse::<f64>().ok().map(|ms| (ms * 1000.0) as i64)
        }
    });
    Some(Line::App(AppLine {
        time_micros,
        level: app.level.map(|l| l.to_ascii_uppercase()),
        request_id: app.request_id.map(Cow::into_owned),
        message,
        structured: true,
        cold_start: app.cold_start,
        xray_trace_id: app.xray.map(Cow::into_owned),
    }))
}

fn platform(p: &Platform<'_>) -> Line {
    let record: PlatformRecord = p
        .record
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default();
    let request_id = record.request_id.as_deref().map(str::to_string);
    let _ = &p.time;
    match p.kind.as_ref() {
        "platform.initStart" => Line::InitStart {
            runtime_version: record.runtime_version.map(Cow::into_owned),
        },
        "platform.start" => match request_id {
            Some(request_id) => Line::Start {
                request_id,
                version: record.version.map(Cow::into_owned),
            },
            None => Line::Platform {
                kind: p.kind.to_string(),
            },
        },
        "platform.runtimeDone" => match request_id {
            Some(request_id) => Line::RuntimeDone {
                request_id,
                status: record.status.as_deref().and_then(Status::from_word),
                error_type: record.error_type.map(Cow::into_owned),
            },
            None => Line::Platform {
                kind: p.kind.to_string(),
            },
        },
        "platform.report" => match request_id {
            Some(request_id) => {
                let m = record.metrics.unwrap_or_default();
                Line::Report(Report {
                    request_id,
                    duration_ms: m.duration_ms,
                    billed_duration_ms: m.billed_duration_ms,
                    memory_size_mb: m.memory_size_mb.map(|v| v as i64),
                    max_memory_used_mb: m.max_memory_used_mb.map(|v| v as i64),
                    init_duration_ms: m.init_duration_ms,
                    restore_duration_ms: m.restore_duration_ms,
                    status: record.status.as_deref().and_then(Status::from_word),
                    error_type: record.error_type.map(Cow::into_owned),
                    xray_trace_id: record
                        .tracing
                        .and_then(|t| t.value)
                        .and_then(|v| trace_root(&v)),
                })
            }
            None => Line::Platform {
                kind: p.kind.to_string(),
            },
        },
        "platform.fault" => {
            let reason = p
                .record
                .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
                .unwrap_or_else(|| p.record.map(|r| r.get().to_string()).unwrap_or_default());
            let request_id = request_id.or_else(|| {
                reason
                    .split_whitespace()
                    .find(|w| is_request_id(w))
                    .map(str::to_string)
            });
            Line::Crash { request_id, reason }
        }
        other => Line::Platform {
            kind: other.to_string(),
        },
    }
}

/// `Root=1-…;Parent=…;Sampled=1` gives `1-…`.
fn trace_root(header: &str) -> Option<String> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_platform_lines() {
        let start =
            parse_line("START RequestId: 6f7f0961-f834-4211-8a7a-f6fe80b88d56 Version: $LATEST\n");
        assert_eq!(
            start,
            Line::Start {
                request_id: "6f7f0961-f834-4211-8a7a-f6fe80b88d56".into(),
                version: Some("$LATEST".into())
            }
        );
        let Line::Report(r) = parse_line(
            "REPORT RequestId: d1cf0ccb-xmpl-46e6-950d-04c96c9b1c5d\tDuration: 4157.16 ms\tBilled Duration: 4200 ms\tMemory Size: 256 MB\tMax Memory Used: 99 MB\tInit Duration: 841.60 ms\t",
        ) else {
            panic!("not a report")
        };
        assert_eq!(r.request_id, "d1cf0ccb-xmpl-46e6-950d-04c96c9b1c5d");
        assert_eq!(r.duration_ms, Some(4157.16));
        assert_eq!(r.billed_duration_ms, Some(4200.0));
        assert_eq!(r.memory_size_mb, Some(256));
        assert_eq!(r.max_memory_used_mb, Some(99));
        assert_eq!(r.init_duration_ms, Some(841.6));
        assert_eq!(r.status, None);
        // Spaces instead of tabs, as some documentation shows it.
        let Line::Report(r) = parse_line(
            "REPORT RequestId: 57f231fb-1730-4395-85cb-4f71bd2b87b8  Duration: 79.67 ms      Billed Duration: 80 ms         Memory Size: 128 MB     Max Memory Used: 73 MB",
        ) else {
            panic!("not a report")
        };
        assert_eq!(
            (
                r.duration_ms,
                r.billed_duration_ms,
                r.memory_size_mb,
                r.max_memory_used_mb
            ),
            (Some(79.67), Some(80.0), Some(128), Some(73))
        );
        assert_eq!(r.init_duration_ms, None);
        // The newer REPORT with a status.
        let Line::Report(r) = parse_line(
            "REPORT RequestId: 11111111-2222-3333-4444-555555555555\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout",
        ) else {
            panic!("not a report")
        };
        assert_eq!(r.status, Some(Status::Timeout));
        assert_eq!(
            parse_line(
                "2024-01-01T00:00:03.000Z 11111111-2222-3333-4444-555555555555 Task timed out after 3.00 seconds"
            ),
            Line::Timeout {
                request_id: Some("11111111-2222-3333-4444-555555555555".into()),
                after_seconds: Some(3.0)
            }
        );
        assert!(matches!(
            parse_line("RequestId: 11111111-2222-3333-4444-555555555555 Error: Runtime exited with error: signal: killed"),
            Line::Crash { request_id: Some(id), .. } if id.starts_with("1111")
        ));
        assert_eq!(
            parse_line(
                "INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc"
            ),
            Line::InitStart {
                runtime_version: Some("python:3.12.v18".into())
            }
        );
    }

    #[test]
    fn text_application_lines() {
        let Line::App(a) = parse_line(
            "2019-06-07T19:11:20.562Z\tc793869b-ee49-115b-a5b6-4fd21e8dedac\tINFO\tENVIRONMENT VARIABLES",
        ) else {
            panic!()
        };
        assert_eq!(a.level.as_deref(), Some("INFO"));
        assert_eq!(
            a.request_id.as_deref(),
            Some("c793869b-ee49-115b-a5b6-4fd21e8dedac")
        );
        assert_eq!(a.message, "ENVIRONMENT VARIABLES");
        assert!(a.time_micros.is_some());
        let Line::App(a) = parse_line(
            "[ERROR]  2020-01-31T22:12:58.534Z    1c8df7d3-xmpl-46da-9778-518e6eca8125    boom",
        ) else {
            panic!()
        };
        assert_eq!(
            (a.level.as_deref(), a.message.as_str()),
            (Some("ERROR"), "boom")
        );
        let Line::App(a) = parse_line("just some text") else {
            panic!()
        };
        assert_eq!(a.message, "just some text");
        assert_eq!(a.level, None);
    }

    #[test]
    fn json_lines() {
        let Line::Report(r) = parse_line(
            r#"{"time":"2020-08-20T12:31:32.123Z","type":"platform.report","record":{"requestId":"6f7f0961f83442118a7af6fe80b88d56","status":"error","errorType":"Runtime.Unknown","metrics":{"durationMs":101.51,"billedDurationMs":300,"memorySizeMB":512,"maxMemoryUsedMB":33,"initDurationMs":116.67}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(r.duration_ms, Some(101.51));
        assert_eq!(r.memory_size_mb, Some(512));
        assert_eq!(r.status, Some(Status::Error));
        assert_eq!(r.error_type.as_deref(), Some("Runtime.Unknown"));
        assert_eq!(
            parse_line(
                r#"{"time":"2021-02-04T20:00:05.123Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"failure","errorType":"Handled"}}"#
            ),
            Line::RuntimeDone {
                request_id: "r1".into(),
                status: Some(Status::Error),
                error_type: Some("Handled".into())
            }
        );
        let Line::App(a) = parse_line(
            r#"{"level":"INFO","location":"handler:8","message":{"order":1},"timestamp":"2021-05-03 11:47:12,494+0000","service":"payment","cold_start":true,"function_request_id":"899856cb-83d1-40d7-8611-9e78f15f32f4","xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793"}"#,
        ) else {
            panic!()
        };
        assert_eq!(a.level.as_deref(), Some("INFO"));
        assert_eq!(a.message, r#"{"order":1}"#);
        assert_eq!(a.cold_start, Some(true));
        assert_eq!(
            a.request_id.as_deref(),
            Some("899856cb-83d1-40d7-8611-9e78f15f32f4")
        );
        assert!(a.structured);
    }

    /// Every Lambda sample of the repository's `tests/data`: no line is lost or panics, and
    /// the known platform lines are recognised.
    #[test]
    fn samples() {
        let root = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"),
        )
        .join("../tests/data");
        let dir = root.join("awsdocs_lambda_log_examples");
        let text: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("cloudwatch_text_log_examples.json")).unwrap(),
        )
        .unwrap();
        let (mut reports, mut starts) = (0, 0);
        for block in text["blocks"].as_array().unwrap() {
            for line in block["text"].as_str().unwrap().lines() {
                match parse_line(line) {
                    Line::Report(r) => {
                        assert!(r.duration_ms.is_some(), "{line}");
                        assert!(!r.request_id.is_empty(), "{line}");
                        reports += 1;
                    }
                    Line::Start { .. } => starts += 1,
                    _ => {}
                }
            }
        }
        assert!(
            reports >= 5 && starts >= 5,
            "{reports} reports, {starts} starts"
        );
        let telemetry: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("telemetry_api_event_examples.json")).unwrap(),
        )
        .unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for e in telemetry["events"].as_array().unwrap() {
            let line = parse_line(&e["event"].to_string());
            kinds.insert(match line {
                Line::Report(_) => "report",
                Line::RuntimeDone { .. } => "runtimeDone",
                Line::Start { .. } => "start",
                Line::InitStart { .. } => "initStart",
                Line::Crash { .. } => "crash",
                Line::Platform { .. } => "platform",
                Line::App(_) => "app",
                _ => "other",
            });
        }
        for k in [
            "report",
            "runtimeDone",
            "initStart",
            "crash",
            "platform",
            "app",
        ] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
        let powertools = root.join("powertools_lambda_json_log_examples/logger_outputs");
        let mut structured = 0;
        for f in std::fs::read_dir(powertools).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for value in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>()
            {
                let Ok(value) = value else { break };
                let items = match value {
                    serde_json::Value::Array(items) => items,
                    other => vec![other],
                };
                for item in items {
                    if let Line::App(a) = parse_line(&item.to_string()) {
                        structured += usize::from(a.structured && a.level.is_some());
                    }
                }
            }
        }
        assert!(structured >= 20, "{structured} structured lines");
    }
}

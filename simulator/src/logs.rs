//! Lambda function log lines for one invocation, in the text or the JSON log format, as the
//! Lambda runtime and platform write them.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::account::{Function, Runtime};
use crate::events::iso_millis;
use crate::ids;

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Success,
    Error,
    Timeout,
}

/// One invocation to write.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub start_ms: i64,
    pub duration_ms: f64,
    pub max_memory_mb: u32,
    /// Init duration when the invocation was a cold start.
    pub init_ms: Option<f64>,
    pub end: End,
    /// Application lines (level, message), in order.
    pub app: Vec<(&'static str, String)>,
}

/// A log line: (milliseconds, text).
pub type LogLine = (i64, String);

/// The lines of `inv`, appended to `out`.
pub fn lines(f: &Function, inv: &Invocation, rng: &mut ChaCha8Rng, out: &mut Vec<LogLine>) {
    let id = &inv.request_id;
    let t0 = inv.start_ms;
    let done = t0 + inv.duration_ms.ceil() as i64;
    let billed = inv.duration_ms.ceil().max(1.0);
    let runtime_version = match f.runtime {
        Runtime::Python312 => "python:3.12.v38",
        Runtime::Nodejs20 => "nodejs:20.v42",
        Runtime::Java21 => "java:21.v27",
    };
    let runtime_arn = format!(
        "arn:aws:lambda:us-east-1::runtime:{}",
        "5f1c2e9a7b3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a"
    );
    if f.json_logs {
        if let Some(init) = inv.init_ms {
            out.push((
                t0 - init.ceil() as i64,
                json!({"time": iso_millis(t0 - init.ceil() as i64), "type": "platform.initStart",
                       "record": {"initializationType": "on-demand", "phase": "init",
                                  "runtimeVersion": runtime_version, "runtimeVersionArn": runtime_arn,
                                  "functionName": f.name, "functionVersion": "$LATEST"}})
                .to_string(),
            ));
        }
        out.push((
            t0,
            json!({"time": iso_millis(t0), "type": "platform.start",
                   "record": {"requestId": id, "version": "$LATEST"}})
            .to_string(),
        ));
        for (i, (level, message)) in inv.app.iter().enumerate() {
            let at = t0 + 1 + i as i64;
            out.push((
                at,
                json!({"timestamp": iso_millis(at), "level": level, "message": message,
                       "logger": "app", "requestId": id})
                .to_string(),
            ));
        }
        let (status, error_type) = match inv.end {
            End::Success => ("success", None),
            End::Error => ("failure", Some("Runtime.UnhandledError")),
            End::Timeout => ("timeout", None),
        };
        let mut done_record = json!({"requestId": id, "status": status,
            "metrics": {"durationMs": round2(inv.duration_ms), "producedBytes": rng.random_range(40..900)}});
        let mut metrics = json!({"durationMs": round2(inv.duration_ms), "billedDurationMs": billed as u64,
            "memorySizeMB": f.memory_mb, "maxMemoryUsedMB": inv.max_memory_mb});
        if let Some(init) = inv.init_ms {
            metrics["initDurationMs"] = json!(round2(init));
        }
        let mut report = json!({"requestId": id, "metrics": metrics, "status": status});
        if let Some(e) = error_type {
            done_record["errorType"] = json!(e);
            report["errorType"] = json!(e);
        }
        out.push((
            done,
            json!({"time": iso_millis(done), "type": "platform.runtimeDone", "record": done_record})
                .to_string(),
        ));
        out.push((
            done,
            json!({"time": iso_millis(done), "type": "platform.report", "record": report})
                .to_string(),
        ));
        return;
    }
    if let Some(init) = inv.init_ms {
        out.push((
            t0 - init.ceil() as i64,
            format!("INIT_START Runtime Version: {runtime_version}\tRuntime Version ARN: {runtime_arn}\n"),
        ));
    }
    out.push((t0, format!("START RequestId: {id} Version: $LATEST\n")));
    for (i, (level, message)) in inv.app.iter().enumerate() {
        let at = t0 + 1 + i as i64;
        let line = match f.runtime {
            Runtime::Python312 => format!("[{level}]\t{}\t{id}\t{message}\n", iso_millis(at)),
            Runtime::Nodejs20 => format!("{}\t{id}\t{level}\t{message}\n", iso_millis(at)),
            Runtime::Java21 => format!("{} {level} {message}\n", iso_millis(at)),
        };
        out.push((at, line));
    }
    if inv.end == End::Timeout {
        out.push((
            done,
            format!(
                "{} {id} Task timed out after {}.00 seconds\n",
                iso_millis(done),
                f.timeout_s
            ),
        ));
    }
    out.push((done, format!("END RequestId: {id}\n")));
    let init = inv
        .init_ms
        .map(|i| format!("Init Duration: {i:.2} ms\t"))
        .unwrap_or_default();
    let status = match inv.end {
        End::Success => String::new(),
        End::Error => "Status: error\tError Type: Runtime.UnhandledError\t".into(),
        End::Timeout => "Status: timeout\t".into(),
    };
    out.push((
        done,
        format!(
            "REPORT RequestId: {id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t{init}{status}\n",
            inv.duration_ms, billed as u64, f.memory_mb, inv.max_memory_mb
        ),
    ));
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The application lines of an invocation.
pub fn app_lines(f: &Function, end: End, rng: &mut ChaCha8Rng) -> Vec<(&'static str, String)> {
    let mut app = vec![(
        "INFO",
        format!("handling {} event {}", f.name, ids::hex(rng, 8)),
    )];
    if rng.random_bool(0.1) {
        app.push(("WARN", "slow downstream response, retrying".to_string()));
    }
    if end == End::Error {
        let e = match f.runtime {
            Runtime::Python312 => "ValueError: invalid literal for int() with base 10: 'n/a'",
            Runtime::Nodejs20 => "TypeError: Cannot read properties of undefined (reading 'id')",
            Runtime::Java21 => "java.lang.IllegalStateException: connection pool exhausted",
        };
        app.push(("ERROR", e.to_string()));
    }
    app
}

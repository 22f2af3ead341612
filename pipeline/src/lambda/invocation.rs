//! Merging the lines of one request id into one `lambda_invocations` row.
//!
//! An invocation's lines arrive in order within its log stream, but a read may cut it anywhere
//! and streams interleave. The [`Merger`] keeps each open invocation by (log group, request
//! id) until its `REPORT` (`platform.report`), the last line Lambda writes for it, and hands
//! back what is still open at the end so that the next read can finish it.

use std::collections::HashMap;

use super::line::{Line, Report, Status};

/// One invocation, merged from its lines. Serialisable, to be carried between reads.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Invocation {
    pub function_name: String,
    pub log_group: String,
    pub log_stream: String,
    pub request_id: String,
    /// Microseconds since the epoch (UTC) of the `START` line, else the first line seen.
    pub start_time: Option<i64>,
    /// Of the `REPORT` line, else the `END` line, else the last line seen.
    pub end_time: Option<i64>,
    pub duration_ms: Option<f64>,
    pub billed_duration_ms: Option<f64>,
    pub memory_size_mb: Option<i64>,
    pub max_memory_used_mb: Option<i64>,
    pub init_duration_ms: Option<f64>,
    pub restore_duration_ms: Option<f64>,
    pub cold_start: bool,
    pub version: Option<String>,
    pub error_type: Option<String>,
    pub xray_trace_id: Option<String>,
    /// Evidence of how it ended, strongest first when the status is decided.
    pub crashed: bool,
    pub timed_out: bool,
    pub reported_status: Option<Status>,
    pub runtime_status: Option<Status>,
    /// An application line at ERROR level (or worse) carried this request id.
    pub logged_error: bool,
    pub saw_start: bool,
    pub saw_end: bool,
    pub saw_report: bool,
    /// Where it was read: the account and region partitions, and the object of its last line.
    pub account: Option<String>,
    pub region: Option<String>,
    pub source_uri: String,
}

impl Invocation {
    /// `crash` when the runtime died, `timeout` when Lambda stopped it, else what the report
    /// or the runtime says, else `error` when the function logged an error, else `success`.
    pub fn status(&self) -> Status {
        if self.crashed {
            Status::Crash
        } else if self.timed_out {
            Status::Timeout
        } else if let Some(s) = self.reported_status.or(self.runtime_status) {
            s
        } else if self.logged_error {
            Status::Error
        } else {
            Status::Success
        }
    }

    fn touch(&mut self, at: Option<i64>) {
        if self.start_time.is_none() {
            self.start_time = at;
        }
        if at.is_some() && !self.saw_report {
            self.end_time = at.max(self.end_time);
        }
    }

    fn report(&mut self, r: &Report, at: Option<i64>) {
        self.saw_report = true;
        self.duration_ms = r.duration_ms.or(self.duration_ms);
        self.billed_duration_ms = r.billed_duration_ms.or(self.billed_duration_ms);
        self.memory_size_mb = r.memory_size_mb.or(self.memory_size_mb);
        self.max_memory_used_mb = r.max_memory_used_mb.or(self.max_memory_used_mb);
        self.init_duration_ms = r.init_duration_ms.or(self.init_duration_ms);
        self.restore_duration_ms = r.restore_duration_ms.or(self.restore_duration_ms);
        self.cold_start |= r.init_duration_ms.is_some() || r.restore_duration_ms.is_some();
        if r.status.is_some() {
            self.reported_status = r.status;
        }
        if r.error_type.is_some() {
            self.error_type = r.error_type.clone();
        }
        if r.xray_trace_id.is_some() {
            self.xray_trace_id = r.xray_trace_id.clone();
        }
        if at.is_some() {
            self.end_time = at;
        }
    }
}

/// The function name of a `/aws/lambda/<name>` log group (the group itself otherwise).
pub fn function_name(log_group: &str) -> &str {
    log_group.strip_prefix("/aws/lambda/").unwrap_or(log_group)
}

/// Merges lines into invocations.
#[derive(Debug, Default)]
pub struct Merger {
    open: HashMap<(String, String), Invocation>,
    /// Streams whose last platform line was `INIT_START`: their next invocation is cold.
    initialising: HashMap<(String, String), ()>,
    /// The request id a stream's latest `START` opened, for lines that carry none (`XRAY`).
    current: HashMap<(String, String), String>,
    /// Where the lines being fed come from (see [`Merger::origin`]).
    account: Option<String>,
    region: Option<String>,
    source_uri: String,
}

impl Merger {
    pub fn new() -> Self {
        Merger::default()
    }

    /// Invocations still open (no report yet).
    pub fn open_len(&self) -> usize {
        self.open.len()
    }

    /// Take back invocations left open by an earlier read, to be finished by this one.
    pub fn resume(&mut self, inv: Invocation) {
        self.open
            .insert((inv.log_group.clone(), inv.request_id.clone()), inv);
    }

    /// Set where the next lines come from: the account and region they belong to and their
    /// source object.
    pub fn origin(&mut self, account: Option<&str>, region: Option<&str>, source_uri: &str) {
        self.account = account.map(str::to_string);
        self.region = region.map(str::to_string);
        self.source_uri = source_uri.to_string();
    }

    fn entry(&mut self, group: &str, stream: &str, request_id: &str) -> &mut Invocation {
        let inv = self
            .open
            .entry((group.to_string(), request_id.to_string()))
            .or_insert_with(|| Invocation {
                function_name: function_name(group).to_string(),
                log_group: group.to_string(),
                log_stream: stream.to_string(),
                request_id: request_id.to_string(),
                ..Invocation::default()
            });
        if inv.account.is_none() {
            inv.account.clone_from(&self.account);
        }
        if inv.region.is_none() {
            inv.region.clone_from(&self.region);
        }
        inv.source_uri.clone_from(&self.source_uri);
        inv
    }

    /// Close every open invocation whose last line is more than `quiet_micros` older than
    /// `now`: Lambda stops an invocation after 15 minutes, so nothing more can come for it.
    pub fn close_stale(&mut self, now: i64, quiet_micros: i64) -> Vec<Invocation> {
        let stale: Vec<_> = self
            .open
            .iter()
            .filter(|(_, inv)| {
                inv.end_time
                    .or(inv.start_time)
                    .is_some_and(|t| now - t > quiet_micros)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Invocation> = stale.iter().filter_map(|k| self.open.remove(k)).collect();
        out.sort_by(|a, b| (a.start_time, &a.request_id).cmp(&(b.start_time, &b.request_id)));
        out
    }

    /// Feed one line of `group`/`stream` logged at `at` (µs). Returns the invocation this line
    /// completed, if any.
    pub fn line(
        &mut self,
        group: &str,
        stream: &str,
        at: Option<i64>,
        line: &Line,
    ) -> Option<Invocation> {
        let key_stream = (group.to_string(), stream.to_string());
        match line {
            Line::InitStart { .. } => {
                self.initialising.insert(key_stream, ());
                None
            }
            Line::Start {
                request_id,
                version,
            } => {
                let cold = self.initialising.remove(&key_stream).is_some();
                self.current.insert(key_stream, request_id.clone());
                let inv = self.entry(group, stream, request_id);
                inv.saw_start = true;
                inv.start_time = at.or(inv.start_time);
                inv.touch(at);
                inv.cold_start |= cold;
                if version.is_some() {
                    inv.version = version.clone();
                }
                None
            }
            Line::End { request_id } => {
                let inv = self.entry(group, stream, request_id);
                inv.saw_end = true;
                inv.touch(at);
                None
            }
            Line::Report(r) => {
                let inv = self.entry(group, stream, &r.request_id);
                inv.touch(at);
                inv.report(r, at);
                self.current.remove(&key_stream);
                self.open.remove(&(group.to_string(), r.request_id.clone()))
            }
            Line::Timeout { request_id, .. } => {
                let id = request_id
                    .clone()
                    .or_else(|| self.current.get(&key_stream).cloned())?;
                let inv = self.entry(group, stream, &id);
                inv.timed_out = true;
                inv.touch(at);
                None
            }
            Line::RuntimeDone {
                request_id,
                status,
                error_type,
            } => {
                let inv = self.entry(group, stream, request_id);
                inv.runtime_status = *status;
                if error_type.is_some() {
                    inv.error_type = error_type.clone();
                }
                inv.touch(at);
                None
            }
            Line::Crash { request_id, .. } => {
                let id = request_id
                    .clone()
                    .or_else(|| self.current.get(&key_stream).cloned())?;
                let inv = self.entry(group, stream, &id);
                inv.crashed = true;
                inv.touch(at);
                None
            }
            Line::XRay { trace_id } => {
                let id = self.current.get(&key_stream).cloned()?;
                self.entry(group, stream, &id).xray_trace_id = Some(trace_id.clone());
                None
            }
            Line::Platform { .. } => None,
            Line::App(app) => {
                let id = app.request_id.clone()?;
                let inv = self.entry(group, stream, &id);
                inv.touch(at.or(app.time_micros));
                inv.cold_start |= app.cold_start == Some(true);
                if matches!(app.level.as_deref(), Some("ERROR" | "FATAL" | "CRITICAL")) {
                    inv.logged_error = true;
                }
                if inv.xray_trace_id.is_none() {
                    inv.xray_trace_id = app.xray_trace_id.clone();
                }
                None
            }
        }
    }

    /// Everything still open, oldest first: to be carried to the next read.
    pub fn into_open(self) -> Vec<Invocation> {
        let mut open: Vec<Invocation> = self.open.into_values().collect();
        open.sort_by(|a, b| (a.start_time, &a.request_id).cmp(&(b.start_time, &b.request_id)));
        open
    }
}

#[cfg(test)]
mod tests {
    use super::super::line::parse_line;
    use super::*;

    const G: &str = "/aws/lambda/orders";
    const ID: &str = "11111111-2222-3333-4444-555555555555";

    fn feed(m: &mut Merger, stream: &str, lines: &[(i64, &str)]) -> Vec<Invocation> {
        lines
            .iter()
            .filter_map(|(at, text)| m.line(G, stream, Some(*at), &parse_line(text)))
            .collect()
    }

    #[test]
    fn text_invocation_cold_then_warm() {
        let mut m = Merger::new();
        let done = feed(
            &mut m,
            "s1",
            &[
                (
                    1_000,
                    "INIT_START Runtime Version: python:3.12.v18\tRuntime Version ARN: x",
                ),
                (2_000, &format!("START RequestId: {ID} Version: $LATEST")),
                (
                    2_500,
                    &format!("[INFO]\t2024-01-01T00:00:00.002Z\t{ID}\thello"),
                ),
                (3_000, &format!("END RequestId: {ID}")),
                (
                    3_001,
                    &format!(
                        "REPORT RequestId: {ID}\tDuration: 1.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 200.00 ms"
                    ),
                ),
                (
                    5_000,
                    "START RequestId: 21111111-2222-3333-4444-555555555555 Version: $LATEST",
                ),
                (5_500, "END RequestId: 21111111-2222-3333-4444-555555555555"),
                (
                    5_501,
                    "REPORT RequestId: 21111111-2222-3333-4444-555555555555\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB",
                ),
            ],
        );
        assert_eq!(done.len(), 2);
        let (cold, warm) = (&done[0], &done[1]);
        assert_eq!(cold.function_name, "orders");
        assert!(cold.cold_start && !warm.cold_start);
        assert_eq!((cold.start_time, cold.end_time), (Some(2_000), Some(3_001)));
        assert_eq!(cold.init_duration_ms, Some(200.0));
        assert_eq!(cold.status(), Status::Success);
        assert_eq!(warm.max_memory_used_mb, Some(41));
        assert_eq!(m.open_len(), 0);
    }

    #[test]
    fn timeouts_crashes_errors() {
        let mut m = Merger::new();
        let done = feed(
            &mut m,
            "s1",
            &[
                (1, &format!("START RequestId: {ID} Version: $LATEST")),
                (
                    2,
                    &format!("2024-01-01T00:00:03.000Z {ID} Task timed out after 3.00 seconds"),
                ),
                (
                    3,
                    &format!(
                        "REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB"
                    ),
                ),
                (
                    4,
                    "START RequestId: 31111111-2222-3333-4444-555555555555 Version: $LATEST",
                ),
                (
                    5,
                    "RequestId: 31111111-2222-3333-4444-555555555555 Error: Runtime exited with error: signal: killed",
                ),
                (
                    6,
                    "REPORT RequestId: 31111111-2222-3333-4444-555555555555\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB",
                ),
                (
                    7,
                    "START RequestId: 41111111-2222-3333-4444-555555555555 Version: $LATEST",
                ),
                (
                    8,
                    "2024-01-01T00:00:03.000Z\t41111111-2222-3333-4444-555555555555\tERROR\tInvoke Error\t{\"errorType\":\"Error\"}",
                ),
                (
                    9,
                    "REPORT RequestId: 41111111-2222-3333-4444-555555555555\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB",
                ),
            ],
        );
        let statuses: Vec<_> = done.iter().map(Invocation::status).collect();
        assert_eq!(statuses, [Status::Timeout, Status::Crash, Status::Error]);
    }

    #[test]
    fn json_format_and_a_cut_between_reads() {
        let mut first = Merger::new();
        let start = format!(
            r#"{{"time":"2024-01-01T00:00:00Z","type":"platform.start","record":{{"requestId":"{ID}","version":"7"}}}}"#
        );
        assert!(feed(&mut first, "s", &[(10, &start)]).is_empty());
        let carried = first.into_open();
        assert_eq!(carried.len(), 1);

        let mut second = Merger::new();
        carried.into_iter().for_each(|inv| second.resume(inv));
        let done = feed(
            &mut second,
            "s",
            &[
                (
                    20,
                    &format!(
                        r#"{{"time":"2024-01-01T00:00:01Z","type":"platform.runtimeDone","record":{{"requestId":"{ID}","status":"failure","errorType":"Runtime.Unhandled"}}}}"#
                    ),
                ),
                (
                    21,
                    &format!(
                        r#"{{"time":"2024-01-01T00:00:01Z","type":"platform.report","record":{{"requestId":"{ID}","metrics":{{"durationMs":5.5,"billedDurationMs":6,"memorySizeMB":256,"maxMemoryUsedMB":70}},"status":"error","errorType":"Runtime.Unhandled"}}}}"#
                    ),
                ),
            ],
        );
        assert_eq!(
            done.len(),
            1,
            "one row for an invocation cut across two reads"
        );
        let inv = &done[0];
        assert_eq!((inv.start_time, inv.end_time), (Some(10), Some(21)));
        assert_eq!(inv.version.as_deref(), Some("7"));
        assert_eq!(inv.status(), Status::Error);
        assert_eq!(inv.error_type.as_deref(), Some("Runtime.Unhandled"));
        assert_eq!(inv.memory_size_mb, Some(256));
    }

    #[test]
    fn streams_interleave() {
        let mut m = Merger::new();
        let a = "a1111111-2222-3333-4444-555555555555";
        let b = "b1111111-2222-3333-4444-555555555555";
        let mut done = Vec::new();
        for (stream, at, text) in [
            ("s1", 1, format!("START RequestId: {a} Version: $LATEST")),
            ("s2", 2, format!("START RequestId: {b} Version: $LATEST")),
            (
                "s2",
                3,
                "XRAY TraceId: 1-abc\tSegmentId: 1\tSampled: true".to_string(),
            ),
            (
                "s1",
                4,
                format!(
                    "REPORT RequestId: {a}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB"
                ),
            ),
            (
                "s2",
                5,
                format!(
                    "REPORT RequestId: {b}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB"
                ),
            ),
        ] {
            done.extend(m.line(G, stream, Some(at), &parse_line(&text)));
        }
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].xray_trace_id, None);
        assert_eq!(done[1].xray_trace_id.as_deref(), Some("1-abc"));
        assert_eq!(done[1].log_stream, "s2");
    }
}

//! What the watch tells about itself: the status file (`status.json`) and the status line.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Watch;
use super::alerts::write_atomic;

/// This process's resident set size in MiB, from `/proc/self/status` (None elsewhere).
pub(super) fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

/// What the status file and line say.
#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct Status {
    pub(super) started_at: String,
    pub(super) updated_at: String,
    pub(super) polls: u64,
    /// The last poll's seconds, from reading the sources to the alerts handed to the sinks.
    pub(super) last_poll_seconds: f64,
    /// Where the last poll's time went (seconds): reading CloudTrail, bringing the shared
    /// views up to date, detecting (detectors and baseline), alerting and delivering,
    /// compacting; and `lambda`, the seconds of the Lambda read that ended during the poll
    /// (it runs beside the polls).
    pub(super) last_poll_split: BTreeMap<&'static str, f64>,
    /// Seconds from the oldest SQS notification handled in the last poll being sent to its
    /// alerts being out (0 when it handled none).
    pub(super) lag_seconds: f64,
    /// Events (CloudTrail records and Lambda log events) appended per second, over the
    /// last status interval.
    pub(super) events_per_second: f64,
    pub(super) events_total: u64,
    pub(super) cloudtrail_objects_total: u64,
    pub(super) log_events_total: u64,
    pub(super) findings_total: u64,
    /// Findings the watch remembers having alerted (within the horizon).
    pub(super) alerts_remembered: usize,
    pub(super) alerts_queued_total: u64,
    pub(super) alerts_delivered: BTreeMap<String, u64>,
    pub(super) spool_depth: BTreeMap<String, usize>,
    pub(super) alerts_refused: BTreeMap<String, usize>,
    pub(super) sink_errors: BTreeMap<String, String>,
    pub(super) sqs_messages_deleted_total: u64,
    pub(super) sqs_messages_unreadable_total: u64,
    pub(super) records_quarantined_total: u64,
    /// Small data files merged into bigger ones.
    pub(super) files_compacted_total: u64,
    /// Rows of the shared views kept in memory (per role, API, function and hour).
    pub(super) history_rows: usize,
    /// The process's resident memory (MiB; Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resident_mib: Option<f64>,
    pub(super) errors_total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_error: Option<String>,
}

impl Status {
    /// Count an error and keep it as the last one.
    pub(super) fn error(&mut self, message: String) {
        self.errors_total += 1;
        self.last_error = Some(message);
    }
}

impl Watch {
    fn refresh_sinks(&mut self) {
        for out in &self.outs {
            self.status
                .alerts_delivered
                .insert(out.name.clone(), out.delivered);
            self.status
                .spool_depth
                .insert(out.name.clone(), out.spool.len());
            self.status
                .alerts_refused
                .insert(out.name.clone(), out.spool.refused());
            match &out.last_error {
                Some(e) => {
                    self.status.sink_errors.insert(out.name.clone(), e.clone());
                }
                None => {
                    self.status.sink_errors.remove(&out.name);
                }
            }
        }
    }

    pub(super) fn write_status(&mut self) -> anyhow::Result<()> {
        self.refresh_sinks();
        self.status.alerts_remembered = self.alerted.len();
        self.status.updated_at =
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        write_atomic(&self.status_file, &serde_json::to_vec_pretty(&self.status)?)
    }

    pub(super) fn status_line(&mut self) -> String {
        self.refresh_sinks();
        let s = &self.status;
        let spool: usize = s.spool_depth.values().sum();
        format!(
            "watch: {} polls (last {:.2} s), lag {:.1} s, {:.0} events/s ({} total), {} findings alerted, spool {}{}",
            s.polls,
            s.last_poll_seconds,
            s.lag_seconds,
            s.events_per_second,
            s.events_total,
            s.findings_total,
            spool,
            if s.sink_errors.is_empty() {
                String::new()
            } else {
                format!(" ({} sink(s) failing)", s.sink_errors.len())
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_and_the_last_kept() {
        let mut s = Status::default();
        s.error("first".into());
        s.error("second".into());
        assert_eq!(s.errors_total, 2);
        assert_eq!(s.last_error.as_deref(), Some("second"));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["last_error"], "second");
        // Absent values are left out of the file, not written as null.
        assert!(v.get("resident_mib").is_none());
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let mib = resident_mib().expect("VmRSS in /proc/self/status");
            assert!(mib > 1.0 && mib < 1_000_000.0, "{mib}");
        }
    }
}

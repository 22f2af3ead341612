//! Alerts: new findings queued on every sink's spool (remembered as alerted), and the spools
//! handed to the sinks with retries and backoff.

use std::collections::HashMap;
use std::time::Instant;

use detectors::finding::Finding;
use pipeline::sink::{SNS_MAX_BYTES, Sink};

use detectors::incident::Member;

use super::alerts::{self, InIncident, Spool};
use super::{Watch, failpoint, now_micros};

/// Alerts handed to one sink in one poll at most.
const MAX_SENDS_PER_POLL: usize = 500;

/// The longest wait between two delivery attempts to a sink that keeps failing.
const MAX_BACKOFF_SECS: u64 = 60;

/// A sink, its spool and its retry state.
pub(super) struct Out {
    pub(super) sink: Sink,
    pub(super) name: String,
    pub(super) spool: Spool,
    pub(super) failures: u32,
    pub(super) next_try: Option<Instant>,
    pub(super) delivered: u64,
    pub(super) last_error: Option<String>,
}

/// A directory name for a sink's spool: readable, and distinct per sink.
pub(super) fn slug(name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let tail: String = readable
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "{}-{:016x}",
        tail.trim_matches('-'),
        xxhash_rust::xxh3::xxh3_64(name.as_bytes())
    )
}

/// Seconds to wait before trying a sink again after `failures` deliveries in a row failed:
/// doubling from 2 s, at most [`MAX_BACKOFF_SECS`].
fn backoff_secs(failures: u32) -> u64 {
    (1u64 << failures.min(6)).min(MAX_BACKOFF_SECS)
}

impl Watch {
    /// Queue the findings not alerted before on every sink, then remember them as alerted.
    /// Findings are grouped into incidents with those alerted before
    /// ([`detectors::incident`]): a new incident is one alert for all of its findings so far,
    /// and each finding added to an incident alerted before is one more.
    pub(super) async fn alert(&mut self, findings: Vec<Finding>) -> anyhow::Result<()> {
        let now = now_micros();
        let mut changed = false;
        let mut fresh = Vec::new();
        for f in &findings {
            let gap = self
                .gaps
                .get(&f.detector_id)
                .copied()
                .unwrap_or(3_600_000_000);
            if self.alerted.is_new(f, gap, &mut changed)
                && !fresh.iter().any(|x: &&Finding| x.uid == f.uid)
            {
                fresh.push(f);
            }
        }
        let lake = self.lake.uri();
        // The incidents: the findings alerted before (with the incident each went out under)
        // and the new ones, grouped together.
        let mut members: Vec<Member> = Vec::new();
        let mut alerted_under: HashMap<&str, &str> = HashMap::new();
        for e in &self.alerted.entries {
            if let (Some(m), Some(i)) = (&e.member, &e.incident) {
                members.push(m.clone());
                alerted_under.insert(e.uid.as_str(), i.as_str());
            }
        }
        members.extend(fresh.iter().map(|f| Member::from(*f)));
        let infrastructure = detectors::incident::addresses(
            self.history
                .rows("lambda_runtime_calls")
                .unwrap_or_default(),
        );
        let mut queued: Vec<(&Finding, String)> = Vec::new();
        let mut messages = 0usize;
        for incident in detectors::incident::group(&members, &infrastructure) {
            let new_here: Vec<&Finding> = incident
                .findings
                .iter()
                .filter_map(|m| fresh.iter().find(|f| f.uid == m.uid).copied())
                .collect();
            if new_here.is_empty() {
                continue;
            }
            // The id it was first alerted under, when it was (an incident keeps its id).
            let earlier = incident
                .findings
                .iter()
                .find_map(|m| alerted_under.get(m.uid.as_str()).copied());
            match earlier {
                Some(id) => {
                    for f in &new_here {
                        let message = alerts::render_in(
                            f,
                            Some(&InIncident {
                                id,
                                event: "finding-added",
                                others: &[],
                            }),
                            &lake,
                            SNS_MAX_BYTES - 1024,
                        );
                        for out in &self.outs {
                            out.spool.put(&message, now)?;
                        }
                        messages += 1;
                        queued.push((f, id.to_string()));
                    }
                }
                None => {
                    let (first, others) = new_here.split_first().expect("not empty");
                    let message = alerts::render_in(
                        first,
                        Some(&InIncident {
                            id: &incident.id,
                            event: "opened",
                            others,
                        }),
                        &lake,
                        SNS_MAX_BYTES - 1024,
                    );
                    for out in &self.outs {
                        out.spool.put(&message, now)?;
                    }
                    messages += 1;
                    for f in &new_here {
                        queued.push((f, incident.id.clone()));
                    }
                }
            }
        }
        if !fresh.is_empty() {
            failpoint("watch-after-spool");
        }
        for (f, incident) in &queued {
            self.alerted.insert(f, now, Some(incident));
            changed = true;
        }
        if self.alerted.forget_before(now - self.config.horizon.0) {
            changed = true;
        }
        if changed {
            self.alerted.save(&self.state_dir.join("alerted.json"))?;
        }
        if !fresh.is_empty() {
            tracing::info!(new = fresh.len(), alerts = messages, "alerts queued");
        }
        self.status.findings_total += fresh.len() as u64;
        self.status.alerts_queued_total += (messages * self.outs.len()) as u64;
        Ok(())
    }

    /// Hand each sink what its spool holds (unless it is backing off after failures).
    pub(super) async fn deliver(&mut self) {
        for out in &mut self.outs {
            if out.next_try.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            let pending = match out.spool.pending() {
                Ok(p) => p,
                Err(e) => {
                    out.last_error = Some(format!("{e:#}"));
                    continue;
                }
            };
            if pending.is_empty() {
                continue;
            }
            // A backlog (after an outage) goes out a slice per poll, oldest first.
            let pending: Vec<alerts::Spooled> =
                pending.into_iter().take(MAX_SENDS_PER_POLL).collect();
            let messages: Vec<pipeline::sink::Message> =
                pending.iter().map(|s| s.message.clone()).collect();
            let d = out.sink.send(&messages).await;
            let mut by_id: HashMap<String, alerts::Spooled> = pending
                .into_iter()
                .map(|s| (s.message.id.clone(), s))
                .collect();
            for id in &d.delivered {
                if let Err(e) = out.spool.done(id) {
                    tracing::error!(error = %format!("{e:#}"), "spool file not removed (the alert may be sent again)");
                }
                by_id.remove(id);
            }
            out.delivered += d.delivered.len() as u64;
            for (id, why) in &d.refused {
                tracing::error!(sink = %out.name, alert = %id, reason = %why, "alert refused; kept in the spool's refused/ directory");
                if let Some(s) = by_id.remove(id) {
                    let _ = out.spool.refuse(s, why);
                }
            }
            if d.retry.is_empty() {
                out.failures = 0;
                out.next_try = None;
                out.last_error = None;
            } else {
                out.failures += 1;
                let wait = backoff_secs(out.failures);
                out.next_try = Some(Instant::now() + std::time::Duration::from_secs(wait));
                let why = d.retry[0].1.clone();
                tracing::warn!(sink = %out.name, pending = d.retry.len(), reason = %why, retry_in_s = wait, "alerts not delivered; kept in the spool");
                out.last_error = Some(why.clone());
                for (id, why) in &d.retry {
                    if let Some(s) = by_id.remove(id) {
                        let _ = out.spool.failed(s, why);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_directories_are_readable_distinct_and_short() {
        let a = slug("sns:arn:aws:sns:us-east-1:123456789012:trailhound-alerts");
        let b = slug("sns:arn:aws:sns:us-east-1:123456789012:trailhound-alerts-2");
        assert_ne!(a, b);
        assert!(
            a.starts_with("us-east-1-123456789012-trailhound-alerts-"),
            "{a}"
        );
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
        assert!(slug(&"x/".repeat(500)).len() <= 40 + 17);
        // Names that differ only in characters a path cannot hold still differ.
        assert_ne!(slug("file:/a/b"), slug("file:/a-b"));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(backoff_secs).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
    }
}

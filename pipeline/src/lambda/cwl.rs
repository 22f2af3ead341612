//! Reading Lambda logs straight from CloudWatch Logs (`cwl://<log-group>`): groups found with
//! `DescribeLogGroups`, events read with `FilterLogEvents` across all streams of a group,
//! paginated and time-bounded, and a per-group cursor so that later runs read only what is new.
//!
//! The cursor of a group is the set of time ranges already read. CloudWatch Logs accepts
//! events a little after their timestamp (Lambda delivers within seconds, at times minutes),
//! so a read that continues a range starts [`OVERLAP_MS`] before its end and skips the events
//! of that overlap already read (their ids are kept, hashed, with the range). Events that
//! arrive later than that behind the cursor are not seen by continuing runs.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::DisplayErrorContext;
use serde::{Deserialize, Serialize};

use super::file::{LogBatch, LogEvent};

/// How far back a continuing read starts before the end of the range read last time.
pub const OVERLAP_MS: i64 = 5 * 60 * 1000;

/// The group named by a `cwl://` source (`cwl:///aws/lambda/f` → `/aws/lambda/f`; `cwl://`
/// alone → `""`, every group under `--log-group-prefix`), or `None` for other sources.
pub fn group_of(src: &str) -> Option<&str> {
    src.strip_prefix("cwl://")
}

/// The CloudWatch Logs client: the standard AWS configuration chain, and more patience with
/// throttling than the SDK's default (10 attempts, exponential backoff with jitter up to 20 s),
/// so that a throttled run finishes, slower. `AWS_MAX_ATTEMPTS`, when set, decides instead.
pub fn logs_client(conf: &aws_config::SdkConfig) -> Client {
    let mut builder = aws_sdk_cloudwatchlogs::config::Builder::from(conf);
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
        builder = builder.retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        );
    }
    Client::from_conf(builder.build())
}

/// A log group to read, with the account and region its ARN names (they become the
/// partition of its rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroup {
    pub name: String,
    pub account: Option<String>,
    pub region: Option<String>,
}

fn log_group(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> Option<LogGroup> {
    let name = g.log_group_name()?.to_string();
    // arn:aws:logs:<region>:<account>:log-group:<name>:*
    let mut parts = g.arn().unwrap_or("").splitn(6, ':');
    let (region, account) = (parts.nth(3), parts.next());
    let some = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    Some(LogGroup {
        name,
        account: some(account),
        region: some(region),
    })
}

fn sdk_error(e: impl std::error::Error) -> String {
    DisplayErrorContext(e).to_string()
}

/// Every log group whose name starts with `prefix` (paginated `DescribeLogGroups`).
pub async fn discover(client: &Client, prefix: &str) -> Result<Vec<LogGroup>, String> {
    let mut req = client.describe_log_groups();
    if !prefix.is_empty() {
        req = req.log_group_name_prefix(prefix);
    }
    let mut pages = req.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk_error)?;
        out.extend(page.log_groups().iter().filter_map(log_group));
    }
    Ok(out)
}

/// The log group named `name`, or an error that says it does not exist.
pub async fn describe(client: &Client, name: &str) -> Result<LogGroup, String> {
    discover(client, name)
        .await?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| {
            format!("log group {name} does not exist (or is not visible to these credentials)")
        })
}

/// A time range read from one group, with the hashed ids of its events in the last
/// [`OVERLAP_MS`] before `end_ms` (to skip them when the next read starts in the overlap).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First millisecond read (inclusive).
    pub start_ms: i64,
    /// Last millisecond read (inclusive).
    pub end_ms: i64,
    #[serde(default)]
    pub edge_ids: Vec<u64>,
    /// How far back from `end_ms` `edge_ids` reach (ms): a continued read may start at most
    /// this far inside the range. Cursors written before it existed used [`OVERLAP_MS`].
    #[serde(default = "default_edge_ms")]
    pub edge_ms: i64,
}

fn default_edge_ms() -> i64 {
    OVERLAP_MS
}

/// What has been read of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sorted, disjoint, not adjacent.
    pub ranges: Vec<Range>,
}

/// A time range to read, and the ids of events already read that it may meet again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
    pub skip: HashSet<u64>,
    /// The overlap this read keeps ids of at its end, for the next read to skip.
    pub overlap_ms: i64,
}

impl Cursor {
    /// The end of the newest range read, if any.
    pub fn read_until(&self) -> Option<i64> {
        self.ranges.last().map(|r| r.end_ms)
    }

    /// The parts of `[start_ms, end_ms]` not read yet. A part that continues a range read
    /// before starts [`OVERLAP_MS`] inside it, skipping that range's edge events.
    pub fn plan(&self, start_ms: i64, end_ms: i64) -> Vec<Window> {
        self.plan_with(start_ms, end_ms, OVERLAP_MS)
    }

    /// [`Cursor::plan`] with another overlap: how far a continued read starts inside the
    /// range before it (at most as far as that range kept ids of), and how much of its own end
    /// the read keeps ids of. A short overlap re-reads less on each poll; events that become
    /// readable later than that after their timestamp are missed.
    pub fn plan_with(&self, start_ms: i64, end_ms: i64, overlap_ms: i64) -> Vec<Window> {
        let overlap_ms = overlap_ms.max(0);
        let mut out = Vec::new();
        let mut at = start_ms;
        let mut before: Option<&Range> = None;
        let mut push = |from: i64, to: i64, before: Option<&Range>| {
            let mut w = Window {
                start_ms: from,
                end_ms: to,
                skip: HashSet::new(),
                overlap_ms,
            };
            if let Some(r) = before.filter(|r| r.end_ms + 1 == from) {
                w.start_ms = (r.end_ms - overlap_ms.min(r.edge_ms) + 1).max(r.start_ms);
                w.skip = r.edge_ids.iter().copied().collect();
            }
            out.push(w);
        };
        for r in &self.ranges {
            if r.end_ms < at {
                before = Some(r);
                continue;
            }
            if r.start_ms > end_ms {
                break;
            }
            if r.start_ms > at {
                push(at, r.start_ms - 1, before);
            }
            at = at.max(r.end_ms + 1);
            before = Some(r);
        }
        if at <= end_ms {
            push(at, end_ms, before);
        }
        out
    }

    /// Record `range` as read, merging it with the ranges it meets.
    pub fn record(&mut self, range: Range) {
        if range.end_ms < range.start_ms {
            return;
        }
        self.ranges.push(range);
        self.ranges.sort_by_key(|r| (r.start_ms, r.end_ms));
        let mut merged: Vec<Range> = Vec::with_capacity(self.ranges.len());
        for r in self.ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start_ms <= last.end_ms.saturating_add(1) => {
                    if r.end_ms > last.end_ms {
                        last.end_ms = r.end_ms;
                        last.edge_ids = r.edge_ids;
                        last.edge_ms = r.edge_ms;
                    } else if r.end_ms == last.end_ms {
                        last.edge_ids.extend(r.edge_ids);
                        last.edge_ms = last.edge_ms.min(r.edge_ms);
                        last.edge_ids.sort_unstable();
                        last.edge_ids.dedup();
                    }
                }
                _ => merged.push(r),
            }
        }
        self.ranges = merged;
    }
}

/// The id hash kept in the cursor: the event id, or for an event without one its stream,
/// time and text.
pub fn id_hash(ev: &LogEvent) -> u64 {
    match &ev.id {
        Some(id) => xxhash_rust::xxh3::xxh3_64(id.as_bytes()),
        None => {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(ev.log_stream.as_deref().unwrap_or("").as_bytes());
            h.update(&ev.timestamp_ms.unwrap_or(0).to_le_bytes());
            h.update(ev.message.as_bytes());
            h.digest()
        }
    }
}

/// How a window read ended.
#[derive(Debug, Default)]
pub struct WindowRead {
    /// What can be recorded in the cursor: the whole window, or when a call failed after
    /// its retries, the part before the newest timestamp read (events come sorted by time).
    pub range: Option<Range>,
    pub pages: u64,
    pub events: u64,
    /// Events of the overlap already read by an earlier run, skipped.
    pub skipped: u64,
    /// The error that stopped the read, after the SDK's retries.
    pub error: Option<String>,
}

/// Read `window` of `group` page by page (`FilterLogEvents`, all streams), handing each page's
/// new events to `page` as one batch. A failing `page` stops the read and its error is
/// returned; an API failure (after retries) ends the read with `error` set.
pub async fn read_window<E>(
    client: &Client,
    group: &LogGroup,
    window: &Window,
    mut page: impl FnMut(LogBatch) -> Result<(), E>,
) -> Result<WindowRead, E> {
    let mut out = WindowRead::default();
    // Hashed ids of the events in the last `overlap_ms` of what was read, by time.
    let mut tail: VecDeque<(i64, u64)> = VecDeque::new();
    let mut newest = i64::MIN;
    // AWS ignores `interleaved` and always returns events by time across streams; the
    // emulator needs to be asked (and the partial range on failure relies on that order).
    #[allow(deprecated)]
    let mut pages = client
        .filter_log_events()
        .log_group_name(&group.name)
        .start_time(window.start_ms)
        .end_time(window.end_ms)
        .interleaved(true)
        .into_paginator()
        .send();
    while let Some(resp) = pages.next().await {
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                out.error = Some(sdk_error(e));
                break;
            }
        };
        out.pages += 1;
        let mut batch = LogBatch {
            owner: group.account.clone(),
            log_group: Some(group.name.clone()),
            log_stream: None,
            events: Vec::with_capacity(resp.events().len()),
        };
        for e in resp.events() {
            let ev = LogEvent {
                timestamp_ms: e.timestamp(),
                id: e.event_id().map(str::to_string),
                message: e.message().unwrap_or("").to_string(),
                log_stream: e.log_stream_name().map(str::to_string),
            };
            let h = id_hash(&ev);
            let ts = ev.timestamp_ms.unwrap_or(window.start_ms);
            newest = newest.max(ts);
            tail.push_back((ts, h));
            while tail
                .front()
                .is_some_and(|(t, _)| *t < newest - window.overlap_ms)
            {
                tail.pop_front();
            }
            if window.skip.contains(&h) {
                out.skipped += 1;
                continue;
            }
            out.events += 1;
            batch.events.push(ev);
        }
        if !batch.events.is_empty() {
            page(batch)?;
        }
    }
    let end_ms = if out.error.is_none() {
        window.end_ms
    } else {
        // Events at `newest` itself may not all have been read.
        newest.saturating_sub(1)
    };
    if end_ms >= window.start_ms {
        let edge_ids = tail
            .iter()
            .filter(|(t, _)| *t > end_ms - window.overlap_ms)
            .map(|(_, h)| *h)
            .collect();
        out.range = Some(Range {
            start_ms: window.start_ms,
            end_ms,
            edge_ids,
            edge_ms: window.overlap_ms,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start_ms: i64, end_ms: i64, ids: &[u64]) -> Range {
        Range {
            start_ms,
            end_ms,
            edge_ids: ids.to_vec(),
            edge_ms: OVERLAP_MS,
        }
    }

    #[test]
    fn sources() {
        assert_eq!(group_of("cwl:///aws/lambda/f"), Some("/aws/lambda/f"));
        assert_eq!(group_of("cwl://"), Some(""));
        assert_eq!(group_of("s3://b/k"), None);
    }

    #[test]
    fn first_read_is_the_whole_window() {
        let plan = Cursor::default().plan(0, 1_000_000);
        assert_eq!(plan.len(), 1);
        assert_eq!((plan[0].start_ms, plan[0].end_ms), (0, 1_000_000));
        assert!(plan[0].skip.is_empty());
    }

    #[test]
    fn a_read_window_is_not_read_again() {
        let mut c = Cursor::default();
        c.record(range(0, 1_000_000, &[7]));
        assert!(c.plan(0, 1_000_000).is_empty());
        assert!(c.plan(10, 500).is_empty());
    }

    #[test]
    fn a_later_window_starts_in_the_overlap_and_skips_its_events() {
        let mut c = Cursor::default();
        c.record(range(0, 1_000_000, &[7, 8]));
        let plan = c.plan(0, 2_000_000);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].start_ms, 1_000_000 - OVERLAP_MS + 1);
        assert_eq!(plan[0].end_ms, 2_000_000);
        assert_eq!(plan[0].skip, HashSet::from([7, 8]));
        // Recorded, the two ranges become one whose edge is the newer read's.
        c.record(range(plan[0].start_ms, 2_000_000, &[9]));
        assert_eq!(c.ranges, vec![range(0, 2_000_000, &[9])]);
    }

    #[test]
    fn gaps_are_filled_and_an_earlier_window_meets_no_overlap() {
        let mut c = Cursor::default();
        c.record(range(1_000_000, 2_000_000, &[1]));
        c.record(range(3_000_000, 4_000_000, &[2]));
        let plan = c.plan(0, 5_000_000);
        let spans: Vec<_> = plan.iter().map(|w| (w.start_ms, w.end_ms)).collect();
        assert_eq!(
            spans,
            vec![
                (0, 999_999),
                (2_000_000 - OVERLAP_MS + 1, 2_999_999),
                (4_000_000 - OVERLAP_MS + 1, 5_000_000)
            ]
        );
        assert!(plan[0].skip.is_empty());
        assert_eq!(plan[1].skip, HashSet::from([1]));
        assert_eq!(plan[2].skip, HashSet::from([2]));
        for w in plan {
            c.record(range(w.start_ms, w.end_ms, &[]));
        }
        assert_eq!(c.ranges.len(), 1);
        assert_eq!((c.ranges[0].start_ms, c.ranges[0].end_ms), (0, 5_000_000));
    }

    #[test]
    fn the_overlap_stays_inside_a_short_range() {
        let mut c = Cursor::default();
        c.record(range(1_000, 2_000, &[]));
        let plan = c.plan(1_000, 10_000_000);
        assert_eq!(plan[0].start_ms, 1_000);
    }

    #[test]
    fn id_hashes() {
        let ev = |id: Option<&str>, msg: &str| LogEvent {
            timestamp_ms: Some(5),
            id: id.map(str::to_string),
            message: msg.into(),
            log_stream: Some("s".into()),
        };
        assert_eq!(id_hash(&ev(Some("1"), "a")), id_hash(&ev(Some("1"), "b")));
        assert_ne!(id_hash(&ev(Some("1"), "a")), id_hash(&ev(Some("2"), "a")));
        assert_ne!(id_hash(&ev(None, "a")), id_hash(&ev(None, "b")));
    }
}

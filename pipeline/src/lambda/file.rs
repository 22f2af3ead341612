//! Lambda log files: CloudWatch Logs subscription payloads (as Firehose and Kinesis deliver
//! them: one or many `{"messageType":…}` objects back to back, plain or gzip), the output of
//! `aws logs filter-log-events`, and raw text (one log line per line, text or JSON).
//!
//! A file is read whole (these are small objects) into [`LogBatch`]es; what cannot be read is
//! returned with the reason for the quarantine, and the good part of the file is kept.

use std::io::Read;

use serde::Deserialize;

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub timestamp_ms: Option<i64>,
    /// The CloudWatch Logs event id.
    pub id: Option<String>,
    pub message: String,
    /// The event's stream, when the batch mixes streams (`filter-log-events`).
    pub log_stream: Option<String>,
}

/// Events of one log group (and usually one stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBatch {
    /// The account that owns the group (subscription payloads say it).
    pub owner: Option<String>,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    pub events: Vec<LogEvent>,
}

/// What a file held.
#[derive(Debug, Default)]
pub struct LogFile {
    pub batches: Vec<LogBatch>,
    /// Subscription `CONTROL_MESSAGE`s (CloudWatch's reachability checks), skipped.
    pub control_messages: u64,
    /// Parts that could not be read: (byte offset in the decompressed text, raw text, reason).
    pub bad: Vec<(u64, String, String)>,
    /// What the file was: `subscription`, `filter-log-events`, `text` or `empty`.
    pub shape: &'static str,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "messageType")]
    message_type: Option<String>,
    owner: Option<String>,
    #[serde(rename = "logGroup")]
    log_group: Option<String>,
    #[serde(rename = "logStream")]
    log_stream: Option<String>,
    #[serde(rename = "logEvents")]
    log_events: Option<Vec<SubscriptionEvent>>,
    /// `filter-log-events` output.
    events: Option<Vec<FilteredEvent>>,
}

#[derive(Deserialize)]
struct SubscriptionEvent {
    id: Option<String>,
    timestamp: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct FilteredEvent {
    #[serde(rename = "logStreamName")]
    log_stream: Option<String>,
    timestamp: Option<i64>,
    message: Option<String>,
    #[serde(rename = "eventId")]
    event_id: Option<String>,
}

/// Read a Lambda log file from its stored bytes (gzip recognised by its magic bytes).
pub fn read_log_file(bytes: &[u8]) -> LogFile {
    let mut out = LogFile::default();
    let mut data = Vec::new();
    let raw: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        if let Err(e) = flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut data) {
            // Keep what was decompressed before the damage.
            out.bad.push((
                data.len() as u64,
                String::new(),
                format!("gzip data ends early or is damaged: {e}"),
            ));
        }
        &data
    } else {
        bytes
    };
    let text = String::from_utf8_lossy(raw);
    if text.trim().is_empty() {
        out.shape = "empty";
        return out;
    }
    if text.trim_start().starts_with('{') && read_payloads(&text, &mut out) {
        return out;
    }
    out.shape = "text";
    let mut batch = LogBatch::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        batch.events.push(LogEvent {
            timestamp_ms: None,
            id: None,
            message: line.to_string(),
            log_stream: None,
        });
    }
    out.batches.push(batch);
    out
}

/// Subscription payloads or `filter-log-events` output, back to back. False when the first
/// value is neither (the file is then read as lines).
fn read_payloads(text: &str, out: &mut LogFile) -> bool {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Payload>();
    let mut first = true;
    loop {
        let offset = stream.byte_offset();
        let payload = match stream.next() {
            None => return true,
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                if first {
                    return false;
                }
                out.bad.push((
                    offset as u64,
                    text[offset..].trim().to_string(),
                    format!("not a log payload: {e}"),
                ));
                return true;
            }
        };
        let known = payload.message_type.is_some() || payload.events.is_some();
        if first && !known {
            return false;
        }
        first = false;
        match payload.message_type.as_deref() {
            Some("CONTROL_MESSAGE") => out.control_messages += 1,
            Some(_) | None if payload.log_events.is_some() => {
                out.shape = "subscription";
                out.batches.push(LogBatch {
                    owner: payload.owner,
                    log_group: payload.log_group,
                    log_stream: payload.log_stream,
                    events: payload
                        .log_events
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| LogEvent {
                            timestamp_ms: e.timestamp,
                            id: e.id,
                            message: e.message.unwrap_or_default(),
                            log_stream: None,
                        })
                        .collect(),
                });
            }
            _ if payload.events.is_some() => {
                out.shape = "filter-log-events";
                out.batches.push(LogBatch {
                    events: payload
                        .events
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| LogEvent {
                            timestamp_ms: e.timestamp,
                            id: e.event_id,
                            message: e.message.unwrap_or_default(),
                            log_stream: e.log_stream,
                        })
                        .collect(),
                    ..LogBatch::default()
                });
            }
            other => out.bad.push((
                offset as u64,
                String::new(),
                format!("log payload of unknown type {other:?} without log events"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn payload(kind: &str, id: &str) -> String {
        format!(
            r#"{{"messageType":"{kind}","owner":"123456789012","logGroup":"/aws/lambda/orders","logStream":"2024/01/01/[$LATEST]abc","subscriptionFilters":["f"],"logEvents":[{{"id":"{id}","timestamp":1704067200000,"message":"START RequestId: 11111111-2222-3333-4444-555555555555 Version: $LATEST\n"}}]}}"#
        )
    }

    #[test]
    fn subscription_payloads_back_to_back_and_gzip() {
        let text = format!(
            "{}{}\n{}",
            payload("DATA_MESSAGE", "1"),
            payload("CONTROL_MESSAGE", "2"),
            payload("DATA_MESSAGE", "3")
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        for bytes in [text.clone().into_bytes(), gz.finish().unwrap()] {
            let f = read_log_file(&bytes);
            assert_eq!(f.shape, "subscription");
            assert_eq!(f.control_messages, 1);
            assert_eq!(f.batches.len(), 2);
            assert_eq!(f.batches[0].owner.as_deref(), Some("123456789012"));
            assert_eq!(f.batches[1].events[0].id.as_deref(), Some("3"));
            assert!(f.bad.is_empty());
        }
    }

    #[test]
    fn damaged_tail_keeps_the_good_payloads() {
        let text = format!(
            "{}{}",
            payload("DATA_MESSAGE", "1"),
            "{\"messageType\":\"DATA_MESS"
        );
        let f = read_log_file(text.as_bytes());
        assert_eq!(f.batches.len(), 1);
        assert_eq!(f.bad.len(), 1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(payload("DATA_MESSAGE", "1").as_bytes())
            .unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.truncate(bytes.len() - 6);
        let f = read_log_file(&bytes);
        assert!(f.bad.iter().any(|(_, _, why)| why.contains("gzip")));
    }

    #[test]
    fn filter_log_events_output_and_text() {
        let out = r#"{"events":[{"logStreamName":"s1","timestamp":1,"message":"END RequestId: x\n","ingestionTime":2,"eventId":"e1"}],"searchedLogStreams":[]}"#;
        let f = read_log_file(out.as_bytes());
        assert_eq!(f.shape, "filter-log-events");
        assert_eq!(f.batches[0].events[0].log_stream.as_deref(), Some("s1"));
        assert_eq!(f.batches[0].events[0].id.as_deref(), Some("e1"));

        let lines = "START RequestId: a Version: 1\n{\"level\":\"INFO\",\"message\":\"hi\"}\n\nEND RequestId: a\n";
        let f = read_log_file(lines.as_bytes());
        assert_eq!(f.shape, "text");
        assert_eq!(f.batches[0].events.len(), 3);
        assert_eq!(read_log_file(b"  \n").shape, "empty");
    }
}

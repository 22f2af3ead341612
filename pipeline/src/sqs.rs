//! New CloudTrail objects announced on an SQS queue: S3 event notifications sent to the queue
//! directly (the standard bucket → SQS set-up), through an SNS topic (raw or wrapped in SNS's
//! envelope), or as EventBridge "Object Created" events.
//!
//! A message is deleted only by the caller, once every object it names is in the lake; until
//! then it comes back after the queue's visibility timeout.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;

use crate::source::{ObjectLoc, SourceObject, skip_reason};

/// What one queue message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Objects created (possibly none, when every record was of another kind).
    Objects(Vec<SourceObject>),
    /// S3's `s3:TestEvent`, sent when notifications are configured: nothing to read.
    Test,
    /// Not a notification this reader knows, with why.
    Unreadable(String),
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub notice: Notice,
    /// When the message was sent to the queue (ms since the epoch).
    pub sent_ms: Option<i64>,
}

/// Read a message body.
pub fn parse(body: &str) -> Notice {
    let v: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Notice::Unreadable(format!("not JSON: {e}")),
    };
    parse_value(&v, 0)
}

fn parse_value(v: &serde_json::Value, depth: u8) -> Notice {
    // SNS's envelope (a topic between the bucket and the queue, without raw delivery).
    if v.get("Type").and_then(|t| t.as_str()) == Some("Notification")
        && let Some(inner) = v.get("Message").and_then(|m| m.as_str())
        && depth == 0
    {
        return match serde_json::from_str::<serde_json::Value>(inner) {
            Ok(inner) => parse_value(&inner, depth + 1),
            Err(e) => Notice::Unreadable(format!("SNS message is not JSON: {e}")),
        };
    }
    if v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Notice::Test;
    }
    if let Some(records) = v.get("Records").and_then(|r| r.as_array()) {
        let mut out = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let name = r.get("eventName").and_then(|n| n.as_str()).unwrap_or("");
            if !name.starts_with("ObjectCreated:") {
                continue;
            }
            let s3 = &r["s3"];
            let (Some(bucket), Some(key)) =
                (s3["bucket"]["name"].as_str(), s3["object"]["key"].as_str())
            else {
                return Notice::Unreadable(format!("record {i} names no bucket and key"));
            };
            // Keys in S3 notifications are URL-encoded, spaces as `+`.
            let key =
                match percent_encoding::percent_decode_str(&key.replace('+', " ")).decode_utf8() {
                    Ok(k) => k.into_owned(),
                    Err(e) => return Notice::Unreadable(format!("record {i}: key {key:?}: {e}")),
                };
            out.push(object(
                bucket,
                &key,
                s3["object"]["size"].as_u64(),
                s3["object"]["eTag"].as_str(),
            ));
        }
        return Notice::Objects(out);
    }
    if v.get("source").and_then(|s| s.as_str()) == Some("aws.s3") {
        if v.get("detail-type").and_then(|s| s.as_str()) != Some("Object Created") {
            return Notice::Objects(Vec::new());
        }
        let d = &v["detail"];
        let (Some(bucket), Some(key)) = (d["bucket"]["name"].as_str(), d["object"]["key"].as_str())
        else {
            return Notice::Unreadable("EventBridge event names no bucket and key".into());
        };
        return Notice::Objects(vec![object(
            bucket,
            key,
            d["object"]["size"].as_u64(),
            d["object"]["etag"].as_str(),
        )]);
    }
    Notice::Unreadable("not an S3 event notification".into())
}

fn object(bucket: &str, key: &str, size: Option<u64>, etag: Option<&str>) -> SourceObject {
    SourceObject {
        uri: format!("s3://{bucket}/{key}"),
        size: size.unwrap_or(0),
        version: etag.unwrap_or_default().trim_matches('"').to_string(),
        loc: ObjectLoc::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
        },
        skip: skip_reason(&format!("/{key}")),
    }
}

/// Receive what the queue has now, up to `max` messages (short polls of ten).
pub async fn receive(
    client: &Client,
    queue_url: &str,
    max: usize,
) -> Result<Vec<Received>, String> {
    receive_waiting(client, queue_url, max, 0).await
}

/// [`receive`], the first call waiting up to `wait_seconds` for a message (SQS long
/// polling: it returns as soon as one is there).
pub async fn receive_waiting(
    client: &Client,
    queue_url: &str,
    max: usize,
    wait_seconds: i32,
) -> Result<Vec<Received>, String> {
    let mut out = Vec::new();
    let mut wait = wait_seconds.clamp(0, 20);
    while out.len() < max {
        let resp = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10.min(max - out.len()) as i32)
            .wait_time_seconds(std::mem::take(&mut wait))
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .send()
            .await
            .map_err(|e| format!("receiving from {queue_url}: {}", DisplayErrorContext(&e)))?;
        let messages = resp.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            let body = m.body().unwrap_or("").to_string();
            let sent_ms = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse().ok());
            out.push(Received {
                sent_ms,
                message_id: id.to_string(),
                receipt_handle: receipt.to_string(),
                notice: parse(&body),
                body,
            });
        }
    }
    Ok(out)
}

/// Delete these messages (batches of ten); the ids that could not be deleted, with why.
pub async fn delete(
    client: &Client,
    queue_url: &str,
    messages: &[&Received],
) -> Vec<(String, String)> {
    use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
    let mut failed = Vec::new();
    for chunk in messages.chunks(10) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(&m.receipt_handle)
                    .build()
                    .ok()
            })
            .collect();
        match client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                for f in out.failed() {
                    let i: usize = f.id().trim_start_matches('d').parse().unwrap_or(0);
                    if let Some(m) = chunk.get(i) {
                        failed.push((
                            m.message_id.clone(),
                            format!("{}: {}", f.code(), f.message().unwrap_or("")),
                        ));
                    }
                }
            }
            Err(e) => {
                let why = DisplayErrorContext(&e).to_string();
                failed.extend(chunk.iter().map(|m| (m.message_id.clone(), why.clone())));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_notifications() {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"trail"},"object":{"key":"AWSLogs/1/CloudTrail/us-east-1/2026/11/29/a+b%3Dc.json.gz","size":42,"eTag":"abc"}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"trail"},"object":{"key":"x"}}}]}"#;
        let Notice::Objects(objs) = parse(body) else {
            panic!("{:?}", parse(body))
        };
        assert_eq!(objs.len(), 1);
        assert_eq!(
            objs[0].uri,
            "s3://trail/AWSLogs/1/CloudTrail/us-east-1/2026/11/29/a b=c.json.gz"
        );
        assert_eq!((objs[0].size, objs[0].version.as_str()), (42, "abc"));
        assert!(objs[0].skip.is_none());

        let wrapped = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        assert_eq!(parse(&wrapped), parse(body));
        assert_eq!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"trail"}"#),
            Notice::Test
        );
        let eb = r#"{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k 1.json","size":3,"etag":"e"}}}"#;
        let Notice::Objects(objs) = parse(eb) else {
            panic!()
        };
        assert_eq!(objs[0].uri, "s3://b/k 1.json");
        assert!(matches!(parse("{}"), Notice::Unreadable(_)));
        assert!(matches!(parse("nope"), Notice::Unreadable(_)));
        let digest = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz"}}}]}"#;
        let Notice::Objects(objs) = parse(digest) else {
            panic!()
        };
        assert!(objs[0].skip.is_some());
    }
}

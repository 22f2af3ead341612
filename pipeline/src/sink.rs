//! Where alerts go: an SNS topic, a file of NDJSON lines, standard output.
//!
//! A [`Message`] is one alert already rendered (its JSON body, a subject line and the message
//! attributes subscribers filter on); the caller keeps it under [`SNS_MAX_BYTES`]. A sink
//! reports per message whether it was delivered, failed for a reason that a retry may cure
//! (SNS unavailable, throttling: keep it and try again), or was refused for good (the caller
//! keeps it aside with the reason: nothing is dropped silently).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use serde::{Deserialize, Serialize};

/// SNS's limit for one message, body and attributes together (and for one `PublishBatch`).
pub const SNS_MAX_BYTES: usize = 262_144;
/// Messages in one `PublishBatch`.
pub const SNS_BATCH: usize = 10;

/// One alert, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Stable id (the finding's uid): FIFO topics deduplicate by it, subscribers may too.
    pub id: String,
    /// A short line for e-mail subscriptions (ASCII, under 100 characters).
    pub subject: String,
    /// The message itself: an alert's JSON, or a report's summary for people.
    pub body: String,
    /// String message attributes (names and values non-empty).
    pub attributes: BTreeMap<String, String>,
}

impl Message {
    /// The size SNS counts: the body, and each attribute's name, type and value.
    pub fn sns_size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + "String".len() + v.len())
                .sum::<usize>()
    }
}

/// What became of the messages handed to a sink.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Ids delivered.
    pub delivered: Vec<String>,
    /// Ids not delivered this time, with why; a later try may succeed.
    pub retry: Vec<(String, String)>,
    /// Ids the service refused for good (that message is malformed), with why.
    pub refused: Vec<(String, String)>,
}

/// A destination for alerts.
pub enum Sink {
    Sns(SnsSink),
    File(FileSink),
    Stdout,
}

impl Sink {
    /// A name for logs, the status and the spool's directory.
    pub fn name(&self) -> String {
        match self {
            Sink::Sns(s) => format!("sns:{}", s.topic_arn),
            Sink::File(f) => format!("file:{}", f.path.display()),
            Sink::Stdout => "stdout".to_string(),
        }
    }

    pub async fn send(&self, messages: &[Message]) -> Delivery {
        match self {
            Sink::Sns(s) => s.send(messages).await,
            Sink::File(f) => f.send(messages),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let mut d = Delivery::default();
                for m in messages {
                    match writeln!(out, "{}", m.body).and_then(|_| out.flush()) {
                        Ok(()) => d.delivered.push(m.id.clone()),
                        Err(e) => d.retry.push((m.id.clone(), format!("stdout: {e}"))),
                    }
                }
                d
            }
        }
    }
}

/// An SNS topic (standard or FIFO), through `PublishBatch`.
pub struct SnsSink {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl SnsSink {
    pub fn new(conf: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        SnsSink {
            client: aws_sdk_sns::Client::new(conf),
            topic_arn: topic_arn.to_string(),
        }
    }

    fn fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }

    /// Whether the topic can be read (`GetTopicAttributes`): the reason when it cannot.
    pub async fn check(&self) -> std::result::Result<(), String> {
        self.client
            .get_topic_attributes()
            .topic_arn(&self.topic_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())
    }

    /// Publish `messages`: batches of up to [`SNS_BATCH`] messages and [`SNS_MAX_BYTES`].
    pub async fn send(&self, messages: &[Message]) -> Delivery {
        let mut d = Delivery::default();
        let mut batch: Vec<&Message> = Vec::new();
        let mut bytes = 0;
        for m in messages {
            let size = m.sns_size();
            if !batch.is_empty() && (batch.len() == SNS_BATCH || bytes + size > SNS_MAX_BYTES) {
                self.publish(&batch, &mut d).await;
                batch.clear();
                bytes = 0;
            }
            batch.push(m);
            bytes += size;
        }
        if !batch.is_empty() {
            self.publish(&batch, &mut d).await;
        }
        d
    }

    async fn publish(&self, batch: &[&Message], d: &mut Delivery) {
        let mut entries = Vec::with_capacity(batch.len());
        for (i, m) in batch.iter().enumerate() {
            let mut e = PublishBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message(&m.body);
            if !m.subject.is_empty() {
                e = e.subject(&m.subject);
            }
            for (k, v) in &m.attributes {
                if k.is_empty() || v.is_empty() {
                    continue;
                }
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build();
                match value {
                    Ok(value) => e = e.message_attributes(k, value),
                    Err(err) => tracing::warn!(attribute = %k, error = %err, "attribute left out"),
                }
            }
            if self.fifo() {
                // SNS FIFO deduplicates by this id for five minutes.
                e = e
                    .message_group_id("trailhound")
                    .message_deduplication_id(&m.id);
            }
            match e.build() {
                Ok(e) => entries.push(e),
                Err(err) => d.refused.push((m.id.clone(), err.to_string())),
            }
        }
        if entries.is_empty() {
            return;
        }
        let resp = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        let id_of = |entry_id: &str| -> Option<String> {
            let i: usize = entry_id.strip_prefix('m')?.parse().ok()?;
            batch.get(i).map(|m| m.id.clone())
        };
        match resp {
            Ok(out) => {
                for s in out.successful() {
                    if let Some(id) = s.id().and_then(id_of) {
                        d.delivered.push(id);
                    }
                }
                for f in out.failed() {
                    let Some(id) = id_of(f.id()) else { continue };
                    let why = format!("{}: {}", f.code(), f.message().unwrap_or(""));
                    if f.sender_fault() {
                        d.refused.push((id, why));
                    } else {
                        d.retry.push((id, why));
                    }
                }
            }
            Err(e) => {
                // The whole call failed (unreachable, throttled, a topic that does not exist
                // or may not be published to): every message waits for the next try, and the
                // error shows in the status until an operator fixes what is wrong.
                let why = aws_sdk_sns::error::DisplayErrorContext(&e).to_string();
                for m in batch {
                    d.retry.push((m.id.clone(), why.clone()));
                }
            }
        }
    }
}

/// A file of alerts, one JSON object a line, appended to.
pub struct FileSink {
    pub path: PathBuf,
}

impl FileSink {
    pub fn new(path: &Path) -> Self {
        FileSink {
            path: path.to_path_buf(),
        }
    }

    fn send(&self, messages: &[Message]) -> Delivery {
        let mut d = Delivery::default();
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path);
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => {
                let why = format!("opening {}: {e}", self.path.display());
                d.retry = messages
                    .iter()
                    .map(|m| (m.id.clone(), why.clone()))
                    .collect();
                return d;
            }
        };
        for m in messages {
            // One write a line, so that a reader never sees half an alert.
            let mut line = Vec::with_capacity(m.body.len() + 1);
            line.extend_from_slice(m.body.as_bytes());
            line.push(b'\n');
            match file.write_all(&line) {
                Ok(()) => d.delivered.push(m.id.clone()),
                Err(e) => d.retry.push((
                    m.id.clone(),
                    format!("writing {}: {e}", self.path.display()),
                )),
            }
        }
        if let Err(e) = file.sync_data() {
            tracing::warn!(path = %self.path.display(), error = %e, "alerts file not synced");
        }
        d
    }
}

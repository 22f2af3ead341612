//! `watch.toml`: what the watch reads, where its alerts go, how often.
//!
//! ```toml
//! lake = "./lake"
//! poll_interval = "1s"
//!
//! [[cloudtrail]]
//! queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/trail-notifications"
//! [[cloudtrail]]
//! s3 = "s3://trail-bucket/AWSLogs/"
//!
//! [[lambda]]
//! log_group_prefix = "/aws/lambda/"
//!
//! [baseline]
//! model = "model.bin"
//!
//! [[sink]]
//! type = "sns"
//! topic_arn = "arn:aws:sns:us-east-1:123456789012:trailhound-alerts"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::cli::UsageError;

/// A duration written `500ms`, `1s`, `15m`, `6h` or `7d`, as microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub i64);

impl Duration {
    pub fn parse(s: &str) -> Option<Duration> {
        pipeline::time::parse_duration(s).map(Duration)
    }

    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.0.max(0) as u64)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{s:?} is not a duration (write 500ms, 1s, 15m, 6h or 7d)"
            ))
        })
    }
}

fn secs(n: i64) -> Duration {
    Duration(n * 1_000_000)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The lake new data is appended to and the detectors read (a directory or s3://).
    pub lake: String,
    /// The watch's own state: what was alerted, the alerts not delivered yet, the status.
    /// Default: `<lake>/_watch` for a lake on disk (required for a lake on S3).
    pub state_dir: Option<PathBuf>,
    /// How often the sources are polled.
    #[serde(default = "default_poll")]
    pub poll_interval: Duration,
    /// Findings are reported for activity since this long before the watch first started
    /// (at most `horizon` back); the detectors read all the lake's history either way.
    #[serde(default = "default_lookback")]
    pub lookback: Duration,
    /// What the watch remembers of alerts it sent, to never send one twice; findings older
    /// than this are neither reported nor remembered.
    #[serde(default = "default_horizon")]
    pub horizon: Duration,
    /// Detector ids to run (default: all).
    #[serde(default)]
    pub detectors: Vec<String>,
    /// How often the small files every poll commits are merged into bigger ones, so that the
    /// detectors stay fast as the lake grows ("0s": never).
    #[serde(default = "default_compaction")]
    pub compaction_interval: Duration,
    /// Extra or replacement detectors (like `detect --sql-dir`).
    pub sql_dir: Option<PathBuf>,
    #[serde(default)]
    pub cloudtrail: Vec<CloudTrailSource>,
    #[serde(default)]
    pub lambda: Vec<LambdaSource>,
    pub baseline: Option<BaselineConfig>,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
    #[serde(default)]
    pub status: StatusConfig,
}

fn default_compaction() -> Duration {
    secs(10)
}

fn default_poll() -> Duration {
    secs(1)
}
fn default_lookback() -> Duration {
    secs(3_600)
}
fn default_horizon() -> Duration {
    secs(7 * 86_400)
}

/// CloudTrail objects: announced on an SQS queue, or found by listing a prefix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTrailSource {
    /// The queue S3 event notifications of the trail's bucket go to.
    pub queue_url: Option<String>,
    /// `s3://bucket/prefix` to list on every poll (new objects are those the lake lacks).
    pub s3: Option<String>,
    /// Queue messages taken per poll at most; the rest wait for the next poll.
    #[serde(default = "default_batch")]
    pub max_per_poll: usize,
}

fn default_batch() -> usize {
    1000
}

/// Lambda log groups in CloudWatch Logs, polled with `FilterLogEvents`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaSource {
    /// One group by name…
    pub log_group: Option<String>,
    /// …or every group whose name starts so (found again on every poll).
    pub log_group_prefix: Option<String>,
    /// How long after its timestamp an event may become readable and still be read: each
    /// poll reads this far back into what the last one read (events met again are skipped).
    #[serde(default = "default_late")]
    pub late_events: Duration,
}

fn default_late() -> Duration {
    secs(15)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// A model written by `trailhound baseline train`.
    pub model: PathBuf,
    /// How often the behaviour baseline scores the recent activity.
    #[serde(default = "default_baseline_interval")]
    pub interval: Duration,
}

fn default_baseline_interval() -> Duration {
    secs(60)
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// An SNS topic: one message per finding, with message attributes.
    Sns { topic_arn: String },
    /// A file of NDJSON alerts, appended to.
    File { path: PathBuf },
    /// Standard output, one JSON alert a line. (A struct variant: unknown keys of a unit
    /// variant would be ignored.)
    Stdout {},
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// The status file (JSON, rewritten after every poll). Default: `<state_dir>/status.json`.
    pub file: Option<PathBuf>,
    /// How often a status line goes to stderr ("0s": never).
    #[serde(default = "default_status_interval")]
    pub interval: Duration,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            file: None,
            interval: default_status_interval(),
        }
    }
}

fn default_status_interval() -> Duration {
    secs(30)
}

impl Config {
    /// Read and check `path`; every error names the file (and the key, where it is one key).
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("reading {}: {e}", path.display())))?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|e| UsageError(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
        let bad = |m: String| UsageError(format!("{}: {m}", path.display()));
        // Relative paths in the file are relative to the file.
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        if !config.lake.starts_with("s3://") {
            config.lake = rel(Path::new(&config.lake)).display().to_string();
        }
        config.state_dir = config.state_dir.as_deref().map(rel);
        config.sql_dir = config.sql_dir.as_deref().map(rel);
        if let Some(b) = &mut config.baseline {
            b.model = rel(&b.model);
        }
        config.status.file = config.status.file.as_deref().map(rel);
        for s in &mut config.sinks {
            if let SinkConfig::File { path } = s {
                *path = rel(path);
            }
        }
        if config.state_dir.is_none() {
            if config.lake.starts_with("s3://") {
                return Err(bad("state_dir: a lake on S3 needs a state_dir on disk".into()).into());
            }
            config.state_dir = Some(Path::new(&config.lake).join("_watch"));
        }
        if config.poll_interval.0 < 100_000 {
            return Err(bad("poll_interval: at least 100ms".into()).into());
        }
        if config.cloudtrail.is_empty() && config.lambda.is_empty() {
            return Err(bad(
                "no sources: add a [[cloudtrail]] (queue_url or s3) or a [[lambda]] (log_group or log_group_prefix)"
                    .into(),
            )
            .into());
        }
        for (i, c) in config.cloudtrail.iter().enumerate() {
            match (&c.queue_url, &c.s3) {
                (Some(_), None) => {}
                (None, Some(s3)) if s3.starts_with("s3://") => {}
                (None, Some(s3)) => {
                    return Err(bad(format!(
                        "cloudtrail[{i}].s3: {s3:?} is not s3://bucket/prefix"
                    ))
                    .into());
                }
                _ => {
                    return Err(bad(format!("cloudtrail[{i}]: give one of queue_url or s3")).into());
                }
            }
            if c.max_per_poll == 0 {
                return Err(bad(format!("cloudtrail[{i}].max_per_poll: at least 1")).into());
            }
        }
        for (i, l) in config.lambda.iter().enumerate() {
            if l.log_group.is_some() == l.log_group_prefix.is_some() {
                return Err(bad(format!(
                    "lambda[{i}]: give one of log_group or log_group_prefix"
                ))
                .into());
            }
        }
        if config.sinks.is_empty() {
            return Err(bad(
                "no sinks: add a [[sink]] with type = \"sns\" (topic_arn), \"file\" (path) or \"stdout\""
                    .into(),
            )
            .into());
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("watch.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("500ms"), Some(Duration(500_000)));
        assert_eq!(Duration::parse("2s"), Some(Duration(2_000_000)));
        assert_eq!(Duration::parse("1h"), Some(Duration(3_600_000_000)));
        assert_eq!(Duration::parse("soon"), None);
    }

    #[test]
    fn a_whole_config() {
        let c = load(
            r#"
lake = "lake"
poll_interval = "2s"
[[cloudtrail]]
queue_url = "http://127.0.0.1:1/123456789012/q"
[[lambda]]
log_group_prefix = "/aws/lambda/"
late_events = "30s"
[baseline]
model = "m.json"
[[sink]]
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:t"
[[sink]]
type = "stdout"
"#,
        )
        .unwrap();
        assert_eq!(c.poll_interval, Duration(2_000_000));
        assert!(c.lake.ends_with("/lake"));
        assert!(c.state_dir.unwrap().ends_with("lake/_watch"));
        assert_eq!(c.lambda[0].late_events, Duration(30_000_000));
        assert!(matches!(c.sinks[1], SinkConfig::Stdout {}));
        assert!(c.baseline.unwrap().model.is_absolute());
    }

    #[test]
    fn the_readme_example_is_a_valid_config() {
        let readme = include_str!("../../docs/watch.md");
        let at = readme.find("## The configuration file").unwrap();
        let block = &readme[at..];
        let start = block.find("```toml\n").unwrap() + 8;
        let end = start + block[start..].find("```").unwrap();
        let c = load(&block[start..end]).unwrap();
        assert_eq!(c.cloudtrail.len(), 1);
        assert_eq!(c.sinks.len(), 2);
        assert!(c.baseline.is_some());
    }

    #[test]
    fn errors_name_the_key() {
        let base = "lake = \"l\"\n[[lambda]]\nlog_group = \"/aws/lambda/f\"\n[[sink]]\ntype = \"stdout\"\n";
        let e = load(&format!("pol_interval = \"1s\"\n{base}")).unwrap_err();
        assert!(e.contains("pol_interval"), "{e}");
        let e = load(&format!("{base}colour = \"red\"\n")).unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let e = load(&base.replace("type = \"stdout\"", "type = \"pager\"")).unwrap_err();
        assert!(e.contains("pager"), "{e}");
        let e = load(&format!("poll_interval = \"fast\"\n{base}")).unwrap_err();
        assert!(
            e.contains("poll_interval") && e.contains("not a duration"),
            "{e}"
        );
        let e = load(&base.replace("log_group =", "log_group_prefix = \"x\"\nlog_group ="))
            .unwrap_err();
        assert!(e.contains("lambda[0]"), "{e}");
        let e = load(&base.replace("[[sink]]\ntype = \"stdout\"\n", "")).unwrap_err();
        assert!(e.contains("no sinks"), "{e}");
        let e = load("lake = \"l\"\n[[sink]]\ntype = \"sns\"\ntopic = \"x\"\n").unwrap_err();
        assert!(e.contains("topic"), "{e}");
    }
}

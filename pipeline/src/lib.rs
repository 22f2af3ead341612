//! trailhound's data pipeline: where records come from (local files, S3, CloudWatch Logs,
//! IAM), how they are parsed into Arrow columns, and how they land in the Parquet lake with a
//! manifest and a quarantine.
//!
//! Module map, from the bottom up (a module uses only those above it in this list, and
//! [`error`], [`time`], [`gzip`]):
//! - [`s3`]: every S3 call (list a prefix, get, put, delete) and `s3://` addresses.
//! - [`files`]: local files (the directory walk).
//! - [`aws`]: AWS SDK configuration shared by every AWS client.
//! - [`source`]: listing and fetching source objects (files, directories, `s3://`).
//! - [`lake`]: lake locations, the partitioned Parquet writer, `_manifest`, `_quarantine` and
//!   compaction.
//! - [`ingest`]: what every ingest shares: the AWS [`ingest::Clients`] and the
//!   [`ingest::Progress`] counters.
//! - [`cloudtrail`]: the CloudTrail reader (every input shape, streaming, lenient), its Arrow
//!   schema and column builders, and its ingest ([`cloudtrail::ingest`]).
//! - [`lambda`]: Lambda function log lines (platform and application, text and JSON), read
//!   from files, S3 and CloudWatch Logs, and their ingest ([`lambda::ingest`]).
//! - [`iam`]: IAM authorization details (a file, S3 or the live IAM API) and their ingest
//!   into the `iam` table ([`iam::ingest`]).
//! - [`sqs`]: S3 event notifications read from an SQS queue (new CloudTrail objects).
//! - [`sink`]: where alerts go (SNS, a file, standard output).
//! - [`labels`]: `labels.json`, the ground truth of a simulated account (its format).

pub mod aws;
pub mod cloudtrail;
pub mod error;
pub mod files;
pub mod gzip;
pub mod iam;
pub mod ingest;
pub mod labels;
pub mod lake;
pub mod lambda;
pub mod s3;
pub mod sink;
pub mod source;
pub mod sqs;
pub mod time;

pub use error::{Error, Result};

//! trailhound's data pipeline: where records come from (local files, S3), how CloudTrail
//! records are parsed into Arrow columns, and how they land in the Parquet lake with a
//! manifest and a quarantine.
//!
//! Module map:
//! - [`source`]: listing and reading source objects (files, directories, `s3://`).
//! - [`cloudtrail`]: the CloudTrail reader (every input shape, streaming, lenient) and its
//!   Arrow schema and column builders.
//! - [`lambda`]: Lambda function log lines (platform and application, text and JSON).
//! - [`lake`]: lake locations, the partitioned Parquet writer, `_manifest` and `_quarantine`.
//! - [`ingest`]: the ingest run that wires sources, parsers and the lake together.
//! - [`labels`]: `labels.json`, the ground truth of a simulated account (its format).
//! - [`iam`]: IAM authorization details (a file or the live IAM API) into the `iam` table.
//! - [`aws`]: AWS SDK configuration shared by every AWS client.
//! - [`sqs`]: S3 event notifications read from an SQS queue (new CloudTrail objects).
//! - [`sink`]: where alerts go (SNS, a file, standard output).

pub mod aws;
pub mod cloudtrail;
pub mod error;
pub mod gzip;
pub mod iam;
pub mod ingest;
pub mod labels;
pub mod lake;
pub mod lambda;
pub mod sink;
pub mod source;
pub mod sqs;
pub mod time;

pub use error::{Error, Result};

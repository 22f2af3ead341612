//! The pipeline's error type: one enum, every variant naming the input it concerns.

use std::path::PathBuf;

/// A `Result` with the pipeline's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a pipeline operation. Bad *records* are never errors: they are
/// quarantined and counted. These are failures of whole operations (a lake that cannot be
/// written, a bucket that cannot be listed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A local file or directory could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A source or lake address that trailhound does not understand.
    #[error("invalid address {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },

    /// An S3 request failed.
    #[error("s3 {op} s3://{bucket}/{key}: {message}")]
    S3 {
        op: &'static str,
        bucket: String,
        key: String,
        message: String,
    },

    /// Writing a Parquet file failed.
    #[error("writing parquet {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Building an Arrow batch failed (a bug: the builders disagree with the schema).
    #[error("building arrow batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// A manifest file of the lake could not be parsed.
    #[error("lake manifest {path}: {message}")]
    Manifest { path: String, message: String },

    /// The lake is in use by another ingest.
    #[error("lake {lake} is locked by another ingest ({detail}); wait for it to finish")]
    Locked { lake: String, detail: String },

    /// An input that is not what the command reads (named, with the reason).
    #[error("{source_uri}: {reason}")]
    InvalidInput { source_uri: String, reason: String },

    /// A request to an AWS service other than S3 failed.
    #[error("{service} {op}: {message}")]
    Aws {
        service: &'static str,
        op: &'static str,
        message: String,
    },

    /// A simulation's ground-truth file (`labels.json`) could not be read.
    #[error("labels {}: {reason}", path.display())]
    Labels { path: PathBuf, reason: String },

    /// A worker thread stopped unexpectedly.
    #[error("ingest worker failed: {0}")]
    Worker(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn s3(
        op: &'static str,
        bucket: &str,
        key: &str,
        err: impl std::error::Error,
    ) -> Self {
        // The SDK's Display is terse ("service error"); its source chain says what happened.
        let mut message = err.to_string();
        let mut cur = err.source();
        while let Some(e) = cur {
            message.push_str(": ");
            message.push_str(&e.to_string());
            cur = e.source();
        }
        Error::S3 {
            op,
            bucket: bucket.to_string(),
            key: key.to_string(),
            message,
        }
    }
}

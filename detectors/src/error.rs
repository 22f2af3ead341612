//! The detectors crate's error type.

use std::path::PathBuf;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lake could not be opened.
    #[error(transparent)]
    Lake(#[from] pipeline::Error),

    /// A query failed to plan or run; the message says where.
    #[error("{context}: {source}")]
    Query {
        context: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },

    /// S3 access for the query engine could not be set up.
    #[error("s3 lake {bucket}: {message}")]
    ObjectStore { bucket: String, message: String },

    /// A detector's files are invalid or its SQL failed; `path` names the file.
    #[error("{path}: {message}")]
    Detector { path: String, message: String },

    /// `--detector` named no detector.
    #[error("no detector {id:?}; known: {known}")]
    UnknownDetector { id: String, known: String },

    /// The command cannot do what was asked with this lake or these arguments (said why).
    #[error("{0}")]
    Usage(String),

    /// The detection history kept in the lake could not be written or read.
    #[error("detection history {path}: {message}")]
    History { path: String, message: String },

    /// A baseline model file could not be read, written or used.
    #[error("baseline model {path}: {message}")]
    Model { path: String, message: String },

    /// A local file or directory (a report's) could not be written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

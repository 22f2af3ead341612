//! The simulator's error type: one enum, every variant naming the input it concerns.

use std::path::PathBuf;

/// A `Result` with the simulator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option the simulator cannot work with (`--functions 0`).
    #[error("{option} must be at least 1")]
    TooFew { option: &'static str },

    /// Days to simulate outside the simulation's days (`--only-days`).
    #[error("--only-days {first}-{last}: the days of a --days {days} simulation are 1 to {days}")]
    DayRange { first: u32, last: u32, days: u32 },

    /// A small anomaly asked for without the low-volume functions it hits.
    #[error("attack {attack} hits low-volume functions: add some with --low-volume N")]
    NeedsLowVolume { attack: &'static str },

    /// An attack list naming a kind the simulator does not know.
    #[error("unknown attack {name:?}; known: all, none, {known}")]
    UnknownAttack { name: String, known: String },

    /// A local file or directory could not be read or written.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `--to` is not an `s3://bucket/prefix` address.
    #[error("{uri} is not an s3://bucket/prefix address")]
    NotS3 { uri: String },

    /// Creating the bucket or putting a file into it failed (the error names the object).
    #[error("uploading {} to {uri}: {source}", path.display())]
    Upload {
        uri: String,
        path: PathBuf,
        #[source]
        source: Box<pipeline::Error>,
    },

    /// A CloudWatch Logs request failed.
    #[error("{op} {group} {stream}: {message}")]
    Logs {
        op: &'static str,
        group: String,
        stream: String,
        message: String,
    },

    /// CloudWatch Logs refused events (too old, or too far in the future).
    #[error(
        "CloudWatch Logs rejected events of {group} {stream} ({detail}): it accepts events of the last 14 days only; simulate with --start within that"
    )]
    Rejected {
        group: String,
        stream: String,
        detail: String,
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

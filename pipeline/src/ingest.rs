//! What the three ingests share. Each lives beside what it reads:
//! [`crate::cloudtrail::ingest`], [`crate::lambda::ingest`] and [`crate::iam::ingest`], and
//! each takes its inputs the same way: `(sources, lake, clients, options, progress)`, where
//! the sources are what the user named (files, directories, `s3://…`, `cwl://…`, `iam://`),
//! [`Clients`] the AWS clients it may need and [`Progress`] counters a display polls.
//! Listing and fetching source objects is [`crate::source`]'s.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The AWS clients an ingest may need: S3 for `s3://` sources and lakes, CloudWatch Logs for
/// `cwl://` sources, IAM for `iam://`. A source whose client is missing fails, naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clients<'a> {
    pub s3: Option<&'a crate::s3::Client>,
    pub logs: Option<&'a aws_sdk_cloudwatchlogs::Client>,
    pub iam: Option<&'a aws_sdk_iam::Client>,
}

/// Counters a progress display can poll while an ingest runs; clones share them (an
/// ingest's worker threads each hold one).
#[derive(Debug, Default, Clone)]
pub struct Progress(Arc<Counters>);

/// The counters of a [`Progress`].
#[derive(Debug, Default)]
pub struct Counters {
    /// Objects (or log groups) to read, once listed.
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    pub quarantined: AtomicU64,
}

impl std::ops::Deref for Progress {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        &self.0
    }
}

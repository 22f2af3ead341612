//! Integration tests of the `trailhound` binary, built as one test binary so that linking
//! happens once. S3 tests talk to the local AWS emulator that `scripts/test` starts.

mod bad_input;
mod baseline;
mod cluster;
mod common;
mod detect;
mod docs;
mod drift;
mod incremental;
mod ingest_local;
mod ingest_s3;
mod lambda_cwl;
mod lambda_logs;
mod query;
mod s3_lake;
mod sample_data;
mod simulate;
mod watch;

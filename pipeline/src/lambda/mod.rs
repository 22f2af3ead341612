//! Lambda function logs: reading log files and payloads ([`file`]), recognising each line of both log formats ([`line`]), merging the
//! lines of one request id into one invocation ([`invocation`]), and the `lambda_invocations`
//! and `lambda_logs` tables ([`table`]), and the ingest from files and S3 ([`ingest`]).

pub mod cwl;
pub mod file;
pub mod ingest;
pub mod invocation;
pub mod line;
pub mod table;

//! Lambda function logs: recognising each line of both log formats ([`line`]) and merging
//! the lines of one request id into one invocation ([`invocation`]). The ingest of CloudWatch
//! Logs into `lambda_invocations` and `lambda_logs` builds on them.

pub mod invocation;
pub mod line;

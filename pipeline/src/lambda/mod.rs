//! Lambda function logs: recognising each line of both log formats ([`line`]). The ingest of
//! CloudWatch Logs into `lambda_invocations` and `lambda_logs` builds on it.

pub mod line;

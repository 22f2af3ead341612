//! AWS SDK configuration shared by every client: the standard chain (environment, profile,
//! `AWS_ENDPOINT_URL`), so the same binary talks to AWS or to a local emulator.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Load the SDK configuration from the standard chain. Without a configured region,
/// `us-east-1` is used (S3 needs one to sign requests).
pub async fn sdk_config() -> SdkConfig {
    let conf = aws_config::defaults(BehaviorVersion::latest()).load().await;
    if conf.region().is_some() {
        return conf;
    }
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .load()
        .await
}

/// An S3 client (its calls are all in [`crate::s3`]); path-style addressing when an endpoint
/// is set (emulators and most S3-compatible stores do not serve virtual-hosted buckets).
pub fn s3_client(conf: &SdkConfig) -> crate::s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(conf);
    if conf.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    crate::s3::Client::from_conf(builder.build())
}

/// An IAM client (for `iam://`, read in [`crate::iam`]).
pub fn iam_client(conf: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(conf)
}

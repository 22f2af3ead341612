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

/// An S3 client; path-style addressing when an endpoint is set (emulators and most
/// S3-compatible stores do not serve virtual-hosted buckets).
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(conf);
    if conf.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Create `bucket` unless it exists (HeadBucket, then CreateBucket).
pub async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> crate::Result<()> {
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| crate::Error::s3("CreateBucket", bucket, "", e))?;
    Ok(())
}

/// Split `s3://bucket/prefix` into bucket and prefix (without a leading slash).
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris() {
        assert_eq!(parse_s3_uri("s3://b/p/q"), Some(("b".into(), "p/q".into())));
        assert_eq!(parse_s3_uri("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_uri("s3:///x"), None);
        assert_eq!(parse_s3_uri("/tmp/x"), None);
    }
}

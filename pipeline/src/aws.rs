//! AWS SDK configuration shared by every client: the standard chain (environment, profile,
//! `AWS_ENDPOINT_URL`), so the same binary talks to AWS or to a local emulator.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The AWS CLI's global `--profile` and `--region`, when given: they take precedence over
/// the environment and the config files.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub region: Option<String>,
}

static OVERRIDES: std::sync::OnceLock<Overrides> = std::sync::OnceLock::new();

/// Set the process's [`Overrides`] (once, when its command line is read).
pub fn set_overrides(overrides: Overrides) {
    let _ = OVERRIDES.set(overrides);
}

fn loader() -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(o) = OVERRIDES.get() {
        if let Some(profile) = &o.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &o.region {
            loader = loader.region(Region::new(region.clone()));
        }
    }
    loader
}

/// Load the SDK configuration from the standard chain (environment, profile, SSO, web
/// identity, container and instance roles), with `--profile` and `--region` when given.
/// Without a configured region, `us-east-1` is used (S3 needs one to sign requests).
pub async fn sdk_config() -> SdkConfig {
    let conf = loader().load().await;
    if conf.region().is_some() {
        return conf;
    }
    loader().region(Region::new("us-east-1")).load().await
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

/// The region to reach `bucket` in (see [`crate::s3::region_of`]: asked of S3 once per
/// bucket and process, shared with the S3 calls).
pub async fn bucket_region(conf: &SdkConfig, bucket: &str) -> Option<String> {
    crate::s3::region_of(&s3_client(conf), bucket).await
}

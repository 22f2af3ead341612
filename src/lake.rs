//! Opening the lake a command reads, and a query session over it.

use std::path::Path;

use anyhow::Context;
use datafusion::prelude::SessionContext;
use pipeline::lake::Lake;

use crate::cli::UsageError;

/// The engine the read-side commands run their queries on (the global `--engine`), set once
/// when the command line is read.
static ENGINE: std::sync::OnceLock<detectors::cluster::Engine> = std::sync::OnceLock::new();

pub fn set_engine(engine: detectors::cluster::Engine) {
    let _ = ENGINE.set(engine);
}

pub fn engine() -> &'static detectors::cluster::Engine {
    static LOCAL: detectors::cluster::Engine = detectors::cluster::Engine::Local;
    ENGINE.get().unwrap_or(&LOCAL)
}

/// Open a lake (a directory or s3://, with the AWS configuration chain) and a session over it
/// with `views`.
pub async fn open_session(
    uri: &str,
    views: &[detectors::views::View],
) -> anyhow::Result<(Lake, SessionContext)> {
    let (lake, _, ctx) = open_session_with_sdk(uri, views).await?;
    Ok((lake, ctx))
}

/// [`open_session`], with the AWS configuration of an S3 lake.
async fn open_session_with_sdk(
    uri: &str,
    views: &[detectors::views::View],
) -> anyhow::Result<(Lake, Option<aws_config::SdkConfig>, SessionContext)> {
    let (s3, sdk) = if uri.starts_with("s3://") {
        let sdk = pipeline::aws::sdk_config().await;
        (Some(pipeline::aws::s3_client(&sdk)), Some(sdk))
    } else {
        (None, None)
    };
    let lake = Lake::open(uri, s3).with_context(|| format!("opening lake {uri}"))?;
    let ctx = detectors::session::open_on(&lake, sdk.as_ref(), views, engine()).await?;
    Ok((lake, sdk, ctx))
}

/// Open a lake that exists (local or S3) and a session over it with `views`.
pub async fn open_lake(
    uri: &str,
    views: &[detectors::views::View],
) -> anyhow::Result<(Lake, SessionContext)> {
    let (lake, _, ctx) = open_lake_with_sdk(uri, views).await?;
    Ok((lake, ctx))
}

/// [`open_lake`], with the AWS configuration of an S3 lake.
pub async fn open_lake_with_sdk(
    uri: &str,
    views: &[detectors::views::View],
) -> anyhow::Result<(Lake, Option<aws_config::SdkConfig>, SessionContext)> {
    if !uri.starts_with("s3://") && !Path::new(uri).is_dir() {
        return Err(UsageError(format!(
            "lake {uri} is not a directory (ingest into it first)"
        ))
        .into());
    }
    open_session_with_sdk(uri, views).await
}

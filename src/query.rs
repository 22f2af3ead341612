//! `trailhound query`

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use datafusion::prelude::SessionContext;
use pipeline::lake::Lake;

use crate::cli::{Format, QueryArgs};
use crate::output::write_batches;

/// Open a lake (a directory or s3://, with the AWS configuration chain) and a session over it
/// with `views`.
pub async fn open_session(
    uri: &str,
    views: &[detectors::views::View],
) -> anyhow::Result<(Lake, SessionContext)> {
    let (s3, sdk) = if uri.starts_with("s3://") {
        let sdk = pipeline::aws::sdk_config().await;
        (Some(pipeline::aws::s3_client(&sdk)), Some(sdk))
    } else {
        (None, None)
    };
    let lake = Lake::open(uri, s3).with_context(|| format!("opening lake {uri}"))?;
    let ctx = detectors::session::open_with(&lake, sdk.as_ref(), views).await?;
    Ok((lake, ctx))
}

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (_, ctx) = open_session(&args.lake, &detectors::views::embedded()).await?;
    let batches = detectors::session::run_sql(&ctx, &args.sql).await?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Ndjson
    });
    if format == Format::Parquet {
        return Err(crate::UsageError(
            "--format parquet writes a file: use `trailhound detect --out`, or CSV/NDJSON here"
                .into(),
        )
        .into());
    }
    let stdout = std::io::stdout();
    write_batches(&mut stdout.lock(), &batches, format)?;
    Ok(ExitCode::SUCCESS)
}

//! `trailhound query`

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use pipeline::lake::Lake;

use crate::cli::{Format, QueryArgs};
use crate::output::write_batches;

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (s3, sdk) = if args.lake.starts_with("s3://") {
        let sdk = pipeline::aws::sdk_config().await;
        (Some(pipeline::aws::s3_client(&sdk)), Some(sdk))
    } else {
        (None, None)
    };
    let lake = Lake::open(&args.lake, s3).with_context(|| format!("opening lake {}", args.lake))?;
    let ctx = detectors::session::open(&lake, sdk.as_ref()).await?;
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

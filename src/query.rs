//! `trailhound query`

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::{Format, QueryArgs};
use crate::output::write_batches;

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (_, ctx) = crate::lake::open_session(&args.lake.uri, &detectors::views::embedded()).await?;
    let batches = detectors::session::run_sql(&ctx, &args.sql).await?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Ndjson
    });
    if format == Format::Parquet {
        return Err(crate::cli::UsageError(
            "--format parquet writes a file: use `trailhound detect --out`, or CSV/NDJSON here"
                .into(),
        )
        .into());
    }
    let stdout = std::io::stdout();
    write_batches(&mut stdout.lock(), &batches, format)?;
    Ok(ExitCode::SUCCESS)
}

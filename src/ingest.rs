//! `trailhound ingest …`

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use pipeline::cloudtrail::ingest::{CloudTrailOptions, CloudTrailSummary, ingest_cloudtrail};
use pipeline::iam::ingest::{IamOptions, ingest_iam};
use pipeline::ingest::{Clients, Progress};
use pipeline::lake::Lake;
use pipeline::lambda::cwl::{group_of, logs_client};
use pipeline::lambda::ingest::{LambdaOptions, ingest_lambda_logs};

use crate::cli::UsageError;
use crate::cli::{IngestCloudTrailArgs, IngestIamArgs, IngestLambdaArgs};
use crate::progress::ingest_bar;

pub async fn cloudtrail(args: IngestCloudTrailArgs) -> anyhow::Result<ExitCode> {
    let (lake, s3) = open_lake(&args.lake.uri, &args.sources).await?;
    let mut opts = CloudTrailOptions {
        zstd_level: args.zstd_level,
        ..CloudTrailOptions::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    cancel_on_ctrl_c(
        opts.cancel.clone(),
        "interrupted: finishing the current segment; run the same command again to continue",
    );

    let clients = Clients {
        s3: s3.as_ref(),
        ..Clients::default()
    };
    let progress = Progress::default();
    let bar = ingest_bar(progress.clone(), "files");
    let result = ingest_cloudtrail(&args.sources, &lake, &clients, &opts, &progress).await;
    bar.finish().await;
    let summary = result.context("ingest failed")?;

    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    for e in &summary.errors {
        eprintln!("error: {e}");
    }
    Ok(if summary.files_failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn lambda_logs(args: IngestLambdaArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = args.time.micros()?;
    let ms = |us: Option<i64>| us.map(|us| us.div_euclid(1000));
    let (since_ms, until_ms) = (ms(since), ms(until));
    if let (Some(s), Some(u)) = (since_ms, until_ms)
        && s > u
    {
        return Err(UsageError("--since is after --until".into()).into());
    }
    let reads_cwl = args.sources.iter().any(|s| group_of(s).is_some());
    if (since_ms.is_some() || until_ms.is_some()) && !reads_cwl {
        return Err(UsageError(
            "--since and --until bound CloudWatch Logs reads (cwl://…); files are read whole"
                .into(),
        )
        .into());
    }
    let (lake, s3) = open_lake(&args.lake.uri, &args.sources).await?;
    let logs = if reads_cwl {
        Some(logs_client(&pipeline::aws::sdk_config().await))
    } else {
        None
    };
    let opts = LambdaOptions {
        log_group: args.log_group.clone(),
        zstd_level: args.zstd_level,
        log_group_prefix: Some(args.log_group_prefix.clone()),
        since_ms,
        until_ms,
        ..LambdaOptions::default()
    };
    cancel_on_ctrl_c(
        opts.cancel.clone(),
        "interrupted: committing what was read; run the same command again to continue",
    );
    let clients = Clients {
        s3: s3.as_ref(),
        logs: logs.as_ref(),
        ..Clients::default()
    };
    let progress = Progress::default();
    let bar = ingest_bar(progress.clone(), "sources");
    let result = ingest_lambda_logs(&args.sources, &lake, &clients, &opts, &progress).await;
    bar.finish().await;
    let s = result.context("ingest failed")?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        let groups = if s.log_groups_read + s.log_groups_failed > 0 {
            format!(" and {} log groups", s.log_groups_read)
        } else {
            String::new()
        };
        println!(
            "ingested {} log events from {} files{groups} into {} in {:.2} s: {} invocations, {} log lines",
            s.log_events,
            s.files_read,
            s.lake,
            s.seconds,
            s.invocations_written,
            s.log_lines_written
        );
        if s.invocations_open > 0 {
            println!(
                "  {} invocations not finished in what was read; the next run completes them",
                s.invocations_open
            );
        }
        if s.files_already_ingested > 0 {
            println!("  {} files already in the lake", s.files_already_ingested);
        }
        if s.records_quarantined > 0 {
            println!(
                "  quarantined: {} unreadable parts, with reasons, in {}/_quarantine/lambda/",
                s.records_quarantined, s.lake
            );
        }
        if s.log_groups_failed > 0 {
            println!(
                "  {} log groups could not be read (errors below); what was read is kept and the next run continues",
                s.log_groups_failed
            );
        }
        if s.interrupted {
            println!("  interrupted: run the same command again to ingest the rest");
        }
    }
    for e in &s.errors {
        eprintln!("error: {e}");
    }
    Ok(if s.files_failed > 0 || s.log_groups_failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn iam(args: IngestIamArgs) -> anyhow::Result<ExitCode> {
    let mut opts = IamOptions::default();
    if let Some(d) = &args.date {
        opts.date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|e| UsageError(format!("--date {d:?}: {e} (expected YYYY-MM-DD)")))?;
    }
    let sources = std::slice::from_ref(&args.source);
    let (lake, s3) = open_lake(&args.lake.uri, sources).await?;
    let iam = if args.source.starts_with("iam://") {
        Some(pipeline::aws::iam_client(
            &pipeline::aws::sdk_config().await,
        ))
    } else {
        None
    };
    let clients = Clients {
        s3: s3.as_ref(),
        iam: iam.as_ref(),
        ..Clients::default()
    };
    let mut summaries = ingest_iam(sources, &lake, &clients, &opts, &Progress::default())
        .await
        .context("ingest iam failed")?;
    let s = summaries.remove(0);
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "iam snapshot of account {} on {}: {} roles ({} Lambda function roles), {} users, {} groups, \
             {} managed policies, {} rows into {}{}",
            s.account_id,
            s.snapshot_date,
            s.roles,
            s.function_roles,
            s.users,
            s.groups,
            s.managed_policies,
            s.rows,
            s.lake,
            if s.replaced {
                " (replacing that day's earlier snapshot)"
            } else {
                ""
            }
        );
    }
    for u in &s.unreadable {
        eprintln!(
            "warning: {} policy {}: {} (left out)",
            u.principal_arn, u.policy, u.reason
        );
    }
    if s.statements_unreadable > s.unreadable.len() {
        eprintln!(
            "warning: {} more unreadable statements",
            s.statements_unreadable - s.unreadable.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The lake, and an S3 client when the lake or a source is on S3.
async fn open_lake(
    lake: &str,
    sources: &[String],
) -> anyhow::Result<(Lake, Option<aws_sdk_s3::Client>)> {
    let needs_s3 = lake.starts_with("s3://") || sources.iter().any(|s| s.starts_with("s3://"));
    let s3 = if needs_s3 {
        Some(pipeline::aws::s3_client(&pipeline::aws::sdk_config().await))
    } else {
        None
    };
    let lake = Lake::open(lake, s3.clone()).with_context(|| format!("opening lake {lake}"))?;
    Ok((lake, s3))
}

/// On Ctrl-C, say `message` and raise `cancel`: the ingest commits what it has and stops.
fn cancel_on_ctrl_c(cancel: Arc<AtomicBool>, message: &'static str) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("{message}");
            cancel.store(true, Ordering::Relaxed);
        }
    });
}

fn print_summary(s: &CloudTrailSummary) {
    let rate = s.events_ingested as f64 / s.seconds.max(1e-9);
    println!(
        "ingested {} events from {} files into {} in {:.2} s ({:.0} events/s)",
        s.events_ingested, s.files_read, s.lake, s.seconds, rate
    );
    if s.files_already_ingested > 0 {
        println!(
            "  {} files already in the lake ({} events not added again)",
            s.files_already_ingested, s.events_duplicate
        );
    }
    if s.files_skipped > 0 {
        println!(
            "  {} files skipped (digests and other non-event files)",
            s.files_skipped
        );
    }
    if s.files_quarantined > 0 || s.records_quarantined > 0 {
        println!(
            "  quarantined: {} files, {} records, with reasons, in {}/_quarantine/cloudtrail/",
            s.files_quarantined, s.records_quarantined, s.lake
        );
    }
    if s.orphans_removed > 0 {
        println!(
            "  removed {} files of an earlier ingest that did not finish",
            s.orphans_removed
        );
    }
    if s.files_failed > 0 {
        println!(
            "  {} files could not be read; they are retried on the next run",
            s.files_failed
        );
    }
    if s.interrupted {
        println!("  interrupted: run the same command again to ingest the rest");
    }
}

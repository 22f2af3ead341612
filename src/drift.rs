//! `trailhound drift`: the least-privilege drift report (detectors::iam::drift) written by
//! detectors::report as report.json (the next run's --previous), report.md, a self-contained
//! report.html with charts, and one suggested policy per role; uploaded to S3 and summarised
//! to an SNS topic on request.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use detectors::iam::drift::{self, Options, Report};
use detectors::report;
use pipeline::lake::Lake;
use pipeline::sink::{Message, SnsSink};

use crate::cli::DriftArgs;
use crate::cli::UsageError;

pub async fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let window = pipeline::time::parse_duration(&args.window).ok_or_else(|| {
        UsageError(format!(
            "--window {:?}: use an age such as 90d, 12h or 30m",
            args.window
        ))
    })?;
    let previous: Option<Report> = match &args.previous {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --previous {}", path.display()))?;
            let report: Report = serde_json::from_str(&text).map_err(|e| {
                UsageError(format!(
                    "--previous {}: not a trailhound drift report: {e}",
                    path.display()
                ))
            })?;
            if report.schema != drift::SCHEMA {
                return Err(UsageError(format!(
                    "--previous {}: report schema {:?}, this trailhound reads {:?}",
                    path.display(),
                    report.schema,
                    drift::SCHEMA
                ))
                .into());
            }
            Some(report)
        }
        None => None,
    };
    let (_lake, ctx) =
        crate::lake::open_session(&args.lake.uri, &detectors::views::embedded()).await?;
    let now = chrono::Utc::now().timestamp_micros();
    let until = match &args.until {
        Some(t) => pipeline::time::parse_time_spec(t, now)
            .map_err(|e| UsageError(format!("--until: {e}")))?,
        // Just after the latest event, so that it is inside the window.
        None => drift::latest_event(&ctx).await?.map_or(now, |t| t + 1),
    };
    let opts = Options {
        since: until - window,
        until,
        roles: args.roles.clone(),
    };
    let report = match drift::report(&ctx, &opts, previous.as_ref()).await {
        Ok(r) => r,
        Err(detectors::Error::Usage(m)) => return Err(UsageError(m).into()),
        Err(e) => return Err(e.into()),
    };
    report::write(&args.out, &report)?;
    let published = match &args.publish {
        Some(prefix) => Some(publish(&args.out, prefix, &report).await?),
        None => None,
    };
    if let Some(topic) = &args.sns_topic {
        notify(
            topic,
            &report,
            published
                .as_deref()
                .unwrap_or(&args.out.display().to_string()),
        )
        .await?;
    }
    let s = &report.summary;
    println!(
        "drift report over {} to {}: {} roles ({} Lambda function roles), {} with unused \
         permissions, {} unused actions ({} that change things); written to {}",
        report.window.since,
        report.window.until,
        s.roles,
        s.function_roles,
        s.roles_with_unused,
        s.unused_actions,
        s.unused_sensitive_actions,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Upload the report's files under `prefix/<generated day>/`; the report's S3 address.
async fn publish(dir: &Path, prefix: &str, report: &Report) -> anyhow::Result<String> {
    if pipeline::s3::parse_uri(prefix).is_none() {
        return Err(
            UsageError(format!("--publish {prefix:?}: expected s3://bucket/prefix")).into(),
        );
    }
    let s3 = pipeline::aws::s3_client(&pipeline::aws::sdk_config().await);
    let lake = Lake::open(prefix, Some(s3))?;
    let day = report.generated_at.get(..10).unwrap_or("report");
    let mut files = Vec::new();
    pipeline::lake::walk(dir, &mut |p| files.push(p.to_path_buf()))
        .with_context(|| format!("listing {}", dir.display()))?;
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let body = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        lake.put_bytes(&format!("{day}/{rel}"), body).await?;
    }
    Ok(format!("{}/{day}/report.html", lake.uri()))
}

/// Publish the report's summary to an SNS topic, with the message attribute
/// `kind = drift-report` for subscribers to filter on.
async fn notify(topic: &str, report: &Report, location: &str) -> anyhow::Result<()> {
    let sns = SnsSink::new(&pipeline::aws::sdk_config().await, topic);
    let message = Message {
        id: format!("drift-report-{}", uuid::Uuid::now_v7()),
        subject: "trailhound least-privilege drift report".into(),
        body: report::summary_text(report, location),
        attributes: BTreeMap::from([("kind".to_string(), "drift-report".to_string())]),
    };
    let delivery = sns.send(std::slice::from_ref(&message)).await;
    match delivery.retry.iter().chain(&delivery.refused).next() {
        Some((_, why)) => Err(anyhow::anyhow!("sns Publish {topic}: {why}")),
        None => Ok(()),
    }
}

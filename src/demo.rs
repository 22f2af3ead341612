//! `trailhound simulate` and `trailhound demo`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use pipeline::cloudtrail::ingest::{CloudTrailOptions, ingest_cloudtrail};
use pipeline::iam::ingest::{IamOptions, ingest_iam};
use pipeline::ingest::{Clients, Progress};
use pipeline::labels::Labels;
use pipeline::lake::Lake;
use pipeline::lambda::ingest::{LambdaOptions, ingest_lambda_logs};
use pipeline::time::parse_time_spec;
use serde_json::json;

use detectors::finding::Finding;
use detectors::registry::Registry;
use detectors::runner::Scope;

use crate::cli::UsageError;
use crate::cli::{DemoArgs, SimulateArgs};
use simulator::attacks;

pub async fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let kinds =
        attacks::parse_list(&args.attacks).map_err(|e| UsageError(format!("--attacks: {e}")))?;
    let now_us = chrono::Utc::now().timestamp_micros();
    let start_ms = parse_time_spec(&args.start, now_us)
        .map_err(|e| UsageError(format!("--start: {e}")))?
        .div_euclid(1000);
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UsageError(format!(
            "--account {:?}: an account id has 12 digits",
            args.account
        ))
        .into());
    }
    let opts = simulator::Options {
        out: args.out.clone(),
        functions: args.functions,
        low_volume: args.low_volume,
        days: args.days,
        seed: args.seed,
        attacks: kinds,
        events_per_day: args.events_per_day,
        start_ms,
        account: args.account.clone(),
        region: args.region.clone(),
        threads: args.threads.unwrap_or(0),
        only_days: args.only_days.clone(),
    };
    let summary = tokio::task::spawn_blocking(move || simulator::run(&opts))
        .await?
        .map_err(|e| match e {
            // Days the simulation does not have: the command line's fault.
            simulator::Error::DayRange { .. } => anyhow::Error::from(UsageError(e.to_string())),
            e => e.into(),
        })?;
    let mut uploaded = json!({});
    if let Some(to) = &args.to {
        let n = simulator::upload::to_s3(&args.out, to).await?;
        uploaded["s3_objects"] = json!(n);
    }
    if args.to_cwl {
        let n = simulator::upload::to_cwl(&args.out).await?;
        uploaded["cwl_events"] = json!(n);
    }
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        if let (Some(o), Some(u)) = (v.as_object_mut(), uploaded.as_object()) {
            o.extend(u.clone());
        }
        println!("{v}");
    } else {
        println!(
            "simulated {} functions over {} days ({} to {}) into {}:",
            summary.functions, summary.days, summary.start, summary.end, summary.out
        );
        println!(
            "  {} CloudTrail events in {} files, {} invocations ({} log lines in {} files), {} attacks labelled in labels.json",
            summary.cloudtrail_events,
            summary.cloudtrail_files,
            summary.invocations,
            summary.log_lines,
            summary.log_files,
            summary.attacks
        );
        if let Some(n) = uploaded.get("s3_objects") {
            println!(
                "  uploaded {n} objects to {}",
                args.to.as_deref().unwrap_or("")
            );
        }
        if let Some(n) = uploaded.get("cwl_events") {
            println!("  put {n} log events into CloudWatch Logs");
        }
    }
    Ok(ExitCode::SUCCESS)
}

const DEMO_MARKER: &str = ".trailhound-demo";

/// Clear what an earlier demo left in `out`; refuse a directory that is not a demo's.
fn prepare_demo_dir(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let is_demo = out.join(DEMO_MARKER).exists();
        let empty = std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .next()
            .is_none();
        if !is_demo && !empty {
            return Err(UsageError(format!(
                "{} exists and is not a demo directory; choose another --out",
                out.display()
            ))
            .into());
        }
        for sub in ["data", "lake"] {
            let p = out.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        out.join(DEMO_MARKER),
        "made by trailhound demo; safe to delete\n",
    )?;
    Ok(())
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let out = args.out;
    prepare_demo_dir(&out)?;
    let data = out.join("data");
    let lake_dir = out.join("lake");

    println!(
        "1. simulating an account: 30 Lambda functions, 14 days, every attack scenario and behaviour anomaly"
    );
    let opts = simulator::Options {
        out: data.clone(),
        functions: 30,
        low_volume: 0,
        days: 14,
        seed: 7,
        attacks: attacks::KINDS.to_vec(),
        events_per_day: 4_000,
        start_ms: parse_time_spec("2026-11-01", 0).unwrap_or(0) / 1000,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        threads: 0,
        only_days: None,
    };
    let sim = tokio::task::spawn_blocking(move || simulator::run(&opts)).await??;
    println!(
        "   {} CloudTrail events, {} invocations, {} labelled attacks  ({})",
        sim.cloudtrail_events,
        sim.invocations,
        sim.attacks,
        data.display()
    );

    println!("2. ingesting it into a Parquet lake");
    let lake_uri = lake_dir.display().to_string();
    let lake = Lake::open(&lake_uri, None).with_context(|| format!("opening lake {lake_uri}"))?;
    let ct = ingest_cloudtrail(
        &[data.join("AWSLogs").display().to_string()],
        &lake,
        &Clients::default(),
        &CloudTrailOptions::default(),
        &Progress::default(),
    )
    .await
    .context("ingesting the simulated CloudTrail")?;
    let lambda = ingest_lambda_logs(
        &[data.join("lambda-logs").display().to_string()],
        &lake,
        &Clients::default(),
        &LambdaOptions::default(),
        &Progress::default(),
    )
    .await
    .context("ingesting the simulated Lambda logs")?;
    println!(
        "   cloudtrail: {} events from {} files ({} digests skipped); lambda: {} invocations, {} log lines",
        ct.events_ingested,
        ct.files_read,
        ct.files_skipped,
        lambda.invocations_written,
        lambda.log_lines_written
    );

    let iam = ingest_iam(
        &[data
            .join("iam/account-authorization-details.json")
            .display()
            .to_string()],
        &lake,
        &Clients::default(),
        &IamOptions::default(),
        &Progress::default(),
    )
    .await
    .context("ingesting the simulated account's IAM")?
    .remove(0);
    println!(
        "   iam: {} roles ({} Lambda function roles), {} policy rows",
        iam.roles, iam.function_roles, iam.rows
    );

    println!("3. looking at it");
    let ctx = detectors::session::open(&lake, None).await?;
    let one = |sql: String| {
        let ctx = ctx.clone();
        async move {
            let batches = detectors::session::run_sql(&ctx, &sql).await?;
            let v = batches
                .first()
                .filter(|b| b.num_rows() > 0)
                .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
                .unwrap_or(0);
            anyhow::Ok(v)
        }
    };
    let roles = one("SELECT count(DISTINCT actor_arn) FROM cloudtrail".into()).await?;
    let cold = one("SELECT count(*) FROM lambda_invocations WHERE cold_start".into()).await?;
    let failed =
        one("SELECT count(*) FROM lambda_invocations WHERE status <> 'success'".into()).await?;
    println!(
        "   {roles} principals; {} invocations, {cold} cold starts, {failed} failed or timed out",
        lambda.invocations_written
    );

    let registry = Registry::load(None)?;
    println!("4. running {} detectors over it", registry.detectors.len());
    let selected: Vec<_> = registry.detectors.iter().collect();
    // Every detector's new findings go into the lake's findings table.
    let ran = crate::detect::run_detectors(
        &ctx,
        &registry.views,
        &selected,
        Scope::default(),
        Some(&lake),
    )
    .await?;
    if let Some(f) = ran.failures.first() {
        anyhow::bail!("a detector failed: {f}");
    }
    let mut findings: Vec<Finding> = ran.findings;
    let from_rules = findings.len();
    println!("   {from_rules} findings from the detectors");

    println!(
        "5. learning each function's normal behaviour (baseline model) and scoring against it"
    );
    let now = chrono::Utc::now().timestamp_micros();
    let (mut model, trained) = detectors::baseline::train(
        &ctx,
        None,
        None,
        &detectors::baseline::Params::default(),
        now,
    )
    .await?;
    let model_path = out.join("baseline/model.bin");
    std::fs::create_dir_all(out.join("baseline"))?;
    model.write(&model_path)?;
    let scored = crate::baseline::score_lake(&ctx, &mut model, None, None, None).await?;
    println!(
        "   {} functions learnt ({} still learning) from {} 5-minute and hourly buckets; {} behaviour findings",
        trained.functions,
        trained.learning,
        trained.buckets,
        scored.findings.len()
    );
    for f in &scored.findings {
        println!(
            "     {} {}: {}",
            f.detector_id,
            f.subject,
            f.reasons.first().map(String::as_str).unwrap_or("")
        );
    }
    // One function's features against its learnt band: the first behaviour anomaly's.
    let labels = Labels::read(&data.join("labels.json"))?;
    let plotted = labels
        .attacks
        .iter()
        .find(|a| attacks::attack(a.kind).behaviour)
        .map(|a| a.function.clone());
    if let Some(function) = &plotted {
        let ts = |s: &str| pipeline::time::parse_timestamp_micros(s).unwrap_or(0);
        crate::baseline::write_plot(
            &ctx,
            &model,
            function,
            ts(&model.since),
            ts(&model.until),
            &out.join(format!("baseline/{function}.svg")),
        )
        .await?;
    }
    detectors::store::store_new(&lake, &ctx, &scored.findings).await?;
    findings.extend(scored.findings);
    let score = detectors::eval::score(&labels, &findings);
    println!(
        "   {} findings ({} of them about the attacks below), written to {}",
        findings.len(),
        score.true_findings,
        lake_dir.join("findings").display()
    );
    // The same findings per intrusion (the lake's findings table now holds them all).
    let members: Vec<detectors::incident::Member> = findings
        .iter()
        .map(detectors::incident::Member::from)
        .collect();
    let infrastructure = detectors::incident::addresses(
        &detectors::session::run_sql(
            &ctx,
            "SELECT DISTINCT source_ip_address FROM lambda_runtime_calls",
        )
        .await?,
    );
    let incidents = detectors::incident::group(&members, &infrastructure);
    println!(
        "   {} incidents: findings that share a credential lineage, key, principal, function or address",
        incidents.len()
    );

    let mut rows = Vec::new();
    let mut report = Vec::new();
    println!();
    println!(
        "   {:<24} {:<20} {:<22} {:>10}  caught by",
        "attack", "function", "when (UTC)", "in lake"
    );
    for a in &labels.attacks {
        let list =
            |ids: &[String]| -> Vec<String> { ids.iter().map(|s| format!("'{s}'")).collect() };
        let (events, requests) = (list(&a.event_ids), list(&a.request_ids));
        let (found, total) = if !attacks::attack(a.kind).in_logs() {
            let n = one(format!(
                "SELECT count(*) FROM cloudtrail WHERE event_id IN ({})",
                events.join(",")
            ))
            .await?;
            (n, events.len())
        } else {
            let n = one(format!(
                "SELECT count(*) FROM lambda_invocations WHERE request_id IN ({})",
                requests.join(",")
            ))
            .await?;
            (n, requests.len())
        };
        let kind = a.kind.name();
        let function = a.function.as_str();
        let when = a.start.replace('T', " ");
        let caught_by: Vec<String> = score
            .scenarios
            .iter()
            .find(|s| s.id == a.id)
            .map(|s| s.detectors.clone())
            .unwrap_or_default();
        println!(
            "   {kind:<24} {function:<20} {:<22} {:>10}  {}",
            &when[..when.len().min(16)],
            format!("{found}/{total}"),
            if caught_by.is_empty() {
                "MISSED".to_string()
            } else {
                caught_by.join(", ")
            }
        );
        rows.push((
            kind.to_string(),
            found as usize == total,
            !caught_by.is_empty(),
        ));
        report.push(json!({"attack": a.id, "kind": kind, "function": function,
            "start": a.start, "end": a.end, "evidence_in_lake": found, "evidence_labelled": total,
            "caught_by": caught_by}));
    }
    std::fs::write(
        out.join("demo-summary.json"),
        serde_json::to_vec_pretty(&json!({
            "attacks": report,
            "findings": findings.len(),
            "behaviour_findings": findings.len() - from_rules,
            "precision": score.precision,
            "recall": score.recall,
            "false_findings": score.false_finding_list,
        }))?,
    )?;
    let complete = rows.iter().filter(|(_, ok, _)| *ok).count();
    let caught = rows.iter().filter(|(_, _, c)| *c).count();
    println!();
    println!(
        "   every labelled record of {complete} of {} attacks is in the lake, with its source file and index;",
        rows.len()
    );
    println!(
        "   {caught} of {} attacks caught; precision {:.2}, recall {:.2}, {} findings about nothing labelled.",
        rows.len(),
        score.precision,
        score.recall,
        score.false_findings
    );
    for f in &score.false_finding_list {
        println!(
            "     unlabelled: {} {} {}",
            f.detector, f.first_seen, f.summary
        );
    }
    let until = detectors::iam::drift::latest_event(&ctx)
        .await?
        .map_or(chrono::Utc::now().timestamp_micros(), |t| t + 1);
    let drift = detectors::iam::drift::report(
        &ctx,
        &detectors::iam::drift::Options {
            since: until - 90 * 86_400_000_000,
            until,
            roles: Vec::new(),
        },
        None,
    )
    .await?;
    detectors::report::write(&out.join("drift"), &drift)?;
    let d = &drift.summary;
    println!();
    println!(
        "6. least privilege: {} of {} roles hold permissions they never used ({} unused actions, {} that change things)",
        d.roles_with_unused, d.roles, d.unused_actions, d.unused_sensitive_actions
    );
    println!();
    println!(
        "done in {:.1} s. Look further:",
        started.elapsed().as_secs_f64()
    );
    println!("   ground truth:  {}", data.join("labels.json").display());
    println!(
        "   findings:      trailhound detect --lake {} --no-write   (OCSF JSON: --format json)",
        lake_dir.display()
    );
    println!(
        "   incidents:     trailhound incidents list --lake {}",
        lake_dir.display()
    );
    println!(
        "   drift report:  {}",
        out.join("drift/report.html").display()
    );
    println!(
        "   summary:       {}",
        out.join("demo-summary.json").display()
    );
    println!(
        "   baseline:      trailhound baseline score --lake {} --model {} --no-write",
        lake_dir.display(),
        model_path.display()
    );
    if let Some(function) = &plotted {
        println!(
            "   its plot:      {}",
            out.join(format!("baseline/{function}.svg")).display()
        );
    }
    println!(
        "   query:         trailhound query --lake {} \"SELECT event_time, event_name, source_ip_address, user_agent FROM cloudtrail WHERE session_name = '{}' ORDER BY event_time DESC LIMIT 20\"",
        lake_dir.display(),
        labels
            .attacks
            .first()
            .map_or("orders-api", |a| a.function.as_str())
    );
    Ok(ExitCode::SUCCESS)
}

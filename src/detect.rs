//! `trailhound detect`, `trailhound detectors list|validate|test` and `trailhound eval`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::prelude::SessionContext;
use detectors::finding::Finding;
use detectors::registry::{Detector, Registry};
use detectors::runner::{Outcome, Scope};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::lake::Lake;

use crate::UsageError;
use crate::cli::{DetectArgs, DetectorsCommand, EvalArgs, Format};

/// Open a lake that exists (local or S3) and a session over it with `views`.
pub async fn open_lake(
    uri: &str,
    views: &[detectors::views::View],
) -> anyhow::Result<(Lake, SessionContext)> {
    if !uri.starts_with("s3://") && !Path::new(uri).is_dir() {
        return Err(UsageError(format!(
            "lake {uri} is not a directory (ingest into it first)"
        ))
        .into());
    }
    crate::query::open_session(uri, views).await
}

fn parse_scope(since: Option<&str>, until: Option<&str>) -> anyhow::Result<Scope> {
    let (since, until) = crate::time_args(since, until)?;
    let scope = Scope { since, until };
    if let (Some(s), Some(u)) = (scope.since, scope.until)
        && s >= u
    {
        return Err(UsageError("--since must be before --until".into()).into());
    }
    Ok(scope)
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30.cyan/blue}} {{pos}}/{{len}} {what}  {{msg}}  [{{elapsed_precise}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Run `detectors` over the session, one at a time (with a progress bar on a terminal); a
/// detector that fails is reported and the others run.
pub async fn run_detectors(
    ctx: &SessionContext,
    views: &[detectors::views::View],
    detectors: &[&Detector],
    scope: Scope,
) -> (Vec<Outcome>, Vec<String>) {
    let progress = bar(detectors.len(), "detectors");
    let detected_at = chrono::Utc::now().timestamp_micros();
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    progress.set_message("the views detectors share");
    let sqls: Vec<&str> = detectors.iter().map(|d| d.sql.as_str()).collect();
    match detectors::views::materialize(ctx, views, &sqls).await {
        Ok(computed) => {
            for (view, rows, seconds) in computed {
                tracing::info!(%view, rows, seconds, "shared view computed");
            }
        }
        Err(e) => {
            progress.finish_and_clear();
            return (outcomes, vec![e.to_string()]);
        }
    }
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "shared views computed"
    );
    // Detectors in the given order, one at a time (their results kept in order).
    use futures::StreamExt;
    let mut runs = futures::stream::iter(detectors.iter().enumerate())
        .map(|(i, d)| async move { (i, detectors::runner::run(ctx, d, scope, detected_at).await) })
        .buffer_unordered(1);
    let mut done = Vec::with_capacity(detectors.len());
    while let Some((i, result)) = runs.next().await {
        progress.set_message(detectors[i].meta.id.clone());
        progress.inc(1);
        done.push((i, result));
    }
    done.sort_by_key(|(i, _)| *i);
    for (_, result) in done {
        match result {
            Ok(o) => {
                tracing::info!(detector = %o.detector_id, findings = o.findings.len(), rows = o.rows, seconds = o.seconds, "detector ran");
                outcomes.push(o);
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    progress.finish_and_clear();
    (outcomes, failures)
}

pub async fn detect(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let scope = parse_scope(args.since.as_deref(), args.until.as_deref())?;
    let registry = Registry::load(args.sql_dir.as_deref())?;
    let selected = registry
        .select(&args.detector)
        .map_err(|e| UsageError(e.to_string()))?;
    let format = findings_format(args.format, args.out.as_deref())?;
    let started = std::time::Instant::now();
    let (lake, ctx) = open_lake(&args.lake, &registry.views).await?;
    let (outcomes, failures) = run_detectors(&ctx, &registry.views, &selected, scope).await;
    let mut findings: Vec<Finding> = outcomes.iter().flat_map(|o| o.findings.clone()).collect();
    findings.sort_by(|a, b| {
        (a.first_seen, &a.detector_id, &a.subject).cmp(&(b.first_seen, &b.detector_id, &b.subject))
    });

    let written = store_new(&lake, &ctx, &findings, args.no_write).await?;
    emit_findings(args.out.as_deref(), &findings, format)?;
    eprintln!(
        "{} findings ({written}) from {} detectors in {:.1} s{}",
        findings.len(),
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(
                "; {} failed",
                if failures.len() == 1 {
                    "1 detector".to_string()
                } else {
                    format!("{} detectors", failures.len())
                }
            )
        }
    );
    for f in &failures {
        eprintln!("error: {f}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--format`, or its default: a table on a terminal, NDJSON on a pipe or into `--out`.
pub fn findings_format(format: Option<Format>, out: Option<&Path>) -> anyhow::Result<Format> {
    let format = format.unwrap_or(if out.is_none() && std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Ndjson
    });
    if format == Format::Parquet && out.is_none() {
        return Err(UsageError("--format parquet needs --out FILE".into()).into());
    }
    Ok(format)
}

/// Add the findings the lake does not hold yet to `LAKE/findings/` (unless `no_write`); what
/// was done, for the closing line.
pub async fn store_new(
    lake: &Lake,
    ctx: &SessionContext,
    findings: &[Finding],
    no_write: bool,
) -> anyhow::Result<String> {
    if no_write {
        return Ok("not written".to_string());
    }
    let known = detectors::store::existing_uids(ctx).await?;
    let fresh: Vec<&Finding> = findings
        .iter()
        .filter(|f| !known.contains(&f.uid))
        .collect();
    if !fresh.is_empty() {
        detectors::store::write(lake, &fresh, &uuid::Uuid::now_v7().to_string()).await?;
    }
    Ok(format!("{} new in {}/findings", fresh.len(), lake.uri()))
}

/// Findings in `format` into `out`, or onto stdout.
pub fn emit_findings(
    out: Option<&Path>,
    findings: &[Finding],
    format: Format,
) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            write_findings(&mut file, findings, format)
        }
        None => write_findings(&mut std::io::stdout().lock(), findings, format),
    }
}

fn table_batch(findings: &[Finding]) -> anyhow::Result<RecordBatch> {
    let col = |f: &dyn Fn(&Finding) -> String| -> ArrayRef {
        Arc::new(findings.iter().map(|x| Some(f(x))).collect::<StringArray>())
    };
    Ok(RecordBatch::try_from_iter(vec![
        ("severity", col(&|f| f.severity.caption().to_string())),
        ("detector", col(&|f| f.detector_id.clone())),
        (
            "first seen (UTC)",
            col(&|f| {
                pipeline::time::rfc3339_millis(f.first_seen / 1000)
                    .map(|s| s[..19].replace('T', " "))
                    .unwrap_or_default()
            }),
        ),
        ("who", col(&|f| f.who())),
        ("what", col(&|f| truncate(&f.what(), 110))),
    ])?)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Findings in `format`: OCSF objects for json/ndjson, the findings table's columns for csv
/// and parquet, a short table for people.
pub fn write_findings(
    out: &mut dyn Write,
    findings: &[Finding],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            if findings.is_empty() {
                writeln!(out, "no findings")?;
            } else {
                crate::output::write_batches(out, &[table_batch(findings)?], Format::Table)?;
            }
        }
        Format::Json => {
            let all: Vec<_> = findings.iter().map(Finding::to_ocsf).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            for f in findings {
                serde_json::to_writer(&mut *out, &f.to_ocsf())?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            let mut batch = detectors::finding::to_batch(findings)?;
            // The whole OCSF object does not belong in a spreadsheet cell.
            batch.remove_column(batch.num_columns() - 1);
            crate::output::write_batches(out, &[batch], Format::Csv)?;
        }
        Format::Parquet => {
            let batch = detectors::finding::to_batch(findings)?;
            crate::output::write_batches(out, &[batch], Format::Parquet)?;
        }
    }
    out.flush()?;
    Ok(())
}

pub async fn detectors_command(cmd: DetectorsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DetectorsCommand::List(a) => {
            let registry = Registry::load(a.sql_dir.as_deref())?;
            if a.json {
                let all: Vec<_> = registry
                    .detectors
                    .iter()
                    .map(|d| {
                        let mut v = serde_json::to_value(&d.meta).unwrap_or_default();
                        if let Some(o) = v.as_object_mut() {
                            o.remove("tests");
                            o.insert("sql_path".into(), d.sql_path.clone().into());
                            o.insert("tests".into(), d.meta.tests.len().into());
                        }
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<32} {:<9} {:<22} {:<8} title",
                    "id", "severity", "tables", "window"
                );
                for d in &registry.detectors {
                    let m = &d.meta;
                    println!(
                        "{:<32} {:<9} {:<22} {:<8} {}",
                        m.id,
                        format!("{:?}", m.severity).to_lowercase(),
                        m.tables.join(","),
                        m.window,
                        m.title
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DetectorsCommand::Validate(a) => {
            let registry = Registry::load(a.sql_dir.as_deref())?;
            // Plan against the lake's schema: the given lake, or an empty one.
            let tmp = tempfile::tempdir()?;
            let lake_uri = a
                .lake
                .clone()
                .unwrap_or_else(|| tmp.path().display().to_string());
            let (_, ctx) = open_lake(&lake_uri, &registry.views).await?;
            let mut bad = 0;
            for d in &registry.detectors {
                match detectors::runner::validate(&ctx, d).await {
                    Ok(()) => println!("ok      {}", d.meta.id),
                    Err(e) => {
                        bad += 1;
                        println!("invalid {}: {e}", d.meta.id);
                    }
                }
            }
            println!("{} detectors, {} invalid", registry.detectors.len(), bad);
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        DetectorsCommand::Test(a) => {
            let registry = Registry::load(a.sql_dir.as_deref())?;
            let selected = registry
                .select(&a.detector)
                .map_err(|e| UsageError(e.to_string()))?;
            let (mut passed, mut failed) = (0, 0);
            for d in selected {
                if d.meta.tests.is_empty() {
                    println!("none  {}: no golden tests", d.meta.id);
                    failed += 1;
                    continue;
                }
                for r in detectors::golden::run_tests(d, &registry.views).await {
                    if r.passed() {
                        passed += 1;
                        println!("ok    {} / {}", r.detector_id, r.name);
                    } else {
                        failed += 1;
                        println!(
                            "FAIL  {} / {}: expected {} findings, got {}{}",
                            r.detector_id,
                            r.name,
                            r.expected,
                            r.findings.len(),
                            r.error
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        );
                        for f in &r.findings {
                            println!("        {} {}", f.subject, f.summary());
                        }
                    }
                }
            }
            println!("golden tests: {passed} passed, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

pub async fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let labels = detectors::eval::Labels::read(&args.labels)?;
    let method = crate::baseline::method(args.method.as_deref())?;
    let mut model = args
        .model
        .as_deref()
        .map(crate::baseline::read_model)
        .transpose()?;
    let registry = Registry::load(args.sql_dir.as_deref())?;
    let selected = registry
        .select(&[])
        .map_err(|e| UsageError(e.to_string()))?;
    let (_, ctx) = open_lake(&args.lake, &registry.views).await?;
    let mut findings: Vec<Finding> = Vec::new();
    if !args.baseline_only {
        let (outcomes, failures) =
            run_detectors(&ctx, &registry.views, &selected, Scope::default()).await;
        if !failures.is_empty() {
            for f in &failures {
                eprintln!("error: {f}");
            }
            anyhow::bail!("{} detectors failed", failures.len());
        }
        findings.extend(outcomes.into_iter().flat_map(|o| o.findings));
    }
    let mut learning = 0;
    if let Some(model) = model.as_mut() {
        let scored = crate::baseline::score_lake(&ctx, model, None, None, method).await?;
        learning = scored.learning.len();
        findings.extend(scored.findings);
    }
    let report = detectors::eval::score(&labels, &findings);
    let kinds = detectors::eval::by_kind(&labels, &findings);
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["by_kind"] = serde_json::to_value(&kinds)?;
        v["baseline_learning_functions"] = learning.into();
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40} {:<24} {:<7} caught by",
        "attack", "function", "caught"
    );
    for s in &report.scenarios {
        println!(
            "{:<40} {:<24} {:<7} {}",
            s.id,
            s.function,
            if s.caught { "yes" } else { "MISSED" },
            s.detectors.join(", ")
        );
    }
    println!(
        "\nprecision {:.3}  recall {:.3}  findings {} ({} false)  false findings per function-week {:.3} ({:.1} function-weeks)",
        report.precision,
        report.recall,
        report.findings,
        report.false_findings,
        report.false_findings_per_function_week,
        report.function_weeks
    );
    if model.is_some() {
        println!(
            "\n{:<26} {:>7} {:>7} {:>7}   {:>9} {:>9} {:>9}",
            "kind", "attacks", "caught", "recall", "baseline", "b.recall", "b.precis."
        );
        for k in &kinds {
            println!(
                "{:<26} {:>7} {:>7} {:>7.2}   {:>9} {:>9.2} {:>9.2}",
                k.kind,
                k.attacks,
                k.caught,
                k.recall,
                format!("{}+{}", k.baseline_true_findings, k.baseline_false_findings),
                k.baseline_recall,
                k.baseline_precision
            );
        }
        println!(
            "(baseline: findings matching an attack of the kind + unmatched findings of its category)"
        );
        if learning > 0 {
            println!("{learning} functions still learning: not scored by the baseline");
        }
    }
    for f in &report.false_finding_list {
        println!(
            "false: {} {} {} {}",
            f.detector, f.first_seen, f.subject, f.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}

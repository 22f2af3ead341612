//! `trailhound detect`, `trailhound detectors list|validate|test` and `trailhound eval`.

use std::process::ExitCode;

use datafusion::prelude::SessionContext;
use detectors::finding::Finding;
use detectors::incremental::History;
use detectors::registry::{Detector, Registry};
use detectors::run::{Over, Ran, RunSet, run_set};
use detectors::runner::Scope;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::lake::Lake;

use crate::cli::UsageError;
use crate::cli::{DetectArgs, DetectorsCommand, EvalArgs, TimeRange};
use crate::lake::{open_lake, open_lake_with_sdk};
use crate::output::{emit_findings, findings_format, stored_text};

fn parse_scope(time: &TimeRange) -> anyhow::Result<Scope> {
    let (since, until) = time.micros()?;
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

/// Run `detectors` over the session ([`detectors::run::AT_ONCE`] at a time), with a progress
/// bar on a terminal; new findings go into `store`'s findings table.
pub async fn run_detectors(
    ctx: &SessionContext,
    views: &[detectors::views::View],
    detectors: &[&Detector],
    scope: Scope,
    store: Option<&Lake>,
) -> anyhow::Result<Ran> {
    run_detectors_over(Over::Session(ctx), views, detectors, scope, store).await
}

/// [`run_detectors`] over a session or the windows of a history.
async fn run_detectors_over(
    over: Over<'_>,
    views: &[detectors::views::View],
    detectors: &[&Detector],
    scope: Scope,
    store: Option<&Lake>,
) -> anyhow::Result<Ran> {
    let progress = bar(detectors.len(), "detectors");
    progress.set_message("the views detectors share");
    let on_done = |o: &detectors::runner::Outcome| {
        progress.set_message(o.detector_id.clone());
        progress.inc(1);
    };
    let ran = run_set(RunSet {
        detectors,
        views,
        over,
        scope,
        at_once: detectors::run::AT_ONCE,
        store,
        on_done: Some(&on_done),
    })
    .await;
    progress.finish_and_clear();
    Ok(ran?)
}

/// The detection history kept in the lake (`_state/history/`), brought up to date from the
/// files committed since it was saved, and saved again; computed from the whole lake when
/// there is none (or none for these views). A lake that cannot be written to keeps its old
/// history (said on stderr): the next run reads more.
async fn history(
    lake: &Lake,
    sdk: Option<&aws_config::SdkConfig>,
    runtime: &std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    views: &[detectors::views::View],
) -> anyhow::Result<History> {
    let mut history = match History::load(lake, views).await {
        Ok(Some(h)) => h,
        Ok(None) => History::new(views),
        Err(e) => {
            tracing::warn!(error = %e, "reading the saved detection history; reading the whole lake");
            History::new(views)
        }
    };
    let update = history.update(lake, sdk, runtime).await?;
    tracing::info!(
        new_files = update.new_files,
        new_rows = update.new_rows,
        seconds = update.seconds,
        "detection history brought up to date"
    );
    if update.new_files > 0
        && let Err(e) = history.save(lake).await
    {
        tracing::warn!(error = %e, "could not keep the detection history in the lake");
    }
    Ok(history)
}

pub async fn detect(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let scope = parse_scope(&args.time)?;
    let registry = Registry::load(args.sql_dir.dir.as_deref())?;
    let selected = registry
        .select(&args.detector)
        .map_err(|e| UsageError(e.to_string()))?;
    let format = findings_format(args.output.format, args.output.out.as_deref())?;
    let started = std::time::Instant::now();
    let (lake, sdk, ctx) = open_lake_with_sdk(&args.lake.uri, &registry.views).await?;
    let store = (!args.output.no_write).then_some(&lake);
    let Ran {
        outcomes,
        findings,
        failures,
        stored,
    } = match scope.since {
        Some(since) if matches!(crate::lake::engine(), detectors::cluster::Engine::Local) => {
            // The daily job: the views that hold history come from the history an earlier
            // run kept in the lake, brought up to date from the files committed since; the
            // events themselves are read from each detector's window before --since.
            let runtime = ctx.runtime_env();
            let history = history(&lake, sdk.as_ref(), &runtime, &registry.views).await?;
            let over = Over::Window {
                history: &history,
                lake: &lake,
                sdk: sdk.as_ref(),
                runtime: &runtime,
                from: since,
            };
            run_detectors_over(over, &registry.views, &selected, scope, store).await?
        }
        _ => run_detectors(&ctx, &registry.views, &selected, scope, store).await?,
    };
    let written = stored_text(&lake, stored, args.output.no_write);
    emit_findings(args.output.out.as_deref(), &findings, format)?;
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

pub async fn detectors_command(cmd: DetectorsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DetectorsCommand::List(a) => {
            let registry = Registry::load(a.sql_dir.dir.as_deref())?;
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
            let registry = Registry::load(a.sql_dir.dir.as_deref())?;
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
            let registry = Registry::load(a.sql_dir.dir.as_deref())?;
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
    if let Some(dir) = &args.recordings {
        return crate::recordings::eval(dir, &args).await;
    }
    let (Some(lake), Some(labels)) = (&args.lake, &args.labels) else {
        return Err(UsageError("eval needs --lake and --labels, or --recordings".into()).into());
    };
    let labels = detectors::eval::Labels::read(labels)?;
    let method = crate::baseline::method(args.method.as_deref())?;
    let mut model = args
        .model
        .as_deref()
        .map(crate::baseline::read_model)
        .transpose()?;
    let registry = Registry::load(args.sql_dir.dir.as_deref())?;
    let selected = registry
        .select(&[])
        .map_err(|e| UsageError(e.to_string()))?;
    let (_, ctx) = open_lake(lake, &registry.views).await?;
    let mut findings: Vec<Finding> = Vec::new();
    if !args.baseline_only {
        let ran = run_detectors(&ctx, &registry.views, &selected, Scope::default(), None).await?;
        if !ran.failures.is_empty() {
            for f in &ran.failures {
                eprintln!("error: {f}");
            }
            anyhow::bail!("{} detectors failed", ran.failures.len());
        }
        findings.extend(ran.findings);
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

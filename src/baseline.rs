//! `trailhound baseline train | score | plot`.

use std::process::ExitCode;

use anyhow::Context;
use detectors::baseline::{self, Granularity, Method, Model, Params, Scored};

use crate::cli::UsageError;
use crate::cli::{BaselineCommand, BaselinePlotArgs, BaselineScoreArgs, BaselineTrainArgs};

pub async fn run(cmd: BaselineCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BaselineCommand::Train(a) => train(a).await,
        BaselineCommand::Score(a) => score(a).await,
        BaselineCommand::Plot(a) => plot(a).await,
    }
}

/// 9999-12-31: no end.
pub const END_OF_TIME: i64 = 253_402_300_800_000_000;

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `--method`, for measuring the alternatives.
pub fn method(spec: Option<&str>) -> anyhow::Result<Option<Method>> {
    spec.map(|s| {
        Method::parse(s).ok_or_else(|| {
            UsageError(format!(
                "--method {s:?}: expected combined, features or mixture"
            ))
            .into()
        })
    })
    .transpose()
}

/// Read a model file; a missing or foreign file is a usage error that names it.
pub fn read_model(path: &std::path::Path) -> anyhow::Result<Model> {
    Model::read(path).map_err(|e| UsageError(e.to_string()).into())
}

fn list(names: impl IntoIterator<Item = String>, n: usize) -> String {
    let all: Vec<String> = names.into_iter().collect();
    let mut s = all.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > n {
        s.push_str(&format!(" and {} more", all.len() - n));
    }
    s
}

async fn train(args: BaselineTrainArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = args.time.micros()?;
    let (_, ctx) = crate::lake::open_lake(&args.lake.uri, &detectors::views::embedded()).await?;
    let started = std::time::Instant::now();
    let (model, summary) = baseline::train(&ctx, since, until, &Params::default(), now())
        .await
        .map_err(|e| match e {
            detectors::Error::Usage(m) => anyhow::Error::from(UsageError(m)),
            e => e.into(),
        })?;
    if let Some(dir) = args
        .model
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    model.write(&args.model.path)?;
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["model"] = args.model.path.display().to_string().into();
        v["summary"] = baseline::summary_path(&args.model.path)
            .display()
            .to_string()
            .into();
        v["model_bytes"] = std::fs::metadata(&args.model.path)
            .map(|m| m.len())
            .unwrap_or(0)
            .into();
        v["seconds"] = started.elapsed().as_secs_f64().into();
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "learnt {} functions ({} ready, {} still learning) from {} to {} in {:.1} s; model: {} \
         (summary: {})",
        summary.functions,
        summary.ready,
        summary.learning,
        summary.since,
        summary.until,
        started.elapsed().as_secs_f64(),
        args.model.path.display(),
        baseline::summary_path(&args.model.path).display()
    );
    let learning: Vec<String> = model
        .functions
        .iter()
        .filter_map(|(n, f)| f.learning.as_ref().map(|why| format!("{n} ({why})")))
        .collect();
    if !learning.is_empty() {
        println!("learning (no findings yet): {}", list(learning, 10));
    }
    Ok(ExitCode::SUCCESS)
}

/// Score `[since, until)` (default: everything) with `model`, `method` overriding its own.
pub async fn score_lake(
    ctx: &datafusion::prelude::SessionContext,
    model: &mut Model,
    since: Option<i64>,
    until: Option<i64>,
    method: Option<Method>,
) -> anyhow::Result<Scored> {
    if let Some(m) = method {
        model.params.method = m;
    }
    Ok(baseline::score(
        ctx,
        model,
        since.unwrap_or(0),
        // Everything: a lake may hold events stamped later than this machine's clock.
        until.unwrap_or(END_OF_TIME),
        now(),
    )
    .await?)
}

async fn score(args: BaselineScoreArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = args.time.micros()?;
    let method = method(args.method.as_deref())?;
    let mut model = read_model(&args.model.path)?;
    let format = crate::output::findings_format(args.output.format, args.output.out.as_deref())?;
    let started = std::time::Instant::now();
    let (lake, ctx) = crate::lake::open_lake(&args.lake.uri, &detectors::views::embedded()).await?;
    let scored = score_lake(&ctx, &mut model, since, until, method).await?;
    let stored = if args.output.no_write {
        0
    } else {
        detectors::store::store_new(&lake, &ctx, &scored.findings).await?
    };
    let written = crate::output::stored_text(&lake, stored, args.output.no_write);
    crate::output::emit_findings(args.output.out.as_deref(), &scored.findings, format)?;
    eprintln!(
        "{} findings ({}) from {} buckets of {} functions in {:.1} s",
        scored.findings.len(),
        written,
        scored.buckets_scored,
        model.functions.len(),
        started.elapsed().as_secs_f64()
    );
    if !scored.learning.is_empty() {
        eprintln!(
            "{} functions still learning, not scored: {}",
            scored.learning.len(),
            list(
                scored
                    .learning
                    .iter()
                    .map(|(n, why)| format!("{n} ({why})")),
                10
            )
        );
    }
    if !scored.unknown.is_empty() {
        eprintln!(
            "{} functions not in the model (new since it was trained; train again to include them): {}",
            scored.unknown.len(),
            list(scored.unknown.iter().cloned(), 10)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Write `function`'s plot over `[since, until)` to `out`.
pub async fn write_plot(
    ctx: &datafusion::prelude::SessionContext,
    model: &Model,
    function: &str,
    since: i64,
    until: i64,
    out: &std::path::Path,
) -> anyhow::Result<usize> {
    let Some(fm) = model.functions.get(function) else {
        return Err(UsageError(format!(
            "function {function:?} is not in the model; it knows {}",
            list(model.functions.keys().cloned(), 8)
        ))
        .into());
    };
    // The lake's time span, looked up once for the features and the judging.
    let span = baseline::features::data_span(ctx).await?;
    let rows: Vec<baseline::Row> =
        baseline::features::compute(ctx, Granularity::Hour, since, until, span)
            .await?
            .into_iter()
            .filter(|r| &*r.function == function)
            .collect();
    let flags = baseline::judge_lake(ctx, model, since, until, span, Some(function))
        .await?
        .flags;
    let svg = baseline::plot::svg(function, fm, &rows, &flags, since, until);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, svg).with_context(|| format!("writing {}", out.display()))?;
    Ok(flags.len())
}

async fn plot(args: BaselinePlotArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = args.time.micros()?;
    let model = read_model(&args.model.path)?;
    let ts = |s: &str| pipeline::time::parse_timestamp_micros(s).unwrap_or(0);
    let since = since.unwrap_or_else(|| ts(&model.since));
    let until = until.unwrap_or_else(|| ts(&model.until));
    if since >= until {
        return Err(UsageError("--since must be before --until".into()).into());
    }
    let (_, ctx) = crate::lake::open_lake(&args.lake.uri, &detectors::views::embedded()).await?;
    let flagged = write_plot(&ctx, &model, &args.function, since, until, &args.out).await?;
    eprintln!(
        "{}: {} flagged buckets drawn in {}",
        args.function,
        flagged,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

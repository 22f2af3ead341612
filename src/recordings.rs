//! `trailhound eval --recordings DIR`: the detector pack over labelled real attack recordings,
//! per technique: which detectors cite its events.
//!
//! Two layouts are read, as their authors publish them:
//! - Stratus Red Team detonation logs: a JSON array of CloudTrail events per technique
//!   (`detonation-logs/<technique>.json`), with `techniques_index.json` naming each
//!   technique and its tactics (without the index, each file is a technique named by its
//!   stem). Each technique goes into a lake of its own, so that one cannot help another.
//! - TrailDiscover's catalogue: `log_examples.ndjson.gz` (example events, one per line as
//!   `{"event": …}`) with `events_catalog.json` mapping each event name to its MITRE ATT&CK
//!   techniques. The examples go into one lake; a technique is every example of the event
//!   names mapped to it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use detectors::eval::{Cited, Recording};
use detectors::registry::Registry;
use detectors::runner::Scope;
use pipeline::cloudtrail::ingest::{CloudTrailOptions, ingest_cloudtrail};
use pipeline::ingest::{Clients, Progress};
use pipeline::lake::Lake;
use serde_json::Value;

use crate::cli::{EvalArgs, UsageError};

/// The events of a CloudTrail file: a JSON array, `{"Records": […]}` or one event per line.
fn events_of(path: &Path) -> anyhow::Result<Vec<Value>> {
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    }
    .with_context(|| format!("reading {}", path.display()))?;
    let parse_err = |e: serde_json::Error| anyhow::anyhow!("{}: {e}", path.display());
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(events)) => Ok(events),
        Ok(Value::Object(mut o)) if o.contains_key("Records") => match o.remove("Records") {
            Some(Value::Array(events)) => Ok(events),
            _ => bail!("{}: Records is not an array", path.display()),
        },
        Ok(v) => Ok(vec![v]),
        Err(_) => bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| serde_json::from_slice(l).map_err(parse_err))
            .collect(),
    }
}

fn event_id(e: &Value) -> Option<String> {
    e.get("eventID").and_then(Value::as_str).map(str::to_string)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// One lake's worth of recordings: the files to ingest and the recordings they hold.
struct Batch {
    label: String,
    files: Vec<PathBuf>,
    recordings: Vec<Recording>,
}

/// Stratus Red Team: one batch per technique.
fn stratus(dir: &Path) -> anyhow::Result<Vec<Batch>> {
    let (root, logs) = if dir.join("techniques_index.json").is_file() {
        (Some(dir.to_path_buf()), dir.join("detonation-logs"))
    } else if dir
        .parent()
        .is_some_and(|p| p.join("techniques_index.json").is_file())
    {
        (dir.parent().map(Path::to_path_buf), dir.to_path_buf())
    } else {
        (None, dir.to_path_buf())
    };
    let mut batches = Vec::new();
    if let Some(root) = root {
        let index_path = root.join("techniques_index.json");
        let index: Value = serde_json::from_slice(
            &std::fs::read(&index_path)
                .with_context(|| format!("reading {}", index_path.display()))?,
        )
        .with_context(|| format!("parsing {}", index_path.display()))?;
        for t in index.as_array().into_iter().flatten() {
            let Some(id) = t.get("technique_id").and_then(Value::as_str) else {
                continue;
            };
            let file = t
                .get("file")
                .and_then(Value::as_str)
                .map(|f| root.join(f))
                .unwrap_or_else(|| logs.join(format!("{id}.json")));
            let events = events_of(&file)?;
            batches.push(Batch {
                label: id.to_string(),
                files: vec![file],
                recordings: vec![Recording {
                    technique: id.to_string(),
                    name: t
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or(id)
                        .to_string(),
                    tactics: strings(t.get("mitre_attack_tactics")),
                    event_ids: events.iter().filter_map(event_id).collect(),
                }],
            });
        }
    } else {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
            .with_context(|| format!("reading {}", logs.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".json") || n.ends_with(".json.gz")
            })
            .collect();
        files.sort();
        for file in files {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let id = name
                .trim_end_matches(".gz")
                .trim_end_matches(".json")
                .to_string();
            let events = events_of(&file)?;
            batches.push(Batch {
                label: id.clone(),
                files: vec![file],
                recordings: vec![Recording {
                    technique: id.clone(),
                    name: id,
                    tactics: Vec::new(),
                    event_ids: events.iter().filter_map(event_id).collect(),
                }],
            });
        }
    }
    Ok(batches)
}

/// An event's source and name.
type EventKey = (String, String);
/// A MITRE ATT&CK technique's id and name.
type Technique = (String, String);

/// TrailDiscover: the examples unwrapped into one file, one recording per MITRE technique.
fn traildiscover(dir: &Path, work: &Path) -> anyhow::Result<Vec<Batch>> {
    let catalog_path = dir.join("events_catalog.json");
    let catalog: Value = serde_json::from_slice(
        &std::fs::read(&catalog_path)
            .with_context(|| format!("reading {}", catalog_path.display()))?,
    )
    .with_context(|| format!("parsing {}", catalog_path.display()))?;
    // (event source, event name) → [(technique, name)], tactics
    let mut techniques: std::collections::HashMap<EventKey, (Vec<Technique>, Vec<String>)> =
        std::collections::HashMap::new();
    for c in catalog.as_array().into_iter().flatten() {
        let key = (
            c.get("eventSource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            c.get("eventName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
        let ts = strings(c.get("mitreAttackTechniques"))
            .into_iter()
            .map(|t| match t.split_once(" - ") {
                Some((id, name)) => (id.trim().to_string(), name.trim().to_string()),
                None => (t.clone(), t),
            })
            .collect();
        techniques.insert(key, (ts, strings(c.get("mitreAttackTactics"))));
    }
    let examples = events_of(&dir.join("log_examples.ndjson.gz"))?;
    let mut events = Vec::new();
    let mut by_technique: std::collections::BTreeMap<String, Recording> =
        std::collections::BTreeMap::new();
    for x in examples {
        let e = x.get("event").cloned().unwrap_or(x);
        let Some(id) = event_id(&e) else { continue };
        let key = (
            e.get("eventSource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            e.get("eventName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
        let (ts, tactics) = techniques.get(&key).cloned().unwrap_or_default();
        let ts = if ts.is_empty() {
            vec![(
                "unmapped".to_string(),
                "no technique in the catalogue".to_string(),
            )]
        } else {
            ts
        };
        for (t, name) in ts {
            let r = by_technique.entry(t.clone()).or_insert_with(|| Recording {
                technique: t,
                name,
                tactics: Vec::new(),
                event_ids: Vec::new(),
            });
            r.event_ids.push(id.clone());
            for tactic in &tactics {
                if !r.tactics.contains(tactic) {
                    r.tactics.push(tactic.clone());
                }
            }
        }
        events.push(e);
    }
    let file = work.join("traildiscover-examples.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({ "Records": events }))?,
    )
    .with_context(|| format!("writing {}", file.display()))?;
    Ok(vec![Batch {
        label: "traildiscover examples".into(),
        files: vec![file],
        recordings: by_technique.into_values().collect(),
    }])
}

/// Ingest a batch into a new lake under `work` and run the detectors over it.
async fn run_batch(
    batch: &Batch,
    work: &Path,
    n: usize,
    registry: &Registry,
) -> anyhow::Result<Vec<detectors::finding::Finding>> {
    let lake_dir = work.join(format!("lake-{n}"));
    let uri = lake_dir.display().to_string();
    let lake = Lake::open(&uri, None).with_context(|| format!("opening lake {uri}"))?;
    let sources: Vec<String> = batch
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let summary = ingest_cloudtrail(
        &sources,
        &lake,
        &Clients::default(),
        &CloudTrailOptions::default(),
        &Progress::default(),
    )
    .await
    .with_context(|| format!("ingesting {}", batch.label))?;
    for e in &summary.errors {
        eprintln!("error: {}: {e}", batch.label);
    }
    let (_, ctx) = crate::lake::open_lake(&uri, &registry.views).await?;
    let selected = registry
        .select(&[])
        .map_err(|e| UsageError(e.to_string()))?;
    let ran =
        crate::detect::run_detectors(&ctx, &registry.views, &selected, Scope::default(), None)
            .await?;
    for f in &ran.failures {
        eprintln!("error: {}: {f}", batch.label);
    }
    if !ran.failures.is_empty() {
        bail!("{} detectors failed on {}", ran.failures.len(), batch.label);
    }
    Ok(ran.findings)
}

/// `eval --recordings DIR`.
pub async fn eval(dir: &Path, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        return Err(UsageError(format!("recordings {} is not a directory", dir.display())).into());
    }
    let registry = Registry::load(args.sql_dir.dir.as_deref())?;
    let work = tempfile::Builder::new()
        .prefix("trailhound-eval-")
        .tempdir()
        .context("creating a working directory")?;
    let batches = if dir.join("events_catalog.json").is_file() {
        traildiscover(dir, work.path())?
    } else {
        stratus(dir)?
    };
    if batches.is_empty() {
        return Err(UsageError(format!(
            "{}: no recordings (expected Stratus Red Team detonation logs or TrailDiscover's events_catalog.json and log_examples.ndjson.gz)",
            dir.display()
        ))
        .into());
    }
    let mut results: Vec<Cited> = Vec::new();
    // Distinct events (a TrailDiscover example may stand for several techniques).
    let mut all_events = std::collections::HashSet::new();
    let mut cited_events = std::collections::HashSet::new();
    for (n, batch) in batches.iter().enumerate() {
        if batches.len() > 1 {
            eprintln!("[{}/{}] {}", n + 1, batches.len(), batch.label);
        }
        let findings = run_batch(batch, work.path(), n, &registry).await?;
        for f in &findings {
            cited_events.extend(f.evidence.iter().filter_map(|e| e.event_id.clone()));
        }
        for r in &batch.recordings {
            all_events.extend(r.event_ids.iter().cloned());
        }
        results.extend(detectors::eval::cite(&batch.recordings, &findings));
    }
    let caught = results.iter().filter(|r| r.caught).count();
    let events = all_events.len();
    let cited = all_events.intersection(&cited_events).count();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "recordings": dir.display().to_string(),
                "techniques": results.len(),
                "caught": caught,
                "events": events,
                "cited_events": cited,
                "results": results,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let width = results
        .iter()
        .map(|r| r.technique.len())
        .max()
        .unwrap_or(9)
        .max(9);
    println!(
        "{:<width$} {:>6} {:>6}  {:<7} cited by",
        "technique", "events", "cited", "caught"
    );
    for r in &results {
        println!(
            "{:<width$} {:>6} {:>6}  {:<7} {}",
            r.technique,
            r.events,
            r.cited_events,
            if r.caught { "yes" } else { "MISSED" },
            r.detectors.join(", ")
        );
    }
    println!(
        "\n{caught} of {} techniques cited by a finding; {cited} of {events} events cited",
        results.len()
    );
    Ok(ExitCode::SUCCESS)
}

//! `trailhound incidents list|show`: the lake's findings grouped per intrusion
//! ([`detectors::incident`]).

use std::process::ExitCode;

use detectors::incident::{Incident, from_lake, group};

use crate::cli::{IncidentsCommand, UsageError};

fn iso(micros: i64) -> String {
    pipeline::time::rfc3339_millis(micros.div_euclid(1000)).unwrap_or_default()
}

fn short(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or(arn)
}

/// The lake's incidents.
async fn incidents(lake: &str) -> anyhow::Result<Vec<Incident>> {
    let (_, ctx) = crate::lake::open_lake(lake, &detectors::views::embedded()).await?;
    let (members, infrastructure) = from_lake(&ctx).await?;
    Ok(group(&members, &infrastructure))
}

pub async fn run(cmd: IncidentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IncidentsCommand::List(args) => {
            let (since, until) = args.time.micros()?;
            let all = incidents(&args.lake.uri).await?;
            let shown: Vec<&Incident> = all
                .iter()
                .filter(|i| since.is_none_or(|s| i.last_seen >= s))
                .filter(|i| until.is_none_or(|u| i.first_seen < u))
                .collect();
            if args.json {
                println!("{}", serde_json::to_string(&shown)?);
                return Ok(ExitCode::SUCCESS);
            }
            if shown.is_empty() {
                eprintln!("no incidents in {}", args.lake.uri);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<20} {:<8} {:<24} {:<24} {:>8}  involves",
                "incident", "severity", "first", "last", "findings"
            );
            for i in &shown {
                let mut who: Vec<String> = i
                    .functions
                    .iter()
                    .map(|f| format!("function {f}"))
                    .collect();
                who.extend(i.principals.iter().map(|p| short(p).to_string()));
                println!(
                    "{:<20} {:<8} {:<24} {:<24} {:>8}  {}",
                    i.id,
                    i.severity.caption(),
                    iso(i.first_seen),
                    iso(i.last_seen),
                    i.findings.len(),
                    who.join(", ")
                );
            }
            eprintln!(
                "{} incidents from {} findings",
                shown.len(),
                shown.iter().map(|i| i.findings.len()).sum::<usize>()
            );
            Ok(ExitCode::SUCCESS)
        }
        IncidentsCommand::Show(args) => {
            let all = incidents(&args.lake.uri).await?;
            let Some(i) = all.iter().find(|i| i.id == args.id) else {
                return Err(UsageError(format!(
                    "no incident {} in {} (`trailhound incidents list --lake {}` lists them)",
                    args.id, args.lake.uri, args.lake.uri
                ))
                .into());
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(i)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{} [{}] {}", i.id, i.severity.caption(), i.title);
            println!("from {} to {}", iso(i.first_seen), iso(i.last_seen));
            let line = |label: &str, v: &[String]| {
                if !v.is_empty() {
                    println!("{label:<12} {}", v.join(", "));
                }
            };
            line("functions", &i.functions);
            line("principals", &i.principals);
            line("access keys", &i.access_key_ids);
            line("addresses", &i.source_ips);
            line("detectors", &i.detectors);
            println!();
            for (n, f) in i.findings.iter().enumerate() {
                println!(
                    "{:>3}. {}  [{}] {} ({})",
                    n + 1,
                    iso(f.first_seen),
                    f.severity.caption(),
                    f.title,
                    f.detector_id
                );
                println!("     {}", f.summary);
                println!("     finding {}", f.uid);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `trailhound drift`: the least-privilege drift report (detectors::iam::drift) written as
//! report.json (the next run's --previous), report.md and one suggested policy per role.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use detectors::iam::drift::{self, Options, Report, RoleReport};

use crate::UsageError;
use crate::cli::DriftArgs;

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
        crate::query::open_session(&args.lake, &detectors::views::embedded()).await?;
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
    write(&args.out, &report)?;
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

/// A file name for a role: its name, with anything but letters, digits, `-`, `_`, `.` and `+`
/// replaced, and its account when the report covers several.
fn file_name(r: &RoleReport, accounts: usize) -> String {
    let clean: String = r
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if accounts > 1 {
        format!("{}-{clean}.json", r.account_id)
    } else {
        format!("{clean}.json")
    }
}

fn write(dir: &Path, report: &Report) -> anyhow::Result<()> {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)
        .with_context(|| format!("creating {}", policies.display()))?;
    let put = |path: &Path, text: String| {
        let tmp = path.with_extension("inprogress");
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    };
    let accounts = report.snapshots.len();
    for r in &report.roles {
        put(
            &policies.join(file_name(r, accounts)),
            serde_json::to_string_pretty(&r.suggested_policy)? + "\n",
        )?;
    }
    put(
        &dir.join("report.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    put(&dir.join("report.md"), markdown(report))?;
    Ok(())
}

fn list(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = items.iter().take(max).map(|a| format!("`{a}`")).collect();
    let more = items.len().saturating_sub(max);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The report for people: a summary table, then each role.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let s = &report.summary;
    let _ = writeln!(md, "# Least-privilege drift report\n");
    let _ = writeln!(
        md,
        "Usage window: {} to {} ({:.0} days). IAM snapshot: {}. Generated {}.\n",
        report.window.since,
        report.window.until,
        report.window.days,
        report
            .snapshots
            .iter()
            .map(|(a, d)| format!("{a} on {d}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.generated_at
    );
    let _ = writeln!(
        md,
        "{} roles ({} Lambda function roles), {} with unused permissions: {} unused actions, {} of \
         them write, permissions-management or privilege-escalation actions.\n",
        s.roles,
        s.function_roles,
        s.roles_with_unused,
        s.unused_actions,
        s.unused_sensitive_actions
    );
    let _ = writeln!(
        md,
        "| role | function | granted | used | unused | unused sensitive | unused services |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
    for r in &report.roles {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            if r.function_role { "yes" } else { "" },
            r.granted_count,
            r.used_count,
            r.unused_count,
            r.unused_sensitive_count,
            r.unused_services.len()
        );
    }
    for r in &report.roles {
        let _ = writeln!(md, "\n## {}\n", r.name);
        let _ = writeln!(
            md,
            "`{}`{}\n",
            r.arn,
            if r.function_role {
                " (Lambda function role)"
            } else {
                ""
            }
        );
        let _ = writeln!(md, "- Policies: {}", list(&r.policies, 20));
        let _ = writeln!(
            md,
            "- Granted {} actions, used {} in the window, {} unused.",
            r.granted_count, r.used_count, r.unused_count
        );
        if !r.used_by_lambda.is_empty() {
            let _ = writeln!(
                md,
                "- Used by Lambda for the function (logs, network interfaces; not in CloudTrail, \
                 keep): {}",
                list(&r.used_by_lambda, 10)
            );
        }
        let _ = writeln!(md, "- Unused: {}", list(&r.unused, 30));
        let _ = writeln!(md, "- Unused services: {}", list(&r.unused_services, 30));
        let sensitive: Vec<String> = r
            .unused_sensitive
            .iter()
            .map(|a| {
                if a.privilege_escalation {
                    format!("{} (privilege escalation)", a.action)
                } else {
                    a.action.clone()
                }
            })
            .collect();
        let _ = writeln!(
            md,
            "- Remove first (unused, and they change things): {}",
            list(&sensitive, 25)
        );
        if !r.used_not_granted.is_empty() {
            let _ = writeln!(
                md,
                "- Used but not granted by the snapshot (resource or session policies, or a \
                 policy changed since): {}",
                list(&r.used_not_granted, 20)
            );
        }
        if let Some(c) = &r.changes {
            if c.new_role {
                let _ = writeln!(md, "- New since the previous report.");
            } else {
                let _ = writeln!(md, "- Newly granted: {}", list(&c.newly_granted, 20));
                let _ = writeln!(
                    md,
                    "- No longer granted: {}",
                    list(&c.no_longer_granted, 20)
                );
                let _ = writeln!(md, "- Newly used: {}", list(&c.newly_used, 20));
                let _ = writeln!(md, "- Newly unused: {}", list(&c.newly_unused, 20));
            }
        }
        if !r.used.is_empty() {
            let _ = writeln!(md, "\n| used action | calls | last used |\n|---|---:|---|");
            for u in &r.used {
                let _ = writeln!(md, "| `{}` | {} | {} |", u.action, u.calls, u.last_used);
            }
        }
        let _ = writeln!(
            md,
            "\nA policy that would have been enough:\n\n```json\n{}\n```",
            serde_json::to_string_pretty(&r.suggested_policy).unwrap_or_default()
        );
    }
    md
}

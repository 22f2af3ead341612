//! `trailhound drift`: the least-privilege drift report (detectors::iam::drift) written as
//! report.json (the next run's --previous), report.md, a self-contained report.html with
//! charts, and one suggested policy per role.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use detectors::iam::drift::{self, Options, Report, RoleReport};

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
    write(&args.out, &report)?;
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
    let (bucket, key_prefix) = pipeline::aws::parse_s3_uri(prefix)
        .ok_or_else(|| UsageError(format!("--publish {prefix:?}: expected s3://bucket/prefix")))?;
    let day = report.generated_at.get(..10).unwrap_or("report");
    let base = format!(
        "{}{day}",
        if key_prefix.is_empty() || key_prefix.ends_with('/') {
            key_prefix.clone()
        } else {
            format!("{key_prefix}/")
        }
    );
    let s3 = pipeline::aws::s3_client(&pipeline::aws::sdk_config().await);
    let mut files = Vec::new();
    pipeline::lake::walk(dir, &mut |p| files.push(p.to_path_buf()))
        .with_context(|| format!("listing {}", dir.display()))?;
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let key = format!("{base}/{rel}");
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("md") => "text/markdown; charset=utf-8",
            _ => "application/json",
        };
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "s3 PutObject s3://{bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(format!("s3://{bucket}/{base}/report.html"))
}

/// The summary for people subscribed to the topic: counts and the roles with most to remove.
pub fn summary_text(report: &Report, location: &str) -> String {
    let s = &report.summary;
    let mut text = format!(
        "Least-privilege drift report, {} to {}: {} of {} roles hold permissions they never used \
         ({} unused actions, {} that change things).\nReport: {location}\n",
        report.window.since,
        report.window.until,
        s.roles_with_unused,
        s.roles,
        s.unused_actions,
        s.unused_sensitive_actions
    );
    let mut roles: Vec<&RoleReport> = report.roles.iter().filter(|r| r.unused_count > 0).collect();
    roles.sort_by_key(|r| std::cmp::Reverse((r.unused_sensitive_count, r.unused_count)));
    for r in roles.iter().take(20) {
        let _ = writeln!(
            text,
            "- {}: {} of {} granted actions unused, {} that change things",
            r.arn, r.unused_count, r.granted_count, r.unused_sensitive_count
        );
    }
    text
}

/// Publish the summary to an SNS topic.
async fn notify(topic: &str, report: &Report, location: &str) -> anyhow::Result<()> {
    let sns = aws_sdk_sns::Client::new(&pipeline::aws::sdk_config().await);
    let attr = |v: &str| {
        aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
    };
    sns.publish()
        .topic_arn(topic)
        .subject("trailhound least-privilege drift report")
        .message(summary_text(report, location))
        .message_attributes("kind", attr("drift-report")?)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "sns Publish {topic}: {}",
                aws_sdk_sns::error::DisplayErrorContext(e)
            )
        })?;
    Ok(())
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

pub fn write(dir: &Path, report: &Report) -> anyhow::Result<()> {
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
    put(&dir.join("report.html"), html(report))?;
    Ok(())
}

/// The first `max` items, each written by `each`, then how many more; "none" for none.
fn shown(items: &[String], max: usize, each: impl Fn(&str) -> String) -> String {
    if items.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = items.iter().take(max).map(|a| each(a)).collect();
    let more = items.len().saturating_sub(max);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn list(items: &[String], max: usize) -> String {
    shown(items, max, |a| format!("`{a}`"))
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One role's bar: what share of its grant was used, used by Lambda, unused (sensitive in red).
fn bar_svg(r: &RoleReport) -> String {
    let total = r.granted_count.max(1) as f64;
    let w = 240.0;
    // Only what the grant covers (a call can be allowed by something else).
    let used = r.used_count.saturating_sub(r.used_not_granted.len()) as f64;
    let lambda = r.used_by_lambda.len() as f64;
    let sensitive = r.unused_sensitive_count as f64;
    let other = (r.unused_count as f64 - sensitive).max(0.0);
    let mut x = 0.0;
    let mut out = format!(
        r#"<svg class="bar" width="{w}" height="14" role="img" aria-label="{} of {} granted actions used">"#,
        r.used_count, r.granted_count
    );
    for (n, class) in [
        (used, "used"),
        (lambda, "lambda"),
        (sensitive, "sensitive"),
        (other, "unused"),
    ] {
        let width = n / total * w;
        if width > 0.0 {
            out.push_str(&format!(
                r#"<rect class="{class}" x="{x:.2}" y="0" width="{width:.2}" height="14"/>"#
            ));
            x += width;
        }
    }
    out.push_str("</svg>");
    out
}

/// The report as one self-contained HTML page: inline style and SVG charts, nothing fetched.
pub fn html(report: &Report) -> String {
    let s = &report.summary;
    let mut h = String::new();
    h.push_str(r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">"#);
    h.push_str(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#);
    h.push_str("<title>Least-privilege drift report</title><style>");
    h.push_str(
        "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
         table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}\
         th.n,td.n{text-align:right}code{font-size:12px}.bar rect.used{fill:#2e8540}.bar rect.lambda{fill:#4a77b4}\
         .bar rect.sensitive{fill:#c0392b}.bar rect.unused{fill:#bbb}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}\
         details{margin:.6em 0;border:1px solid #ddd;border-radius:4px;padding:.4em .8em}summary{cursor:pointer;font-weight:600}\
         pre{background:#f6f6f6;padding:.6em;overflow:auto}",
    );
    h.push_str("</style></head><body>");
    h.push_str(r#"<script>window.__errors=[];window.addEventListener("error",function(e){window.__errors.push(String(e.message))});</script>"#);
    h.push_str("<h1>Least-privilege drift report</h1>");
    h.push_str(&format!(
        "<p>Usage window {} to {} ({:.0} days); IAM snapshot {}; generated {}.</p>",
        esc(&report.window.since),
        esc(&report.window.until),
        report.window.days,
        esc(&report
            .snapshots
            .iter()
            .map(|(a, d)| format!("{a} on {d}"))
            .collect::<Vec<_>>()
            .join(", ")),
        esc(&report.generated_at)
    ));
    h.push_str(&format!(
        r#"<p id="summary">{} roles ({} Lambda function roles), {} with unused permissions: {} unused actions, {} of them write, permissions-management or privilege-escalation actions.</p>"#,
        s.roles, s.function_roles, s.roles_with_unused, s.unused_actions, s.unused_sensitive_actions
    ));
    h.push_str(
        r#"<p class="legend">Share of each role's grant:<span style="background:#2e8540"></span>used<span style="background:#4a77b4"></span>used by Lambda<span style="background:#c0392b"></span>unused, changes things<span style="background:#bbb"></span>unused</p>"#,
    );
    h.push_str(r#"<table id="roles"><thead><tr><th>role</th><th>function</th><th class="n">granted</th><th class="n">used</th><th class="n">unused</th><th class="n">sensitive</th><th>grant used</th></tr></thead><tbody>"#);
    for r in &report.roles {
        h.push_str(&format!(
            r##"<tr><td><a href="#{}">{}</a></td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"##,
            esc(&r.arn),
            esc(&r.name),
            if r.function_role { "yes" } else { "" },
            r.granted_count,
            r.used_count,
            r.unused_count,
            r.unused_sensitive_count,
            bar_svg(r)
        ));
    }
    h.push_str("</tbody></table>");
    let codes =
        |items: &[String], max: usize| shown(items, max, |a| format!("<code>{}</code>", esc(a)));
    for r in &report.roles {
        h.push_str(&format!(
            r#"<details id="{}"><summary>{} — {} of {} granted actions unused</summary>"#,
            esc(&r.arn),
            esc(&r.name),
            r.unused_count,
            r.granted_count
        ));
        h.push_str(&format!("<p><code>{}</code></p><ul>", esc(&r.arn)));
        h.push_str(&format!("<li>Policies: {}</li>", codes(&r.policies, 20)));
        let sensitive: Vec<String> = r
            .unused_sensitive
            .iter()
            .map(|a| a.action.clone())
            .collect();
        h.push_str(&format!("<li>Remove first: {}</li>", codes(&sensitive, 40)));
        h.push_str(&format!(
            "<li>Unused services: {}</li>",
            codes(&r.unused_services, 40)
        ));
        h.push_str(&format!("<li>Unused: {}</li>", codes(&r.unused, 60)));
        if !r.used_by_lambda.is_empty() {
            h.push_str(&format!(
                "<li>Used by Lambda (keep): {}</li>",
                codes(&r.used_by_lambda, 10)
            ));
        }
        if let Some(c) = &r.changes {
            h.push_str(&format!(
                "<li>Newly granted: {}</li><li>Newly used: {}</li><li>Newly unused: {}</li>",
                codes(&c.newly_granted, 30),
                codes(&c.newly_used, 30),
                codes(&c.newly_unused, 30)
            ));
        }
        h.push_str("</ul>");
        if !r.used.is_empty() {
            h.push_str(r#"<table><thead><tr><th>used action</th><th class="n">calls</th><th>last used</th></tr></thead><tbody>"#);
            for u in &r.used {
                h.push_str(&format!(
                    r#"<tr><td><code>{}</code></td><td class="n">{}</td><td>{}</td></tr>"#,
                    esc(&u.action),
                    u.calls,
                    esc(&u.last_used)
                ));
            }
            h.push_str("</tbody></table>");
        }
        h.push_str(&format!(
            "<p>A policy that would have been enough:</p><pre>{}</pre></details>",
            esc(&serde_json::to_string_pretty(&r.suggested_policy).unwrap_or_default())
        ));
    }
    h.push_str(r#"<script>document.body.setAttribute("data-rendered",window.__errors.length?"errors: "+window.__errors.join("; "):"ok");</script>"#);
    h.push_str("</body></html>\n");
    h
}

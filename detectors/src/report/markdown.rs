//! The drift report as Markdown (`report.md`): a summary table, then each role.

use std::fmt::Write as _;

use super::{shown, snapshots};
use crate::iam::drift::Report;

fn list(items: &[String], max: usize) -> String {
    shown(items, max, |a| format!("`{a}`"))
}

/// The report for people: a summary table, then each role.
pub fn render(report: &Report) -> String {
    let mut md = String::new();
    let s = &report.summary;
    let _ = writeln!(md, "# Least-privilege drift report\n");
    let _ = writeln!(
        md,
        "Usage window: {} to {} ({:.0} days). IAM snapshot: {}. Generated {}.\n",
        report.window.since,
        report.window.until,
        report.window.days,
        snapshots(report),
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

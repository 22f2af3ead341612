//! The drift report as one self-contained HTML page (`report.html`): inline style, an SVG bar
//! per role, nothing fetched.

use super::{escape, shown, snapshots};
use crate::iam::drift::{Report, RoleReport};

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
pub fn render(report: &Report) -> String {
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
        escape(&report.window.since),
        escape(&report.window.until),
        report.window.days,
        escape(&snapshots(report)),
        escape(&report.generated_at)
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
            escape(&r.arn),
            escape(&r.name),
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
        |items: &[String], max: usize| shown(items, max, |a| format!("<code>{}</code>", escape(a)));
    for r in &report.roles {
        h.push_str(&format!(
            r#"<details id="{}"><summary>{} — {} of {} granted actions unused</summary>"#,
            escape(&r.arn),
            escape(&r.name),
            r.unused_count,
            r.granted_count
        ));
        h.push_str(&format!("<p><code>{}</code></p><ul>", escape(&r.arn)));
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
                    escape(&u.action),
                    u.calls,
                    escape(&u.last_used)
                ));
            }
            h.push_str("</tbody></table>");
        }
        h.push_str(&format!(
            "<p>A policy that would have been enough:</p><pre>{}</pre></details>",
            escape(&serde_json::to_string_pretty(&r.suggested_policy).unwrap_or_default())
        ));
    }
    h.push_str(r#"<script>document.body.setAttribute("data-rendered",window.__errors.length?"errors: "+window.__errors.join("; "):"ok");</script>"#);
    h.push_str("</body></html>\n");
    h
}

//! Reports for people, rendered from what the library computed: the least-privilege drift
//! report's files ([`write`]: `report.json`, `report.md` from [`markdown`], a self-contained
//! `report.html` with SVG bars from [`html`], one suggested policy per role), the summary its
//! topic's subscribers read ([`summary_text`]), and [`escape`], the one HTML/XML escaper (the
//! drift page and the baseline plot use it).

pub mod html;
pub mod markdown;

use std::fmt::Write as _;
use std::path::Path;

use crate::iam::drift::{Report, RoleReport};
use crate::{Error, Result};

/// `s` as HTML or XML text or attribute value: `&`, `<`, `>` and `"` escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Write the drift report into `dir` (created if need be): `report.json` (the next run's
/// `--previous`), `report.md`, `report.html` and `policies/<role>.json`, each file written
/// whole to a temporary name and renamed into place.
pub fn write(dir: &Path, report: &Report) -> Result<()> {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).map_err(|e| Error::io("creating", &policies, e))?;
    let put = |path: &Path, text: std::result::Result<String, serde_json::Error>| {
        let text = text.map_err(|e| Error::io("writing", path, e.into()))?;
        let tmp = path.with_extension("inprogress");
        std::fs::write(&tmp, text).map_err(|e| Error::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("writing", path, e))
    };
    let accounts = report.snapshots.len();
    for r in &report.roles {
        put(
            &policies.join(file_name(r, accounts)),
            serde_json::to_string_pretty(&r.suggested_policy).map(|t| t + "\n"),
        )?;
    }
    put(
        &dir.join("report.json"),
        serde_json::to_string_pretty(report).map(|t| t + "\n"),
    )?;
    put(&dir.join("report.md"), Ok(markdown::render(report)))?;
    put(&dir.join("report.html"), Ok(html::render(report)))?;
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

/// The summary for people subscribed to the report's topic: counts and the roles with most
/// to remove; `location` is where the whole report is.
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

/// The accounts' snapshot days, as the report's header says them.
fn snapshots(report: &Report) -> String {
    report
        .snapshots
        .iter()
        .map(|(a, d)| format!("{a} on {d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of two roles in two accounts, one with a name to escape.
    fn report() -> Report {
        let role = |account: &str, name: &str, unused: usize, sensitive: usize| {
            serde_json::json!({
                "arn": format!("arn:aws:iam::{account}:role/{name}"),
                "name": name,
                "account_id": account,
                "function_role": true,
                "trusted_services": ["lambda.amazonaws.com"],
                "policies": ["inline:p"],
                "granted_count": 3,
                "granted": ["s3:GetObject", "s3:PutObject", "iam:PassRole"],
                "used_count": 1,
                "used": [{"action": "s3:GetObject", "calls": 4,
                          "first_used": "2026-11-01T00:00:00Z", "last_used": "2026-11-02T00:00:00Z"}],
                "used_not_granted": [],
                "unused_count": unused,
                "unused": ["s3:PutObject", "iam:PassRole"],
                "unused_services": ["iam"],
                "unused_sensitive_count": sensitive,
                "unused_sensitive": [{"action": "iam:PassRole", "level": "Write",
                                      "privilege_escalation": true}],
                "suggested_policy": {"Version": "2012-10-17", "Statement": []},
            })
        };
        serde_json::from_value(serde_json::json!({
            "schema": crate::iam::drift::SCHEMA,
            "generated_at": "2026-11-03T00:00:00Z",
            "window": {"since": "2026-08-05T00:00:00Z", "until": "2026-11-03T00:00:00Z", "days": 90.0},
            "snapshots": {"111122223333": "2026-11-01", "444455556666": "2026-11-01"},
            "summary": {"roles": 2, "function_roles": 2, "roles_with_unused": 2,
                        "unused_actions": 3, "unused_sensitive_actions": 2, "calls": 8},
            "roles": [role("111122223333", "few", 1, 0), role("444455556666", "a<b&\"c\"", 2, 2)],
        }))
        .unwrap()
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&amp;</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn writes_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = report();
        write(dir.path(), &r).unwrap();
        let read = |rel: &str| std::fs::read_to_string(dir.path().join(rel)).unwrap();
        // Two accounts: the account names each policy file.
        for rel in [
            "policies/111122223333-few.json",
            "policies/444455556666-a_b__c_.json",
        ] {
            assert!(read(rel).contains("2012-10-17"), "{rel}");
        }
        let back: Report = serde_json::from_str(&read("report.json")).unwrap();
        assert_eq!(back.roles.len(), 2);
        assert!(read("report.md").contains("## a<b&\"c\"\n"));
        let html = read("report.html");
        assert!(html.contains("a&lt;b&amp;&quot;c&quot;") && !html.contains("a<b"));
        assert!(html.ends_with("</body></html>\n"));
        let leftover = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("inprogress".as_ref()))
            .count();
        assert_eq!(leftover, 0);
    }

    #[test]
    fn summary_names_the_roles_with_most_to_remove_first() {
        let text = summary_text(&report(), "s3://b/reports/2026-11-03/report.html");
        assert!(text.starts_with(
            "Least-privilege drift report, 2026-08-05T00:00:00Z to 2026-11-03T00:00:00Z: 2 of 2 \
             roles hold permissions they never used (3 unused actions, 2 that change things).\n\
             Report: s3://b/reports/2026-11-03/report.html\n"
        ));
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("444455556666") && lines[1].contains(":role/few:"));
    }

    #[test]
    fn long_lists_say_how_many_more() {
        let items: Vec<String> = (0..5).map(|i| format!("a{i}")).collect();
        assert_eq!(shown(&items, 2, str::to_string), "a0, a1 and 3 more");
        assert_eq!(shown(&[], 2, str::to_string), "none");
    }
}

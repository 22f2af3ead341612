//! The detector registry: `sql/detectors/<id>.sql` + `<id>.toml`, embedded in the binary and
//! extended or overridden by a directory of the same files (`--sql-dir`).
//!
//! A detector's SQL returns one row per piece of evidence. Two columns are required:
//! `subject` (what the finding is about: a role, an access key, a function) and `event_time`
//! (a timestamp). Rows of one subject close in time (within the detector's `dedup_window`)
//! make one finding. Optional columns fill the finding: `actor_arn`, `function_name`,
//! `event_id`, `source_uri`, `source_record_index`, `source_ip_address`, `user_agent`,
//! `access_key_id`, `event_source`, `event_name`, `error_code`, `request_id`, `reason`,
//! `account_id`, `region`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../sql/detectors");

/// The tables a detector may name in `tables`.
pub const KNOWN_TABLES: &[&str] = &["cloudtrail", "lambda_invocations", "lambda_logs", "iam"];

/// The raw tables a detector's window applies to (the streaming watch reads them from the
/// window before the new events).
pub const WINDOWED_TABLES: &[&str] = &["cloudtrail", "lambda_invocations"];

/// The severities of OCSF, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// OCSF `severity_id`.
    pub fn id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    /// `low`, `High`, …: a severity by name (any case).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Severity::Informational),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// OCSF `severity` caption.
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

/// `<id>.toml`: what the detector is, for the people who read its findings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids (`T1552.005`).
    #[serde(default)]
    pub mitre: Vec<String>,
    /// The lake tables the SQL reads.
    pub tables: Vec<String>,
    /// How far before an event the SQL reads other raw events (`30m` for a burst counted over
    /// ten minutes either side; `0s` when it looks at each event alone or compares only with
    /// the shared views' history). The streaming watch reads this much before new events.
    #[serde(default = "default_window")]
    pub window: String,
    /// Per raw table, a window other than `window`: `{ cloudtrail = "0s" }` for a detector that
    /// looks back only at the Lambda invocations (an invocation may have started 15 minutes
    /// before the call it covers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub windows: BTreeMap<String, String>,
    /// Evidence of one subject closer than this makes one finding (`1h`).
    #[serde(default = "default_dedup")]
    pub dedup_window: String,
    /// Benign activity that looks the same.
    #[serde(default)]
    pub false_positives: Vec<String>,
    /// What a responder does with a finding.
    #[serde(default)]
    pub runbook: String,
    /// The SQL runs as is in other SQL engines (DuckDB): the benchmark compares them.
    #[serde(default)]
    pub portable: bool,
    /// Golden tests: fixtures that must fire and look-alikes that must not.
    #[serde(default)]
    pub tests: Vec<GoldenTest>,
}

fn default_window() -> String {
    "0s".into()
}

fn default_dedup() -> String {
    "1h".into()
}

/// One golden test: rows written to an empty lake, and how many findings they must give.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenTest {
    pub name: String,
    /// Findings the detector must produce on these rows (0 for a look-alike).
    pub expect: usize,
    /// Column values every row of this test starts from.
    #[serde(default)]
    pub defaults: toml::Table,
    /// Rows: `table` (default `cloudtrail`), `repeat` (default 1) and `every` (`10s`: the
    /// time step between repeats) shape them; every other key is a column of the table. An
    /// array value is cycled over the repeats.
    #[serde(default)]
    pub rows: Vec<toml::Table>,
}

/// One detector: its metadata and SQL, and where they came from.
#[derive(Debug, Clone)]
pub struct Detector {
    pub meta: Meta,
    pub sql: String,
    /// `sql/detectors/<id>.sql` (embedded) or the file's path under `--sql-dir`.
    pub sql_path: String,
    pub toml_path: String,
    /// Evidence closer than this makes one finding (µs).
    pub dedup_micros: i64,
    /// How far before an event the SQL reads other raw events (µs).
    pub window_micros: i64,
    /// Per raw table, a window other than [`Detector::window_micros`] (µs).
    pub table_windows: BTreeMap<String, i64>,
}

impl Detector {
    /// How far before an event the SQL reads the raw table `table` (µs).
    pub fn window_of(&self, table: &str) -> i64 {
        self.table_windows
            .get(table)
            .copied()
            .unwrap_or(self.window_micros)
    }
}

/// The detectors, sorted by id, and the views their SQL may read.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub detectors: Vec<Detector>,
    pub views: Vec<crate::views::View>,
}

fn invalid(path: &str, message: impl Into<String>) -> Error {
    Error::Detector {
        path: path.to_string(),
        message: message.into(),
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn parse_meta(path: &str, stem: &str, text: &str) -> Result<Meta> {
    let meta: Meta = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!("line {}: ", line_of(text, s.start)))
            .unwrap_or_default();
        invalid(path, format!("{line}{}", e.message()))
    })?;
    let line_of_key = |key: &str| {
        text.find(&format!("{key} ="))
            .or_else(|| text.find(key))
            .map(|o| line_of(text, o))
            .unwrap_or(1)
    };
    if meta.id != stem {
        return Err(invalid(
            path,
            format!(
                "line {}: id {:?} differs from the file name {stem:?} (a detector's files are <id>.sql and <id>.toml)",
                line_of_key("id"),
                meta.id
            ),
        ));
    }
    if meta.id.is_empty()
        || !meta
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(
            path,
            format!(
                "line {}: id {:?} must be lowercase letters, digits and '-'",
                line_of_key("id"),
                meta.id
            ),
        ));
    }
    for t in &meta.tables {
        if !KNOWN_TABLES.contains(&t.as_str()) {
            return Err(invalid(
                path,
                format!(
                    "line {}: unknown table {t:?} in tables; known: {}",
                    line_of_key("tables"),
                    KNOWN_TABLES.join(", ")
                ),
            ));
        }
    }
    for table in meta.windows.keys() {
        if !WINDOWED_TABLES.contains(&table.as_str()) {
            return Err(invalid(
                path,
                format!(
                    "line {}: windows names {table:?}; a window applies to {}",
                    line_of_key("windows"),
                    WINDOWED_TABLES.join(", ")
                ),
            ));
        }
    }
    for (key, value) in [
        ("window", &meta.window),
        ("dedup_window", &meta.dedup_window),
    ]
    .into_iter()
    .chain(meta.windows.values().map(|v| ("windows", v)))
    {
        if pipeline::time::parse_duration(value).is_none() {
            return Err(invalid(
                path,
                format!(
                    "line {}: {key} {value:?} is not a duration (30d, 12h, 10m, 45s)",
                    line_of_key(key)
                ),
            ));
        }
    }
    for m in &meta.mitre {
        let ok = m.len() >= 5
            && m.starts_with('T')
            && m[1..5].chars().all(|c| c.is_ascii_digit())
            && (m.len() == 5
                || (m.len() == 9 && &m[5..6] == "." && m[6..].chars().all(|c| c.is_ascii_digit())));
        if !ok {
            return Err(invalid(
                path,
                format!(
                    "line {}: {m:?} is not a MITRE ATT&CK technique id (T1078 or T1078.004)",
                    line_of_key("mitre")
                ),
            ));
        }
    }
    for (i, t) in meta.tests.iter().enumerate() {
        if t.rows.is_empty() && t.expect > 0 {
            return Err(invalid(
                path,
                format!(
                    "test {} ({:?}) expects findings but has no rows",
                    i + 1,
                    t.name
                ),
            ));
        }
    }
    Ok(meta)
}

fn build(meta: Meta, sql: String, sql_path: String, toml_path: String) -> Result<Detector> {
    if sql.trim().is_empty() {
        return Err(invalid(&sql_path, "the SQL file is empty"));
    }
    let dedup_micros = pipeline::time::parse_duration(&meta.dedup_window).unwrap_or(3_600_000_000);
    let window_micros = pipeline::time::parse_duration(&meta.window).unwrap_or(0);
    let table_windows = meta
        .windows
        .iter()
        .map(|(t, w)| (t.clone(), pipeline::time::parse_duration(w).unwrap_or(0)))
        .collect();
    Ok(Detector {
        meta,
        sql,
        sql_path,
        toml_path,
        dedup_micros,
        window_micros,
        table_windows,
    })
}

/// Pair `<stem>.sql` with `<stem>.toml` among `files` ((name, text) pairs); `origin` prefixes
/// the paths in messages.
fn pair(
    files: Vec<(String, String)>,
    origin: &dyn Fn(&str) -> String,
) -> Result<BTreeMap<String, Detector>> {
    let mut sqls: BTreeMap<String, String> = BTreeMap::new();
    let mut tomls: BTreeMap<String, String> = BTreeMap::new();
    for (name, text) in files {
        if let Some(stem) = name.strip_suffix(".sql") {
            sqls.insert(stem.to_string(), text);
        } else if let Some(stem) = name.strip_suffix(".toml") {
            tomls.insert(stem.to_string(), text);
        }
    }
    let mut out = BTreeMap::new();
    for stem in sqls.keys().chain(tomls.keys()) {
        if out.contains_key(stem) {
            continue;
        }
        let sql_path = origin(&format!("{stem}.sql"));
        let toml_path = origin(&format!("{stem}.toml"));
        let (Some(sql), Some(toml)) = (sqls.get(stem), tomls.get(stem)) else {
            let (have, missing) = if sqls.contains_key(stem) {
                (&sql_path, &toml_path)
            } else {
                (&toml_path, &sql_path)
            };
            return Err(invalid(
                have,
                format!("has no {missing} beside it (a detector is one .sql and one .toml)"),
            ));
        };
        let meta = parse_meta(&toml_path, stem, toml)?;
        out.insert(stem.clone(), build(meta, sql.clone(), sql_path, toml_path)?);
    }
    Ok(out)
}

fn embedded_files() -> Vec<(String, String)> {
    EMBEDDED
        .files()
        .filter_map(|f| {
            Some((
                f.path().file_name()?.to_str()?.to_string(),
                f.contents_utf8()?.to_string(),
            ))
        })
        .collect()
}

/// The directory of detector files under `dir`: `dir/detectors` when it exists (a directory
/// laid out like `sql/`), else `dir` itself.
pub fn detector_dir(dir: &Path) -> PathBuf {
    let sub = dir.join("detectors");
    if sub.is_dir() { sub } else { dir.to_path_buf() }
}

fn dir_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let io = |e: std::io::Error| {
        invalid(
            &dir.display().to_string(),
            format!("reading the detector directory: {e}"),
        )
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !(name.ends_with(".sql") || name.ends_with(".toml")) || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| invalid(&path.display().to_string(), format!("reading: {e}")))?;
        out.push((name.to_string(), text));
    }
    Ok(out)
}

impl Registry {
    /// The embedded detectors and views, extended and overridden (same id or name) by those in
    /// `sql_dir` (`sql_dir/views/*.sql` for views).
    pub fn load(sql_dir: Option<&Path>) -> Result<Registry> {
        let views = crate::views::load(sql_dir)?;
        let mut all = pair(embedded_files(), &|name| format!("sql/detectors/{name}"))?;
        if let Some(dir) = sql_dir {
            let dir = detector_dir(dir);
            let extra = pair(dir_files(&dir)?, &|name| {
                dir.join(name).display().to_string()
            })?;
            all.extend(extra);
        }
        Ok(Registry {
            detectors: all.into_values().collect(),
            views,
        })
    }

    /// The detectors with these ids (all when `ids` is empty); an unknown id is an error.
    pub fn select(&self, ids: &[String]) -> Result<Vec<&Detector>> {
        if ids.is_empty() {
            return Ok(self.detectors.iter().collect());
        }
        ids.iter()
            .map(|id| {
                self.get(id).ok_or_else(|| Error::UnknownDetector {
                    id: id.clone(),
                    known: self
                        .detectors
                        .iter()
                        .map(|d| d.meta.id.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<&Detector> {
        self.detectors.iter().find(|d| d.meta.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "SELECT actor_arn AS subject, event_time FROM cloudtrail";

    fn toml_of(id: &str, extra: &str) -> String {
        format!(
            "id = \"{id}\"\ntitle = \"t\"\ndescription = \"d\"\nseverity = \"high\"\ntables = [\"cloudtrail\"]\n{extra}"
        )
    }

    /// The error of loading detector `a` with this toml beside a good SQL file.
    fn toml_error(toml: &str) -> String {
        load(&[("a.sql", SQL), ("a.toml", toml)])
            .unwrap_err()
            .to_string()
    }

    fn load(files: &[(&str, &str)]) -> Result<Registry> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Registry::load(Some(dir.path()))
    }

    #[test]
    fn embedded_detectors_load() {
        let r = Registry::load(None).unwrap();
        assert!(r.detectors.len() >= 10, "{}", r.detectors.len());
        for d in &r.detectors {
            assert!(
                !d.meta.tests.is_empty(),
                "{} has no golden tests",
                d.meta.id
            );
            assert!(
                d.meta.tests.iter().any(|t| t.expect > 0)
                    && d.meta.tests.iter().any(|t| t.expect == 0),
                "{} needs a test that fires and a look-alike that does not",
                d.meta.id
            );
        }
    }

    #[test]
    fn a_directory_adds_and_overrides() {
        let r = load(&[
            ("mine.sql", SQL),
            ("mine.toml", &toml_of("mine", "")),
            ("privilege-escalation.sql", SQL),
            (
                "privilege-escalation.toml",
                &toml_of("privilege-escalation", ""),
            ),
        ])
        .unwrap();
        assert!(r.get("mine").is_some());
        assert_eq!(r.get("privilege-escalation").unwrap().sql, SQL);
        assert!(
            r.get("privilege-escalation")
                .unwrap()
                .sql_path
                .ends_with("privilege-escalation.sql")
        );
        assert!(r.select(&["nope".into()]).is_err());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = toml_error(&toml_of("a", "colour = \"red\"\n"));
        assert!(
            e.contains("a.toml") && e.contains("line 6") && e.contains("colour"),
            "{e}"
        );

        let e = load(&[("a.sql", SQL), ("a.toml", &toml_of("b", ""))])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.toml") && e.contains("line 1") && e.contains("file name"),
            "{e}"
        );

        let e = load(&[("a.sql", SQL)]).unwrap_err().to_string();
        assert!(e.contains("a.sql") && e.contains("a.toml"), "{e}");

        let e = toml_error(&toml_of("a", "dedup_window = \"soon\"\n"));
        assert!(e.contains("line 6") && e.contains("soon"), "{e}");

        let e = toml_error(&toml_of("a", "").replace("high", "severe"));
        assert!(e.contains("line 4") && e.contains("severe"), "{e}");

        let e = toml_error(&toml_of("a", "").replace("[\"cloudtrail\"]", "[\"vpc_flow\"]"));
        assert!(e.contains("vpc_flow") && e.contains("line 5"), "{e}");

        let e = toml_error(&toml_of("a", "mitre = [\"T99\"]\n"));
        assert!(e.contains("T99"), "{e}");

        // A window per raw table: only those tables, only durations.
        let e = toml_error(&toml_of("a", "windows = { iam = \"1h\" }\n"));
        assert!(e.contains("iam") && e.contains("line 6"), "{e}");
        let e = toml_error(&toml_of("a", "windows = { cloudtrail = \"soon\" }\n"));
        assert!(e.contains("soon") && e.contains("windows"), "{e}");
    }

    #[test]
    fn a_window_per_table_overrides_the_window() {
        let r = load(&[
            ("a.sql", SQL),
            (
                "a.toml",
                &toml_of("a", "window = \"20m\"\nwindows = { cloudtrail = \"0s\" }\n"),
            ),
        ])
        .unwrap();
        let d = &r.detectors[0];
        assert_eq!(d.window_of("cloudtrail"), 0);
        assert_eq!(d.window_of("lambda_invocations"), 20 * 60_000_000);
    }
}

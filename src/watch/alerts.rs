//! What the watch has alerted on, and the alerts it has not delivered yet.
//!
//! - [`Alerted`] remembers every finding alerted (by uid, and by detector and subject with
//!   its time range), so that a finding seen again — on the next poll, after a restart, or
//!   grown by late events into a wider group — is not alerted twice.
//! - [`Spool`] holds each sink's undelivered alerts as one file per alert, written (and
//!   synced) before the finding counts as alerted and removed once the sink took it: an
//!   outage or a crash delays alerts, it does not lose them.
//!
//! The order that makes a restart (even after `kill -9`) lose and repeat nothing: findings
//! go to the lake, then to every sink's spool, then into the alerted set (one atomic file
//! rename); delivery comes after. A crash before the rename finds the findings again and
//! rewrites the same spool files (named by uid); a crash after it delivers from the spool.
//! The one window left is between a sink accepting an alert and its spool file's removal:
//! that alert is sent again (FIFO SNS topics drop it by its deduplication id).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use detectors::finding::Finding;
use detectors::incident::Member;
use pipeline::sink::{Message, SNS_MAX_BYTES};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One finding alerted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub uid: String,
    pub detector: String,
    pub subject: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub alerted_at: i64,
    /// The incident it was alerted under, and what grouping it needs (records written before
    /// incidents have neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<Member>,
}

/// The findings alerted, kept in `<state_dir>/alerted.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Alerted {
    pub format: u32,
    /// Findings are reported for activity from here on (µs).
    pub since: i64,
    pub entries: Vec<Entry>,
    /// Other uids of findings alerted under another uid (the same incident seen wider).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    #[serde(skip)]
    by_uid: HashMap<String, usize>,
    #[serde(skip)]
    by_subject: HashMap<(String, String), Vec<usize>>,
}

impl Alerted {
    pub fn load(path: &Path, since: i64) -> anyhow::Result<Alerted> {
        let mut a = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Alerted>(&bytes).with_context(|| {
                format!(
                    "reading {} (the watch's record of alerts sent; move it away to start afresh)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Alerted {
                format: 1,
                since,
                ..Alerted::default()
            },
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        a.reindex();
        Ok(a)
    }

    fn reindex(&mut self) {
        self.by_uid.clear();
        self.by_subject.clear();
        for (i, e) in self.entries.iter().enumerate() {
            self.by_uid.insert(e.uid.clone(), i);
            self.by_subject
                .entry((e.detector.clone(), e.subject.clone()))
                .or_default()
                .push(i);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether `f` is new: not alerted under its uid, nor an alerted finding of the same
    /// detector and subject whose time range it meets (within `gap`, the detector's dedup
    /// window). A finding that is not new widens the range remembered (so the next piece of a
    /// long incident is recognised too); `changed` says the record changed.
    pub fn is_new(&mut self, f: &Finding, gap: i64, changed: &mut bool) -> bool {
        let uid = self.aliases.get(&f.uid).unwrap_or(&f.uid).clone();
        if let Some(&i) = self.by_uid.get(&uid) {
            let e = &mut self.entries[i];
            if f.first_seen < e.first_seen || f.last_seen > e.last_seen {
                e.first_seen = e.first_seen.min(f.first_seen);
                e.last_seen = e.last_seen.max(f.last_seen);
                *changed = true;
            }
            return false;
        }
        let key = (f.detector_id.clone(), f.subject.clone());
        if let Some(list) = self.by_subject.get(&key) {
            for &i in list {
                let e = &mut self.entries[i];
                if f.first_seen <= e.last_seen + gap && f.last_seen + gap >= e.first_seen {
                    e.first_seen = e.first_seen.min(f.first_seen);
                    e.last_seen = e.last_seen.max(f.last_seen);
                    self.aliases.insert(f.uid.clone(), e.uid.clone());
                    *changed = true;
                    return false;
                }
            }
        }
        true
    }

    pub fn insert(&mut self, f: &Finding, now: i64, incident: Option<&str>) {
        let i = self.entries.len();
        self.entries.push(Entry {
            uid: f.uid.clone(),
            detector: f.detector_id.clone(),
            subject: f.subject.clone(),
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            alerted_at: now,
            incident: incident.map(str::to_string),
            member: Some(Member::from(f)),
        });
        self.by_uid.insert(f.uid.clone(), i);
        self.by_subject
            .entry((f.detector_id.clone(), f.subject.clone()))
            .or_default()
            .push(i);
    }

    /// Forget findings whose activity ended before `before` (they are out of the watch's
    /// scope too), and move the scope's start up to it.
    pub fn forget_before(&mut self, before: i64) -> bool {
        if self.since >= before && self.entries.iter().all(|e| e.last_seen >= before) {
            return false;
        }
        self.since = self.since.max(before);
        self.entries.retain(|e| e.last_seen >= before);
        let kept: std::collections::HashSet<&str> =
            self.entries.iter().map(|e| e.uid.as_str()).collect();
        self.aliases.retain(|_, to| kept.contains(to.as_str()));
        self.reindex();
        true
    }

    /// Write the record atomically (a new file renamed over the old, synced).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(self)?;
        write_atomic(path, &bytes)
    }
}

/// Write `bytes` to `path` so that a crash leaves the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A spooled alert.
#[derive(Debug, Serialize, Deserialize)]
pub struct Spooled {
    pub queued_at: i64,
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    pub message: Message,
}

/// One sink's undelivered alerts: `<dir>/<uid>.json`, and those refused for good in
/// `<dir>/refused/` with the reason.
pub struct Spool {
    pub dir: PathBuf,
}

impl Spool {
    pub fn open(dir: PathBuf) -> anyhow::Result<Spool> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Spool { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        // Finding uids are hex; anything else is kept to a safe file name.
        let name: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{name}.json"))
    }

    pub fn put(&self, message: &Message, now: i64) -> anyhow::Result<()> {
        let s = Spooled {
            queued_at: now,
            attempts: 0,
            last_error: None,
            message: message.clone(),
        };
        write_atomic(&self.path(&message.id), &serde_json::to_vec(&s)?)
    }

    /// The alerts waiting, oldest first. A spool file that cannot be read is moved to
    /// `refused/` (and reported), not dropped.
    pub fn pending(&self) -> anyhow::Result<Vec<Spooled>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("reading {}", self.dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let read = std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|b| serde_json::from_slice::<Spooled>(&b).map_err(Into::into));
            match read {
                Ok(s) => out.push(s),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "unreadable spooled alert set aside");
                    let to = self.dir.join("refused");
                    std::fs::create_dir_all(&to)?;
                    if let Some(name) = path.file_name() {
                        std::fs::rename(&path, to.join(name))?;
                    }
                }
            }
        }
        out.sort_by(|a, b| (a.queued_at, &a.message.id).cmp(&(b.queued_at, &b.message.id)));
        Ok(out)
    }

    pub fn len(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn done(&self, id: &str) -> anyhow::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.path(id).display()))
            }
            _ => Ok(()),
        }
    }

    /// Note a failed attempt on the spooled alert.
    pub fn failed(&self, mut s: Spooled, why: &str) -> anyhow::Result<()> {
        s.attempts += 1;
        s.last_error = Some(why.to_string());
        write_atomic(&self.path(&s.message.id), &serde_json::to_vec(&s)?)
    }

    /// Set an alert the sink refused for good aside, with the reason.
    pub fn refuse(&self, mut s: Spooled, why: &str) -> anyhow::Result<()> {
        s.last_error = Some(why.to_string());
        let to = self.dir.join("refused");
        std::fs::create_dir_all(&to)?;
        let path = to.join(self.path(&s.message.id).file_name().unwrap_or_default());
        write_atomic(&path, &serde_json::to_vec_pretty(&s)?)?;
        self.done(&s.message.id)
    }

    pub fn refused(&self) -> usize {
        std::fs::read_dir(self.dir.join("refused"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// A finding as an alert: the OCSF object as the body (its evidence cut, with a pointer to
/// the whole finding in the lake, when it would not fit in `max_bytes`), a subject line and
/// the attributes subscribers filter on.
#[cfg(test)]
pub fn render(f: &Finding, lake: &str, max_bytes: usize) -> Message {
    render_in(f, None, lake, max_bytes)
}

/// What an alert says about the incident its finding belongs to.
pub struct InIncident<'a> {
    pub id: &'a str,
    /// `opened` (the first alert of an incident, for every finding it has so far) or
    /// `finding-added`.
    pub event: &'a str,
    /// The incident's other findings this alert stands for (an incident opened with several).
    pub others: &'a [&'a Finding],
}

/// [`render`], as part of an incident: its id and event as attributes and in the subject,
/// and in the body (`unmapped.incident`) the id, the event and the other findings it stands
/// for (uid, detector, severity, summary).
pub fn render_in(
    f: &Finding,
    incident: Option<&InIncident<'_>>,
    lake: &str,
    max_bytes: usize,
) -> Message {
    let mut attributes = BTreeMap::new();
    if let Some(i) = incident {
        attributes.insert("incident_id".to_string(), i.id.to_string());
        attributes.insert("incident_event".to_string(), i.event.to_string());
    }
    attributes.insert("severity".to_string(), f.severity.caption().to_string());
    attributes.insert("detector".to_string(), f.detector_id.clone());
    attributes.insert("finding_uid".to_string(), f.uid.clone());
    if let Some(a) = &f.account_id {
        attributes.insert("account".to_string(), a.clone());
    }
    if !f.function_names.is_empty() {
        attributes.insert("function".to_string(), f.function_names.join(","));
    }
    if let Some(a) = &f.actor_arn {
        attributes.insert("actor_arn".to_string(), a.clone());
    }
    for v in attributes.values_mut() {
        truncate(v, 1024);
    }
    let severity = incident
        .and_then(|i| i.others.iter().map(|o| o.severity).max())
        .map_or(f.severity, |s| s.max(f.severity));
    if let Some(i) = incident {
        attributes.insert("severity".to_string(), severity.caption().to_string());
        attributes.insert(
            "finding_count".to_string(),
            (1 + i.others.len()).to_string(),
        );
    }
    let what = match incident {
        Some(i) if i.event == "opened" && !i.others.is_empty() => format!(
            "new incident {}: {} and {} more",
            i.id,
            f.title,
            i.others.len()
        ),
        Some(i) if i.event == "opened" => format!("new incident {}: {}", i.id, f.title),
        Some(i) => format!("incident {}: {}", i.id, f.title),
        None => f.title.clone(),
    };
    let mut subject = format!(
        "[{}] {}{}",
        severity.caption(),
        what,
        f.function_names
            .first()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    );
    // SNS subjects: ASCII, no line breaks, under 100 characters.
    subject = subject
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    truncate(&mut subject, 99);

    let attr_bytes: usize = attributes
        .iter()
        .map(|(k, v)| k.len() + "String".len() + v.len())
        .sum();
    let budget = max_bytes.min(SNS_MAX_BYTES).saturating_sub(attr_bytes);
    let mut o = f.to_ocsf();
    if let Some(i) = incident {
        o["unmapped"]["incident"] = json!({
            "id": i.id,
            "event": i.event,
            "findings": std::iter::once(f).chain(i.others.iter().copied()).map(|x| json!({
                "uid": x.uid, "detector": x.detector_id, "severity": x.severity.caption(),
                "first_seen": x.first_seen.div_euclid(1000), "summary": x.summary(),
            })).collect::<Vec<_>>(),
        });
    }
    let mut body = o.to_string();
    if body.len() > budget {
        let pointer = json!({
            "lake": format!("{}/findings", lake.trim_end_matches('/')),
            "query": format!("SELECT finding FROM findings WHERE uid = '{}'", f.uid),
        });
        let total = o["evidences"].as_array().map_or(0, Vec::len);
        let mut keep = total;
        // Halve the evidence kept until the message fits; then, if need be, the observables.
        while body.len() > budget && keep > 0 {
            keep /= 2;
            if let Some(ev) = o["evidences"].as_array_mut() {
                ev.truncate(keep);
            }
            o["unmapped"]["truncated"] = json!({
                "evidences_shown": keep,
                "evidences_in_finding": total,
                "whole_finding": pointer,
            });
            body = o.to_string();
        }
        while body.len() > budget && o["observables"].as_array().is_some_and(|a| !a.is_empty()) {
            if let Some(obs) = o["observables"].as_array_mut() {
                let n = obs.len() / 2;
                obs.truncate(n);
            }
            o["unmapped"]["truncated"]["observables_cut"] = Value::Bool(true);
            body = o.to_string();
        }
        if body.len() > budget {
            // Still too big (huge reasons or descriptions): the essentials and the pointer.
            body = json!({
                "class_uid": o["class_uid"], "class_name": o["class_name"],
                "type_uid": o["type_uid"], "time": o["time"],
                "severity_id": o["severity_id"], "severity": o["severity"],
                "message": o["message"].as_str().map(|m| m.chars().take(2000).collect::<String>()),
                "finding_info": {"uid": f.uid, "title": f.title, "analytic": o["finding_info"]["analytic"],
                    "first_seen_time": o["finding_info"]["first_seen_time"],
                    "last_seen_time": o["finding_info"]["last_seen_time"]},
                "actor": o["actor"], "cloud": o["cloud"],
                "unmapped": {"detector": f.detector_id, "truncated": {"whole_finding": pointer}},
            })
            .to_string();
        }
    }
    Message {
        id: f.uid.clone(),
        subject,
        body,
        attributes,
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detectors::finding::Evidence;
    use detectors::registry::Severity;

    const HOUR: i64 = 3_600_000_000;

    fn finding(uid: &str, subject: &str, first: i64, last: i64, evidence: usize) -> Finding {
        Finding {
            uid: uid.into(),
            detector_id: "defense-evasion".into(),
            title: "Logging or threat detection turned off".into(),
            description: "d".into(),
            severity: Severity::Critical,
            mitre: vec!["T1562.008".into()],
            subject: subject.into(),
            first_seen: first,
            last_seen: last,
            actor_arn: Some(format!("arn:aws:iam::123456789012:role/{subject}")),
            function_names: vec!["orders".into()],
            account_id: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            source_ips: vec!["198.51.100.23".into()],
            access_key_ids: vec![],
            user_agents: vec![],
            api_calls: vec!["cloudtrail:StopLogging".into()],
            reasons: vec![],
            evidence_count: evidence,
            evidence: (0..evidence)
                .map(|i| Evidence {
                    subject: subject.into(),
                    time: first + i as i64,
                    event_id: Some(format!("{i:036}")),
                    source_uri: Some(format!("s3://trail/AWSLogs/{}.json.gz", "k".repeat(200))),
                    source_record_index: Some(i as i64),
                    ..Evidence::default()
                })
                .collect(),
            detected_at: last,
        }
    }

    #[test]
    fn a_finding_seen_again_or_wider_is_not_new() {
        let mut a = Alerted::default();
        let mut changed = false;
        let f = finding("u1", "role-a", 10 * HOUR, 10 * HOUR + 60, 1);
        assert!(a.is_new(&f, HOUR, &mut changed));
        a.insert(&f, 0, None);
        assert!(!a.is_new(&f, HOUR, &mut changed));
        // Late events moved its start into the previous dedup bucket: another uid, same incident.
        let wider = finding("u2", "role-a", 10 * HOUR - 600, 10 * HOUR + 60, 2);
        assert!(!a.is_new(&wider, HOUR, &mut changed));
        assert!(changed);
        assert_eq!(a.entries[0].first_seen, 10 * HOUR - 600);
        assert!(
            !a.is_new(&wider, HOUR, &mut changed),
            "its alias is known now"
        );
        // Another subject, or the same subject hours later, is new.
        assert!(a.is_new(
            &finding("u3", "role-b", 10 * HOUR, 10 * HOUR, 1),
            HOUR,
            &mut changed
        ));
        assert!(a.is_new(
            &finding("u4", "role-a", 14 * HOUR, 14 * HOUR, 1),
            HOUR,
            &mut changed
        ));
        // Forgetting what ended before the horizon.
        a.insert(&finding("u4", "role-a", 14 * HOUR, 14 * HOUR, 1), 0, None);
        assert!(a.forget_before(12 * HOUR));
        assert_eq!(a.len(), 1);
        assert!(a.aliases.is_empty());
        assert!(!a.is_new(
            &finding("u4", "role-a", 14 * HOUR, 14 * HOUR, 1),
            HOUR,
            &mut changed
        ));
    }

    #[test]
    fn big_findings_are_cut_to_fit_with_a_pointer_to_the_lake() {
        let small = render(&finding("u1", "role-a", 0, 1, 3), "/lake", SNS_MAX_BYTES);
        let o: Value = serde_json::from_str(&small.body).unwrap();
        assert_eq!(o["evidences"].as_array().unwrap().len(), 3);
        assert!(o["unmapped"].get("truncated").is_none());
        assert_eq!(small.attributes["severity"], "Critical");
        assert_eq!(small.attributes["detector"], "defense-evasion");
        assert_eq!(small.attributes["account"], "123456789012");
        assert_eq!(small.attributes["function"], "orders");
        assert!(small.subject.starts_with("[Critical] Logging"));
        assert!(small.subject.len() < 100);

        let big = finding("u2", "role-a", 0, 1, 2000);
        let m = render(&big, "/lake", 20_000);
        assert!(m.sns_size() <= 20_000, "{}", m.sns_size());
        let o: Value = serde_json::from_str(&m.body).unwrap();
        let shown = o["evidences"].as_array().unwrap().len();
        assert!(shown > 0 && shown < 2000, "{shown}");
        let t = &o["unmapped"]["truncated"];
        assert_eq!(t["evidences_in_finding"], 2000);
        assert_eq!(t["evidences_shown"], shown);
        assert_eq!(t["whole_finding"]["lake"], "/lake/findings");
        assert!(t["whole_finding"]["query"].as_str().unwrap().contains("u2"));
        // Under SNS's own limit however big.
        let huge = finding("u3", "role-a", 0, 1, 20_000);
        assert!(render(&huge, "/lake", SNS_MAX_BYTES).sns_size() <= SNS_MAX_BYTES);
    }
}

//! Findings: evidence rows of a detector grouped per subject and time into OCSF Detection
//! Findings (class 2004) with a stable id, and their table in the lake (`findings/dt=…/`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::{Value, json};

use crate::registry::{Detector, Severity};

/// Evidence kept in full per finding; the rest is counted.
pub const MAX_EVIDENCE: usize = 200;

/// One row a detector returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    pub subject: String,
    /// µs since the epoch.
    pub time: i64,
    pub actor_arn: Option<String>,
    pub function_name: Option<String>,
    pub event_id: Option<String>,
    pub source_uri: Option<String>,
    pub source_record_index: Option<i64>,
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub access_key_id: Option<String>,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    pub error_code: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// The severity this row calls for (`low` … `critical`), when the detector grades its rows
    /// (a call traced to a Lambda function's credentials is graver than the same call by an
    /// administrator); else the detector's.
    pub severity: Option<String>,
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub uid: String,
    pub detector_id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub mitre: Vec<String>,
    pub subject: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub actor_arn: Option<String>,
    pub function_names: Vec<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub source_ips: Vec<String>,
    pub access_key_ids: Vec<String>,
    pub user_agents: Vec<String>,
    pub api_calls: Vec<String>,
    pub reasons: Vec<String>,
    pub evidence_count: usize,
    pub evidence: Vec<Evidence>,
    /// When the finding was made (µs).
    pub detected_at: i64,
}

/// `finding_info.uid`: a hash of the detector, the subject and the time bucket the finding
/// starts in (`dedup_micros` wide), so a rerun, or the watch seeing part of it, gives the same id.
pub fn finding_uid(detector: &str, subject: &str, first_seen: i64, dedup_micros: i64) -> String {
    let bucket = first_seen.div_euclid(dedup_micros.max(1));
    let h = xxhash_rust::xxh3::xxh3_128(format!("{detector}\x1f{subject}\x1f{bucket}").as_bytes());
    format!("{h:032x}")
}

/// An event name without the API version Lambda appends (`UpdateFunctionCode20150331v2`).
fn unversioned(name: &str) -> &str {
    let b = name.as_bytes();
    let mut end = b.len();
    // An optional `v<digits>` suffix, then eight digits of a date.
    if let Some(v) = name.rfind('v')
        && v + 1 < b.len()
        && b[v + 1..].iter().all(u8::is_ascii_digit)
    {
        end = v;
    }
    if end > 8 && b[end - 8..end].iter().all(u8::is_ascii_digit) && b[end - 8] == b'2' {
        &name[..end - 8]
    } else {
        name
    }
}

/// `iam:AttachRolePolicy` of `iam.amazonaws.com` + `AttachRolePolicy`.
fn api_call(e: &Evidence) -> Option<String> {
    let name = unversioned(e.event_name.as_deref()?);
    let service = e
        .event_source
        .as_deref()
        .map(|s| s.split('.').next().unwrap_or(s))
        .unwrap_or("?");
    Some(format!("{service}:{name}"))
}

fn distinct<'a>(items: impl Iterator<Item = Option<&'a str>>) -> Vec<String> {
    items
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn most_common<'a>(items: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in items.flatten() {
        *counts.entry(s).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s)))
        .map(|(s, _)| s.to_string())
}

/// Group evidence into findings: per subject, rows less than the detector's dedup window
/// apart make one finding.
pub fn group(detector: &Detector, mut rows: Vec<Evidence>, detected_at: i64) -> Vec<Finding> {
    rows.sort_by(|a, b| {
        (a.subject.as_str(), a.time, a.event_id.as_deref()).cmp(&(
            b.subject.as_str(),
            b.time,
            b.event_id.as_deref(),
        ))
    });
    rows.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=rows.len() {
        let split = i == rows.len()
            || rows[i].subject != rows[i - 1].subject
            || rows[i].time - rows[i - 1].time > detector.dedup_micros;
        if split {
            out.push(make(detector, &rows[start..i], detected_at));
            start = i;
        }
    }
    out
}

fn make(detector: &Detector, rows: &[Evidence], detected_at: i64) -> Finding {
    let m = &detector.meta;
    let first = rows.first().map_or(0, |r| r.time);
    let last = rows.last().map_or(0, |r| r.time);
    let subject = rows.first().map(|r| r.subject.clone()).unwrap_or_default();
    let reasons = distinct(rows.iter().map(|r| r.reason.as_deref()));
    let mut description = m.description.trim().to_string();
    if let Some(r) = reasons.first() {
        description = format!("{r}. {description}");
    }
    let api_calls: Vec<String> = rows
        .iter()
        .filter_map(api_call)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Finding {
        uid: finding_uid(&m.id, &subject, first, detector.dedup_micros),
        detector_id: m.id.clone(),
        title: m.title.clone(),
        description,
        // The gravest of its rows' severities, else the detector's.
        severity: rows
            .iter()
            .filter_map(|r| Severity::parse(r.severity.as_deref()?))
            .max()
            .unwrap_or(m.severity),
        mitre: m.mitre.clone(),
        subject,
        first_seen: first,
        last_seen: last,
        actor_arn: most_common(rows.iter().map(|r| r.actor_arn.as_deref())),
        function_names: distinct(rows.iter().map(|r| r.function_name.as_deref())),
        account_id: most_common(rows.iter().map(|r| r.account_id.as_deref())),
        region: most_common(rows.iter().map(|r| r.region.as_deref())),
        source_ips: distinct(rows.iter().map(|r| r.source_ip_address.as_deref())),
        access_key_ids: distinct(rows.iter().map(|r| r.access_key_id.as_deref())),
        user_agents: distinct(rows.iter().map(|r| r.user_agent.as_deref())),
        api_calls,
        reasons,
        evidence_count: rows.len(),
        evidence: rows.iter().take(MAX_EVIDENCE).cloned().collect(),
        detected_at,
    }
}

fn iso(micros: i64) -> String {
    pipeline::time::rfc3339_millis(micros.div_euclid(1000)).unwrap_or_default()
}

impl Finding {
    /// The principal or, for function-level findings, the function: what a reader looks at.
    pub fn who(&self) -> String {
        match (&self.actor_arn, self.function_names.first()) {
            (Some(a), Some(f)) => format!("{f} ({})", a.rsplit('/').next().unwrap_or(a)),
            (Some(a), None) => a.clone(),
            (None, Some(f)) => f.clone(),
            (None, None) => self.subject.clone(),
        }
    }

    /// A one-line summary: who, from where, with what.
    pub fn summary(&self) -> String {
        format!("{}; {}", self.who(), self.what())
    }

    /// What happened: the reason, from where, with what.
    pub fn what(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.reasons.first() {
            parts.push(if self.reasons.len() > 1 {
                format!("{r} (and {} more)", self.reasons.len() - 1)
            } else {
                r.clone()
            });
        }
        if !self.source_ips.is_empty() {
            parts.push(format!("from {}", join_some(&self.source_ips, 3)));
        }
        if !self.api_calls.is_empty() {
            parts.push(format!("calls {}", join_some(&self.api_calls, 4)));
        }
        parts.push(format!("{} evidence", self.evidence_count));
        parts.join("; ")
    }

    /// The finding as an OCSF Detection Finding (class 2004).
    pub fn to_ocsf(&self) -> Value {
        let ms = |us: i64| us.div_euclid(1000);
        let mut observables = Vec::new();
        for ip in &self.source_ips {
            observables.push(
                json!({"name": "src_endpoint.ip", "type_id": 2, "type": "IP Address", "value": ip}),
            );
        }
        for ua in &self.user_agents {
            observables.push(json!({"name": "http_request.user_agent", "type_id": 16, "type": "HTTP User-Agent", "value": ua}));
        }
        for k in &self.access_key_ids {
            observables.push(json!({"name": "actor.session.credential_uid", "type_id": 19, "type": "User Credential ID", "value": k}));
        }
        if let Some(a) = &self.actor_arn {
            observables.push(json!({"name": "actor.user.uid", "type_id": 10, "type": "Resource UID", "value": a}));
        }
        for c in &self.api_calls {
            observables
                .push(json!({"name": "api.operation", "type_id": 99, "type": "Other", "value": c}));
        }
        let evidences: Vec<Value> = self
            .evidence
            .iter()
            .map(|e| {
                let mut v = json!({
                    "time": ms(e.time),
                    "data": {
                        "event_id": e.event_id,
                        "request_id": e.request_id,
                        "source_uri": e.source_uri,
                        "source_record_index": e.source_record_index,
                        "reason": e.reason,
                    },
                });
                if e.event_name.is_some() {
                    v["api"] = json!({
                        "operation": e.event_name,
                        "service": {"name": e.event_source},
                        "response": {"error": e.error_code},
                    });
                }
                if let Some(ip) = &e.source_ip_address {
                    v["src_endpoint"] = json!({"ip": ip});
                }
                if let Some(k) = &e.access_key_id {
                    v["actor"] =
                        json!({"session": {"credential_uid": k}, "user": {"uid": e.actor_arn}});
                }
                if let Some(ua) = &e.user_agent {
                    v["http_request"] = json!({"user_agent": ua});
                }
                v
            })
            .collect();
        let resources: Vec<Value> = self
            .function_names
            .iter()
            .map(|f| json!({"type": "AWS::Lambda::Function", "name": f}))
            .collect();
        let attacks: Vec<Value> = self
            .mitre
            .iter()
            .map(|t| json!({"technique": {"uid": t}, "version": "16"}))
            .collect();
        json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "category_name": "Findings",
            "activity_id": 1,
            "activity_name": "Create",
            "type_uid": 200401,
            "type_name": "Detection Finding: Create",
            "time": ms(self.detected_at),
            "severity_id": self.severity.id(),
            "severity": self.severity.caption(),
            "status_id": 1,
            "status": "New",
            "message": format!("{}: {}", self.title, self.summary()),
            "metadata": {
                "version": "1.3.0",
                "product": {"name": "trailhound", "vendor_name": "trailhound", "version": env!("CARGO_PKG_VERSION")},
            },
            "finding_info": {
                "uid": self.uid,
                "title": self.title,
                "desc": self.description,
                "types": [self.detector_id],
                "analytic": {"uid": self.detector_id, "name": self.title, "type_id": 1, "type": "Rule"},
                "first_seen_time": ms(self.first_seen),
                "last_seen_time": ms(self.last_seen),
                "attacks": attacks,
            },
            "actor": {"user": {"uid": self.actor_arn, "type": self.actor_arn.as_deref().map(principal_type)}},
            "cloud": {"provider": "AWS", "account": {"uid": self.account_id}, "region": self.region},
            "resources": resources,
            "observables": observables,
            "evidences": evidences,
            "unmapped": {
                "detector": self.detector_id,
                "subject": self.subject,
                "evidence_count": self.evidence_count,
                "reasons": self.reasons,
                "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen),
            },
        })
    }
}

/// What kind of principal an ARN names, as the actor's `type`.
fn principal_type(arn: &str) -> &'static str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    match resource.split('/').next().unwrap_or("") {
        "user" => "AWS IAM user",
        "role" | "assumed-role" => "AWS IAM role",
        "federated-user" => "AWS federated user",
        "root" => "AWS account root user",
        _ => "AWS principal",
    }
}

fn join_some(items: &[String], n: usize) -> String {
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s.push_str(&format!(" and {} more", items.len() - n));
    }
    s
}

/// The `findings` table's columns: the fields people filter on, and the whole OCSF object.
pub fn schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("uid", DataType::Utf8, false),
        Field::new("detector_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("first_seen", ts(), false),
        Field::new("last_seen", ts(), false),
        Field::new("subject", DataType::Utf8, false),
        Field::new("actor_arn", DataType::Utf8, true),
        Field::new("function_name", DataType::Utf8, true),
        Field::new("source_ips", DataType::Utf8, true),
        Field::new("api_calls", DataType::Utf8, true),
        Field::new("evidence_count", DataType::Int64, false),
        Field::new("summary", DataType::Utf8, false),
        Field::new("detected_at", ts(), false),
        Field::new("finding", DataType::Utf8, false),
    ]))
}

/// Findings as one batch of [`schema`].
pub fn to_batch(findings: &[Finding]) -> arrow::error::Result<RecordBatch> {
    let s = |f: &dyn Fn(&Finding) -> Option<String>| -> ArrayRef {
        Arc::new(findings.iter().map(f).collect::<StringArray>())
    };
    let t = |f: &dyn Fn(&Finding) -> i64| -> ArrayRef {
        Arc::new(
            findings
                .iter()
                .map(|x| Some(f(x)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let opt_join = |v: &Vec<String>| (!v.is_empty()).then(|| v.join(","));
    RecordBatch::try_new(
        schema(),
        vec![
            s(&|f| Some(f.uid.clone())),
            s(&|f| Some(f.detector_id.clone())),
            s(&|f| Some(f.title.clone())),
            s(&|f| Some(f.severity.caption().to_string())),
            t(&|f| f.first_seen),
            t(&|f| f.last_seen),
            s(&|f| Some(f.subject.clone())),
            s(&|f| f.actor_arn.clone()),
            s(&|f| opt_join(&f.function_names)),
            s(&|f| opt_join(&f.source_ips)),
            s(&|f| opt_join(&f.api_calls)),
            Arc::new(
                findings
                    .iter()
                    .map(|f| f.evidence_count as i64)
                    .collect::<Int64Array>(),
            ),
            s(&|f| Some(f.summary())),
            t(&|f| f.detected_at),
            s(&|f| Some(f.to_ocsf().to_string())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn ev(subject: &str, minute: i64) -> Evidence {
        Evidence {
            subject: subject.into(),
            time: 1_700_000_000_000_000 + minute * 60_000_000,
            event_id: Some(format!("{subject}-{minute}")),
            event_source: Some("iam.amazonaws.com".into()),
            event_name: Some("AttachRolePolicy".into()),
            source_ip_address: Some("203.0.113.9".into()),
            ..Evidence::default()
        }
    }

    #[test]
    fn groups_by_subject_and_gap() {
        let reg = Registry::load(None).unwrap();
        let d = reg.get("privilege-escalation").unwrap();
        assert_eq!(d.dedup_micros, 3_600_000_000);
        let rows = vec![
            ev("a", 0),
            ev("a", 30),
            ev("a", 200),
            ev("b", 1),
            ev("a", 30),
        ];
        let f = group(d, rows, 0);
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].subject.as_str(), f[0].evidence_count), ("a", 2));
        assert_eq!(f[1].evidence_count, 1);
        assert_eq!(f[0].api_calls, vec!["iam:AttachRolePolicy"]);
        assert_eq!(
            unversioned("UpdateFunctionCode20150331v2"),
            "UpdateFunctionCode"
        );
        assert_eq!(
            unversioned("CreateFunctionUrlConfig20211031"),
            "CreateFunctionUrlConfig"
        );
        assert_eq!(unversioned("AttachRolePolicy"), "AttachRolePolicy");
        assert_eq!(unversioned("GetObjectv2"), "GetObjectv2");
        // Stable: the same evidence gives the same ids; another subject another.
        let again = group(d, vec![ev("a", 0), ev("a", 30)], 5);
        assert_eq!(again[0].uid, f[0].uid);
        assert_ne!(f[0].uid, f[2].uid);
        let o = f[0].to_ocsf();
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["finding_info"]["uid"], f[0].uid.as_str());
        assert_eq!(o["evidences"][0]["data"]["event_id"], "a-0");
        assert_eq!(to_batch(&f).unwrap().num_rows(), 3);
    }
}

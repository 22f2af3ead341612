//! Scoring findings against labelled attacks (the simulator's `labels.json`): which attacks
//! were caught and by what, precision, recall, and false findings per function-week.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use crate::finding::Finding;

/// Findings whose principal or function matches an attack count as catching it when their time
/// window is this close to the attack's (µs).
pub const SLACK_MICROS: i64 = 3_600_000_000;

pub use pipeline::labels::{Attack, Kind, LabelledFunction, Labels};

/// One attack's result.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub id: String,
    pub kind: Kind,
    pub function: String,
    pub caught: bool,
    /// The detectors whose findings caught it.
    pub detectors: Vec<String>,
}

/// A finding that matches no attack.
#[derive(Debug, Clone, Serialize)]
pub struct FalseFinding {
    pub detector: String,
    pub subject: String,
    pub first_seen: String,
    pub summary: String,
}

/// The scores.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub precision: f64,
    pub recall: f64,
    pub false_findings_per_function_week: f64,
    pub findings: usize,
    pub true_findings: usize,
    pub false_findings: usize,
    pub function_weeks: f64,
    pub scenarios: Vec<Scenario>,
    pub false_finding_list: Vec<FalseFinding>,
}

fn matches(f: &Finding, a: &Attack) -> bool {
    let ids: HashSet<&str> = a.event_ids.iter().map(String::as_str).collect();
    let requests: HashSet<&str> = a.request_ids.iter().map(String::as_str).collect();
    if f.evidence.iter().any(|e| {
        e.event_id.as_deref().is_some_and(|i| ids.contains(i))
            || e.request_id
                .as_deref()
                .is_some_and(|r| requests.contains(r))
    }) {
        return true;
    }
    let who = f.actor_arn.as_deref() == Some(a.principal.as_str())
        || f.function_names.iter().any(|n| n == &a.function)
        || f.subject == a.principal
        || f.subject == a.function;
    let (Some(s), Some(e)) = (
        pipeline::time::parse_timestamp_micros(&a.start),
        pipeline::time::parse_timestamp_micros(&a.end),
    ) else {
        return false;
    };
    who && f.first_seen <= e + SLACK_MICROS && f.last_seen >= s - SLACK_MICROS
}

/// The behaviour anomaly each baseline category stands for: a baseline finding that matches no
/// attack counts against this kind's precision.
pub fn kind_of_category(c: crate::baseline::Category) -> Kind {
    use crate::baseline::Category;
    match c {
        Category::Volume => Kind::InvocationFlood,
        Category::OffHours => Kind::OddHourActivity,
        Category::Failures => Kind::ErrorStorm,
        Category::Resources => Kind::Cryptomining,
        Category::Api => Kind::ApiBurst,
    }
}

/// One kind of attack's scores: by every finding, and by the baseline's alone.
#[derive(Debug, Clone, Serialize)]
pub struct KindScore {
    pub kind: Kind,
    pub attacks: usize,
    /// Caught by any finding.
    pub caught: usize,
    pub recall: f64,
    /// Caught by a baseline finding.
    pub baseline_caught: usize,
    pub baseline_recall: f64,
    /// Baseline findings matching an attack of this kind, and those matching nothing whose
    /// category stands for this kind.
    pub baseline_true_findings: usize,
    pub baseline_false_findings: usize,
    pub baseline_precision: f64,
}

/// Per kind of attack (in the labels' order of first appearance), recall by all findings and
/// recall and precision of the baseline's findings (`baseline-*` detectors).
pub fn by_kind(labels: &Labels, findings: &[Finding]) -> Vec<KindScore> {
    let mut kinds: Vec<Kind> = Vec::new();
    for a in &labels.attacks {
        if !kinds.contains(&a.kind) {
            kinds.push(a.kind);
        }
    }
    for f in findings {
        if let Some(c) = crate::baseline::Category::from_detector_id(&f.detector_id) {
            let k = kind_of_category(c);
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    kinds
        .into_iter()
        .map(|kind| {
            let attacks: Vec<&Attack> = labels.attacks.iter().filter(|a| a.kind == kind).collect();
            let caught_by = |baseline_only: bool| {
                attacks
                    .iter()
                    .filter(|a| {
                        findings.iter().any(|f| {
                            (!baseline_only || f.detector_id.starts_with("baseline-"))
                                && matches(f, a)
                        })
                    })
                    .count()
            };
            let (caught, baseline_caught) = (caught_by(false), caught_by(true));
            let mut true_findings = 0;
            let mut false_findings = 0;
            for f in findings {
                let Some(c) = crate::baseline::Category::from_detector_id(&f.detector_id) else {
                    continue;
                };
                if attacks.iter().any(|a| matches(f, a)) {
                    true_findings += 1;
                } else if kind_of_category(c) == kind
                    && !labels.attacks.iter().any(|a| matches(f, a))
                {
                    false_findings += 1;
                }
            }
            let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
            KindScore {
                recall: ratio(caught, attacks.len()),
                baseline_recall: ratio(baseline_caught, attacks.len()),
                baseline_precision: ratio(true_findings, true_findings + false_findings),
                attacks: attacks.len(),
                caught,
                baseline_caught,
                baseline_true_findings: true_findings,
                baseline_false_findings: false_findings,
                kind,
            }
        })
        .collect()
}

/// Score `findings` against `labels`.
pub fn score(labels: &Labels, findings: &[Finding]) -> Report {
    let mut scenarios: Vec<Scenario> = labels
        .attacks
        .iter()
        .map(|a| Scenario {
            id: a.id.clone(),
            kind: a.kind,
            function: a.function.clone(),
            caught: false,
            detectors: Vec::new(),
        })
        .collect();
    let mut detectors: Vec<BTreeSet<String>> = vec![BTreeSet::new(); scenarios.len()];
    let mut true_findings = 0;
    let mut false_list = Vec::new();
    for f in findings {
        let mut hit = false;
        for (i, a) in labels.attacks.iter().enumerate() {
            if matches(f, a) {
                hit = true;
                detectors[i].insert(f.detector_id.clone());
            }
        }
        if hit {
            true_findings += 1;
        } else {
            false_list.push(FalseFinding {
                detector: f.detector_id.clone(),
                subject: f.subject.clone(),
                first_seen: pipeline::time::rfc3339_millis(f.first_seen.div_euclid(1000))
                    .unwrap_or_default(),
                summary: f.summary(),
            });
        }
    }
    for (s, d) in scenarios.iter_mut().zip(detectors) {
        s.caught = !d.is_empty();
        s.detectors = d.into_iter().collect();
    }
    let caught = scenarios.iter().filter(|s| s.caught).count();
    let start = pipeline::time::parse_timestamp_micros(&labels.start).unwrap_or(0);
    let end = pipeline::time::parse_timestamp_micros(&labels.end).unwrap_or(start);
    let days = (end - start) as f64 / 86_400_000_000.0;
    let function_weeks = labels.functions.len() as f64 * days / 7.0;
    let false_findings = false_list.len();
    Report {
        precision: if findings.is_empty() {
            if labels.attacks.is_empty() { 1.0 } else { 0.0 }
        } else {
            true_findings as f64 / findings.len() as f64
        },
        recall: if scenarios.is_empty() {
            1.0
        } else {
            caught as f64 / scenarios.len() as f64
        },
        false_findings_per_function_week: if function_weeks > 0.0 {
            false_findings as f64 / function_weeks
        } else {
            0.0
        },
        findings: findings.len(),
        true_findings,
        false_findings,
        function_weeks,
        scenarios,
        false_finding_list: false_list,
    }
}

/// A labelled real recording: the events captured while one attack technique ran (a Stratus
/// Red Team detonation), or the example events of one technique (TrailDiscover's catalogue).
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    /// The technique's id (`aws.persistence.iam-backdoor-role`, `T1098`).
    pub technique: String,
    pub name: String,
    pub tactics: Vec<String>,
    /// The CloudTrail event ids of its events.
    pub event_ids: Vec<String>,
}

/// Whether the findings cite a recording's events, and which detectors do.
#[derive(Debug, Clone, Serialize)]
pub struct Cited {
    pub technique: String,
    pub name: String,
    pub tactics: Vec<String>,
    pub events: usize,
    /// Its events that some finding's evidence names.
    pub cited_events: usize,
    pub detectors: Vec<String>,
    pub caught: bool,
}

/// Per recording, the findings whose evidence names one of its events (by event id: a finding
/// about something else at the same time does not count).
pub fn cite(recordings: &[Recording], findings: &[Finding]) -> Vec<Cited> {
    let mut by_event: std::collections::HashMap<&str, BTreeSet<&str>> =
        std::collections::HashMap::new();
    for f in findings {
        for e in &f.evidence {
            if let Some(id) = e.event_id.as_deref() {
                by_event
                    .entry(id)
                    .or_default()
                    .insert(f.detector_id.as_str());
            }
        }
    }
    recordings
        .iter()
        .map(|r| {
            let mut detectors = BTreeSet::new();
            let mut cited = 0;
            for id in &r.event_ids {
                if let Some(ds) = by_event.get(id.as_str()) {
                    cited += 1;
                    detectors.extend(ds.iter().map(|d| d.to_string()));
                }
            }
            Cited {
                technique: r.technique.clone(),
                name: r.name.clone(),
                tactics: r.tactics.clone(),
                events: r.event_ids.len(),
                cited_events: cited,
                caught: cited > 0,
                detectors: detectors.into_iter().collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Evidence;
    use crate::registry::Severity;

    fn finding(subject: &str, event: &str, at: i64) -> Finding {
        Finding {
            uid: "u".into(),
            detector_id: "d".into(),
            title: "t".into(),
            description: String::new(),
            severity: Severity::High,
            mitre: vec![],
            subject: subject.into(),
            first_seen: at,
            last_seen: at,
            actor_arn: None,
            function_names: vec![],
            account_id: None,
            region: None,
            source_ips: vec![],
            access_key_ids: vec![],
            user_agents: vec![],
            api_calls: vec![],
            reasons: vec![],
            evidence_count: 1,
            evidence: vec![Evidence {
                event_id: Some(event.into()),
                ..Evidence::default()
            }],
            detected_at: 0,
        }
    }

    #[test]
    fn scores() {
        let labels: Labels = serde_json::from_value(serde_json::json!({
            "start": "2026-11-01T00:00:00Z", "end": "2026-11-15T00:00:00Z",
            "functions": [{"name": "a"}, {"name": "b"}],
            "attacks": [
                {"id": "1", "kind": "reconnaissance", "principal": "role/a", "function": "a",
                 "start": "2026-11-05T10:00:00Z", "end": "2026-11-05T10:05:00Z", "event_ids": ["e1"]},
                {"id": "2", "kind": "defense-evasion", "principal": "role/b", "function": "b",
                 "start": "2026-11-06T10:00:00Z", "end": "2026-11-06T10:05:00Z"}
            ]
        }))
        .unwrap();
        let t = pipeline::time::parse_timestamp_micros("2026-11-06T10:30:00Z").unwrap();
        let findings = vec![
            finding("x", "e1", 0),                    // by evidence
            finding("b", "zz", t),                    // by function and time
            finding("b", "zz", t + 3 * SLACK_MICROS), // too late: false
        ];
        let r = score(&labels, &findings);
        assert_eq!(r.true_findings, 2);
        assert_eq!(r.false_findings, 1);
        assert!((r.recall - 1.0).abs() < 1e-9);
        assert!((r.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.function_weeks - 4.0).abs() < 1e-9);
        assert!((r.false_findings_per_function_week - 0.25).abs() < 1e-9);
        assert!(
            r.scenarios
                .iter()
                .all(|s| s.caught && s.detectors == vec!["d"])
        );
    }
}

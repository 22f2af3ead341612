//! Incidents: the findings of one intrusion, together. An attacker holding a function's
//! credentials who creates a user, gives it a key and works through it raises findings by
//! several detectors about several principals; a responder wants them as one story.
//!
//! Two findings belong to one incident when they share, close enough in time:
//! - an access key (the same credentials at work), or a principal other than a role (a role's
//!   sessions are apart: functions sharing a role are not one intrusion);
//! - a Lambda function (a finding about the function, or about a principal whose credentials
//!   trace back to it: the detectors name that function, see `cloudtrail_lineage`);
//! - a source address, unless it is one the account's own functions call from (their NAT or
//!   the Lambda service's addresses: those say nothing about who is behind a call).
//!
//! Grouping is transitive (one finding may join two groups into one). An incident's id is
//! derived from its earliest finding's uid, so that it stays the same as findings are added.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::finding::Finding;
use crate::registry::Severity;

/// How far apart (µs) two findings sharing a key may be and still be one incident: an access
/// key, a principal or a function links findings within a day, an address within six hours.
pub const LINK_MICROS: i64 = 24 * 3_600_000_000;
pub const ADDRESS_LINK_MICROS: i64 = 6 * 3_600_000_000;

/// What an incident needs of a finding.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Member {
    pub uid: String,
    pub detector_id: String,
    pub title: String,
    pub severity: Severity,
    /// µs since the epoch.
    pub first_seen: i64,
    pub last_seen: i64,
    pub subject: String,
    pub actor_arn: Option<String>,
    pub function_names: Vec<String>,
    pub source_ips: Vec<String>,
    pub access_key_ids: Vec<String>,
    pub summary: String,
}

impl From<&Finding> for Member {
    fn from(f: &Finding) -> Member {
        Member {
            uid: f.uid.clone(),
            detector_id: f.detector_id.clone(),
            title: f.title.clone(),
            severity: f.severity,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            subject: f.subject.clone(),
            actor_arn: f.actor_arn.clone(),
            function_names: f.function_names.clone(),
            source_ips: f.source_ips.clone(),
            access_key_ids: f.access_key_ids.clone(),
            summary: f.summary(),
        }
    }
}

impl Member {
    /// A finding as stored in the lake's `findings` table: its OCSF object (`finding`).
    pub fn from_ocsf(o: &Value) -> Option<Member> {
        let info = o.get("finding_info")?;
        let strs = |v: Option<&Value>, key: &str| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get(key).and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let observed = |name: &str| -> Vec<String> {
            o.get("observables")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|x| x.get("name").and_then(Value::as_str) == Some(name))
                        .filter_map(|x| x.get("value").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let ms = |v: Option<&Value>| v.and_then(Value::as_i64).map(|t| t * 1000);
        Some(Member {
            uid: info.get("uid")?.as_str()?.to_string(),
            detector_id: o
                .pointer("/unmapped/detector")
                .and_then(Value::as_str)
                .or_else(|| info.pointer("/analytic/uid").and_then(Value::as_str))?
                .to_string(),
            title: info
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            severity: o
                .get("severity")
                .and_then(Value::as_str)
                .and_then(Severity::parse)
                .unwrap_or(Severity::Medium),
            first_seen: ms(info.get("first_seen_time"))?,
            last_seen: ms(info.get("last_seen_time"))?,
            subject: o
                .pointer("/unmapped/subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            actor_arn: o
                .pointer("/actor/user/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            function_names: strs(o.get("resources"), "name"),
            source_ips: observed("src_endpoint.ip"),
            access_key_ids: observed("actor.session.credential_uid"),
            summary: o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

/// One intrusion: its findings in time order and what they share.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub first_seen: i64,
    pub last_seen: i64,
    pub principals: Vec<String>,
    pub functions: Vec<String>,
    pub access_key_ids: Vec<String>,
    pub source_ips: Vec<String>,
    pub detectors: Vec<String>,
    pub findings: Vec<Member>,
}

/// The id of an incident whose earliest finding has `uid`.
pub fn incident_id(uid: &str) -> String {
    format!(
        "inc-{:016x}",
        xxhash_rust::xxh3::xxh3_64(format!("incident\x1f{uid}").as_bytes())
    )
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Group findings into incidents (newest first). `infrastructure` holds addresses that link
/// nothing (the account's own functions' addresses).
pub fn group(members: &[Member], infrastructure: &HashSet<String>) -> Vec<Incident> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&a, &b| {
        (members[a].first_seen, &members[a].uid).cmp(&(members[b].first_seen, &members[b].uid))
    });
    let mut parent: Vec<usize> = (0..members.len()).collect();
    // key → (member holding it that ends last, when it ends)
    let mut holders: HashMap<String, (usize, i64)> = HashMap::new();
    for &i in &order {
        let m = &members[i];
        let mut keys: Vec<(String, i64)> = Vec::new();
        for k in &m.access_key_ids {
            keys.push((format!("key:{k}"), LINK_MICROS));
        }
        // A user, root or federated principal is one set of credentials; a role is shared by
        // every session of it (functions sharing a role are apart): its sessions link by key,
        // function or address instead.
        if let Some(a) = m.actor_arn.as_deref().filter(|a| !a.contains(":role/")) {
            keys.push((format!("principal:{a}"), LINK_MICROS));
        }
        for f in &m.function_names {
            keys.push((format!("function:{f}"), LINK_MICROS));
        }
        for ip in &m.source_ips {
            // Service names in place of an address (`lambda.amazonaws.com`) and the account's
            // own functions' addresses say nothing about who called.
            if ip.parse::<std::net::IpAddr>().is_ok() && !infrastructure.contains(ip) {
                keys.push((format!("ip:{ip}"), ADDRESS_LINK_MICROS));
            }
        }
        for (key, window) in keys {
            match holders.get(&key).copied() {
                Some((j, until)) if m.first_seen - until <= window => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        // The earlier group's root stays the root.
                        let (keep, join) = if members[a].first_seen <= members[b].first_seen {
                            (a, b)
                        } else {
                            (b, a)
                        };
                        parent[join] = keep;
                    }
                    if m.last_seen > until {
                        holders.insert(key, (i, m.last_seen));
                    }
                }
                _ => {
                    holders.insert(key, (i, m.last_seen));
                }
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &order {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    let mut out: Vec<Incident> = groups
        .into_values()
        .map(|ids| {
            let findings: Vec<Member> = ids.iter().map(|&i| members[i].clone()).collect();
            let set = |f: &dyn Fn(&Member) -> Vec<String>| -> Vec<String> {
                findings
                    .iter()
                    .flat_map(f)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            let first = &findings[0];
            let severity = findings
                .iter()
                .map(|m| m.severity)
                .max()
                .unwrap_or(Severity::Medium);
            let principals = set(&|m| m.actor_arn.iter().cloned().collect());
            let functions = set(&|m| m.function_names.clone());
            let detectors = set(&|m| vec![m.detector_id.clone()]);
            let who = functions
                .first()
                .map(|f| format!("function {f}"))
                .or_else(|| principals.first().cloned())
                .unwrap_or_else(|| first.subject.clone());
            Incident {
                id: incident_id(&first.uid),
                title: format!(
                    "{} finding{} by {} detector{} around {who}",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" },
                    detectors.len(),
                    if detectors.len() == 1 { "" } else { "s" },
                ),
                severity,
                first_seen: findings.iter().map(|m| m.first_seen).min().unwrap_or(0),
                last_seen: findings.iter().map(|m| m.last_seen).max().unwrap_or(0),
                access_key_ids: set(&|m| m.access_key_ids.clone()),
                source_ips: set(&|m| m.source_ips.clone()),
                principals,
                functions,
                detectors,
                findings,
            }
        })
        .collect();
    out.sort_by(|a, b| (b.last_seen, &b.id).cmp(&(a.last_seen, &a.id)));
    out
}

/// The findings the lake holds (its `findings` table, a finding once by uid) and the
/// addresses the account's own functions call from (they link nothing).
pub async fn from_lake(
    ctx: &datafusion::prelude::SessionContext,
) -> crate::Result<(Vec<Member>, HashSet<String>)> {
    use arrow::array::AsArray;
    let query = |context: &str| {
        let context = context.to_string();
        move |source| crate::Error::Query { context, source }
    };
    let mut members: HashMap<String, Member> = HashMap::new();
    if ctx.table_exist(crate::store::TABLE).unwrap_or(false) {
        let batches = ctx
            .sql("SELECT finding FROM findings ORDER BY detected_at")
            .await
            .map_err(query("reading the findings table"))?
            .collect()
            .await
            .map_err(query("reading the findings table"))?;
        for b in &batches {
            for text in b.column(0).as_string::<i32>().iter().flatten() {
                if let Some(m) = serde_json::from_str::<Value>(text)
                    .ok()
                    .as_ref()
                    .and_then(Member::from_ocsf)
                {
                    members.insert(m.uid.clone(), m);
                }
            }
        }
    }
    let mut infrastructure = HashSet::new();
    if ctx.table_exist("cloudtrail").unwrap_or(false) {
        let batches = ctx
            .sql("SELECT DISTINCT source_ip_address FROM lambda_runtime_calls")
            .await
            .map_err(query("reading the functions' addresses"))?
            .collect()
            .await
            .map_err(query("reading the functions' addresses"))?;
        infrastructure = addresses(&batches);
    }
    let mut members: Vec<Member> = members.into_values().collect();
    members.sort_by(|a, b| (a.first_seen, &a.uid).cmp(&(b.first_seen, &b.uid)));
    Ok((members, infrastructure))
}

/// The addresses in the `source_ip_address` column of `batches` (the rows of
/// `lambda_runtime_calls`: where the account's own functions call from).
pub fn addresses(batches: &[arrow::array::RecordBatch]) -> HashSet<String> {
    use arrow::array::AsArray;
    let mut out = HashSet::new();
    for b in batches {
        if let Some(c) = b.column_by_name("source_ip_address")
            && let Ok(c) = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
        {
            out.extend(c.as_string::<i32>().iter().flatten().map(str::to_string));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn m(
        uid: &str,
        at: i64,
        actor: &str,
        functions: &[&str],
        ips: &[&str],
        keys: &[&str],
    ) -> Member {
        Member {
            uid: uid.into(),
            detector_id: format!("d-{uid}"),
            title: "t".into(),
            severity: Severity::High,
            first_seen: at,
            last_seen: at + 60_000_000,
            subject: actor.into(),
            actor_arn: Some(actor.into()),
            function_names: functions.iter().map(|s| s.to_string()).collect(),
            source_ips: ips.iter().map(|s| s.to_string()).collect(),
            access_key_ids: keys.iter().map(|s| s.to_string()).collect(),
            summary: String::new(),
        }
    }

    #[test]
    fn a_chain_through_keys_functions_and_addresses_is_one_incident() {
        let role = "arn:aws:iam::1:role/orders-api-role";
        let user = "arn:aws:iam::1:user/svc-backup";
        let members = vec![
            // Stolen function credentials used from outside.
            m(
                "a",
                10 * H,
                role,
                &["orders-api"],
                &["198.51.100.23"],
                &["ASIA1"],
            ),
            // The user they created, named after the function by lineage.
            m(
                "b",
                11 * H,
                user,
                &["orders-api"],
                &["198.51.100.23"],
                &["AKIA2"],
            ),
            // The user's key from another address, later.
            m("c", 20 * H, user, &[], &["203.0.113.9"], &["AKIA2"]),
            // Something else: another principal, another function, days later.
            m(
                "d",
                100 * H,
                "arn:aws:iam::1:user/alice",
                &["billing"],
                &["192.0.2.1"],
                &["AKIA3"],
            ),
        ];
        let incidents = group(&members, &HashSet::new());
        assert_eq!(incidents.len(), 2, "{incidents:#?}");
        let big = incidents.iter().find(|i| i.findings.len() == 3).unwrap();
        assert_eq!(big.id, incident_id("a"));
        assert_eq!(
            big.findings
                .iter()
                .map(|m| m.uid.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(big.principals, [role, user]);
        assert_eq!(big.functions, ["orders-api"]);
        assert_eq!(big.first_seen, 10 * H);
        // The id stays when a later finding joins.
        let mut more = members.clone();
        more.push(m("e", 21 * H, user, &[], &[], &["AKIA2"]));
        let again = group(&more, &HashSet::new());
        assert!(
            again
                .iter()
                .any(|i| i.id == big.id && i.findings.len() == 4)
        );
    }

    #[test]
    fn shared_infrastructure_and_distant_times_link_nothing() {
        let members = vec![
            m(
                "a",
                10 * H,
                "arn:aws:iam::1:role/a",
                &["a"],
                &["44.211.12.7"],
                &[],
            ),
            m(
                "b",
                10 * H,
                "arn:aws:iam::1:role/b",
                &["b"],
                &["44.211.12.7"],
                &[],
            ),
            m(
                "c",
                11 * H,
                "arn:aws:iam::1:role/c",
                &["c"],
                &["lambda.amazonaws.com"],
                &[],
            ),
            m(
                "d",
                11 * H,
                "arn:aws:iam::1:role/d",
                &["d"],
                &["lambda.amazonaws.com"],
                &[],
            ),
            // The same function two days apart.
            m("e", 60 * H, "arn:aws:iam::1:role/a", &["a"], &[], &[]),
        ];
        let infra: HashSet<String> = ["44.211.12.7".to_string()].into();
        let incidents = group(&members, &infra);
        assert_eq!(incidents.len(), 5, "{incidents:#?}");
        // Two functions sharing a role, each attacked, hours apart: two incidents.
        let shared = vec![
            m(
                "f",
                10 * H,
                "arn:aws:iam::1:role/shared",
                &["x"],
                &[],
                &["ASIA5"],
            ),
            m(
                "g",
                20 * H,
                "arn:aws:iam::1:role/shared",
                &["y"],
                &[],
                &["ASIA6"],
            ),
        ];
        assert_eq!(group(&shared, &HashSet::new()).len(), 2);
        // Without knowing the address is the functions' own, it links a and b.
        assert_eq!(group(&members, &HashSet::new()).len(), 4);
    }
}

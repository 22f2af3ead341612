//! The least-privilege drift report: for each role of the latest IAM snapshot, what it is
//! granted, what CloudTrail shows it used in the window (successful calls, data events
//! included, every action an API call needs: `lambda:CreateFunction` with `iam:PassRole`),
//! what it never used, a policy that would have been enough, and what changed since the
//! previous report.
//!
//! `report.json` is the stable input of the next run: sets of actions are written compactly
//! (`s3:*` when a role holds every action of a service, else the actions by name) and read
//! back by expanding them against the catalogue.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use fixedbitset::FixedBitSet;
use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, catalogue};
use super::policy::{self, PolicyRow, Principal};
use crate::session::run_sql_with;
use crate::udf::iam_action::iam_actions;
use crate::{Error, Result};

/// What Lambda itself does with a function's role, outside the function's code: writing its
/// logs and, in a VPC, managing its network interfaces. These calls are not in CloudTrail as
/// the role's (log writes are data events Lambda makes on the role's behalf), so for a
/// function role they are reported as used by the platform, never as unused.
pub const LAMBDA_PLATFORM_ACTIONS: &[&str] = &[
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

/// The report's schema name; a report of another schema is not read as `--previous`.
pub const SCHEMA: &str = "trailhound.drift/1";
/// Sensitive unused actions listed per role (a role granted `*` has thousands).
pub const MAX_SENSITIVE: usize = 100;
/// Named resources kept per action in a suggested policy; more become `*`.
const MAX_RESOURCES: usize = 20;

/// The report's queries (`sql/reports/`), run with named parameters.
const SNAPSHOT_SQL: &str = include_str!("../../../sql/reports/drift-snapshot.sql");
const USAGE_SQL: &str = include_str!("../../../sql/reports/drift-usage.sql");
const RESOURCES_SQL: &str = include_str!("../../../sql/reports/drift-resources.sql");
const LATEST_EVENT_SQL: &str = include_str!("../../../sql/reports/latest-event.sql");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub generated_at: String,
    pub window: Window,
    /// Per account, the day of the IAM snapshot the report read.
    pub snapshots: BTreeMap<String, String>,
    pub summary: Summary,
    pub roles: Vec<RoleReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub since: String,
    pub until: String,
    pub days: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub roles: usize,
    pub function_roles: usize,
    pub roles_with_unused: usize,
    pub unused_actions: usize,
    pub unused_sensitive_actions: usize,
    pub calls: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleReport {
    pub arn: String,
    pub name: String,
    pub account_id: String,
    pub function_role: bool,
    pub trusted_services: Vec<String>,
    pub policies: Vec<String>,
    pub granted_count: usize,
    /// Compact: `service:*` for a whole service, else action names.
    pub granted: Vec<String>,
    pub used_count: usize,
    pub used: Vec<Used>,
    /// Used but not granted by the snapshot (granted by a resource policy, a session policy,
    /// an older policy version, or the catalogue does not know the action).
    pub used_not_granted: Vec<String>,
    /// Granted actions Lambda uses for the function without a trace in CloudTrail
    /// ([`LAMBDA_PLATFORM_ACTIONS`]); kept in the suggested policy, never called unused.
    #[serde(default)]
    pub used_by_lambda: Vec<String>,
    pub unused_count: usize,
    pub unused: Vec<String>,
    /// Services with granted actions and no call at all.
    pub unused_services: Vec<String>,
    /// Unused actions that change things: write, permissions management, privilege escalation.
    pub unused_sensitive_count: usize,
    /// The first [`MAX_SENSITIVE`] of them, privilege escalation first, then permissions
    /// management, then write (all of them are in `unused`).
    pub unused_sensitive: Vec<Sensitive>,
    pub suggested_policy: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Used {
    pub action: String,
    pub calls: u64,
    pub first_used: String,
    pub last_used: String,
    /// The resources the calls named, when every call named some (at most 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sensitive {
    pub action: String,
    pub level: String,
    pub privilege_escalation: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Changes {
    pub newly_granted: Vec<String>,
    pub no_longer_granted: Vec<String>,
    pub newly_used: Vec<String>,
    pub newly_unused: Vec<String>,
    /// The role was not in the previous report.
    pub new_role: bool,
}

/// What the report covers.
pub struct Options {
    pub since: i64,
    pub until: i64,
    /// Only these roles (ARNs); all roles when empty.
    pub roles: Vec<String>,
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = arrow::compute::cast(
        b.column_by_name(col).expect("column of the query"),
        &arrow::datatypes::DataType::Utf8,
    )
    .expect("cast to text");
    let a = a.as_string::<i32>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

/// The rows of the latest snapshot at or before `day` per account (the earliest snapshot
/// when all are later), and the day of each.
pub async fn snapshot(
    ctx: &SessionContext,
    day: &str,
) -> Result<(Vec<PolicyRow>, BTreeMap<String, String>)> {
    let batches = run_sql_with(
        ctx,
        SNAPSHOT_SQL,
        vec![("day", ScalarValue::from(day))],
        "reading the IAM snapshot",
    )
    .await?;
    let mut rows = Vec::new();
    let mut days = BTreeMap::new();
    for b in &batches {
        let col = |n: &str| strings(b, n);
        let (acct, dt, pt, pn, pa, ts, pk, pol, via, eff, na, ap, res, nres, cond) = (
            col("account_id"),
            col("dt"),
            col("principal_type"),
            col("principal_name"),
            col("principal_arn"),
            col("trusted_services"),
            col("policy_kind"),
            col("policy_name"),
            col("via_group"),
            col("effect"),
            col("not_action"),
            col("action_pattern"),
            col("resources"),
            col("not_resources"),
            col("conditions"),
        );
        let idx = b.column_by_name("statement_index").expect("column");
        let idx = idx.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let account = acct[i].clone().unwrap_or_default();
            days.insert(account.clone(), dt[i].clone().unwrap_or_default());
            rows.push(PolicyRow {
                account_id: account,
                principal_type: pt[i].clone().unwrap_or_default(),
                principal_name: pn[i].clone().unwrap_or_default(),
                principal_arn: pa[i].clone().unwrap_or_default(),
                trusted_services: ts[i].clone(),
                policy_kind: pk[i].clone(),
                policy_name: pol[i].clone(),
                via_group: via[i].clone(),
                statement_index: idx.is_valid(i).then(|| idx.value(i) as i32),
                effect: eff[i].clone(),
                not_action: na[i].as_deref().map(|v| v == "true"),
                action_pattern: ap[i].clone(),
                resources: res[i].clone(),
                not_resources: nres[i].clone(),
                conditions: cond[i].clone(),
            });
        }
    }
    Ok((rows, days))
}

/// One role's use of one action.
#[derive(Debug, Default, Clone)]
struct Usage {
    calls: u64,
    first: i64,
    last: i64,
    calls_with_resources: u64,
    resources: BTreeSet<String>,
    too_many_resources: bool,
}

/// Per role ARN and action (catalogue spelling when known): successful calls in the window.
async fn usage(
    ctx: &SessionContext,
    since: i64,
    until: i64,
) -> Result<HashMap<String, BTreeMap<String, Usage>>> {
    let window = || {
        vec![
            ("since", ScalarValue::from(since)),
            ("until", ScalarValue::from(until)),
        ]
    };
    let c = catalogue();
    let canonical = |a: &str| match c.find(a) {
        Some(i) => c.get(i).name.to_string(),
        None => a.to_string(),
    };
    let mut out: HashMap<String, BTreeMap<String, Usage>> = HashMap::new();
    for b in run_sql_with(ctx, USAGE_SQL, window(), "reading what the roles used").await? {
        let (actor, source, name) = (
            strings(&b, "actor_arn"),
            strings(&b, "event_source"),
            strings(&b, "event_name"),
        );
        let calls = b.column_by_name("calls").expect("calls");
        let calls = calls.as_primitive::<Int64Type>();
        let with = b.column_by_name("with_resources").expect("with");
        let with = with.as_primitive::<Int64Type>();
        let first = b.column_by_name("first_used").expect("first");
        let first = first.as_primitive::<Int64Type>();
        let last = b.column_by_name("last_used").expect("last");
        let last = last.as_primitive::<Int64Type>();
        let passes_role = strings(&b, "passes_role");
        for i in 0..b.num_rows() {
            let (Some(actor), Some(source), Some(name)) = (&actor[i], &source[i], &name[i]) else {
                continue;
            };
            let passes = passes_role[i].as_deref() == Some("true");
            let actions = iam_actions(source, name);
            let needed = actions
                .iter()
                .enumerate()
                .filter(|(k, a)| *k == 0 || passes || !a.eq_ignore_ascii_case("iam:PassRole"));
            for (_, action) in needed {
                let u = out
                    .entry(actor.clone())
                    .or_default()
                    .entry(canonical(action))
                    .or_insert_with(|| Usage {
                        first: i64::MAX,
                        last: i64::MIN,
                        ..Usage::default()
                    });
                u.calls += calls.value(i) as u64;
                u.calls_with_resources += with.value(i) as u64;
                u.first = u.first.min(first.value(i));
                u.last = u.last.max(last.value(i));
            }
        }
    }
    // The resources the calls named, for the APIs that named only a few. The estimate may be
    // off by a few percent; the exact cap is applied below.
    let mut params = window();
    params.push(("max_resources", ScalarValue::from(MAX_RESOURCES as i64 * 2)));
    for b in run_sql_with(
        ctx,
        RESOURCES_SQL,
        params,
        "reading the resources the roles used",
    )
    .await?
    {
        let (actor, source, name, res) = (
            strings(&b, "actor_arn"),
            strings(&b, "event_source"),
            strings(&b, "event_name"),
            strings(&b, "resources"),
        );
        for i in 0..b.num_rows() {
            let (Some(actor), Some(source), Some(name), Some(res)) =
                (&actor[i], &source[i], &name[i], &res[i])
            else {
                continue;
            };
            let arns: Vec<String> = serde_json::from_str::<serde_json::Value>(res)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.get("ARN").and_then(|a| a.as_str()).map(str::to_string))
                .collect();
            let Some(per_role) = out.get_mut(actor) else {
                continue;
            };
            // Only the authorizing action is scoped by the event's resources.
            if let Some(action) = iam_actions(source, name).first()
                && let Some(u) = per_role.get_mut(&canonical(action))
                && !u.too_many_resources
            {
                u.resources.extend(arns);
                if u.resources.len() > MAX_RESOURCES {
                    u.too_many_resources = true;
                    u.resources.clear();
                }
            }
        }
    }
    Ok(out)
}

/// A set written compactly: `service:*` for every action of a service, names otherwise.
pub fn compact(set: &FixedBitSet, unknown: &BTreeSet<String>) -> Vec<String> {
    let c = catalogue();
    let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in set.ones() {
        by_service.entry(c.get(i).service()).or_default().push(i);
    }
    let mut out = Vec::new();
    for (service, ids) in by_service {
        if ids.len() == c.service_len(service) {
            out.push(format!("{service}:*"));
        } else {
            out.extend(ids.into_iter().map(|i| c.get(i).name.to_string()));
        }
    }
    out.extend(unknown.iter().cloned());
    out
}

/// A compact set read back.
pub fn expand(list: &[String]) -> (FixedBitSet, BTreeSet<String>) {
    let c = catalogue();
    let mut set = c.empty_set();
    let mut unknown = BTreeSet::new();
    for a in list {
        let s = c.expand(a);
        if s.is_clear() {
            unknown.insert(a.to_ascii_lowercase());
        }
        set.union_with(&s);
    }
    (set, unknown)
}

fn suggested_policy(
    c: &Catalogue,
    used: &BTreeMap<String, Usage>,
    platform: &FixedBitSet,
) -> serde_json::Value {
    // One statement per set of resources: actions used on `*` together, each scoped one alone.
    let mut statements: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for i in platform.ones() {
        statements
            .entry(vec!["*".to_string()])
            .or_default()
            .insert(c.get(i).name.to_string());
    }
    for (action, u) in used {
        let resources = if u.calls_with_resources == u.calls
            && !u.too_many_resources
            && !u.resources.is_empty()
        {
            u.resources.iter().cloned().collect()
        } else {
            vec!["*".to_string()]
        };
        let name = c
            .find(action)
            .map_or(action.clone(), |i| c.get(i).name.to_string());
        statements.entry(resources).or_default().insert(name);
    }
    let statement: Vec<serde_json::Value> = statements
        .into_iter()
        .map(|(resources, actions)| {
            serde_json::json!({
                "Effect": "Allow",
                "Action": actions.into_iter().collect::<Vec<_>>(),
                "Resource": if resources.len() == 1 { serde_json::json!(resources[0]) } else { serde_json::json!(resources) },
            })
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": statement})
}

/// Build the report.
pub async fn report(
    ctx: &SessionContext,
    opts: &Options,
    previous: Option<&Report>,
) -> Result<Report> {
    let day = chrono::DateTime::from_timestamp_micros(opts.until)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let (rows, snapshots) = snapshot(ctx, &day).await?;
    if rows.is_empty() {
        return Err(Error::Usage(
            "the lake has no IAM snapshot: run `trailhound ingest iam` first".into(),
        ));
    }
    let mut roles: Vec<Principal> = policy::principals(&rows)
        .into_iter()
        .filter(|p| p.kind == "role")
        .filter(|p| opts.roles.is_empty() || opts.roles.iter().any(|r| r == &p.arn))
        .collect();
    if let Some(missing) = opts
        .roles
        .iter()
        .find(|r| !roles.iter().any(|p| &p.arn == *r))
    {
        return Err(Error::Usage(format!(
            "--role {missing}: no such role in the IAM snapshot"
        )));
    }
    // Function roles first, then by name.
    roles.sort_by(|a, b| (!a.is_function_role(), &a.name).cmp(&(!b.is_function_role(), &b.name)));
    let used_by = usage(ctx, opts.since, opts.until).await?;
    let previous: HashMap<&str, &RoleReport> = previous
        .map(|p| p.roles.iter().map(|r| (r.arn.as_str(), r)).collect())
        .unwrap_or_default();
    let c = catalogue();
    let empty = BTreeMap::new();
    let mut summary = Summary::default();
    let mut reports = Vec::new();
    for p in &roles {
        let used = used_by.get(&p.arn).unwrap_or(&empty);
        let mut used_set = c.empty_set();
        let mut used_unknown = BTreeSet::new();
        for action in used.keys() {
            match c.find(action) {
                Some(i) => used_set.insert(i),
                None => {
                    used_unknown.insert(action.to_ascii_lowercase());
                }
            }
        }
        let mut platform = c.empty_set();
        if p.is_function_role() {
            for a in LAMBDA_PLATFORM_ACTIONS {
                if let Some(i) = c
                    .find(a)
                    .filter(|i| p.granted.contains(*i) && !used_set.contains(*i))
                {
                    platform.insert(i);
                }
            }
        }
        let mut unused = p.granted.clone();
        unused.difference_with(&used_set);
        unused.difference_with(&platform);
        let unused_unknown: BTreeSet<String> = p
            .granted_unknown
            .difference(&used_unknown)
            .cloned()
            .collect();
        let used_services: BTreeSet<&str> = used_set
            .ones()
            .chain(platform.ones())
            .map(|i| c.get(i).service())
            .collect();
        let unused_services: BTreeSet<String> = p
            .granted
            .ones()
            .map(|i| c.get(i).service())
            .filter(|s| !used_services.contains(s))
            .map(str::to_string)
            .collect();
        let mut sensitive: Vec<Sensitive> = unused
            .ones()
            .map(|i| c.get(i))
            .filter(|a| a.sensitive())
            .map(|a| Sensitive {
                action: a.name.to_string(),
                level: a.level.name().to_string(),
                privilege_escalation: a.privilege_escalation,
            })
            .collect();
        sensitive.sort_by(|a, b| {
            (
                !a.privilege_escalation,
                a.level != "Permissions management",
                &a.action,
            )
                .cmp(&(
                    !b.privilege_escalation,
                    b.level != "Permissions management",
                    &b.action,
                ))
        });
        let used_not_granted: Vec<String> = used.keys().filter(|a| !p.allows(a)).cloned().collect();
        let granted_compact = compact(&p.granted, &p.granted_unknown);
        let unused_names = compact(&unused, &unused_unknown);
        let changes = previous.get(p.arn.as_str()).map(|prev| {
            let (prev_granted, prev_gu) = expand(&prev.granted);
            let (prev_unused, prev_uu) = expand(&prev.unused);
            let prev_used: BTreeSet<String> = prev
                .used
                .iter()
                .map(|u| u.action.to_ascii_lowercase())
                .collect();
            let diff = |a: &FixedBitSet, b: &FixedBitSet| {
                let mut d = a.clone();
                d.difference_with(b);
                d
            };
            Changes {
                newly_granted: policy::names(
                    &diff(&p.granted, &prev_granted),
                    &p.granted_unknown.difference(&prev_gu).cloned().collect(),
                ),
                no_longer_granted: policy::names(
                    &diff(&prev_granted, &p.granted),
                    &prev_gu.difference(&p.granted_unknown).cloned().collect(),
                ),
                newly_used: used
                    .keys()
                    .filter(|a| !prev_used.contains(&a.to_ascii_lowercase()))
                    .cloned()
                    .collect(),
                newly_unused: policy::names(
                    &{
                        // Unused now, granted and used before.
                        let mut d = diff(&unused, &prev_unused);
                        d.intersect_with(&prev_granted);
                        d
                    },
                    &unused_unknown.difference(&prev_uu).cloned().collect(),
                ),
                new_role: false,
            }
        });
        let changes = match (previous.is_empty(), changes) {
            (_, Some(c)) => Some(c),
            (false, None) => Some(Changes {
                newly_granted: p.granted_names(),
                new_role: true,
                ..Changes::default()
            }),
            (true, None) => None,
        };
        let sensitive_count = sensitive.len();
        sensitive.truncate(MAX_SENSITIVE);
        let unused_count = unused.count_ones(..) + unused_unknown.len();
        summary.roles += 1;
        summary.function_roles += usize::from(p.is_function_role());
        summary.roles_with_unused += usize::from(unused_count > 0);
        summary.unused_actions += unused_count;
        summary.unused_sensitive_actions += sensitive_count;
        summary.calls += used.values().map(|u| u.calls).sum::<u64>();
        reports.push(RoleReport {
            arn: p.arn.clone(),
            name: p.name.clone(),
            account_id: p.account_id.clone(),
            function_role: p.is_function_role(),
            trusted_services: p.trusted_services.clone(),
            policies: p.policies.iter().cloned().collect(),
            granted_count: p.granted.count_ones(..) + p.granted_unknown.len(),
            granted: granted_compact,
            used_count: used.len(),
            used: used
                .iter()
                .map(|(a, u)| Used {
                    action: a.clone(),
                    calls: u.calls,
                    first_used: rfc3339(u.first),
                    last_used: rfc3339(u.last),
                    resources: (u.calls_with_resources == u.calls
                        && !u.too_many_resources
                        && !u.resources.is_empty())
                    .then(|| u.resources.iter().cloned().collect()),
                })
                .collect(),
            used_not_granted,
            unused_count,
            unused: unused_names,
            unused_services: unused_services.into_iter().collect(),
            unused_sensitive_count: sensitive_count,
            unused_sensitive: sensitive,
            used_by_lambda: platform.ones().map(|i| c.get(i).name.to_string()).collect(),
            suggested_policy: suggested_policy(c, used, &platform),
            changes,
        });
    }
    Ok(Report {
        schema: SCHEMA.into(),
        generated_at: rfc3339(chrono::Utc::now().timestamp_micros()),
        window: Window {
            since: rfc3339(opts.since),
            until: rfc3339(opts.until),
            days: (opts.until - opts.since) as f64 / 86_400e6,
        },
        snapshots,
        summary,
        roles: reports,
    })
}

/// The latest event time in the lake's CloudTrail (µs), if any.
pub async fn latest_event(ctx: &SessionContext) -> Result<Option<i64>> {
    let b = run_sql_with(
        ctx,
        LATEST_EVENT_SQL,
        Vec::new(),
        "finding the lake's latest event",
    )
    .await?;
    Ok(b.first().and_then(|b| {
        let a = b.column(0).as_primitive::<Int64Type>();
        (b.num_rows() > 0 && a.is_valid(0)).then(|| a.value(0))
    }))
}

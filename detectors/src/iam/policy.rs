//! What each principal of an IAM snapshot may do: its Allow statements expanded against the
//! catalogue, minus what its Deny statements take away, within its permissions boundary.
//!
//! Sets are bitsets over the catalogue. A Deny that applies to every resource without a
//! condition removes the action; one limited to some resources or to a condition leaves the
//! action granted and marks it `partially_denied`. `NotAction` statements grant (or deny)
//! every catalogue action but the ones they name. An Allow's actions granted only on named
//! resources or under a condition are marked `scoped` / `conditional`. Concrete actions the
//! catalogue does not know (a service newer than the catalogue) are kept by name.

use std::collections::{BTreeMap, BTreeSet};

use fixedbitset::FixedBitSet;

use super::catalogue::{Catalogue, catalogue};

/// One row of the `iam` table, as the policy model reads it.
#[derive(Debug, Clone, Default)]
pub struct PolicyRow {
    pub account_id: String,
    pub principal_type: String,
    pub principal_name: String,
    pub principal_arn: String,
    pub trusted_services: Option<String>,
    pub policy_kind: Option<String>,
    pub policy_name: Option<String>,
    pub via_group: Option<String>,
    pub statement_index: Option<i32>,
    pub effect: Option<String>,
    pub not_action: Option<bool>,
    pub action_pattern: Option<String>,
    pub resources: Option<String>,
    pub not_resources: Option<String>,
    pub conditions: Option<String>,
}

/// A principal and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    pub kind: String,
    pub name: String,
    pub arn: String,
    pub trusted_services: Vec<String>,
    pub granted: FixedBitSet,
    /// Granted only on some resources (no statement grants it on `*`).
    pub scoped: FixedBitSet,
    /// Granted only under a condition.
    pub conditional: FixedBitSet,
    /// Granted, but denied on some resources or under some condition.
    pub partially_denied: FixedBitSet,
    /// Actions granted by name that the catalogue does not know (lower case).
    pub granted_unknown: BTreeSet<String>,
    pub has_boundary: bool,
    /// The policies that grant something (`kind:name`, with `group/` for a group's).
    pub policies: BTreeSet<String>,
}

impl Principal {
    /// A role Lambda can assume.
    pub fn is_function_role(&self) -> bool {
        self.kind == "role"
            && self
                .trusted_services
                .iter()
                .any(|s| s == "lambda.amazonaws.com")
    }

    /// Whether the principal may call `action` (`service:Name`, any case).
    pub fn allows(&self, action: &str) -> bool {
        match catalogue().find(action) {
            Some(i) => self.granted.contains(i),
            None => self.granted_unknown.contains(&action.to_ascii_lowercase()),
        }
    }

    /// Every granted action's name, sorted.
    pub fn granted_names(&self) -> Vec<String> {
        names(&self.granted, &self.granted_unknown)
    }
}

/// The names of a set's actions and the unknown ones, sorted.
pub fn names(set: &FixedBitSet, unknown: &BTreeSet<String>) -> Vec<String> {
    let c = catalogue();
    let mut out: Vec<String> = set.ones().map(|i| c.get(i).name.to_string()).collect();
    out.extend(unknown.iter().cloned());
    out.sort_by_key(|a| a.to_ascii_lowercase());
    out
}

#[derive(Default)]
struct Statement {
    boundary: bool,
    allow: bool,
    not_action: bool,
    patterns: Vec<String>,
    everywhere: bool,
    conditional: bool,
    source: String,
}

/// The principals of a snapshot's rows (any order), sorted by ARN.
pub fn principals(rows: &[PolicyRow]) -> Vec<Principal> {
    let c = catalogue();
    let mut by_principal: BTreeMap<&str, Vec<&PolicyRow>> = BTreeMap::new();
    for r in rows {
        by_principal.entry(&r.principal_arn).or_default().push(r);
    }
    by_principal
        .into_values()
        .map(|rows| principal(c, &rows))
        .collect()
}

fn principal(c: &Catalogue, rows: &[&PolicyRow]) -> Principal {
    let first = rows[0];
    // Rows to statements: one per (kind, policy, group, index).
    let mut statements: BTreeMap<(String, String, String, i32), Statement> = BTreeMap::new();
    for r in rows {
        let (Some(kind), Some(pattern), Some(index)) =
            (&r.policy_kind, &r.action_pattern, r.statement_index)
        else {
            continue;
        };
        let name = r.policy_name.clone().unwrap_or_default();
        let group = r.via_group.clone().unwrap_or_default();
        let st = statements
            .entry((kind.clone(), name.clone(), group.clone(), index))
            .or_insert_with(|| Statement {
                boundary: kind == "boundary",
                allow: r.effect.as_deref() == Some("Allow"),
                not_action: r.not_action.unwrap_or(false),
                everywhere: r.not_resources.is_none()
                    && r.resources
                        .as_deref()
                        .and_then(|j| serde_json::from_str::<Vec<String>>(j).ok())
                        .is_some_and(|v| v.iter().any(|p| p == "*")),
                conditional: r.conditions.is_some(),
                source: if group.is_empty() {
                    format!("{kind}:{name}")
                } else {
                    format!("group/{group}/{kind}:{name}")
                },
                ..Statement::default()
            });
        st.patterns.push(pattern.clone());
    }

    let n = c.len();
    let mut granted = FixedBitSet::with_capacity(n);
    let mut unscoped = FixedBitSet::with_capacity(n);
    let mut unconditional = FixedBitSet::with_capacity(n);
    let mut deny_full = FixedBitSet::with_capacity(n);
    let mut deny_part = FixedBitSet::with_capacity(n);
    let mut boundary_allow = FixedBitSet::with_capacity(n);
    let mut has_boundary = false;
    let mut unknown_allow = BTreeSet::new();
    let mut unknown_deny = BTreeSet::new();
    let mut unknown_boundary = BTreeSet::new();
    let mut policies = BTreeSet::new();
    for st in statements.values() {
        let mut set = c.empty_set();
        let mut unknown = BTreeSet::new();
        for p in &st.patterns {
            let matched = c.expand(p);
            if matched.is_clear() && !p.contains(['*', '?']) && p.contains(':') {
                unknown.insert(p.to_ascii_lowercase());
            }
            set.union_with(&matched);
        }
        if st.not_action {
            set.toggle_range(..);
            // Everything but what it names: unknown actions are outside what we can list.
            unknown.clear();
        }
        has_boundary |= st.boundary;
        match (st.boundary, st.allow) {
            (false, true) => {
                granted.union_with(&set);
                if st.everywhere {
                    unscoped.union_with(&set);
                }
                if !st.conditional {
                    unconditional.union_with(&set);
                }
                unknown_allow.extend(unknown);
                if !set.is_clear() {
                    policies.insert(st.source.clone());
                }
            }
            (true, true) => {
                boundary_allow.union_with(&set);
                unknown_boundary.extend(unknown);
            }
            (_, false) => {
                if st.everywhere && !st.conditional {
                    deny_full.union_with(&set);
                    unknown_deny.extend(unknown);
                } else {
                    deny_part.union_with(&set);
                }
            }
        }
    }
    granted.difference_with(&deny_full);
    let mut granted_unknown: BTreeSet<String> =
        unknown_allow.difference(&unknown_deny).cloned().collect();
    if has_boundary {
        granted.intersect_with(&boundary_allow);
        granted_unknown.retain(|a| unknown_boundary.contains(a));
    }
    let mut scoped = granted.clone();
    scoped.difference_with(&unscoped);
    let mut conditional = granted.clone();
    conditional.difference_with(&unconditional);
    deny_part.intersect_with(&granted);
    Principal {
        account_id: first.account_id.clone(),
        kind: first.principal_type.clone(),
        name: first.principal_name.clone(),
        arn: first.principal_arn.clone(),
        trusted_services: first
            .trusted_services
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        granted,
        scoped,
        conditional,
        partially_denied: deny_part,
        granted_unknown,
        has_boundary,
        policies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        kind: &str,
        index: i32,
        effect: &str,
        not_action: bool,
        pattern: &str,
        resources: &str,
    ) -> PolicyRow {
        PolicyRow {
            account_id: "111122223333".into(),
            principal_type: "role".into(),
            principal_name: "r".into(),
            principal_arn: "arn:aws:iam::111122223333:role/r".into(),
            trusted_services: Some("lambda.amazonaws.com".into()),
            policy_kind: Some(kind.into()),
            policy_name: Some(format!("{kind}-policy")),
            statement_index: Some(index),
            effect: Some(effect.into()),
            not_action: Some(not_action),
            action_pattern: Some(pattern.into()),
            resources: Some(resources.into()),
            ..PolicyRow::default()
        }
    }

    #[test]
    fn allow_deny_not_action_and_boundary() {
        let star = r#"["*"]"#;
        let one = r#"["arn:aws:s3:::bucket/*"]"#;
        let rows = vec![
            row("inline", 0, "Allow", false, "s3:Get*", one),
            row("inline", 1, "Allow", false, "dynamodb:*", star),
            row("inline", 2, "Deny", false, "dynamodb:Delete*", star),
            row("inline", 3, "Deny", false, "dynamodb:Scan", one),
            row("managed", 0, "Allow", true, "iam:*", star),
            row("managed", 0, "Allow", true, "sts:*", star),
            row("inline", 4, "Allow", false, "newservice:DoThing", star),
        ];
        let p = &principals(&rows)[0];
        assert!(p.is_function_role());
        assert!(p.allows("s3:GetObject") && p.allows("S3:GETOBJECT"));
        // Granted on `*` by the NotAction statement, so not scoped here; scoped alone.
        let get = catalogue().find("s3:GetObject").unwrap();
        assert!(!p.scoped.contains(get));
        assert!(principals(&rows[..1])[0].scoped.contains(get));
        assert!(p.allows("dynamodb:GetItem"));
        assert!(!p.allows("dynamodb:DeleteItem"), "denied everywhere");
        assert!(p.allows("dynamodb:Scan"), "denied on one resource only");
        assert!(
            p.partially_denied
                .contains(catalogue().find("dynamodb:Scan").unwrap())
        );
        // NotAction: everything but iam and sts.
        assert!(p.allows("ec2:RunInstances") && p.allows("lambda:InvokeFunction"));
        assert!(!p.allows("iam:PassRole") && !p.allows("sts:AssumeRole"));
        assert!(p.allows("newservice:DoThing"));

        // A boundary keeps only what it also allows.
        let mut with_boundary = rows.clone();
        with_boundary.push(row("boundary", 0, "Allow", false, "s3:*", star));
        with_boundary.push(row("boundary", 1, "Allow", false, "dynamodb:GetItem", star));
        let b = &principals(&with_boundary)[0];
        assert!(b.has_boundary);
        assert!(b.allows("s3:GetObject") && b.allows("dynamodb:GetItem"));
        assert!(!b.allows("ec2:RunInstances") && !b.allows("dynamodb:PutItem"));
        assert!(!b.allows("newservice:DoThing"));
        // Every s3 action (the NotAction statement grants them all) and dynamodb:GetItem.
        let want = catalogue().expand("s3:*").count_ones(..) + 1;
        assert_eq!(b.granted.count_ones(..), want);
    }
}

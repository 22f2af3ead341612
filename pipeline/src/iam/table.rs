//! The `iam` table: one row per principal, policy, statement and action pattern.
//!
//! Principals are roles, users and groups. A user's rows include what it gets through its
//! groups (`via_group`); a permissions boundary's statements are rows of kind `boundary`. A
//! principal without any statement still has one row (policy columns null), so that every
//! principal of the snapshot is in the table. Partitioned by `account_id` and `dt`, the day of
//! the snapshot; a new snapshot of the same day replaces the earlier one.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::authz::{self, AttachedPolicy, AuthorizationDetails, InlinePolicy, Statement};

pub const TABLE: &str = "iam";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("principal_type", DataType::Utf8, false),
        Field::new("principal_name", DataType::Utf8, false),
        Field::new("principal_arn", DataType::Utf8, false),
        s("trusted_services"),
        s("policy_kind"),
        s("policy_name"),
        s("policy_arn"),
        s("via_group"),
        Field::new("statement_index", DataType::Int32, true),
        s("sid"),
        s("effect"),
        Field::new("not_action", DataType::Boolean, true),
        s("action_pattern"),
        s("resources"),
        s("not_resources"),
        s("conditions"),
        Field::new("source_uri", DataType::Utf8, false),
    ]))
});

/// The table's columns (without the `account_id` and `dt` partitions).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row of the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IamRow {
    /// `role`, `user` or `group`.
    pub principal_type: &'static str,
    pub principal_name: String,
    pub principal_arn: String,
    /// For roles: the services its trust policy names, comma-separated.
    pub trusted_services: Option<String>,
    /// `inline`, `managed` or `boundary`.
    pub policy_kind: Option<&'static str>,
    pub policy_name: Option<String>,
    pub policy_arn: Option<String>,
    pub via_group: Option<String>,
    pub statement_index: Option<i32>,
    pub sid: Option<String>,
    pub effect: Option<String>,
    pub not_action: Option<bool>,
    pub action_pattern: Option<String>,
    /// JSON arrays of the patterns, as written; `resources` null when the statement has
    /// `NotResource` instead.
    pub resources: Option<String>,
    pub not_resources: Option<String>,
    pub conditions: Option<String>,
}

/// A statement that could not be read, and where it was.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unreadable {
    pub principal_arn: String,
    pub policy: String,
    pub reason: String,
}

/// The account of a snapshot: that of its principals' ARNs (the most common one).
pub fn account_of(details: &AuthorizationDetails) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let arns = details
        .role_detail_list
        .iter()
        .map(|r| r.arn.as_str())
        .chain(details.user_detail_list.iter().map(|u| u.arn.as_str()))
        .chain(details.group_detail_list.iter().map(|g| g.arn.as_str()));
    for arn in arns {
        if let Some(acct) = arn.split(':').nth(4).filter(|a| a.len() == 12) {
            *counts.entry(acct).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(a, n)| (*n, std::cmp::Reverse(*a)))
        .map(|(a, _)| a.to_string())
}

struct Principal<'a> {
    kind: &'static str,
    name: &'a str,
    arn: &'a str,
    trusted: Option<String>,
}

/// Every row of a snapshot, and the statements that could not be read.
pub fn rows(details: &AuthorizationDetails) -> (Vec<IamRow>, Vec<Unreadable>) {
    let managed: HashMap<&str, &authz::ManagedPolicy> = details
        .policies
        .iter()
        .map(|p| (p.arn.as_str(), p))
        .collect();
    let groups: HashMap<&str, &authz::Group> = details
        .group_detail_list
        .iter()
        .map(|g| (g.group_name.as_str(), g))
        .collect();
    let mut out = Rows {
        rows: Vec::new(),
        bad: Vec::new(),
        managed,
    };
    for r in &details.role_detail_list {
        let trusted = authz::trusted_services(r.assume_role_policy_document.as_ref());
        let p = Principal {
            kind: "role",
            name: &r.role_name,
            arn: &r.arn,
            trusted: Some(trusted.join(",")),
        };
        let start = out.rows.len();
        out.inline(&p, &r.role_policy_list, None);
        out.attached(&p, &r.attached_managed_policies, None);
        if let Some(b) = &r.permissions_boundary {
            out.boundary(&p, &b.permissions_boundary_arn);
        }
        out.placeholder(&p, start);
    }
    for u in &details.user_detail_list {
        let p = Principal {
            kind: "user",
            name: &u.user_name,
            arn: &u.arn,
            trusted: None,
        };
        let start = out.rows.len();
        out.inline(&p, &u.user_policy_list, None);
        out.attached(&p, &u.attached_managed_policies, None);
        for g in &u.group_list {
            match groups.get(g.as_str()) {
                Some(group) => {
                    out.inline(&p, &group.group_policy_list, Some(g));
                    out.attached(&p, &group.attached_managed_policies, Some(g));
                }
                None => out.bad.push(Unreadable {
                    principal_arn: u.arn.clone(),
                    policy: format!("group {g}"),
                    reason: "the group is not in the snapshot".into(),
                }),
            }
        }
        if let Some(b) = &u.permissions_boundary {
            out.boundary(&p, &b.permissions_boundary_arn);
        }
        out.placeholder(&p, start);
    }
    for g in &details.group_detail_list {
        let p = Principal {
            kind: "group",
            name: &g.group_name,
            arn: &g.arn,
            trusted: None,
        };
        let start = out.rows.len();
        out.inline(&p, &g.group_policy_list, None);
        out.attached(&p, &g.attached_managed_policies, None);
        out.placeholder(&p, start);
    }
    (out.rows, out.bad)
}

struct Rows<'a> {
    rows: Vec<IamRow>,
    bad: Vec<Unreadable>,
    managed: HashMap<&'a str, &'a authz::ManagedPolicy>,
}

impl Rows<'_> {
    fn inline(&mut self, p: &Principal, list: &[InlinePolicy], via: Option<&String>) {
        for pol in list {
            let Some(doc) = pol.policy_document.as_ref() else {
                self.unreadable(
                    p,
                    &pol.policy_name,
                    "inline policy without a document".into(),
                );
                continue;
            };
            self.document(p, "inline", &pol.policy_name, None, via, doc);
        }
    }

    fn attached(&mut self, p: &Principal, list: &[AttachedPolicy], via: Option<&String>) {
        for a in list {
            self.managed_policy(p, "managed", &a.policy_name, &a.policy_arn, via);
        }
    }

    fn boundary(&mut self, p: &Principal, arn: &str) {
        let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
        self.managed_policy(p, "boundary", &name, arn, None);
    }

    fn managed_policy(
        &mut self,
        p: &Principal,
        kind: &'static str,
        name: &str,
        arn: &str,
        via: Option<&String>,
    ) {
        match self.managed.get(arn).and_then(|m| m.default_document()) {
            Some(doc) => {
                let doc = doc.clone();
                self.document(p, kind, name, Some(arn), via, &doc)
            }
            None => self.unreadable(
                p,
                arn,
                "managed policy not in the snapshot (its document is needed to know what it grants)"
                    .into(),
            ),
        }
    }

    fn unreadable(&mut self, p: &Principal, policy: &str, reason: String) {
        self.bad.push(Unreadable {
            principal_arn: p.arn.to_string(),
            policy: policy.to_string(),
            reason,
        });
    }

    fn document(
        &mut self,
        p: &Principal,
        kind: &'static str,
        name: &str,
        arn: Option<&str>,
        via: Option<&String>,
        doc: &serde_json::Value,
    ) {
        let doc = match authz::document(doc) {
            Ok(d) => d,
            Err(e) => return self.unreadable(p, name, e),
        };
        for (i, st) in authz::statements(&doc).into_iter().enumerate() {
            match st {
                Ok(st) => self.statement(p, kind, name, arn, via, i as i32, &st),
                Err(e) => self.unreadable(p, name, format!("statement {i}: {e}")),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn statement(
        &mut self,
        p: &Principal,
        kind: &'static str,
        name: &str,
        arn: Option<&str>,
        via: Option<&String>,
        index: i32,
        st: &Statement,
    ) {
        let json = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|v| serde_json::to_string(v).unwrap_or_default())
        };
        for pattern in &st.actions {
            self.rows.push(IamRow {
                principal_type: p.kind,
                principal_name: p.name.to_string(),
                principal_arn: p.arn.to_string(),
                trusted_services: p.trusted.clone(),
                policy_kind: Some(kind),
                policy_name: Some(name.to_string()),
                policy_arn: arn.map(str::to_string),
                via_group: via.cloned(),
                statement_index: Some(index),
                sid: st.sid.clone(),
                effect: Some(st.effect.clone()),
                not_action: Some(st.not_action),
                action_pattern: Some(pattern.clone()),
                resources: json(&st.resources),
                not_resources: json(&st.not_resources),
                conditions: st.condition.clone(),
            });
        }
    }

    fn placeholder(&mut self, p: &Principal, start: usize) {
        if self.rows.len() == start {
            self.rows.push(IamRow {
                principal_type: p.kind,
                principal_name: p.name.to_string(),
                principal_arn: p.arn.to_string(),
                trusted_services: p.trusted.clone(),
                ..IamRow::default()
            });
        }
    }
}

/// The rows as one Arrow batch of [`schema`].
pub fn to_batch(rows: &[IamRow], source_uri: &str) -> arrow::error::Result<RecordBatch> {
    let mut strings: Vec<StringBuilder> = (0..14).map(|_| StringBuilder::new()).collect();
    let mut index = Int32Builder::new();
    let mut not_action = BooleanBuilder::new();
    for r in rows {
        let cols: [Option<&str>; 14] = [
            Some(r.principal_type),
            Some(&r.principal_name),
            Some(&r.principal_arn),
            r.trusted_services.as_deref(),
            r.policy_kind,
            r.policy_name.as_deref(),
            r.policy_arn.as_deref(),
            r.via_group.as_deref(),
            r.sid.as_deref(),
            r.effect.as_deref(),
            r.action_pattern.as_deref(),
            r.resources.as_deref(),
            r.not_resources.as_deref(),
            r.conditions.as_deref(),
        ];
        for (b, v) in strings.iter_mut().zip(cols) {
            b.append_option(v);
        }
        index.append_option(r.statement_index);
        not_action.append_option(r.not_action);
    }
    let mut s: Vec<ArrayRef> = strings
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let source: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
        source_uri;
        rows.len()
    ]));
    // Schema order: 8 strings, index, sid, effect, not_action, 4 strings, source.
    let rest = s.split_off(8);
    let mut cols = s;
    cols.push(Arc::new(index.finish()));
    let mut rest = rest.into_iter();
    cols.push(rest.next().expect("sid"));
    cols.push(rest.next().expect("effect"));
    cols.push(Arc::new(not_action.finish()));
    cols.extend(rest);
    cols.push(source);
    RecordBatch::try_new(schema(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details() -> AuthorizationDetails {
        serde_json::from_value(json!({
            "RoleDetailList": [{
                "RoleName": "fn-role", "Arn": "arn:aws:iam::111122223333:role/service-role/fn-role",
                "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*"},
                    {"Effect": "Sometimes", "Action": "s3:*"}]}}],
                "AttachedManagedPolicies": [{"PolicyName": "logs", "PolicyArn": "arn:aws:iam::111122223333:policy/logs"},
                                            {"PolicyName": "gone", "PolicyArn": "arn:aws:iam::111122223333:policy/gone"}]
            }, {"RoleName": "empty", "Arn": "arn:aws:iam::111122223333:role/empty"}],
            "UserDetailList": [{"UserName": "u", "Arn": "arn:aws:iam::111122223333:user/u", "GroupList": ["devs"]}],
            "GroupDetailList": [{"GroupName": "devs", "Arn": "arn:aws:iam::111122223333:group/devs",
                "GroupPolicyList": [{"PolicyName": "g", "PolicyDocument": {"Statement": {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:iam::*:role/x"}}}]}],
            "Policies": [{"PolicyName": "logs", "Arn": "arn:aws:iam::111122223333:policy/logs", "DefaultVersionId": "v2",
                "PolicyVersionList": [
                    {"VersionId": "v1", "IsDefaultVersion": false, "Document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
                    {"VersionId": "v2", "IsDefaultVersion": true, "Document": {"Statement": [{"Effect": "Allow", "Action": "logs:Put*", "Resource": "*"}]}}]}]
        }))
        .unwrap()
    }

    #[test]
    fn rows_per_pattern_with_groups_defaults_and_problems() {
        let d = details();
        assert_eq!(account_of(&d).as_deref(), Some("111122223333"));
        let (rows, bad) = rows(&d);
        let fn_rows: Vec<_> = rows
            .iter()
            .filter(|r| r.principal_name == "fn-role")
            .collect();
        let patterns: Vec<_> = fn_rows
            .iter()
            .map(|r| r.action_pattern.as_deref().unwrap())
            .collect();
        // The default version (v2) only; the unreadable statement and missing policy reported.
        assert_eq!(patterns, vec!["s3:GetObject", "s3:PutObject", "logs:Put*"]);
        assert_eq!(
            fn_rows[0].trusted_services.as_deref(),
            Some("lambda.amazonaws.com")
        );
        assert_eq!(
            fn_rows[0].resources.as_deref(),
            Some(r#"["arn:aws:s3:::b/*"]"#)
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad.iter().any(|b| b.policy.ends_with("/gone")));
        assert!(bad.iter().any(|b| b.reason.contains("statement 1")));
        // A role without policies still has its row.
        let empty: Vec<_> = rows
            .iter()
            .filter(|r| r.principal_name == "empty")
            .collect();
        assert_eq!(empty.len(), 1);
        assert!(empty[0].action_pattern.is_none());
        // The user gets its group's Deny NotAction, marked as coming through the group.
        let u: Vec<_> = rows.iter().filter(|r| r.principal_type == "user").collect();
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].via_group.as_deref(), Some("devs"));
        assert_eq!(u[0].not_action, Some(true));
        assert_eq!(u[0].resources, None);
        assert_eq!(
            u[0].not_resources.as_deref(),
            Some(r#"["arn:aws:iam::*:role/x"]"#)
        );
        let batch = to_batch(&rows, "file:///x.json").unwrap();
        assert_eq!(batch.num_rows(), rows.len());
        assert_eq!(batch.schema(), schema());
    }
}

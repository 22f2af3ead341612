//! `ingest iam`: an account's IAM authorization details (principals, their inline, managed and
//! group policies, permission boundaries, trust policies) into the lake's `iam` table, one
//! snapshot per account and day: `iam/account_id=<acct>/dt=<day>/snapshot.parquet`.
//!
//! The source is `aws iam get-account-authorization-details` output (a file, `.gz` or not,
//! an `s3://` object, or `-` for standard input), or `iam://`: the live IAM API through the
//! standard AWS configuration, paginated. Statements that cannot be read are reported with
//! the principal and policy they belong to; the rest of the snapshot is kept.

pub mod authz;
pub mod ingest;
pub mod table;

use std::io::Read;

use crate::ingest::Clients;
use crate::{Error, Result};
use authz::AuthorizationDetails;

/// Read the authorization details of `src` (`iam://` needs `clients.iam`, `s3://…`
/// `clients.s3`).
pub async fn read(src: &str, clients: &Clients<'_>) -> Result<AuthorizationDetails> {
    let missing = |what: &str| Error::InvalidUri {
        uri: src.to_string(),
        reason: format!("no {what} client was configured"),
    };
    if src.starts_with("iam://") {
        return live(clients.iam.ok_or_else(|| missing("IAM"))?).await;
    }
    let bytes = if src == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading", "standard input", e))?;
        buf
    } else if let Some((bucket, key)) = crate::s3::parse_uri(src) {
        let client = clients.s3.ok_or_else(|| missing("S3"))?;
        crate::s3::get_bytes(client, &bucket, &key).await?.to_vec()
    } else {
        std::fs::read(src).map_err(|e| Error::io("reading", src, e))?
    };
    parse(src, &bytes)
}

/// Parse authorization details from JSON bytes, gzip-compressed or not.
pub fn parse(src: &str, bytes: &[u8]) -> Result<AuthorizationDetails> {
    let invalid = |reason: String| Error::InvalidInput {
        source_uri: src.to_string(),
        reason,
    };
    let text: std::borrow::Cow<[u8]> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| invalid(format!("not a readable gzip file: {e}")))?;
        out.into()
    } else {
        bytes.into()
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("not a JSON object".into()))?;
    if ![
        "RoleDetailList",
        "UserDetailList",
        "GroupDetailList",
        "Policies",
    ]
    .iter()
    .any(|k| obj.contains_key(*k))
    {
        return Err(invalid(
            "not get-account-authorization-details output (no RoleDetailList, UserDetailList, \
             GroupDetailList or Policies)"
                .into(),
        ));
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("unexpected shape: {e}")))
}

/// The live account through the IAM API (`GetAccountAuthorizationDetails`, every page).
async fn live(client: &aws_sdk_iam::Client) -> Result<AuthorizationDetails> {
    use serde_json::Value;
    let err = |e: String| Error::Aws {
        service: "iam",
        op: "GetAccountAuthorizationDetails",
        message: e,
    };
    let mut out = AuthorizationDetails::default();
    let mut pages = client
        .get_account_authorization_details()
        .into_paginator()
        .send();
    let doc = |d: Option<&str>| d.map(|d| Value::String(d.to_string()));
    let inline = |list: &[aws_sdk_iam::types::PolicyDetail]| {
        list.iter()
            .map(|p| authz::InlinePolicy {
                policy_name: p.policy_name().unwrap_or_default().to_string(),
                policy_document: doc(p.policy_document()),
            })
            .collect::<Vec<_>>()
    };
    let attached = |list: &[aws_sdk_iam::types::AttachedPolicy]| {
        list.iter()
            .map(|p| authz::AttachedPolicy {
                policy_name: p.policy_name().unwrap_or_default().to_string(),
                policy_arn: p.policy_arn().unwrap_or_default().to_string(),
            })
            .collect::<Vec<_>>()
    };
    let boundary = |b: Option<&aws_sdk_iam::types::AttachedPermissionsBoundary>| {
        b.and_then(|b| b.permissions_boundary_arn())
            .map(|arn| authz::Boundary {
                permissions_boundary_arn: arn.to_string(),
            })
    };
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err(aws_sdk_iam::error::DisplayErrorContext(e).to_string()))?;
        for u in page.user_detail_list() {
            out.user_detail_list.push(authz::User {
                user_name: u.user_name().unwrap_or_default().to_string(),
                arn: u.arn().unwrap_or_default().to_string(),
                user_policy_list: inline(u.user_policy_list()),
                group_list: u.group_list().to_vec(),
                attached_managed_policies: attached(u.attached_managed_policies()),
                permissions_boundary: boundary(u.permissions_boundary()),
            });
        }
        for g in page.group_detail_list() {
            out.group_detail_list.push(authz::Group {
                group_name: g.group_name().unwrap_or_default().to_string(),
                arn: g.arn().unwrap_or_default().to_string(),
                group_policy_list: inline(g.group_policy_list()),
                attached_managed_policies: attached(g.attached_managed_policies()),
            });
        }
        for r in page.role_detail_list() {
            out.role_detail_list.push(authz::Role {
                role_name: r.role_name().unwrap_or_default().to_string(),
                arn: r.arn().unwrap_or_default().to_string(),
                assume_role_policy_document: doc(r.assume_role_policy_document()),
                role_policy_list: inline(r.role_policy_list()),
                attached_managed_policies: attached(r.attached_managed_policies()),
                permissions_boundary: boundary(r.permissions_boundary()),
            });
        }
        for p in page.policies() {
            out.policies.push(authz::ManagedPolicy {
                policy_name: p.policy_name().unwrap_or_default().to_string(),
                arn: p.arn().unwrap_or_default().to_string(),
                default_version_id: p.default_version_id().map(str::to_string),
                policy_version_list: p
                    .policy_version_list()
                    .iter()
                    .map(|v| authz::PolicyVersion {
                        document: doc(v.document()),
                        version_id: v.version_id().unwrap_or_default().to_string(),
                        is_default_version: v.is_default_version(),
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

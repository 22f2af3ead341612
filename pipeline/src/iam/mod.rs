//! `ingest iam`: an account's IAM authorization details (principals, their inline, managed and
//! group policies, permission boundaries, trust policies) into the lake's `iam` table, one
//! snapshot per account and day: `iam/account_id=<acct>/dt=<day>/snapshot.parquet`.
//!
//! The source is `aws iam get-account-authorization-details` output (a file, `.gz` or not,
//! an `s3://` object, or `-` for standard input), or `iam://`: the live IAM API through the
//! standard AWS configuration, paginated. Statements that cannot be read are reported with
//! the principal and policy they belong to; the rest of the snapshot is kept.

pub mod authz;
pub mod table;

use std::io::Read;
use std::time::Instant;

use serde::Serialize;

use crate::lake::Lake;
use crate::{Error, Result};
use authz::AuthorizationDetails;

/// What an `ingest iam` run did.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub source: String,
    pub account_id: String,
    pub snapshot_date: String,
    pub roles: usize,
    /// Roles that Lambda may assume (their trust policy names `lambda.amazonaws.com`).
    pub function_roles: usize,
    pub users: usize,
    pub groups: usize,
    pub managed_policies: usize,
    pub rows: usize,
    pub statements_unreadable: usize,
    /// The first unreadable statements, with where they are and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<table::Unreadable>,
    /// An earlier snapshot of the same account and day was replaced.
    pub replaced: bool,
    pub seconds: f64,
    pub lake: String,
}

/// Read the authorization details of `src`.
pub async fn read(src: &str, sdk: Option<&aws_config::SdkConfig>) -> Result<AuthorizationDetails> {
    // The SDK configuration given, or the standard chain's when an AWS source needs one.
    let conf = || async {
        match sdk {
            Some(c) => c.clone(),
            None => crate::aws::sdk_config().await,
        }
    };
    if src.starts_with("iam://") {
        return live(&aws_sdk_iam::Client::new(&conf().await)).await;
    }
    let bytes = if src == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading", "standard input", e))?;
        buf
    } else if let Some((bucket, key)) = crate::aws::parse_s3_uri(src) {
        let client = crate::aws::s3_client(&conf().await);
        crate::ingest::get_object_bytes(&client, &bucket, &key)
            .await?
            .to_vec()
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

/// Ingest `src` as the snapshot of day `date` (`YYYY-MM-DD`).
pub async fn ingest(
    src: &str,
    lake: &Lake,
    date: &str,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<Summary> {
    let started = Instant::now();
    let details = read(src, sdk).await?;
    let account = table::account_of(&details).ok_or_else(|| Error::InvalidInput {
        source_uri: src.to_string(),
        reason: "no principal with an account in its ARN: nothing to ingest".into(),
    })?;
    let (rows, bad) = table::rows(&details);
    let source_uri = if src.starts_with("iam://") || src.starts_with("s3://") || src == "-" {
        src.to_string()
    } else {
        std::path::Path::new(src)
            .canonicalize()
            .map(|p| format!("file://{}", p.display()))
            .unwrap_or_else(|_| src.to_string())
    };
    let batch = table::to_batch(&rows, &source_uri)?;
    let props = crate::lake::writer::writer_properties(
        &["resources", "not_resources", "conditions"],
        &["principal_arn", "action_pattern"],
        &[],
        3,
    );
    let parquet_err = |source| Error::Parquet {
        path: table::TABLE.into(),
        source,
    };
    let mut buf = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, table::schema(), Some(props))
            .map_err(parquet_err)?;
        w.write(&batch).map_err(parquet_err)?;
        w.close().map_err(parquet_err)?;
    }
    let dir = format!("{}/account_id={account}/dt={date}/", table::TABLE);
    let replaced = !lake.list(&dir).await?.is_empty();
    lake.put_bytes(&format!("{dir}snapshot.parquet"), buf)
        .await?;
    let function_roles = details
        .role_detail_list
        .iter()
        .filter(|r| {
            authz::trusted_services(r.assume_role_policy_document.as_ref())
                .iter()
                .any(|s| s == "lambda.amazonaws.com")
        })
        .count();
    tracing::info!(account = %account, date, rows = rows.len(), unreadable = bad.len(), "iam snapshot written");
    Ok(Summary {
        source: src.to_string(),
        account_id: account,
        snapshot_date: date.to_string(),
        roles: details.role_detail_list.len(),
        function_roles,
        users: details.user_detail_list.len(),
        groups: details.group_detail_list.len(),
        managed_policies: details.policies.len(),
        rows: rows.len(),
        statements_unreadable: bad.len(),
        unreadable: bad.into_iter().take(20).collect(),
        replaced,
        seconds: started.elapsed().as_secs_f64(),
        lake: lake.uri(),
    })
}

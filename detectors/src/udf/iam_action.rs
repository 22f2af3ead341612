//! `iam_action(event_source, event_name)`: the IAM action a CloudTrail event needed, so that
//! what a role used can be compared with what it is granted.
//!
//! Mostly `<prefix>:<event name>`, with three kinds of quirks: services whose event source is
//! not their IAM prefix (`monitoring` is `cloudwatch`), event names with an API version
//! (Lambda's `UpdateFunctionCode20150331v2`, CloudFront's `CreateDistribution2020_05_31`), and
//! operations authorized by another action (`ListObjects` needs `s3:ListBucket`), listed in
//! `detectors/data/iam-action-exceptions.tsv` (derived from iamlive's map; see NOTICE).

use std::collections::HashMap;
use std::sync::LazyLock;

use arrow::array::StringArray;
use arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;

const EXCEPTIONS: &str = include_str!("../../data/iam-action-exceptions.tsv");

/// (prefix, operation) → actions, the authorizing one first.
static TABLE: LazyLock<HashMap<(&'static str, &'static str), Vec<&'static str>>> =
    LazyLock::new(|| {
        EXCEPTIONS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut parts = l.split('\t');
                let (prefix, op, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(((prefix, op), actions.split(',').collect()))
            })
            .collect()
    });

/// Event sources whose service is not their IAM prefix.
fn prefix_of(service: &str) -> &str {
    match service {
        "monitoring" => "cloudwatch",
        "email" => "ses",
        "elasticmapreduce" => "elasticmapreduce",
        "runtime.sagemaker" => "sagemaker",
        "api.ecr" => "ecr",
        "s3-outposts" => "s3-outposts",
        "signin" => "signin",
        "sso-directory" => "sso-directory",
        "iam" | "sts" => service,
        other => other,
    }
}

/// `UpdateFunctionCode20150331v2` → `UpdateFunctionCode`; `GetDistribution2020_05_31` →
/// `GetDistribution`.
fn strip_version(name: &str) -> &str {
    let b = name.as_bytes();
    // Lambda: 8 digits, optionally `v` and digits.
    let mut end = b.len();
    while end > 0 && b[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end > 0 && end < b.len() && b[end - 1] == b'v' {
        let before_v = end - 1;
        let mut start = before_v;
        while start > 0 && b[start - 1].is_ascii_digit() {
            start -= 1;
        }
        if before_v - start == 8 && start > 0 {
            return &name[..start];
        }
    } else if b.len() - end == 8 && end > 0 {
        return &name[..end];
    }
    // CloudFront: `YYYY_MM_DD`.
    if b.len() > 10 {
        let tail = &b[b.len() - 10..];
        let shape = tail.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'_'
            } else {
                c.is_ascii_digit()
            }
        });
        if shape {
            return &name[..name.len() - 10];
        }
    }
    name
}

/// The IAM action that authorized the event (the first when it needs several), or `None`
/// without an event source or name.
pub fn iam_action(event_source: &str, event_name: &str) -> Option<String> {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    if service.is_empty() || event_name.is_empty() {
        return None;
    }
    let prefix = prefix_of(service);
    let op = strip_version(event_name);
    Some(match TABLE.get(&(prefix, op)) {
        Some(actions) => actions[0].to_string(),
        None => format!("{prefix}:{op}"),
    })
}

/// Every IAM action the event needed, the authorizing one first.
pub fn iam_actions(event_source: &str, event_name: &str) -> Vec<String> {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    let prefix = prefix_of(service);
    let op = strip_version(event_name);
    match TABLE.get(&(prefix, op)) {
        Some(actions) => actions.iter().map(|a| a.to_string()).collect(),
        None => iam_action(event_source, event_name).into_iter().collect(),
    }
}

/// The SQL function `iam_action(event_source, event_name)`.
pub fn udf() -> ScalarUDF {
    super::two_string_udf::<StringArray, _>("iam_action", DataType::Utf8, iam_action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_events_are_prefix_and_name() {
        assert_eq!(
            iam_action("dynamodb.amazonaws.com", "GetItem").as_deref(),
            Some("dynamodb:GetItem")
        );
        assert_eq!(
            iam_action("secretsmanager.amazonaws.com", "GetSecretValue").as_deref(),
            Some("secretsmanager:GetSecretValue")
        );
        assert_eq!(
            iam_action("monitoring.amazonaws.com", "PutMetricData").as_deref(),
            Some("cloudwatch:PutMetricData")
        );
        assert_eq!(iam_action("", "GetItem"), None);
    }

    #[test]
    fn versioned_names() {
        for (name, want) in [
            ("UpdateFunctionCode20150331v2", "lambda:UpdateFunctionCode"),
            ("AddPermission20150331v2", "lambda:AddPermission"),
            ("ListFunctions20150331", "lambda:ListFunctions"),
            (
                "CreateFunctionUrlConfig20211031",
                "lambda:CreateFunctionUrlConfig",
            ),
            ("PublishLayerVersion20181031", "lambda:PublishLayerVersion"),
            ("GetFunction20150331v2", "lambda:GetFunction"),
            ("Invoke", "lambda:InvokeFunction"),
        ] {
            assert_eq!(
                iam_action("lambda.amazonaws.com", name).as_deref(),
                Some(want),
                "{name}"
            );
        }
        assert_eq!(
            iam_action("cloudfront.amazonaws.com", "GetDistribution2020_05_31").as_deref(),
            Some("cloudfront:GetDistribution")
        );
        // Names that merely end in digits are left alone.
        assert_eq!(strip_version("GetObject"), "GetObject");
        assert_eq!(strip_version("DescribeDBClusters"), "DescribeDBClusters");
        assert_eq!(strip_version("Ec2v2"), "Ec2v2");
    }

    #[test]
    fn operations_authorized_by_another_action() {
        for (source, name, want) in [
            ("s3.amazonaws.com", "ListObjects", "s3:ListBucket"),
            ("s3.amazonaws.com", "ListObjectsV2", "s3:ListBucket"),
            ("s3.amazonaws.com", "ListBuckets", "s3:ListAllMyBuckets"),
            ("s3.amazonaws.com", "CopyObject", "s3:PutObject"),
            (
                "s3.amazonaws.com",
                "GetBucketEncryption",
                "s3:GetEncryptionConfiguration",
            ),
            ("s3.amazonaws.com", "CreateBucket", "s3:CreateBucket"),
            ("s3.amazonaws.com", "GetObject", "s3:GetObject"),
        ] {
            assert_eq!(iam_action(source, name).as_deref(), Some(want), "{name}");
        }
        assert_eq!(
            iam_actions("lambda.amazonaws.com", "CreateFunction20150331"),
            vec!["lambda:CreateFunction", "iam:PassRole"]
        );
    }

    #[test]
    fn the_table_is_well_formed() {
        assert!(TABLE.len() > 500, "{}", TABLE.len());
        for ((prefix, op), actions) in TABLE.iter() {
            assert!(!prefix.is_empty() && !op.is_empty());
            assert!(!actions.is_empty());
            for a in actions {
                let (p, name) = a.split_once(':').expect(a);
                assert!(!p.is_empty() && !name.is_empty(), "{a}");
            }
        }
    }
}

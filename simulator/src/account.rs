//! The simulated account: Lambda functions, their execution roles and policies, the people
//! and the CI pipeline around them. Built once from the seed.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::ids;

/// An AWS API call a function's code makes, with the resource it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub api: Api,
    /// Table, bucket, secret, key, parameter or topic name/ARN the call names.
    pub resource: String,
    /// Chance that an invocation makes it.
    pub p: f64,
}

/// The CloudTrail event types the simulator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    DynamoGetItem,
    DynamoPutItem,
    DynamoQuery,
    DynamoUpdateItem,
    DynamoScan,
    S3GetObject,
    S3PutObject,
    S3DeleteObject,
    S3ListBuckets,
    SecretsGetSecretValue,
    SecretsListSecrets,
    KmsDecrypt,
    SsmGetParameter,
    SnsPublish,
    StsGetCallerIdentity,
    IamListRoles,
    IamListUsers,
    IamListAttachedRolePolicies,
    IamAttachRolePolicy,
    IamCreateAccessKey,
    IamCreateUser,
    IamAttachUserPolicy,
    IamCreateLoginProfile,
    IamUpdateAssumeRolePolicy,
    IamCreateRole,
    IamPutRolePolicy,
    Ec2ModifySnapshotAttribute,
    SecretsBatchGetSecretValue,
    LambdaListFunctions,
    LambdaGetFunction,
    LambdaCreateFunction,
    LambdaUpdateFunctionCode,
    LambdaUpdateFunctionConfiguration,
    LambdaPublishVersion,
    LambdaAddPermission,
    LambdaCreateFunctionUrlConfig,
    Ec2DescribeInstances,
    CloudTrailStopLogging,
    CloudTrailDeleteTrail,
    CloudTrailPutEventSelectors,
    CloudTrailDescribeTrails,
    LogsFilterLogEvents,
    StsAssumeRoleWithWebIdentity,
}

impl Api {
    /// (eventSource, eventName, IAM action).
    pub fn names(self) -> (&'static str, &'static str, &'static str) {
        use Api::*;
        match self {
            DynamoGetItem => ("dynamodb.amazonaws.com", "GetItem", "dynamodb:GetItem"),
            DynamoPutItem => ("dynamodb.amazonaws.com", "PutItem", "dynamodb:PutItem"),
            DynamoQuery => ("dynamodb.amazonaws.com", "Query", "dynamodb:Query"),
            DynamoUpdateItem => (
                "dynamodb.amazonaws.com",
                "UpdateItem",
                "dynamodb:UpdateItem",
            ),
            DynamoScan => ("dynamodb.amazonaws.com", "Scan", "dynamodb:Scan"),
            S3GetObject => ("s3.amazonaws.com", "GetObject", "s3:GetObject"),
            S3PutObject => ("s3.amazonaws.com", "PutObject", "s3:PutObject"),
            S3DeleteObject => ("s3.amazonaws.com", "DeleteObject", "s3:DeleteObject"),
            S3ListBuckets => ("s3.amazonaws.com", "ListBuckets", "s3:ListAllMyBuckets"),
            SecretsGetSecretValue => (
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                "secretsmanager:GetSecretValue",
            ),
            SecretsListSecrets => (
                "secretsmanager.amazonaws.com",
                "ListSecrets",
                "secretsmanager:ListSecrets",
            ),
            KmsDecrypt => ("kms.amazonaws.com", "Decrypt", "kms:Decrypt"),
            SsmGetParameter => ("ssm.amazonaws.com", "GetParameter", "ssm:GetParameter"),
            SnsPublish => ("sns.amazonaws.com", "Publish", "sns:Publish"),
            StsGetCallerIdentity => (
                "sts.amazonaws.com",
                "GetCallerIdentity",
                "sts:GetCallerIdentity",
            ),
            IamListRoles => ("iam.amazonaws.com", "ListRoles", "iam:ListRoles"),
            IamListUsers => ("iam.amazonaws.com", "ListUsers", "iam:ListUsers"),
            IamListAttachedRolePolicies => (
                "iam.amazonaws.com",
                "ListAttachedRolePolicies",
                "iam:ListAttachedRolePolicies",
            ),
            IamAttachRolePolicy => (
                "iam.amazonaws.com",
                "AttachRolePolicy",
                "iam:AttachRolePolicy",
            ),
            IamCreateAccessKey => (
                "iam.amazonaws.com",
                "CreateAccessKey",
                "iam:CreateAccessKey",
            ),
            IamCreateUser => ("iam.amazonaws.com", "CreateUser", "iam:CreateUser"),
            IamAttachUserPolicy => (
                "iam.amazonaws.com",
                "AttachUserPolicy",
                "iam:AttachUserPolicy",
            ),
            IamCreateLoginProfile => (
                "iam.amazonaws.com",
                "CreateLoginProfile",
                "iam:CreateLoginProfile",
            ),
            IamUpdateAssumeRolePolicy => (
                "iam.amazonaws.com",
                "UpdateAssumeRolePolicy",
                "iam:UpdateAssumeRolePolicy",
            ),
            IamCreateRole => ("iam.amazonaws.com", "CreateRole", "iam:CreateRole"),
            IamPutRolePolicy => ("iam.amazonaws.com", "PutRolePolicy", "iam:PutRolePolicy"),
            Ec2ModifySnapshotAttribute => (
                "ec2.amazonaws.com",
                "ModifySnapshotAttribute",
                "ec2:ModifySnapshotAttribute",
            ),
            SecretsBatchGetSecretValue => (
                "secretsmanager.amazonaws.com",
                "BatchGetSecretValue",
                "secretsmanager:BatchGetSecretValue",
            ),
            LambdaListFunctions => (
                "lambda.amazonaws.com",
                "ListFunctions20150331",
                "lambda:ListFunctions",
            ),
            LambdaGetFunction => (
                "lambda.amazonaws.com",
                "GetFunction20150331v2",
                "lambda:GetFunction",
            ),
            LambdaCreateFunction => (
                "lambda.amazonaws.com",
                "CreateFunction20150331",
                "lambda:CreateFunction",
            ),
            LambdaUpdateFunctionCode => (
                "lambda.amazonaws.com",
                "UpdateFunctionCode20150331v2",
                "lambda:UpdateFunctionCode",
            ),
            LambdaUpdateFunctionConfiguration => (
                "lambda.amazonaws.com",
                "UpdateFunctionConfiguration20150331v2",
                "lambda:UpdateFunctionConfiguration",
            ),
            LambdaPublishVersion => (
                "lambda.amazonaws.com",
                "PublishVersion20150331",
                "lambda:PublishVersion",
            ),
            LambdaAddPermission => (
                "lambda.amazonaws.com",
                "AddPermission20150331v2",
                "lambda:AddPermission",
            ),
            LambdaCreateFunctionUrlConfig => (
                "lambda.amazonaws.com",
                "CreateFunctionUrlConfig20211031",
                "lambda:CreateFunctionUrlConfig",
            ),
            Ec2DescribeInstances => (
                "ec2.amazonaws.com",
                "DescribeInstances",
                "ec2:DescribeInstances",
            ),
            CloudTrailStopLogging => (
                "cloudtrail.amazonaws.com",
                "StopLogging",
                "cloudtrail:StopLogging",
            ),
            CloudTrailDeleteTrail => (
                "cloudtrail.amazonaws.com",
                "DeleteTrail",
                "cloudtrail:DeleteTrail",
            ),
            CloudTrailPutEventSelectors => (
                "cloudtrail.amazonaws.com",
                "PutEventSelectors",
                "cloudtrail:PutEventSelectors",
            ),
            CloudTrailDescribeTrails => (
                "cloudtrail.amazonaws.com",
                "DescribeTrails",
                "cloudtrail:DescribeTrails",
            ),
            LogsFilterLogEvents => (
                "logs.amazonaws.com",
                "FilterLogEvents",
                "logs:FilterLogEvents",
            ),
            StsAssumeRoleWithWebIdentity => (
                "sts.amazonaws.com",
                "AssumeRoleWithWebIdentity",
                "sts:AssumeRoleWithWebIdentity",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Python312,
    Nodejs20,
    Java21,
}

impl Runtime {
    pub fn id(self) -> &'static str {
        match self {
            Runtime::Python312 => "python3.12",
            Runtime::Nodejs20 => "nodejs20.x",
            Runtime::Java21 => "java21",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub runtime: Runtime,
    /// Index into [`Account::roles`].
    pub role: usize,
    /// Lambda's JSON log format (else text).
    pub json_logs: bool,
    /// In a VPC: calls leave through the NAT gateway's addresses.
    pub vpc: bool,
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// Calls of each invocation.
    pub calls: Vec<Call>,
    /// Calls made once per execution environment, at cold start.
    pub init_calls: Vec<Call>,
    /// Invocations per day at the daily peak.
    pub peak_per_hour: f64,
    pub duration_ms: f64,
    pub memory_used_mb: f64,
    pub error_rate: f64,
    pub timeout_rate: f64,
    /// Runs on a schedule (every `n` minutes) instead of on demand.
    pub schedule_minutes: Option<u32>,
    /// A low-volume function (`simulate --low-volume`): its own rhythm and sampled logs.
    pub low_volume: Option<LowVolume>,
}

/// How a low-volume function runs: a few invocations an hour in working hours, every day,
/// none at night, never failing; its logs keep every failure and a sample of the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowVolume {
    /// Invocations an hour from `hours.0` to `hours.1` (UTC).
    pub per_hour: f64,
    pub hours: (i64, i64),
    /// The share of successful invocations whose logs are kept.
    pub log_sample: f64,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub id: String,
    /// Inline policy statements.
    pub statements: Vec<Value>,
    /// Whether the role is granted more than its functions use.
    pub over_permissioned: bool,
}

impl Role {
    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role{}{}", self.path, self.name)
    }
}

/// A person or pipeline that calls AWS outside the functions.
#[derive(Debug, Clone)]
pub struct Human {
    /// `alice@example.com` (an Identity Center session) or the CI role's session.
    pub session: String,
    pub role_name: String,
    pub role_id: String,
    pub ip: String,
    pub user_agent: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub region: String,
    pub trail_name: String,
    pub functions: Vec<Function>,
    pub roles: Vec<Role>,
    pub admins: Vec<Human>,
    pub ci: Human,
    /// Addresses Lambda's own (non-VPC) traffic leaves from, per region.
    pub lambda_ips: Vec<String>,
    /// The VPC's NAT gateway addresses.
    pub nat_ips: Vec<String>,
}

impl Account {
    pub fn role_of(&self, f: &Function) -> &Role {
        &self.roles[f.role]
    }

    /// The functions other than the low-volume ones (those come last).
    pub fn regular(&self) -> &[Function] {
        let n = self
            .functions
            .iter()
            .position(|f| f.low_volume.is_some())
            .unwrap_or(self.functions.len());
        &self.functions[..n]
    }
}

/// What a kind of function does.
struct Template {
    name: &'static str,
    runtime: Runtime,
    calls: &'static [(Api, &'static str, f64)],
    init: &'static [(Api, &'static str, f64)],
    peak_per_hour: f64,
    duration_ms: f64,
    memory_mb: u32,
    schedule_minutes: Option<u32>,
}

const TEMPLATES: &[Template] = &[
    Template {
        name: "orders-api",
        runtime: Runtime::Nodejs20,
        calls: &[
            (Api::DynamoGetItem, "orders", 0.9),
            (Api::DynamoPutItem, "orders", 0.4),
        ],
        init: &[(Api::SecretsGetSecretValue, "prod/orders/db", 1.0)],
        peak_per_hour: 60.0,
        duration_ms: 45.0,
        memory_mb: 256,
        schedule_minutes: None,
    },
    Template {
        name: "image-resizer",
        runtime: Runtime::Python312,
        calls: &[
            (Api::S3GetObject, "uploads", 1.0),
            (Api::S3PutObject, "thumbnails", 1.0),
            (Api::S3DeleteObject, "uploads", 0.3),
        ],
        init: &[],
        peak_per_hour: 30.0,
        duration_ms: 850.0,
        memory_mb: 1024,
        schedule_minutes: None,
    },
    Template {
        name: "report-builder",
        runtime: Runtime::Python312,
        calls: &[
            (Api::DynamoQuery, "orders", 1.0),
            (Api::S3PutObject, "reports", 1.0),
        ],
        init: &[(Api::SsmGetParameter, "/reports/config", 1.0)],
        peak_per_hour: 4.0,
        duration_ms: 4200.0,
        memory_mb: 512,
        schedule_minutes: Some(60),
    },
    Template {
        name: "payments-webhook",
        runtime: Runtime::Java21,
        calls: &[
            (Api::KmsDecrypt, "payments", 1.0),
            (Api::DynamoPutItem, "payments", 1.0),
        ],
        init: &[(Api::SecretsGetSecretValue, "prod/payments/api-key", 1.0)],
        peak_per_hour: 20.0,
        duration_ms: 180.0,
        memory_mb: 512,
        schedule_minutes: None,
    },
    Template {
        name: "notifier",
        runtime: Runtime::Nodejs20,
        calls: &[(Api::SnsPublish, "customer-notifications", 1.0)],
        init: &[],
        peak_per_hour: 25.0,
        duration_ms: 60.0,
        memory_mb: 128,
        schedule_minutes: None,
    },
    Template {
        name: "user-profile",
        runtime: Runtime::Nodejs20,
        calls: &[
            (Api::DynamoGetItem, "users", 1.0),
            (Api::DynamoUpdateItem, "users", 0.2),
        ],
        init: &[],
        peak_per_hour: 45.0,
        duration_ms: 35.0,
        memory_mb: 256,
        schedule_minutes: None,
    },
    Template {
        name: "config-sync",
        runtime: Runtime::Python312,
        calls: &[(Api::SsmGetParameter, "/app/feature-flags", 1.0)],
        init: &[],
        peak_per_hour: 4.0,
        duration_ms: 120.0,
        memory_mb: 128,
        schedule_minutes: Some(15),
    },
    Template {
        name: "audit-export",
        runtime: Runtime::Python312,
        calls: &[
            (Api::DynamoQuery, "audit", 1.0),
            (Api::S3PutObject, "audit-archive", 1.0),
        ],
        init: &[],
        peak_per_hour: 2.0,
        duration_ms: 2500.0,
        memory_mb: 512,
        schedule_minutes: Some(30),
    },
];

/// Build the account for a seed: `functions` functions of the templates, then `low_volume`
/// low-volume ones (drawn last, so that the others are the same with or without them).
pub fn build(
    rng: &mut ChaCha8Rng,
    functions: usize,
    low_volume: usize,
    account: &str,
    region: &str,
) -> Account {
    let mut roles: Vec<Role> = Vec::new();
    let mut fns = Vec::with_capacity(functions);
    // One role shared by several small functions (a common shortcut).
    let shared = Role {
        name: "shared-worker-role".into(),
        path: "/".into(),
        id: ids::unique_id(rng, "AROA"),
        statements: Vec::new(),
        over_permissioned: true,
    };
    roles.push(shared);
    for i in 0..functions {
        let t = &TEMPLATES[i % TEMPLATES.len()];
        let name = if i < TEMPLATES.len() {
            t.name.to_string()
        } else {
            format!("{}-{}", t.name, i / TEMPLATES.len() + 1)
        };
        let suffix = |r: &str| {
            if i < TEMPLATES.len() {
                r.to_string()
            } else {
                format!("{r}-{}", i / TEMPLATES.len() + 1)
            }
        };
        let calls: Vec<Call> = t
            .calls
            .iter()
            .map(|(api, r, p)| Call {
                api: *api,
                resource: suffix(r),
                p: *p,
            })
            .collect();
        let init_calls: Vec<Call> = t
            .init
            .iter()
            .map(|(api, r, p)| Call {
                api: *api,
                resource: suffix(r),
                p: *p,
            })
            .collect();
        // Every fifth function (from the third) shares the role; a third are over-permissioned.
        let role = if i % 5 == 2 && i > 2 {
            0
        } else {
            let over = rng.random_bool(0.35) || i == 1;
            roles.push(Role {
                name: format!("{name}-role"),
                path: "/service-role/".into(),
                id: ids::unique_id(rng, "AROA"),
                statements: Vec::new(),
                over_permissioned: over,
            });
            roles.len() - 1
        };
        let jitter = rng.random_range(0.7..1.3);
        fns.push(Function {
            name,
            runtime: t.runtime,
            role,
            json_logs: rng.random_bool(0.4),
            vpc: rng.random_bool(0.3),
            memory_mb: t.memory_mb,
            timeout_s: if t.duration_ms > 1000.0 { 30 } else { 6 },
            calls,
            init_calls,
            peak_per_hour: t.peak_per_hour * jitter,
            duration_ms: t.duration_ms * rng.random_range(0.8..1.2),
            memory_used_mb: f64::from(t.memory_mb) * rng.random_range(0.25..0.45),
            error_rate: rng.random_range(0.002..0.02),
            timeout_rate: rng.random_range(0.0..0.003),
            schedule_minutes: t.schedule_minutes,
            low_volume: None,
        });
    }
    if !fns.iter().any(|f| f.role == 0) {
        roles[0].over_permissioned = false;
    }
    // Policies: what each role's functions use, and for over-permissioned roles, wildcards and
    // grants nobody uses.
    for (r, role) in roles.iter_mut().enumerate() {
        let users: Vec<&Function> = fns.iter().filter(|f| f.role == r).collect();
        role.statements = statements_for(&users, role.over_permissioned, account, region);
    }
    let admins = ["alice@example.com", "bob@example.com"]
        .iter()
        .enumerate()
        .map(|(i, who)| Human {
            session: who.to_string(),
            role_name: "AWSReservedSSO_AdministratorAccess_5f2a0c7d1e9b3a46".into(),
            role_id: "AROA5EXAMPLEADMINSSO".into(),
            ip: format!("192.0.2.{}", 10 + i),
            user_agent: if i == 0 {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into()
            } else {
                "aws-cli/2.22.4 md/awscrt#0.23.4 ua/2.0 os/linux#6.8.0-49-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#lambda.list-functions".into()
            },
        })
        .collect();
    let ci = Human {
        session: "GitHubActions".into(),
        role_name: "github-actions-deployer".into(),
        role_id: ids::unique_id(rng, "AROA"),
        ip: "4.148.0.17".into(),
        user_agent: "aws-cli/2.22.4 md/awscrt#0.23.4 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#lambda.update-function-code".into(),
    };
    let lambda_ips = (0..24)
        .map(|_| {
            let prefix = *["3.208", "3.215", "34.224", "52.3", "54.160"]
                .choose(rng)
                .unwrap_or(&"3.208");
            format!(
                "{prefix}.{}.{}",
                rng.random_range(0..=255),
                rng.random_range(1..=254)
            )
        })
        .collect();
    for k in 1..=low_volume {
        let name = format!("ledger-check-{k}");
        let calls = vec![
            Call {
                api: Api::DynamoQuery,
                resource: format!("ledger-{k}"),
                p: 0.8,
            },
            Call {
                api: Api::SnsPublish,
                resource: format!("ledger-alerts-{k}"),
                p: 0.1,
            },
        ];
        roles.push(Role {
            name: format!("{name}-role"),
            path: "/service-role/".into(),
            id: ids::unique_id(rng, "AROA"),
            statements: Vec::new(),
            over_permissioned: false,
        });
        let f = Function {
            name,
            runtime: Runtime::Python312,
            role: roles.len() - 1,
            json_logs: rng.random_bool(0.5),
            vpc: false,
            memory_mb: 256,
            timeout_s: 30,
            calls,
            init_calls: Vec::new(),
            peak_per_hour: 0.0,
            duration_ms: rng.random_range(200.0..600.0),
            memory_used_mb: 256.0 * rng.random_range(0.25..0.4),
            error_rate: 0.0,
            timeout_rate: 0.0,
            schedule_minutes: None,
            // 3 to 10 logged invocations an hour: 6 to 20 run, half of their logs kept.
            low_volume: Some(LowVolume {
                per_hour: rng.random_range(6.0..20.0),
                hours: (8, 18),
                log_sample: 0.5,
            }),
        };
        let r = f.role;
        roles[r].statements = statements_for(&[&f], false, account, region);
        fns.push(f);
    }
    Account {
        id: account.to_string(),
        region: region.to_string(),
        trail_name: "management-and-data-events".into(),
        functions: fns,
        roles,
        admins,
        ci,
        lambda_ips,
        nat_ips: vec!["44.211.12.7".into(), "44.211.12.8".into()],
    }
}

/// The ARN a call's resource names.
pub fn resource_arn(api: Api, resource: &str, account: &str, region: &str) -> String {
    use Api::*;
    match api {
        DynamoGetItem | DynamoPutItem | DynamoQuery | DynamoUpdateItem | DynamoScan => {
            format!("arn:aws:dynamodb:{region}:{account}:table/{resource}")
        }
        S3GetObject | S3PutObject | S3DeleteObject => {
            format!("arn:aws:s3:::{}/*", bucket_name(resource, account))
        }
        SecretsGetSecretValue => {
            format!("arn:aws:secretsmanager:{region}:{account}:secret:{resource}-*")
        }
        KmsDecrypt => format!("arn:aws:kms:{region}:{account}:alias/{resource}"),
        SsmGetParameter => format!(
            "arn:aws:ssm:{region}:{account}:parameter/{}",
            resource.trim_start_matches('/')
        ),
        SnsPublish => format!("arn:aws:sns:{region}:{account}:{resource}"),
        _ => "*".into(),
    }
}

/// The bucket of a short name: buckets are global, so accounts prefix them.
pub fn bucket_name(short: &str, account: &str) -> String {
    format!("acme-{short}-{account}")
}

fn statements_for(users: &[&Function], over: bool, account: &str, region: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, Vec<String>>::new();
    for f in users {
        for c in f.calls.iter().chain(&f.init_calls) {
            let (_, _, action) = c.api.names();
            let arn = resource_arn(c.api, &c.resource, account, region);
            let e = seen.entry(arn).or_default();
            if !e.iter().any(|a| a == action) {
                e.push(action.to_string());
            }
        }
    }
    if over {
        // Wildcards over the services the functions use, and grants nobody uses.
        let mut services: Vec<&str> = seen
            .values()
            .flatten()
            .filter_map(|a| a.split(':').next())
            .collect();
        services.sort_unstable();
        services.dedup();
        let actions: Vec<String> = services.iter().map(|s| format!("{s}:*")).collect();
        out.push(
            json!({"Sid": "AppAccess", "Effect": "Allow", "Action": actions, "Resource": "*"}),
        );
        out.push(json!({
            "Sid": "LegacyAdminTasks",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets",
                       "s3:ListAllMyBuckets", "s3:DeleteObject", "dynamodb:Scan",
                       "iam:PassRole", "iam:AttachRolePolicy", "iam:CreateAccessKey",
                       "iam:CreateUser", "iam:List*", "lambda:*", "ec2:Describe*",
                       "cloudtrail:*", "sts:GetCallerIdentity"],
            "Resource": "*"
        }));
    } else {
        for (i, (arn, actions)) in seen.iter().enumerate() {
            out.push(json!({"Sid": format!("Use{i}"), "Effect": "Allow", "Action": actions, "Resource": arn}));
        }
    }
    out
}

//! CloudTrail records as AWS writes them for each API the simulator uses: the common envelope,
//! the identity of the caller, and the request, response, resources and extra data of each
//! event type (shapes checked against real records in the tests).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::account::{Api, bucket_name, resource_arn};
use crate::ids;

/// Who makes a call, from where.
#[derive(Debug, Clone)]
pub struct Actor {
    pub identity: Value,
    pub ip: String,
    pub user_agent: String,
}

/// `2026-11-01T10:00:00Z` (CloudTrail's event time: whole seconds).
pub fn iso_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `2026-11-01T10:00:00.123Z`.
pub fn iso_millis(ms: i64) -> String {
    pipeline::time::rfc3339_millis(ms).unwrap_or_default()
}

/// An assumed-role session's identity (a Lambda execution role, an SSO or CI role).
#[allow(clippy::too_many_arguments)]
pub fn assumed_role(
    account: &str,
    role_arn: &str,
    role_name: &str,
    role_id: &str,
    session: &str,
    access_key: &str,
    created_ms: i64,
    web_identity: bool,
) -> Value {
    let mut context = json!({
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn,
            "accountId": account,
            "userName": role_name,
        },
        "attributes": {
            "creationDate": iso_seconds(created_ms),
            "mfaAuthenticated": "false",
        },
    });
    if web_identity {
        context["webIdFederationData"] = json!({});
    }
    json!({
        "type": "AssumedRole",
        "principalId": format!("{role_id}:{session}"),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
        "accountId": account,
        "accessKeyId": access_key,
        "sessionContext": context,
    })
}

/// What an event says about its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    AccessDenied,
}

/// One CloudTrail record of `api` on `resource`.
#[allow(clippy::too_many_arguments)]
pub fn event(
    rng: &mut ChaCha8Rng,
    api: Api,
    resource: &str,
    actor: &Actor,
    time_ms: i64,
    account: &str,
    region: &str,
    outcome: Outcome,
) -> Value {
    use Api::*;
    let (source, name, _) = api.names();
    let global = matches!(
        api,
        IamListRoles
            | IamListUsers
            | IamListAttachedRolePolicies
            | IamAttachRolePolicy
            | IamCreateAccessKey
            | IamCreateUser
            | IamAttachUserPolicy
            | IamCreateLoginProfile
            | IamUpdateAssumeRolePolicy
            | IamCreateRole
            | IamPutRolePolicy
    );
    let event_region = if global { "us-east-1" } else { region };
    let service = source.trim_end_matches(".amazonaws.com");
    let host = match api {
        _ if global => "iam.amazonaws.com".to_string(),
        S3GetObject | S3PutObject | S3DeleteObject => {
            format!(
                "{}.s3.{region}.amazonaws.com",
                bucket_name(resource, account)
            )
        }
        _ => format!("{service}.{region}.amazonaws.com"),
    };
    let arn = resource_arn(api, resource, account, region);
    let hidden = "HIDDEN_DUE_TO_SECURITY_REASONS";
    let mut resources: Option<Value> = None;
    let mut additional: Option<Value> = None;
    let mut data = false;
    let table_resource =
        |arn: &str| json!([{"accountId": account, "type": "AWS::DynamoDB::Table", "ARN": arn}]);
    let (read_only, request, response): (bool, Value, Value) = match api {
        DynamoGetItem => {
            data = true;
            resources = Some(table_resource(&arn));
            (
                true,
                json!({"tableName": resource, "key": {"pk": hidden}, "consistentRead": false}),
                Value::Null,
            )
        }
        DynamoPutItem => {
            data = true;
            resources = Some(table_resource(&arn));
            (
                false,
                json!({"tableName": resource, "key": {"pk": hidden, "sk": hidden}}),
                Value::Null,
            )
        }
        DynamoQuery => {
            data = true;
            resources = Some(table_resource(&arn));
            (
                true,
                json!({"tableName": resource, "keyConditionExpression": "#pk = :pk",
                       "expressionAttributeNames": {"#pk": "pk"}, "expressionAttributeValues": hidden}),
                Value::Null,
            )
        }
        DynamoUpdateItem => {
            data = true;
            resources = Some(table_resource(&arn));
            (
                false,
                json!({"tableName": resource, "key": {"pk": hidden},
                       "updateExpression": "SET #v = :v", "expressionAttributeNames": {"#v": "lastSeen"},
                       "expressionAttributeValues": hidden}),
                Value::Null,
            )
        }
        DynamoScan => {
            data = true;
            resources = Some(table_resource(&arn));
            (true, json!({"tableName": resource}), Value::Null)
        }
        S3GetObject | S3PutObject | S3DeleteObject => {
            data = true;
            let bucket = bucket_name(resource, account);
            let key = format!(
                "{}/{}.{}",
                &iso_seconds(time_ms)[..10],
                ids::hex(rng, 12),
                if resource.contains("report") {
                    "csv"
                } else {
                    "jpg"
                }
            );
            let size: u64 = rng.random_range(20_000..2_000_000);
            let put = api == S3PutObject;
            additional = Some(json!({
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": if put { size } else { 0 },
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": ids::alnum(rng, 76),
                "bytesTransferredOut": if api == S3GetObject { size } else { 0 },
            }));
            resources = Some(json!([
                {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")},
            ]));
            let response = if put {
                json!({"x-amz-server-side-encryption": "AES256"})
            } else {
                Value::Null
            };
            (
                api == S3GetObject,
                json!({"bucketName": bucket, "Host": host, "key": key}),
                response,
            )
        }
        S3ListBuckets => {
            additional = Some(json!({
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": ids::alnum(rng, 76),
                "bytesTransferredOut": 1_845,
            }));
            (
                true,
                json!({"Host": format!("s3.{region}.amazonaws.com")}),
                Value::Null,
            )
        }
        SecretsGetSecretValue => (
            true,
            json!({"secretId": format!("arn:aws:secretsmanager:{region}:{account}:secret:{resource}")}),
            Value::Null,
        ),
        SecretsListSecrets => (true, Value::Null, Value::Null),
        KmsDecrypt => {
            resources = Some(json!([{"accountId": account, "type": "AWS::KMS::Key",
                "ARN": format!("arn:aws:kms:{region}:{account}:key/{}", key_id(resource))}]));
            (
                true,
                json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                       "encryptionContext": {"service": resource}}),
                Value::Null,
            )
        }
        SsmGetParameter => (
            true,
            json!({"name": resource, "withDecryption": true}),
            Value::Null,
        ),
        SnsPublish => {
            data = true;
            resources =
                Some(json!([{"accountId": account, "type": "AWS::SNS::Topic", "ARN": arn}]));
            (
                false,
                json!({"topicArn": arn, "message": hidden}),
                json!({"messageId": ids::uuid(rng)}),
            )
        }
        StsGetCallerIdentity => (true, Value::Null, Value::Null),
        IamListRoles | IamListUsers => (true, Value::Null, Value::Null),
        IamListAttachedRolePolicies => (true, json!({"roleName": resource}), Value::Null),
        // `role` or `role|policy ARN` (AdministratorAccess when none is named).
        IamAttachRolePolicy => {
            let (role, policy) = resource
                .split_once('|')
                .unwrap_or((resource, "arn:aws:iam::aws:policy/AdministratorAccess"));
            (
                false,
                json!({"roleName": role, "policyArn": policy}),
                Value::Null,
            )
        }
        // `user|policy ARN`.
        IamAttachUserPolicy => {
            let (user, policy) = resource
                .split_once('|')
                .unwrap_or((resource, "arn:aws:iam::aws:policy/AdministratorAccess"));
            (
                false,
                json!({"userName": user, "policyArn": policy}),
                Value::Null,
            )
        }
        IamCreateLoginProfile => (
            false,
            json!({"userName": resource, "passwordResetRequired": false}),
            json!({"loginProfile": {"userName": resource, "createDate": aws_date(time_ms),
                   "passwordResetRequired": false}}),
        ),
        // `role|account`: the role's trust extended to another account, as a backdoor does
        // (the EC2 service trust it had is kept).
        IamUpdateAssumeRolePolicy => {
            let (role, other) = resource.split_once('|').unwrap_or((resource, account));
            let document = json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
                {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{other}:root")}, "Action": "sts:AssumeRole"},
            ]});
            (
                false,
                json!({"roleName": role, "policyDocument": serde_json::to_string_pretty(&document).unwrap_or_default()}),
                Value::Null,
            )
        }
        // A function's new role: trusted by Lambda alone.
        IamCreateRole => {
            let document = json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
            ]});
            (
                false,
                json!({"roleName": resource, "path": "/service-role/",
                       "assumeRolePolicyDocument": document.to_string()}),
                json!({"role": {"path": "/service-role/", "roleName": resource,
                       "roleId": ids::unique_id(rng, "AROA"),
                       "arn": format!("arn:aws:iam::{account}:role/service-role/{resource}"),
                       "createDate": aws_date(time_ms),
                       "assumeRolePolicyDocument": document.to_string()}}),
            )
        }
        // `role|table`: a policy scoped to one table.
        IamPutRolePolicy => {
            let (role, table) = resource.split_once('|').unwrap_or((resource, "orders"));
            let document = json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                "Resource": format!("arn:aws:dynamodb:{region}:{account}:table/{table}"),
            }]});
            (
                false,
                json!({"roleName": role, "policyName": format!("{table}-access"),
                       "policyDocument": document.to_string()}),
                Value::Null,
            )
        }
        // `snapshot|account`: an EBS snapshot shared with another account.
        Ec2ModifySnapshotAttribute => {
            let (snapshot, other) = resource.split_once('|').unwrap_or((resource, account));
            (
                false,
                json!({"snapshotId": snapshot, "attributeType": "CREATE_VOLUME_PERMISSION",
                       "createVolumePermission": {"add": {"items": [{"userId": other}]}}}),
                json!({"requestId": ids::uuid(rng), "_return": true}),
            )
        }
        // Every secret at once: a filter on a tag key that never exists matches all (the
        // catch-all filter Stratus Red Team documents).
        SecretsBatchGetSecretValue => (
            true,
            json!({"filters": [{"key": "tag-key", "values": ["!tagKeyThatWillNeverExist"]}]}),
            Value::Null,
        ),
        IamCreateAccessKey => (
            false,
            json!({"userName": resource}),
            json!({"accessKey": {"userName": resource, "accessKeyId": ids::user_key(rng),
                   "status": "Active", "createDate": aws_date(time_ms)}}),
        ),
        IamCreateUser => (
            false,
            json!({"userName": resource}),
            json!({"user": {"path": "/", "userName": resource, "userId": ids::unique_id(rng, "AIDA"),
                   "arn": format!("arn:aws:iam::{account}:user/{resource}"), "createDate": aws_date(time_ms)}}),
        ),
        LambdaListFunctions => (true, Value::Null, Value::Null),
        LambdaGetFunction => (true, json!({"functionName": resource}), Value::Null),
        LambdaCreateFunction => {
            let (function, role) = resource.split_once('|').unwrap_or((resource, ""));
            (
                false,
                json!({"functionName": function, "runtime": "python3.12", "role": role,
                       "handler": "index.handler", "code": {}, "publish": false}),
                function_config(rng, account, region, function, role, time_ms),
            )
        }
        LambdaUpdateFunctionCode => (
            false,
            json!({"functionName": resource, "publish": false, "dryRun": false}),
            function_config(rng, account, region, resource, "", time_ms),
        ),
        LambdaUpdateFunctionConfiguration => {
            let (function, layer) = resource.split_once('|').unwrap_or((resource, ""));
            let mut r = function_config(rng, account, region, function, "", time_ms);
            r["layers"] = json!([{"arn": layer, "codeSize": 4_211}]);
            (
                false,
                json!({"functionName": function, "layers": [layer]}),
                r,
            )
        }
        LambdaPublishVersion => {
            let mut r = function_config(rng, account, region, resource, "", time_ms);
            r["version"] = json!(rng.random_range(2..60).to_string());
            (false, json!({"functionName": resource}), r)
        }
        LambdaAddPermission => {
            let sid = format!("public-{}", ids::hex(rng, 8));
            let statement = json!({
                "Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
                "Resource": format!("arn:aws:lambda:{region}:{account}:function:{resource}"),
            });
            (
                false,
                json!({"functionName": resource, "statementId": sid,
                       "action": "lambda:InvokeFunction", "principal": "*"}),
                json!({"statement": statement.to_string()}),
            )
        }
        LambdaCreateFunctionUrlConfig => (
            false,
            json!({"functionName": resource, "authType": "NONE"}),
            json!({"functionUrl": format!("https://{}.lambda-url.{region}.on.aws/", ids::alnum(rng, 32).to_lowercase()),
                   "functionArn": format!("arn:aws:lambda:{region}:{account}:function:{resource}"),
                   "authType": "NONE", "creationTime": iso_millis(time_ms)}),
        ),
        Ec2DescribeInstances => (
            true,
            json!({"instancesSet": {}, "filterSet": {}}),
            Value::Null,
        ),
        CloudTrailStopLogging => (
            false,
            json!({"name": format!("arn:aws:cloudtrail:{region}:{account}:trail/{resource}")}),
            Value::Null,
        ),
        CloudTrailDeleteTrail => (false, json!({"name": resource}), Value::Null),
        CloudTrailPutEventSelectors => {
            // As Stratus Red Team's recording narrows them: read-only data events of S3 and
            // Lambda, management events off.
            let selectors = json!([{"readWriteType": "ReadOnly", "includeManagementEvents": false,
                                    "dataResources": [{"type": "AWS::S3::Object", "values": []},
                                                      {"type": "AWS::Lambda::Function", "values": []}],
                                    "excludeManagementEventSources": []}]);
            (
                false,
                json!({"trailName": resource, "eventSelectors": selectors}),
                json!({"trailARN": format!("arn:aws:cloudtrail:{region}:{account}:trail/{resource}"),
                       "eventSelectors": selectors}),
            )
        }
        CloudTrailDescribeTrails => (
            true,
            json!({"trailNameList": [], "includeShadowTrails": true}),
            Value::Null,
        ),
        LogsFilterLogEvents => (
            true,
            json!({"logGroupName": format!("/aws/lambda/{resource}"), "startTime": time_ms - 3_600_000,
                   "interleaved": true}),
            Value::Null,
        ),
        StsAssumeRoleWithWebIdentity => {
            let (role_arn, session) = resource.split_once('|').unwrap_or((resource, ""));
            resources =
                Some(json!([{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}]));
            let role_name = role_arn.rsplit('/').next().unwrap_or("");
            (
                true,
                json!({"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600}),
                json!({
                    "credentials": {"accessKeyId": ids::session_key(rng), "sessionToken": hidden,
                                    "expiration": aws_date(time_ms + 3_600_000)},
                    "subjectFromWebIdentityToken": "repo:acme/serverless-app:ref:refs/heads/main",
                    "assumedRoleUser": {"assumedRoleId": format!("AROA5EXAMPLECIROLE:{session}"),
                                        "arn": format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}")},
                    "provider": format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"),
                    "audience": "sts.amazonaws.com",
                }),
            )
        }
    };
    let request_id = if matches!(
        api,
        S3GetObject | S3PutObject | S3DeleteObject | S3ListBuckets
    ) {
        ids::s3_request_id(rng)
    } else {
        ids::uuid(rng)
    };
    let mut ev = json!({
        "eventVersion": if data { "1.09" } else { "1.08" },
        "userIdentity": actor.identity,
        "eventTime": iso_seconds(time_ms),
        "eventSource": source,
        "eventName": name,
        "awsRegion": event_region,
        "sourceIPAddress": actor.ip,
        "userAgent": actor.user_agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": request_id,
        "eventID": ids::uuid(rng),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": !data,
        "recipientAccountId": account,
        "eventCategory": if data { "Data" } else { "Management" },
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host,
        },
    });
    if let Some(r) = resources {
        ev["resources"] = r;
    }
    if let Some(a) = additional {
        ev["additionalEventData"] = a;
    }
    if outcome == Outcome::AccessDenied {
        let who = actor.identity["arn"].as_str().unwrap_or("");
        let (_, _, action) = api.names();
        ev["errorCode"] = json!("AccessDenied");
        ev["errorMessage"] = json!(format!(
            "User: {who} is not authorized to perform: {action} on resource: {arn} because no identity-based policy allows the {action} action"
        ));
        ev["responseElements"] = Value::Null;
    }
    ev
}

/// `Nov 1, 2026, 10:00:00 AM`, as IAM and STS write dates in responses.
fn aws_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%b %-d, %Y, %-I:%M:%S %p").to_string())
        .unwrap_or_default()
}

/// A stable KMS key id for an alias.
fn key_id(alias: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(alias.as_bytes());
    uuid::Builder::from_random_bytes(h.to_le_bytes())
        .into_uuid()
        .to_string()
}

fn function_config(
    rng: &mut ChaCha8Rng,
    account: &str,
    region: &str,
    function: &str,
    role: &str,
    time_ms: i64,
) -> Value {
    json!({
        "functionName": function,
        "functionArn": format!("arn:aws:lambda:{region}:{account}:function:{function}"),
        "runtime": "python3.12",
        "role": role,
        "handler": "index.handler",
        "codeSize": rng.random_range(2_000..5_000_000),
        "timeout": 30,
        "memorySize": 512,
        "lastModified": format!("{}+0000", &iso_millis(time_ms)[..23]),
        "codeSha256": ids::alnum(rng, 43) + "=",
        "version": "$LATEST",
        "state": "Active",
        "lastUpdateStatus": "InProgress",
        "packageType": "Zip",
        "architectures": ["x86_64"],
    })
}

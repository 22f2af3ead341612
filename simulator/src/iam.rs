//! The account's IAM as `aws iam get-account-authorization-details` prints it.

use serde_json::{Value, json};

use crate::account::Account;

pub fn authorization_details(a: &Account, created: &str) -> Value {
    let lambda_trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let basic = json!({"PolicyName": "AWSLambdaBasicExecutionRole",
        "PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"});
    let vpc = json!({"PolicyName": "AWSLambdaVPCAccessExecutionRole",
        "PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"});
    let mut roles: Vec<Value> = a
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let in_vpc = a.functions.iter().any(|f| f.role == i && f.vpc);
            let mut attached = vec![basic.clone()];
            if in_vpc {
                attached.push(vpc.clone());
            }
            json!({
                "Path": r.path,
                "RoleName": r.name,
                "RoleId": r.id,
                "Arn": r.arn(&a.id),
                "CreateDate": created,
                "AssumeRolePolicyDocument": lambda_trust,
                "InstanceProfileList": [],
                "RolePolicyList": [{"PolicyName": format!("{}-policy", r.name),
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": r.statements}}],
                "AttachedManagedPolicies": attached,
                "Tags": [{"Key": "app", "Value": "acme-serverless"}],
                "RoleLastUsed": {},
            })
        })
        .collect();
    roles.push(json!({
        "Path": "/",
        "RoleName": a.ci.role_name,
        "RoleId": a.ci.role_id,
        "Arn": format!("arn:aws:iam::{}:role/{}", a.id, a.ci.role_name),
        "CreateDate": created,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{}:oidc-provider/token.actions.githubusercontent.com", a.id)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/serverless-app:*"}}}]},
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": "deploy-functions", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["lambda:UpdateFunctionCode", "lambda:PublishVersion",
                "lambda:UpdateAlias", "lambda:GetFunction"],
             "Resource": format!("arn:aws:lambda:{}:{}:function:*", a.region, a.id)}]}}],
        "AttachedManagedPolicies": [],
        "Tags": [],
        "RoleLastUsed": {},
    }));
    let admin = &a.admins[0];
    roles.push(json!({
        "Path": "/aws-reserved/sso.amazonaws.com/",
        "RoleName": admin.role_name,
        "RoleId": admin.role_id,
        "Arn": format!("arn:aws:iam::{}:role/aws-reserved/sso.amazonaws.com/{}", a.id, admin.role_name),
        "CreateDate": created,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{}:saml-provider/AWSSSO_5f2a0c7d1e9b3a46_DO_NOT_DELETE", a.id)},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]},
        "InstanceProfileList": [],
        "RolePolicyList": [],
        "AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess",
            "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}],
        "Tags": [],
        "RoleLastUsed": {},
    }));
    // The AWS managed policies attached above, with their documents (as the real output
    // lists every attached policy).
    let managed = |name: &str, arn: &str, version: &str, statement: Value| {
        json!({"PolicyName": name, "Arn": arn, "Path": "/", "DefaultVersionId": version,
            "AttachmentCount": 1, "IsAttachable": true, "CreateDate": created,
            "PolicyVersionList": [{"Document": {"Version": "2012-10-17", "Statement": statement},
                "VersionId": version, "IsDefaultVersion": true, "CreateDate": created}]})
    };
    let logs = json!([
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents"
    ]);
    let mut policies = vec![
        managed(
            "AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "v1",
            json!([{"Effect": "Allow", "Action": logs, "Resource": "*"}]),
        ),
        managed(
            "AdministratorAccess",
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "v1",
            json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
        ),
    ];
    if a.functions.iter().any(|f| f.vpc) {
        policies.push(managed(
            "AWSLambdaVPCAccessExecutionRole",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
            "v3",
            json!([{"Sid": "AWSLambdaVPCAccessExecutionPermissions", "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses"],
                "Resource": "*"}]),
        ));
    }
    json!({
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": roles,
        "Policies": policies,
    })
}

"""Authorization details with N roles for bench/drift: the simulated account's roles (which
made the lake's calls) and synthetic ones up to N, with policies of every shape. Printed as
JSON on stdout. Usage: drift_roles.py SIMULATED_AUTHZ.json N"""
import json
import random
import sys

base = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
rng = random.Random(7)
account = base["RoleDetailList"][0]["Arn"].split(":")[4]
services = ["s3", "dynamodb", "sqs", "sns", "lambda", "ec2", "kms", "secretsmanager", "ssm",
            "logs", "cloudwatch", "events", "states", "kinesis", "iam", "sts", "rds", "ecr"]
verbs = ["Get*", "List*", "Describe*", "Put*", "Create*", "Delete*", "Update*", "*"]
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
policies = list(base.get("Policies", []))
logs = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
eni = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
       "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
for name, actions in [("service-role/AWSLambdaBasicExecutionRole", logs),
                      ("service-role/AWSLambdaVPCAccessExecutionRole", logs + eni),
                      ("AdministratorAccess", "*")]:
    arn = f"arn:aws:iam::aws:policy/{name}"
    if not any(p["Arn"] == arn for p in policies):
        # (Simulations made before the simulator listed its managed policies.)
        policies.append({"PolicyName": name.split("/")[-1], "Arn": arn, "DefaultVersionId": "v1",
                         "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": {
                             "Statement": [{"Effect": "Allow", "Resource": "*", "Action": actions}]}}]})
boundary = {"PolicyName": "bench-boundary", "Arn": f"arn:aws:iam::{account}:policy/bench-boundary",
            "DefaultVersionId": "v1", "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True,
            "Document": {"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]}}]}
policies.append(boundary)
roles = list(base["RoleDetailList"])
i = 0
while len(roles) < n:
    i += 1
    statements = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.random()
        if kind < 0.6:
            actions = [f"{rng.choice(services)}:{rng.choice(verbs)}" for _ in range(rng.randint(1, 5))]
            statements.append({"Effect": "Allow", "Action": actions, "Resource": "*"})
        elif kind < 0.75:
            statements.append({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                               "Resource": f"arn:aws:s3:::bucket-{i}/*"})
        elif kind < 0.85:
            statements.append({"Effect": "Deny", "Action": f"{rng.choice(services)}:Delete*", "Resource": "*"})
        elif kind < 0.95:
            statements.append({"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"})
        else:
            statements.append({"Effect": "Allow", "Action": "*", "Resource": "*"})
    role = {"RoleName": f"bench-role-{i}", "Path": "/", "Arn": f"arn:aws:iam::{account}:role/bench-role-{i}",
            "AssumeRolePolicyDocument": trust,
            "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}],
            "AttachedManagedPolicies": [{"PolicyName": "AWSLambdaBasicExecutionRole",
                "PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]}
    if i % 10 == 0:
        role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary["Arn"]}
    roles.append(role)
json.dump({"RoleDetailList": roles, "UserDetailList": [], "GroupDetailList": [], "Policies": policies}, sys.stdout)

-- A Lambda function role changing IAM or Lambda: passing a role to a new function, changing a
-- function's code or configuration, attaching or writing policies, creating users, keys and
-- login profiles, or changing who may assume a role. Function code rarely has a reason to.
SELECT
    actor_arn AS subject,
    e.*,
    CASE WHEN error_code IS NULL THEN 'function role called ' ELSE 'function role tried ' END
        || event_name AS reason
FROM lambda_sessions e
WHERE (event_source = 'iam.amazonaws.com' AND event_name IN (
        'AttachRolePolicy', 'AttachUserPolicy', 'AttachGroupPolicy',
        'PutRolePolicy', 'PutUserPolicy', 'PutGroupPolicy',
        'CreatePolicyVersion', 'SetDefaultPolicyVersion',
        'CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile',
        'CreateUser', 'AddUserToGroup', 'UpdateAssumeRolePolicy', 'CreateRole'))
   OR (event_source = 'lambda.amazonaws.com' AND (
        event_name = 'CreateFunction' OR event_name LIKE 'CreateFunction20%'
        OR event_name = 'UpdateFunctionCode' OR event_name LIKE 'UpdateFunctionCode20%'
        OR event_name = 'UpdateFunctionConfiguration' OR event_name LIKE 'UpdateFunctionConfiguration20%'))

-- A Lambda function role changing IAM or Lambda: passing a role to a new function, changing a
-- function's code or configuration, attaching or writing policies, creating users, keys and
-- login profiles, or changing who may assume a role. Function code rarely has a reason to.
SELECT
    actor_arn AS subject,
    event_time,
    actor_arn,
    function_name,
    event_id,
    source_uri,
    source_record_index,
    source_ip_address,
    user_agent,
    user_identity_access_key_id AS access_key_id,
    event_source,
    event_name,
    error_code,
    account_id,
    region,
    CASE WHEN error_code IS NULL THEN 'function role called ' ELSE 'function role tried ' END
        || event_name AS reason
FROM lambda_sessions
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

-- Permissions widened, by any principal: an administrator-grade managed policy attached to a
-- user, role or group (AdministratorAccess, IAMFullAccess, PowerUserAccess, …), an inline or
-- new policy version allowing every action or every IAM action on every resource, a policy
-- version made the default. When the caller's credentials trace back to a Lambda function
-- (`cloudtrail_lineage`: its own role, or a user, key or role it created or assumed), any
-- policy change, group membership or Lambda function change counts, and is critical.
WITH calls AS (
    SELECT
        e.*,
        coalesce(json_get_str(request_parameters, 'policyArn'), '') AS policy_arn,
        coalesce(json_get_str(request_parameters, 'policyDocument'), '') AS policy_document,
        coalesce(json_get_str(request_parameters, 'userName'),
                 json_get_str(request_parameters, 'roleName'),
                 json_get_str(request_parameters, 'groupName'),
                 json_get_str(request_parameters, 'functionName'), '') AS target
    FROM cloudtrail_lineage e
    WHERE (event_source = 'iam.amazonaws.com' AND event_name IN (
            'AttachRolePolicy', 'AttachUserPolicy', 'AttachGroupPolicy',
            'PutRolePolicy', 'PutUserPolicy', 'PutGroupPolicy',
            'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'AddUserToGroup', 'CreatePolicy'))
       OR (event_source = 'lambda.amazonaws.com' AND (
            event_name = 'CreateFunction' OR event_name LIKE 'CreateFunction20%'
            OR event_name = 'UpdateFunctionCode' OR event_name LIKE 'UpdateFunctionCode20%'
            OR event_name = 'UpdateFunctionConfiguration' OR event_name LIKE 'UpdateFunctionConfiguration20%'))
),
judged AS (
    SELECT
        c.*,
        CASE
            WHEN regexp_like(policy_arn, ':policy/(AdministratorAccess|IAMFullAccess|PowerUserAccess|AWSLambda_FullAccess|AmazonEC2FullAccess|SecretsManagerReadWrite|AWSOrganizationsFullAccess)$')
                THEN 'administrator-grade policy ' || regexp_replace(policy_arn, '^.*/', '')
                     || ' attached to ' || target
            WHEN regexp_like(policy_document, '"Action"\s*:\s*(\[[^\]]*)?"(\*|iam:\*|sts:\*)"')
                 AND regexp_like(policy_document, '"Resource"\s*:\s*(\[[^\]]*)?"\*"')
                 AND regexp_like(policy_document, '"Effect"\s*:\s*"Allow"')
                THEN 'policy allowing ' || regexp_match(policy_document, '"(\*|iam:\*|sts:\*)"')[1]
                     || ' on every resource: ' || event_name || ' ' || target
            WHEN event_name = 'SetDefaultPolicyVersion'
                THEN 'policy version ' || coalesce(json_get_str(request_parameters, 'versionId'), '?')
                     || ' made the default of ' || regexp_replace(policy_arn, '^.*/', '')
            WHEN origin_function IS NOT NULL
                THEN event_name || CASE WHEN target = '' THEN '' ELSE ' ' || target END
        END AS what
    FROM calls c
)
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CASE WHEN error_code IS NULL THEN '' ELSE 'attempted (' || error_code || '): ' END
        || what
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM judged e
WHERE what IS NOT NULL

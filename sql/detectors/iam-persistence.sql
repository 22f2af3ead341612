-- New ways into the account, by any principal: a console password given to another user
-- (CreateLoginProfile, UpdateLoginProfile), a role made assumable from another account or by
-- anyone, an IAM Roles Anywhere trust anchor (certificates from an outside CA get role
-- credentials), a new SAML or OIDC identity provider, a federation token. When the caller's
-- credentials trace back to a Lambda function (`cloudtrail_lineage`), every new user, access
-- key, login profile, role or trust change counts, and is critical.
WITH calls AS (
    SELECT
        e.*,
        json_get_str(request_parameters, 'userName') AS target_user,
        -- A trust policy's principals outside the account: another account's ARN or number,
        -- or anyone.
        regexp_replace(
            regexp_replace(coalesce(json_get_str(request_parameters, 'policyDocument'),
                                    json_get_str(request_parameters, 'assumeRolePolicyDocument'), ''),
                           'arn:aws[a-z-]*:iam::' || recipient_account_id || ':[^"]*', '', 'g'),
            '"' || recipient_account_id || '"', '', 'g') AS foreign_trust
    FROM cloudtrail_lineage e
    WHERE (event_source = 'iam.amazonaws.com' AND event_name IN (
            'CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile',
            'CreateRole', 'UpdateAssumeRolePolicy', 'UploadSSHPublicKey',
            'CreateServiceSpecificCredential', 'CreateSAMLProvider', 'UpdateSAMLProvider',
            'CreateOpenIDConnectProvider', 'AddClientIDToOpenIDConnectProvider'))
       OR (event_source = 'sts.amazonaws.com' AND event_name = 'GetFederationToken')
       OR (event_source = 'rolesanywhere.amazonaws.com' AND event_name IN (
            'CreateTrustAnchor', 'UpdateTrustAnchor', 'CreateProfile'))
),
judged AS (
    SELECT
        c.*,
        CASE
            WHEN event_name IN ('CreateLoginProfile', 'UpdateLoginProfile')
                 AND target_user IS NOT NULL
                 AND target_user IS DISTINCT FROM user_identity_user_name
                THEN 'console password set for user ' || target_user
            WHEN event_name IN ('CreateRole', 'UpdateAssumeRolePolicy')
                 AND (regexp_like(foreign_trust, 'arn:aws[a-z-]*:iam::[0-9]{12}:')
                      OR regexp_like(foreign_trust, '"[0-9]{12}"')
                      OR regexp_like(foreign_trust, '"AWS"\s*:\s*(\[\s*)?"\*"')
                      OR regexp_like(foreign_trust, '"Principal"\s*:\s*"\*"'))
                THEN 'role ' || json_get_str(request_parameters, 'roleName')
                     || ' made assumable from outside the account: '
                     || coalesce(regexp_match(foreign_trust, 'arn:aws[a-z-]*:iam::[0-9]{12}:[^"]*')[1],
                                 regexp_match(foreign_trust, '"[0-9]{12}"')[1], 'anyone (*)')
            WHEN event_source = 'rolesanywhere.amazonaws.com'
                THEN 'IAM Roles Anywhere ' || event_name || ' '
                     || coalesce(json_get_str(request_parameters, 'name'), '')
            WHEN event_name IN ('CreateSAMLProvider', 'UpdateSAMLProvider',
                                'CreateOpenIDConnectProvider', 'AddClientIDToOpenIDConnectProvider')
                THEN 'identity provider changed: ' || event_name
            WHEN event_name = 'GetFederationToken'
                THEN 'federation token for ' || coalesce(json_get_str(request_parameters, 'name'), 'a session')
            WHEN origin_function IS NOT NULL
                THEN event_name || coalesce(' ' || target_user, coalesce(' ' || json_get_str(request_parameters, 'roleName'), ''))
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

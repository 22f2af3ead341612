-- Calls that gave someone an identity or credentials, one row per what was given: an IAM user
-- (created, or given a password, an access key, a policy or a group), an access key (a user's
-- new key, or the temporary key AssumeRole, GetFederationToken and GetSessionToken return), a
-- role (created, or its trust policy changed). Beside it the caller's identities, each in the
-- form `credential_lineage` follows: `key:<access key id>`, `user:<account>:<user name>`,
-- `role:<account>:<role name>`. Successful calls only; small (IAM writes and token requests).
WITH calls AS (
    SELECT
        event_time,
        event_source,
        event_name,
        request_parameters,
        response_elements,
        recipient_account_id AS account,
        actor_arn AS grantor_arn,
        session_name AS grantor_session,
        'key:' || user_identity_access_key_id AS grantor_key,
        CASE WHEN user_identity_type = 'IAMUser'
             THEN 'user:' || coalesce(user_identity_account_id, recipient_account_id) || ':'
                  || user_identity_user_name END AS grantor_user,
        CASE WHEN user_identity_type = 'AssumedRole'
             THEN 'role:' || split_part(actor_arn, ':', 5) || ':'
                  || regexp_replace(actor_arn, '^.*/', '') END AS grantor_role
    FROM cloudtrail
    WHERE error_code IS NULL
      AND ((event_source = 'iam.amazonaws.com' AND event_name IN (
              'CreateUser', 'CreateLoginProfile', 'UpdateLoginProfile', 'CreateAccessKey',
              'AttachUserPolicy', 'PutUserPolicy', 'AddUserToGroup', 'UploadSSHPublicKey',
              'CreateServiceSpecificCredential', 'CreateRole', 'UpdateAssumeRolePolicy'))
        OR (event_source = 'sts.amazonaws.com' AND event_name IN (
              'AssumeRole', 'GetFederationToken', 'GetSessionToken')))
),
given AS (
    SELECT *, 'user:' || account || ':' || json_get_str(request_parameters, 'userName') AS grantee
    FROM calls
    WHERE event_source = 'iam.amazonaws.com'
    UNION ALL
    SELECT *, 'key:' || coalesce(json_get_str(response_elements, 'accessKey', 'accessKeyId'),
                                 json_get_str(response_elements, 'credentials', 'accessKeyId')) AS grantee
    FROM calls
    WHERE event_name IN ('CreateAccessKey', 'AssumeRole', 'GetFederationToken', 'GetSessionToken')
    UNION ALL
    SELECT *, 'role:' || account || ':' || json_get_str(request_parameters, 'roleName') AS grantee
    FROM calls
    WHERE event_name IN ('CreateRole', 'UpdateAssumeRolePolicy')
)
SELECT
    event_time,
    event_name,
    grantee,
    grantor_arn,
    grantor_session,
    grantor_key,
    grantor_user,
    grantor_role
FROM given
WHERE grantee IS NOT NULL

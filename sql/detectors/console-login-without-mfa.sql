-- Successful console logins without MFA by the root user or an IAM user. (Federated logins
-- through an identity provider are left out: their MFA happens at the provider.)
SELECT
    coalesce(user_identity_arn, actor_arn, 'unknown principal') AS subject,
    e.* EXCLUDE (function_name, access_key_id) REPLACE (coalesce(actor_arn, user_identity_arn) AS actor_arn),
    CASE WHEN user_identity_type = 'Root' THEN 'root' ELSE 'IAM user ' || coalesce(user_identity_user_name, '') END
        || ' signed in to the console without MFA from ' || coalesce(source_ip_address, 'an unknown address') AS reason
FROM cloudtrail_evidence e
WHERE event_name = 'ConsoleLogin'
  AND user_identity_type IN ('Root', 'IAMUser')
  AND json_get_str(additional_event_data, 'MFAUsed') = 'No'
  AND coalesce(json_get_str(response_elements, 'ConsoleLogin'), 'Success') = 'Success'
  AND error_code IS NULL

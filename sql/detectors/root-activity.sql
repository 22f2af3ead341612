-- The root user at work: any call made with root credentials (sign-ins included), other than
-- calls AWS services make on the account's behalf.
SELECT
    coalesce(user_identity_arn, 'arn:aws:iam::' || coalesce(user_identity_account_id, recipient_account_id) || ':root') AS subject,
    e.* EXCLUDE (function_name) REPLACE (coalesce(actor_arn, user_identity_arn) AS actor_arn),
    'root called ' || event_source || ' ' || event_name AS reason
FROM cloudtrail_evidence e
WHERE user_identity_type = 'Root'
  AND user_identity_invoked_by IS NULL
  AND coalesce(event_type, '') <> 'AwsServiceEvent'

-- The root user at work: any call made with root credentials (sign-ins included), other than
-- calls AWS services make on the account's behalf.
SELECT
    coalesce(user_identity_arn, 'arn:aws:iam::' || coalesce(user_identity_account_id, recipient_account_id) || ':root') AS subject,
    event_time,
    coalesce(actor_arn, user_identity_arn) AS actor_arn,
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
    'root called ' || event_source || ' ' || event_name AS reason
FROM cloudtrail
WHERE user_identity_type = 'Root'
  AND user_identity_invoked_by IS NULL
  AND coalesce(event_type, '') <> 'AwsServiceEvent'

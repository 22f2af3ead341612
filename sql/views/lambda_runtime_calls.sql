-- Calls made from inside Lambda functions, per role, function (the session name) and source
-- address: sessions of a role whose user agent carries the Lambda runtime's marker.
SELECT
    actor_arn,
    session_name AS function_name,
    source_ip_address,
    count(*) AS calls,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM cloudtrail
WHERE user_identity_type = 'AssumedRole'
  AND session_issuer_type = 'Role'
  AND session_name IS NOT NULL
  AND contains(user_agent, 'exec-env/AWS_Lambda_')
GROUP BY actor_arn, session_name, source_ip_address

-- A Lambda function role's credentials used outside the function: a call without the Lambda
-- runtime's marker in the user agent, from an address none of the role's calls from the
-- runtime ever came from. Stolen credentials (SSRF, a leaked environment) show this way.
WITH addresses AS (
    SELECT
        actor_arn,
        source_ip_address,
        max(CASE WHEN from_lambda_runtime THEN 1 ELSE 0 END) AS from_runtime
    FROM lambda_sessions
    WHERE source_ip_address IS NOT NULL
    GROUP BY actor_arn, source_ip_address
),
foreign_addresses AS (
    SELECT actor_arn, source_ip_address FROM addresses WHERE from_runtime = 0
)
SELECT
    s.actor_arn AS subject,
    s.event_time,
    s.actor_arn,
    s.function_name,
    s.event_id,
    s.source_uri,
    s.source_record_index,
    s.source_ip_address,
    s.user_agent,
    s.user_identity_access_key_id AS access_key_id,
    s.event_source,
    s.event_name,
    s.error_code,
    s.account_id,
    s.region,
    'the role of ' || s.function_name || ' called ' || s.event_name || ' from ' || s.source_ip_address
        || ' without the Lambda runtime, an address its function never uses' AS reason
FROM foreign_addresses f
JOIN lambda_sessions s
  ON s.actor_arn = f.actor_arn AND s.source_ip_address = f.source_ip_address
WHERE NOT s.from_lambda_runtime
  AND s.user_identity_invoked_by IS NULL
  AND s.source_ip_address NOT LIKE '%.amazonaws.com'
  AND s.source_ip_address <> 'AWS Internal'

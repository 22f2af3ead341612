-- A Lambda function role's credentials used outside the function: a call without the Lambda
-- runtime's marker in the user agent, from an address none of the role's calls from the
-- runtime ever came from. Stolen credentials (SSRF, a leaked environment) show this way.
WITH runtime_addresses AS (
    SELECT DISTINCT actor_arn, source_ip_address
    FROM lambda_runtime_calls
    WHERE source_ip_address IS NOT NULL
),
other_calls AS (
    -- Calls of function roles from addresses none of the role's runtime calls came from.
    SELECT s.*
    FROM lambda_sessions s
    WHERE s.source_ip_address IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM runtime_addresses r
          WHERE r.actor_arn = s.actor_arn AND r.source_ip_address = s.source_ip_address
      )
)
SELECT
    s.actor_arn AS subject,
    s.*,
    'the role of ' || s.function_name || ' called ' || s.event_name || ' from ' || s.source_ip_address
        || ' without the Lambda runtime, an address its function never uses' AS reason
FROM other_calls s
WHERE NOT s.from_lambda_runtime
  AND s.user_identity_invoked_by IS NULL
  AND NOT ends_with(s.source_ip_address, '.amazonaws.com')
  AND s.source_ip_address <> 'AWS Internal'

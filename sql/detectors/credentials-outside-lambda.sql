-- A Lambda function role's credentials used outside the function: a call without the Lambda
-- runtime's marker in the user agent, from an address none of the role's calls from the
-- runtime ever came from. Stolen credentials (SSRF, a leaked environment) show this way.
WITH runtime_addresses AS (
    SELECT DISTINCT actor_arn, source_ip_address
    FROM lambda_runtime_calls
    WHERE source_ip_address IS NOT NULL
),
other_hours AS (
    -- The hours in which a function role's session made calls itself, without the runtime,
    -- from an address none of the role's runtime calls came from: found among
    -- lambda_session_hours' rows (not each call), then the calls of those hours are fetched,
    -- from those days' files only (`dt`, the event time's UTC day, computed from the hour).
    SELECT h.actor_arn, h.session_name, h.source_ip_address, h.hour,
           CAST(CAST(to_timestamp(h.hour * 3600) AS DATE) AS VARCHAR) AS dt
    FROM lambda_session_hours h
    JOIN lambda_roles l ON l.actor_arn = h.actor_arn
    WHERE NOT coalesce(h.from_runtime, false)
      AND h.direct
      AND h.source_ip_address IS NOT NULL
      AND NOT ends_with(h.source_ip_address, '.amazonaws.com')
      AND h.source_ip_address <> 'AWS Internal'
      AND NOT EXISTS (
          SELECT 1 FROM runtime_addresses r
          WHERE r.actor_arn = h.actor_arn AND r.source_ip_address = h.source_ip_address
      )
)
SELECT
    s.actor_arn AS subject,
    s.*,
    'the role of ' || s.function_name || ' called ' || s.event_name || ' from ' || s.source_ip_address
        || ' without the Lambda runtime, an address its function never uses' AS reason
FROM other_hours o
JOIN lambda_sessions s
  ON s.actor_arn = o.actor_arn AND s.function_name = o.session_name
 AND s.source_ip_address = o.source_ip_address AND s.dt = o.dt
 AND epoch_us(s.event_time) / 3600000000 = o.hour
WHERE NOT s.from_lambda_runtime
  AND s.user_identity_invoked_by IS NULL

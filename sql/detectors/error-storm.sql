-- An hour in which most invocations of a function failed (errors, timeouts, crashes): at
-- least 20 invocations, half or more failed, for a function that fails less than one time in
-- ten over its history.
WITH hourly AS (
    SELECT function_name, hour, sum(invocations) AS invocations, sum(failures) AS failures
    FROM lambda_hourly
    GROUP BY function_name, hour
),
usual AS (
    SELECT
        *,
        sum(failures) OVER (PARTITION BY function_name) AS all_failures,
        sum(invocations) OVER (PARTITION BY function_name) AS all_invocations
    FROM hourly
),
storms AS (
    SELECT function_name, hour, invocations, failures
    FROM usual
    WHERE invocations >= 20
      AND failures * 2 >= invocations
      AND (all_failures - failures) * 10 < (all_invocations - invocations)
),
roles AS (
    SELECT function_name, max(actor_arn) AS actor_arn FROM lambda_functions GROUP BY function_name
)
SELECT
    i.function_name AS subject,
    i.start_time AS event_time,
    r.actor_arn,
    i.function_name,
    i.request_id,
    i.source_uri,
    i.account_id,
    i.region,
    CAST(s.failures AS VARCHAR) || ' of ' || CAST(s.invocations AS VARCHAR)
        || ' invocations failed in the hour (' || i.status || coalesce(': ' || i.error_type, '') || ')' AS reason
FROM storms s
LEFT JOIN roles r ON r.function_name = s.function_name
JOIN lambda_invocations i
  ON i.function_name = s.function_name AND date_trunc('hour', i.start_time) = s.hour
WHERE i.status <> 'success'

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
)
SELECT
    e.*,
    CAST(s.failures AS VARCHAR) || ' of ' || CAST(s.invocations AS VARCHAR)
        || ' invocations failed in the hour (' || e.status || coalesce(': ' || e.error_type, '') || ')' AS reason
FROM storms s
JOIN invocation_evidence e
  ON e.function_name = s.function_name AND date_trunc('hour', e.start_time) = s.hour
WHERE e.status <> 'success'

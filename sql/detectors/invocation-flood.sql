-- An hour with far more invocations of a function than it usually has: at least 100, and ten
-- times its median hour, for a function with at least three days of invocations.
WITH hourly AS (
    SELECT function_name, hour, sum(invocations) AS invocations
    FROM lambda_hourly
    GROUP BY function_name, hour
),
usual AS (
    SELECT
        *,
        median(invocations) OVER (PARTITION BY function_name) AS median_hour,
        min(hour) OVER (PARTITION BY function_name) AS first_hour,
        max(hour) OVER (PARTITION BY function_name) AS last_hour
    FROM hourly
),
floods AS (
    SELECT function_name, hour, invocations, median_hour
    FROM usual
    WHERE last_hour >= first_hour + INTERVAL '3 days'
      AND invocations >= 100
      AND invocations >= 10 * median_hour
)
SELECT
    e.*,
    CAST(f.invocations AS VARCHAR) || ' invocations in the hour, ' || CAST(f.median_hour AS VARCHAR)
        || ' in its median hour' AS reason
FROM floods f
JOIN invocation_evidence e
  ON e.function_name = f.function_name AND date_trunc('hour', e.start_time) = f.hour

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
    CAST(f.invocations AS VARCHAR) || ' invocations in the hour, ' || CAST(f.median_hour AS VARCHAR)
        || ' in its median hour' AS reason
FROM floods f
LEFT JOIN roles r ON r.function_name = f.function_name
JOIN lambda_invocations i
  ON i.function_name = f.function_name AND date_trunc('hour', i.start_time) = f.hour

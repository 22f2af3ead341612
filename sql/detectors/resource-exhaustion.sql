-- Invocations that run near the memory limit for four times the function's median duration:
-- the shape of cryptomining or other code that was not the function's. Needs 50 invocations
-- of history. The median is read from the lambda_durations histogram (within 4.5%).
WITH durations AS (
    SELECT function_name, bucket, sum(invocations) AS invocations
    FROM lambda_durations
    GROUP BY function_name, bucket
),
ranked AS (
    SELECT
        function_name,
        bucket,
        sum(invocations) OVER (PARTITION BY function_name ORDER BY bucket
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS up_to,
        sum(invocations) OVER (PARTITION BY function_name) AS total
    FROM durations
),
usual AS (
    -- The median's bucket: the first whose cumulative count reaches half; its middle.
    SELECT function_name, power(2.0, (min(bucket) + 0.5) / 8.0) AS median_ms, max(total) AS invocations
    FROM ranked
    WHERE up_to * 2 >= total
    GROUP BY function_name
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
    'ran ' || CAST(CAST(i.duration_ms AS BIGINT) AS VARCHAR) || ' ms (median '
        || CAST(CAST(u.median_ms AS BIGINT) AS VARCHAR) || ' ms) using '
        || CAST(i.max_memory_used_mb AS VARCHAR) || ' of ' || CAST(i.memory_size_mb AS VARCHAR) || ' MB' AS reason
FROM usual u
LEFT JOIN roles r ON r.function_name = u.function_name
JOIN lambda_invocations i ON i.function_name = u.function_name
WHERE u.invocations >= 50
  AND i.max_memory_used_mb >= 0.9 * i.memory_size_mb
  AND i.duration_ms >= 4 * u.median_ms

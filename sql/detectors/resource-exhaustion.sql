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
)
SELECT
    e.*,
    'ran ' || CAST(CAST(e.duration_ms AS BIGINT) AS VARCHAR) || ' ms (median '
        || CAST(CAST(u.median_ms AS BIGINT) AS VARCHAR) || ' ms) using '
        || CAST(e.max_memory_used_mb AS VARCHAR) || ' of ' || CAST(e.memory_size_mb AS VARCHAR) || ' MB' AS reason
FROM usual u
JOIN invocation_evidence e ON e.function_name = u.function_name
WHERE u.invocations >= 50
  AND e.max_memory_used_mb >= 0.9 * e.memory_size_mb
  AND e.duration_ms >= 4 * u.median_ms

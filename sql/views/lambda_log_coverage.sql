-- The time each function's invocation logs cover (µs since the epoch): from its first
-- invocation's start, less its init phase, to its last one's end, two seconds wider either
-- side (CloudTrail times are whole seconds). Calls outside it cannot be compared with the
-- function's runs. Minima and maxima, so the streaming watch keeps it up to date.
SELECT
    function_name,
    min(CAST(start_time AS BIGINT) - CAST((coalesce(init_duration_ms, 0) + 2000) * 1000 AS BIGINT)) AS logs_from,
    max(coalesce(CAST(end_time AS BIGINT),
                 CAST(start_time AS BIGINT) + CAST(coalesce(duration_ms, 900000) * 1000 AS BIGINT))
        + 2000000) AS logs_to
FROM lambda_invocations
WHERE start_time IS NOT NULL
GROUP BY function_name

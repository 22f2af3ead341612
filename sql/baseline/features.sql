-- Behaviour features of each Lambda function per time bucket: how often it ran, how it ended,
-- how long and how much memory it took, and what its execution role's sessions (named after the
-- function, as Lambda names them) did in CloudTrail. The baseline model learns these.
--
-- Placeholders are filled in before it runs: ${bucket} (an interval: '5 minutes' or '1 hour'),
-- ${since} and ${until} (µs since the epoch; the window is [since, until)), ${first_day} and
-- ${last_day} (the days of its first and last microsecond: the `dt` partitions that hold it).
-- One row per function and bucket with any activity; quiet buckets are absent (all zero).
WITH inv AS (
    SELECT
        function_name AS function,
        date_bin(INTERVAL '${bucket}', start_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket,
        count(*) AS invocations,
        sum(CASE WHEN status IN ('error', 'crash') THEN 1 ELSE 0 END) AS errors,
        sum(CASE WHEN status = 'timeout' THEN 1 ELSE 0 END) AS timeouts,
        sum(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts,
        -- Durations of the invocations that ran to their end: a timed-out one lasts exactly its
        -- timeout, which the timeout rate already tells.
        percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN status <> 'timeout' THEN duration_ms END) AS duration_p50_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY CASE WHEN status <> 'timeout' THEN duration_ms END) AS duration_p95_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY max_memory_used_mb) AS memory_p95_mb,
        max(memory_size_mb) AS memory_size_mb
    FROM lambda_invocations
    WHERE start_time >= to_timestamp_micros(${since}) AND start_time < to_timestamp_micros(${until})
      AND dt BETWEEN '${first_day}' AND '${last_day}'
    GROUP BY 1, 2
),
-- The role's calls, one row per distinct (API, address, agent) in a bucket.
calls AS (
    SELECT
        session_name AS function,
        date_bin(INTERVAL '${bucket}', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket,
        actor_arn,
        event_source,
        event_name,
        source_ip_address,
        user_agent,
        count(*) AS n,
        sum(CASE WHEN error_code IN (
                'AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation',
                'Client.UnauthorizedOperation', 'UnauthorizedAccess', 'AuthorizationError',
                'AuthorizationErrorException', 'Forbidden', 'UnauthorizedException')
            THEN 1 ELSE 0 END) AS denied
    FROM cloudtrail
    WHERE event_time >= to_timestamp_micros(${since}) AND event_time < to_timestamp_micros(${until})
      AND dt BETWEEN '${first_day}' AND '${last_day}'
      AND user_identity_type = 'AssumedRole'
      AND session_name IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6, 7
),
-- Distinct APIs, addresses and agents per bucket as the row counts of three grouping sets:
-- count(DISTINCT …) keeps a hash set per group, gigabytes over a million buckets.
sets AS (
    SELECT
        function,
        bucket,
        grouping(event_name) AS g_api,
        grouping(source_ip_address) AS g_ip,
        grouping(user_agent) AS g_ua,
        source_ip_address,
        user_agent,
        sum(n) AS n,
        sum(denied) AS denied,
        max(actor_arn) AS actor_arn
    FROM calls
    GROUP BY GROUPING SETS (
        (function, bucket, event_source, event_name),
        (function, bucket, source_ip_address),
        (function, bucket, user_agent))
),
api AS (
    SELECT
        function,
        bucket,
        max(actor_arn) AS actor_arn,
        sum(CASE WHEN g_api = 0 THEN n ELSE 0 END) AS api_calls,
        sum(CASE WHEN g_api = 0 THEN 1 ELSE 0 END) AS distinct_apis,
        sum(CASE WHEN g_ip = 0 AND source_ip_address IS NOT NULL THEN 1 ELSE 0 END) AS distinct_source_ips,
        sum(CASE WHEN g_ua = 0 AND user_agent IS NOT NULL THEN 1 ELSE 0 END) AS distinct_user_agents,
        sum(CASE WHEN g_api = 0 THEN denied ELSE 0 END) AS access_denied
    FROM sets
    GROUP BY 1, 2
)
SELECT
    coalesce(i.function, a.function) AS function,
    CAST(to_unixtime(coalesce(i.bucket, a.bucket)) AS BIGINT) * 1000000 AS bucket_micros,
    a.actor_arn,
    CAST(coalesce(i.invocations, 0) AS DOUBLE) AS invocations,
    CAST(coalesce(i.errors, 0) AS DOUBLE) AS errors,
    CAST(coalesce(i.timeouts, 0) AS DOUBLE) AS timeouts,
    CAST(coalesce(i.cold_starts, 0) AS DOUBLE) AS cold_starts,
    CAST(i.duration_p50_ms AS DOUBLE) AS duration_p50_ms,
    CAST(i.duration_p95_ms AS DOUBLE) AS duration_p95_ms,
    CAST(i.memory_p95_mb AS DOUBLE) AS memory_p95_mb,
    CAST(i.memory_size_mb AS DOUBLE) AS memory_size_mb,
    CAST(coalesce(a.api_calls, 0) AS DOUBLE) AS api_calls,
    CAST(coalesce(a.distinct_apis, 0) AS DOUBLE) AS distinct_apis,
    CAST(coalesce(a.distinct_source_ips, 0) AS DOUBLE) AS distinct_source_ips,
    CAST(coalesce(a.distinct_user_agents, 0) AS DOUBLE) AS distinct_user_agents,
    CAST(coalesce(a.access_denied, 0) AS DOUBLE) AS access_denied
FROM inv i
FULL JOIN api a ON a.function = i.function AND a.bucket = i.bucket
ORDER BY 1, 2

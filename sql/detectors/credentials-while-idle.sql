-- Calls with a function's credentials while the function was not running. Lambda freezes an
-- execution environment between invocations, so its code cannot call AWS then; a call at
-- such a time comes from somewhere else. Only for functions whose invocation logs cover the
-- time (without the logs there is nothing to compare with, and nothing fires).
WITH runs AS (
    -- Each invocation in microseconds since the epoch, widened by its init phase and two
    -- seconds either side (CloudTrail times are whole seconds).
    SELECT
        function_name,
        CAST(start_time AS BIGINT) - CAST((coalesce(init_duration_ms, 0) + 2000) * 1000 AS BIGINT) AS run_from,
        coalesce(CAST(end_time AS BIGINT),
                 CAST(start_time AS BIGINT) + CAST(coalesce(duration_ms, 900000) * 1000 AS BIGINT))
            + 2000000 AS run_to
    FROM lambda_invocations
    WHERE start_time IS NOT NULL
),
run_minutes AS (
    SELECT function_name, run_from, run_to,
           unnest(range(run_from / 60000000, run_to / 60000000 + 1)) AS minute
    FROM runs
),
coverage AS (
    SELECT function_name, min(run_from) AS logs_from, max(run_to) AS logs_to
    FROM runs
    GROUP BY function_name
),
calls AS (
    SELECT s.*, CAST(s.event_time AS BIGINT) AS t, CAST(s.event_time AS BIGINT) / 60000000 AS minute
    FROM lambda_sessions s
    JOIN coverage c
      ON c.function_name = s.function_name
     AND CAST(s.event_time AS BIGINT) BETWEEN c.logs_from AND c.logs_to
    WHERE s.user_identity_invoked_by IS NULL
)
SELECT
    actor_arn AS subject,
    event_time,
    actor_arn,
    function_name,
    event_id,
    source_uri,
    source_record_index,
    source_ip_address,
    user_agent,
    user_identity_access_key_id AS access_key_id,
    event_source,
    event_name,
    error_code,
    account_id,
    region,
    'the role of ' || function_name || ' called ' || event_name || ' while no invocation of '
        || function_name || ' was running' AS reason
FROM calls k
WHERE NOT EXISTS (
    SELECT 1 FROM run_minutes m
    WHERE m.function_name = k.function_name
      AND m.minute = k.minute
      AND k.t BETWEEN m.run_from AND m.run_to
)

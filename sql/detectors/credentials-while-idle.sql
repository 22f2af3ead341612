-- Calls with a function's credentials while the function was not running. Lambda freezes an
-- execution environment between invocations, so its code cannot call AWS then; a call at
-- such a time comes from somewhere else. Time is counted in whole minutes: a call in a minute
-- in which any invocation ran (with its init phase) counts as made while running. Only for functions whose invocation logs cover the
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
    SELECT function_name, unnest(range(run_from / 60000000, run_to / 60000000 + 1)) AS minute
    FROM runs
),
coverage AS (
    SELECT function_name, logs_from, logs_to FROM lambda_log_coverage
),
call_minutes AS (
    -- The minutes in which the function's role made calls, within its logs' time.
    SELECT s.function_name, CAST(s.event_time AS BIGINT) / 60000000 AS minute
    FROM coverage c
    JOIN lambda_sessions s
      ON s.function_name = c.function_name
     AND CAST(s.event_time AS BIGINT) BETWEEN c.logs_from AND c.logs_to
    WHERE s.user_identity_invoked_by IS NULL
    GROUP BY s.function_name, CAST(s.event_time AS BIGINT) / 60000000
),
idle_minutes AS (
    -- Minutes with calls and no invocation running at any moment of them.
    SELECT k.function_name, k.minute
    FROM call_minutes k
    WHERE NOT EXISTS (
        SELECT 1 FROM run_minutes m
        WHERE m.function_name = k.function_name AND m.minute = k.minute
    )
)
SELECT
    s.actor_arn AS subject,
    s.*,
    'the role of ' || s.function_name || ' called ' || s.event_name || ' while no invocation of '
        || s.function_name || ' was running' AS reason
FROM idle_minutes i
JOIN lambda_sessions s
  ON s.function_name = i.function_name AND CAST(s.event_time AS BIGINT) / 60000000 = i.minute
WHERE s.user_identity_invoked_by IS NULL

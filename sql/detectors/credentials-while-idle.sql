-- Calls with a function's credentials while the function was not running. Lambda freezes an
-- execution environment between invocations, so its code cannot call AWS then; a call at
-- such a time comes from somewhere else. Time is counted in whole minutes: a call in a minute
-- in which any invocation ran (with its init phase) counts as made while running. Only for
-- functions whose invocation logs cover the time (without the logs there is nothing to
-- compare with, and nothing fires).
--
-- The minutes of an hour are the bits of a BIGINT (bit m: minute m of the hour): per function
-- and hour, the minutes with a running invocation and the minutes with calls are each one
-- bitwise OR over a few tens of thousands of groups, and an idle minute is a call bit with no
-- run bit. (A row per function and minute instead, two million of them joined against seven
-- million, took a quarter more time and half again the memory on bench/detect's lake.)
WITH runs AS (
    -- Each invocation's first and last minute since the epoch, widened by its init phase and
    -- two seconds either side (CloudTrail times are whole seconds).
    SELECT
        function_name,
        (CAST(start_time AS BIGINT) - CAST((coalesce(init_duration_ms, 0) + 2000) * 1000 AS BIGINT))
            / 60000000 AS first_minute,
        (coalesce(CAST(end_time AS BIGINT),
                  CAST(start_time AS BIGINT) + CAST(coalesce(duration_ms, 900000) * 1000 AS BIGINT))
            + 2000000) / 60000000 AS last_minute
    FROM lambda_invocations
    WHERE start_time IS NOT NULL
),
run_hours AS (
    -- Per function and hour, the minutes in which an invocation ran: each run sets the bits
    -- from its first to its last minute within each hour it touches.
    SELECT function_name, hour, bit_or(
        ((CAST(1 AS BIGINT) << (least(last_minute - hour * 60, 59) - greatest(first_minute - hour * 60, 0) + 1)) - 1)
            << greatest(first_minute - hour * 60, 0)) AS running
    FROM (
        SELECT function_name, first_minute, last_minute,
               unnest(range(first_minute / 60, last_minute / 60 + 1)) AS hour
        FROM runs
        WHERE last_minute >= first_minute
    ) r
    GROUP BY function_name, hour
),
call_hours AS (
    -- Per role, session and hour, the minutes in which the session made calls. Grouped
    -- first: the roles and the logs' time are then looked up per hour, not per call (ten
    -- million calls on bench/detect's lake: a sixth of the detector's time went to those
    -- lookups). The logs' time is checked on the calls joined back below.
    SELECT
        actor_arn,
        session_name AS function_name,
        CAST(event_time AS BIGINT) / 3600000000 AS hour,
        bit_or(CAST(1 AS BIGINT) << (CAST(event_time AS BIGINT) / 60000000 % 60)) AS called
    FROM cloudtrail
    WHERE user_identity_type = 'AssumedRole'
      AND session_issuer_type = 'Role'
      AND session_name IS NOT NULL
      AND user_identity_invoked_by IS NULL
    GROUP BY 1, 2, 3
),
idle_hours AS (
    -- Hours with a minute of calls and no invocation running at any moment of it: `idle`
    -- holds those minutes' bits. Only for Lambda roles' sessions named after a function with
    -- logs. With the hour's day partition (`dt`, the event time's UTC day): joining the calls
    -- back by it lets the engine open only the files of the days with an idle hour.
    SELECT k.actor_arn, k.function_name, k.hour,
           to_char(to_timestamp_seconds(k.hour * 3600), '%Y-%m-%d') AS dt,
           k.called - (k.called & coalesce(r.running, 0)) AS idle
    FROM call_hours k
    JOIN lambda_roles l ON l.actor_arn = k.actor_arn
    JOIN lambda_log_coverage c ON c.function_name = k.function_name
    LEFT JOIN run_hours r ON r.function_name = k.function_name AND r.hour = k.hour
    WHERE k.called & coalesce(r.running, 0) <> k.called
)
SELECT
    s.actor_arn AS subject,
    s.*,
    'the role of ' || s.function_name || ' called ' || s.event_name || ' while no invocation of '
        || s.function_name || ' was running' AS reason
FROM idle_hours i
JOIN lambda_sessions s
  ON s.actor_arn = i.actor_arn AND s.function_name = i.function_name AND s.dt = i.dt
 AND CAST(s.event_time AS BIGINT) / 3600000000 = i.hour
JOIN lambda_log_coverage c ON c.function_name = s.function_name
WHERE s.user_identity_invoked_by IS NULL
  AND CAST(s.event_time AS BIGINT) BETWEEN c.logs_from AND c.logs_to
  AND (i.idle >> (CAST(s.event_time AS BIGINT) / 60000000 % 60)) & 1 = 1

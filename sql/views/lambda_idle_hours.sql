-- Per Lambda role, function and hour with calls, the minutes (bits of `idle`, bit m: minute m
-- of the hour) in which the function's credentials made calls while no invocation of it was
-- running, with the time the function's logs cover; what credentials-while-idle joins the
-- calls back to. Computed once per run and kept as a table (views::MATERIALIZED): the join
-- back then has a build side of known size, which a cluster broadcasts to the scans of the
-- calls instead of shuffling every call to meet it.
--
-- The minutes of an hour are the bits of a BIGINT: per function and hour, the minutes with a
-- running invocation and the minutes with calls are each one bitwise OR over a few tens of
-- thousands of groups, and an idle minute is a call bit with no run bit. (A row per function
-- and minute instead, two million of them joined against seven million, took a quarter more
-- time and half again the memory on bench/detect's lake.)
WITH run_hours AS (
    -- Per function and hour, the minutes in which an invocation ran, from lambda_hourly: the
    -- minutes of the invocations that started in the hour, with those of runs that spill into
    -- it from the hours either side (an init phase begun in the hour before, a run that goes
    -- on past the hour's end: every minute from `runs_from` up to the start of the invocations'
    -- hour, and from the end of that hour to `runs_to`).
    SELECT function_name, hour, bit_or(bits) AS running
    FROM (
        SELECT function_name, epoch_us(hour) / 3600000000 AS hour, running AS bits
        FROM lambda_hourly
        UNION ALL
        SELECT function_name, h AS hour,
               ((CAST(1 AS BIGINT) << (least(last_minute - h * 60, 59) - greatest(first_minute - h * 60, 0) + 1)) - 1)
                   << greatest(first_minute - h * 60, 0) AS bits
        FROM (
            SELECT function_name, first_minute, last_minute,
                   unnest(range(first_minute / 60, last_minute / 60 + 1)) AS h
            FROM (
                SELECT function_name, runs_from / 60000000 AS first_minute,
                       epoch_us(hour) / 60000000 - 1 AS last_minute
                FROM lambda_hourly
                WHERE runs_from < epoch_us(hour)
                UNION ALL
                SELECT function_name, epoch_us(hour) / 60000000 + 60 AS first_minute,
                       runs_to / 60000000 AS last_minute
                FROM lambda_hourly
                WHERE runs_to / 60000000 >= epoch_us(hour) / 60000000 + 60
            ) s
            WHERE last_minute >= first_minute
        ) r
    ) b
    GROUP BY function_name, hour
),
call_hours AS (
    -- Per role, session and hour, the minutes in which the session made calls itself (not
    -- an AWS service on its behalf), from lambda_session_hours: the roles and the logs' time
    -- are then looked up per hour, not per call (ten million calls on bench/detect's lake). The
    -- logs' time is checked on the calls credentials-while-idle joins back.
    SELECT actor_arn, session_name AS function_name, hour, bit_or(minutes) AS called
    FROM lambda_session_hours
    WHERE direct
    GROUP BY actor_arn, session_name, hour
)
-- Hours with a minute of calls and no invocation running at any moment of it: `idle`
-- holds those minutes' bits. Only for Lambda roles' sessions named after a function with
-- logs, with the time the logs cover. With the hour's day partition (`dt`, the event
-- time's UTC day): joining the calls back by it lets the engine open only the files of the
-- days with an idle hour.
SELECT k.actor_arn, k.function_name, k.hour,
       CAST(CAST(to_timestamp(k.hour * 3600) AS DATE) AS VARCHAR) AS dt,
       c.logs_from, c.logs_to,
       k.called - (k.called & coalesce(r.running, 0)) AS idle
FROM call_hours k
JOIN lambda_roles l ON l.actor_arn = k.actor_arn
JOIN lambda_log_coverage c ON c.function_name = k.function_name
LEFT JOIN run_hours r ON r.function_name = k.function_name AND r.hour = k.hour
WHERE k.called & coalesce(r.running, 0) <> k.called

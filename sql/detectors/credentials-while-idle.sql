-- Calls with a function's credentials while the function was not running. Lambda freezes an
-- execution environment between invocations, so its code cannot call AWS then; a call at
-- such a time comes from somewhere else. Time is counted in whole minutes: a call in a minute
-- in which any invocation ran (with its init phase) counts as made while running. Only for
-- functions whose invocation logs cover the time (without the logs there is nothing to
-- compare with, and nothing fires).
--
-- The hours and minutes in question come from lambda_idle_hours; the calls made in them are
-- joined back here, by role, function, day and hour.
SELECT
    s.actor_arn AS subject,
    s.*,
    'the role of ' || s.function_name || ' called ' || s.event_name || ' while no invocation of '
        || s.function_name || ' was running' AS reason
FROM lambda_idle_hours i
JOIN lambda_sessions s
  ON s.actor_arn = i.actor_arn AND s.function_name = i.function_name AND s.dt = i.dt
 AND CAST(s.event_time AS BIGINT) / 3600000000 = i.hour
WHERE s.user_identity_invoked_by IS NULL
  AND CAST(s.event_time AS BIGINT) BETWEEN i.logs_from AND i.logs_to
  AND (i.idle >> (CAST(s.event_time AS BIGINT) / 60000000 % 60)) & 1 = 1

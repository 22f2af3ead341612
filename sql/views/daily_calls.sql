-- Calls per principal and UTC day: how active a role was before something new (the
-- dormant-permission detector), from api_daily. Sums, so the streaming watch keeps it up to
-- date from each poll's new rows instead of reading the whole history again. The day is named
-- as text once per principal and day, not per event.
SELECT actor_arn, CAST(CAST(day AS DATE) AS VARCHAR) AS day, sum(calls) AS calls
FROM api_daily
GROUP BY actor_arn, day

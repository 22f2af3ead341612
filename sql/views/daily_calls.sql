-- Calls per principal and UTC day: how active a role was before something new (the
-- dormant-permission detector). Sums, so the streaming watch keeps it up to date from each
-- poll's new rows instead of reading the whole history again. Grouped by the day's start and
-- named as text after: a date per event, or its text, cost most of the view's time.
SELECT actor_arn, CAST(CAST(day AS DATE) AS VARCHAR) AS day, calls
FROM (
    SELECT actor_arn, date_trunc('day', event_time) AS day, count(*) AS calls
    FROM cloudtrail
    WHERE actor_arn IS NOT NULL
    GROUP BY actor_arn, date_trunc('day', event_time)
) d

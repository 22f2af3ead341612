-- Calls per principal, API and UTC day, with the first call and the first successful one:
-- one pass over CloudTrail that api_first_use and daily_calls both read (each was a pass of
-- its own over every event). Grouped by the day's start (a timestamp), not a date per event.
SELECT
    actor_arn,
    event_source,
    event_name,
    date_trunc('day', event_time) AS day,
    count(*) AS calls,
    min(event_time) AS first_time,
    min(CASE WHEN error_code IS NULL THEN event_time END) AS first_success
FROM cloudtrail
WHERE actor_arn IS NOT NULL
GROUP BY actor_arn, event_source, event_name, date_trunc('day', event_time)

-- Calls per principal and UTC day: how active a role was before something new (the
-- dormant-permission detector). Sums, so the streaming watch keeps it up to date from each
-- poll's new rows instead of reading the whole history again.
SELECT
    actor_arn,
    CAST(CAST(event_time AS DATE) AS VARCHAR) AS day,
    count(*) AS calls
FROM cloudtrail
WHERE actor_arn IS NOT NULL
GROUP BY actor_arn, CAST(CAST(event_time AS DATE) AS VARCHAR)

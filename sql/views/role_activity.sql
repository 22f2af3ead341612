-- What each principal did, per day and API: the history detectors compare new activity with.
SELECT
    actor_arn,
    event_source,
    event_name,
    iam_action(event_source, event_name) AS iam_action,
    dt,
    count(*) AS calls,
    sum(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS errors,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    count(DISTINCT source_ip_address) AS addresses,
    count(DISTINCT user_agent) AS user_agents
FROM cloudtrail
WHERE actor_arn IS NOT NULL
GROUP BY actor_arn, event_source, event_name, dt

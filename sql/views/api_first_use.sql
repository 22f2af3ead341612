-- When each principal first called each API, and first called it successfully, with the IAM
-- action the call needs: what the first-seen and dormant-permission detectors compare with.
-- From api_daily (the first of each day's calls).
SELECT
    actor_arn,
    event_source,
    event_name,
    iam_action(event_source, event_name) AS action,
    first_time,
    first_success
FROM (
    SELECT
        actor_arn,
        event_source,
        event_name,
        min(first_time) AS first_time,
        min(first_success) AS first_success
    FROM api_daily
    GROUP BY actor_arn, event_source, event_name
) a

-- When each principal first called each API, and first called it successfully, with the IAM
-- action the call needs: what the first-seen and dormant-permission detectors compare with.
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
        min(event_time) AS first_time,
        min(CASE WHEN error_code IS NULL THEN event_time END) AS first_success
    FROM cloudtrail
    WHERE actor_arn IS NOT NULL
    GROUP BY actor_arn, event_source, event_name
) a

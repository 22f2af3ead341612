-- A Lambda function role calling an IAM action it has never called, after at least seven days
-- of history without it, when at most one other principal in the account ever makes that
-- call (so a call every deployment or admin makes is not news). Successful or not.
WITH roles AS (
    SELECT actor_arn, min(first_seen) AS active_since
    FROM lambda_functions
    GROUP BY actor_arn
),
actions AS (
    SELECT actor_arn, event_source, event_name, first_time, action
    FROM api_first_use
),
first_use AS (
    SELECT actor_arn, action, min(first_time) AS first_time
    FROM actions
    GROUP BY actor_arn, action
),
prevalence AS (
    SELECT action, count(DISTINCT actor_arn) AS principals
    FROM actions
    GROUP BY action
),
new_calls AS (
    SELECT a.actor_arn, a.event_source, a.event_name, f.action, f.first_time, r.active_since
    FROM first_use f
    JOIN roles r ON r.actor_arn = f.actor_arn
    JOIN prevalence p ON p.action = f.action
    JOIN actions a ON a.actor_arn = f.actor_arn AND a.action = f.action
    WHERE f.first_time >= r.active_since + INTERVAL '7 days'
      AND p.principals <= 2
)
SELECT
    c.actor_arn AS subject,
    c.*,
    'first ' || n.action || ' by this role, active since ' || CAST(CAST(n.active_since AS DATE) AS VARCHAR) AS reason
FROM new_calls n
JOIN cloudtrail_evidence c
  ON c.actor_arn = n.actor_arn AND c.event_source = n.event_source AND c.event_name = n.event_name
WHERE c.event_time < n.first_time + INTERVAL '1 hour'

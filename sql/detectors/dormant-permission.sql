-- A permission the role has long held without using, suddenly used: the first successful call
-- of an IAM action by a Lambda function role with at least seven days of history without it
-- and a hundred calls on the days before. With an IAM snapshot of the role in the lake
-- (`trailhound ingest iam`), only an action its policies grant counts, and the finding names
-- the policy; without one (or when a NotAction statement makes the grant hard to read in
-- SQL), "granted" is read from success: AWS allowed the call.
WITH roles AS (
    SELECT actor_arn, min(first_seen) AS active_since
    FROM lambda_functions
    GROUP BY actor_arn
),
actions AS (
    SELECT actor_arn, event_source, event_name, first_success AS first_time, action
    FROM api_first_use
    WHERE first_success IS NOT NULL
),
first_use AS (
    SELECT actor_arn, action, min(first_time) AS first_time
    FROM actions
    GROUP BY actor_arn, action
),
daily AS (
    SELECT actor_arn, day AS dt, calls
    FROM daily_calls
    WHERE actor_arn IN (SELECT actor_arn FROM lambda_roles)
),
history AS (
    -- The role's calls on the days before the first use.
    SELECT f.actor_arn, f.action, f.first_time, r.active_since, sum(d.calls) AS calls_before
    FROM first_use f
    JOIN roles r ON r.actor_arn = f.actor_arn
    JOIN daily d
      ON d.actor_arn = f.actor_arn AND d.dt < CAST(CAST(f.first_time AS DATE) AS VARCHAR)
    WHERE f.first_time >= r.active_since + INTERVAL '7 days'
    GROUP BY f.actor_arn, f.action, f.first_time, r.active_since
),
grants AS (
    -- The roles' Allow patterns in the lake's IAM snapshots.
    SELECT principal_arn, action_pattern, policy_kind || ':' || policy_name AS policy
    FROM iam
    WHERE principal_type = 'role' AND effect = 'Allow' AND NOT not_action
      AND policy_kind <> 'boundary'
),
readable AS (
    -- Roles with a snapshot whose grants are plain Action lists.
    SELECT principal_arn
    FROM iam
    WHERE principal_type = 'role'
    GROUP BY principal_arn
    HAVING NOT bool_or(coalesce(not_action, false) AND effect = 'Allow')
),
granted AS (
    SELECT h.actor_arn, h.action, min(g.policy) AS policy
    FROM history h
    JOIN grants g ON g.principal_arn = h.actor_arn AND iam_match(g.action_pattern, h.action)
    GROUP BY h.actor_arn, h.action
),
dormant AS (
    SELECT a.actor_arn, a.event_source, a.event_name, h.action, h.first_time, h.active_since,
           h.calls_before, gr.policy
    FROM history h
    JOIN actions a ON a.actor_arn = h.actor_arn AND a.action = h.action
    LEFT JOIN granted gr ON gr.actor_arn = h.actor_arn AND gr.action = h.action
    WHERE h.calls_before >= 100
      AND (gr.policy IS NOT NULL OR h.actor_arn NOT IN (SELECT principal_arn FROM readable))
)
SELECT
    c.actor_arn AS subject,
    c.*,
    d.action || ' used for the first time, after ' || CAST(d.calls_before AS VARCHAR)
        || ' calls since ' || CAST(CAST(d.active_since AS DATE) AS VARCHAR) || ' without it'
        || coalesce(' (granted by ' || d.policy || ')', '') AS reason
FROM dormant d
JOIN cloudtrail_evidence c
  ON c.actor_arn = d.actor_arn AND c.event_source = d.event_source AND c.event_name = d.event_name
WHERE c.error_code IS NULL
  AND c.event_time < d.first_time + INTERVAL '1 hour'

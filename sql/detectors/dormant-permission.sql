-- A permission the role has long held without using, suddenly used: the first successful call
-- of an IAM action by a Lambda function role with at least seven days of history without it
-- and a hundred calls on the days before. (Until the IAM table is ingested, "granted" is read
-- from success: AWS allowed the call.)
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
    SELECT actor_arn, dt, count(*) AS calls
    FROM cloudtrail
    WHERE actor_arn IN (SELECT actor_arn FROM lambda_roles)
    GROUP BY actor_arn, dt
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
dormant AS (
    SELECT a.actor_arn, a.event_source, a.event_name, h.action, h.first_time, h.active_since, h.calls_before
    FROM history h
    JOIN actions a ON a.actor_arn = h.actor_arn AND a.action = h.action
    WHERE h.calls_before >= 100
)
SELECT
    c.actor_arn AS subject,
    c.event_time,
    c.actor_arn,
    c.session_name AS function_name,
    c.event_id,
    c.source_uri,
    c.source_record_index,
    c.source_ip_address,
    c.user_agent,
    c.user_identity_access_key_id AS access_key_id,
    c.event_source,
    c.event_name,
    c.error_code,
    c.account_id,
    c.region,
    d.action || ' used for the first time, after ' || CAST(d.calls_before AS VARCHAR)
        || ' calls since ' || CAST(CAST(d.active_since AS DATE) AS VARCHAR) || ' without it' AS reason
FROM dormant d
JOIN cloudtrail c
  ON c.actor_arn = d.actor_arn AND c.event_source = d.event_source AND c.event_name = d.event_name
WHERE c.error_code IS NULL
  AND c.event_time < d.first_time + INTERVAL '1 hour'

-- The least-privilege drift report's IAM snapshot: per account, the rows of the latest
-- snapshot on or before $day (the earliest snapshot when every one is later).
--
-- Parameter: $day ('YYYY-MM-DD', the day the usage window ends).
WITH days AS (
    SELECT account_id,
           coalesce(max(CASE WHEN dt <= $day THEN dt END), min(dt)) AS dt
    FROM iam GROUP BY account_id)
SELECT i.account_id, i.dt, principal_type, principal_name, principal_arn,
       trusted_services, policy_kind, policy_name, via_group,
       CAST(statement_index AS BIGINT) AS statement_index, effect,
       CAST(not_action AS VARCHAR) AS not_action, action_pattern, resources,
       not_resources, conditions
FROM iam i JOIN days d ON i.account_id = d.account_id AND i.dt = d.dt

-- Principals whose credentials trace back to a Lambda function's role: what a function role's
-- session created or was given (users, access keys, roles, temporary keys: `credential_grants`),
-- then what those created or assumed, three steps deep. One row per principal, in the
-- identity forms of `credential_grants`, with the function at the origin, its role, when the
-- lineage began (`since`: the earliest grant) and the path as text (`orders-api: CreateUser
-- svc-backup, CreateAccessKey key:AKIA…`). An attacker holding a function's credentials who
-- creates a user and works as that user stays tied to the function.
WITH edges AS (
    SELECT grantor_key AS grantor, event_time, event_name, grantee FROM credential_grants
    WHERE grantor_key IS NOT NULL
    UNION ALL
    SELECT grantor_user, event_time, event_name, grantee FROM credential_grants
    WHERE grantor_user IS NOT NULL
    UNION ALL
    SELECT grantor_role, event_time, event_name, grantee FROM credential_grants
    WHERE grantor_role IS NOT NULL
),
step1 AS (
    SELECT
        g.grantee AS principal,
        g.grantor_session AS origin_function,
        g.grantor_arn AS origin_role,
        g.event_time AS since,
        g.grantor_session || ': ' || g.event_name || ' ' || g.grantee AS path
    FROM credential_grants g
    JOIN lambda_roles r ON r.actor_arn = g.grantor_arn
    WHERE g.grantor_role IS NOT NULL
),
step2 AS (
    SELECT e.grantee AS principal, s.origin_function, s.origin_role, e.event_time AS since,
           s.path || ', ' || e.event_name || ' ' || e.grantee AS path
    FROM edges e JOIN step1 s ON e.grantor = s.principal AND e.event_time >= s.since
),
step3 AS (
    SELECT e.grantee AS principal, s.origin_function, s.origin_role, e.event_time AS since,
           s.path || ', ' || e.event_name || ' ' || e.grantee AS path
    FROM edges e JOIN step2 s ON e.grantor = s.principal AND e.event_time >= s.since
),
every AS (
    SELECT * FROM step1 UNION ALL SELECT * FROM step2 UNION ALL SELECT * FROM step3
)
SELECT
    principal,
    first_value(origin_function ORDER BY since) AS origin_function,
    first_value(origin_role ORDER BY since) AS origin_role,
    min(since) AS since,
    first_value(path ORDER BY since) AS path
FROM every
GROUP BY principal

-- One principal (one session of a role: functions sharing a role are apart) reading many
-- different secrets or parameters within minutes. A function reads the few it is configured
-- with; reading ten or more distinct ones in ten minutes is harvesting. A call naming several (GetParameters, BatchGetSecretValue with a list) counts
-- each name; a BatchGetSecretValue by filter reads every secret that matches and counts as ten.
WITH reads AS (
    SELECT
        c.*,
        coalesce(
            json_get_str(request_parameters, 'secretId'),
            json_get_str(request_parameters, 'name'),
            json_get_str(request_parameters, 'path'),
            json_get_json(request_parameters, 'secretIdList'),
            json_get_json(request_parameters, 'names')
        ) AS secret,
        CASE
            WHEN json_get_json(request_parameters, 'filters') IS NOT NULL THEN 10
            ELSE coalesce(json_length(json_get_json(request_parameters, 'secretIdList')),
                          json_length(json_get_json(request_parameters, 'names')),
                          1)
        END AS secrets_read
    FROM cloudtrail c
    WHERE (event_source = 'secretsmanager.amazonaws.com'
           AND event_name IN ('GetSecretValue', 'BatchGetSecretValue'))
       OR (event_source = 'ssm.amazonaws.com'
           AND event_name IN ('GetParameter', 'GetParameters', 'GetParametersByPath', 'GetParameterHistory'))
),
marked AS (
    SELECT
        *,
        -- A read counts as new when the principal did not read the same secret in the ten
        -- minutes before.
        CASE WHEN lag(event_time) OVER (PARTITION BY actor_arn, session_name, secret ORDER BY event_time)
                  >= event_time - INTERVAL '10 minutes'
             THEN 0 ELSE secrets_read END AS fresh
    FROM reads
    WHERE actor_arn IS NOT NULL
),
counted AS (
    SELECT
        *,
        sum(fresh) OVER (PARTITION BY actor_arn, session_name ORDER BY event_time
            RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) AS distinct_secrets
    FROM marked
)
-- The evidence columns are named here rather than taken as `e.*` from cloudtrail_evidence:
-- through the window sorts above, `e.*` (even with the runner keeping only the evidence
-- columns) took about a fifth more peak memory on bench/detect's lake.
SELECT
    actor_arn AS subject,
    event_time,
    actor_arn,
    session_name AS function_name,
    event_id,
    source_uri,
    source_record_index,
    source_ip_address,
    user_agent,
    user_identity_access_key_id AS access_key_id,
    event_source,
    event_name,
    error_code,
    account_id,
    region,
    CAST(distinct_secrets AS VARCHAR) || ' distinct secrets or parameters read within 10 minutes' AS reason
FROM counted
WHERE distinct_secrets >= 10

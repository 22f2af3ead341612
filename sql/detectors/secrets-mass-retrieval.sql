-- One principal (one session of a role: functions sharing a role are apart) reading many
-- different secrets, parameters or instances' Windows passwords (GetPasswordData) within
-- minutes; attempts refused count too. Critical when the credentials trace back to a Lambda
-- function (`cloudtrail_lineage`), whose name the finding then carries. A function reads the few it is configured
-- with; reading ten or more distinct ones in ten minutes is harvesting. A call naming several (GetParameters, BatchGetSecretValue with a list) counts
-- each name; a BatchGetSecretValue by filter reads every secret that matches and counts as ten.
WITH reads AS (
    -- Only the columns used below (through the window sorts, every column of the events
    -- would be carried along).
    SELECT
        event_time, actor_arn, session_name, event_id, source_uri, source_record_index,
        source_ip_address, user_agent, user_identity_access_key_id, event_source, event_name,
        error_code, account_id, region, origin_function, origin_path,
        coalesce(
            json_get_str(request_parameters, 'secretId'),
            json_get_str(request_parameters, 'name'),
            json_get_str(request_parameters, 'path'),
            json_get_json(request_parameters, 'secretIdList'),
            json_get_json(request_parameters, 'names'),
            json_get_str(request_parameters, 'instanceId')
        ) AS secret,
        CASE
            WHEN json_get_json(request_parameters, 'filters') IS NOT NULL THEN 10
            ELSE coalesce(json_length(json_get_json(request_parameters, 'secretIdList')),
                          json_length(json_get_json(request_parameters, 'names')),
                          1)
        END AS secrets_read
    FROM cloudtrail_lineage c
    WHERE (event_source = 'secretsmanager.amazonaws.com'
           AND event_name IN ('GetSecretValue', 'BatchGetSecretValue'))
       OR (event_source = 'ssm.amazonaws.com'
           AND event_name IN ('GetParameter', 'GetParameters', 'GetParametersByPath', 'GetParameterHistory'))
       OR (event_source = 'ec2.amazonaws.com' AND event_name = 'GetPasswordData')
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
    coalesce(origin_function, session_name) AS function_name,
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
    CAST(distinct_secrets AS VARCHAR) || ' distinct secrets, parameters or instance passwords read within 10 minutes'
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM counted
WHERE distinct_secrets >= 10

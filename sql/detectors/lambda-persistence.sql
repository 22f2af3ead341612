-- Ways to keep a foothold through Lambda: a resource policy that lets anyone (or another
-- account) invoke a function or use a layer, a function URL without authentication, a layer
-- from another account, a layer (an extension runs beside the function's code) added by a
-- principal that never changed a function before, and new code deployed with credentials that
-- trace back to a Lambda function (`cloudtrail_lineage`) or by a principal that never
-- deployed before (after seven days of history in which others did: the CI role).
WITH lambda_calls AS (
    SELECT
        c.*,
        json_get_str(request_parameters, 'principal') AS grantee,
        json_get_str(request_parameters, 'authType') AS auth_type,
        json_get_json(request_parameters, 'layers') AS layers,
        regexp_replace(json_get_str(request_parameters, 'functionName'), '^.*:function:', '') AS target_function
    FROM cloudtrail_lineage c
    WHERE event_source = 'lambda.amazonaws.com'
      AND (event_name LIKE 'AddPermission%'
           OR event_name LIKE 'AddLayerVersionPermission%'
           OR event_name LIKE 'CreateFunctionUrlConfig%'
           OR event_name LIKE 'UpdateFunctionUrlConfig%'
           OR event_name LIKE 'UpdateFunctionConfiguration%'
           OR event_name LIKE 'CreateFunction20%'
           OR event_name = 'CreateFunction'
           OR event_name LIKE 'UpdateFunctionCode%')
),
changers AS (
    -- When each principal first changed a function's code or configuration successfully.
    SELECT actor_arn AS changer, min(first_success) AS first_change
    FROM api_first_use
    WHERE event_source = 'lambda.amazonaws.com'
      AND (event_name LIKE 'UpdateFunctionCode%' OR event_name LIKE 'CreateFunction%'
           OR event_name LIKE 'UpdateFunctionConfiguration%')
    GROUP BY actor_arn
),
deployers AS (
    -- When each principal first deployed code successfully (api_first_use holds the whole
    -- history, so this holds in the streaming watch too, which reads only recent events).
    SELECT actor_arn AS deployer, min(first_success) AS first_deploy
    FROM api_first_use
    WHERE event_source = 'lambda.amazonaws.com' AND event_name LIKE 'UpdateFunctionCode%'
    GROUP BY actor_arn
),
history AS (
    SELECT
        (SELECT min(first_time) FROM api_first_use) AS lake_since,
        (SELECT min(first_deploy) FROM deployers) AS first_deploy_by_anyone
),
flagged AS (
    SELECT
        l.*,
        CASE
            WHEN event_name LIKE 'AddPermission%' AND grantee = '*'
                THEN 'invoke permission granted to everyone (*)'
            WHEN event_name LIKE 'AddPermission%' AND regexp_like(grantee, '^[0-9]{12}$')
                 AND grantee <> recipient_account_id
                THEN 'invoke permission granted to account ' || grantee
            WHEN event_name LIKE 'AddPermission%' AND grantee LIKE 'arn:aws:iam::%'
                 AND grantee NOT LIKE 'arn:aws:iam::' || recipient_account_id || ':%'
                THEN 'invoke permission granted to ' || grantee
            WHEN event_name LIKE 'AddLayerVersionPermission%'
                 AND (grantee = '*' OR (regexp_like(grantee, '^[0-9]{12}$') AND grantee <> recipient_account_id))
                THEN 'layer ' || coalesce(json_get_str(request_parameters, 'layerName'), '?')
                     || ' shared with ' || CASE WHEN grantee = '*' THEN 'everyone (*)' ELSE 'account ' || grantee END
            WHEN (event_name LIKE 'CreateFunctionUrlConfig%' OR event_name LIKE 'UpdateFunctionUrlConfig%')
                 AND auth_type = 'NONE'
                THEN 'function URL without authentication'
            WHEN layers LIKE '%:layer:%'
                 AND regexp_replace(layers,
                        'arn:aws:lambda:[a-z0-9-]+:' || recipient_account_id || ':layer:[^"]*', '', 'g')
                     LIKE '%:layer:%'
                THEN 'layer from another account: ' || layers
            WHEN event_name LIKE 'UpdateFunctionConfiguration%' AND layers LIKE '%:layer:%'
                 AND (ch.first_change IS NULL OR ch.first_change >= l.event_time)
                THEN 'layer added to function ' || coalesce(l.target_function, '?')
                     || ' by a principal that never changed a function before: ' || layers
            WHEN (event_name LIKE 'UpdateFunctionCode%' OR event_name LIKE 'UpdateFunctionConfiguration%')
                 AND origin_function IS NOT NULL
                THEN 'function ' || coalesce(l.target_function, '?')
                     || ' changed with credentials that trace to Lambda function ' || origin_function
                     || ' (' || origin_path || ')'
            WHEN event_name LIKE 'UpdateFunctionCode%'
                 AND d.first_deploy >= h.lake_since + INTERVAL '7 days'
                 AND h.first_deploy_by_anyone < d.first_deploy
                 AND l.event_time < d.first_deploy + INTERVAL '1 hour'
                THEN 'function code deployed by a principal that never deployed before'
        END AS why
    FROM lambda_calls l
    CROSS JOIN history h
    LEFT JOIN changers ch ON ch.changer = l.actor_arn
    LEFT JOIN deployers d ON d.deployer = l.actor_arn
)
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    -- The function acted on, else the caller's own.
    e.* REPLACE (coalesce(target_function, json_get_str(request_parameters, 'layerName'), session_name) AS function_name),
    why AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM flagged e
WHERE why IS NOT NULL

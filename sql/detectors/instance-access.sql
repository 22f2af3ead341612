-- Commands and keys pushed into EC2 instances, by any principal: SSM Run Command, EC2 Instance
-- Connect and serial-console SSH keys reaching several instances within ten minutes, any
-- serial-console key or serial access switched on, and user data (code run at boot) changed.
-- With credentials that trace back to a Lambda function (`cloudtrail_lineage`), any of these
-- counts, an interactive session included, and is critical: a function has no business on
-- an instance.
WITH calls AS (
    SELECT
        e.*,
        CASE
            WHEN event_name = 'SendCommand'
                THEN coalesce(json_length(json_get_json(request_parameters, 'instanceIds')), 1)
            ELSE 1
        END AS targets,
        coalesce(json_get_str(request_parameters, 'instanceId'),
                 json_get_json(request_parameters, 'instanceIds'),
                 json_get_str(request_parameters, 'target'), '') AS target
    FROM cloudtrail_lineage e
    WHERE user_identity_invoked_by IS NULL
      AND ((event_source = 'ssm.amazonaws.com' AND event_name IN ('SendCommand', 'StartSession'))
        OR (event_source = 'ec2-instance-connect.amazonaws.com'
            AND event_name IN ('SendSSHPublicKey', 'SendSerialConsoleSSHPublicKey'))
        OR (event_source = 'ec2.amazonaws.com'
            AND event_name IN ('ModifyInstanceAttribute', 'EnableSerialConsoleAccess')))
),
marked AS (
    SELECT
        c.*,
        -- A target counts once: not when the same principal reached it in the ten minutes before.
        CASE WHEN event_name NOT IN ('SendCommand', 'SendSSHPublicKey') THEN 0
             WHEN lag(event_time) OVER (PARTITION BY actor_arn, event_name, target ORDER BY event_time)
                  >= event_time - INTERVAL '10 minutes' THEN 0
             ELSE targets END AS fresh
    FROM calls c
),
reach AS (
    SELECT
        c.*,
        -- Instances reached by the same principal within ten minutes either side.
        sum(fresh)
            OVER (PARTITION BY actor_arn ORDER BY event_time
                  RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING)
            AS reached
    FROM marked c
),
judged AS (
    SELECT
        r.*,
        CASE
            WHEN event_name = 'SendSerialConsoleSSHPublicKey'
                THEN 'SSH key pushed to the serial console of ' || target
            WHEN event_name = 'EnableSerialConsoleAccess'
                THEN 'serial console access switched on for the account'
            WHEN event_name = 'ModifyInstanceAttribute'
                 AND json_get_json(request_parameters, 'userData') IS NOT NULL
                THEN 'user data (run at boot) changed on ' || target
            WHEN event_name IN ('SendCommand', 'SendSSHPublicKey') AND reached >= 2
                THEN CASE WHEN event_name = 'SendCommand'
                          THEN 'command (' || coalesce(json_get_str(request_parameters, 'documentName'), '?')
                               || ') sent to ' || target
                          ELSE 'SSH key pushed to ' || target || ' as '
                               || coalesce(json_get_str(request_parameters, 'instanceOSUser'), '?') END
                     || '; ' || CAST(reached AS VARCHAR) || ' instances reached within 10 minutes'
            WHEN origin_function IS NOT NULL AND event_name <> 'ModifyInstanceAttribute'
                THEN event_name || ' ' || target
        END AS what
    FROM reach r
)
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CASE WHEN error_code IS NULL THEN '' ELSE 'attempted (' || error_code || '): ' END
        || what
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM judged e
WHERE what IS NOT NULL

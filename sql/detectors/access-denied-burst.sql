-- A principal refused again and again. A Lambda function's session: five or more denied calls
-- within ten minutes (working code is granted what it calls). Any other principal (console
-- sessions and calls AWS services make on its behalf aside): denied calls to five or more
-- different APIs within ten minutes: enumeration of what stolen credentials allow, where a
-- misconfigured job repeats one call. Critical when the credentials trace back to a Lambda
-- function (`cloudtrail_lineage`).
WITH denied AS (
    SELECT
        e.*,
        (r.actor_arn IS NOT NULL) AS function_session
    FROM cloudtrail_lineage e
    LEFT JOIN lambda_roles r ON r.actor_arn = e.actor_arn AND e.user_identity_type = 'AssumedRole'
    WHERE error_code IN (
        'AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation',
        'Client.UnauthorizedOperation', 'UnauthorizedAccess', 'AuthorizationError',
        'AuthorizationErrorException', 'Forbidden', 'UnauthorizedException')
      AND user_identity_invoked_by IS NULL
      AND NOT coalesce(session_credential_from_console, false)
      AND e.actor_arn IS NOT NULL
),
marked AS (
    SELECT
        *,
        -- An API counts once: not when the same session was denied it in the ten minutes before.
        CASE WHEN lag(event_time) OVER (PARTITION BY actor_arn, session_name, event_source, event_name
                                        ORDER BY event_time)
                  >= event_time - INTERVAL '10 minutes'
             THEN 0 ELSE 1 END AS fresh
    FROM denied
),
counted AS (
    SELECT
        *,
        count(*) OVER (PARTITION BY actor_arn, session_name ORDER BY event_time
            RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) AS nearby,
        sum(fresh) OVER (PARTITION BY actor_arn, session_name ORDER BY event_time
            RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) AS apis
    FROM marked
)
SELECT
    actor_arn AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CAST(nearby AS VARCHAR) || ' denied calls (' || CAST(apis AS VARCHAR)
        || ' different APIs) within 10 minutes'
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL AND NOT function_session THEN 'critical' END AS severity
FROM counted e
WHERE (function_session AND nearby >= 5) OR apis >= 5

-- A Lambda function role refused again and again: five or more denied calls within ten
-- minutes. Working code is granted what it calls; stolen credentials probe for what they
-- can do.
WITH denied AS (
    SELECT *
    FROM lambda_sessions
    WHERE error_code IN (
        'AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation',
        'Client.UnauthorizedOperation', 'UnauthorizedAccess', 'AuthorizationError',
        'AuthorizationErrorException', 'Forbidden', 'UnauthorizedException')
),
counted AS (
    SELECT
        *,
        count(*) OVER (PARTITION BY actor_arn, function_name ORDER BY event_time
            RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) AS nearby
    FROM denied
)
SELECT
    actor_arn AS subject,
    e.*,
    CAST(nearby AS VARCHAR) || ' denied calls within 10 minutes' AS reason
FROM counted e
WHERE nearby >= 5

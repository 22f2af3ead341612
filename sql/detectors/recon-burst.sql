-- Discovery by a Lambda function role: six or more different List/Describe calls (and
-- GetCallerIdentity, GetAccountAuthorizationDetails) across three or more services within
-- ten minutes. A function lists what it works on; enumeration lists everything.
WITH discovery AS (
    SELECT *
    FROM lambda_sessions
    WHERE event_name LIKE 'List%'
       OR event_name LIKE 'Describe%'
       OR event_name IN ('GetCallerIdentity', 'GetAccountAuthorizationDetails', 'GetAccountSummary',
                         'GetBucketPolicy', 'GetBucketAcl', 'GetPolicyVersion', 'GetRolePolicy')
),
marked AS (
    SELECT
        *,
        CASE WHEN lag(event_time) OVER (PARTITION BY actor_arn, function_name, event_source, event_name ORDER BY event_time)
                  >= event_time - INTERVAL '10 minutes' THEN 0 ELSE 1 END AS fresh_api,
        CASE WHEN lag(event_time) OVER (PARTITION BY actor_arn, function_name, event_source ORDER BY event_time)
                  >= event_time - INTERVAL '10 minutes' THEN 0 ELSE 1 END AS fresh_service
    FROM discovery
),
counted AS (
    SELECT
        *,
        sum(fresh_api) OVER (PARTITION BY actor_arn, function_name ORDER BY event_time
            RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) AS apis,
        sum(fresh_service) OVER (PARTITION BY actor_arn, function_name ORDER BY event_time
            RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING) AS services
    FROM marked
)
SELECT
    actor_arn AS subject,
    e.*,
    CAST(apis AS VARCHAR) || ' discovery APIs across ' || CAST(services AS VARCHAR) || ' services within 10 minutes' AS reason
FROM counted e
WHERE apis >= 6 AND services >= 3

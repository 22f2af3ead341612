-- Calls made from inside Lambda functions, per role, function (the session name) and source
-- address: sessions of a role whose user agent carries the Lambda runtime's marker. From
-- lambda_session_hours.
SELECT
    actor_arn,
    session_name AS function_name,
    source_ip_address,
    sum(calls) AS calls,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM lambda_session_hours
WHERE from_runtime
GROUP BY actor_arn, session_name, source_ip_address

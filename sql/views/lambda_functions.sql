-- Each Lambda function seen in CloudTrail with its execution role: the sessions the role's
-- credentials opened from the function's runtime, named after the function.
SELECT
    session_name AS function_name,
    actor_arn,
    count(*) AS calls,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM lambda_sessions
WHERE from_lambda_runtime
GROUP BY session_name, actor_arn

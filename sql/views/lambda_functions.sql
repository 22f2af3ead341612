-- Each Lambda function seen in CloudTrail with its execution role: the sessions the role's
-- credentials opened from the function's runtime, named after the function.
SELECT
    function_name,
    actor_arn,
    sum(calls) AS calls,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM lambda_runtime_calls
GROUP BY function_name, actor_arn

-- Every Lambda invocation with the columns a finding's evidence takes: `subject` and
-- `event_time` (the function and when the invocation started) and `actor_arn` (the function's
-- execution role, as CloudTrail saw it), beside every column of the invocation. A detector
-- selects `e.*` from it with its own `reason`; the runner reads only the evidence columns.
WITH roles AS (
    SELECT function_name, max(actor_arn) AS actor_arn FROM lambda_functions GROUP BY function_name
)
SELECT
    i.*,
    i.function_name AS subject,
    i.start_time AS event_time,
    r.actor_arn
FROM lambda_invocations i
LEFT JOIN roles r ON r.function_name = i.function_name

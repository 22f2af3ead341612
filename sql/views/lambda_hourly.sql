-- Invocations and failures per function and hour: the history the invocation-flood and
-- error-storm detectors compare an hour with. Sums, so the streaming watch keeps it up to date
-- from each poll's new rows instead of reading the whole history again.
SELECT
    function_name,
    date_trunc('hour', start_time) AS hour,
    count(*) AS invocations,
    sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS failures
FROM lambda_invocations
WHERE start_time IS NOT NULL
GROUP BY function_name, date_trunc('hour', start_time)

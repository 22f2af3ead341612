-- Calls of role sessions (assumed roles named after a session, as Lambda names a function's
-- session after the function) per role, session, source address and hour since the epoch:
-- whether they came from the Lambda runtime (its marker in the user agent; NULL for a call
-- without a user agent) and directly (not by an AWS service on the caller's behalf), how
-- many, the first and the last, and the minutes of the hour they were made in (bit m: minute
-- m). One pass over the calls for what lambda_runtime_calls, credentials-while-idle and
-- credentials-outside-lambda read (each was a pass over ten million calls of its own on
-- bench/detect's lake; this is some ninety thousand rows).
SELECT
    actor_arn,
    session_name,
    source_ip_address,
    epoch_us(event_time) / 3600000000 AS hour,
    contains(user_agent, 'exec-env/AWS_Lambda_') AS from_runtime,
    user_identity_invoked_by IS NULL AS direct,
    count(*) AS calls,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    bit_or(CAST(1 AS BIGINT) << (epoch_us(event_time) / 60000000 % 60)) AS minutes
FROM cloudtrail
WHERE user_identity_type = 'AssumedRole'
  AND session_issuer_type = 'Role'
  AND session_name IS NOT NULL
GROUP BY
    actor_arn,
    session_name,
    source_ip_address,
    epoch_us(event_time) / 3600000000,
    contains(user_agent, 'exec-env/AWS_Lambda_'),
    user_identity_invoked_by IS NULL

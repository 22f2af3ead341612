-- CloudTrail events made with Lambda execution-role credentials: an assumed-role session of a
-- role, named after the function (Lambda names the session after the function), with the
-- Lambda runtime's marker in the user agent when the call came from the function's code.
-- `from_lambda_runtime` is false for the same credentials used elsewhere (stolen).
SELECT
    c.*,
    c.session_name AS function_name,
    contains(coalesce(c.user_agent, ''), 'exec-env/AWS_Lambda_') AS from_lambda_runtime
FROM cloudtrail c
WHERE c.user_identity_type = 'AssumedRole'
  AND c.session_issuer_type = 'Role'
  AND c.session_name IS NOT NULL
  AND c.actor_arn IN (SELECT actor_arn FROM lambda_roles)

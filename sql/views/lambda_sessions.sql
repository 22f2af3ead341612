-- CloudTrail events made with Lambda execution-role credentials: an assumed-role session of a
-- role, named after the function (Lambda names the session after the function), with the
-- Lambda runtime's marker in the user agent when the call came from the function's code.
-- `from_lambda_runtime` is false for the same credentials used elsewhere (stolen). With the
-- evidence columns of `cloudtrail_evidence` (`function_name` is the session's name).
SELECT
    c.*,
    contains(coalesce(c.user_agent, ''), 'exec-env/AWS_Lambda_') AS from_lambda_runtime
FROM cloudtrail_evidence c
WHERE c.user_identity_type = 'AssumedRole'
  AND c.session_issuer_type = 'Role'
  AND c.session_name IS NOT NULL
  AND c.actor_arn IN (SELECT actor_arn FROM lambda_roles)

-- The IAM roles Lambda functions run as: roles whose sessions called AWS from the Lambda
-- runtime (its marker is in the SDK's user agent).
SELECT DISTINCT actor_arn
FROM cloudtrail
WHERE user_identity_type = 'AssumedRole'
  AND user_agent LIKE '%exec-env/AWS_Lambda_%'

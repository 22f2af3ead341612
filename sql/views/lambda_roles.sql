-- The IAM roles Lambda functions run as: roles whose sessions called AWS from the Lambda
-- runtime (its marker is in the SDK's user agent).
SELECT DISTINCT actor_arn FROM lambda_runtime_calls

-- The least-privilege drift report's usage: per role session, API and whether the request
-- names a role, the successful calls in the window [$since, $until).
--
-- iam:PassRole is checked only when a call hands a role over (CreateFunction always,
-- UpdateFunctionConfiguration only when it changes the role): `passes_role` says whether the
-- request names one.
--
-- Parameters: $since and $until (µs since the epoch).
SELECT actor_arn, event_source, event_name,
       coalesce(contains(request_parameters, ':role/'), false) AS passes_role,
       count(*) AS calls,
       CAST(min(event_time) AS BIGINT) AS first_used,
       CAST(max(event_time) AS BIGINT) AS last_used,
       count(resources) AS with_resources
FROM cloudtrail
WHERE event_time >= to_timestamp_micros($since) AND event_time < to_timestamp_micros($until)
  AND error_code IS NULL AND user_identity_type = 'AssumedRole' AND actor_arn IS NOT NULL
GROUP BY actor_arn, event_source, event_name, passes_role

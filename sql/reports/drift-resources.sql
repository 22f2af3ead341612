-- The least-privilege drift report's resources: the resources named by the successful calls
-- in the window [$since, $until), for the APIs a role called on at most about $max_resources
-- distinct ones (an API called on millions of objects gets `*` anyway: its distinct resources
-- are not worth holding; the estimate may be off by a few percent, the caller applies the
-- exact cap). The small side first: the engine builds its hash table from the left.
--
-- Parameters: $since and $until (µs since the epoch), $max_resources.
WITH few AS (
    SELECT actor_arn, event_source, event_name
    FROM cloudtrail
    WHERE event_time >= to_timestamp_micros($since) AND event_time < to_timestamp_micros($until)
      AND error_code IS NULL AND user_identity_type = 'AssumedRole' AND actor_arn IS NOT NULL
      AND resources IS NOT NULL
    GROUP BY actor_arn, event_source, event_name
    HAVING approx_distinct(resources) <= $max_resources)
SELECT DISTINCT c.actor_arn, c.event_source, c.event_name, c.resources
FROM few f
JOIN cloudtrail c ON c.actor_arn = f.actor_arn AND c.event_source = f.event_source
                 AND c.event_name = f.event_name
WHERE c.event_time >= to_timestamp_micros($since) AND c.event_time < to_timestamp_micros($until)
  AND c.error_code IS NULL AND c.user_identity_type = 'AssumedRole' AND c.actor_arn IS NOT NULL
  AND c.resources IS NOT NULL

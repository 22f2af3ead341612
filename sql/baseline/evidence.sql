-- The raw records behind a behaviour finding: the function's invocations and its execution
-- role's calls (sessions named after the function, as Lambda names them) in the finding's
-- window [$since, $until), the first $max_evidence of each in time order, each row with how
-- many there are in all (`total`). Invocations have no `event_id`; calls have no `reason`.
--
-- Parameters: $function (the function's name), $since and $until (µs since the epoch),
-- $max_evidence.
SELECT * FROM (
    SELECT start_time AS t, request_id, CAST(NULL AS VARCHAR) AS event_id,
           source_uri, CAST(NULL AS BIGINT) AS source_record_index,
           CAST(NULL AS VARCHAR) AS ip, CAST(NULL AS VARCHAR) AS ua, CAST(NULL AS VARCHAR) AS key,
           CAST(NULL AS VARCHAR) AS event_source, CAST(NULL AS VARCHAR) AS event_name,
           CAST(NULL AS VARCHAR) AS error_code, status AS reason, count(*) OVER () AS total
    FROM lambda_invocations
    WHERE function_name = $function
      AND start_time >= to_timestamp_micros($since) AND start_time < to_timestamp_micros($until)
    ORDER BY start_time LIMIT $max_evidence)
UNION ALL
SELECT * FROM (
    SELECT event_time, request_id, event_id, source_uri, source_record_index,
           source_ip_address, user_agent, user_identity_access_key_id, event_source, event_name,
           error_code, CAST(NULL AS VARCHAR), count(*) OVER ()
    FROM cloudtrail
    WHERE user_identity_type = 'AssumedRole' AND session_name = $function
      AND event_time >= to_timestamp_micros($since) AND event_time < to_timestamp_micros($until)
    ORDER BY event_time LIMIT $max_evidence)

-- The time of the lake's latest CloudTrail event (µs since the epoch; NULL for none): where a
-- report's window ends by default.
SELECT CAST(max(event_time) AS BIGINT) AS t FROM cloudtrail

-- Invocations and failures per function and hour: the history the invocation-flood and
-- error-storm detectors compare an hour with. With when the hour's invocations ran, for
-- credentials-while-idle and lambda_log_coverage (one pass over the invocations for all three):
-- `running`, the minutes of the hour in which one of them ran (bit m: minute m), and
-- `runs_from`/`runs_to` (µs since the epoch), from the earliest start less its init phase to
-- the latest end, two seconds wider either side (CloudTrail times are whole seconds). A run
-- that began in the hour before (its init phase) or went on into the next covers every minute
-- from `runs_from` to the hour's start, or from the next hour's start to `runs_to`. Sums,
-- minima, maxima and a bitwise OR, so the streaming watch keeps it up to date from each
-- poll's new rows instead of reading the whole history again.
SELECT
    function_name,
    hour,
    count(*) AS invocations,
    sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END) AS failures,
    bit_or(CASE WHEN last_minute >= greatest(first_minute, hour_minute) THEN
        ((CAST(1 AS BIGINT) << (least(last_minute - hour_minute, 59) - greatest(first_minute - hour_minute, 0) + 1)) - 1)
            << greatest(first_minute - hour_minute, 0)
        ELSE 0 END) AS running,
    min(runs_from) AS runs_from,
    max(runs_to) AS runs_to
FROM (
    SELECT
        function_name,
        status,
        date_trunc('hour', start_time) AS hour,
        epoch_us(start_time) / 3600000000 * 60 AS hour_minute,
        runs_from,
        runs_to,
        runs_from / 60000000 AS first_minute,
        runs_to / 60000000 AS last_minute
    FROM (
        SELECT
            function_name,
            status,
            start_time,
            epoch_us(start_time) - CAST((coalesce(init_duration_ms, 0) + 2000) * 1000 AS BIGINT) AS runs_from,
            coalesce(epoch_us(end_time), epoch_us(start_time) + CAST(coalesce(duration_ms, 900000) * 1000 AS BIGINT))
                + 2000000 AS runs_to
        FROM lambda_invocations
        WHERE start_time IS NOT NULL
    ) i
) m
GROUP BY function_name, hour

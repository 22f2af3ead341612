-- The time each function's invocation logs cover (µs since the epoch): from its first
-- invocation's start, less its init phase, to its last one's end, two seconds wider either
-- side (CloudTrail times are whole seconds). Calls outside it cannot be compared with the
-- function's runs. From lambda_hourly's hours (not another pass over every invocation).
SELECT function_name, min(runs_from) AS logs_from, max(runs_to) AS logs_to
FROM lambda_hourly
GROUP BY function_name

-- One access key (a role session or a user's key) used from two networks at the same time:
-- a call from one /16 (IPv4) or /48 (IPv6) within ten minutes of a call with the same key
-- from another. A session key lives in one place; two places means it was copied. Each call
-- is judged by the calls of the ten minutes around it, so the streaming watch, which reads
-- only the events shortly before the new ones, finds what a run over the whole lake finds.
WITH calls AS (
    SELECT
        *,
        CASE
            WHEN contains(source_ip_address, ':')
                THEN split_part(source_ip_address, ':', 1) || ':' || split_part(source_ip_address, ':', 2)
                     || ':' || split_part(source_ip_address, ':', 3)
            ELSE split_part(source_ip_address, '.', 1) || '.' || split_part(source_ip_address, '.', 2)
        END AS network
    FROM cloudtrail
    WHERE user_identity_access_key_id IS NOT NULL
      AND user_identity_invoked_by IS NULL
      AND source_ip_address IS NOT NULL
      AND NOT ends_with(source_ip_address, '.amazonaws.com')
      AND source_ip_address <> 'AWS Internal'
),
nearby AS (
    -- The key's networks in the ten minutes either side: two differ when the least and the
    -- greatest do.
    SELECT
        *,
        min(network) OVER around AS lowest,
        max(network) OVER around AS highest
    FROM calls
    WINDOW around AS (PARTITION BY user_identity_access_key_id ORDER BY event_time
        RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING)
)
SELECT
    user_identity_access_key_id AS subject,
    event_time,
    actor_arn,
    session_name AS function_name,
    event_id,
    source_uri,
    source_record_index,
    source_ip_address,
    user_agent,
    user_identity_access_key_id AS access_key_id,
    event_source,
    event_name,
    error_code,
    account_id,
    region,
    'one access key used from '
        || CASE WHEN contains(network, ':') THEN network || '::/48' ELSE network || '.0.0/16' END
        || ' and from '
        || CASE WHEN network = lowest THEN highest ELSE lowest END
        || CASE WHEN contains(network, ':') THEN '::/48' ELSE '.0.0/16' END
        || ' within ten minutes' AS reason
FROM nearby
WHERE lowest <> highest

-- One access key (a role session or a user's key) used from two networks at the same time:
-- calls from one /16 (IPv4) or /48 (IPv6) within ten minutes of calls with the same key from
-- another. A session key lives in one place; two places means it was copied. Each call is
-- judged by the ten minutes either side of it, so the streaming watch, which reads only the
-- events shortly before the new ones, finds what a run over the whole lake finds.
WITH suspect AS (
    -- Their calls, the same calls as multi_network_keys reads, each with its network. Joined
    -- by the key alone: the engine looks the few keys up in each row group's bloom filter and
    -- reads only the row groups that hold them. The network is worked out again rather than
    -- joined from the view's addresses, which would scan every call a second time.
    SELECT
        e.*,
        CASE
            WHEN contains(e.source_ip_address, ':')
                THEN split_part(e.source_ip_address, ':', 1) || ':' || split_part(e.source_ip_address, ':', 2)
                     || ':' || split_part(e.source_ip_address, ':', 3)
            ELSE split_part(e.source_ip_address, '.', 1) || '.' || split_part(e.source_ip_address, '.', 2)
        END AS network
    FROM cloudtrail_evidence e
    JOIN multi_network_keys s ON s.access_key = e.user_identity_access_key_id
    WHERE e.user_identity_invoked_by IS NULL
      AND e.source_ip_address IS NOT NULL
      AND NOT ends_with(e.source_ip_address, '.amazonaws.com')
      AND e.source_ip_address <> 'AWS Internal'
),
nearby AS (
    -- The key's networks in the ten minutes either side: two differ when the least and the
    -- greatest do.
    SELECT
        *,
        min(network) OVER around AS lowest,
        max(network) OVER around AS highest
    FROM suspect
    WINDOW around AS (PARTITION BY user_identity_access_key_id ORDER BY event_time
        RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING)
)
SELECT
    user_identity_access_key_id AS subject,
    e.* EXCLUDE (network, lowest, highest),
    'one access key used from '
        || CASE WHEN contains(network, ':') THEN network || '::/48' ELSE network || '.0.0/16' END
        || ' and from '
        || CASE WHEN network = lowest
                THEN CASE WHEN contains(highest, ':') THEN highest || '::/48' ELSE highest || '.0.0/16' END
                ELSE CASE WHEN contains(lowest, ':') THEN lowest || '::/48' ELSE lowest || '.0.0/16' END END
        || ' within ten minutes' AS reason
FROM nearby e
WHERE lowest <> highest

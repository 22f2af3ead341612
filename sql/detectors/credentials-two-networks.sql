-- One access key (a role session or a user's key) used from two networks at the same time:
-- calls from one /16 (IPv4) or /48 (IPv6) within ten minutes (counted in whole minutes) of
-- calls with the same key from another. A session key lives in one place; two places means
-- it was copied. Each call is judged by the minutes around it, so the streaming watch, which
-- reads only the events shortly before the new ones, finds what a run over the whole lake
-- finds.
WITH calls AS (
    SELECT
        *,
        CASE
            WHEN contains(source_ip_address, ':')
                THEN split_part(source_ip_address, ':', 1) || ':' || split_part(source_ip_address, ':', 2)
                     || ':' || split_part(source_ip_address, ':', 3)
            ELSE split_part(source_ip_address, '.', 1) || '.' || split_part(source_ip_address, '.', 2)
        END AS network,
        date_trunc('minute', event_time) AS minute
    FROM cloudtrail_evidence
    WHERE user_identity_access_key_id IS NOT NULL
      AND user_identity_invoked_by IS NULL
      AND source_ip_address IS NOT NULL
      AND NOT ends_with(source_ip_address, '.amazonaws.com')
      AND source_ip_address <> 'AWS Internal'
),
minutes AS (
    -- The networks each key was used from, minute by minute.
    SELECT user_identity_access_key_id AS access_key_id, network, minute
    FROM calls
    GROUP BY user_identity_access_key_id, network, minute
),
nearby AS (
    -- The key's networks in the ten minutes either side: two differ when the least and the
    -- greatest do.
    SELECT
        *,
        min(network) OVER around AS lowest,
        max(network) OVER around AS highest
    FROM minutes
    WINDOW around AS (PARTITION BY access_key_id ORDER BY minute
        RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND INTERVAL '10 minutes' FOLLOWING)
),
flagged AS (
    SELECT access_key_id, network, minute, CASE WHEN network = lowest THEN highest ELSE lowest END AS other
    FROM nearby
    WHERE lowest <> highest
)
SELECT
    c.user_identity_access_key_id AS subject,
    c.*,
    'one access key used from '
        || CASE WHEN contains(f.network, ':') THEN f.network || '::/48' ELSE f.network || '.0.0/16' END
        || ' and from '
        || CASE WHEN contains(f.other, ':') THEN f.other || '::/48' ELSE f.other || '.0.0/16' END
        || ' within ten minutes' AS reason
FROM flagged f
JOIN calls c
  ON c.user_identity_access_key_id = f.access_key_id AND c.minute = f.minute AND c.network = f.network

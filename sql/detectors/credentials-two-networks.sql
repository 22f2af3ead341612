-- One access key (a role session or a user's key) used from two networks at the same time:
-- its calls from one /16 (IPv4) or /48 (IPv6) overlap, within ten minutes, its calls from
-- another. A session key lives in one place; two places means it was copied.
WITH addresses AS (
    -- Each key's addresses, with when it used them.
    SELECT
        user_identity_access_key_id AS access_key_id,
        source_ip_address,
        min(event_time) AS first_time,
        max(event_time) AS last_time
    FROM cloudtrail
    WHERE user_identity_access_key_id IS NOT NULL
      AND user_identity_invoked_by IS NULL
      AND source_ip_address IS NOT NULL
      AND NOT ends_with(source_ip_address, '.amazonaws.com')
      AND source_ip_address <> 'AWS Internal'
    GROUP BY user_identity_access_key_id, source_ip_address
),
networks AS (
    SELECT
        access_key_id,
        first_time,
        last_time,
        CASE
            WHEN contains(source_ip_address, ':')
                THEN split_part(source_ip_address, ':', 1) || ':' || split_part(source_ip_address, ':', 2)
                     || ':' || split_part(source_ip_address, ':', 3)
            ELSE split_part(source_ip_address, '.', 1) || '.' || split_part(source_ip_address, '.', 2)
        END AS network
    FROM addresses
),
spans AS (
    -- When each key was used from each network.
    SELECT access_key_id, network, min(first_time) AS first_time, max(last_time) AS last_time
    FROM networks
    GROUP BY access_key_id, network
),
neighbours AS (
    -- Per key, its spans in time order: the latest end before each span and the earliest
    -- start after it (every other span is another network).
    SELECT
        *,
        max(last_time) OVER (PARTITION BY access_key_id ORDER BY first_time, network
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_last,
        min(first_time) OVER (PARTITION BY access_key_id ORDER BY first_time, network
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_first,
        count(*) OVER (PARTITION BY access_key_id) AS networks
    FROM spans
),
flagged AS (
    SELECT access_key_id, network, networks, first_time, last_time
    FROM neighbours
    WHERE previous_last >= first_time - INTERVAL '10 minutes'
       OR next_first <= last_time + INTERVAL '10 minutes'
)
SELECT
    c.user_identity_access_key_id AS subject,
    c.event_time,
    c.actor_arn,
    c.session_name AS function_name,
    c.event_id,
    c.source_uri,
    c.source_record_index,
    c.source_ip_address,
    c.user_agent,
    c.user_identity_access_key_id AS access_key_id,
    c.event_source,
    c.event_name,
    c.error_code,
    c.account_id,
    c.region,
    'one access key used from '
        || CASE WHEN contains(f.network, ':') THEN f.network || '::/48' ELSE f.network || '.0.0/16' END
        || ' and ' || CAST(f.networks - 1 AS VARCHAR) || ' other network(s) within minutes' AS reason
FROM flagged f
JOIN cloudtrail c ON c.user_identity_access_key_id = f.access_key_id
WHERE c.user_identity_invoked_by IS NULL
  -- Always true of the span's own calls; spelled out so the engine can skip what lies outside.
  AND c.event_time BETWEEN f.first_time AND f.last_time
  -- The span's network, as a prefix of the address (cheaper than rebuilding each address's network).
  AND starts_with(c.source_ip_address, f.network || CASE WHEN contains(f.network, ':') THEN ':' ELSE '.' END)

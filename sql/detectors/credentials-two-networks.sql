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
        source_ip_address,
        first_time,
        last_time,
        CASE
            WHEN source_ip_address LIKE '%:%'
                THEN split_part(source_ip_address, ':', 1) || ':' || split_part(source_ip_address, ':', 2)
                     || ':' || split_part(source_ip_address, ':', 3)
            ELSE split_part(source_ip_address, '.', 1) || '.' || split_part(source_ip_address, '.', 2)
        END AS network
    FROM addresses
),
uses AS (
    SELECT access_key_id, network, min(first_time) AS first_time, max(last_time) AS last_time
    FROM networks
    GROUP BY access_key_id, network
),
pairs AS (
    SELECT DISTINCT a.access_key_id, a.network, b.network AS other_network
    FROM uses a
    JOIN uses b
      ON a.access_key_id = b.access_key_id
     AND a.network <> b.network
     AND a.first_time <= b.last_time + INTERVAL '10 minutes'
     AND b.first_time <= a.last_time + INTERVAL '10 minutes'
),
flagged AS (
    SELECT DISTINCT n.access_key_id, n.source_ip_address, p.network, p.other_network
    FROM networks n
    JOIN pairs p ON p.access_key_id = n.access_key_id AND p.network = n.network
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
    'one access key used from networks ' || f.network || ' and ' || f.other_network || ' within minutes' AS reason
FROM flagged f
JOIN cloudtrail c
  ON f.access_key_id = c.user_identity_access_key_id AND f.source_ip_address = c.source_ip_address
WHERE c.user_identity_invoked_by IS NULL

-- Access keys seen calling from more than one network (a /16 of IPv4, a /48 of IPv6) at all,
-- not on behalf of an AWS service: the only keys credentials-two-networks looks at closely.
-- Computed once per run and kept as a table (views::MATERIALIZED): the join back to the keys'
-- calls then has a build side of known size, which a cluster broadcasts to the scans of the
-- calls instead of shuffling every call to meet it.
WITH calls AS (
    SELECT user_identity_access_key_id AS access_key, source_ip_address AS ip
    FROM cloudtrail
    WHERE user_identity_access_key_id IS NOT NULL
      AND user_identity_invoked_by IS NULL
      AND source_ip_address IS NOT NULL
      AND NOT ends_with(source_ip_address, '.amazonaws.com')
      AND source_ip_address <> 'AWS Internal'
),
addresses AS (
    -- Each key's addresses with their networks (few per key: a session lives in one place).
    SELECT
        access_key,
        ip,
        CASE
            WHEN contains(ip, ':')
                THEN split_part(ip, ':', 1) || ':' || split_part(ip, ':', 2) || ':' || split_part(ip, ':', 3)
            ELSE split_part(ip, '.', 1) || '.' || split_part(ip, '.', 2)
        END AS network
    FROM calls
    GROUP BY access_key, ip
)
-- Only keys seen from more than one network at all can be flagged.
SELECT access_key FROM addresses GROUP BY access_key
HAVING min(network) <> max(network)

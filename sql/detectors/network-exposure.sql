-- A security group opened to the whole internet on an administration or database port (SSH,
-- RDP, VNC, Telnet, SMB, MySQL, PostgreSQL, SQL Server, Redis, Elasticsearch, MongoDB) or on
-- every port, by any principal: AuthorizeSecurityGroupIngress with 0.0.0.0/0 or ::/0 (the
-- address part is not checked: only the /0). Critical when the caller's credentials trace back
-- to a Lambda function (`cloudtrail_lineage`).
WITH calls AS (
    SELECT
        e.*,
        -- Every rule of the request as text: the simple form (cidrIp, fromPort, toPort) and
        -- the ipPermissions form.
        coalesce(request_parameters, '') AS rules
    FROM cloudtrail_lineage e
    WHERE event_source = 'ec2.amazonaws.com'
      AND event_name IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
),
judged AS (
    SELECT
        c.*,
        regexp_like(rules, '"cidrIp(v6)?"\s*:\s*"[0-9a-fA-F.:]*/0"') AS open_to_world,
        coalesce(json_get_int(rules, 'fromPort'),
                 CAST(regexp_match(rules, '"fromPort"\s*:\s*(-?[0-9]+)')[1] AS BIGINT)) AS from_port,
        coalesce(json_get_int(rules, 'toPort'),
                 CAST(regexp_match(rules, '"toPort"\s*:\s*(-?[0-9]+)')[1] AS BIGINT)) AS to_port,
        coalesce(json_get_str(rules, 'ipProtocol'),
                 regexp_match(rules, '"ipProtocol"\s*:\s*"([^"]*)"')[1]) AS protocol
    FROM calls c
),
exposed AS (
    SELECT
        j.*,
        CASE
            WHEN protocol = '-1'
                 OR (from_port <= 0 AND coalesce(to_port, 65535) IN (-1, 65535)
                     AND coalesce(protocol, 'tcp') NOT IN ('icmp', 'icmpv6', '1', '58'))
                THEN 'every port'
            WHEN 22 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'SSH (22)'
            WHEN 3389 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'RDP (3389)'
            WHEN 5900 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'VNC (5900)'
            WHEN 23 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'Telnet (23)'
            WHEN 445 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'SMB (445)'
            WHEN 3306 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'MySQL (3306)'
            WHEN 5432 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'PostgreSQL (5432)'
            WHEN 1433 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'SQL Server (1433)'
            WHEN 6379 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'Redis (6379)'
            WHEN 9200 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'Elasticsearch (9200)'
            WHEN 27017 BETWEEN from_port AND coalesce(to_port, from_port) THEN 'MongoDB (27017)'
        END AS port
    FROM judged j
    WHERE open_to_world
)
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CASE WHEN error_code IS NULL THEN '' ELSE 'attempted (' || error_code || '): ' END
        || 'security group ' || coalesce(json_get_str(request_parameters, 'groupId'), '?')
        || ' opened to the internet on ' || port
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM exposed e
WHERE port IS NOT NULL

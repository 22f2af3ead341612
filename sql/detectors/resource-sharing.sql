-- Data handed to another account or to everyone: an EBS snapshot or machine image shared
-- (ModifySnapshotAttribute, ModifyImageAttribute), an RDS snapshot made restorable elsewhere,
-- an SSM document shared, an S3 bucket opened by its policy (a principal of another account,
-- or anyone without a condition) or its ACL (all users), by any principal. The other account copies the data out of reach;
-- AWS records nothing more. Critical when the caller's credentials trace back to a Lambda
-- function (`cloudtrail_lineage`).
WITH calls AS (
    SELECT
        e.*,
        -- The accounts and groups added, as text (the request's shapes differ per API).
        coalesce(
            json_get_json(request_parameters, 'createVolumePermission', 'add'),
            json_get_json(request_parameters, 'launchPermission', 'add'),
            json_get_json(request_parameters, 'valuesToAdd'),
            json_get_json(request_parameters, 'accountIdsToAdd'),
            -- A bucket policy's allowed principals (statements with a condition are left out),
            -- an ACL's grantees.
            CASE WHEN event_name = 'PutBucketPolicy'
                      AND NOT regexp_like(coalesce(json_get_json(request_parameters, 'bucketPolicy'), ''), '"Condition"')
                      AND regexp_like(coalesce(json_get_json(request_parameters, 'bucketPolicy'), ''), '"Effect"\s*:\s*"Allow"')
                 THEN regexp_replace(
                        coalesce(json_get_json(request_parameters, 'bucketPolicy', 'Statement'), ''),
                        '"(AWS|Principal)"\s*:\s*"\*"', '"all"', 'g') END,
            CASE WHEN event_name = 'PutBucketAcl'
                      AND regexp_like(coalesce(request_parameters, ''), 'acs.amazonaws.com/groups/global/(AllUsers|AuthenticatedUsers)')
                 THEN '"all"' END,
            '') AS added
    FROM cloudtrail_lineage e
    WHERE (event_source = 'ec2.amazonaws.com'
           AND event_name IN ('ModifySnapshotAttribute', 'ModifyImageAttribute'))
       OR (event_source = 'rds.amazonaws.com'
           AND event_name IN ('ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute'))
       OR (event_source = 'ssm.amazonaws.com' AND event_name = 'ModifyDocumentPermission')
       OR (event_source = 's3.amazonaws.com' AND event_name IN ('PutBucketPolicy', 'PutBucketAcl'))
),
judged AS (
    SELECT
        c.*,
        -- Account numbers other than the caller's own, or everyone.
        regexp_replace(added, recipient_account_id, '', 'g') AS others
    FROM calls c
)
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CASE WHEN error_code IS NULL THEN '' ELSE 'attempted (' || error_code || '): ' END
        || coalesce(json_get_str(request_parameters, 'snapshotId'),
                    json_get_str(request_parameters, 'imageId'),
                    json_get_str(request_parameters, 'dBSnapshotIdentifier'),
                    json_get_str(request_parameters, 'dBClusterSnapshotIdentifier'),
                    json_get_str(request_parameters, 'name'),
                    'bucket ' || json_get_str(request_parameters, 'bucketName'), 'a resource')
        || ' shared with '
        || CASE WHEN regexp_like(others, '"all"') THEN 'everyone'
                ELSE 'account ' || regexp_match(others, '[0-9]{12}')[1] END
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM judged e
WHERE regexp_like(others, '[0-9]{12}') OR regexp_like(others, '"all"')

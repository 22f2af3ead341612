-- Paying for someone else's computing, by any principal: instances of the GPU, accelerator or
-- largest kinds launched or attempted (RunInstances, RequestSpotInstances, CreateFleet,
-- launch templates; failures count: the attempt is the signal, often refused for quota), and
-- Bedrock model access switched on (the use-case form, a model agreement, an entitlement):
-- the first steps of LLM hijacking. With credentials that trace back to a Lambda function
-- (`cloudtrail_lineage`), any model invocation counts too, and everything is critical.
WITH calls AS (
    SELECT
        e.*,
        coalesce(
            regexp_match(request_parameters, '"instanceType"\s*:\s*"([a-z0-9-]+\.[a-z0-9]+)"')[1],
            '') AS instance_type,
        coalesce(json_get_str(request_parameters, 'modelId'), '') AS model
    FROM cloudtrail_lineage e
    WHERE (event_source = 'ec2.amazonaws.com' AND event_name IN (
            'RunInstances', 'RequestSpotInstances', 'RequestSpotFleet', 'CreateFleet',
            'CreateLaunchTemplate', 'CreateLaunchTemplateVersion'))
       OR (event_source = 'bedrock.amazonaws.com' AND event_name IN (
            'PutUseCaseForModelAccess', 'CreateFoundationModelAgreement',
            'PutFoundationModelEntitlement', 'InvokeModel', 'InvokeModelWithResponseStream',
            'Converse', 'ConverseStream'))
),
judged AS (
    SELECT
        c.*,
        CASE
            WHEN regexp_like(instance_type, '^(p[0-9]|g[0-9]|inf[0-9]|trn[0-9]|dl[0-9]|f[0-9]|vt[0-9])')
                THEN 'accelerated instances (' || instance_type || ') '
                     || CASE WHEN error_code IS NULL THEN 'launched' ELSE 'attempted' END
            WHEN regexp_like(instance_type, '\.(metal|(2[4-9]|[3-9][0-9]|[1-9][0-9][0-9])xlarge)$')
                THEN 'very large instances (' || instance_type || ') '
                     || CASE WHEN error_code IS NULL THEN 'launched' ELSE 'attempted' END
            WHEN event_name IN ('PutUseCaseForModelAccess', 'CreateFoundationModelAgreement',
                                'PutFoundationModelEntitlement')
                THEN 'Bedrock model access switched on (' || event_name
                     || CASE WHEN model = '' THEN '' ELSE ' ' || model END || ')'
            WHEN event_source = 'bedrock.amazonaws.com' AND origin_function IS NOT NULL
                THEN 'Bedrock model ' || model || ' invoked'
        END AS what
    FROM calls c
)
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CASE WHEN error_code IS NULL THEN '' ELSE '(' || error_code || ') ' END
        || what
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason,
    CASE WHEN origin_function IS NOT NULL THEN 'critical' END AS severity
FROM judged e
WHERE what IS NOT NULL

-- Every CloudTrail event (the columns of `cloudtrail_evidence`) with where its caller's
-- credentials come from: `origin_function` and `origin_role` when the caller is a Lambda
-- function's role (the function is the session's name) or a principal whose credentials trace
-- back to one (`credential_lineage`: its access key, its IAM user or its role, given after the
-- lineage began), and `origin_path`, how. Detectors that judge a call by any principal read
-- this to raise the severity and name the function.
SELECT
    e.*,
    CASE WHEN r.actor_arn IS NOT NULL THEN e.session_name
         ELSE coalesce(lk.origin_function, lu.origin_function, lr.origin_function) END AS origin_function,
    CASE WHEN r.actor_arn IS NOT NULL THEN e.actor_arn
         ELSE coalesce(lk.origin_role, lu.origin_role, lr.origin_role) END AS origin_role,
    CASE WHEN r.actor_arn IS NOT NULL THEN e.session_name || ' (its own role)'
         ELSE coalesce(lk.path, lu.path, lr.path) END AS origin_path
FROM cloudtrail_evidence e
LEFT JOIN lambda_roles r
    ON r.actor_arn = e.actor_arn AND e.user_identity_type = 'AssumedRole'
LEFT JOIN credential_lineage lk
    ON lk.principal = 'key:' || e.user_identity_access_key_id AND e.event_time >= lk.since
LEFT JOIN credential_lineage lu
    ON lu.principal = CASE WHEN e.user_identity_type = 'IAMUser'
                           THEN 'user:' || coalesce(e.user_identity_account_id, e.recipient_account_id)
                                || ':' || e.user_identity_user_name END
   AND e.event_time >= lu.since
LEFT JOIN credential_lineage lr
    ON lr.principal = CASE WHEN e.user_identity_type = 'AssumedRole'
                           THEN 'role:' || split_part(e.actor_arn, ':', 5) || ':'
                                || regexp_replace(e.actor_arn, '^.*/', '') END
   AND e.event_time >= lr.since

-- Changes that blind the defenders: CloudTrail stopped, deleted or narrowed, VPC flow logs
-- deleted, GuardDuty, Config and Security Hub turned off or told to trust an address list,
-- log groups and DNS query logging deleted, the account taken out of its organization (and its
-- guardrails), Access Analyzer, Bedrock invocation logging or WAF logging removed. By any
-- principal: these are rare and each one matters. The function is named when the caller's
-- credentials trace back to one (`cloudtrail_lineage`).
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.* REPLACE (coalesce(origin_function, function_name) AS function_name),
    CASE WHEN error_code IS NULL THEN '' ELSE 'attempted (' || error_code || '): ' END
        || event_source || ' ' || event_name
        || coalesce('; credentials trace to Lambda function ' || origin_function
                    || ' (' || origin_path || ')', '') AS reason
FROM cloudtrail_lineage e
WHERE (event_source = 'cloudtrail.amazonaws.com' AND event_name IN (
        'StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors',
        'PutInsightSelectors', 'DeleteEventDataStore', 'StopEventDataStoreIngestion'))
   OR (event_source = 'ec2.amazonaws.com' AND event_name = 'DeleteFlowLogs')
   OR (event_source = 'guardduty.amazonaws.com' AND event_name IN (
        'DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount',
        'DisassociateFromAdministratorAccount', 'DeleteMembers', 'StopMonitoringMembers',
        'DisassociateMembers', 'DeleteInvitations',
        'CreateIPSet', 'UpdateIPSet', 'DeletePublishingDestination', 'CreateFilter'))
   OR (event_source = 'config.amazonaws.com' AND event_name IN (
        'StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel',
        'DeleteConfigRule'))
   OR (event_source = 'securityhub.amazonaws.com' AND event_name IN (
        'DisableSecurityHub', 'BatchDisableStandards', 'DeleteInsight', 'DeleteMembers',
        'DisassociateMembers'))
   OR (event_source = 'logs.amazonaws.com' AND event_name IN ('DeleteLogGroup', 'DeleteLogStream'))
   OR (event_source = 'route53resolver.amazonaws.com' AND event_name IN (
        'DeleteResolverQueryLogConfig', 'DisassociateResolverQueryLogConfig'))
   OR (event_source = 'organizations.amazonaws.com' AND event_name = 'LeaveOrganization')
   OR (event_source = 'access-analyzer.amazonaws.com' AND event_name = 'DeleteAnalyzer')
   OR (event_source = 'bedrock.amazonaws.com' AND event_name = 'DeleteModelInvocationLoggingConfiguration')
   OR (event_source = 'wafv2.amazonaws.com' AND event_name = 'DeleteLoggingConfiguration')

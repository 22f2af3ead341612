-- Changes that blind the defenders: CloudTrail stopped, deleted or narrowed, VPC flow logs
-- deleted, GuardDuty, Config and Security Hub turned off or told to trust an address list,
-- log groups and DNS query logging deleted. By any principal: these are rare and each one matters.
SELECT
    coalesce(actor_arn, user_identity_arn, 'unknown principal') AS subject,
    e.*,
    CASE WHEN error_code IS NULL THEN '' ELSE 'attempted (' || error_code || '): ' END
        || event_source || ' ' || event_name AS reason
FROM cloudtrail_evidence e
WHERE (event_source = 'cloudtrail.amazonaws.com' AND event_name IN (
        'StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors',
        'PutInsightSelectors', 'DeleteEventDataStore', 'StopEventDataStoreIngestion'))
   OR (event_source = 'ec2.amazonaws.com' AND event_name = 'DeleteFlowLogs')
   OR (event_source = 'guardduty.amazonaws.com' AND event_name IN (
        'DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount',
        'DisassociateFromAdministratorAccount', 'DeleteMembers', 'StopMonitoringMembers',
        'CreateIPSet', 'UpdateIPSet', 'DeletePublishingDestination', 'CreateFilter'))
   OR (event_source = 'config.amazonaws.com' AND event_name IN (
        'StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel'))
   OR (event_source = 'securityhub.amazonaws.com' AND event_name IN (
        'DisableSecurityHub', 'BatchDisableStandards', 'DeleteInsight'))
   OR (event_source = 'logs.amazonaws.com' AND event_name IN ('DeleteLogGroup', 'DeleteLogStream'))
   OR (event_source = 'route53resolver.amazonaws.com' AND event_name IN (
        'DeleteResolverQueryLogConfig', 'DisassociateResolverQueryLogConfig'))

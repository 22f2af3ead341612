//! A burst of discovery calls the function never makes.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::Reconnaissance,
    description: "{function} made a burst of discovery calls it never makes",
    target: Target::Any,
    hour_of_day: None,
    by: By::Function,
    calls: &[
        Call::once(Api::StsGetCallerIdentity, "", Granted::Always),
        Call::once(Api::IamListRoles, "", Granted::IfWide),
        Call::once(Api::IamListUsers, "", Granted::IfWide),
        Call::once(Api::IamListAttachedRolePolicies, "{role}", Granted::IfWide),
        Call::once(Api::LambdaListFunctions, "", Granted::IfWide),
        Call::once(Api::Ec2DescribeInstances, "", Granted::IfWide),
        Call::once(Api::SecretsListSecrets, "", Granted::IfWide),
        Call::once(Api::S3ListBuckets, "", Granted::IfWide),
        Call::once(Api::CloudTrailDescribeTrails, "", Granted::IfWide),
    ],
    step: Step::Every(11_000),
    hours: 0,
    behaviour: false,
    caught_by: &["recon-burst"],
};

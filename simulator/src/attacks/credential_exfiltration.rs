//! The function's session credentials used from outside AWS, with the AWS CLI, while the
//! function is idle: who am I, what buckets are there, then what the function itself does.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::CredentialExfiltration,
    description: "{function}'s session credentials used from {ip} with the AWS CLI while the function was idle",
    target: Target::Any,
    // At night, when the function does not run (it stays idle for that hour).
    hour_of_day: Some(3),
    by: By::Stolen {
        ip: ATTACKER_IPS[0],
        user_agent: ATTACKER_CLI,
    },
    calls: &[
        Call::once(Api::StsGetCallerIdentity, "", Granted::Always),
        Call::once(Api::S3ListBuckets, "", Granted::IfWide),
        Call::Own {
            count: Count::Rounds(1),
            init: true,
        },
    ],
    step: Step::Every(11_000),
    hours: 1,
    behaviour: false,
    caught_by: &["credentials-outside-lambda", "credentials-while-idle"],
};

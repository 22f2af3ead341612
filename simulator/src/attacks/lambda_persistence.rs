//! Stolen credentials make the function public (AddPermission to `*`, a function URL without
//! auth) and add an extension layer of the account's own to it, as Stratus Red Team's
//! `lambda-layer-extension` recording does (an extension runs beside the function's code,
//! with its role).

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::LambdaPersistence,
    description: "{function}'s stolen credentials made a function public (AddPermission to *, a function URL without auth) and added an extension layer to it",
    target: Target::WideRole,
    hour_of_day: None,
    by: By::Stolen {
        ip: ATTACKER_IPS[0],
        user_agent: ATTACKER_SDK,
    },
    calls: &[
        Call::once(Api::LambdaAddPermission, "{function}", Granted::IfWide),
        Call::once(
            Api::LambdaCreateFunctionUrlConfig,
            "{function}",
            Granted::IfWide,
        ),
        Call::once(
            Api::LambdaUpdateFunctionConfiguration,
            "{function}|arn:aws:lambda:us-east-1:123456789012:layer:{function}-extension:1",
            Granted::IfWide,
        ),
    ],
    step: Step::Every(11_000),
    hours: 0,
    behaviour: false,
    caught_by: &["lambda-persistence"],
};

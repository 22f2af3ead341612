//! The function's role passes itself to a new function, changes another function's code,
//! attaches AdministratorAccess to itself and creates a user with an access key.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::PrivilegeEscalation,
    description: "{function}'s role passed itself to a new function, changed another function's code, attached AdministratorAccess to itself and created a user with an access key",
    target: Target::WideRole,
    hour_of_day: None,
    by: By::Function,
    calls: &[
        Call::once(
            Api::LambdaCreateFunction,
            "support-tools-sync|{role_arn}",
            Granted::IfWide,
        ),
        Call::once(
            Api::LambdaUpdateFunctionCode,
            "{other_function}",
            Granted::IfWide,
        ),
        Call::once(Api::IamAttachRolePolicy, "{role}", Granted::IfWide),
        Call::once(Api::IamCreateUser, "support-backup", Granted::IfWide),
        Call::once(Api::IamCreateAccessKey, "support-backup", Granted::IfWide),
    ],
    step: Step::Every(11_000),
    hours: 0,
    behaviour: false,
    caught_by: &["privilege-escalation"],
};

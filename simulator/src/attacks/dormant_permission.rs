//! The function uses permissions its role was granted and never used.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::DormantPermission,
    description: "{function} used permissions its role was granted and never used: dynamodb:Scan and secretsmanager:GetSecretValue on an admin secret",
    target: Target::WideRole,
    hour_of_day: None,
    by: By::Function,
    calls: &[
        Call::once(Api::DynamoScan, "users", Granted::IfWide),
        Call::once(
            Api::SecretsGetSecretValue,
            "prod/admin/root-credentials",
            Granted::IfWide,
        ),
    ],
    step: Step::Every(11_000),
    hours: 0,
    behaviour: false,
    caught_by: &["dormant-permission"],
};

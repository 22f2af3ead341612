//! The function lists the secrets and reads 25 of them in minutes.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::SecretsMassRetrieval,
    description: "{function} listed the secrets and read 25 of them in minutes",
    target: Target::WideRole,
    hour_of_day: None,
    by: By::Function,
    calls: &[
        Call::once(Api::SecretsListSecrets, "", Granted::IfWide),
        Call::Api {
            api: Api::SecretsGetSecretValue,
            resource: "prod/{secret}/credentials",
            granted: Granted::IfWide,
            times: 25,
        },
    ],
    step: Step::Every(6_000),
    hours: 0,
    behaviour: false,
    caught_by: &["secrets-mass-retrieval"],
};

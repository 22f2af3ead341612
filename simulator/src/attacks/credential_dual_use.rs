//! The function's session credentials used from another network while the function runs from
//! AWS: its own calls, six times over, from the attacker's script.

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::CredentialDualUse,
    description: "{function}'s session credentials used from {ip} while the function ran from AWS",
    target: Target::OnDemand,
    hour_of_day: None,
    by: By::Stolen {
        ip: ATTACKER_IPS[1],
        user_agent: ATTACKER_SDK,
    },
    calls: &[Call::Own {
        count: Count::Rounds(6),
        init: false,
    }],
    step: Step::Every(11_000),
    hours: 0,
    behaviour: false,
    caught_by: &["credentials-outside-lambda", "credentials-two-networks"],
};

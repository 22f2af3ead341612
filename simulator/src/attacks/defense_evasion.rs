//! Stolen credentials turn CloudTrail off: event selectors narrowed, logging stopped, the trail
//! deleted.

use super::*;
use crate::account::Api;

pub const ATTACK: Attack = Attack {
    kind: Kind::DefenseEvasion,
    description: "{function}'s stolen credentials turned CloudTrail off: event selectors narrowed, logging stopped, trail deleted",
    target: Target::WideRole,
    hour_of_day: None,
    by: By::Stolen {
        ip: ATTACKER_IPS[1],
        user_agent: ATTACKER_CLI,
    },
    calls: &[
        Call::once(Api::CloudTrailPutEventSelectors, "{trail}", Granted::IfWide),
        Call::once(Api::CloudTrailStopLogging, "{trail}", Granted::IfWide),
        Call::once(Api::CloudTrailDeleteTrail, "{trail}", Granted::IfWide),
    ],
    step: Step::Every(11_000),
    hours: 0,
    behaviour: false,
    caught_by: &["defense-evasion"],
};

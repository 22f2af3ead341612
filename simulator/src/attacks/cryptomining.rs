//! The function runs near its timeout with memory near its limit for three hours.

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::Cryptomining,
    description: "{function} ran near its timeout with memory near its limit for three hours",
    target: Target::Any,
    hour_of_day: Some(1),
    by: By::Invocations,
    calls: &[],
    step: Step::Every(11_000),
    hours: 3,
    behaviour: true,
    caught_by: &["resource-exhaustion", "baseline-resources"],
};

//! The function invoked at its busiest daytime rate at night, for two hours.

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::OddHourActivity,
    description: "{function} invoked at its busiest daytime rate at night, for two hours",
    target: Target::OnDemand,
    hour_of_day: Some(2),
    by: By::Invocations,
    calls: &[],
    step: Step::Every(11_000),
    hours: 2,
    behaviour: true,
    caught_by: &["baseline-off-hours"],
};

//! The function invoked about 25 times its usual rate for an hour.

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::InvocationFlood,
    description: "{function} invoked about 25 times its usual rate for an hour",
    target: Target::OnDemand,
    hour_of_day: None,
    by: By::Invocations,
    calls: &[],
    step: Step::Every(11_000),
    hours: 1,
    behaviour: true,
    caught_by: &["invocation-flood", "baseline-volume"],
};

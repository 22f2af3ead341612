//! Most invocations of the function fail for an hour (and failing callers retry).

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::ErrorStorm,
    description: "most invocations of {function} failed for an hour",
    target: Target::OnDemand,
    hour_of_day: None,
    by: By::Invocations,
    calls: &[],
    step: Step::Every(11_000),
    hours: 1,
    behaviour: true,
    caught_by: &["error-storm", "baseline-failures"],
};

//! Four invocations of a low-volume function fail within an hour (someone probing it with bad
//! input): a handful, in a function that had no failure in its history.

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::ErrorHandful,
    description: "four invocations of {function}, a low-volume function that never fails, failed within an hour",
    target: Target::LowVolume,
    hour_of_day: None,
    by: By::Invocations,
    calls: &[],
    step: Step::Every(11_000),
    hours: 1,
    behaviour: true,
    caught_by: &["baseline-failures"],
};

//! A few invocations of a low-volume function at 02:00, an hour it never runs in (its working
//! hours start at 08:00).

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::QuietHourActivity,
    description: "{function}, which runs from 08:00 to 18:00, invoked a few times at night",
    target: Target::LowVolume,
    hour_of_day: Some(2),
    by: By::Invocations,
    calls: &[],
    step: Step::Every(11_000),
    hours: 1,
    behaviour: true,
    caught_by: &["baseline-off-hours"],
};

//! The function's own code calls its usual APIs hundreds of times in ten minutes (a
//! compromised dependency copying data out through the role).

use super::*;

pub const ATTACK: Attack = Attack {
    kind: Kind::ApiBurst,
    description: "{function}'s own code called its usual APIs {calls} times in ten minutes",
    // Its code must call something.
    target: Target::Calling,
    hour_of_day: None,
    by: By::Function,
    calls: &[Call::Own {
        count: Count::Burst,
        init: false,
    }],
    step: Step::TenMinutes,
    hours: 0,
    behaviour: true,
    caught_by: &["baseline-api"],
};

//! SQL functions registered in every session, one file each.

pub mod iam_action;

/// Register every trailhound UDF on `ctx`.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(iam_action::udf());
}

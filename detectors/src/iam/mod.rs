//! The IAM policy model: the action catalogue, what each principal of an `iam` snapshot may
//! do, and the least-privilege drift report that compares it with what CloudTrail shows it
//! did.

pub mod catalogue;
pub mod drift;
pub mod policy;

//! trailhound's analysis side: a DataFusion session over the lake ([`session`]); later the
//! UDFs, the detector registry and runner, findings, the baseline model and the IAM model.

pub mod error;
pub mod session;

pub use error::{Error, Result};

//! trailhound's analysis side: a DataFusion session over the lake ([`session`]) with
//! trailhound's SQL functions ([`udf`]) and views ([`views`]); later the detector registry and runner, findings, the
//! baseline model and the IAM model.

pub mod error;
pub mod session;
pub mod udf;
pub mod views;

pub use error::{Error, Result};

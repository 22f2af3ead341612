//! trailhound's analysis side: a DataFusion session over the lake ([`session`]) with
//! trailhound's SQL functions ([`udf`]) and views ([`views`]), the detector registry
//! ([`registry`]), its runner ([`runner`]: one detector; [`run`]: a set of them, the way every
//! command and the watch run them) and golden tests ([`golden`]), findings
//! ([`finding`], [`store`]) grouped into intrusions ([`incident`]) and their evaluation
//! against labelled attacks and real recordings ([`eval`]), the
//! behaviour baseline ([`baseline`]), the IAM policy model ([`iam`]) and the reports for people
//! rendered from them ([`report`]).

pub mod baseline;
pub mod cluster;
pub mod error;
pub mod eval;
pub mod finding;
pub mod golden;
pub mod iam;
pub mod incident;
pub mod incremental;
pub mod registry;
pub mod report;
pub mod run;
pub mod runner;
pub mod s3store;
pub mod session;
pub mod store;
pub mod udf;
pub mod views;

pub use error::{Error, Result};

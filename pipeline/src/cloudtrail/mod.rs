//! CloudTrail records: parsing every input shape ([`reader`]), the lenient record type
//! ([`record`]), a fast parser for the common case ([`fast`]), the `cloudtrail` table's Arrow
//! schema and column builders ([`table`]), and the ingest from files and S3 ([`ingest`]).

pub mod fast;
pub mod ingest;
pub mod reader;
pub mod record;
pub mod table;

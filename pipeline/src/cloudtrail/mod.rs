//! CloudTrail records: parsing every input shape ([`reader`]), the lenient record type
//! ([`record`]), a fast parser for the common case ([`fast`]) and the `cloudtrail` table's Arrow schema and column builders ([`table`]).

pub mod fast;
pub mod reader;
pub mod record;
pub mod table;

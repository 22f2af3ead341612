//! CloudTrail records: parsing every input shape ([`reader`]), the lenient record type
//! ([`record`]) and the `cloudtrail` table's Arrow schema and column builders ([`table`]).

pub mod reader;
pub mod record;
pub mod table;

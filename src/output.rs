//! Writing query results as a table, JSON, NDJSON or CSV.

use std::io::Write;

use arrow::array::RecordBatch;

use crate::cli::Format;

pub fn write_batches(
    out: &mut dyn Write,
    batches: &[RecordBatch],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Csv => {
            let mut w = arrow::csv::Writer::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

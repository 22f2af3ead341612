//! Writing query results as a table, JSON, NDJSON, CSV or Parquet.

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
        Format::Parquet => {
            let Some(first) = batches.first() else {
                return Ok(());
            };
            // The writer needs a Send sink: encode into memory, then write.
            let mut bytes = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, first.schema(), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
            out.write_all(&bytes)?;
        }
    }
    out.flush()?;
    Ok(())
}

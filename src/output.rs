//! Writing query results and findings as a table, JSON, NDJSON, CSV or Parquet.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use detectors::finding::Finding;
use pipeline::lake::Lake;

use crate::cli::{Format, UsageError};

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

/// `--format`, or its default: a table on a terminal, NDJSON on a pipe or into `--out`.
pub fn findings_format(format: Option<Format>, out: Option<&Path>) -> anyhow::Result<Format> {
    let format = format.unwrap_or(if out.is_none() && std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Ndjson
    });
    if format == Format::Parquet && out.is_none() {
        return Err(UsageError("--format parquet needs --out FILE".into()).into());
    }
    Ok(format)
}

/// What was done with the new findings, for the closing line.
pub fn stored_text(lake: &Lake, stored: usize, no_write: bool) -> String {
    if no_write {
        "not written".to_string()
    } else {
        format!("{stored} new in {}/findings", lake.uri())
    }
}

/// Findings in `format` into `out`, or onto stdout.
pub fn emit_findings(
    out: Option<&Path>,
    findings: &[Finding],
    format: Format,
) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            write_findings(&mut file, findings, format)
        }
        None => write_findings(&mut std::io::stdout().lock(), findings, format),
    }
}

fn table_batch(findings: &[Finding]) -> anyhow::Result<RecordBatch> {
    let col = |f: &dyn Fn(&Finding) -> String| -> ArrayRef {
        Arc::new(findings.iter().map(|x| Some(f(x))).collect::<StringArray>())
    };
    Ok(RecordBatch::try_from_iter(vec![
        ("severity", col(&|f| f.severity.caption().to_string())),
        ("detector", col(&|f| f.detector_id.clone())),
        (
            "first seen (UTC)",
            col(&|f| {
                pipeline::time::rfc3339_millis(f.first_seen / 1000)
                    .map(|s| s[..19].replace('T', " "))
                    .unwrap_or_default()
            }),
        ),
        ("who", col(&|f| f.who())),
        ("what", col(&|f| truncate(&f.what(), 110))),
    ])?)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Findings in `format`: OCSF objects for json/ndjson, the findings table's columns for csv
/// and parquet, a short table for people.
pub fn write_findings(
    out: &mut dyn Write,
    findings: &[Finding],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            if findings.is_empty() {
                writeln!(out, "no findings")?;
            } else {
                write_batches(out, &[table_batch(findings)?], Format::Table)?;
            }
        }
        Format::Json => {
            let all: Vec<_> = findings.iter().map(Finding::to_ocsf).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            for f in findings {
                serde_json::to_writer(&mut *out, &f.to_ocsf())?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            let mut batch = detectors::finding::to_batch(findings)?;
            // The whole OCSF object does not belong in a spreadsheet cell.
            batch.remove_column(batch.num_columns() - 1);
            write_batches(out, &[batch], Format::Csv)?;
        }
        Format::Parquet => {
            let batch = detectors::finding::to_batch(findings)?;
            write_batches(out, &[batch], Format::Parquet)?;
        }
    }
    out.flush()?;
    Ok(())
}

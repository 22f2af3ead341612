//! `_quarantine`: input that could not be ingested, kept with the reason.
//!
//! Bad records go to NDJSON files, `_quarantine/<table>/<run>-<segment>-w<worker>.ndjson`,
//! one line each: the source URI, the record's index and byte offset, the reason, and the
//! record's text (`raw`, or `raw_base64` when it is not UTF-8). Whole objects that are not
//! events at all are copied under `_quarantine/<table>/objects/`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use base64::Engine;
use serde::Serialize;

use crate::{Error, Result};

/// One quarantined record.
#[derive(Debug, Serialize)]
pub struct QuarantineRecord<'a> {
    pub source_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_offset: Option<u64>,
    pub reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<&'a str>,
    pub run: &'a str,
}

impl<'a> QuarantineRecord<'a> {
    /// A record with its raw bytes, as text when they are UTF-8.
    pub fn with_raw(mut self, raw: &'a [u8]) -> Self {
        if raw.is_empty() {
            return self;
        }
        match std::str::from_utf8(raw) {
            Ok(s) => self.raw = Some(s),
            Err(_) => self.raw_base64 = Some(base64::engine::general_purpose::STANDARD.encode(raw)),
        }
        self
    }
}

/// A staged quarantine file, created on first use.
pub struct QuarantineWriter {
    staged: PathBuf,
    rel: String,
    out: Option<BufWriter<File>>,
    lines: u64,
}

impl QuarantineWriter {
    pub fn new(staged: PathBuf, rel: String) -> Self {
        QuarantineWriter {
            staged,
            rel,
            out: None,
            lines: 0,
        }
    }

    pub fn write(&mut self, rec: &QuarantineRecord<'_>) -> Result<()> {
        if self.out.is_none() {
            if let Some(dir) = self.staged.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io("creating directory", dir, e))?;
            }
            let f =
                File::create(&self.staged).map_err(|e| Error::io("creating", &self.staged, e))?;
            self.out = Some(BufWriter::new(f));
        }
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, rec)
            .map_err(|e| Error::io("writing", &self.staged, std::io::Error::other(e)))?;
        out.write_all(b"\n")
            .map_err(|e| Error::io("writing", &self.staged, e))?;
        self.lines += 1;
        Ok(())
    }

    /// Close the file; `(staged path, lake-relative path)` when anything was written.
    pub fn finish(self) -> Result<Option<(PathBuf, String)>> {
        match self.out {
            None => Ok(None),
            Some(mut out) => {
                out.flush()
                    .map_err(|e| Error::io("writing", &self.staged, e))?;
                Ok(Some((self.staged, self.rel)))
            }
        }
    }
}

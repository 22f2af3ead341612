//! The partitioned Parquet writer: rows are routed to an `account_id`/`region`/`dt`
//! partition, buffered in Arrow builders, and written as zstd Parquet files staged for commit.
//!
//! Memory is bounded whatever the input: each writer has a byte budget for its builders and
//! the row groups being encoded, and a cap on open files. Past the budget the largest buffer
//! is written out; past the cap the least recently used file is closed (a partition that
//! receives more rows later simply gets another file).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::Lake;
use crate::time::date_string;
use crate::{Error, Result};

/// Builds record batches for one table.
pub trait BatchBuilder {
    fn new(capacity: usize) -> Self;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn memory_bytes(&self) -> usize;
    fn finish(&mut self) -> std::result::Result<RecordBatch, arrow::error::ArrowError>;
}

/// Parquet settings for a lake table: zstd, row-group statistics and bloom filters on the
/// columns named, dictionaries only where values repeat.
pub fn writer_properties(
    no_dictionary: &[&str],
    statistics: &[&str],
    bloom_filters: &[&str],
    zstd_level: i32,
) -> WriterProperties {
    let level = ZstdLevel::try_new(zstd_level).unwrap_or_default();
    // Row-group (chunk) statistics on the columns named; a page index costs encoding time
    // for little gain on data that is not sorted within a file.
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_created_by(format!("trailhound {}", env!("CARGO_PKG_VERSION")));
    for col in no_dictionary {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*col), false);
    }
    for col in statistics {
        b = b.set_column_statistics_enabled(ColumnPath::from(*col), EnabledStatistics::Chunk);
    }
    // A bloom filter lets a lookup of a few values (an access key, an event id: what an
    // evidence join asks for) skip the row groups that do not hold them. Sized for a row
    // group of distinct values and folded down to what was written.
    for col in bloom_filters {
        b = b
            .set_column_bloom_filter_enabled(ColumnPath::from(*col), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*col), 0.01)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(*col), 128 * 1024);
    }
    b.build()
}

/// Columns of a file written whole ([`Output::props_for_batch`]) up to this many bytes in
/// memory are stored uncompressed.
const SMALL_COLUMN_BYTES: usize = 4096;

/// A finished data file waiting for commit.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub staged: PathBuf,
    pub rel: String,
    pub rows: u64,
}

/// Limits of a [`PartitionedWriter`].
#[derive(Debug, Clone, Copy)]
pub struct WriterLimits {
    /// Rows buffered per partition before they are encoded.
    pub batch_rows: usize,
    /// Bytes of builders and in-progress row groups this writer may hold.
    pub budget_bytes: usize,
    /// Files open at once.
    pub max_open_files: usize,
}

impl Default for WriterLimits {
    fn default() -> Self {
        WriterLimits {
            batch_rows: 8 * 1024,
            budget_bytes: 128 << 20,
            max_open_files: 32,
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
struct PartKey {
    account: String,
    region: String,
    day: i64,
}

struct Part<B> {
    key: PartKey,
    builder: B,
    file: Option<(ArrowWriter<File>, StagedFile)>,
    last_used: u64,
}

/// Where and how a writer's files are made.
struct Output {
    lake: Lake,
    table: &'static str,
    schema: SchemaRef,
    props: Arc<WriterProperties>,
    /// File names start with this (`part-<run>-<segment>-w<worker>`).
    file_prefix: String,
    next_file: u32,
    /// Columns each written batch is sorted by (none: rows in arrival order).
    sort_by: &'static [&'static str],
}

/// `batch` with its rows ordered by `columns` (nulls last), those missing from it ignored.
fn sort_batch(
    batch: RecordBatch,
    columns: &[&str],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
    let keys: Vec<SortColumn> = columns
        .iter()
        .filter_map(|c| batch.column_by_name(c))
        .map(|values| SortColumn {
            values: values.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    if keys.is_empty() || batch.num_rows() < 2 {
        return Ok(batch);
    }
    let order = lexsort_to_indices(&keys, None)?;
    take_record_batch(&batch, &order)
}

impl Output {
    /// The settings of a file that will hold `batch` and no more: its bloom filters sized for
    /// that many values rather than a row group's worth, and its small columns uncompressed.
    /// A run over an organization's trail writes thousands of small files: a filter sized
    /// for 128 Ki values is a quarter of a MiB per column to allocate, fill and fold down
    /// again in each of them, and each compressed column makes a zstd compression and
    /// decompression context, whose creation asks the CPU for its features (`cpuid`, which in
    /// a virtual machine traps to the hypervisor: a quarter of such a run's time went there).
    /// A column of a few KiB gains next to nothing from zstd.
    fn props_for_batch(&self, batch: &RecordBatch) -> WriterProperties {
        let ndv = (batch.num_rows() as u64).max(64);
        let mut b = (*self.props).clone().into_builder();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            let col = ColumnPath::from(field.name().as_str());
            if self
                .props
                .bloom_filter_properties(&col)
                .is_some_and(|p| p.ndv() > ndv)
            {
                b = b.set_column_bloom_filter_max_ndv(col.clone(), ndv);
            }
            if !field.data_type().is_nested()
                && column
                    .to_data()
                    .get_slice_memory_size()
                    .unwrap_or(usize::MAX)
                    <= SMALL_COLUMN_BYTES
            {
                b = b.set_column_compression(col, Compression::UNCOMPRESSED);
            }
        }
        b.build()
    }

    /// Encode a partition's buffered rows into its file, opening the file on first use.
    /// `last`: no more rows will follow into this file (it is closed next).
    fn write_batch<B: BatchBuilder>(&mut self, part: &mut Part<B>, last: bool) -> Result<()> {
        let batch = sort_batch(part.builder.finish()?, self.sort_by)?;
        if part.file.is_none() {
            let rel = format!(
                "{}/account_id={}/region={}/dt={}/{}-{}.parquet",
                self.table,
                part.key.account,
                part.key.region,
                date_string(part.key.day),
                self.file_prefix,
                self.next_file
            );
            self.next_file += 1;
            let staged = self.lake.staging_path(&rel);
            if let Some(dir) = staged.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io("creating directory", dir, e))?;
            }
            let f = File::create(&staged).map_err(|e| Error::io("creating", &staged, e))?;
            let props = if last {
                self.props_for_batch(&batch)
            } else {
                (*self.props).clone()
            };
            let w = ArrowWriter::try_new(f, self.schema.clone(), Some(props))
                .map_err(|e| parquet_err(&rel, e))?;
            part.file = Some((
                w,
                StagedFile {
                    staged,
                    rel,
                    rows: 0,
                },
            ));
        }
        let (w, staged) = part.file.as_mut().expect("opened above");
        w.write(&batch).map_err(|e| parquet_err(&staged.rel, e))
    }
}

fn parquet_err(rel: &str, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: rel.to_string(),
        source,
    }
}

/// Writes one table's rows into partition files, for one worker of one commit segment.
pub struct PartitionedWriter<B> {
    out: Output,
    limits: WriterLimits,
    parts: Vec<Part<B>>,
    last: usize,
    tick: u64,
    done: Vec<StagedFile>,
}

impl<B: BatchBuilder> PartitionedWriter<B> {
    pub fn new(
        lake: Lake,
        table: &'static str,
        schema: SchemaRef,
        props: Arc<WriterProperties>,
        file_prefix: String,
        limits: WriterLimits,
    ) -> Self {
        PartitionedWriter {
            out: Output {
                lake,
                table,
                schema,
                props,
                file_prefix,
                next_file: 0,
                sort_by: &[],
            },
            limits,
            parts: Vec::new(),
            last: 0,
            tick: 0,
            done: Vec::new(),
        }
    }

    /// Sort the rows of each batch written by these columns. Rows of one kind then sit
    /// together in a row group, so that a query for a few kinds (a handful of API names out of
    /// hundreds) decodes only the pages that hold them, not every page of every column it reads.
    pub fn sorted_by(mut self, columns: &'static [&'static str]) -> Self {
        self.out.sort_by = columns;
        self
    }

    /// The builder of a partition (values already path-safe), created on first use.
    pub fn builder(&mut self, account: &str, region: &str, day: i64) -> Result<&mut B> {
        self.tick += 1;
        let hit =
            |p: &Part<B>| p.key.day == day && p.key.account == account && p.key.region == region;
        let idx = if self.parts.get(self.last).is_some_and(hit) {
            self.last
        } else if let Some(i) = self.parts.iter().position(hit) {
            i
        } else {
            if self.parts.len() >= self.limits.max_open_files {
                self.evict_lru()?;
            }
            self.parts.push(Part {
                key: PartKey {
                    account: account.to_string(),
                    region: region.to_string(),
                    day,
                },
                builder: B::new(self.limits.batch_rows),
                file: None,
                last_used: 0,
            });
            self.parts.len() - 1
        };
        self.last = idx;
        let part = &mut self.parts[idx];
        part.last_used = self.tick;
        if part.builder.len() >= self.limits.batch_rows {
            self.out.write_batch(part, false)?;
        }
        Ok(&mut part.builder)
    }

    /// Keep memory within the budget; call between source objects.
    pub fn enforce_budget(&mut self) -> Result<()> {
        loop {
            let usage = |p: &Part<B>| {
                let encoding = p.file.as_ref().map_or(0, |(w, _)| w.memory_size());
                (p.builder.memory_bytes(), encoding)
            };
            let total: usize = self
                .parts
                .iter()
                .map(|p| {
                    let (builder, encoding) = usage(p);
                    builder + encoding
                })
                .sum();
            if total <= self.limits.budget_bytes {
                return Ok(());
            }
            let Some(part) = self.parts.iter_mut().max_by_key(|p| {
                let (b, e) = usage(p);
                b.max(e)
            }) else {
                return Ok(());
            };
            let (builder_bytes, encoding) = usage(part);
            if builder_bytes >= encoding && part.builder.len() > 0 {
                self.out.write_batch(part, false)?;
            } else if let Some((w, staged)) = part.file.as_mut() {
                w.flush().map_err(|e| parquet_err(&staged.rel, e))?;
            } else {
                return Ok(());
            }
        }
    }

    fn evict_lru(&mut self) -> Result<()> {
        let Some(idx) = (0..self.parts.len()).min_by_key(|&i| self.parts[i].last_used) else {
            return Ok(());
        };
        let mut part = self.parts.swap_remove(idx);
        self.close_part(&mut part)?;
        self.last = 0;
        Ok(())
    }

    fn close_part(&mut self, part: &mut Part<B>) -> Result<()> {
        if part.builder.len() > 0 {
            self.out.write_batch(part, true)?;
        }
        if let Some((w, mut staged)) = part.file.take() {
            let meta = w.close().map_err(|e| parquet_err(&staged.rel, e))?;
            staged.rows = meta.file_metadata().num_rows() as u64;
            self.done.push(staged);
        }
        Ok(())
    }

    /// Write everything buffered and close every file; the files to commit.
    pub fn finish(mut self) -> Result<Vec<StagedFile>> {
        let mut parts = std::mem::take(&mut self.parts);
        for part in &mut parts {
            self.close_part(part)?;
        }
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::file::properties::ReaderProperties;
    use parquet::file::reader::FileReader;
    use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};

    /// One string column, `id`.
    struct Ids(StringBuilder);

    impl BatchBuilder for Ids {
        fn new(_capacity: usize) -> Self {
            Ids(StringBuilder::new())
        }
        fn len(&self) -> usize {
            arrow::array::ArrayBuilder::len(&self.0)
        }
        fn memory_bytes(&self) -> usize {
            self.len() * 16
        }
        fn finish(&mut self) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
            let ids: ArrayRef = Arc::new(self.0.finish());
            RecordBatch::try_new(schema(), vec![ids])
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, true)]))
    }

    /// A file written whole at close (as each of an organization trail's many small
    /// partitions is) gets a bloom filter sized for its rows that still holds every value
    /// written, and rejects values it does not hold at about the rate asked for.
    #[test]
    fn a_small_files_bloom_filter_holds_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), None).unwrap();
        let props = writer_properties(&[], &[], &["id"], 3);
        let mut w: PartitionedWriter<Ids> = PartitionedWriter::new(
            lake,
            "t",
            schema(),
            Arc::new(props),
            "part-test".into(),
            WriterLimits::default(),
        );
        let written: Vec<String> = (0..300).map(|i| format!("event-{i:05}")).collect();
        for id in &written {
            w.builder("123456789012", "us-east-1", 20_000)
                .unwrap()
                .0
                .append_value(id);
        }
        let files = w.finish().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].rows, 300);
        let options = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let reader =
            SerializedFileReader::new_with_options(File::open(&files[0].staged).unwrap(), options)
                .unwrap();
        let rg = reader.get_row_group(0).unwrap();
        let bloom = rg.get_column_bloom_filter(0).expect("a bloom filter on id");
        for id in &written {
            assert!(bloom.check(id.as_str()), "{id} missing from the filter");
        }
        let false_positives = (0..10_000)
            .filter(|i| bloom.check(format!("other-{i:05}").as_str()))
            .count();
        assert!(false_positives < 300, "{false_positives} of 10,000");
        // 300 values at 1%: a few hundred bytes, not a filter for 128 Ki values.
        assert!(
            bloom.num_blocks() * 32 <= 4096,
            "{} blocks",
            bloom.num_blocks()
        );
    }

    /// A file written whole keeps zstd for columns worth compressing and stores a column of a
    /// few KiB uncompressed; both read back.
    #[test]
    fn small_columns_of_a_small_file_are_stored_uncompressed() {
        use parquet::record::RowAccessor;
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), None).unwrap();
        let props = writer_properties(&[], &[], &[], 1);
        let write = |n: usize| {
            let mut w: PartitionedWriter<Ids> = PartitionedWriter::new(
                lake.clone(),
                "t",
                schema(),
                Arc::new(props.clone()),
                format!("part-{n}"),
                WriterLimits::default(),
            );
            for i in 0..n {
                w.builder("123456789012", "us-east-1", 20_000)
                    .unwrap()
                    .0
                    .append_value(format!("{i:08}-an-identifier-of-some-length"));
            }
            let files = w.finish().unwrap();
            let reader = SerializedFileReader::new(File::open(&files[0].staged).unwrap()).unwrap();
            let codec = reader.metadata().row_group(0).column(0).compression();
            let ids: Vec<String> = reader
                .get_row_iter(None)
                .unwrap()
                .map(|r| r.unwrap().get_string(0).unwrap().clone())
                .collect();
            assert_eq!(ids.len(), n);
            assert_eq!(
                ids[n - 1],
                format!("{:08}-an-identifier-of-some-length", n - 1)
            );
            codec
        };
        assert_eq!(write(40), Compression::UNCOMPRESSED);
        assert!(matches!(write(2000), Compression::ZSTD(_)));
    }
}

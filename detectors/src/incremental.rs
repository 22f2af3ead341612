//! Detection over a lake that keeps growing (the streaming watch): each poll reads only what
//! changed, so its time and memory follow the rate of new events, not the size of the lake.
//!
//! - The shared views that hold history ([`MERGED`]: first use of each API, the addresses a
//!   role's runtime calls come from, invocations per function and hour, durations) are kept in
//!   memory and brought up to date from the files committed since the last poll: the view is
//!   computed over those files alone and merged with what it held (sums added, minima and
//!   maxima kept, bit sets OR-ed), which gives the same rows as computing it over the whole
//!   lake.
//! - The detectors then run in a session whose raw tables (`cloudtrail`, `lambda_invocations`)
//!   start shortly before the new events: each detector's `window` (how far back from an event
//!   its SQL reads other events) before the oldest of them; the merged views stand for the rest.
//!
//! A file is counted once: by its path while it is listed, and a compaction's merged file
//! (whose rows are those of the files it replaced) never. The watch lets compaction merge only
//! files already counted ([`History::is_counted`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionContext, col, lit};
use datafusion::scalar::ScalarValue;
use pipeline::lake::Lake;
use pipeline::lake::manifest::{ManifestIndex, commit_of};

use crate::views::View;
use crate::{Error, Result};

/// How the rows of a view computed over separate sets of events combine: the columns added
/// up, kept at their least and at their greatest; the other columns are the key.
pub struct Merge {
    pub view: &'static str,
    pub sums: &'static [&'static str],
    pub mins: &'static [&'static str],
    pub maxes: &'static [&'static str],
    /// Bit sets (a BIGINT's bits), combined by a bitwise OR.
    pub ors: &'static [&'static str],
}

/// The shared views the watch keeps up to date instead of recomputing them.
pub const MERGED: &[Merge] = &[
    Merge {
        view: "lambda_runtime_calls",
        sums: &["calls"],
        mins: &["first_seen"],
        maxes: &["last_seen"],
        ors: &[],
    },
    Merge {
        view: "api_first_use",
        sums: &[],
        mins: &["first_time", "first_success"],
        maxes: &[],
        ors: &[],
    },
    Merge {
        view: "lambda_hourly",
        sums: &["invocations", "failures"],
        mins: &["runs_from"],
        maxes: &["runs_to"],
        ors: &["running"],
    },
    Merge {
        view: "lambda_durations",
        sums: &["invocations"],
        mins: &[],
        maxes: &[],
        ors: &[],
    },
    Merge {
        // One row per grant: the same rows from any set of files, so merging is a union.
        view: "credential_grants",
        sums: &[],
        mins: &[],
        maxes: &[],
        ors: &[],
    },
    Merge {
        view: "daily_calls",
        sums: &["calls"],
        mins: &[],
        maxes: &[],
        ors: &[],
    },
];

/// The raw tables read incrementally: name, the manifest table their commits are recorded
/// under, and the time column a session's lower bound applies to.
const RAW: &[(&str, &str, &str)] = &[
    ("cloudtrail", "cloudtrail", "event_time"),
    (
        pipeline::lambda::ingest::INVOCATIONS_TABLE,
        pipeline::lambda::ingest::MANIFEST,
        "start_time",
    ),
];

fn query_err(
    context: impl Into<String>,
) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
    let context = context.into();
    move |source| Error::Query { context, source }
}

/// New files per table that one pass of [`History::update`] reads.
const UPDATE_CHUNK_FILES: usize = 128;

/// What one [`History::update`] found.
#[derive(Debug, Default, Clone)]
pub struct Update {
    /// Files committed since the last update (all of them on the first).
    pub new_files: usize,
    /// Rows in them (of the raw tables).
    pub new_rows: u64,
    /// The earliest event time among their rows (µs).
    pub fresh_from: Option<i64>,
    pub seconds: f64,
}

/// The merged views and the files they have counted.
pub struct History {
    views: Vec<View>,
    /// Per raw table, the files counted (paths relative to the lake).
    counted: BTreeMap<&'static str, HashSet<String>>,
    /// Per merged view, its rows.
    state: BTreeMap<&'static str, (SchemaRef, Vec<RecordBatch>)>,
}

impl History {
    /// Nothing counted yet: the first [`History::update`] reads the whole lake.
    pub fn new(views: &[View]) -> Self {
        History {
            views: views.to_vec(),
            counted: BTreeMap::new(),
            state: BTreeMap::new(),
        }
    }

    /// Whether the data file at `rel` has been counted (compaction may merge it).
    pub fn is_counted(&self, rel: &str) -> bool {
        self.counted.values().any(|files| files.contains(rel))
    }

    /// Rows held by the merged views (they grow with roles, APIs, functions and hours, not
    /// with events).
    pub fn state_rows(&self) -> usize {
        self.state
            .values()
            .flat_map(|(_, b)| b.iter().map(|b| b.num_rows()))
            .sum()
    }

    /// The rows a merged view holds now.
    pub fn rows(&self, view: &str) -> Option<&[RecordBatch]> {
        self.state.get(view).map(|(_, b)| b.as_slice())
    }

    /// Count the files committed since the last update into the merged views.
    pub async fn update(
        &mut self,
        lake: &Lake,
        sdk: Option<&aws_config::SdkConfig>,
        runtime: &Arc<RuntimeEnv>,
    ) -> Result<Update> {
        let started = Instant::now();
        let mut new: Vec<(&'static str, Vec<String>)> = Vec::new();
        let mut listed: BTreeMap<&'static str, HashSet<String>> = BTreeMap::new();
        for (table, manifest, _) in RAW {
            let index = ManifestIndex::load(lake, manifest).await?;
            let counted = self.counted.get(table);
            let mut files = HashSet::new();
            let mut fresh = Vec::new();
            for rel in lake.list(&format!("{table}/")).await? {
                let name = rel.rsplit('/').next().unwrap_or(&rel);
                let committed = name.ends_with(".parquet")
                    && commit_of(name).is_some_and(|c| index.is_committed(&c))
                    && !index.is_replaced(&rel);
                if !committed {
                    continue;
                }
                if !counted.is_some_and(|c| c.contains(&rel))
                    && !pipeline::lake::compact::is_merged(name)
                {
                    fresh.push(rel.clone());
                }
                files.insert(rel);
            }
            listed.insert(table, files);
            new.push((table, fresh));
        }
        let mut update = Update {
            new_files: new.iter().map(|(_, f)| f.len()).sum(),
            ..Update::default()
        };
        // The new files a few hundred at a time: the first update of a big lake (the first
        // poll of a watch, the first daily `detect`) then takes the memory of a chunk, not of
        // every file scanned at once; merging chunks gives the rows of one pass.
        let chunks = new
            .iter()
            .map(|(_, files)| files.len().div_ceil(UPDATE_CHUNK_FILES))
            .max()
            .unwrap_or(0)
            .max(usize::from(self.state.is_empty()));
        for chunk in 0..chunks {
            let new: Vec<(&'static str, Vec<String>)> = new
                .iter()
                .map(|(table, files)| {
                    let from = (chunk * UPDATE_CHUNK_FILES).min(files.len());
                    let to = (from + UPDATE_CHUNK_FILES).min(files.len());
                    (*table, files[from..to].to_vec())
                })
                .collect();
            let ctx = self.delta_session(lake, sdk, runtime, &new).await?;
            for (table, files) in &new {
                if files.is_empty() {
                    continue;
                }
                let time = RAW
                    .iter()
                    .find(|(t, _, _)| t == table)
                    .map_or("event_time", |(_, _, c)| *c);
                let sql = format!("SELECT count(*), CAST(min({time}) AS BIGINT) FROM {table}");
                let batches = crate::session::run_sql(&ctx, &sql).await?;
                if let Some(b) = batches.first().filter(|b| b.num_rows() > 0) {
                    let rows =
                        arrow::compute::cast(b.column(0), &DataType::Int64).map_err(|e| {
                            query_err(format!("counting new rows of {table}"))(e.into())
                        })?;
                    let rows = rows.as_any().downcast_ref::<arrow::array::Int64Array>();
                    update.new_rows += rows.map_or(0, |a| a.value(0) as u64);
                    let min = b
                        .column(1)
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .filter(|a| !a.is_null(0))
                        .map(|a| a.value(0));
                    update.fresh_from = match (update.fresh_from, min) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            for merge in MERGED {
                let df = ctx
                    .table(merge.view)
                    .await
                    .map_err(query_err(format!("view {} over the new files", merge.view)))?;
                let schema = Arc::new(df.schema().as_arrow().clone());
                let batches = df
                    .collect()
                    .await
                    .map_err(query_err(format!("view {} over the new files", merge.view)))?;
                let merged = match self.state.remove(merge.view) {
                    Some((old_schema, old)) => {
                        combine(runtime, merge, (old_schema, old), (schema, batches)).await?
                    }
                    None => (schema, batches),
                };
                self.state.insert(merge.view, merged);
            }
        }
        self.counted = listed;
        update.seconds = started.elapsed().as_secs_f64();
        Ok(update)
    }

    /// A session over the new files alone, with the views registered over them.
    async fn delta_session(
        &self,
        lake: &Lake,
        sdk: Option<&aws_config::SdkConfig>,
        runtime: &Arc<RuntimeEnv>,
        new: &[(&'static str, Vec<String>)],
    ) -> Result<SessionContext> {
        let ctx = crate::session::open_tables(
            lake,
            sdk,
            Some(runtime.clone()),
            &crate::cluster::Engine::Local,
        )
        .await?;
        let partitions = pipeline::cloudtrail::table::PARTITION_COLUMNS;
        for (table, files) in new {
            let err = || query_err(format!("the new files of {table}"));
            let schema = crate::session::file_schema(table)
                .ok_or_else(|| Error::Usage(format!("no schema for lake table {table}")))?;
            // The files of each partition directory, with its values as columns (the way the
            // lake's listing tables read them).
            let mut by_dir: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
            for rel in files {
                by_dir
                    .entry(rel.rsplit_once('/').map_or("", |(d, _)| d))
                    .or_default()
                    .push(rel);
            }
            let mut frames: Option<datafusion::dataframe::DataFrame> = None;
            for (dir, files) in by_dir {
                let urls = files
                    .iter()
                    .map(|rel| {
                        let url = lake.file_url(rel);
                        ListingTableUrl::parse(&url).map_err(query_err(format!("file {url}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet");
                let config = ListingTableConfig::new_with_multi_paths(urls)
                    .with_listing_options(options)
                    .with_schema(schema.clone());
                let provider = ListingTable::try_new(config).map_err(err())?;
                let mut df = ctx.read_table(Arc::new(provider)).map_err(err())?;
                for column in partitions {
                    let value = dir
                        .split('/')
                        .find_map(|part| part.strip_prefix(column)?.strip_prefix('='))
                        .unwrap_or_default();
                    df = df.with_column(column, lit(value)).map_err(err())?;
                }
                frames = Some(match frames {
                    Some(all) => all.union(df).map_err(err())?,
                    None => df,
                });
            }
            let provider: Arc<dyn datafusion::datasource::TableProvider> = match frames {
                Some(df) => df.into_view(),
                None => {
                    let mut fields: Vec<arrow::datatypes::Field> =
                        schema.fields().iter().map(|f| f.as_ref().clone()).collect();
                    fields.extend(
                        partitions
                            .iter()
                            .map(|c| arrow::datatypes::Field::new(*c, DataType::Utf8, true)),
                    );
                    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
                    Arc::new(MemTable::try_new(schema, vec![vec![]]).map_err(err())?)
                }
            };
            ctx.deregister_table(*table).map_err(err())?;
            ctx.register_table(*table, provider).map_err(err())?;
        }
        crate::views::register(&ctx, &self.views).await?;
        Ok(ctx)
    }

    /// A session for the detectors: the raw tables from `since` on (all of them without it;
    /// their `dt` partitions before its day are not even listed), the merged views over the
    /// whole lake, the other views over those tables and views.
    pub async fn session(
        &self,
        lake: &Lake,
        sdk: Option<&aws_config::SdkConfig>,
        runtime: &Arc<RuntimeEnv>,
        since: Option<i64>,
    ) -> Result<SessionContext> {
        self.session_by_table(lake, sdk, runtime, &|_| since).await
    }

    /// [`History::session`] with each raw table read from its own time (`since(table)`).
    pub async fn session_by_table(
        &self,
        lake: &Lake,
        sdk: Option<&aws_config::SdkConfig>,
        runtime: &Arc<RuntimeEnv>,
        since: &(dyn Fn(&str) -> Option<i64> + Sync),
    ) -> Result<SessionContext> {
        let ctx = crate::session::open_tables(
            lake,
            sdk,
            Some(runtime.clone()),
            &crate::cluster::Engine::Local,
        )
        .await?;
        for (table, _, time) in RAW {
            if let Some(since) = since(table) {
                let day = chrono::DateTime::from_timestamp_micros(since)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                let err = || query_err(format!("table {table} from {day}"));
                let df = ctx.table(*table).await.map_err(err())?;
                let tz = match df
                    .schema()
                    .field_with_unqualified_name(time)
                    .map_err(err())?
                    .data_type()
                {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                let bound = lit(ScalarValue::TimestampMicrosecond(Some(since), tz));
                let df = df
                    .filter(
                        col(*time)
                            .gt_eq(bound)
                            .and(col("dt").gt_eq(lit(day.clone()))),
                    )
                    .map_err(err())?;
                ctx.deregister_table(*table).map_err(err())?;
                ctx.register_table(*table, df.into_view()).map_err(err())?;
            }
        }
        let mut installed: Vec<&str> = Vec::new();
        for (view, (schema, batches)) in &self.state {
            let table = MemTable::try_new(schema.clone(), vec![batches.clone()])
                .map_err(query_err(format!("view {view}")))?;
            ctx.register_table(*view, Arc::new(table))
                .map_err(query_err(format!("view {view}")))?;
            installed.push(view);
        }
        crate::views::register_except(&ctx, &self.views, &installed).await?;
        Ok(ctx)
    }
}

/// Where [`History::save`] keeps the history in the lake: `current.json` names the generation
/// (a directory of one Arrow IPC file per merged view) and the files counted.
const SAVED: &str = "_state/history";

/// `current.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    format: String,
    /// What the rows were computed by (the views' SQL and this version): another key, another
    /// history.
    key: String,
    generation: String,
    counted: BTreeMap<String, Vec<String>>,
    views: Vec<String>,
}

const SAVED_FORMAT: &str = "trailhound.history/1";

/// Rows as an Arrow IPC file. A batch of string views is written with just the strings it
/// refers to: an aggregate's output batches are slices sharing every string of the result,
/// and each written whole would store them once per batch (a year's `lambda_hourly`: 1.1 GB
/// instead of tens of MB).
fn ipc_bytes(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> std::result::Result<Vec<u8>, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, AsArray};
    let mut w = arrow::ipc::writer::FileWriter::try_new(Vec::new(), schema)?;
    for b in batches {
        let columns: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Utf8View => Arc::new(c.as_string_view().gc()) as ArrayRef,
                DataType::BinaryView => Arc::new(c.as_binary_view().gc()) as ArrayRef,
                _ => c.clone(),
            })
            .collect();
        w.write(&RecordBatch::try_new(b.schema(), columns)?)?;
    }
    w.into_inner()
}

/// The key of histories computed by these views and this build.
fn history_key(views: &[View]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for (name, sql) in views {
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(sql.as_bytes());
        h.update(&[0]);
    }
    for m in MERGED {
        h.update(m.view.as_bytes());
        h.update(&[0]);
    }
    format!("{:032x}", h.digest128())
}

impl History {
    /// The history an earlier run saved in the lake ([`History::save`]), when there is one
    /// computed by these views over files that are all still there (or merged by a
    /// compaction): `None` otherwise, and the first [`History::update`] reads the whole lake.
    pub async fn load(lake: &Lake, views: &[View]) -> Result<Option<History>> {
        let current = format!("{SAVED}/current.json");
        if !lake.list(&format!("{SAVED}/")).await?.contains(&current) {
            return Ok(None);
        }
        let saved: Saved = match serde_json::from_slice(&lake.get_bytes(&current).await?) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the saved detection history is unreadable; reading the whole lake");
                return Ok(None);
            }
        };
        if saved.format != SAVED_FORMAT || saved.key != history_key(views) {
            tracing::info!("the saved detection history is of other views; reading the whole lake");
            return Ok(None);
        }
        let mut history = History::new(views);
        for (table, manifest, _) in RAW {
            let index = ManifestIndex::load(lake, manifest).await?;
            let listed: HashSet<String> =
                lake.list(&format!("{table}/")).await?.into_iter().collect();
            let files: HashSet<String> = saved
                .counted
                .get(*table)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            // A counted file deleted other than by a compaction: its rows are in the history
            // but no longer in the lake.
            if let Some(gone) = files
                .iter()
                .find(|rel| !listed.contains(*rel) && !index.is_replaced(rel))
            {
                tracing::info!(file = %gone, "a file the saved detection history counted is gone; reading the whole lake");
                return Ok(None);
            }
            history.counted.insert(table, files);
        }
        for merge in MERGED {
            if !saved.views.iter().any(|v| v == merge.view) {
                return Ok(None);
            }
            let rel = format!("{SAVED}/{}/{}.arrow", saved.generation, merge.view);
            let read = async {
                let bytes = lake.get_bytes(&rel).await?;
                let reader =
                    arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
                        .map_err(|e| Error::History {
                            path: rel.clone(),
                            message: e.to_string(),
                        })?;
                let schema = reader.schema();
                let batches = reader
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::History {
                        path: rel.clone(),
                        message: e.to_string(),
                    })?;
                Ok::<_, Error>((schema, batches))
            };
            match read.await {
                Ok(rows) => {
                    history.state.insert(merge.view, rows);
                }
                Err(e) => {
                    // Say, replaced by a newer run's history while this one read it.
                    tracing::warn!(error = %e, "the saved detection history is incomplete; reading the whole lake");
                    return Ok(None);
                }
            }
        }
        Ok(Some(history))
    }

    /// Keep this history in the lake for the next run ([`History::load`]): the rows of each
    /// merged view under a new generation, then `current.json` naming it, then older
    /// generations removed.
    pub async fn save(&self, lake: &Lake) -> Result<()> {
        let generation = uuid::Uuid::now_v7().simple().to_string();
        for (view, (schema, batches)) in &self.state {
            let bytes = ipc_bytes(schema, batches).map_err(|e| Error::History {
                path: format!("{SAVED}/{generation}/{view}.arrow"),
                message: e.to_string(),
            })?;
            lake.put_bytes(&format!("{SAVED}/{generation}/{view}.arrow"), bytes)
                .await?;
        }
        let saved = Saved {
            format: SAVED_FORMAT.into(),
            key: history_key(&self.views),
            generation: generation.clone(),
            counted: self
                .counted
                .iter()
                .map(|(t, files)| {
                    let mut files: Vec<String> = files.iter().cloned().collect();
                    files.sort();
                    (t.to_string(), files)
                })
                .collect(),
            views: self.state.keys().map(|v| v.to_string()).collect(),
        };
        let json = serde_json::to_vec(&saved).map_err(|e| Error::History {
            path: format!("{SAVED}/current.json"),
            message: e.to_string(),
        })?;
        lake.put_bytes(&format!("{SAVED}/current.json"), json)
            .await?;
        // Older generations only: a newer one may be another run's, just named current.
        for rel in lake.list(&format!("{SAVED}/")).await? {
            let Some(g) = rel
                .strip_prefix(SAVED)
                .and_then(|r| r.trim_start_matches('/').split_once('/'))
                .map(|(g, _)| g)
            else {
                continue;
            };
            if g < generation.as_str() {
                lake.delete(&rel).await?;
            }
        }
        Ok(())
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The rows of `old` and `new` merged by `merge`'s rule.
async fn combine(
    runtime: &Arc<RuntimeEnv>,
    merge: &Merge,
    old: (SchemaRef, Vec<RecordBatch>),
    new: (SchemaRef, Vec<RecordBatch>),
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let err = || {
        query_err(format!(
            "merging view {} with the new files' rows",
            merge.view
        ))
    };
    let ctx = SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new().with_target_partitions(1),
        runtime.clone(),
    );
    let schema = new.0.clone();
    // The new rows' schema for both (a merge may have made a column nullable).
    let relaxed = Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let old_batches = old
        .1
        .iter()
        .map(|b| {
            let columns = schema
                .fields()
                .iter()
                .map(|f| {
                    let c = b.column_by_name(f.name()).ok_or_else(|| {
                        datafusion::error::DataFusionError::Plan(format!(
                            "column {} is missing from the kept rows",
                            f.name()
                        ))
                    })?;
                    Ok(arrow::compute::cast(c, f.data_type())?)
                })
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            Ok(RecordBatch::try_new(relaxed.clone(), columns)?)
        })
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(err())?;
    let new_batches = new
        .1
        .into_iter()
        .map(|b| RecordBatch::try_new(relaxed.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err()(e.into()))?;
    let table = MemTable::try_new(relaxed.clone(), vec![old_batches, new_batches]).map_err(err())?;
    ctx.register_table("kept", Arc::new(table)).map_err(err())?;
    let mut select = Vec::new();
    let mut keys = Vec::new();
    for f in schema.fields() {
        let name = f.name().as_str();
        let q = quoted(name);
        if merge.sums.contains(&name) {
            select.push(format!("sum({q}) AS {q}"));
        } else if merge.mins.contains(&name) {
            select.push(format!("min({q}) AS {q}"));
        } else if merge.maxes.contains(&name) {
            select.push(format!("max({q}) AS {q}"));
        } else if merge.ors.contains(&name) {
            select.push(format!("bit_or({q}) AS {q}"));
        } else {
            select.push(q.clone());
            keys.push(q);
        }
    }
    for c in merge
        .sums
        .iter()
        .chain(merge.mins)
        .chain(merge.maxes)
        .chain(merge.ors)
    {
        if schema.field_with_name(c).is_err() {
            return Err(Error::Usage(format!(
                "view {} has no column {c}: the watch merges it by that column (sql/views/{}.sql)",
                merge.view, merge.view
            )));
        }
    }
    let sql = if keys.is_empty() {
        format!("SELECT {} FROM kept", select.join(", "))
    } else {
        format!(
            "SELECT {} FROM kept GROUP BY {}",
            select.join(", "),
            keys.join(", ")
        )
    };
    let df = ctx.sql(&sql).await.map_err(err())?;
    let out_schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(err())?;
    Ok((out_schema, batches))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_raw_tables_are_those_a_window_applies_to() {
        let raw: Vec<&str> = super::RAW.iter().map(|(t, _, _)| *t).collect();
        assert_eq!(raw, crate::registry::WINDOWED_TABLES);
    }
}

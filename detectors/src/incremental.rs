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
        if update.new_files > 0 || self.state.is_empty() {
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

//! The query engine a session runs on: this process (`local`), or a Ballista cluster
//! (`ballista://HOST:PORT`) whose scheduler and executors are trailhound's own
//! (`trailhound cluster scheduler|executor`, Ballista's scheduler and executor with trailhound's
//! SQL functions registered).
//!
//! On a cluster the client plans as it does locally (the same SQL files, views and functions)
//! and ships the logical plan to the scheduler, which plans it physically and hands its stages
//! to the executors. What the three sides must agree on lives here: the functions
//! ([`register_functions`]), where the shared views a detector run computes once are kept for
//! the executors to read ([`Scratch`]: files in the lake), the codec that carries the rows of
//! other in-memory tables inside a plan ([`Codec`]), and how S3 is reached ([`object_stores`]).

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{FunctionRegistry, object_store::ObjectStoreRegistry};
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::LogicalExtensionCodec;

/// Where queries run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// In this process.
    #[default]
    Local,
    /// On a Ballista cluster: its scheduler's `host:port`.
    Ballista { scheduler: String },
}

/// The largest gRPC message between client, scheduler and executors: a plan may carry an
/// in-memory table's rows ([`Codec`]), so Ballista's 16 MiB is raised.
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// The scheduler's port when `ballista://HOST` gives none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "local" {
            return Ok(Engine::Local);
        }
        let Some(rest) = s.strip_prefix("ballista://") else {
            return Err(format!(
                "engine {s:?}: expected `local` or `ballista://HOST:PORT` (a Ballista scheduler \
                 started with `trailhound cluster scheduler`)"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let url =
            url::Url::parse(&format!("http://{rest}")).map_err(|e| format!("engine {s:?}: {e}"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("engine {s:?}: no scheduler host"))?;
        if url.path() != "/" || url.query().is_some() {
            return Err(format!(
                "engine {s:?}: expected ballista://HOST:PORT, nothing after the port"
            ));
        }
        let port = url.port().unwrap_or(DEFAULT_SCHEDULER_PORT);
        Ok(Engine::Ballista {
            scheduler: format!("{host}:{port}"),
        })
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { scheduler } => write!(f, "ballista://{scheduler}"),
        }
    }
}

/// Register trailhound's SQL functions (the JSON functions and trailhound's own, see
/// [`crate::udf`]) in a session, a scheduler's or an executor's registry.
pub fn register_functions(registry: &mut dyn FunctionRegistry) -> DfResult<()> {
    datafusion_functions_json::register_all(registry)?;
    for udf in crate::udf::all() {
        registry.register_udf(Arc::new(udf))?;
    }
    Ok(())
}

/// The names of the SQL functions trailhound adds to DataFusion's (its own and the JSON ones).
pub fn function_names() -> Vec<String> {
    let mut state = SessionStateBuilder::new().build();
    let before = state.udfs();
    if register_functions(&mut state).is_err() {
        return Vec::new();
    }
    let mut added: Vec<String> = state.udfs().difference(&before).cloned().collect();
    added.extend(crate::udf::all().iter().map(|f| f.name().to_string()));
    added.sort();
    added.dedup();
    added
}

/// What the scheduler plans with and executors look functions up in: Ballista's own session
/// (its optimizer rules and functions, as its stock scheduler builds it) with trailhound's
/// functions added, on `runtime`.
pub fn cluster_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> DfResult<SessionState> {
    use ballista_core::extension::{
        ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
    };
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_scalar_functions())
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build();
    register_functions(&mut state)?;
    Ok(state)
}

/// A failed query's error, with what to do when the cluster lacks trailhound's functions: a
/// stock Ballista scheduler cannot decode a plan naming them, and a stock executor rejects
/// its tasks (Ballista's scheduler then reports only that the executor rejected them). When
/// the query uses any of trailhound's functions and the error is one of those, the functions
/// are named and trailhound's scheduler and executor are given as the way out.
pub fn with_function_hint(plan: &LogicalPlan, error: DataFusionError) -> DataFusionError {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;
    let ours = function_names();
    let mut used = std::collections::BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && ours.iter().any(|n| n == f.name())
                {
                    used.insert(f.name().to_string());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    let text = error.to_string();
    // DataFusion's plan decoders say `... for scalar function NAME` or `no UDF named "NAME"`.
    let undecodable = used.iter().any(|name| {
        text.contains(&format!("function {name}")) || text.contains(&format!("named \"{name}\""))
    });
    if used.is_empty() || !(undecodable || text.contains("rejected by executor")) {
        return error;
    }
    let used: Vec<String> = used.into_iter().collect();
    DataFusionError::Context(
        format!(
            "the cluster could not run the query, which uses trailhound's SQL function{} {}: a \
             stock Ballista scheduler or executor does not have them; run the cluster with \
             `trailhound cluster scheduler` and `trailhound cluster executor`",
            if used.len() > 1 { "s" } else { "" },
            used.join(", ")
        ),
        Box::new(error),
    )
}

/// The logical plan codec of trailhound's clients and schedulers: Ballista's, plus the rows
/// of in-memory tables (Ballista alone cannot send them). Their rows travel in the plan as an
/// Arrow IPC stream per partition, and the scheduler turns them into an in-memory scan that
/// Ballista sends to its executors, with every task: for small tables only. A detector run's
/// shared views are kept in files instead ([`Scratch`]).
#[derive(Debug)]
pub struct Codec {
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            inner: Arc::new(ballista_core::serde::BallistaLogicalExtensionCodec::default()),
        }
    }
}

/// What starts an in-memory table's bytes in a plan (anything else is Ballista's).
const MEMORY_TABLE: &[u8] = b"trailhound.memory-table.v1\n";

impl Codec {
    /// The codec, shared.
    pub fn shared() -> Arc<dyn LogicalExtensionCodec> {
        Arc::new(Codec::default())
    }

    fn encode_memory(table: &MemTable, buf: &mut Vec<u8>) -> DfResult<()> {
        buf.extend_from_slice(MEMORY_TABLE);
        let schema = table.schema();
        let partitions = table.batches.len() as u32;
        buf.extend_from_slice(&partitions.to_le_bytes());
        for partition in &table.batches {
            let batches = partition.try_read().map_err(|_| {
                DataFusionError::Execution(
                    "an in-memory table is being written while its plan is sent".into(),
                )
            })?;
            let mut ipc = Vec::new();
            {
                let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut ipc, &schema)?;
                for batch in batches.iter() {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            buf.extend_from_slice(&(ipc.len() as u64).to_le_bytes());
            buf.extend_from_slice(&ipc);
        }
        Ok(())
    }

    fn decode_memory(mut buf: &[u8], schema: SchemaRef) -> DfResult<Arc<dyn TableProvider>> {
        let truncated =
            || DataFusionError::Internal("an in-memory table in the plan is truncated".into());
        let mut take = |n: usize| -> DfResult<&[u8]> {
            if buf.len() < n {
                return Err(truncated());
            }
            let (head, rest) = buf.split_at(n);
            buf = rest;
            Ok(head)
        };
        let partitions = u32::from_le_bytes(take(4)?.try_into().map_err(|_| truncated())?);
        let mut out: Vec<Vec<RecordBatch>> = Vec::with_capacity(partitions as usize);
        for _ in 0..partitions {
            let len = u64::from_le_bytes(take(8)?.try_into().map_err(|_| truncated())?);
            let ipc = take(usize::try_from(len).map_err(|_| truncated())?)?;
            let reader = arrow::ipc::reader::StreamReader::try_new(ipc, None)?;
            let batches = reader.collect::<Result<Vec<_>, _>>()?;
            out.push(batches);
        }
        // The batches carry the schema they were written with; the plan's may differ only in
        // metadata, which the table takes from the plan.
        let table_schema = match out.iter().flatten().next() {
            Some(b) if b.schema().fields() == schema.fields() => b.schema(),
            _ => schema,
        };
        Ok(Arc::new(MemTable::try_new(table_schema, out)?))
    }
}

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MEMORY_TABLE) {
            Some(rest) => Self::decode_memory(rest, schema),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        match node.downcast_ref::<MemTable>() {
            Some(table) => Self::encode_memory(table, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// An object store registry that reaches any `s3://` bucket on first use with this process's
/// AWS configuration (the standard chain: environment, profile, instance or container role;
/// `AWS_ENDPOINT_URL` for an emulator), its credentials refreshed before they expire. What the
/// scheduler and executors read the lake with: the client tells them paths, never keys.
pub fn object_stores(sdk: aws_config::SdkConfig) -> Arc<dyn ObjectStoreRegistry> {
    Arc::new(crate::s3store::S3Registry::new(sdk))
}

/// Where a cluster session keeps the shared views it computes once (a session config
/// extension, set for Ballista sessions): Parquet files under the lake's `_scratch/RUN/`,
/// which the scheduler and executors read like any lake file. Sending a view's rows inside
/// every plan that reads it instead (the [`Codec`] can) copies them into each plan, each
/// stage and each task: at 100 M events the client went past 20 GB doing that.
#[derive(Debug, Clone)]
pub struct Scratch {
    /// This run's directory (`file:///lake/_scratch/RUN/`, `s3://bucket/prefix/_scratch/RUN/`).
    pub url: String,
    /// The lake's scratch directory, where other runs' directories are.
    parent: String,
}

/// Rows per scratch file: a cluster reads a view's files in parallel, one per task.
const SCRATCH_FILE_ROWS: usize = 1 << 20;

/// Scratch directories of runs older than this are deleted by the next run's clean-up (a run
/// that was killed leaves its own).
const SCRATCH_STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Scratch {
    /// A new run's scratch directory under the lake at `lake_url` (the URL of its root,
    /// ending in `/`), named by a time-ordered UUID.
    pub fn new(lake_url: &str) -> Self {
        let parent = format!("{lake_url}_scratch/");
        Scratch {
            url: format!("{parent}{}/", uuid::Uuid::now_v7()),
            parent,
        }
    }

    /// The scratch directory of a session, when it has one (cluster sessions).
    pub fn of(ctx: &datafusion::prelude::SessionContext) -> Option<Arc<Scratch>> {
        ctx.state().config().get_extension::<Scratch>()
    }

    /// Write a view's rows under this run's directory and return the table that reads them.
    pub async fn write(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        view: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> DfResult<Arc<dyn TableProvider>> {
        use datafusion::datasource::file_format::parquet::ParquetFormat;
        use datafusion::datasource::listing::{
            ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
        };
        use object_store::ObjectStoreExt;
        let dir = ListingTableUrl::parse(format!("{}{view}/", self.url))?;
        let store = ctx.runtime_env().object_store(&dir)?;
        // No column statistics: from a few rows' minimums and maximums DataFusion estimates
        // that a filter keeps none, and Ballista takes a build side estimated at no rows for
        // one of unknown size, which it will not broadcast. The files' row counts are kept.
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::UNCOMPRESSED)
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
            .build();
        let mut part = 0;
        let mut rows = 0;
        let mut writer: Option<parquet::arrow::ArrowWriter<Vec<u8>>> = None;
        let flush = |writer: parquet::arrow::ArrowWriter<Vec<u8>>, part: usize| {
            let store = store.clone();
            let path = object_store::path::Path::from(format!(
                "{}/part-{part:05}.parquet",
                dir.prefix().as_ref().trim_end_matches('/')
            ));
            async move {
                let bytes = writer.into_inner()?;
                store
                    .put(&path, bytes.into())
                    .await
                    .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
                Ok::<(), DataFusionError>(())
            }
        };
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let w = match writer.as_mut() {
                Some(w) => w,
                None => writer.insert(parquet::arrow::ArrowWriter::try_new(
                    Vec::new(),
                    schema.clone(),
                    Some(props.clone()),
                )?),
            };
            w.write(batch)?;
            rows += batch.num_rows();
            if rows >= SCRATCH_FILE_ROWS
                && let Some(w) = writer.take()
            {
                flush(w, part).await?;
                part += 1;
                rows = 0;
            }
        }
        // A view of no rows is one file of no rows: the table then has the view's schema
        // and files to list.
        let last = match writer.take() {
            Some(w) => Some(w),
            None if part == 0 => Some(parquet::arrow::ArrowWriter::try_new(
                Vec::new(),
                schema.clone(),
                Some(props.clone()),
            )?),
            None => None,
        };
        if let Some(w) = last {
            flush(w, part).await?;
            part += 1;
        }
        tracing::info!(%view, files = part, at = %dir, "shared view kept in the lake for the cluster");
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(dir)
            .with_listing_options(options)
            .with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config)?))
    }

    /// Delete this run's directory, and other runs' older than a day.
    pub async fn clean(&self, ctx: &datafusion::prelude::SessionContext) -> DfResult<()> {
        use datafusion::datasource::listing::ListingTableUrl;
        use futures::{StreamExt, TryStreamExt};
        use object_store::ObjectStoreExt;
        let parent = ListingTableUrl::parse(&self.parent)?;
        let store = ctx.runtime_env().object_store(&parent)?;
        let ours = ListingTableUrl::parse(&self.url)?;
        let objects = |prefix: object_store::path::Path| {
            store
                .list(Some(&prefix))
                .map_ok(|meta| meta.location)
                .boxed()
        };
        let mut doomed: Vec<object_store::path::Path> = objects(ours.prefix().clone())
            .try_collect()
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        let listing = store
            .list_with_delimiter(Some(parent.prefix()))
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        let now = std::time::SystemTime::now();
        let mut dirs = vec![ours.prefix().clone()];
        for dir in listing.common_prefixes {
            let stale = dir
                .filename()
                .and_then(|name| uuid::Uuid::parse_str(name).ok())
                .and_then(|id| id.get_timestamp())
                .map(|ts| {
                    let (secs, nanos) = ts.to_unix();
                    std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
                })
                .is_some_and(|at| now.duration_since(at).is_ok_and(|age| age > SCRATCH_STALE));
            if stale {
                doomed.extend(
                    objects(dir.clone())
                        .try_collect::<Vec<_>>()
                        .await
                        .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?,
                );
                dirs.push(dir);
            }
        }
        for path in doomed {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(DataFusionError::ObjectStore(Box::new(e))),
            }
        }
        // A file system keeps the emptied directories (an object store has none).
        if parent.scheme() == "file" {
            for dir in dirs {
                let path = std::path::PathBuf::from(format!("/{dir}"));
                if let Err(e) = std::fs::remove_dir_all(&path)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(DataFusionError::IoError(e));
                }
            }
            if let Ok(path) = parent.get_url().to_file_path() {
                // Only when empty: another run may be using it.
                let _ = std::fs::remove_dir(path);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringViewArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// A view kept in scratch files reads back as the same rows, in several files when large
    /// and as one empty file when empty; clean-up deletes this run's files and a day-old
    /// run's, and leaves a recent other run's alone.
    #[tokio::test]
    async fn scratch_views_read_back_and_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let lake_url = format!("file://{}/", dir.path().display());
        let scratch = Scratch::new(&lake_url);
        let ctx = datafusion::prelude::SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("role", DataType::Utf8View, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let rows = SCRATCH_FILE_ROWS + 10;
        let batch = |from: usize, to: usize| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringViewArray::from_iter_values(
                        (from..to).map(|i| format!("role-{}", i % 7)),
                    )),
                    Arc::new(Int64Array::from_iter_values((from..to).map(|i| i as i64))),
                ],
            )
            .unwrap()
        };
        let batches = vec![batch(0, SCRATCH_FILE_ROWS), batch(SCRATCH_FILE_ROWS, rows)];
        let table = scratch
            .write(&ctx, "big", schema.clone(), &batches)
            .await
            .unwrap();
        ctx.register_table("big", table).unwrap();
        let empty = scratch
            .write(&ctx, "none", schema.clone(), &[])
            .await
            .unwrap();
        ctx.register_table("none", empty).unwrap();
        let got = ctx
            .sql("SELECT count(*), sum(n), count(DISTINCT role) FROM big")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        let value = |col: usize| got[0].column(col).as_primitive::<Int64Type>().value(0);
        assert_eq!(value(0), rows as i64);
        assert_eq!(value(1), (rows as i64 - 1) * rows as i64 / 2);
        assert_eq!(value(2), 7);
        let none = ctx.sql("SELECT * FROM none").await.unwrap();
        assert_eq!(none.schema().as_arrow().fields(), schema.fields());
        assert_eq!(none.count().await.unwrap(), 0);

        let ours: Vec<_> = files_under(&dir.path().join("_scratch"));
        assert_eq!(
            ours.len(),
            3,
            "two files for the large view, one for the empty: {ours:?}"
        );

        // Another run's directory from two days ago, and one from a minute ago.
        let at = |secs_ago: u64| {
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
            let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
            let ts = uuid::Timestamp::from_unix(uuid::NoContext, d.as_secs(), d.subsec_nanos());
            uuid::Uuid::new_v7(ts).to_string()
        };
        let (old, recent) = (at(2 * 24 * 3600), at(60));
        for run in [&old, &recent] {
            let d = dir.path().join("_scratch").join(run).join("v");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("part-00000.parquet"), b"x").unwrap();
        }
        scratch.clean(&ctx).await.unwrap();
        let left = files_under(&dir.path().join("_scratch"));
        assert_eq!(
            left,
            vec![
                dir.path()
                    .join(format!("_scratch/{recent}/v/part-00000.parquet"))
            ]
        );
        // The emptied directories are gone too, and the scratch directory stays for the
        // other run.
        let runs: Vec<_> = std::fs::read_dir(dir.path().join("_scratch"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(runs, vec![recent.clone()]);
        std::fs::remove_dir_all(dir.path().join("_scratch").join(&recent)).unwrap();
        let again = Scratch::new(&lake_url);
        again.write(&ctx, "v", schema.clone(), &[]).await.unwrap();
        again.clean(&ctx).await.unwrap();
        assert!(!dir.path().join("_scratch").exists());
    }
}

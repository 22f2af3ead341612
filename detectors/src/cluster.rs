//! The query engine a session runs on: this process (`local`), or a Ballista cluster
//! (`ballista://HOST:PORT`) whose scheduler and executors are trailhound's own
//! (`trailhound cluster scheduler|executor`, Ballista's scheduler and executor with trailhound's
//! SQL functions registered).
//!
//! On a cluster the client plans as it does locally (the same SQL files, views and functions)
//! and ships the logical plan to the scheduler, which plans it physically and hands its stages
//! to the executors. What the three sides must agree on lives here: the functions
//! ([`register_functions`]), the codec that carries the rows of in-memory tables (the shared
//! views a detector run computes once) inside a plan ([`Codec`]), and how S3 is reached
//! ([`object_stores`]).

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

/// The largest gRPC message between client, scheduler and executors: plans carry the shared
/// views' rows ([`Codec`]), so Ballista's 16 MiB is raised.
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
/// of in-memory tables (the shared views a run computes once and registers as tables; Ballista
/// alone cannot send them). Their rows travel in the plan as an Arrow IPC stream per
/// partition; they are small (rows per role, function and hour), and the scheduler turns
/// them into an in-memory scan that Ballista sends to its executors.
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

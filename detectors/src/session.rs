//! A DataFusion session over a lake: each lake table registered as a listing table over its
//! Hive-partitioned Parquet files (so `account_id`, `region` and `dt` filters prune files),
//! the findings detectors wrote (`findings`),
//! plus JSON functions for the JSON text columns.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use pipeline::lake::{Lake, LakeLocation};

use crate::cluster::Engine;
use crate::{Error, Result};

/// The lake tables a session registers, with their file schemas.
pub fn lake_tables() -> Vec<(&'static str, SchemaRef)> {
    use pipeline::lambda::{ingest, table};
    vec![
        ("cloudtrail", pipeline::cloudtrail::table::schema()),
        (ingest::INVOCATIONS_TABLE, table::invocations_schema()),
        (ingest::LOGS_TABLE, table::logs_schema()),
    ]
}

/// The schema with its text columns read as string views: the engine then points into the
/// decoded Parquet pages instead of copying every string.
fn string_views(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new(fields))
}

fn query_err(
    context: impl Into<String>,
) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
    let context = context.into();
    move |source| Error::Query { context, source }
}

/// A session with every lake table and the embedded views registered.
pub async fn open(lake: &Lake, sdk: Option<&aws_config::SdkConfig>) -> Result<SessionContext> {
    open_with(lake, sdk, &crate::views::embedded()).await
}

/// A session with every lake table and these views registered.
pub async fn open_with(
    lake: &Lake,
    sdk: Option<&aws_config::SdkConfig>,
    views: &[crate::views::View],
) -> Result<SessionContext> {
    open_with_runtime(lake, sdk, views, None).await
}

/// A runtime for sessions opened again and again over a lake that changes (the watch): its
/// cache of Parquet footers and file statistics (by path, size and modification time) is
/// shared across them, but not the listing of files (a cached listing would miss new ones).
/// The caches are bounded (least recently used out) well below DataFusion's defaults (50 and
/// 20 MiB): the watch reads the files of its last half hour or so, while files it no longer
/// reads (merged by compaction, or old) would otherwise stay until the defaults are reached.
pub fn shared_runtime() -> Result<std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    use datafusion::execution::cache::cache_manager::CacheManagerConfig;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    RuntimeEnvBuilder::new()
        .with_cache_manager(
            CacheManagerConfig::default()
                .with_list_files_cache_limit(0)
                .with_metadata_cache_limit(FOOTER_CACHE_BYTES)
                .with_file_statistics_cache_limit(FOOTER_CACHE_BYTES / 4),
        )
        .build_arc()
        .map_err(query_err("building the query runtime"))
}

/// What the watch's runtime keeps of Parquet footers.
const FOOTER_CACHE_BYTES: usize = 12 << 20;

/// [`open_with`], on `runtime` when given (else a runtime of the session's own).
pub async fn open_with_runtime(
    lake: &Lake,
    sdk: Option<&aws_config::SdkConfig>,
    views: &[crate::views::View],
    runtime: Option<std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv>>,
) -> Result<SessionContext> {
    let ctx = open_tables(lake, sdk, runtime, &Engine::Local).await?;
    crate::views::register(&ctx, views).await?;
    Ok(ctx)
}

/// [`open_with`], its queries run by `engine` (this process, or a Ballista cluster).
pub async fn open_on(
    lake: &Lake,
    sdk: Option<&aws_config::SdkConfig>,
    views: &[crate::views::View],
    engine: &Engine,
) -> Result<SessionContext> {
    let ctx = open_tables(lake, sdk, None, engine).await?;
    crate::views::register(&ctx, views).await?;
    Ok(ctx)
}

/// A session with trailhound's settings and functions and every lake table, but no views.
pub(crate) async fn open_tables(
    lake: &Lake,
    sdk: Option<&aws_config::SdkConfig>,
    runtime: Option<std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv>>,
    engine: &Engine,
) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Decode the columns a filter reads first and the others only for matching rows: most
    // detectors keep a handful of rows out of millions.
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.pushdown_filters = true;
    parquet.reorder_filters = true;
    // Hash joins pass their build side's keys (bounds, or the values when few) to the probe
    // side's scan as a filter (DataFusion's default, kept): an evidence join reads the few
    // matching events instead of decoding every column of the whole table. The build side is
    // collected whole rather than hash-partitioned: ours are small (flagged keys, roles,
    // functions), and a whole build side's keys are a plain IN list that row-group
    // statistics and bloom filters can skip by (a partitioned one's filter is not).
    config.options_mut().optimizer.repartition_joins = false;
    let ctx = match engine {
        Engine::Local => {
            apply_env_settings(&mut config);
            let mut ctx = match runtime {
                Some(rt) => SessionContext::new_with_config_rt(config, rt),
                None => SessionContext::new_with_config(config),
            };
            crate::cluster::register_functions(&mut ctx)
                .map_err(query_err("registering trailhound's SQL functions"))?;
            ctx
        }
        Engine::Ballista { scheduler } => {
            use ballista::prelude::{SessionConfigExt, SessionContextExt};
            // Dynamic filters (a hash join's build-side keys pushed into its probe side's
            // scan) off: the scheduler chooses join sides again when it resolves a stage,
            // which DataFusion refuses once a join's filter is built (and the job stalls). All
            // four switches: the settings reach the scheduler as a list in which the overall
            // one turns the others back on.
            let mut config = config;
            let optimizer = &mut config.options_mut().optimizer;
            optimizer.enable_dynamic_filter_pushdown = false;
            optimizer.enable_join_dynamic_filter_pushdown = false;
            optimizer.enable_topk_dynamic_filter_pushdown = false;
            optimizer.enable_aggregate_dynamic_filter_pushdown = false;
            let mut config = config
                // Ballista's adaptive planner (new in 55) re-plans without end on the
                // detectors' plans (tens of thousands of stages for one query; choosing a
                // join's sides again after its dynamic filter was built, which DataFusion
                // refuses, stalls the job): its static planner is used.
                .with_ballista_adaptive_query_planner(false)
                .with_ballista_logical_extension_codec(crate::cluster::Codec::shared())
                .with_ballista_grpc_client_max_message_size(crate::cluster::MAX_MESSAGE_BYTES)
                // Shared views are computed once and kept where executors read them.
                .with_extension(Arc::new(crate::cluster::Scratch::new(&lake.file_url(""))));
            apply_env_settings(&mut config);
            let runtime = match runtime {
                Some(rt) => rt,
                None => datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                    .build_arc()
                    .map_err(query_err("building the query runtime"))?,
            };
            let state = datafusion::execution::session_state::SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(runtime)
                .with_default_features()
                .build();
            let mut ctx = SessionContext::remote_with_state(&format!("df://{scheduler}"), state)
                .await
                .map_err(query_err(format!(
                    "connecting to the Ballista scheduler at {scheduler}"
                )))?;
            // Ballista's session takes its own list of functions: ours are added to it.
            crate::cluster::register_functions(&mut ctx)
                .map_err(query_err("registering trailhound's SQL functions"))?;
            ctx
        }
    };

    if let LakeLocation::S3 { bucket, .. } = lake.location() {
        register_s3(&ctx, bucket, sdk).await?;
    }
    let partitioned: Vec<(&str, SchemaRef, &[&str])> = lake_tables()
        .into_iter()
        .map(|(n, s)| (n, s, &pipeline::cloudtrail::table::PARTITION_COLUMNS[..]))
        .map(|(n, s, p)| (n, string_views(&s), p))
        .chain(std::iter::once((
            crate::store::TABLE,
            crate::finding::schema(),
            &["dt"][..],
        )))
        .chain(std::iter::once((
            pipeline::iam::table::TABLE,
            string_views(&pipeline::iam::table::schema()),
            &["account_id", "dt"][..],
        )))
        .collect();
    for (name, schema, partitions) in partitioned {
        if let LakeLocation::Local(root) = lake.location() {
            // An empty table is a table with no files, not an error.
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| {
                Error::Lake(pipeline::Error::Io {
                    op: "creating table directory",
                    path: dir.clone(),
                    source: e,
                })
            })?;
        }
        let url = lake.table_url(name);
        let table_url =
            ListingTableUrl::parse(&url).map_err(query_err(format!("table {name} at {url}")))?;
        let partitions = partitions
            .iter()
            .map(|c| (c.to_string(), DataType::Utf8))
            .collect();
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partitions);
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(schema);
        let table =
            ListingTable::try_new(config).map_err(query_err(format!("table {name} at {url}")))?;
        ctx.register_table(name, Arc::new(table))
            .map_err(query_err(format!("registering table {name}")))?;
    }
    Ok(ctx)
}

/// DATAFUSION_* variables (DATAFUSION_EXECUTION_TARGET_PARTITIONS=4, …) tune the engine, over
/// trailhound's own settings; on a cluster, BALLISTA_* variables too (Ballista's settings,
/// BALLISTA_OPTIMIZER_BROADCAST_JOIN_THRESHOLD_BYTES=…). The name's first one or two
/// underscores separate its sections.
fn apply_env_settings(config: &mut SessionConfig) {
    let cluster = config
        .options()
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some();
    for (key, value) in std::env::vars() {
        let (section, rest) = match (
            key.strip_prefix("DATAFUSION_"),
            key.strip_prefix("BALLISTA_"),
        ) {
            (Some(rest), _) => ("datafusion", rest),
            (_, Some(rest)) if cluster => ("ballista", rest),
            _ => continue,
        };
        {
            let rest = rest.to_lowercase();
            let set = (1..=2).any(|sections| {
                let name = format!("{section}.{}", rest.replacen('_', ".", sections));
                config.options_mut().set(&name, &value).is_ok()
            });
            if !set {
                tracing::warn!(variable = %key, "ignoring an unknown or invalid DataFusion setting");
            }
        }
    }
}

/// The schema a session reads a lake table's files with (text as string views), without
/// its partition columns.
pub(crate) fn file_schema(table: &str) -> Option<SchemaRef> {
    lake_tables()
        .into_iter()
        .find(|(n, _)| *n == table)
        .map(|(_, s)| string_views(&s))
}

/// Let the session read `s3://bucket` with the same settings as the SDK (endpoint, credential
/// chain, refreshed as it expires) at the bucket's own region.
async fn register_s3(
    ctx: &SessionContext,
    bucket: &str,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<()> {
    let err = |message: String| Error::ObjectStore {
        bucket: bucket.to_string(),
        message,
    };
    let sdk = sdk.ok_or_else(|| err("no AWS configuration".into()))?;
    let region = pipeline::aws::bucket_region(sdk, bucket).await;
    let store =
        crate::s3store::store(bucket, sdk, region.as_deref()).map_err(|e| err(e.to_string()))?;
    let url = url::Url::parse(&format!("s3://{bucket}")).map_err(|e| err(e.to_string()))?;
    ctx.register_object_store(&url, Arc::new(store));
    Ok(())
}

/// Run one SQL statement and collect its result.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<arrow::array::RecordBatch>> {
    let df = ctx.sql(sql).await.map_err(query_err("planning query"))?;
    let plan = df.logical_plan().clone();
    df.collect()
        .await
        .map_err(|e| crate::cluster::with_function_hint(&plan, e))
        .map_err(query_err("running query"))
}

/// Run one SQL statement with the values of its `$name` placeholders and collect its result;
/// `context` says in an error what the query was for.
pub async fn run_sql_with(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<(&str, datafusion::common::ScalarValue)>,
    context: &str,
) -> Result<Vec<arrow::array::RecordBatch>> {
    let err = |source| Error::Query {
        context: context.to_string(),
        source,
    };
    let df = ctx
        .sql(sql)
        .await
        .map_err(err)?
        .with_param_values(params)
        .map_err(err)?;
    let plan = df.logical_plan().clone();
    df.collect()
        .await
        .map_err(|e| err(crate::cluster::with_function_hint(&plan, e)))
}

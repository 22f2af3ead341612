//! `trailhound cluster scheduler|executor`: Ballista's own scheduler and executor (the
//! `ballista-scheduler` and `ballista-executor` crates), started with trailhound's SQL
//! functions, its plan codec and its S3 access, so that `--engine ballista://HOST:PORT` runs
//! the same SQL as the local engine.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::cli::{ExecutorArgs, SchedulerArgs};

/// See [`detectors::cluster::MAX_MESSAGE_BYTES`].
const MAX_MESSAGE_BYTES: u32 = detectors::cluster::MAX_MESSAGE_BYTES as u32;

/// An executor says it is alive this often, and the scheduler takes one silent for
/// [`EXECUTOR_TIMEOUT_SECONDS`] for dead and runs its tasks elsewhere (Ballista's defaults, 60
/// and 180 s, leave a query waiting minutes on a lost executor).
const HEARTBEAT_SECONDS: u64 = 5;
const EXECUTOR_TIMEOUT_SECONDS: u64 = 20;

/// A runtime that reaches S3 buckets with this process's AWS configuration.
async fn runtime() -> anyhow::Result<Arc<RuntimeEnv>> {
    let sdk = pipeline::aws::sdk_config().await;
    RuntimeEnvBuilder::new()
        .with_object_store_registry(detectors::cluster::object_stores(sdk))
        .build_arc()
        .context("building the query runtime")
}

pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime().await?;
    let mut config = SchedulerConfig {
        bind_host: args.bind.ip().to_string(),
        bind_port: args.bind.port(),
        external_host: args.bind.ip().to_string(),
        grpc_server_max_decoding_message_size: MAX_MESSAGE_BYTES,
        grpc_server_max_encoding_message_size: MAX_MESSAGE_BYTES,
        grpc_client_max_message_size: MAX_MESSAGE_BYTES,
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECONDS,
        expire_dead_executor_interval_seconds: HEARTBEAT_SECONDS,
        no_executors_grace_period_seconds: EXECUTOR_TIMEOUT_SECONDS,
        override_logical_codec: Some(detectors::cluster::Codec::shared()),
        ..SchedulerConfig::default()
    };
    config = config.with_override_session_builder(Arc::new(move |session| {
        detectors::cluster::cluster_state(session, runtime.clone())
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("setting up the scheduler's state")?;
    eprintln!(
        "trailhound cluster scheduler listening on {} (clients: --engine ballista://{})",
        args.bind, args.bind
    );
    start_server(cluster, args.bind, Arc::new(config))
        .await
        .with_context(|| format!("scheduler on {}", args.bind))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn executor(args: ExecutorArgs) -> anyhow::Result<ExitCode> {
    let (scheduler_host, scheduler_port) = split_host_port(&args.scheduler)?;
    let runtime = runtime().await?;
    // The functions the tasks' plans name are looked up in this registry.
    let registry = {
        let state = detectors::cluster::cluster_state(
            datafusion::prelude::SessionConfig::new(),
            runtime.clone(),
        )?;
        Arc::new(ballista_core::registry::BallistaFunctionRegistry::from(
            &state,
        ))
    };
    let temp;
    let work_dir = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating work directory {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("trailhound-executor-")
                .tempdir()
                .context("creating the executor's work directory")?;
            temp.path().to_path_buf()
        }
    };
    let grpc_port = args
        .bind
        .port()
        .checked_add(1)
        .context("--bind: no port after it for the executor's gRPC service")?;
    let slots = args
        .slots
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let config = ExecutorProcessConfig {
        bind_host: args.bind.ip().to_string(),
        external_host: Some(args.bind.ip().to_string()),
        port: args.bind.port(),
        grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: slots,
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        grpc_max_decoding_message_size: MAX_MESSAGE_BYTES,
        grpc_max_encoding_message_size: MAX_MESSAGE_BYTES,
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        print_thread_info: false,
        override_function_registry: Some(registry),
        override_runtime_producer: Some(Arc::new(move |_| Ok(runtime.clone()))),
        override_logical_codec: Some(detectors::cluster::Codec::shared()),
        ..ExecutorProcessConfig::default()
    };
    eprintln!(
        "trailhound cluster executor on {} ({slots} slots), scheduler {}",
        args.bind, args.scheduler
    );
    start_executor_process(Arc::new(config))
        .await
        .with_context(|| format!("executor on {}", args.bind))?;
    Ok(ExitCode::SUCCESS)
}

fn split_host_port(addr: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("--scheduler {addr}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("--scheduler {addr}: {port} is not a port"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

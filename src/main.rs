//! The `trailhound` command line. It parses arguments, wires the `pipeline`, `detectors` and
//! `simulator` libraries together and maps outcomes to exit codes (0 done, 1 failure, 2 bad
//! usage); the work itself lives in the libraries.

mod baseline;
mod cli;
mod cluster;
mod demo;
mod detect;
mod drift;
mod incidents;
mod ingest;
mod lake;
mod output;
mod progress;
mod query;
mod recordings;
mod watch;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: the watch runs for days with many threads, and
/// glibc's per-thread arenas kept growing with each poll (3 minutes of the watch benchmark:
/// 357 to 992 MiB resident with glibc, see bench/watch). Built with its arenas committed
/// lazily (`.cargo/config.toml`), so that memory a query frees leaves the resident set.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads())
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) if e.is::<cli::UsageError>() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The runtime's blocking threads: local lake files are read on them (object_store's local
/// store reads there), and each keeps its own allocator heap, which holds the memory of the
/// reads it made until it runs again. Tokio allows 512; a query over many files spread its reads
/// over ~50 threads whose idle heaps held half a gigabyte (`baseline train` over 1,000 functions
/// peaked at 1.06-1.26 GiB instead of 0.74-0.80 GiB with four; the detector pack at 0.70-0.79
/// instead of 0.37-0.41). Two per core keep the disk busy.
fn blocking_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).max(4))
}

async fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    lake::set_engine(cli.engine.clone());
    pipeline::aws::set_overrides(pipeline::aws::Overrides {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
    });
    match cli.command {
        cli::Command::Ingest(cli::IngestCommand::Cloudtrail(args)) => {
            ingest::cloudtrail(args).await
        }
        cli::Command::Ingest(cli::IngestCommand::LambdaLogs(args)) => {
            ingest::lambda_logs(args).await
        }
        cli::Command::Ingest(cli::IngestCommand::Iam(args)) => ingest::iam(args).await,
        cli::Command::Query(args) => query::run(args).await,
        cli::Command::Simulate(args) => demo::simulate(args).await,
        cli::Command::Demo(args) => demo::run(args).await,
        cli::Command::Detect(args) => detect::detect(args).await,
        cli::Command::Detectors(cmd) => detect::detectors_command(cmd).await,
        cli::Command::Eval(args) => detect::eval(args).await,
        cli::Command::Drift(args) => drift::run(args).await,
        cli::Command::Incidents(cmd) => incidents::run(cmd).await,
        cli::Command::Baseline(cmd) => baseline::run(cmd).await,
        cli::Command::Watch(args) => watch::run(args).await,
        cli::Command::Cluster(cli::ClusterCommand::Scheduler(args)) => {
            cluster::scheduler(args).await
        }
        cli::Command::Cluster(cli::ClusterCommand::Executor(args)) => cluster::executor(args).await,
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("TRAILHOUND_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

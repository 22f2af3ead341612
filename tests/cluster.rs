//! `--engine ballista://…`: a real cluster on 127.0.0.1 (one `trailhound cluster scheduler`
//! and executor processes on free ports, stopped at the end) over a lake in the local AWS
//! emulator gives exactly what the local engine gives; an executor killed mid-query never
//! yields a partial result presented as complete; a stock Ballista executor is named as the
//! cause when a plan needs trailhound's functions.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A port on 127.0.0.1 free now, with the one after it free too (an executor serves on both).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two free adjacent ports on 127.0.0.1");
}

fn wait_for_port(addr: SocketAddr, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on {addr} within a minute");
}

/// A scheduler and its executors, killed when dropped.
pub(crate) struct Cluster {
    pub engine: String,
    scheduler_addr: SocketAddr,
    scheduler: Child,
    pub executors: Vec<Child>,
}

impl Cluster {
    pub(crate) fn start(executors: usize) -> Cluster {
        let port = free_port_pair();
        let scheduler_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut scheduler = bin()
            .args([
                "cluster",
                "scheduler",
                "--bind",
                &scheduler_addr.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(scheduler_addr, &mut scheduler, "the scheduler");
        let mut cluster = Cluster {
            engine: format!("ballista://{scheduler_addr}"),
            scheduler_addr,
            scheduler,
            executors: Vec::new(),
        };
        for _ in 0..executors {
            cluster.add_executor();
        }
        // Registered with the scheduler by their first heartbeat, right after they listen.
        std::thread::sleep(Duration::from_secs(1));
        cluster
    }

    /// Start a `trailhound cluster executor` on free ports.
    pub(crate) fn add_executor(&mut self) {
        let port = free_port_pair();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut child = bin()
            .args(["cluster", "executor", "--slots", "2"])
            .args(["--scheduler", &self.scheduler_addr.to_string()])
            .args(["--bind", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(addr, &mut child, "an executor");
        self.executors.push(child);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `trailhound ARGS… --engine ENGINE`, which must succeed: its stdout.
fn on(engine: &str, args: &[&str]) -> String {
    let o = run(bin().args(args).args(["--engine", engine]));
    assert!(
        o.status.success(),
        "{args:?} on {engine}: {}",
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn finding_uids(ndjson: &str) -> BTreeSet<String> {
    let findings: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    crate::detect::uids(&findings)
}

/// The drift report without the time it was made.
fn drift_report(engine: &str, lake: &str, out: &Path) -> Value {
    on(
        engine,
        &["drift", "--lake", lake, "--out", &out.display().to_string()],
    );
    let mut report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    report.as_object_mut().unwrap().remove("generated_at");
    report
}

/// The simulator's account with every attack, in an S3 lake on the emulator, read by the
/// local engine and by a cluster of a scheduler and two executors: the same findings, query
/// results and drift report.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_gives_the_local_engines_results() {
    emulator();
    let s3 = s3().await;
    let bucket = unique_bucket("cluster");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let data = dir.path().join("data");
    simulate(
        &data,
        &[
            "--functions",
            "8",
            "--days",
            "14",
            "--events-per-day",
            "2500",
        ],
    );
    let lake = format!("s3://{bucket}/lake");
    let (lake2, data2) = (lake.clone(), data.clone());
    tokio::task::spawn_blocking(move || {
        ingest(&[data2.join("AWSLogs")], &lake2);
        ingest_lambda(&[data2.join("lambda-logs")], &lake2);
        let o = run(bin()
            .args(["ingest", "iam"])
            .arg(data2.join("iam/account-authorization-details.json"))
            .args(["--lake", &lake2]));
        assert!(o.status.success(), "{}", text(&o.stderr));
    })
    .await
    .unwrap();

    let cluster = Cluster::start(2);
    let engine = cluster.engine.clone();
    let (lake2, dir2) = (lake.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let detect = [
            "detect",
            "--lake",
            &lake2,
            "--no-write",
            "--format",
            "ndjson",
        ];
        let local = finding_uids(&on("local", &detect));
        let o = run(bin()
            .args(detect)
            .args(["--engine", &engine])
            .env("TRAILHOUND_LOG", "info"));
        assert!(o.status.success(), "{}", text(&o.stderr));
        let remote = finding_uids(&text(&o.stdout));
        // The shared views reach the executors as files in the lake, not inside plans.
        assert!(
            text(&o.stderr).contains(&format!("{lake2}/_scratch/")),
            "{}",
            text(&o.stderr)
        );
        assert!(local.len() >= 10, "{local:?}");
        assert_eq!(remote, local, "findings differ between the engines");

        for sql in [
            // A join (every Lambda invocation with its role's calls that hour).
            "SELECT i.function_name, count(*) AS calls FROM lambda_invocations i \
             JOIN cloudtrail c ON c.session_name = i.function_name \
              AND date_trunc('hour', c.event_time) = date_trunc('hour', i.start_time) \
             GROUP BY i.function_name ORDER BY i.function_name",
            // A window function.
            "SELECT event_source, event_name, n, rank() OVER (PARTITION BY event_source \
             ORDER BY n DESC, event_name) AS r FROM (SELECT event_source, event_name, \
             count(*) AS n FROM cloudtrail GROUP BY 1, 2) ORDER BY event_source, r",
            // JSON functions and trailhound's own.
            "SELECT iam_action(event_source, event_name) AS action, \
             json_get_str(request_parameters, 'functionName') AS function, count(*) AS n \
             FROM cloudtrail WHERE request_parameters IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
        ] {
            let q = ["query", "--lake", &lake2, "--format", "ndjson", sql];
            let local = on("local", &q);
            assert!(local.lines().count() > 1, "{sql}: {local}");
            assert_eq!(on(&engine, &q), local, "{sql}");
        }

        let local = drift_report("local", &lake2, &dir2.join("drift-local"));
        let remote = drift_report(&engine, &lake2, &dir2.join("drift-cluster"));
        assert!(
            local["roles"].as_array().is_some_and(|r| !r.is_empty()),
            "{local}"
        );
        assert_eq!(remote, local, "drift reports differ between the engines");
    })
    .await
    .unwrap();
    // The shared views the cluster's detect kept in the lake were deleted after the run.
    let left = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("lake/_scratch/")
        .send()
        .await
        .unwrap();
    assert_eq!(left.key_count(), Some(0), "{:?}", left.contents());
    drop(cluster);
}

/// An executor killed (SIGKILL) while a query runs: the query completes on the other one with
/// the local engine's result, or fails saying so; never a partial result presented as whole.
#[test]
fn an_executor_killed_mid_query() {
    let dir = tempdir();
    let (lake, _) = crate::detect::simulated_lake(
        dir.path(),
        &[
            "--functions",
            "8",
            "--days",
            "10",
            "--events-per-day",
            "4000",
        ],
    );
    let sql = "SELECT c.event_name, count(*) AS n, count(DISTINCT c.source_ip_address) AS ips \
               FROM cloudtrail c JOIN cloudtrail d ON c.event_id = d.event_id \
               GROUP BY c.event_name ORDER BY c.event_name";
    let args = ["query", "--lake", &lake, "--format", "ndjson", sql];
    let local = on("local", &args);
    let mut cluster = Cluster::start(2);
    let query = bin()
        .args(args)
        .args(["--engine", &cluster.engine])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let mut victim = cluster.executors.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let o = query.wait_with_output().unwrap();
    if o.status.success() {
        assert_eq!(
            text(&o.stdout),
            local,
            "a result after the executor was lost"
        );
    } else {
        let err = text(&o.stderr);
        assert!(err.contains("error:"), "{err}");
        assert!(
            o.stdout.is_empty(),
            "partial rows printed: {}",
            text(&o.stdout)
        );
    }
}

/// A stock Ballista executor (the library's defaults, as Ballista's own executor binary starts
/// it: DataFusion's functions only) given a plan that needs `iam_action`: the error names the
/// function and what to run instead.
#[test]
fn a_stock_executor_is_named_as_the_cause() {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let dir = tempdir();
    let lake = lake_of(&dir);
    ingest(
        &[test_data().join("awsdocs_cloudtrail_log_examples")],
        &lake,
    );
    let cluster = Cluster::start(0);
    let port = free_port_pair();
    let config = ExecutorProcessConfig {
        bind_host: "127.0.0.1".into(),
        external_host: Some("127.0.0.1".into()),
        port,
        grpc_port: port + 1,
        scheduler_host: "127.0.0.1".into(),
        scheduler_port: cluster.scheduler_addr.port(),
        vcores: 2,
        ..ExecutorProcessConfig::default()
    };
    let stock = tokio::runtime::Runtime::new().unwrap();
    stock.spawn(start_executor_process(std::sync::Arc::new(config)));
    let flight: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&flight, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the stock executor did not listen on {flight}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Registered with the scheduler by its first heartbeat, right after it listens.
    std::thread::sleep(Duration::from_secs(1));
    let o = run(bin().args([
        "query",
        "--lake",
        &lake,
        "--engine",
        &cluster.engine,
        "SELECT iam_action(event_source, event_name) AS a, count(*) AS n FROM cloudtrail GROUP BY 1",
    ]));
    stock.shutdown_background();
    assert!(!o.status.success(), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("iam_action") && err.contains("trailhound cluster executor"),
        "{err}"
    );
}

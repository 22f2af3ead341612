//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trailhound"));
    c.env("TRAILHOUND_LOG", "warn");
    c
}

/// The repository's root, found when the tests run (not when they are built: a test binary
/// may be reused from a target directory another checkout built).
pub fn repo() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
}

/// `tests/data`, the sample data kept with the tests (sources and licences in NOTICE).
pub fn test_data() -> PathBuf {
    let dir = repo().join("tests/data");
    assert!(dir.is_dir(), "the test data is not at {}", dir.display());
    dir
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("running trailhound")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `trailhound simulate --out OUT --json EXTRA…`, which must succeed; its summary.
pub fn simulate(out: &Path, extra: &[&str]) -> Value {
    let out_s = out.display().to_string();
    let o = run(bin()
        .args(["simulate", "--out", &out_s, "--json"])
        .args(extra));
    assert!(o.status.success(), "simulate failed: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `trailhound ingest cloudtrail SRC… --lake LAKE --json`, which must succeed; its summary.
pub fn ingest<S: AsRef<std::ffi::OsStr>>(srcs: &[S], lake: &str) -> Value {
    ingest_kind("cloudtrail", srcs, lake)
}

/// `trailhound ingest lambda-logs SRC… --lake LAKE --json`, which must succeed; its summary.
pub fn ingest_lambda<S: AsRef<std::ffi::OsStr>>(srcs: &[S], lake: &str) -> Value {
    ingest_kind("lambda-logs", srcs, lake)
}

fn ingest_kind<S: AsRef<std::ffi::OsStr>>(kind: &str, srcs: &[S], lake: &str) -> Value {
    let out = run(bin()
        .args(["ingest", kind])
        .args(srcs)
        .args(["--lake", lake, "--json"]));
    assert!(
        out.status.success(),
        "ingest {kind} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {}", text(&out.stdout)))
}

/// Rows of a query, as JSON objects.
pub fn query(lake: &str, sql: &str) -> Vec<Value> {
    let out = run(bin().args(["query", "--lake", lake, sql, "--format", "ndjson"]));
    assert!(
        out.status.success(),
        "query failed: {sql}\nstderr: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn count(lake: &str, where_clause: &str) -> u64 {
    let rows = query(
        lake,
        &format!("SELECT count(*) AS n FROM cloudtrail {where_clause}"),
    );
    rows[0]["n"].as_u64().unwrap()
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A synthetic CloudTrail event of a Lambda function's role.
pub fn event(i: usize, name: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:orders-fn",
            "arn": "arn:aws:sts::123456789012:assumed-role/orders-role/orders-fn",
            "accountId": "123456789012",
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                    "arn": "arn:aws:iam::123456789012:role/service-role/orders-role",
                    "accountId": "123456789012", "userName": "orders-role"},
                "attributes": {"creationDate": "2024-08-02T09:00:00Z", "mfaAuthenticated": "false"}
            }
        },
        "eventTime": format!("2024-08-02T09:{:02}:{:02}Z", (i / 60) % 60, i % 60),
        "eventSource": "dynamodb.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "3.5.1.2",
        "userAgent": "aws-sdk-js/3.0 exec-env/AWS_Lambda_nodejs20.x",
        "requestParameters": {"tableName": "orders"},
        "responseElements": null,
        "requestID": format!("req-{i}"),
        "eventID": format!("00000000-0000-0000-0000-{i:012}"),
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": false,
        "recipientAccountId": "123456789012",
        "eventCategory": "Data"
    })
}

/// A CloudTrail delivery file (`{"Records":[…]}`) with events `from..to`.
pub fn delivery_file(from: usize, to: usize) -> Vec<u8> {
    let records: Vec<Value> = (from..to).map(|i| event(i, "GetItem")).collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("trailhound-test-")
        .tempdir()
        .unwrap()
}

pub fn lake_of(dir: &tempfile::TempDir) -> String {
    dir.path().join("lake").display().to_string()
}

/// The emulator's endpoint; the S3 tests need `scripts/test` (which starts it).
pub fn emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the suite with scripts/test, which starts the local AWS emulator",
    )
}

/// A bucket name no other test uses.
pub fn unique_bucket(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "th-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn s3() -> aws_sdk_s3::Client {
    emulator();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3conf = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3conf)
}

pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

pub fn quarantine_lines(lake: &str) -> Vec<Value> {
    let dir = Path::new(lake).join("_quarantine/cloudtrail");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ndjson") {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

pub async fn logs() -> aws_sdk_cloudwatchlogs::Client {
    emulator();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_cloudwatchlogs::Client::new(&conf)
}

/// Put log events (time in ms, message) into a stream, 5,000 a call; none may be rejected.
pub async fn put_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) {
    for chunk in events.chunks(5_000) {
        let resp = logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(
                chunk
                    .iter()
                    .map(|(ms, m)| {
                        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                            .timestamp(*ms)
                            .message(m)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put events into {group}: {e:?}"));
        assert!(
            resp.rejected_log_events_info().is_none(),
            "the emulator rejected events: {resp:?}"
        );
    }
}

/// A name no other test uses, for log groups.
pub fn unique_name(name: &str) -> String {
    unique_bucket(name)
}

/// An HTTP proxy in front of the emulator that answers some calls of one API operation with
/// AWS's throttling error instead of passing them on: the `after`-th to the
/// `after + count - 1`-th call (0-based) of the operation named by `target` (the
/// `X-Amz-Target` header). Everything else goes through unchanged.
pub struct ThrottlingProxy {
    pub endpoint: String,
    pub throttled: std::sync::Arc<AtomicU32>,
    pub passed: std::sync::Arc<AtomicU32>,
}

pub fn throttling_proxy(target: &'static str, after: u32, count: u32) -> ThrottlingProxy {
    use std::sync::Arc;

    let throttled = Arc::new(AtomicU32::new(0));
    let passed = Arc::new(AtomicU32::new(0));
    let seen = Arc::new(AtomicU32::new(0));
    let (t, p) = (throttled.clone(), passed.clone());
    let endpoint = proxy(move |req: &Request| {
        let is_target = req
            .headers
            .iter()
            .any(|h| h.starts_with("x-amz-target:") && h.contains(&target.to_ascii_lowercase()));
        if !is_target {
            return None;
        }
        let n = seen.fetch_add(1, Ordering::SeqCst);
        if n >= after && n - after < count {
            t.fetch_add(1, Ordering::SeqCst);
            let msg = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
            return Some(format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: ThrottlingException\r\nContent-Length: {}\r\n\r\n{msg}",
                msg.len()
            ));
        }
        p.fetch_add(1, Ordering::SeqCst);
        None
    });
    ThrottlingProxy {
        endpoint,
        throttled,
        passed,
    }
}

/// One HTTP request read by [`proxy`]: its head (with `Connection: close`), its header lines
/// in lower case, its body.
pub struct Request {
    pub head: Vec<u8>,
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

/// An HTTP proxy on 127.0.0.1 in front of the emulator: each request goes to `answer`, which
/// either answers it (a whole HTTP response) or lets it through. Returns its endpoint.
pub fn proxy(answer: impl Fn(&Request) -> Option<String> + Send + Sync + 'static) -> String {
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    let upstream = emulator()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (upstream, answer) = (upstream.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut client = conn;
                loop {
                    let mut req = Request {
                        head: Vec::new(),
                        headers: Vec::new(),
                        body: Vec::new(),
                    };
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if lower.starts_with("connection:") {
                            continue;
                        }
                        if line == "\r\n" {
                            req.head.extend_from_slice(b"Connection: close\r\n\r\n");
                            break;
                        }
                        req.head.extend_from_slice(line.as_bytes());
                        req.headers.push(lower.trim_end().to_string());
                    }
                    req.body = vec![0; length];
                    if reader.read_exact(&mut req.body).is_err() {
                        return;
                    }
                    let resp = match answer(&req) {
                        Some(r) => r.into_bytes(),
                        None => {
                            let Ok(mut up) = TcpStream::connect(&upstream) else {
                                return;
                            };
                            up.write_all(&req.head).unwrap();
                            up.write_all(&req.body).unwrap();
                            let mut resp = Vec::new();
                            up.read_to_end(&mut resp).unwrap();
                            resp
                        }
                    };
                    if client.write_all(&resp).is_err() {
                        return;
                    }
                }
            });
        }
    });
    endpoint
}

pub struct SwitchProxy {
    pub endpoint: String,
    pub down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub refused: std::sync::Arc<AtomicU32>,
}

pub fn switch_proxy() -> SwitchProxy {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let down = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU32::new(0));
    let (d, r) = (down.clone(), refused.clone());
    let endpoint = proxy(move |_| {
        if !d.load(Ordering::SeqCst) {
            return None;
        }
        r.fetch_add(1, Ordering::SeqCst);
        let msg = "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>down for the test</Message></Error></ErrorResponse>";
        Some(format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{msg}",
            msg.len()
        ))
    });
    SwitchProxy {
        endpoint,
        down,
        refused,
    }
}

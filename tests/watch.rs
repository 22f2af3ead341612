//! `trailhound watch` against the emulator: CloudTrail objects announced by S3 event
//! notifications on SQS, a Lambda log group in CloudWatch Logs, alerts to an SNS topic read
//! back through an SQS subscription; crashes at each stage and `kill -9`; SNS down, then back.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const ACCOUNT: &str = "123456789012";

/// One CloudTrail event that `defense-evasion` fires on: a function's role stopping the trail.
fn stop_logging(role: &str, i: usize) -> Value {
    let t = chrono::Utc::now() - chrono::Duration::seconds(120 - i as i64);
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLE:{role}-fn"),
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{role}-fn"),
            "accountId": ACCOUNT,
            "accessKeyId": key_of(role),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                    "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                    "accountId": ACCOUNT, "userName": role},
                "attributes": {"creationDate": t.to_rfc3339(), "mfaAuthenticated": "false"}
            }
        },
        "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "StopLogging",
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip_of(role),
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"name": "main-trail"},
        "responseElements": null,
        "requestID": format!("req-{role}-{i}"),
        "eventID": format!(
            "{:08x}-0000-0000-0000-{i:012}",
            xxhash_rust::xxh3::xxh3_64(role.as_bytes()) as u32
        ),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

/// Each role's session key and the address it is used from: each role is an intrusion of its
/// own (roles named `shared-…` share one attacker's key and address: one intrusion).
fn key_of(role: &str) -> String {
    if role.starts_with("shared-") {
        return "ASIAEXAMPLESHARED".into();
    }
    format!("ASIA{:016X}", xxhash_rust::xxh3::xxh3_64(role.as_bytes()))
}

fn ip_of(role: &str) -> String {
    if role.starts_with("shared-") {
        return "198.51.100.23".into();
    }
    let h = xxhash_rust::xxh3::xxh3_64(role.as_bytes());
    format!("203.0.{}.{}", (h >> 8) % 250 + 1, h % 250 + 1)
}

/// A delivery file with the role's StopLogging and some ordinary calls.
fn trail_file(role: &str) -> Vec<u8> {
    let mut records = vec![stop_logging(role, 0)];
    for i in 1..20 {
        let mut e = stop_logging(role, i);
        e["eventName"] = json!("GetTrailStatus");
        e["readOnly"] = json!(true);
        records.push(e);
    }
    gz(&serde_json::to_vec(&json!({ "Records": records })).unwrap())
}

fn trail_key(role: &str) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{role}.json.gz",
        chrono::Utc::now().format("%Y/%m/%d")
    )
}

struct Env {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    bucket: String,
    trail_queue: String,
    alerts_queue: String,
    topic_arn: String,
    log_group: String,
}

async fn sdk() -> aws_config::SdkConfig {
    emulator();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    // A short visibility timeout: a message a killed watch had received comes back soon.
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "5",
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

/// A bucket whose new objects are announced on a queue, a topic with a queue subscribed, and
/// a log group with one stream.
async fn setup(name: &str) -> Env {
    let conf = sdk().await;
    let s3 = s3().await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let logs = logs().await;
    let bucket = unique_bucket(name);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let (trail_queue, trail_arn) = queue(&sqs, &format!("{bucket}-trail")).await;
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&trail_arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let topic_arn = sns
        .create_topic()
        .name(format!("{bucket}-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let (alerts_queue, alerts_arn) = queue(&sqs, &format!("{bucket}-alerts")).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&alerts_arn)
        .send()
        .await
        .unwrap();
    let log_group = format!("/aws/lambda/{bucket}");
    logs.create_log_group()
        .log_group_name(&log_group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(&log_group)
        .log_stream_name("2026/11/29/[$LATEST]abc")
        .send()
        .await
        .unwrap();
    Env {
        s3,
        sqs,
        logs,
        bucket,
        trail_queue,
        alerts_queue,
        topic_arn,
        log_group,
    }
}

/// The platform lines (START, END, REPORT) of one invocation starting at `t` (ms).
fn invocation(id: &str, t: i64, duration_ms: &str, memory: u32, used: u32) -> [(i64, String); 3] {
    [
        (t, format!("START RequestId: {id} Version: $LATEST")),
        (t + 1, format!("END RequestId: {id}")),
        (
            t + 2,
            format!(
                "REPORT RequestId: {id}\tDuration: {duration_ms} ms\tBilled Duration: {} ms\tMemory Size: {memory} MB\tMax Memory Used: {used} MB\t",
                duration_ms.parse::<f64>().unwrap().ceil()
            ),
        ),
    ]
}

/// Lambda platform lines of `n` invocations, timed just now.
async fn put_invocations(env: &Env, round: usize, n: usize) {
    let now = chrono::Utc::now().timestamp_millis();
    let mut events = Vec::new();
    for i in 0..n {
        let id = format!("7c9a{i:04}-0000-4000-8000-{round:012}");
        events.extend(invocation(
            &id,
            now - 5_000 + i as i64 * 10,
            "12.50",
            128,
            64,
        ));
    }
    put_events(
        &env.logs,
        &env.log_group,
        "2026/11/29/[$LATEST]abc",
        &events,
    )
    .await;
}

fn write_config(dir: &Path, env: &Env, extra: &str) -> std::path::PathBuf {
    let path = dir.join("watch.toml");
    std::fs::write(
        &path,
        format!(
            r#"lake = "lake"
poll_interval = "500ms"
lookback = "1h"
compaction_interval = "1s"

[[cloudtrail]]
queue_url = "{}"

[[lambda]]
log_group = "{}"

[[sink]]
type = "sns"
topic_arn = "{}"

[[sink]]
type = "file"
path = "alerts.ndjson"

[status]
interval = "1s"
{extra}"#,
            env.trail_queue, env.log_group, env.topic_arn
        ),
    )
    .unwrap();
    path
}

fn start(config: &Path, vars: &[(&str, &str)]) -> Child {
    let mut cmd = bin();
    cmd.arg("watch")
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    text(&out.stderr)
}

/// Every alert on the subscribed queue so far (deleted as read): (uid, SNS envelope).
async fn drain_alerts(env: &Env, into: &mut Vec<(String, Value)>) {
    loop {
        let resp = env
            .sqs
            .receive_message()
            .queue_url(&env.alerts_queue)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        if resp.messages().is_empty() {
            return;
        }
        for m in resp.messages() {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let finding: Value =
                serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            let uid = finding["finding_info"]["uid"].as_str().unwrap().to_string();
            into.push((uid, envelope));
            env.sqs
                .delete_message()
                .queue_url(&env.alerts_queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Wait until `pred` holds over the alerts received (reading them as they come).
async fn wait_alerts(
    env: &Env,
    alerts: &mut Vec<(String, Value)>,
    secs: u64,
    what: &str,
    pred: impl Fn(&[(String, Value)]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        drain_alerts(env, alerts).await;
        if pred(alerts) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; alerts so far: {:?}",
            alerts
                .iter()
                .map(|(u, e)| (u, &e["MessageAttributes"]))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn roles_alerted(alerts: &[(String, Value)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, e) in alerts {
        let arn = e["MessageAttributes"]["actor_arn"]["Value"]
            .as_str()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        *out.entry(arn).or_insert(0) += 1;
    }
    out
}

fn status(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("lake/_watch/status.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn queue_depth(env: &Env, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = env
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let a = attrs.attributes().unwrap();
    (
        a[&A::ApproximateNumberOfMessages].parse().unwrap(),
        a[&A::ApproximateNumberOfMessagesNotVisible]
            .parse()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_sns_once_across_crashes_and_kill_9() {
    let env = setup("watch").await;
    let dir = tempdir();
    let config = write_config(dir.path(), &env, "");
    let lake = dir.path().join("lake").display().to_string();
    let mut alerts = Vec::new();

    // 1. Alerts flow: an object announced on the queue → the lake → a finding → SNS (with its
    //    attributes) and the alerts file; log events land in the lake too; a queue message that
    //    is not a notification is quarantined, not lost and not left to loop.
    let watch = start(&config, &[]);
    env.sqs
        .send_message()
        .queue_url(&env.trail_queue)
        .message_body("this is not an S3 notification")
        .send()
        .await
        .unwrap();
    put(
        &env.s3,
        &env.bucket,
        &trail_key("role-a"),
        trail_file("role-a"),
    )
    .await;
    put_invocations(&env, 0, 30).await;
    wait_alerts(&env, &mut alerts, 90, "the first alert", |a| !a.is_empty()).await;
    let (uid, envelope) = &alerts[0];
    let attrs = &envelope["MessageAttributes"];
    assert_eq!(attrs["severity"]["Value"], "Critical", "{envelope}");
    assert_eq!(attrs["detector"]["Value"], "defense-evasion");
    assert_eq!(attrs["account"]["Value"], ACCOUNT);
    assert_eq!(attrs["finding_uid"]["Value"], uid.as_str());
    assert!(
        envelope["Subject"]
            .as_str()
            .unwrap()
            .starts_with("[Critical]")
    );
    let finding: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(finding["class_uid"], 2004);
    assert!(
        finding["evidences"][0]["data"]["source_uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("s3://{}/AWSLogs/", env.bucket)),
        "{finding}"
    );
    // The log events and the quarantined message (the watch reads logs on every poll).
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_table(&lake, "lambda_invocations") < 30 {
        assert!(
            Instant::now() < deadline,
            "invocations never reached the lake"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(count_table(&lake, "lambda_invocations"), 30);
    let quarantined = std::fs::read_dir(dir.path().join("lake/_quarantine/sqs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        quarantined, 1,
        "the unreadable queue message is quarantined"
    );
    assert_eq!(
        queue_depth(&env, &env.trail_queue).await,
        (0, 0),
        "every handled message deleted"
    );

    // 2. Crash after the ingest committed, before the queue message was deleted, then after
    //    the alert was spooled but before it was recorded as sent; then a plain kill -9.
    watch_kill(watch);
    for (role, point) in [
        ("role-b", "watch-after-ingest"),
        ("role-c", "watch-after-spool"),
    ] {
        let crashing = start(&config, &[("TRAILHOUND_FAILPOINT", point)]);
        put(&env.s3, &env.bucket, &trail_key(role), trail_file(role)).await;
        let err = stderr_of(crashing);
        assert!(err.contains(&format!("failpoint {point}")), "{err}");
    }
    let watch = start(&config, &[]);
    put(
        &env.s3,
        &env.bucket,
        &trail_key("role-d"),
        trail_file("role-d"),
    )
    .await;
    // Kill while it works on role-d (or right after).
    tokio::time::sleep(Duration::from_millis(700)).await;
    watch_kill(watch);
    put(
        &env.s3,
        &env.bucket,
        &trail_key("role-e"),
        trail_file("role-e"),
    )
    .await;
    let watch = start(&config, &[]);
    wait_alerts(&env, &mut alerts, 120, "alerts of roles a to e", |a| {
        roles_alerted(a).len() == 5
    })
    .await;
    // A few more polls, with log events arriving on most: nothing comes twice, and the
    // commits they make are compacted.
    for round in 1..=24 {
        put_invocations(&env, round, 1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    drain_alerts(&env, &mut alerts).await;
    let roles = roles_alerted(&alerts);
    assert_eq!(
        roles,
        ["role-a", "role-b", "role-c", "role-d", "role-e"]
            .iter()
            .map(|r| (r.to_string(), 1))
            .collect(),
        "each role's finding alerted exactly once"
    );
    let mut uids: Vec<&String> = alerts.iter().map(|(u, _)| u).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 5);
    // Each event is in the lake once, whatever the crashes.
    assert_eq!(count(&lake, "WHERE event_name = 'StopLogging'"), 5);
    assert_eq!(count(&lake, ""), 5 * 20);
    // The file sink has the same five, once each.
    let lines = std::fs::read_to_string(dir.path().join("alerts.ndjson")).unwrap();
    let mut file_uids: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["finding_info"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    file_uids.sort();
    let n = file_uids.len();
    file_uids.dedup();
    assert_eq!((n, file_uids.len()), (5, 5), "{lines}");
    assert_eq!(queue_depth(&env, &env.trail_queue).await.0, 0);
    let st = status(dir.path());
    assert_eq!(
        st["spool_depth"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        0,
        "{st}"
    );
    assert!(st["polls"].as_u64().unwrap() >= 1);
    // Each poll commits a manifest and the Lambda ingest's state; compaction (every second
    // here) keeps them from piling up.
    let files = |rel: &str| {
        std::fs::read_dir(dir.path().join("lake").join(rel))
            .unwrap()
            .count()
    };
    let polls = st["polls"].as_u64().unwrap() as usize;
    assert!(
        files("_manifest/lambda") < 16,
        "{} manifests after {polls} polls",
        files("_manifest/lambda")
    );
    assert!(
        files("_state/lambda") < 32,
        "{} state files after {polls} polls",
        files("_state/lambda")
    );
    assert_eq!(
        count_table(&lake, "lambda_invocations"),
        54,
        "no invocation lost or doubled by compaction"
    );
    watch_kill(watch);
}

fn count_table(lake: &str, table: &str) -> u64 {
    let rows = query(lake, &format!("SELECT count(*) AS n FROM {table}"));
    rows[0]["n"].as_u64().unwrap()
}

fn watch_kill(mut child: Child) {
    // SIGKILL: no clean-up of any kind.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_outage_spools_alerts_and_delivers_them_when_it_returns() {
    let env = setup("outage").await;
    let dir = tempdir();
    let config = write_config(dir.path(), &env, "");
    let proxy = switch_proxy();
    proxy.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let watch = start(
        &config,
        &[("AWS_ENDPOINT_URL_SNS", proxy.endpoint.as_str())],
    );
    put(
        &env.s3,
        &env.bucket,
        &trail_key("role-x"),
        trail_file("role-x"),
    )
    .await;
    put(
        &env.s3,
        &env.bucket,
        &trail_key("role-y"),
        trail_file("role-y"),
    )
    .await;

    // SNS refuses: both alerts wait in the spool (the file sink, unaffected, has them).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let st = std::fs::read_to_string(dir.path().join("lake/_watch/status.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let spooled = st.as_ref().map_or(0, |s| {
            s["spool_depth"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with("sns:"))
                .map(|(_, v)| v.as_u64().unwrap())
                .sum::<u64>()
        });
        if spooled == 2 {
            let s = st.unwrap();
            assert!(
                s["sink_errors"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|k| k.starts_with("sns:")),
                "{s}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "alerts never spooled: {st:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(proxy.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let mut alerts = Vec::new();
    drain_alerts(&env, &mut alerts).await;
    assert!(alerts.is_empty(), "nothing reached SNS while it was down");
    let file = std::fs::read_to_string(dir.path().join("alerts.ndjson")).unwrap();
    assert_eq!(file.lines().count(), 2);

    // SNS back: the spooled alerts go out, once each.
    proxy.down.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_alerts(&env, &mut alerts, 120, "the spooled alerts", |a| {
        a.len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drain_alerts(&env, &mut alerts).await;
    let roles = roles_alerted(&alerts);
    assert_eq!(
        roles,
        [("role-x".to_string(), 1), ("role-y".to_string(), 1)]
            .into_iter()
            .collect()
    );
    let st = status(dir.path());
    assert!(st["sink_errors"].as_object().unwrap().is_empty(), "{st}");
    watch_kill(watch);
}

#[test]
fn bad_configs_are_refused_naming_the_key() {
    let dir = tempdir();
    let path = dir.path().join("watch.toml");
    std::fs::write(
        &path,
        "lake = \"lake\"\n[[lambda]]\nlog_group = \"/aws/lambda/f\"\n[[sink]]\ntype = \"stdout\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let out = run(bin().args(["watch", "--config"]).arg(&path));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("colour") && err.contains("watch.toml"),
        "{err}"
    );
    let out = run(bin().args(["watch", "--config", "/nonexistent/watch.toml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/watch.toml"));
}

/// `trailhound watch --once --config CONFIG`, which must succeed: the alerts it printed.
fn watch_once(config: &std::path::Path) -> Vec<Value> {
    let out = run(bin().args(["watch", "--once", "--config"]).arg(config));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn once_over_a_listed_prefix_prints_each_alert_once() {
    let s3 = s3().await;
    let bucket = unique_bucket("watch-once");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let config = dir.path().join("watch.toml");
    std::fs::write(
        &config,
        format!(
            "lake = \"lake\"\n[[cloudtrail]]\ns3 = \"s3://{bucket}/AWSLogs/\"\n[[sink]]\ntype = \"stdout\"\n[status]\ninterval = \"0s\"\n"
        ),
    )
    .unwrap();
    let once = || watch_once(&config);
    assert!(once().is_empty(), "nothing to say about an empty bucket");
    put(&s3, &bucket, &trail_key("role-p"), trail_file("role-p")).await;
    // A digest next to it is skipped by name, not read.
    put(
        &s3,
        &bucket,
        &format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/d.json.gz"),
        gz(b"{}"),
    )
    .await;
    let alerts = once();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["finding_info"]["analytic"]["uid"],
        "defense-evasion"
    );
    assert!(
        alerts[0]["actor"]["user"]["uid"]
            .as_str()
            .unwrap()
            .ends_with("role/role-p")
    );
    // Run again, and with another object: only the new finding comes out.
    put(&s3, &bucket, &trail_key("role-q"), trail_file("role-q")).await;
    let alerts = once();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0]["actor"]["user"]["uid"]
            .as_str()
            .unwrap()
            .ends_with("role/role-q")
    );
    assert!(once().is_empty());
    let lake = dir.path().join("lake").display().to_string();
    assert_eq!(count(&lake, ""), 40);
    // The findings are in the lake's findings table too.
    let rows = query(&lake, "SELECT count(*) AS n FROM findings");
    assert_eq!(rows[0]["n"], 2);
}

/// The watch with its lake on S3 (the emulator): objects in, one alert each, the events and
/// the findings in the S3 lake, nothing alerted twice.
#[tokio::test(flavor = "multi_thread")]
async fn once_into_an_s3_lake() {
    let s3 = s3().await;
    let bucket = unique_bucket("watch-s3-lake");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let config = dir.path().join("watch.toml");
    let lake = format!("s3://{bucket}/lake");
    std::fs::write(
        &config,
        format!(
            "lake = \"{lake}\"\nstate_dir = \"state\"\n[[cloudtrail]]\ns3 = \"s3://{bucket}/AWSLogs/\"\n[[sink]]\ntype = \"stdout\"\n[status]\ninterval = \"0s\"\n"
        ),
    )
    .unwrap();
    let once = move || watch_once(&config);
    put(&s3, &bucket, &trail_key("role-p"), trail_file("role-p")).await;
    let alerts = tokio::task::spawn_blocking(once.clone()).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["finding_info"]["analytic"]["uid"],
        "defense-evasion"
    );
    assert!(tokio::task::spawn_blocking(once).await.unwrap().is_empty());
    let lake2 = lake.clone();
    let (events, findings) = tokio::task::spawn_blocking(move || {
        (
            count(&lake2, ""),
            query(&lake2, "SELECT count(*) AS n FROM findings")[0]["n"].clone(),
        )
    })
    .await
    .unwrap();
    assert_eq!(events, 20);
    assert_eq!(findings, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_baseline_scores_what_arrives_and_alerts_on_a_flood() {
    // Nine days of a quiet 4-function account in the lake, and a model of it.
    let dir = tempdir();
    let first_day = (chrono::Utc::now() - chrono::Duration::days(9))
        .format("%Y-%m-%d")
        .to_string();
    let (lake, _) = crate::detect::simulated_lake(
        dir.path(),
        &[
            "--functions",
            "4",
            "--days",
            "9",
            "--events-per-day",
            "4000",
            "--seed",
            "41",
            "--attacks",
            "none",
            "--start",
            &first_day,
        ],
    );
    let model = dir.path().join("model.bin");
    let o = run(bin()
        .args(["baseline", "train", "--lake", &lake, "--model"])
        .arg(&model));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let busiest = query(
        &lake,
        "SELECT function_name, count(*) AS n FROM lambda_invocations GROUP BY function_name ORDER BY n DESC LIMIT 1",
    );
    let function = busiest[0]["function_name"].as_str().unwrap().to_string();

    // Now the function is invoked a thousand times in a minute.
    let logs = logs().await;
    let group = format!("/aws/lambda/{function}");
    // Other tests may simulate functions of the same name into the emulator: the group may
    // exist; the stream is this test's own.
    let made = logs.create_log_group().log_group_name(&group).send().await;
    if let Err(e) = made {
        assert!(format!("{e:?}").contains("ResourceAlreadyExists"), "{e:?}");
    }
    let stream = unique_name("flood");
    logs.create_log_stream()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .send()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let mut events = Vec::new();
    for i in 0..1000 {
        let id = format!("f100d{i:03}-0000-4000-8000-000000000000");
        events.extend(invocation(
            &id,
            now - 60_000 + i as i64 * 50,
            "20.00",
            256,
            80,
        ));
    }
    put_events(&logs, &group, &stream, &events).await;

    let config = dir.path().join("watch.toml");
    std::fs::write(
        &config,
        format!(
            "lake = \"lake\"\npoll_interval = \"500ms\"\n[[lambda]]\nlog_group = \"{group}\"\n[baseline]\nmodel = \"model.bin\"\ninterval = \"1s\"\n[[sink]]\ntype = \"file\"\npath = \"alerts.ndjson\"\n"
        ),
    )
    .unwrap();
    let watch = start(&config, &[]);
    let alerts_file = dir.path().join("alerts.ndjson");
    let deadline = Instant::now() + Duration::from_secs(120);
    let alert = loop {
        let found = std::fs::read_to_string(&alerts_file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|a| {
                a["finding_info"]["analytic"]["uid"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("baseline-"))
            });
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "no baseline alert");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    watch_kill(watch);
    assert_eq!(alert["resources"][0]["name"], function.as_str(), "{alert}");
    assert!(
        alert["unmapped"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("invocations")),
        "{alert}"
    );
}

/// One intrusion, one alert: two roles' findings sharing the attacker's key and address that
/// arrive together open one incident in one SNS message; a third, later, is one more message
/// naming the same incident.
#[tokio::test(flavor = "multi_thread")]
async fn an_intrusion_is_one_alert_then_one_per_finding_added() {
    let env = setup("incident").await;
    let dir = tempdir();
    let config = write_config(dir.path(), &env, "");
    let mut alerts = Vec::new();
    // Both files before the watch starts: its first poll sees them together.
    for role in ["shared-a", "shared-b"] {
        put(&env.s3, &env.bucket, &trail_key(role), trail_file(role)).await;
    }
    let watch = start(&config, &[]);
    wait_alerts(&env, &mut alerts, 90, "the incident's first alert", |a| {
        !a.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drain_alerts(&env, &mut alerts).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let attrs = &alerts[0].1["MessageAttributes"];
    assert_eq!(attrs["incident_event"]["Value"], "opened", "{attrs}");
    assert_eq!(attrs["finding_count"]["Value"], "2", "{attrs}");
    let incident = attrs["incident_id"]["Value"].as_str().unwrap().to_string();
    assert!(incident.starts_with("inc-"), "{incident}");
    let subject = alerts[0].1["Subject"].as_str().unwrap();
    assert!(
        subject.contains(&format!("new incident {incident}")),
        "{subject}"
    );
    let body: Value = serde_json::from_str(alerts[0].1["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["unmapped"]["incident"]["findings"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{body}"
    );
    // Later, the same attacker with a third role: one message, added to the incident.
    put(
        &env.s3,
        &env.bucket,
        &trail_key("shared-c"),
        trail_file("shared-c"),
    )
    .await;
    wait_alerts(&env, &mut alerts, 90, "the added finding", |a| a.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drain_alerts(&env, &mut alerts).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let attrs = &alerts[1].1["MessageAttributes"];
    assert_eq!(attrs["incident_event"]["Value"], "finding-added", "{attrs}");
    assert_eq!(attrs["incident_id"]["Value"], incident.as_str(), "{attrs}");
    watch_kill(watch);
    // `incidents list` over the watch's lake tells the same incident.
    let lake = dir.path().join("lake").display().to_string();
    let o = run(bin().args(["incidents", "list", "--json", "--lake", &lake]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], incident.as_str());
    assert_eq!(listed[0]["findings"].as_array().unwrap().len(), 3);
}

//! The lake on S3 as a first-class lake (the local AWS emulator): two writers of one table
//! (S3 conditional writes, not local lock files), a lease left by a writer that died, and
//! credentials that expire while a run goes on.

use std::collections::BTreeSet;
use std::process::Stdio;

use serde_json::Value;

use crate::common::*;

/// A simulated account's CloudTrail files (local) and how many events they hold, counted by
/// ingesting them into a local lake.
fn trail(dir: &std::path::Path, args: &[&str]) -> (std::path::PathBuf, u64) {
    let data = dir.join("data");
    simulate(&data, args);
    let src = data.join("AWSLogs");
    let s = ingest(&[&src], &dir.join("local-lake").display().to_string());
    (src, s["events_ingested"].as_u64().unwrap())
}

fn events_and_distinct(lake: &str) -> (u64, u64) {
    let rows = query(
        lake,
        "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM cloudtrail",
    );
    (
        rows[0]["n"].as_u64().unwrap(),
        rows[0]["d"].as_u64().unwrap(),
    )
}

/// Two `ingest cloudtrail` runs into one S3 lake at once: one writes, the other stops with an
/// error naming the lease (or waits its turn, when the first was done before it looked);
/// then a third run adds what is missing. Every event is in the lake exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_ingests_into_one_s3_lake() {
    let s3 = s3().await;
    let bucket = unique_bucket("two-writers");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let (src, total) = trail(
        dir.path(),
        &[
            "--functions",
            "6",
            "--days",
            "6",
            "--events-per-day",
            "4000",
            "--attacks",
            "none",
        ],
    );
    let lake = format!("s3://{bucket}/lake");
    let (lake2, src2) = (lake.clone(), src.clone());
    tokio::task::spawn_blocking(move || {
        let start = || {
            bin()
                .args(["ingest", "cloudtrail"])
                .arg(&src2)
                .args(["--lake", &lake2, "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(), start());
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let mut ingested = 0;
        for o in &outs {
            if o.status.success() {
                let s: Value = serde_json::from_slice(&o.stdout).unwrap();
                ingested += s["events_ingested"].as_u64().unwrap();
            } else {
                let err = text(&o.stderr);
                assert!(
                    err.contains("is locked") && err.contains("_manifest/cloudtrail.lock"),
                    "{err}"
                );
            }
        }
        assert!(
            outs.iter().any(|o| o.status.success()),
            "neither run ingested"
        );
        // Whoever ran, nothing was ingested twice.
        assert_eq!(ingested, total);
        let (n, distinct) = events_and_distinct(&lake2);
        assert_eq!((n, distinct), (total, total));
        // A third run finds nothing new and leaves no lease behind.
        let s = ingest(&[&src2], &lake2);
        assert_eq!(s["events_ingested"], 0, "{s}");
        assert_eq!(events_and_distinct(&lake2), (total, total));
    })
    .await
    .unwrap();
    let left = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("lake/_manifest/cloudtrail.lock")
        .send()
        .await
        .unwrap();
    assert!(left.contents().is_empty(), "a lease was left: {left:?}");
}

/// A lease another writer holds stops an ingest with an error naming it; one whose holder
/// stopped renewing it (expired) is taken over.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_lease_stops_a_writer_and_an_expired_one_is_taken_over() {
    let s3 = s3().await;
    let bucket = unique_bucket("lease");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let src = dir.path().join("trail");
    write(
        &src.join("AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/02/a.json.gz"),
        &gz(&delivery_file(0, 50)),
    );
    let lake = format!("s3://{bucket}/lake");
    let lease = |expires: chrono::DateTime<chrono::Utc>| {
        serde_json::to_vec(&serde_json::json!({
            "id": "0", "host": "elsewhere", "pid": 4242, "tool": "trailhound 0.0.0",
            "acquired_at": "2026-01-01T00:00:00Z", "expires_at": expires.to_rfc3339(),
        }))
        .unwrap()
    };
    let key = "lake/_manifest/cloudtrail.lock";
    put(
        &s3,
        &bucket,
        key,
        lease(chrono::Utc::now() + chrono::Duration::minutes(5)),
    )
    .await;
    let (lake2, src2) = (lake.clone(), src.clone());
    let o = tokio::task::spawn_blocking(move || {
        run(bin()
            .args(["ingest", "cloudtrail"])
            .arg(&src2)
            .args(["--lake", &lake2]))
    })
    .await
    .unwrap();
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("s3://{bucket}/{key}")) && err.contains("pid 4242 on elsewhere"),
        "{err}"
    );

    put(
        &s3,
        &bucket,
        key,
        lease(chrono::Utc::now() - chrono::Duration::minutes(1)),
    )
    .await;
    let (lake2, src2) = (lake.clone(), src.clone());
    let s = tokio::task::spawn_blocking(move || ingest(&[&src2], &lake2))
        .await
        .unwrap();
    assert_eq!(s["events_ingested"], 50, "{s}");
}

/// A credential process that hands out keys valid for a few seconds, and a proxy in front of
/// the emulator that refuses any request signed with an expired one (as AWS does): an ingest
/// into an S3 lake and a detect over it, each longer than a key's life, finish, having used
/// several keys, none of them expired.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_expire_mid_run() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    let s3 = s3().await;
    let bucket = unique_bucket("expiring");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let data = dir.path().join("data");
    simulate(
        &data,
        &[
            "--functions",
            "6",
            "--days",
            "14",
            "--events-per-day",
            "3000",
        ],
    );

    // Keys named for the second they expire at.
    let life_seconds = 2;
    let script = dir.path().join("credentials.sh");
    let calls = dir.path().join("calls");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> '{}'\nexp=$(( $(date +%s) + {life_seconds} ))\n\
             printf '{{\"Version\":1,\"AccessKeyId\":\"EXP%s\",\"SecretAccessKey\":\"test\",\
             \"SessionToken\":\"token\",\"Expiration\":\"%s\"}}' \"$exp\" \
             \"$(date -u -d @$exp +%Y-%m-%dT%H:%M:%SZ)\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[default]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();

    let keys = Arc::new(Mutex::new(BTreeSet::new()));
    let expired = Arc::new(AtomicU32::new(0));
    let (k, e) = (keys.clone(), expired.clone());
    let endpoint = proxy(move |req: &Request| {
        let auth = req
            .headers
            .iter()
            .find(|h| h.starts_with("authorization:"))?;
        let key = auth
            .split("credential=")
            .nth(1)?
            .split('/')
            .next()?
            .to_string();
        let until: i64 = key.strip_prefix("exp")?.parse().ok()?;
        k.lock().unwrap().insert(key);
        if until >= chrono::Utc::now().timestamp() {
            return None;
        }
        e.fetch_add(1, Ordering::SeqCst);
        let msg = "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>";
        Some(format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{msg}",
            msg.len()
        ))
    });
    let with_expiring = move |cmd: &mut std::process::Command| {
        cmd.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_CONFIG_FILE", &config)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN");
    };
    let lake = format!("s3://{bucket}/lake");
    let (lake2, data2) = (lake.clone(), data.clone());
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        for args in [
            vec![
                "ingest".to_string(),
                "cloudtrail".into(),
                data2.join("AWSLogs").display().to_string(),
            ],
            vec![
                "ingest".into(),
                "lambda-logs".into(),
                data2.join("lambda-logs").display().to_string(),
            ],
        ] {
            let mut cmd = bin();
            cmd.args(&args).args(["--lake", &lake2]);
            with_expiring(&mut cmd);
            let o = run(&mut cmd);
            assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        }
        let mut cmd = bin();
        cmd.args([
            "detect",
            "--lake",
            &lake2,
            "--no-write",
            "--format",
            "ndjson",
        ]);
        with_expiring(&mut cmd);
        let o = run(&mut cmd);
        assert!(o.status.success(), "detect: {}", text(&o.stderr));
        assert!(!o.stdout.is_empty());
    })
    .await
    .unwrap();
    let seconds = started.elapsed().as_secs();
    let keys = keys.lock().unwrap().len();
    assert!(
        seconds > 2 * life_seconds,
        "the runs were too short to test: {seconds} s"
    );
    assert!(keys >= 3, "only {keys} keys were used in {seconds} s");
    assert_eq!(
        expired.load(Ordering::SeqCst),
        0,
        "requests were signed with expired keys"
    );
}

/// A trail bucket and a lake bucket in another region than the configured one (S3 refuses a
/// request signed for the wrong region with a redirect, as the proxy in front of the emulator
/// does here): ingest and query find each bucket's region and work.
#[tokio::test(flavor = "multi_thread")]
async fn buckets_in_another_region() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let s3 = s3().await;
    let bucket = unique_bucket("eu");
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for n in 0..3 {
        put(
            &s3,
            &bucket,
            &format!("trail/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/08/02/f{n}.json.gz"),
            gz(&delivery_file(n * 40, n * 40 + 40)),
        )
        .await;
    }
    let redirected = Arc::new(AtomicU32::new(0));
    let r = redirected.clone();
    let b = bucket.clone();
    let endpoint = proxy(move |req: &Request| {
        let line = String::from_utf8_lossy(&req.head);
        let path = line.split_whitespace().nth(1)?;
        if !path.trim_start_matches('/').starts_with(b.as_str()) {
            return None;
        }
        let auth = req
            .headers
            .iter()
            .find(|h| h.starts_with("authorization:"))?;
        // Credential=KEY/DATE/REGION/s3/aws4_request
        let region = auth.split("credential=").nth(1)?.split('/').nth(2)?;
        if region == "eu-west-1" {
            return None;
        }
        r.fetch_add(1, Ordering::SeqCst);
        let msg = "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>";
        Some(format!(
            "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-1\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{msg}",
            msg.len()
        ))
    });
    let lake = format!("s3://{bucket}/lake");
    let (lake2, bucket2, endpoint2) = (lake.clone(), bucket.clone(), endpoint.clone());
    tokio::task::spawn_blocking(move || {
        let o = run(bin()
            .env("AWS_ENDPOINT_URL", &endpoint2)
            .args([
                "ingest",
                "cloudtrail",
                &format!("s3://{bucket2}/trail/AWSLogs/"),
            ])
            .args(["--lake", &lake2, "--json", "--region", "us-east-1"]));
        assert!(o.status.success(), "{}", text(&o.stderr));
        let s: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(s["events_ingested"], 120, "{s}");
        let o = run(bin()
            .env("AWS_ENDPOINT_URL", &endpoint2)
            .args(["query", "--lake", &lake2, "--format", "ndjson"])
            .arg("SELECT count(*) AS n FROM cloudtrail"));
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(text(&o.stdout).contains("\"n\":120"), "{}", text(&o.stdout));
    })
    .await
    .unwrap();
    // The redirects were met (one HeadBucket each process), not avoided by accident.
    assert!(redirected.load(Ordering::SeqCst) >= 2);
}

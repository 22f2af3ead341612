//! Ingest from S3 and into an S3 lake, against the local AWS emulator.

use crate::common::*;

fn key(day: u32, n: u32) -> String {
    format!(
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/{day:02}/123456789012_CloudTrail_us-east-1_20240802T09{n:02}Z_abc{n}.json.gz"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_source_end_to_end() {
    let s3 = s3().await;
    let bucket = unique_bucket("trail");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for n in 0..12u32 {
        let from = n as usize * 100;
        put(
            &s3,
            &bucket,
            &key(2, n),
            gz(&delivery_file(from, from + 100)),
        )
        .await;
    }
    // A digest file and AWS Config's check file live in the same bucket.
    put(
        &s3,
        &bucket,
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/02/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240802T100000Z.json.gz",
        gz(br#"{"awsAccountId":"123456789012","digestStartTime":"2024-08-02T09:00:00Z"}"#),
    )
    .await;
    put(
        &s3,
        &bucket,
        "AWSLogs/123456789012/ConfigWritabilityCheckFile",
        b"x".to_vec(),
    )
    .await;

    let dir = tempdir();
    let lake = lake_of(&dir);
    let src = format!("s3://{bucket}/AWSLogs/");
    let lake2 = lake.clone();
    let s = tokio::task::spawn_blocking(move || ingest(&[&src], &lake2))
        .await
        .unwrap();
    assert_eq!(s["files_read"], 12, "{s}");
    assert_eq!(s["events_ingested"], 1200);
    assert_eq!(s["files_skipped"], 2);
    assert_eq!(count(&lake, ""), 1200);
    let uris = query(
        &lake,
        "SELECT DISTINCT source_uri FROM cloudtrail ORDER BY source_uri",
    );
    assert_eq!(uris.len(), 12);
    assert_eq!(
        uris[0]["source_uri"],
        format!("s3://{bucket}/{}", key(2, 0))
    );

    // Idempotent: nothing new, nothing added.
    let src = format!("s3://{bucket}/AWSLogs/");
    let lake2 = lake.clone();
    let again = tokio::task::spawn_blocking(move || ingest(&[&src], &lake2))
        .await
        .unwrap();
    assert_eq!(again["events_ingested"], 0);
    assert_eq!(again["events_duplicate"], 1200);
    assert_eq!(again["files_already_ingested"], 12);

    // A file delivered later is picked up by the next run.
    put(&s3, &bucket, &key(3, 40), gz(&delivery_file(5000, 5042))).await;
    let src = format!("s3://{bucket}/AWSLogs/");
    let lake2 = lake.clone();
    let third = tokio::task::spawn_blocking(move || ingest(&[&src], &lake2))
        .await
        .unwrap();
    assert_eq!(third["files_read"], 1);
    assert_eq!(third["events_ingested"], 42);
    assert_eq!(count(&lake, ""), 1242);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_lake_end_to_end() {
    let s3 = s3().await;
    let src_bucket = unique_bucket("src");
    let lake_bucket = unique_bucket("lake");
    s3.create_bucket().bucket(&src_bucket).send().await.unwrap();
    s3.create_bucket()
        .bucket(&lake_bucket)
        .send()
        .await
        .unwrap();
    for n in 0..3u32 {
        let from = n as usize * 50;
        put(
            &s3,
            &src_bucket,
            &key(2, n),
            gz(&delivery_file(from, from + 50)),
        )
        .await;
    }
    put(&s3, &src_bucket, "AWSLogs/bad.json", b"{not json".to_vec()).await;
    let lake = format!("s3://{lake_bucket}/security/lake");
    let src = format!("s3://{src_bucket}");
    let lake2 = lake.clone();
    let s = tokio::task::spawn_blocking(move || ingest(&[&src], &lake2))
        .await
        .unwrap();
    assert_eq!(s["events_ingested"], 150, "{s}");
    assert_eq!(s["records_quarantined"], 1, "{s}");

    let lake2 = lake.clone();
    let n = tokio::task::spawn_blocking(move || count(&lake2, "WHERE dt = '2024-08-02'"))
        .await
        .unwrap();
    assert_eq!(n, 150);

    // The lake objects are where the design puts them.
    let listed = s3
        .list_objects_v2()
        .bucket(&lake_bucket)
        .prefix("security/lake/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.iter().any(|k| k.starts_with(
            "security/lake/cloudtrail/account_id=123456789012/region=us-east-1/dt=2024-08-02/part-"
        ) && k.ends_with(".parquet")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("security/lake/_manifest/cloudtrail/")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("security/lake/_quarantine/cloudtrail/")),
        "{keys:?}"
    );

    // Rerun against the S3 lake's manifest: nothing added.
    let src = format!("s3://{src_bucket}");
    let lake2 = lake.clone();
    let again = tokio::task::spawn_blocking(move || ingest(&[&src], &lake2))
        .await
        .unwrap();
    assert_eq!(again["events_ingested"], 0);
    assert_eq!(again["events_duplicate"], 150);
}

#[test]
fn missing_bucket_is_a_clear_error() {
    emulator();
    let dir = tempdir();
    let out = run(bin().args([
        "ingest",
        "cloudtrail",
        "s3://th-no-such-bucket-xyz/AWSLogs/",
        "--lake",
        &lake_of(&dir),
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("s3://th-no-such-bucket-xyz") && err.contains("ListObjectsV2"),
        "{err}"
    );
}

//! Ingest from local files: shapes, provenance, idempotency, crash clean-up, the lock.

use serde_json::json;

use crate::common::*;

const KEY_DIR: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/02";

#[test]
fn delivery_files_land_partitioned_with_provenance() {
    let dir = tempdir();
    let src = dir.path().join("src");
    write(
        &src.join(KEY_DIR).join("a.json.gz"),
        &gz(&delivery_file(0, 400)),
    );
    write(&src.join(KEY_DIR).join("b.json"), &delivery_file(400, 500));
    let lake = lake_of(&dir);

    let s = ingest(&[&src], &lake);
    assert_eq!(s["files_read"], 2);
    assert_eq!(s["events_ingested"], 500);
    assert_eq!(s["records_quarantined"], 0);
    assert_eq!(s["events_duplicate"], 0);

    assert_eq!(count(&lake, ""), 500);
    assert_eq!(
        count(
            &lake,
            "WHERE dt = '2024-08-02' AND account_id = '123456789012' AND region = 'us-east-1'"
        ),
        500
    );
    assert_eq!(count(&lake, "WHERE dt = '2024-08-03'"), 0);

    let rows = query(
        &lake,
        "SELECT actor_arn, session_name, user_identity_access_key_id, source_uri, source_record_index,
                read_only, json_get_str(request_parameters, 'tableName') AS table_name, event_time
         FROM cloudtrail WHERE event_id = '00000000-0000-0000-0000-000000000401'",
    );
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        r["actor_arn"],
        "arn:aws:iam::123456789012:role/service-role/orders-role"
    );
    assert_eq!(r["session_name"], "orders-fn");
    assert_eq!(r["user_identity_access_key_id"], "ASIAEXAMPLE");
    assert!(
        r["source_uri"].as_str().unwrap().ends_with("/b.json"),
        "{r}"
    );
    assert_eq!(r["source_record_index"], 1);
    assert_eq!(r["read_only"], true);
    assert_eq!(r["table_name"], "orders");
    assert!(
        r["event_time"]
            .as_str()
            .unwrap()
            .starts_with("2024-08-02T09:06:41"),
        "{r}"
    );

    // The files are partitioned zstd Parquet.
    let part = dir
        .path()
        .join("lake/cloudtrail/account_id=123456789012/region=us-east-1/dt=2024-08-02");
    let files: Vec<_> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        assert_eq!(f.extension().unwrap(), "parquet", "{f:?}");
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(f).unwrap())
                .unwrap();
        use parquet::file::reader::FileReader;
        // zstd, but for the columns of a few KiB of a small file written whole.
        for col in reader.metadata().row_group(0).columns() {
            assert!(
                col.compression() == parquet::basic::Compression::ZSTD(Default::default())
                    || (col.compression() == parquet::basic::Compression::UNCOMPRESSED
                        && col.uncompressed_size() <= 8192),
                "{:?} {:?} {}",
                col.column_path(),
                col.compression(),
                col.uncompressed_size()
            );
        }
        // Bloom filters on the identifiers looked up a few at a time, and only on those.
        let rg = reader.metadata().row_group(0);
        let with_bloom: Vec<String> = rg
            .columns()
            .iter()
            .filter(|c| c.bloom_filter_offset().is_some())
            .map(|c| c.column_path().string())
            .collect();
        assert_eq!(
            with_bloom,
            ["event_id", "request_id", "user_identity_access_key_id"],
            "{f:?}"
        );
    }
}

#[test]
fn rerun_adds_nothing_and_new_objects_are_picked_up() {
    let dir = tempdir();
    let src = dir.path().join("src");
    write(
        &src.join(KEY_DIR).join("a.json.gz"),
        &gz(&delivery_file(0, 300)),
    );
    write(
        &src.join(KEY_DIR).join("b.json.gz"),
        &gz(&delivery_file(300, 400)),
    );
    let lake = lake_of(&dir);
    assert_eq!(ingest(&[&src], &lake)["events_ingested"], 400);

    let again = ingest(&[&src], &lake);
    assert_eq!(again["events_ingested"], 0);
    assert_eq!(again["files_read"], 0);
    assert_eq!(again["files_already_ingested"], 2);
    assert_eq!(again["events_duplicate"], 400);
    assert_eq!(count(&lake, ""), 400);

    // An object delivered later is read by the next run, and only it.
    write(
        &src.join(KEY_DIR).join("c.json.gz"),
        &gz(&delivery_file(400, 450)),
    );
    let third = ingest(&[&src], &lake);
    assert_eq!(third["files_read"], 1);
    assert_eq!(third["events_ingested"], 50);
    assert_eq!(third["events_duplicate"], 400);
    assert_eq!(count(&lake, ""), 450);

    // The same bytes under another name (a copy of the export) add nothing either.
    let copy = dir.path().join("copy/a-copy.json.gz");
    write(&copy, &gz(&delivery_file(0, 300)));
    let dup = ingest(&[&copy], &lake);
    assert_eq!(dup["events_ingested"], 0);
    assert_eq!(dup["events_duplicate"], 300);
    assert_eq!(count(&lake, ""), 450);
}

#[test]
fn files_of_a_run_that_never_committed_are_removed() {
    let dir = tempdir();
    let src = dir.path().join("src");
    write(&src.join("a.json"), &delivery_file(0, 100));
    let lake = lake_of(&dir);
    ingest(&[&src], &lake);
    assert_eq!(count(&lake, ""), 100);

    // A crash after a data file was put in place but before its manifest was written
    // leaves a file no manifest names: simulate one by copying a committed file.
    let part = dir
        .path()
        .join("lake/cloudtrail/account_id=123456789012/region=us-east-1/dt=2024-08-02");
    let existing = std::fs::read_dir(&part)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let orphan = part.join(format!(
        "part-{}-00000-w0-0.parquet",
        "0123456789abcdef0123456789abcdef"
    ));
    std::fs::copy(&existing, &orphan).unwrap();
    let staged = part.join("part-x.parquet.inprogress");
    std::fs::write(&staged, b"half a file").unwrap();
    assert_eq!(count(&lake, ""), 200);

    write(&src.join("b.json"), &delivery_file(100, 110));
    let s = ingest(&[&src], &lake);
    assert_eq!(s["orphans_removed"], 2);
    assert!(!orphan.exists() && !staged.exists());
    assert_eq!(count(&lake, ""), 110);
}

#[test]
fn a_second_ingest_into_the_same_lake_is_refused() {
    let dir = tempdir();
    let src = dir.path().join("a.json");
    write(&src, &delivery_file(0, 5));
    let lake = lake_of(&dir);
    ingest(&[&src], &lake);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("lake/_manifest/cloudtrail.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let out = run(bin()
        .args(["ingest", "cloudtrail"])
        .arg(&src)
        .args(["--lake", &lake]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("locked by another ingest"),
        "{}",
        text(&out.stderr)
    );
    drop(lock);
}

#[test]
fn every_input_shape() {
    let dir = tempdir();
    let src = dir.path().join("src");
    let e = |i| event(i, "PutItem");
    // Plain JSON array (as Stratus Red Team's detonation logs are).
    write(
        &src.join("array.json"),
        &serde_json::to_vec(&json!([e(0), e(1)])).unwrap(),
    );
    // NDJSON single events.
    let nd = format!("{}\n{}\n", e(2), e(3));
    write(&src.join("events.ndjson"), nd.as_bytes());
    // `aws cloudtrail lookup-events` output: the event is a JSON string.
    let lookup = json!({"Events": [
        {"EventId": "x", "EventName": "PutItem", "CloudTrailEvent": e(4).to_string()},
        {"EventId": "y", "EventName": "PutItem", "CloudTrailEvent": e(5).to_string()}
    ], "NextToken": "t"});
    write(
        &src.join("lookup.json"),
        &serde_json::to_vec_pretty(&lookup).unwrap(),
    );
    // EventBridge events carrying CloudTrail in `detail`.
    let eb = json!({"version": "0", "id": "1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.dynamodb", "detail": e(6)});
    write(
        &src.join("eventbridge.jsonl.gz"),
        &gz(format!("{eb}\n").as_bytes()),
    );
    // A single pretty-printed event.
    write(
        &src.join("single.json"),
        &serde_json::to_vec_pretty(&e(7)).unwrap(),
    );

    let lake = lake_of(&dir);
    let s = ingest(&[&src], &lake);
    assert_eq!(s["events_ingested"], 8, "{s}");
    assert_eq!(s["files_read"], 5);
    assert_eq!(s["records_quarantined"], 0);
    let ids: Vec<String> = query(&lake, "SELECT event_id FROM cloudtrail ORDER BY event_id")
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..8)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    assert_eq!(ids, want);
}

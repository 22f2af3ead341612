//! Bad input never stops the run and never loses good records.

use std::io::Write;

use serde_json::json;

use crate::common::*;

#[test]
fn bad_files_and_records_are_quarantined_and_counted() {
    let dir = tempdir();
    let src = dir.path().join("src");
    let ok = |i| event(i, "GetItem");

    // Good file.
    write(&src.join("good.json.gz"), &gz(&delivery_file(0, 50)));
    // Not JSON at all.
    write(&src.join("notes.json"), b"this is not json\n");
    // Empty file.
    write(&src.join("empty.json"), b"");
    // Truncated gzip: the first half of a compressed delivery file.
    let full = gz(&delivery_file(1000, 3000));
    write(&src.join("truncated.json.gz"), &full[..full.len() / 2]);
    // Non-UTF-8 bytes inside one record of three.
    let mut bytes = format!(r#"{{"Records":[{},{{"eventTime":"2024-08-02T09:00:00Z","eventName":"X","userAgent":"BADBYTES"}},{}]}}"#, ok(100), ok(101))
        .into_bytes();
    let at = bytes.windows(8).position(|w| w == b"BADBYTES").unwrap();
    bytes.splice(at..at + 8, [0xff, 0xfe, 0x41]);
    write(&src.join("non-utf8.json"), &bytes);
    // Records without eventTime or eventName, and of the wrong types, between good ones.
    let mut e_time_num = ok(203);
    e_time_num["eventTime"] = json!(1722589200);
    let mut e_name_obj = ok(204);
    e_name_obj["eventName"] = json!({"not": "a string"});
    let mut e_readonly = ok(205);
    e_readonly["readOnly"] = json!("maybe");
    e_readonly["newTopLevelField"] = json!({"kept": true});
    let mut no_time = ok(201);
    no_time.as_object_mut().unwrap().remove("eventTime");
    let mut no_name = ok(202);
    no_name.as_object_mut().unwrap().remove("eventName");
    let records = json!({"Records": [ok(200), no_time, no_name, e_time_num, e_name_obj, e_readonly, 42, "text", ok(206)]});
    write(
        &src.join("mixed.json"),
        &serde_json::to_vec(&records).unwrap(),
    );
    // A digest file, by its place in the bucket layout, and one by its content.
    write(
        &src.join("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/02/d.json.gz"),
        &gz(br#"{"awsAccountId":"123456789012","digestStartTime":"2024-08-02T00:00:00Z"}"#),
    );
    write(
        &src.join("digest-elsewhere.json"),
        br#"{"awsAccountId":"123456789012","digestStartTime":"2024-08-02T00:00:00Z","digestS3Object":"k"}"#,
    );

    let lake = lake_of(&dir);
    let s = ingest(&[&src], &lake);

    // Good records: 50 + the truncated file's complete prefix + 2 + (200, 205, 206).
    let truncated_kept = count(&lake, "WHERE source_uri LIKE '%truncated.json.gz'");
    assert!(
        truncated_kept > 100 && truncated_kept < 2000,
        "{truncated_kept}"
    );
    assert_eq!(
        s["events_ingested"].as_u64().unwrap(),
        50 + truncated_kept + 2 + 3,
        "{s}"
    );
    assert_eq!(count(&lake, ""), s["events_ingested"].as_u64().unwrap());
    // The kept prefix of the truncated file is exactly its first records, in order.
    let rows = query(
        &lake,
        "SELECT min(source_record_index) AS lo, max(source_record_index) AS hi FROM cloudtrail WHERE source_uri LIKE '%truncated.json.gz'",
    );
    assert_eq!(rows[0]["lo"], 0);
    assert_eq!(rows[0]["hi"].as_u64().unwrap(), truncated_kept - 1);

    assert_eq!(s["files_quarantined"], 2, "{s}"); // notes.json, empty.json
    assert_eq!(s["files_skipped"], 2, "{s}"); // the two digests
    // 1 truncated tail + 1 non-UTF-8 record + 6 in mixed.json.
    assert_eq!(s["records_quarantined"], 8, "{s}");
    assert_eq!(s["files_read"], 4, "{s}"); // good, truncated, non-utf8, mixed

    let q = quarantine_lines(&lake);
    assert_eq!(q.len(), 8 + 2, "{q:#?}");
    let reason_for = |needle: &str| {
        q.iter()
            .find(|l| l["source_uri"].as_str().unwrap().ends_with(needle))
            .map(|l| l["reason"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(reason_for("notes.json").contains("not JSON"));
    assert!(reason_for("empty.json").contains("empty"));
    assert!(
        reason_for("truncated.json.gz").contains("input ends"),
        "{}",
        reason_for("truncated.json.gz")
    );
    let utf8 = q
        .iter()
        .find(|l| l["source_uri"].as_str().unwrap().ends_with("non-utf8.json"))
        .unwrap();
    assert_eq!(utf8["record_index"], 1);
    assert!(
        utf8["raw_base64"].is_string(),
        "non-UTF-8 bytes are kept as base64: {utf8}"
    );
    let mixed: Vec<&serde_json::Value> = q
        .iter()
        .filter(|l| l["source_uri"].as_str().unwrap().ends_with("mixed.json"))
        .collect();
    let reasons: Vec<&str> = mixed
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(mixed.len(), 6, "{reasons:?}");
    assert!(reasons.contains(&"no eventTime"));
    assert!(reasons.contains(&"no eventName"));
    assert!(reasons.iter().any(|r| r.contains("eventTime is a number")));
    assert!(reasons.iter().any(|r| r.contains("eventName is an object")));
    // Every quarantined record keeps its text and its place.
    for l in &mixed {
        assert!(l["raw"].is_string() && l["record_index"].is_u64(), "{l}");
    }
    // The unreadable file is copied whole into the quarantine.
    let notes = q
        .iter()
        .find(|l| l["source_uri"].as_str().unwrap().ends_with("notes.json"))
        .unwrap();
    let copy = std::path::Path::new(&lake).join(notes["object"].as_str().unwrap());
    assert_eq!(std::fs::read(copy).unwrap(), b"this is not json\n");

    // A field of the wrong type keeps the record, and the value, in `extra`.
    let rows = query(
        &lake,
        "SELECT read_only, extra FROM cloudtrail WHERE event_id = '00000000-0000-0000-0000-000000000205'",
    );
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["read_only"].is_null());
    let extra: serde_json::Value =
        serde_json::from_str(rows[0]["extra"].as_str().unwrap()).unwrap();
    assert_eq!(extra["readOnly"], "maybe");
    assert_eq!(extra["newTopLevelField"]["kept"], true);

    // Running again quarantines nothing twice and adds nothing.
    let again = ingest(&[&src], &lake);
    assert_eq!(again["events_ingested"], 0);
    assert_eq!(again["records_quarantined"], 0);
    assert_eq!(quarantine_lines(&lake).len(), q.len());
}

#[test]
fn a_single_large_file_streams() {
    // Larger than what is read into memory whole (64 MiB), with a bad record in the middle.
    let dir = tempdir();
    let path = dir.path().join("big.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let n = 80_000;
    let mut padding = event(0, "X");
    padding["requestParameters"] = json!({"padding": "p".repeat(700)});
    for i in 0..n {
        if i == n / 2 {
            writeln!(f, "{{\"eventTime\": \"2024-08-02T09:00:00Z\", broken").unwrap();
        }
        let mut e = event(i, "BatchGetItem");
        e["requestParameters"] = padding["requestParameters"].clone();
        writeln!(f, "{e}").unwrap();
    }
    drop(f);
    assert!(std::fs::metadata(&path).unwrap().len() > 64 << 20);
    let lake = lake_of(&dir);
    let s = ingest(&[&path], &lake);
    assert_eq!(s["events_ingested"], n as u64, "{s}");
    assert_eq!(s["records_quarantined"], 1, "{s}");
    assert_eq!(count(&lake, "WHERE event_name = 'BatchGetItem'"), n as u64);
}

//! Every CloudTrail sample in tests/data ingests with no valid event lost.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// Whether a sample event is valid for the `cloudtrail` table: a string `eventTime` and an
/// `eventName` (Insights events name the API in `insightDetails`).
fn valid(e: &Value) -> bool {
    e["eventTime"].is_string()
        && (e["eventName"].is_string() || e["insightDetails"]["eventName"].is_string())
}

fn ids_in_lake(lake: &str, uri_like: &str) -> BTreeSet<String> {
    query(
        lake,
        &format!("SELECT event_id FROM cloudtrail WHERE source_uri LIKE '{uri_like}'"),
    )
    .iter()
    .map(|r| r["event_id"].as_str().unwrap_or("").to_string())
    .collect()
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| valid(e))
        .map(|e| e["eventID"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn stratus_red_team_detonation_logs() {
    let dir_in = test_data().join("stratus_red_team_detonation_logs/detonation-logs");
    let mut expected = Vec::new();
    for f in std::fs::read_dir(&dir_in).unwrap() {
        let events: Vec<Value> =
            serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
        expected.extend(events);
    }
    assert!(expected.len() > 100);
    let dir = tempdir();
    let lake = lake_of(&dir);
    let s = ingest(&[&dir_in], &lake);
    assert_eq!(
        s["events_ingested"].as_u64().unwrap(),
        expected.iter().filter(|e| valid(e)).count() as u64
    );
    assert_eq!(
        s["records_quarantined"].as_u64().unwrap(),
        expected.iter().filter(|e| !valid(e)).count() as u64
    );
    assert_eq!(ids_in_lake(&lake, "%"), ids(&expected));
    // Anonymised regions and accounts become partitions as they are.
    let regions = query(&lake, "SELECT DISTINCT region FROM cloudtrail");
    assert!(regions.len() > 1);
    // Every assumed-role event has its role as actor.
    let bad = query(
        &lake,
        "SELECT count(*) AS n FROM cloudtrail WHERE user_identity_type = 'AssumedRole'
         AND (actor_arn IS NULL OR actor_arn NOT LIKE '%:role/%')",
    );
    assert_eq!(bad[0]["n"], 0);
}

/// The project's own edge-case records (`tests/data/cloudtrail_edge_cases`, described in its
/// README.md): a digest, two addresses in one field, the GovCloud partition, Identity Center.
#[test]
fn cloudtrail_edge_cases() {
    let dir_in = test_data().join("cloudtrail_edge_cases");
    let mut expected = Vec::new();
    let mut digests = 0;
    for f in std::fs::read_dir(&dir_in).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            continue;
        }
        for line in std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line).unwrap();
            if v.get("digestStartTime").is_some() {
                digests += 1;
            } else {
                expected.push(v);
            }
        }
    }
    assert_eq!(digests, 1);
    let dir = tempdir();
    let lake = lake_of(&dir);
    let s = ingest(&[&dir_in], &lake);
    assert_eq!(
        s["events_ingested"].as_u64().unwrap(),
        expected.len() as u64,
        "{s}"
    );
    assert_eq!(s["records_quarantined"], 0);
    // README.md is skipped by its name, the digest by its content.
    assert_eq!(s["files_skipped"], 2, "{s}");
    assert_eq!(ids_in_lake(&lake, "%"), ids(&expected));
    // The GovCloud partition is kept in the rebuilt role ARN.
    let rows = query(
        &lake,
        "SELECT actor_arn FROM cloudtrail WHERE aws_region LIKE 'us-gov-%'",
    );
    assert!(
        rows.iter().any(|r| r["actor_arn"]
            .as_str()
            .unwrap_or("")
            .starts_with("arn:aws-us-gov:iam::")),
        "{rows:?}"
    );
    // Odd values are kept verbatim (a 13-digit account id, two addresses in one field).
    assert!(count(&lake, "WHERE source_ip_address LIKE '%,%'") >= 1);
    assert!(count(&lake, "WHERE recipient_account_id = '3141592653589'") >= 1);
}

/// The documentation and TrailDiscover samples come wrapped (`{"event": …}`); the test
/// unwraps them into NDJSON, the shape EventBridge and CloudTrail Lake exports use.
fn ingest_wrapped(events: &[Value], name: &str) {
    let dir = tempdir();
    let path = dir.path().join(format!("{name}.ndjson.gz"));
    let nd: String = events.iter().map(|e| format!("{e}\n")).collect();
    write(&path, &gz(nd.as_bytes()));
    let lake = lake_of(&dir);
    let s = ingest(&[&path], &lake);
    let valid_n = events.iter().filter(|e| valid(e)).count() as u64;
    assert_eq!(
        s["events_ingested"].as_u64().unwrap(),
        valid_n,
        "{name}: {s}"
    );
    assert_eq!(
        s["records_quarantined"].as_u64().unwrap(),
        events.len() as u64 - valid_n,
        "{name}: {s}"
    );
    assert_eq!(count(&lake, ""), valid_n);
    assert_eq!(ids_in_lake(&lake, "%"), ids(events), "{name}");
}

#[test]
fn cloudtrail_user_guide_examples() {
    let path = test_data()
        .join("awsdocs_cloudtrail_log_examples/cloudtrail_user_guide_event_examples.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let events: Vec<Value> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(events.len(), 25);
    assert_eq!(events.iter().filter(|e| valid(e)).count(), 24);
    ingest_wrapped(&events, "awsdocs");
}

#[test]
fn traildiscover_examples() {
    let path = test_data().join("traildiscover_event_catalog/log_examples.ndjson.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(Path::new(&path)).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect();
    assert_eq!(events.len(), 563);
    ingest_wrapped(&events, "traildiscover");
}

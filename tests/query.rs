//! `trailhound query`: formats, partition columns, JSON functions, errors.

use crate::common::*;

fn lake_with_events() -> (tempfile::TempDir, String) {
    let dir = tempdir();
    let src = dir.path().join("src/a.json");
    write(&src, &delivery_file(0, 20));
    let lake = lake_of(&dir);
    ingest(&[&src], &lake);
    (dir, lake)
}

fn out(lake: &str, sql: &str, format: &str) -> String {
    let o = run(bin().args(["query", "--lake", lake, sql, "--format", format]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn output_formats() {
    let (_dir, lake) = lake_with_events();
    let sql = "SELECT event_name, count(*) AS n FROM cloudtrail GROUP BY event_name";
    let csv = out(&lake, sql, "csv");
    assert_eq!(csv.trim(), "event_name,n\nGetItem,20");
    let json: serde_json::Value = serde_json::from_str(&out(&lake, sql, "json")).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"event_name": "GetItem", "n": 20}])
    );
    let table = out(&lake, sql, "table");
    assert!(table.contains("| GetItem    | 20 |"), "{table}");
    let nd = out(&lake, sql, "ndjson");
    assert_eq!(nd.trim(), r#"{"event_name":"GetItem","n":20}"#);
}

#[test]
fn partition_columns_and_schema() {
    let (_dir, lake) = lake_with_events();
    let rows = query(
        &lake,
        "SELECT DISTINCT account_id, region, dt FROM cloudtrail",
    );
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"account_id": "123456789012", "region": "us-east-1", "dt": "2024-08-02"})
        ]
    );
    // Every column the design names is there.
    let cols: Vec<String> = query(
        &lake,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'cloudtrail'",
    )
    .iter()
    .map(|r| r["column_name"].as_str().unwrap().to_string())
    .collect();
    for c in [
        "event_time",
        "event_version",
        "event_id",
        "event_type",
        "event_category",
        "event_source",
        "event_name",
        "aws_region",
        "source_ip_address",
        "user_agent",
        "error_code",
        "error_message",
        "request_id",
        "read_only",
        "management_event",
        "recipient_account_id",
        "shared_event_id",
        "vpc_endpoint_id",
        "user_identity_type",
        "user_identity_principal_id",
        "user_identity_arn",
        "user_identity_account_id",
        "user_identity_access_key_id",
        "user_identity_user_name",
        "user_identity_invoked_by",
        "session_issuer_type",
        "session_issuer_arn",
        "session_issuer_user_name",
        "session_mfa_authenticated",
        "session_creation_date",
        "source_identity",
        "actor_arn",
        "session_name",
        "request_parameters",
        "response_elements",
        "additional_event_data",
        "resources",
        "tls_details",
        "source_uri",
        "source_record_index",
        "account_id",
        "region",
        "dt",
    ] {
        assert!(cols.iter().any(|x| x == c), "missing column {c}: {cols:?}");
    }
}

#[test]
fn empty_lake_and_bad_sql() {
    let dir = tempdir();
    let lake = lake_of(&dir);
    assert_eq!(count(&lake, ""), 0);
    let o = run(bin().args(["query", "--lake", &lake, "SELECT nope FROM cloudtrail"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("nope"), "{}", text(&o.stderr));
    let o = run(bin().args(["query", "--lake", &lake]));
    assert_eq!(o.status.code(), Some(2), "missing SQL is bad usage");
}

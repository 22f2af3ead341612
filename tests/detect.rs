//! `trailhound detect`, `detectors list|validate|test` and `eval`, on simulated accounts, real
//! attack recordings (Stratus Red Team) and detectors written by a user.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// Simulate into `dir/data` and ingest CloudTrail and Lambda logs into `dir/lake`; the labels.
pub(crate) fn simulated_lake(dir: &Path, args: &[&str]) -> (String, Value) {
    let data = dir.join("data");
    simulate(&data, args);
    let lake = dir.join("lake").display().to_string();
    ingest(&[data.join("AWSLogs")], &lake);
    ingest_lambda(&[data.join("lambda-logs")], &lake);
    let labels = serde_json::from_slice(&std::fs::read(data.join("labels.json")).unwrap()).unwrap();
    (lake, labels)
}

fn detect(lake: &str, extra: &[&str]) -> (Vec<Value>, String) {
    detect_by(bin(), lake, extra)
}

/// `detect` run by `cmd` (the binary, with its environment).
fn detect_by(mut cmd: std::process::Command, lake: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let o = run(cmd
        .args(["detect", "--lake", lake, "--format", "ndjson"])
        .args(extra));
    assert!(o.status.success(), "detect: {}", text(&o.stderr));
    let findings = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (findings, text(&o.stderr))
}

fn detector_of(f: &Value) -> String {
    f["finding_info"]["analytic"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn findings_are_ocsf_with_provenance_and_written_once() {
    let dir = tempdir();
    let (lake, labels) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "12",
            "--days",
            "10",
            "--events-per-day",
            "3000",
            "--seed",
            "4",
            "--attacks",
            "credential-exfiltration,privilege-escalation,defense-evasion",
        ],
    );
    let (findings, stderr) = detect(&lake, &[]);
    assert!(!findings.is_empty(), "{stderr}");
    let ids: BTreeSet<String> = findings.iter().map(detector_of).collect();
    for d in [
        "credentials-outside-lambda",
        "privilege-escalation",
        "defense-evasion",
    ] {
        assert!(ids.contains(d), "{d} missing from {ids:?}");
    }
    // The OCSF shape, and evidence that leads back to the raw records.
    let labelled: BTreeSet<&str> = labels["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
        })
        .collect();
    let mut evidence_found = 0;
    for f in &findings {
        assert_eq!(f["class_uid"], 2004);
        assert_eq!(f["type_uid"], 200401);
        assert!(f["severity_id"].as_u64().unwrap() >= 1);
        assert_eq!(f["finding_info"]["uid"].as_str().unwrap().len(), 32);
        assert!(
            f["finding_info"]["first_seen_time"].as_i64().unwrap()
                <= f["finding_info"]["last_seen_time"].as_i64().unwrap()
        );
        assert!(!f["finding_info"]["attacks"].as_array().unwrap().is_empty());
        for e in f["evidences"].as_array().unwrap() {
            if let Some(id) = e["data"]["event_id"].as_str() {
                assert!(
                    e["data"]["source_uri"]
                        .as_str()
                        .unwrap()
                        .starts_with("file://"),
                    "{e}"
                );
                assert!(e["data"]["source_record_index"].is_i64(), "{e}");
                if labelled.contains(id) {
                    evidence_found += 1;
                }
            }
        }
    }
    assert!(
        evidence_found >= 3,
        "labelled events in evidence: {evidence_found}"
    );
    let exfil = findings
        .iter()
        .find(|f| detector_of(f) == "credentials-outside-lambda")
        .unwrap();
    let observables = exfil["observables"].to_string();
    assert!(observables.contains("203.0.113.50"), "{observables}");
    assert_eq!(exfil["resources"][0]["type"], "AWS::Lambda::Function");

    // Written to the lake once: a rerun finds the same findings and writes none.
    let stored = count_findings(&lake);
    assert_eq!(stored, findings.len() as u64);
    assert!(
        stderr.contains(&format!("({} new", findings.len())),
        "{stderr}"
    );
    let (again, stderr) = detect(&lake, &[]);
    assert_eq!(uids(&again), uids(&findings));
    assert!(stderr.contains("(0 new"), "{stderr}");
    assert_eq!(count_findings(&lake), stored);

    // --since/--until report only what happened in the window.
    let t = |f: &Value| f["finding_info"]["first_seen_time"].as_i64().unwrap();
    let mut times: Vec<i64> = findings.iter().map(t).collect();
    times.sort_unstable();
    let cut = times[times.len() / 2];
    let cut_s = pipeline::time::rfc3339_millis(cut).unwrap();
    let (late, _) = detect(&lake, &["--since", &cut_s, "--no-write"]);
    let (early, _) = detect(&lake, &["--until", &cut_s, "--no-write"]);
    assert!(
        late.iter()
            .all(|f| f["finding_info"]["last_seen_time"].as_i64().unwrap() >= cut)
    );
    assert!(early.iter().all(|f| t(f) < cut));
    assert!(!late.is_empty() && !early.is_empty());
    assert!(late.len() < findings.len() && early.len() < findings.len());

    // One detector, and the other formats.
    let (only, _) = detect(&lake, &["--detector", "defense-evasion", "--no-write"]);
    assert!(!only.is_empty() && only.iter().all(|f| detector_of(f) == "defense-evasion"));
    // Each format into a file.
    let detect_to = |format: &str| {
        let out = dir.path().join(format!("f.{format}"));
        let o = run(bin()
            .args([
                "detect",
                "--lake",
                &lake,
                "--no-write",
                "--format",
                format,
                "--out",
            ])
            .arg(&out));
        assert!(o.status.success(), "{}", text(&o.stderr));
        out
    };
    let arr: Value = serde_json::from_slice(&std::fs::read(detect_to("json")).unwrap()).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), findings.len());
    let csv = std::fs::read_to_string(detect_to("csv")).unwrap();
    assert!(csv.starts_with("uid,detector_id,title,severity"), "{csv}");
    assert_eq!(csv.lines().count(), findings.len() + 1);
    let pq = detect_to("parquet");
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&pq).unwrap())
            .unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(
        reader.metadata().file_metadata().num_rows(),
        findings.len() as i64
    );
    let o = run(bin().args(["detect", "--lake", &lake, "--format", "parquet"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(bin().args(["detect", "--lake", &lake, "--detector", "nope"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("privilege-escalation"),
        "{}",
        text(&o.stderr)
    );
}

fn count_findings(lake: &str) -> u64 {
    query(lake, "SELECT count(*) AS n FROM findings")[0]["n"]
        .as_u64()
        .unwrap()
}

pub(crate) fn uids(findings: &[Value]) -> BTreeSet<String> {
    findings
        .iter()
        .map(|f| f["finding_info"]["uid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_short_export_keeps_history_detectors_quiet_and_patterns_firing() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let o = run(bin()
        .args(["simulate", "--out"])
        .arg(&data)
        .args([
            "--functions",
            "10",
            "--days",
            "10",
            "--events-per-day",
            "3000",
            "--seed",
            "9",
        ])
        .args([
            "--attacks",
            "dormant-permission,defense-evasion,privilege-escalation",
            "--json",
        ]));
    assert!(o.status.success());
    let labels: Value =
        serde_json::from_slice(&std::fs::read(data.join("labels.json")).unwrap()).unwrap();
    // The whole history: the dormant permission is found.
    let full = dir.path().join("full").display().to_string();
    ingest(&[data.join("AWSLogs")], &full);
    let (findings, _) = detect(&full, &["--no-write"]);
    let ids: BTreeSet<String> = findings.iter().map(detector_of).collect();
    assert!(ids.contains("dormant-permission"), "{ids:?}");
    // Only the day of the defense evasion, as a responder's export: the detectors that need
    // history stay quiet, the pattern detectors still fire.
    let evasion = labels["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "defense-evasion")
        .unwrap();
    let day = &evasion["start"].as_str().unwrap()[..10];
    let day_dir = data.join(format!(
        "AWSLogs/123456789012/CloudTrail/us-east-1/{}",
        day.replace('-', "/")
    ));
    assert!(day_dir.is_dir(), "{}", day_dir.display());
    let short = dir.path().join("short").display().to_string();
    ingest(&[day_dir], &short);
    let (findings, _) = detect(&short, &["--no-write"]);
    let ids: BTreeSet<String> = findings.iter().map(detector_of).collect();
    assert!(ids.contains("defense-evasion"), "{ids:?}");
    for quiet in [
        "first-seen-api",
        "dormant-permission",
        "credentials-while-idle",
    ] {
        assert!(
            !ids.contains(quiet),
            "{quiet} fired without history: {ids:?}"
        );
    }
}

#[test]
fn a_clean_account_gives_no_findings() {
    let dir = tempdir();
    let (lake, labels) = simulated_lake(dir.path(), &["--attacks", "none", "--seed", "11"]);
    assert_eq!(labels["functions"].as_array().unwrap().len(), 30);
    let (findings, _) = detect(&lake, &["--no-write"]);
    assert!(
        findings.is_empty(),
        "false findings on a clean account: {:#?}",
        findings
            .iter()
            .map(|f| f["message"].clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn eval_scores_against_the_labels() {
    let dir = tempdir();
    let (lake, _) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "30",
            "--days",
            "14",
            "--events-per-day",
            "4000",
            "--seed",
            "7",
        ],
    );
    let labels = dir.path().join("data/labels.json");
    let o = run(bin()
        .args(["eval", "--lake", &lake, "--json", "--labels"])
        .arg(&labels));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["precision"], 1.0, "{r:#}");
    assert_eq!(r["false_findings_per_function_week"], 0.0);
    let scenarios = r["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 13);
    // The rules catch every attack but the two behaviour anomalies no rule is written for
    // (which a rule may still catch on the way: an API burst between invocations looks like
    // credentials used while the function is idle).
    for s in scenarios {
        let behaviour_only =
            ["odd-hour-activity", "api-burst"].contains(&s["kind"].as_str().unwrap());
        assert!(behaviour_only || s["caught"] == true, "{s}");
    }
    // With the baseline model, every attack.
    let model = dir.path().join("model.bin");
    let o = run(bin()
        .args(["baseline", "train", "--lake", &lake, "--model"])
        .arg(&model));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = run(bin()
        .args(["eval", "--lake", &lake, "--json", "--labels"])
        .arg(&labels)
        .arg("--model")
        .arg(&model));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["recall"], 1.0, "{r:#}");
    assert_eq!(r["precision"], 1.0, "{r:#}");
    for k in r["by_kind"].as_array().unwrap() {
        assert_eq!(k["recall"], 1.0, "{k}");
    }
    // A label file that is not one is an error naming it.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let o = run(bin().args(["eval", "--lake", &lake, "--labels"]).arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("bad.json"), "{}", text(&o.stderr));
}

#[test]
fn detectors_list_validate_and_test() {
    let o = run(bin().args(["detectors", "list", "--json"]));
    assert!(o.status.success());
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 16, "{}", list.len());
    for d in list {
        assert!(d["tests"].as_u64().unwrap() >= 2, "{d}");
        assert!(!d["mitre"].as_array().unwrap().is_empty(), "{d}");
    }
    let o = run(bin().args(["detectors", "validate"]));
    assert!(o.status.success(), "{}", text(&o.stdout));
    let o = run(bin().args(["detectors", "test"]));
    assert!(o.status.success(), "{}", text(&o.stdout));
    let out = text(&o.stdout);
    assert!(out.contains(" 0 failed"), "{out}");
}

fn write_detector(dir: &Path, id: &str, sql: &str, toml: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{id}.sql")), sql).unwrap();
    std::fs::write(dir.join(format!("{id}.toml")), toml).unwrap();
    dir.to_path_buf()
}

/// The README's example detector, as a user would add it.
const README_SQL: &str = "-- Any call that creates an IAM user.
SELECT
    actor_arn AS subject,
    event_time,
    actor_arn,
    event_id,
    source_uri,
    source_record_index,
    source_ip_address,
    event_source,
    event_name,
    'created IAM user ' || json_get_str(request_parameters, 'userName') AS reason
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com' AND event_name = 'CreateUser'
";

const README_TOML: &str = r#"id = "iam-user-created"
title = "IAM user created"
description = "Someone created an IAM user; this account uses SSO roles only."
severity = "medium"
mitre = ["T1136.003"]
tables = ["cloudtrail"]

[[tests]]
name = "a user is created"
expect = 1
[[tests.rows]]
event_time = "2026-11-05T10:00:00Z"
actor_arn = "arn:aws:iam::123456789012:role/admin"
event_source = "iam.amazonaws.com"
event_name = "CreateUser"
request_parameters = '{"userName":"backup"}'

[[tests]]
name = "listing users is not creating one"
expect = 0
[[tests.rows]]
event_time = "2026-11-05T10:00:00Z"
event_source = "iam.amazonaws.com"
event_name = "ListUsers"
"#;

#[test]
fn a_user_detector_from_sql_dir() {
    let dir = tempdir();
    let mine = write_detector(
        &dir.path().join("mine"),
        "iam-user-created",
        README_SQL,
        README_TOML,
    );
    let mine_s = mine.display().to_string();
    let o = run(bin().args([
        "detectors",
        "test",
        "--sql-dir",
        &mine_s,
        "--detector",
        "iam-user-created",
    ]));
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("2 passed, 0 failed"),
        "{}",
        text(&o.stdout)
    );
    let o = run(bin().args(["detectors", "list", "--sql-dir", &mine_s]));
    assert!(text(&o.stdout).contains("iam-user-created"));

    // It runs with the pack.
    let (lake, _) = simulated_lake(
        &dir.path().join("sim"),
        &[
            "--functions",
            "8",
            "--days",
            "9",
            "--events-per-day",
            "2000",
            "--attacks",
            "privilege-escalation",
        ],
    );
    let (findings, _) = detect(
        &lake,
        &[
            "--sql-dir",
            &mine_s,
            "--detector",
            "iam-user-created",
            "--no-write",
        ],
    );
    // The attack's user (created with the function's credentials) and the one an
    // administrator creates in the simulated account's ordinary IAM work.
    assert_eq!(findings.len(), 2, "{findings:#?}");
    let descs: Vec<&str> = findings
        .iter()
        .map(|f| f["finding_info"]["desc"].as_str().unwrap())
        .collect();
    assert!(
        descs.iter().any(|d| d.contains("-role-backup")),
        "{descs:?}"
    );
    assert!(
        descs
            .iter()
            .any(|d| d.contains("created IAM user reporting-export")),
        "{descs:?}"
    );

    // A test that fails says so, and the command fails.
    let wrong = write_detector(
        &dir.path().join("wrong"),
        "iam-user-created",
        README_SQL,
        &README_TOML.replacen("expect = 1", "expect = 3", 1),
    );
    let o = run(bin()
        .args(["detectors", "test", "--sql-dir"])
        .arg(&wrong)
        .args(["--detector", "iam-user-created"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout)
            .contains("FAIL  iam-user-created / a user is created: expected 3 findings, got 1"),
        "{}",
        text(&o.stdout)
    );

    // Errors name the file and the line.
    let bad_sql = write_detector(
        &dir.path().join("bad-sql"),
        "iam-user-created",
        &README_SQL.replace("    source_ip_address,", "    source_ip_adress,"),
        README_TOML,
    );
    let o = run(bin()
        .args(["detectors", "validate", "--sql-dir"])
        .arg(&bad_sql));
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("iam-user-created.sql")
            && out.contains("line 9")
            && out.contains("source_ip_adress"),
        "{out}"
    );

    let bad_toml = write_detector(
        &dir.path().join("bad-toml"),
        "iam-user-created",
        README_SQL,
        &README_TOML.replace(
            "severity = \"medium\"",
            "severity = \"medium\"\nowner = \"me\"",
        ),
    );
    let o = run(bin()
        .args(["detectors", "list", "--sql-dir"])
        .arg(&bad_toml));
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("iam-user-created.toml") && err.contains("line 5") && err.contains("owner"),
        "{err}"
    );
}

fn eval_recordings(dir: &Path) -> Value {
    let o = run(bin().args(["eval", "--json", "--recordings"]).arg(dir));
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `eval --recordings` over the Stratus Red Team detonations (real CloudTrail, each technique
/// in a lake of its own): every technique is cited by the detector meant for it.
#[test]
fn stratus_red_team_techniques() {
    let v = eval_recordings(&test_data().join("stratus_red_team_detonation_logs"));
    let results = v["results"].as_array().unwrap();
    for r in results {
        println!(
            "{:<60} {}",
            r["technique"].as_str().unwrap(),
            r["detectors"]
        );
    }
    assert_eq!(v["techniques"], 18, "{v}");
    let expect = [
        (
            "aws.credential-access.ec2-get-password-data",
            "secrets-mass-retrieval",
        ),
        (
            "aws.credential-access.secretsmanager-batch-retrieve-secrets",
            "secrets-mass-retrieval",
        ),
        (
            "aws.credential-access.ssm-retrieve-securestring-parameters",
            "secrets-mass-retrieval",
        ),
        (
            "aws.defense-evasion.cloudtrail-event-selectors",
            "defense-evasion",
        ),
        ("aws.defense-evasion.dns-delete-logs", "defense-evasion"),
        (
            "aws.defense-evasion.vpc-remove-flow-logs",
            "defense-evasion",
        ),
        (
            "aws.execution.ec2-launch-unusual-instances",
            "compute-abuse",
        ),
        ("aws.execution.ssm-send-command", "instance-access"),
        (
            "aws.exfiltration.ec2-security-group-open-port-22-ingress",
            "network-exposure",
        ),
        (
            "aws.exfiltration.ec2-share-ebs-snapshot",
            "resource-sharing",
        ),
        ("aws.impact.bedrock-invoke-model", "compute-abuse"),
        (
            "aws.lateral-movement.ec2-instance-connect",
            "instance-access",
        ),
        ("aws.persistence.iam-backdoor-role", "iam-persistence"),
        (
            "aws.persistence.iam-create-admin-user",
            "privilege-escalation",
        ),
        (
            "aws.persistence.iam-create-user-login-profile",
            "iam-persistence",
        ),
        (
            "aws.persistence.lambda-layer-extension",
            "lambda-persistence",
        ),
        (
            "aws.persistence.rolesanywhere-create-trust-anchor",
            "iam-persistence",
        ),
        (
            "aws.privilege-escalation.iam-update-user-login-profile",
            "iam-persistence",
        ),
    ];
    for (technique, detector) in expect {
        let r = results
            .iter()
            .find(|r| r["technique"] == technique)
            .unwrap_or_else(|| panic!("{technique} missing: {v}"));
        let ids: Vec<&str> = r["detectors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(ids.contains(&detector), "{technique}: {ids:?}");
        assert!(r["cited_events"].as_u64().unwrap() >= 1, "{r}");
    }
    assert_eq!(v["caught"], 18, "{v}");
}

/// `eval --recordings` over TrailDiscover's example events (one lake, techniques from its
/// catalogue): the coverage the README quotes, as a floor.
#[test]
fn traildiscover_techniques() {
    let v = eval_recordings(&test_data().join("traildiscover_event_catalog"));
    let results = v["results"].as_array().unwrap();
    let caught = |t: &str| {
        results
            .iter()
            .find(|r| r["technique"] == t)
            .is_some_and(|r| r["caught"] == true)
    };
    assert_eq!(v["techniques"], 37, "{v}");
    assert!(v["caught"].as_u64().unwrap() >= 21, "{v}");
    assert!(v["cited_events"].as_u64().unwrap() >= 121, "{v}");
    // Most examples were captured as calls refused to one user within the hour: the
    // principal-wide AccessDenied burst cites them; the rest by what they change.
    for t in [
        "T1562", "T1098", "T1537", "T1021", "T1496", "T1089", "T1133",
    ] {
        assert!(caught(t), "{t}: {v}");
    }
    let t1098 = results.iter().find(|r| r["technique"] == "T1098").unwrap();
    for d in [
        "iam-persistence",
        "privilege-escalation",
        "lambda-persistence",
    ] {
        assert!(
            t1098["detectors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == d),
            "{t1098}"
        );
    }
}

/// Detect over a lake in S3 (the local emulator): findings are written into the bucket once.
#[tokio::test(flavor = "multi_thread")]
async fn detect_over_an_s3_lake() {
    emulator();
    let s3 = s3().await;
    let bucket = unique_bucket("detect");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let dir = tempdir();
    let data = dir.path().join("data");
    simulate(
        &data,
        &[
            "--functions",
            "6",
            "--days",
            "4",
            "--events-per-day",
            "1500",
            "--attacks",
            "defense-evasion,lambda-persistence",
        ],
    );
    let lake = format!("s3://{bucket}/lake");
    let (lake2, src) = (lake.clone(), data.join("AWSLogs"));
    tokio::task::spawn_blocking(move || ingest(&[src], &lake2))
        .await
        .unwrap();
    let lake2 = lake.clone();
    let (findings, stderr) = tokio::task::spawn_blocking(move || detect(&lake2, &[]))
        .await
        .unwrap();
    let ids: BTreeSet<String> = findings.iter().map(detector_of).collect();
    assert!(
        ids.contains("defense-evasion") && ids.contains("lambda-persistence"),
        "{ids:?}"
    );
    assert!(
        stderr.contains(&format!("({} new in {lake}/findings)", findings.len())),
        "{stderr}"
    );
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("lake/findings/dt=")
        .send()
        .await
        .unwrap();
    assert!(
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .any(|k| k.ends_with(".parquet")),
        "{listed:?}"
    );
    let lake2 = lake.clone();
    let (_, stderr) = tokio::task::spawn_blocking(move || detect(&lake2, &[]))
        .await
        .unwrap();
    assert!(stderr.contains("(0 new"), "{stderr}");
}

/// `--sql-dir` laid out like sql/: its views/ add or replace views that its detectors read.
#[test]
fn a_sql_dir_with_views() {
    let dir = tempdir();
    let root = dir.path().join("sql");
    std::fs::create_dir_all(root.join("views")).unwrap();
    std::fs::write(
        root.join("views/user_creations.sql"),
        "SELECT * FROM cloudtrail WHERE event_source = 'iam.amazonaws.com' AND event_name = 'CreateUser'",
    )
    .unwrap();
    let sql = README_SQL.replace(
        "FROM cloudtrail\nWHERE event_source = 'iam.amazonaws.com' AND event_name = 'CreateUser'",
        "FROM user_creations",
    );
    assert!(sql.contains("FROM user_creations"));
    write_detector(
        &root.join("detectors"),
        "iam-user-created",
        &sql,
        README_TOML,
    );
    let o = run(bin()
        .args([
            "detectors",
            "test",
            "--detector",
            "iam-user-created",
            "--sql-dir",
        ])
        .arg(&root));
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("2 passed, 0 failed"),
        "{}",
        text(&o.stdout)
    );
    let o = run(bin()
        .args(["detectors", "validate", "--sql-dir"])
        .arg(&root));
    assert!(o.status.success(), "{}", text(&o.stdout));
    // Without the view the detector does not plan, and validate says where.
    std::fs::remove_file(root.join("views/user_creations.sql")).unwrap();
    let o = run(bin()
        .args(["detectors", "validate", "--sql-dir"])
        .arg(&root));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("user_creations"),
        "{}",
        text(&o.stdout)
    );
}

/// An intrusion after the recordings (the simulator's privilege-escalation attack): a
/// function's stolen credentials create an administrator user with a key, and that user does
/// the rest. Its findings name the function (lineage), are critical, and make one incident,
/// which `incidents list` and `incidents show` tell.
#[test]
fn an_intrusion_is_one_incident_that_names_the_function() {
    let dir = tempdir();
    let (lake, labels) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "8",
            "--days",
            "9",
            "--events-per-day",
            "2000",
            "--seed",
            "5",
            "--attacks",
            "privilege-escalation",
        ],
    );
    let attack = &labels["attacks"][0];
    let function = attack["function"].as_str().unwrap();
    let ids: BTreeSet<&str> = attack["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let (findings, stderr) = detect(&lake, &[]);
    // The findings about the attack's events.
    let about: Vec<&Value> = findings
        .iter()
        .filter(|f| {
            f["evidences"].as_array().unwrap().iter().any(|e| {
                e["data"]["event_id"]
                    .as_str()
                    .is_some_and(|id| ids.contains(id))
            })
        })
        .collect();
    let detectors: BTreeSet<String> = about.iter().map(|f| detector_of(f)).collect();
    for d in [
        "iam-persistence",
        "privilege-escalation",
        "resource-sharing",
        "secrets-mass-retrieval",
        "defense-evasion",
    ] {
        assert!(
            detectors.contains(d),
            "{d} missing: {detectors:?}; {stderr}"
        );
    }
    // What the created user did names the function and is critical.
    let by_user: Vec<&&Value> = about
        .iter()
        .filter(|f| {
            f["actor"]["user"]["uid"]
                .as_str()
                .is_some_and(|a| a.contains(":user/"))
        })
        .collect();
    assert!(by_user.len() >= 3, "{by_user:#?}");
    for f in &by_user {
        assert_eq!(f["severity"], "Critical", "{f}");
        assert_eq!(f["actor"]["user"]["type"], "AWS IAM user", "{f}");
        assert!(
            f["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == function),
            "{f}"
        );
        assert!(
            f["finding_info"]["desc"]
                .as_str()
                .unwrap()
                .contains(&format!("credentials trace to Lambda function {function}")),
            "{f}"
        );
    }
    // One incident holds every finding about the attack.
    let o = run(bin().args(["incidents", "list", "--json", "--lake", &lake]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let incidents: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let holding: Vec<&Value> = incidents
        .iter()
        .filter(|i| {
            i["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| about.iter().any(|f| f["finding_info"]["uid"] == m["uid"]))
        })
        .collect();
    assert_eq!(holding.len(), 1, "{holding:#?}");
    let incident = holding[0];
    let uids: BTreeSet<&str> = incident["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["uid"].as_str())
        .collect();
    for f in &about {
        assert!(
            uids.contains(f["finding_info"]["uid"].as_str().unwrap()),
            "{f}"
        );
    }
    assert!(
        incident["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == function),
        "{incident}"
    );
    assert_eq!(incident["severity"], "critical", "{incident}");
    let id = incident["id"].as_str().unwrap();
    let o = run(bin().args(["incidents", "show", id, "--lake", &lake]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let told = text(&o.stdout);
    assert!(told.starts_with(id) && told.contains(function), "{told}");
    assert!(
        told.contains("iam-persistence") && told.contains("resource-sharing"),
        "{told}"
    );
    // An unknown id is a clear error.
    let o = run(bin().args(["incidents", "show", "inc-0000000000000000", "--lake", &lake]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("no incident inc-0000000000000000"),
        "{}",
        text(&o.stderr)
    );
}

/// Every simulated attack (one a day, each on its own function) is one incident, and no
/// incident mixes two.
#[test]
fn each_simulated_attack_is_one_incident() {
    let dir = tempdir();
    let (lake, labels) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "30",
            "--days",
            "14",
            "--events-per-day",
            "4000",
            "--seed",
            "7",
        ],
    );
    let (findings, _) = detect(&lake, &[]);
    let o = run(bin().args(["incidents", "list", "--json", "--lake", &lake]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let incidents: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let incident_of = |uid: &str| -> String {
        incidents
            .iter()
            .find(|i| {
                i["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["uid"] == uid)
            })
            .map(|i| i["id"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut checked = 0;
    for a in labels["attacks"].as_array().unwrap() {
        let ids: BTreeSet<&str> = a["event_ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if ids.is_empty() {
            continue; // seen in the Lambda logs: the baseline's
        }
        let held: BTreeSet<String> = findings
            .iter()
            .filter(|f| {
                f["evidences"].as_array().unwrap().iter().any(|e| {
                    e["data"]["event_id"]
                        .as_str()
                        .is_some_and(|id| ids.contains(id))
                })
            })
            .map(|f| incident_of(f["finding_info"]["uid"].as_str().unwrap()))
            .collect();
        assert_eq!(held.len(), 1, "{}: {held:?}", a["kind"]);
        let id = held.into_iter().next().unwrap();
        assert!(
            seen.insert(id.clone()),
            "{} shares incident {id}",
            a["kind"]
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
}

/// The daily job: `detect --since` keeps the history its views compare with in the lake
/// (`_state/history/`) and the next run reads only the files committed since. Its findings are
/// those of a run that computes the history from the whole lake, and every finding a whole-lake
/// run first sees from `--since` on; a counted file deleted other than by a compaction makes the
/// next run compute the history again.
#[test]
fn the_daily_job_keeps_its_history_in_the_lake() {
    let dir = tempdir();
    let data = |n: &str| dir.path().join(n);
    let lake = dir.path().join("lake").display().to_string();
    let args = [
        "--functions",
        "10",
        "--days",
        "8",
        "--events-per-day",
        "3000",
        "--seed",
        "9",
        "--attacks",
        "all",
    ];
    let batch = |name: &str, days: &str| {
        simulate(&data(name), &[&args[..], &["--only-days", days]].concat());
        ingest(&[data(name).join("AWSLogs")], &lake);
        ingest_lambda(&[data(name).join("lambda-logs")], &lake);
    };
    let current = Path::new(&lake).join("_state/history/current.json");
    batch("a", "1-5");
    let (_, stderr) = detect_logged(&lake, &["--since", "2026-11-05", "--no-write"]);
    assert!(current.exists(), "no history kept: {stderr}");
    batch("b", "6-8");
    // Yesterday's history plus the new days' files only.
    let (daily, stderr) = detect_logged(&lake, &["--since", "2026-11-06", "--no-write"]);
    let line = stderr
        .lines()
        .find(|l| l.contains("detection history brought up to date"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let new_files: usize = line
        .split("new_files=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    let data_files = ["cloudtrail", "lambda_invocations"]
        .iter()
        .flat_map(|t| walk_files(&Path::new(&lake).join(t)))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(
        new_files > 0 && new_files < data_files,
        "{new_files} of {data_files}: {line}"
    );
    assert!(!daily.is_empty(), "the attacks of days 6-8: {stderr}");
    // The same with the history computed from the whole lake.
    std::fs::remove_dir_all(Path::new(&lake).join("_state/history")).unwrap();
    let (fresh, _) = detect(&lake, &["--since", "2026-11-06", "--no-write"]);
    assert_eq!(uids(&daily), uids(&fresh));
    // Every finding the whole-lake run first sees from --since on.
    let (whole, _) = detect(&lake, &["--no-write"]);
    let since = pipeline::time::parse_timestamp_micros("2026-11-06T00:00:00Z").unwrap();
    let later: BTreeSet<String> = uids(
        &whole
            .iter()
            .filter(|f| f["finding_info"]["first_seen_time"].as_i64().unwrap() * 1000 >= since)
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert!(!later.is_empty());
    let daily_uids = uids(&daily);
    let missing: Vec<&String> = later.difference(&daily_uids).collect();
    assert!(
        missing.is_empty(),
        "whole-lake findings the daily job missed: {missing:?}"
    );
    // A counted file deleted: its rows would still be in the history, so it is computed again.
    let victim = walk_files(Path::new(&lake).join("cloudtrail").as_path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("dt=2026-11-02"))
        .expect("a data file of the second day");
    std::fs::remove_file(&victim).unwrap();
    let (after, stderr) = detect_logged(&lake, &["--since", "2026-11-06", "--no-write"]);
    assert!(stderr.contains("is gone"), "{stderr}");
    std::fs::remove_dir_all(Path::new(&lake).join("_state/history")).unwrap();
    let (fresh, _) = detect(&lake, &["--since", "2026-11-06", "--no-write"]);
    assert_eq!(uids(&after), uids(&fresh));
}

/// [`detect`] with its information messages on stderr.
fn detect_logged(lake: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let mut cmd = bin();
    cmd.env("TRAILHOUND_LOG", "info");
    detect_by(cmd, lake, extra)
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    pipeline::lake::walk(dir, &mut |p| out.push(p.to_path_buf())).unwrap();
    out
}

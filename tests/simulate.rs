//! `trailhound simulate` and `trailhound demo`: determinism, every attack scenario present in
//! the labels and in the data (checked through the lake), record shapes against the real
//! CloudTrail samples in tests/data, and the upload to the emulator's S3 and CloudWatch Logs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    pipeline::lake::walk(dir, &mut |p| out.push(p.to_path_buf())).unwrap();
    out
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Every simulated CloudTrail record.
fn records(out: &Path) -> Vec<Value> {
    files(&out.join("AWSLogs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .flat_map(|p| {
            let v: Value = serde_json::from_slice(&gunzip(&p)).unwrap();
            v["Records"].as_array().unwrap().clone()
        })
        .collect()
}

const SMALL: &[&str] = &[
    "--functions",
    "8",
    "--days",
    "4",
    "--events-per-day",
    "3000",
];

/// The same seed gives the same bytes, whatever the threads; a simulation written a few days
/// at a time (`--only-days`) is the whole run's bytes, its last batch labelling the attacks
/// of its days as the whole run does.
#[test]
fn same_seed_same_bytes() {
    let dir = tempdir();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| dir.path().join(n));
    let whole = simulate(&a, &[SMALL, &["--threads", "1"]].concat());
    simulate(&b, &[SMALL, &["--threads", "3"]].concat());
    simulate(&c, &[SMALL, &["--seed", "2"]].concat());
    let first = simulate(&d, &[SMALL, &["--only-days", "1-2"]].concat());
    let second = simulate(&d, &[SMALL, &["--only-days", "3-4"]].concat());
    let rel = |root: &Path| -> Vec<PathBuf> {
        files(root)
            .into_iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect()
    };
    assert_eq!(rel(&a), rel(&b));
    assert_eq!(rel(&a), rel(&d));
    assert!(rel(&a).len() > 50, "{:?}", rel(&a).len());
    for r in rel(&a) {
        assert!(
            std::fs::read(a.join(&r)).unwrap() == std::fs::read(b.join(&r)).unwrap(),
            "{} differs between one and three threads with the same seed",
            r.display()
        );
        // What the roles used, and the period labelled, are those of the days written last.
        if !r.ends_with("iam/ground-truth.json") && !r.ends_with("labels.json") {
            assert!(
                std::fs::read(a.join(&r)).unwrap() == std::fs::read(d.join(&r)).unwrap(),
                "{} differs between the whole run and the run in two batches",
                r.display()
            );
        }
    }
    for key in [
        "cloudtrail_events",
        "cloudtrail_files",
        "invocations",
        "log_lines",
    ] {
        assert_eq!(
            whole[key].as_u64().unwrap(),
            first[key].as_u64().unwrap() + second[key].as_u64().unwrap(),
            "{key}"
        );
    }
    // The attacks fall in the second half: all in the second batch, labelled as in one run.
    let attacks = |root: &Path| -> Value {
        serde_json::from_slice::<Value>(&std::fs::read(root.join("labels.json")).unwrap()).unwrap()
            ["attacks"]
            .clone()
    };
    assert!(!attacks(&a).as_array().unwrap().is_empty());
    assert_eq!(attacks(&a), attacks(&d));
    assert_eq!(attacks(&a), attacks(&b));
    assert_eq!(first["days"], 2);
    assert_eq!(first["end"], second["start"]);
    assert_eq!(whole["end"], second["end"]);
    assert_ne!(
        std::fs::read(a.join("labels.json")).unwrap(),
        std::fs::read(c.join("labels.json")).unwrap(),
        "another seed gives another account"
    );
    // Days outside the simulation: refused, naming the days there are.
    let o = run(bin()
        .args(["simulate", "--out"])
        .arg(dir.path().join("e"))
        .args(SMALL)
        .args(["--only-days", "3-5"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 to 4"), "{}", text(&o.stderr));
}

#[test]
fn every_attack_is_labelled_and_in_the_lake() {
    let dir = tempdir();
    let out = dir.path().join("sim");
    let s = simulate(
        &out,
        &[
            "--functions",
            "12",
            "--days",
            "6",
            "--events-per-day",
            "4000",
        ],
    );
    assert_eq!(s["attacks"], 13);
    let labels: Value =
        serde_json::from_slice(&std::fs::read(out.join("labels.json")).unwrap()).unwrap();
    let attacks = labels["attacks"].as_array().unwrap();
    let kinds: BTreeSet<&str> = attacks
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 13, "{kinds:?}");

    // Through the product: ingest both sources and find every labelled record.
    let lake = dir.path().join("lake").display().to_string();
    ingest(&[out.join("AWSLogs")], &lake);
    ingest_lambda(&[out.join("lambda-logs")], &lake);

    let by_kind: HashMap<&str, &Value> = attacks
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a))
        .collect();
    let quoted = |a: &Value, k: &str| -> String {
        a[k].as_array()
            .unwrap()
            .iter()
            .map(|v| format!("'{}'", v.as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(",")
    };
    for a in attacks {
        let kind = a["kind"].as_str().unwrap();
        let role = a["principal"].as_str().unwrap();
        assert!(role.starts_with("arn:aws:iam::123456789012:role/"), "{a}");
        assert!(!a["mitre"].as_array().unwrap().is_empty());
        assert!(a["start"].as_str().unwrap() <= a["end"].as_str().unwrap());
        let events = a["event_ids"].as_array().unwrap().len();
        let requests = a["request_ids"].as_array().unwrap().len();
        if [
            "invocation-flood",
            "cryptomining",
            "error-storm",
            "odd-hour-activity",
        ]
        .contains(&kind)
        {
            assert!(requests > 0, "{kind} has invocations: {a}");
            let n = query(
                &lake,
                &format!(
                    "SELECT count(*) AS n FROM lambda_invocations WHERE request_id IN ({})",
                    quoted(a, "request_ids")
                ),
            );
            assert_eq!(
                n[0]["n"], requests as u64,
                "{kind}: every labelled invocation is in the lake"
            );
        } else {
            assert!(events > 0, "{kind} has events: {a}");
            let rows = query(
                &lake,
                &format!(
                "SELECT count(*) AS n, count(DISTINCT actor_arn) AS actors, min(actor_arn) AS actor,
                        min(session_name) AS session
                 FROM cloudtrail WHERE event_id IN ({})", quoted(a, "event_ids")),
            );
            assert_eq!(
                rows[0]["n"], events as u64,
                "{kind}: every labelled event is in the lake"
            );
            if kind == "privilege-escalation" {
                // The intrusion: the function's role, then the IAM user it created (its
                // name after the role's), with that user's own access key.
                let role_name = role.rsplit('/').next().unwrap();
                let user = format!("arn:aws:iam::123456789012:user/{role_name}-backup");
                assert_eq!(rows[0]["actors"], 2, "{kind}: the role and its user");
                let by = query(
                    &lake,
                    &format!(
                        "SELECT actor_arn, count(*) AS n, min(session_name) AS session,
                                min(user_identity_access_key_id) AS key
                         FROM cloudtrail WHERE event_id IN ({}) GROUP BY actor_arn",
                        quoted(a, "event_ids")
                    ),
                );
                let of = |arn: &str| by.iter().find(|r| r["actor_arn"] == arn).unwrap();
                assert_eq!(of(role)["session"], a["function"], "{kind}: {by:?}");
                assert_eq!(of(&user)["n"], 5, "{kind}: {by:?}");
                assert!(
                    of(&user)["key"].as_str().unwrap().starts_with("AKIA"),
                    "{by:?}"
                );
            } else {
                assert_eq!(rows[0]["actors"], 1, "{kind}: one principal");
                assert_eq!(rows[0]["actor"], role, "{kind}: as the function's role");
                assert_eq!(
                    rows[0]["session"], a["function"],
                    "{kind}: in the function's session"
                );
            }
        }
    }

    // What makes each scenario what it is, seen in the lake.
    let names = |a: &Value| -> BTreeSet<String> {
        query(
            &lake,
            &format!(
                "SELECT DISTINCT event_name FROM cloudtrail WHERE event_id IN ({})",
                quoted(a, "event_ids")
            ),
        )
        .iter()
        .map(|r| r["event_name"].as_str().unwrap().to_string())
        .collect()
    };
    let exfil = by_kind["credential-exfiltration"];
    let key = exfil["access_key_id"].as_str().unwrap();
    let rows = query(
        &lake,
        &format!(
            "SELECT source_ip_address AS ip, user_agent AS ua, count(*) AS n FROM cloudtrail
         WHERE user_identity_access_key_id = '{key}' GROUP BY 1, 2 ORDER BY n DESC"
        ),
    );
    let ips: BTreeSet<&str> = rows.iter().map(|r| r["ip"].as_str().unwrap()).collect();
    assert!(ips.contains("203.0.113.50"), "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r["ua"].as_str().unwrap().contains("exec-env/AWS_Lambda_")),
        "the key was the function's: {rows:?}"
    );
    let function = exfil["function"].as_str().unwrap();
    let during = query(
        &lake,
        &format!(
            "SELECT count(*) AS n FROM lambda_invocations WHERE function_name = '{function}'
           AND start_time <= TIMESTAMP '{}' + INTERVAL '2 minutes'
           AND end_time >= TIMESTAMP '{}' - INTERVAL '2 minutes'",
            exfil["end"].as_str().unwrap(),
            exfil["start"].as_str().unwrap()
        ),
    );
    assert_eq!(
        during[0]["n"], 0,
        "the function was idle when its credentials were used"
    );

    let dual = by_kind["credential-dual-use"];
    let key = dual["access_key_id"].as_str().unwrap();
    let rows = query(&lake, &format!(
        "SELECT DISTINCT source_ip_address AS ip FROM cloudtrail WHERE user_identity_access_key_id = '{key}'
           AND event_time BETWEEN TIMESTAMP '{}' - INTERVAL '1 hour' AND TIMESTAMP '{}' + INTERVAL '1 hour'",
        dual["start"].as_str().unwrap(), dual["end"].as_str().unwrap()));
    assert!(rows.len() >= 2, "used from two places at once: {rows:?}");

    assert!(
        names(by_kind["reconnaissance"]).is_superset(
            &[
                "ListRoles",
                "ListUsers",
                "GetCallerIdentity",
                "ListFunctions20150331"
            ]
            .map(String::from)
            .into()
        )
    );
    assert!(
        names(by_kind["privilege-escalation"]).is_superset(
            &[
                "CreateUser",
                "AttachUserPolicy",
                "CreateAccessKey",
                "UpdateAssumeRolePolicy",
                "ModifySnapshotAttribute",
                "BatchGetSecretValue",
                "PutEventSelectors"
            ]
            .map(String::from)
            .into()
        )
    );
    assert!(
        names(by_kind["lambda-persistence"]).is_superset(
            &[
                "AddPermission20150331v2",
                "CreateFunctionUrlConfig20211031",
                "UpdateFunctionConfiguration20150331v2"
            ]
            .map(String::from)
            .into()
        )
    );
    assert_eq!(
        names(by_kind["defense-evasion"]),
        ["DeleteTrail", "PutEventSelectors", "StopLogging"]
            .map(String::from)
            .into()
    );
    let secrets = query(
        &lake,
        &format!(
            "SELECT count(DISTINCT request_parameters) AS n FROM cloudtrail WHERE event_name = 'GetSecretValue' AND event_id IN ({})",
            quoted(by_kind["secrets-mass-retrieval"], "event_ids")
        ),
    );
    assert!(secrets[0]["n"].as_u64().unwrap() >= 20, "{secrets:?}");
    // The dormant permissions are never used before the attack.
    let dormant = by_kind["dormant-permission"];
    let before = query(
        &lake,
        &format!(
        "SELECT count(*) AS n FROM cloudtrail WHERE actor_arn = '{}' AND event_time < TIMESTAMP '{}'
           AND (event_name = 'Scan' OR (event_name = 'GetSecretValue'
                AND json_get_str(request_parameters, 'secretId') LIKE '%admin%'))",
        dormant["principal"].as_str().unwrap(), dormant["start"].as_str().unwrap()),
    );
    assert_eq!(before[0]["n"], 0);

    // The log scenarios against the function's own normal.
    let stats = |a: &Value| {
        let f = a["function"].as_str().unwrap();
        let inside = format!("request_id IN ({})", quoted(a, "request_ids"));
        let q = |w: &str| {
            query(
                &lake,
                &format!(
                    "SELECT count(*) AS n, avg(duration_ms) AS d, avg(max_memory_used_mb) AS m,
                    avg(CASE WHEN status <> 'success' THEN 1.0 ELSE 0.0 END) AS e
             FROM lambda_invocations WHERE function_name = '{f}' AND {w}"
                ),
            )[0]
            .clone()
        };
        (q(&inside), q(&format!("NOT ({inside})")))
    };
    let (flood, normal) = stats(by_kind["invocation-flood"]);
    let hours = 6.0 * 24.0;
    assert!(
        flood["n"].as_f64().unwrap() > 5.0 * normal["n"].as_f64().unwrap() / hours,
        "{flood} vs {normal}"
    );
    let (mining, normal) = stats(by_kind["cryptomining"]);
    assert!(
        mining["d"].as_f64().unwrap() > 3.0 * normal["d"].as_f64().unwrap(),
        "{mining} vs {normal}"
    );
    assert!(
        mining["m"].as_f64().unwrap() > 1.5 * normal["m"].as_f64().unwrap(),
        "{mining} vs {normal}"
    );
    let (storm, normal) = stats(by_kind["error-storm"]);
    assert!(
        storm["e"].as_f64().unwrap() > 0.4 && normal["e"].as_f64().unwrap() < 0.1,
        "{storm} vs {normal}"
    );
}

#[test]
fn a_clean_account_has_no_attack() {
    let dir = tempdir();
    let out = dir.path().join("sim");
    let s = simulate(&out, &[SMALL, &["--attacks", "none"]].concat());
    assert_eq!(s["attacks"], 0);
    let recs = records(&out);
    assert!(!recs.is_empty());
    for r in &recs {
        let ip = r["sourceIPAddress"].as_str().unwrap();
        assert!(
            !ip.starts_with("203.0.113.") && !ip.starts_with("198.51.100."),
            "{r}"
        );
        assert!(r.get("errorCode").is_none(), "{r}");
    }
    // A list picks scenarios; an unknown one is a usage error.
    let s = simulate(
        &dir.path().join("two"),
        &[SMALL, &["--attacks", "reconnaissance,error-storm"]].concat(),
    );
    assert_eq!(s["attacks"], 2);
    let o = run(bin()
        .args(["simulate", "--out"])
        .arg(dir.path().join("x"))
        .args(["--attacks", "recon"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("reconnaissance"),
        "{}",
        text(&o.stderr)
    );
}

/// The real CloudTrail records of tests/data, by event name.
fn real_records() -> BTreeMap<String, Vec<Value>> {
    let data = test_data();
    let mut all: Vec<Value> = Vec::new();
    for line in String::from_utf8(gunzip(
        &data.join("traildiscover_event_catalog/log_examples.ndjson.gz"),
    ))
    .unwrap()
    .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        all.push(v["event"].clone());
    }
    for p in files(&data.join("stratus_red_team_detonation_logs/detonation-logs")) {
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        all.extend(v.as_array().cloned().unwrap_or_default());
    }
    let docs: Value = serde_json::from_slice(
        &std::fs::read(
            data.join("awsdocs_cloudtrail_log_examples/cloudtrail_user_guide_event_examples.json"),
        )
        .unwrap(),
    )
    .unwrap();
    all.extend(
        docs["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone()),
    );
    let mut by: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in all {
        if let Some(n) = e["eventName"].as_str() {
            by.entry(n.to_string()).or_default().push(e);
        }
    }
    by
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn records_have_the_shapes_of_real_ones() {
    let dir = tempdir();
    let out = dir.path().join("sim");
    simulate(
        &out,
        &[
            "--functions",
            "10",
            "--days",
            "3",
            "--events-per-day",
            "3000",
        ],
    );
    let sim = records(&out);
    let real = real_records();
    let outcome: BTreeSet<String> = ["errorCode", "errorMessage"].map(String::from).into();
    let all_real: Vec<&Value> = real.values().flatten().collect();
    // Fields every real record has, and every field any real record has.
    let envelope: BTreeSet<String> = all_real
        .iter()
        .filter(|e| e["eventType"] == "AwsApiCall")
        .map(|e| keys(e))
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap();
    let known: BTreeSet<String> = all_real.iter().flat_map(|e| keys(e)).collect();
    let identity_keys = |t: &str| -> BTreeSet<BTreeSet<String>> {
        all_real
            .iter()
            .filter(|e| e["userIdentity"]["type"] == t)
            .map(|e| keys(&e["userIdentity"]))
            .collect()
    };
    let mut compared = BTreeSet::new();
    let mut seen_names = BTreeSet::new();
    for e in &sim {
        let name = e["eventName"].as_str().unwrap().to_string();
        seen_names.insert(name.clone());
        let k = keys(e);
        assert!(
            k.is_superset(&envelope),
            "{name} lacks envelope fields {:?}",
            envelope.difference(&k).collect::<Vec<_>>()
        );
        assert!(
            k.is_subset(&known),
            "{name} has fields no real record has: {:?}",
            k.difference(&known).collect::<Vec<_>>()
        );
        // The same top-level fields as a real record of the same event (outcome aside).
        if let Some(samples) = real.get(&name) {
            compared.insert(name.clone());
            let mine: BTreeSet<String> = k.difference(&outcome).cloned().collect();
            assert!(
                samples.iter().any(|s| keys(s)
                    .difference(&outcome)
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    == mine),
                "{name}: fields {mine:?} match no real {name} record: {:?}",
                samples.iter().map(keys).collect::<Vec<_>>()
            );
            let real_params: BTreeSet<String> = samples
                .iter()
                .flat_map(|s| keys(&s["requestParameters"]))
                .collect();
            if !real_params.is_empty() {
                let params = keys(&e["requestParameters"]);
                assert!(
                    params.is_subset(&real_params),
                    "{name}: request parameters {params:?} beyond the real {real_params:?}"
                );
            }
        }
        // Identities as AWS writes them.
        let t = e["userIdentity"]["type"].as_str().unwrap();
        let real_shapes = identity_keys(t);
        if !real_shapes.is_empty() {
            assert!(
                real_shapes.contains(&keys(&e["userIdentity"])),
                "{t} identity {:?} unlike the real {real_shapes:?}",
                keys(&e["userIdentity"])
            );
        }
        if t == "AssumedRole" {
            let issuer = keys(&e["userIdentity"]["sessionContext"]["sessionIssuer"]);
            assert!(
                all_real
                    .iter()
                    .any(|r| keys(&r["userIdentity"]["sessionContext"]["sessionIssuer"]) == issuer)
            );
            let arn = e["userIdentity"]["arn"].as_str().unwrap();
            assert!(
                arn.starts_with("arn:aws:sts::123456789012:assumed-role/"),
                "{arn}"
            );
        }
        let time = e["eventTime"].as_str().unwrap();
        assert!(
            time.len() == 20 && time.ends_with('Z') && &time[10..11] == "T",
            "{time}"
        );
        assert_eq!(e["eventID"].as_str().unwrap().len(), 36);
    }
    // Functions call as Lambda does: their role's session named after the function, the
    // runtime's SDK agent, from AWS or NAT addresses.
    let fn_calls: Vec<&Value> = sim
        .iter()
        .filter(|e| {
            e["userIdentity"]["arn"]
                .as_str()
                .unwrap_or("")
                .contains(":assumed-role/")
                && e["userAgent"]
                    .as_str()
                    .unwrap()
                    .contains("exec-env/AWS_Lambda_")
        })
        .collect();
    assert!(
        fn_calls.len() > sim.len() / 2,
        "{} of {}",
        fn_calls.len(),
        sim.len()
    );
    for e in fn_calls.iter().take(2000) {
        let arn = e["userIdentity"]["arn"].as_str().unwrap();
        let session = arn.rsplit('/').next().unwrap();
        assert!(!session.is_empty());
        assert!(
            e["userIdentity"]["accessKeyId"]
                .as_str()
                .unwrap()
                .starts_with("ASIA")
        );
    }
    assert!(
        compared.len() >= 10,
        "compared with real records: {compared:?} of {seen_names:?}"
    );
}

#[test]
fn demo_runs_the_main_job() {
    let dir = tempdir();
    let out = dir.path().join("demo");
    let o = run(bin().args(["demo", "--out"]).arg(&out));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("every labelled record of 13 of 13 attacks is in the lake"),
        "{stdout}"
    );
    for kind in [
        "credential-exfiltration",
        "defense-evasion",
        "cryptomining",
        "odd-hour-activity",
        "api-burst",
    ] {
        assert!(stdout.contains(kind), "{stdout}");
    }
    // Every attack caught, nothing else found.
    assert!(stdout.contains("13 of 13 attacks caught; precision 1.00, recall 1.00, 0 findings about nothing labelled"), "{stdout}");
    assert!(!stdout.contains("MISSED"), "{stdout}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("demo-summary.json")).unwrap()).unwrap();
    assert_eq!(summary["attacks"].as_array().unwrap().len(), 13);
    // The behaviour findings, the model and the plot.
    assert!(
        summary["behaviour_findings"].as_u64().unwrap() >= 5,
        "{summary}"
    );
    assert!(
        stdout.contains("baseline-api") && stdout.contains("baseline-volume"),
        "{stdout}"
    );
    // The night-time invocations are the baseline's (as an off-hours hour, or as a count
    // improbable for that hour).
    let odd = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("odd-hour-activity"))
        .unwrap();
    assert!(odd.contains("baseline-"), "{odd}");
    assert!(out.join("baseline/model.bin").is_file());
    let svgs: Vec<_> = std::fs::read_dir(out.join("baseline"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "svg"))
        .collect();
    assert_eq!(svgs.len(), 1);
    for a in summary["attacks"].as_array().unwrap() {
        assert!(!a["caught_by"].as_array().unwrap().is_empty(), "{a}");
        // By the detectors its attack expects.
        let kind = pipeline::labels::Kind::parse(a["kind"].as_str().unwrap()).unwrap();
        let caught_by: BTreeSet<&str> = a["caught_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        for d in simulator::attacks::attack(kind).caught_by {
            // The baseline may name a behaviour anomaly by another of its categories (night
            // activity at the daytime rate is an improbable count for that hour as much as an
            // off-hours hour): any baseline finding counts for a baseline category.
            if d.starts_with("baseline-") {
                assert!(
                    caught_by.iter().any(|c| c.starts_with("baseline-")),
                    "{kind}: {a}"
                );
            } else {
                assert!(caught_by.contains(d), "{kind} not caught by {d}: {a}");
            }
        }
    }
    assert!(
        summary["false_findings"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    let stored = query(
        &out.join("lake").display().to_string(),
        "SELECT count(*) AS n FROM findings",
    );
    assert_eq!(stored[0]["n"], summary["findings"]);
    // Again into the same directory: replaced, not added to.
    let o = run(bin().args(["demo", "--out"]).arg(&out));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("13 of 13"));
    // A directory that is not a demo's is left alone.
    let other = dir.path().join("mine");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "keep").unwrap();
    let o = run(bin().args(["demo", "--out"]).arg(&other));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "keep"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_to_the_emulator_and_ingest_from_there() {
    emulator();
    let dir = tempdir();
    let out = dir.path().join("sim");
    let bucket = unique_bucket("sim");
    // CloudWatch Logs keeps 14 days: start yesterday.
    let s = simulate(
        &out,
        &[
            "--functions",
            "3",
            "--days",
            "1",
            "--events-per-day",
            "800",
            "--start",
            "1d",
            "--attacks",
            "none",
            "--to",
            &format!("s3://{bucket}/sim"),
            "--to-cwl",
        ],
    );
    let log_lines = s["log_lines"].as_u64().unwrap();
    assert!(s["s3_objects"].as_u64().unwrap() > 10, "{s}");
    assert_eq!(s["cwl_events"].as_u64().unwrap(), log_lines, "{s}");

    let lake = dir.path().join("lake").display().to_string();
    let from_s3 = ingest(&[format!("s3://{bucket}/sim/AWSLogs/")], &lake);
    assert_eq!(
        from_s3["events_ingested"], s["cloudtrail_events"],
        "{from_s3}"
    );

    let files_lake = dir.path().join("lake-files").display().to_string();
    ingest_lambda(&[out.join("lambda-logs")], &files_lake);
    let o = run(bin().args([
        "ingest",
        "lambda-logs",
        "cwl:///aws/lambda/orders-api",
        "--lake",
        &lake,
        "--json",
    ]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Summed in cents of a millisecond: a float sum's last digits depend on the order the
    // engine adds the rows in.
    let sql = "SELECT count(*) AS n, sum(CAST(round(duration_ms * 100) AS BIGINT)) AS d FROM lambda_invocations WHERE function_name = 'orders-api'";
    let (a, b) = (query(&lake, sql), query(&files_lake, sql));
    assert!(a[0]["n"].as_u64().unwrap() > 0);
    assert_eq!(
        a, b,
        "the same invocations from CloudWatch Logs as from the payload files"
    );
}

/// The detectors each attack expects exist: rules of the registry, or baseline categories that
/// stand for the attack's kind when the evaluation scores them.
#[test]
fn every_attack_expects_detectors_that_exist() {
    let registry = detectors::registry::Registry::load(None).unwrap();
    for a in simulator::attacks::ATTACKS {
        for d in a.caught_by {
            match detectors::baseline::Category::from_detector_id(d) {
                // The small anomalies of low-volume functions share the categories of the
                // large ones (a handful of errors is a failures finding, as a storm is).
                Some(c)
                    if matches!(
                        a.kind,
                        simulator::attacks::Kind::ErrorHandful
                            | simulator::attacks::Kind::QuietHourActivity
                    ) =>
                {
                    assert!(a.behaviour, "{d}: {c:?}")
                }
                Some(c) => assert_eq!(detectors::eval::kind_of_category(c), a.kind, "{d}"),
                None => assert!(
                    registry.detectors.iter().any(|r| r.meta.id == *d),
                    "{}: no detector {d}",
                    a.kind
                ),
            }
        }
    }
}

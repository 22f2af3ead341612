//! `ingest iam` and `drift`: exact granted/used/unused sets on a hand-made account (wildcards,
//! Deny, NotAction, a managed policy, Lambda's own actions), changes against the previous
//! report, and the demo account of tests/data.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{bin, ingest, run, test_data, text};

const ACCT: &str = "111122223333";

/// The catalogue's actions whose name starts with `prefix` (read from the shipped data file,
/// not through the code under test).
fn catalogue_with_prefix(prefix: &str) -> BTreeSet<String> {
    let data =
        std::fs::read_to_string(crate::common::repo().join("detectors/data/iam-actions.tsv"))
            .unwrap();
    data.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .filter(|a| a.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn authz(ops_extra: &[&str]) -> Value {
    let lambda_trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let mut ops_allow = vec!["sqs:*".to_string()];
    ops_allow.extend(ops_extra.iter().map(|s| s.to_string()));
    let mut keep = vec!["sqs:SendMessage", "sqs:ReceiveMessage"];
    keep.extend(ops_extra);
    json!({
        "RoleDetailList": [
            {"RoleName": "fn-role", "Path": "/service-role/", "Arn": format!("arn:aws:iam::{ACCT}:role/service-role/fn-role"),
             "AssumeRolePolicyDocument": lambda_trust,
             "RolePolicyList": [{"PolicyName": "app", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data-bucket/*"},
                {"Effect": "Allow", "Action": ["dynamodb:Get*", "dynamodb:Query", "dynamodb:Scan"], "Resource": "*"},
                {"Effect": "Deny", "Action": "dynamodb:GetRecords", "Resource": "*"}]}}],
             "AttachedManagedPolicies": [{"PolicyName": "AWSLambdaBasicExecutionRole",
                "PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]},
            {"RoleName": "ops", "Path": "/", "Arn": format!("arn:aws:iam::{ACCT}:role/ops"),
             "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
             "RolePolicyList": [{"PolicyName": "queue", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ops_allow, "Resource": "*"},
                {"Effect": "Deny", "NotAction": keep, "Resource": "*"}]}}],
             "AttachedManagedPolicies": []}
        ],
        "Policies": [{"PolicyName": "AWSLambdaBasicExecutionRole",
            "Arn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", "DefaultVersionId": "v1",
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": true,
                "Document": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22logs%3ACreateLogGroup%22%2C%22logs%3ACreateLogStream%22%2C%22logs%3APutLogEvents%22%5D%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"}]}]
    })
}

fn event(
    i: u32,
    role: &str,
    source: &str,
    name: &str,
    error: Option<&str>,
    arn: Option<&str>,
) -> Value {
    let role_arn = if role == "fn-role" {
        format!("arn:aws:iam::{ACCT}:role/service-role/fn-role")
    } else {
        format!("arn:aws:iam::{ACCT}:role/{role}")
    };
    let mut e = json!({
        "eventVersion": "1.09", "eventTime": format!("2026-11-{:02}T10:{:02}:00Z", 10 + i % 5, i % 60),
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "3.80.1.2", "userAgent": "aws-sdk-go-v2/1.30 exec-env/AWS_Lambda_go1.x",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAX:fn",
            "arn": format!("arn:aws:sts::{ACCT}:assumed-role/{role}/session"), "accountId": ACCT,
            "accessKeyId": "ASIAEXAMPLE", "sessionContext": {"sessionIssuer": {"type": "Role",
                "principalId": "AROAX", "arn": role_arn, "accountId": ACCT, "userName": role}}},
        "eventID": format!("00000000-0000-0000-0000-{i:012}"), "eventType": "AwsApiCall",
        "recipientAccountId": ACCT, "readOnly": true, "managementEvent": false
    });
    if let Some(code) = error {
        e["errorCode"] = json!(code);
    }
    if let Some(arn) = arn {
        e["resources"] = json!([{"ARN": arn, "accountId": ACCT, "type": "AWS::S3::Object"}]);
    }
    e
}

fn write(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
}

fn ingest_iam(src: &Path, lake: &str, date: &str) -> Value {
    let out = run(bin()
        .args(["ingest", "iam"])
        .arg(src)
        .args(["--lake", lake, "--date", date, "--json"]));
    assert!(out.status.success(), "ingest iam: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn drift(lake: &str, out: &Path, previous: Option<&Path>) -> Value {
    let mut cmd = bin();
    cmd.args(["drift", "--lake", lake, "--window", "30d", "--out"])
        .arg(out);
    if let Some(p) = previous {
        cmd.arg("--previous").arg(p);
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "drift: {}", text(&o.stderr));
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn set(v: &Value) -> BTreeSet<String> {
    strings(v).into_iter().collect()
}

fn role<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()
}

#[test]
fn drift_gives_exact_unused_sets_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let iam1 = dir.path().join("iam1.json");
    write(&iam1, &authz(&[]));
    let s = ingest_iam(&iam1, &lake, "2026-11-01");
    assert_eq!(
        (s["roles"].as_u64(), s["function_roles"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(s["statements_unreadable"], 0);

    let obj = "arn:aws:s3:::data-bucket/reports/a.csv";
    let records = vec![
        event(
            1,
            "fn-role",
            "s3.amazonaws.com",
            "GetObject",
            None,
            Some(obj),
        ),
        event(
            2,
            "fn-role",
            "s3.amazonaws.com",
            "GetObject",
            None,
            Some(obj),
        ),
        event(3, "fn-role", "dynamodb.amazonaws.com", "Query", None, None),
        // Refused: not a use.
        event(
            4,
            "fn-role",
            "dynamodb.amazonaws.com",
            "Scan",
            Some("AccessDenied"),
            None,
        ),
        event(5, "ops", "sqs.amazonaws.com", "SendMessage", None, None),
    ];
    write(&dir.path().join("ct/a.json"), &json!({"Records": records}));
    ingest(&[dir.path().join("ct")], &lake);

    let out1 = dir.path().join("report1");
    let r1 = drift(&lake, &out1, None);
    assert_eq!(r1["schema"], "trailhound.drift/1");
    assert_eq!(r1["summary"]["roles"], 2);
    // Function roles first.
    assert_eq!(r1["roles"][0]["name"], "fn-role");

    let f = role(&r1, "fn-role");
    let mut granted: BTreeSet<String> = catalogue_with_prefix("dynamodb:Get");
    granted.remove("dynamodb:GetRecords");
    granted.extend(
        [
            "dynamodb:Query",
            "dynamodb:Scan",
            "s3:GetObject",
            "s3:PutObject",
        ]
        .map(String::from),
    );
    let logs: BTreeSet<String> = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        f["granted_count"].as_u64().unwrap() as usize,
        granted.len() + logs.len()
    );
    let used: BTreeSet<String> = f["used"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        used,
        ["dynamodb:Query", "s3:GetObject"].map(String::from).into()
    );
    assert_eq!(
        set(&f["used_by_lambda"]),
        logs,
        "Lambda writes the logs: never unused"
    );
    let mut unused = granted.clone();
    unused.remove("dynamodb:Query");
    unused.remove("s3:GetObject");
    assert_eq!(set(&f["unused"]), unused);
    assert_eq!(f["unused_count"].as_u64().unwrap() as usize, unused.len());
    assert_eq!(set(&f["unused_services"]), BTreeSet::new());
    assert!(set(&f["used_not_granted"]).is_empty());
    let sensitive: BTreeSet<String> = f["unused_sensitive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert!(sensitive.contains("s3:PutObject") && !sensitive.contains("dynamodb:GetItem"));
    // The suggested policy: the object read on its ARN, the rest where it ran.
    let policy: Value =
        serde_json::from_slice(&std::fs::read(out1.join("policies/fn-role.json")).unwrap())
            .unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let scoped = statements
        .iter()
        .find(|s| s["Resource"] == obj)
        .expect("an s3 statement on the object");
    assert_eq!(scoped["Action"], json!(["s3:GetObject"]));
    let star = statements.iter().find(|s| s["Resource"] == "*").unwrap();
    assert_eq!(
        set(&star["Action"]),
        [
            "dynamodb:Query",
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents"
        ]
        .map(String::from)
        .into()
    );

    // NotAction Deny leaves exactly the two queue actions; one used.
    let o = role(&r1, "ops");
    assert_eq!(
        set(&o["granted"]),
        ["sqs:ReceiveMessage", "sqs:SendMessage"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        set(&o["unused"]),
        ["sqs:ReceiveMessage"].map(String::from).into()
    );
    assert!(o.get("changes").is_none());
    let md = std::fs::read_to_string(out1.join("report.md")).unwrap();
    assert!(
        md.contains("## fn-role") && md.contains("`sqs:ReceiveMessage`"),
        "{md}"
    );

    html_opens_in_chromium(&out1.join("report.html"), 2);

    // A later snapshot grants ops one more action: the next report says so.
    let iam2 = dir.path().join("iam2.json");
    write(&iam2, &authz(&["sqs:DeleteMessage"]));
    ingest_iam(&iam2, &lake, "2026-11-14");
    let r2 = drift(
        &lake,
        &dir.path().join("report2"),
        Some(&out1.join("report.json")),
    );
    let c = &role(&r2, "ops")["changes"];
    assert_eq!(
        set(&c["newly_granted"]),
        ["sqs:DeleteMessage"].map(String::from).into()
    );
    assert!(set(&c["no_longer_granted"]).is_empty() && set(&c["newly_used"]).is_empty());
    assert!(set(&role(&r2, "fn-role")["changes"]["newly_granted"]).is_empty());

    // Bad input: a file that is not authorization details names itself.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{\"Records\": []}").unwrap();
    let out = run(bin()
        .args(["ingest", "iam"])
        .arg(&bad)
        .args(["--lake", &lake]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad.json")
            && text(&out.stderr).contains("authorization-details"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn demo_account_of_test_data() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let src = test_data().join(
        "iam_account_authz_details_cloudsplaining/example_account_authorization_details.json.gz",
    );
    let s = ingest_iam(&src, &lake, "2026-11-20");
    assert_eq!(s["account_id"], "200611803367");
    assert_eq!(
        (
            s["roles"].as_u64(),
            s["users"].as_u64(),
            s["groups"].as_u64()
        ),
        (Some(78), Some(44), Some(5))
    );
    assert_eq!(s["statements_unreadable"], 0);
    // Again the same day: replaced, not doubled.
    let again = ingest_iam(&src, &lake, "2026-11-20");
    assert_eq!(again["replaced"], true);
    assert_eq!(again["rows"], s["rows"]);

    // No CloudTrail for this account: every granted action is unused.
    let r = drift(&lake, &dir.path().join("report"), None);
    assert_eq!(r["summary"]["roles"], 78);
    assert_eq!(r["summary"]["function_roles"], 1);
    for role in r["roles"].as_array().unwrap() {
        assert_eq!(role["used_count"], 0);
        // (Less what Lambda itself does for a function role: its logs, its network.)
        let by_lambda = role["used_by_lambda"].as_array().unwrap().len() as u64;
        assert_eq!(
            role["unused_count"].as_u64().unwrap() + by_lambda,
            role["granted_count"].as_u64().unwrap(),
            "{}",
            role["name"]
        );
    }
    // Exact sets for every role whose policies are plain Allow/Action statements (most of
    // them), computed here from the documents with this file's own wildcard match.
    let authz: Value = {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&src).unwrap()),
            &mut text,
        )
        .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let managed: std::collections::HashMap<&str, &Value> = authz["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let doc = p["PolicyVersionList"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["IsDefaultVersion"] == true)
                .unwrap();
            (p["Arn"].as_str().unwrap(), &doc["Document"])
        })
        .collect();
    let universe = catalogue_with_prefix("");
    let mut exact = 0;
    'roles: for role in authz["RoleDetailList"].as_array().unwrap() {
        let mut docs: Vec<&Value> = role["RolePolicyList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["PolicyDocument"])
            .collect();
        for a in role["AttachedManagedPolicies"].as_array().unwrap() {
            docs.push(managed[a["PolicyArn"].as_str().unwrap()]);
        }
        if role.get("PermissionsBoundary").is_some() {
            continue;
        }
        let mut patterns = Vec::new();
        for doc in docs {
            let statements = match &doc["Statement"] {
                Value::Array(a) => a.clone(),
                one => vec![one.clone()],
            };
            for st in statements {
                if st["Effect"] != "Allow" || st.get("Action").is_none() {
                    continue 'roles;
                }
                match &st["Action"] {
                    Value::String(a) => patterns.push(a.clone()),
                    Value::Array(a) => {
                        patterns.extend(a.iter().map(|x| x.as_str().unwrap().to_string()))
                    }
                    _ => continue 'roles,
                }
            }
        }
        let arn = role["Arn"].as_str().unwrap();
        let got = r["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["arn"] == arn)
            .unwrap();
        let mut expected = expand_all(&patterns, &universe);
        for a in got["used_by_lambda"].as_array().unwrap() {
            expected.remove(a.as_str().unwrap());
        }
        let reported = expand_all(&strings(&got["unused"]), &universe);
        assert_eq!(reported.len(), expected.len(), "{arn}");
        assert!(
            reported == expected,
            "{arn}: {:?} / {:?}",
            reported.difference(&expected).take(5).collect::<Vec<_>>(),
            expected.difference(&reported).take(5).collect::<Vec<_>>()
        );
        exact += 1;
    }
    assert!(exact >= 40, "only {exact} roles checked exactly");

    // A role that may pass any role to new Lambda functions: privilege escalation flagged.
    let passers: Vec<&Value> = r["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["unused_sensitive"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == "iam:PassRole" && a["privilege_escalation"] == true)
        })
        .collect();
    assert!(!passers.is_empty());
}

/// `ingest iam iam://`: the live IAM API of the emulator, its documents URL-encoded as AWS
/// returns them, read into the same rows as a file would give.
#[tokio::test(flavor = "multi_thread")]
async fn live_iam_api_of_the_emulator() {
    crate::common::emulator();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = crate::common::unique_name("fn");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    iam.create_role()
        .role_name(&role)
        .path("/service-role/")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let inline = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"], "Resource": "*"}]});
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("queue")
        .policy_document(inline.to_string())
        .send()
        .await
        .unwrap();
    let managed = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:ReceiveMessage", "Resource": "*"}]});
    let policy = iam
        .create_policy()
        .policy_name(format!("{role}-table"))
        .policy_document(managed.to_string())
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(&role)
        .policy_arn(policy.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let lake2 = lake.clone();
    let s = tokio::task::spawn_blocking(move || {
        let out = run(bin().args([
            "ingest",
            "iam",
            "iam://",
            "--lake",
            &lake2,
            "--date",
            "2026-11-20",
            "--json",
        ]));
        assert!(out.status.success(), "ingest iam://: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(s["source"], "iam://");
    assert!(s["function_roles"].as_u64().unwrap() >= 1, "{s}");
    let arn = format!("arn:aws:iam::123456789012:role/service-role/{role}");
    let rows = crate::common::query(
        &lake,
        &format!(
            "SELECT policy_kind, effect, action_pattern, trusted_services FROM iam \
             WHERE principal_arn = '{arn}' ORDER BY policy_kind, effect, action_pattern"
        ),
    );
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["policy_kind"].as_str().unwrap(),
                r["effect"].as_str().unwrap(),
                r["action_pattern"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "inline Allow sqs:ReceiveMessage",
            "inline Allow sqs:SendMessage",
            "managed Allow dynamodb:GetItem",
            "managed Deny sqs:ReceiveMessage",
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r["trusted_services"] == "lambda.amazonaws.com")
    );

    // What the role may do, through drift (no CloudTrail: all unused).
    let out = dir.path().join("report");
    let lake3 = lake.clone();
    let (out2, arn2) = (out.clone(), arn.clone());
    tokio::task::spawn_blocking(move || {
        let o = run(bin()
            .args(["drift", "--lake", &lake3, "--role", &arn2, "--out"])
            .arg(&out2));
        assert!(o.status.success(), "drift: {}", text(&o.stderr));
    })
    .await
    .unwrap();
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["roles"].as_array().unwrap().len(), 1);
    assert_eq!(
        set(&r["roles"][0]["granted"]),
        ["dynamodb:GetItem", "sqs:SendMessage"]
            .map(String::from)
            .into()
    );
}

/// The HTML report: self-contained (nothing fetched), and rendered by headless Chromium with
/// no script error, its table and one chart per role in the rendered page.
fn html_opens_in_chromium(path: &Path, roles: usize) {
    let page = std::fs::read_to_string(path).unwrap();
    for external in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(
            !page.contains(external),
            "the report fetches something: {external}"
        );
    }
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("running chromium (scripts/test installs Debian's chromium)");
    assert!(out.status.success(), "chromium: {}", text(&out.stderr));
    let dom = text(&out.stdout);
    assert!(
        dom.contains(r#"data-rendered="ok""#),
        "script errors or not rendered: {}",
        &dom[..dom.len().min(400)]
    );
    assert_eq!(
        dom.matches(r#"<svg class="bar""#).count(),
        roles,
        "one chart per role"
    );
    assert!(dom.contains(r#"<table id="roles">"#));
}

/// IAM's wildcard match, written again here so the expected sets do not come from the code
/// under test.
fn glob(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

fn expand_all(patterns: &[String], universe: &BTreeSet<String>) -> BTreeSet<String> {
    universe
        .iter()
        .filter(|a| patterns.iter().any(|p| glob(p, a)))
        .cloned()
        .collect()
}

/// On a simulated account, each role's unused set is exactly what its policies grant less
/// what the simulator's ground truth says it used (and less Lambda's own log and network
/// actions for a function role).
#[test]
fn simulated_account_unused_sets_match_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let out = run(bin().args(["simulate", "--out"]).arg(&sim).args([
        "--functions",
        "8",
        "--days",
        "5",
        "--seed",
        "7",
    ]));
    assert!(out.status.success(), "simulate: {}", text(&out.stderr));
    let lake = dir.path().join("lake").display().to_string();
    ingest(&[sim.join("AWSLogs")], &lake);
    let authz_path = sim.join("iam/account-authorization-details.json");
    ingest_iam(&authz_path, &lake, "2026-11-20");
    let report = drift(&lake, &dir.path().join("report"), None);

    let universe = catalogue_with_prefix("");
    let authz: Value = serde_json::from_slice(&std::fs::read(&authz_path).unwrap()).unwrap();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(sim.join("iam/ground-truth.json")).unwrap()).unwrap();
    let managed: std::collections::HashMap<&str, &Value> = authz["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["Arn"].as_str().unwrap(),
                &p["PolicyVersionList"][0]["Document"],
            )
        })
        .collect();
    let platform = detectors::iam::drift::LAMBDA_PLATFORM_ACTIONS;
    let actions_of = |doc: &Value| -> Vec<String> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                _ => vec![],
            })
            .collect()
    };
    let mut checked = 0;
    for r in authz["RoleDetailList"].as_array().unwrap() {
        let arn = r["Arn"].as_str().unwrap();
        let mut patterns: Vec<String> = r["RolePolicyList"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| actions_of(&p["PolicyDocument"]))
            .collect();
        for a in r["AttachedManagedPolicies"].as_array().unwrap() {
            patterns.extend(actions_of(managed[a["PolicyArn"].as_str().unwrap()]));
        }
        let granted = expand_all(&patterns, &universe);
        let used: BTreeSet<String> = set(&truth["roles"][arn]["used"]);
        let function = r["AssumeRolePolicyDocument"]
            .to_string()
            .contains("lambda.amazonaws.com");
        let mut expected: BTreeSet<String> = granted.difference(&used).cloned().collect();
        if function {
            for &a in platform {
                expected.remove(a);
            }
        }
        let got_role = report["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["arn"] == arn)
            .unwrap_or_else(|| panic!("{arn} not in the report"));
        let got = expand_all(&strings(&got_role["unused"]), &universe);
        let extra: Vec<_> = got.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&got).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{arn}: unused differs from the ground truth: reported but used or not granted \
             {extra:?}; unused but not reported {missing:?}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
}

/// `drift --publish s3://… --sns-topic …`: the files land in the bucket and a summary reaches
/// the topic's subscribers (an SQS queue here), on the emulator.
#[tokio::test(flavor = "multi_thread")]
async fn publish_to_s3_and_summarise_to_sns() {
    let s3 = crate::common::s3().await;
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let bucket = crate::common::unique_bucket("drift");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let name = crate::common::unique_name("drift");
    let topic = sns.create_topic().name(&name).send().await.unwrap();
    let topic = topic.topic_arn().unwrap().to_string();
    let queue = sqs.create_queue().queue_name(&name).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let iam = dir.path().join("iam.json");
    write(&iam, &authz(&[]));
    ingest_iam(&iam, &lake, "2026-11-01");
    let out = dir.path().join("report");
    let (lake2, out2, bucket2, topic2) = (lake.clone(), out.clone(), bucket.clone(), topic.clone());
    tokio::task::spawn_blocking(move || {
        let o = run(bin()
            .args(["drift", "--lake", &lake2, "--out"])
            .arg(&out2)
            .args([
                "--publish",
                &format!("s3://{bucket2}/reports"),
                "--sns-topic",
                &topic2,
            ]));
        assert!(o.status.success(), "drift: {}", text(&o.stderr));
    })
    .await
    .unwrap();

    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("reports/")
        .send()
        .await
        .unwrap();
    let keys: BTreeSet<String> = listed
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    for file in [
        "report.json",
        "report.md",
        "report.html",
        "policies/fn-role.json",
        "policies/ops.json",
    ] {
        assert!(
            keys.iter().any(|k| k.ends_with(&format!("/{file}"))),
            "{file} not published: {keys:?}"
        );
    }
    // Stored with a content type, so that the page opens in a browser.
    let html = keys.iter().find(|k| k.ends_with("/report.html")).unwrap();
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(html)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/html; charset=utf-8"));
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap().to_string();
    assert!(
        body.contains("2 of 2 roles hold permissions they never used"),
        "{body}"
    );
    assert!(body.contains(&format!("s3://{bucket}/reports/")), "{body}");
    assert!(
        body.contains("arn:aws:iam::111122223333:role/ops"),
        "{body}"
    );
}

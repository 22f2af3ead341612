//! `trailhound baseline train | score | plot` and `eval --model` on simulated accounts with
//! injected behaviour anomalies, and on clean ones.

use std::path::Path;

use serde_json::Value;

use crate::common::*;
use crate::detect::simulated_lake;

const BEHAVIOUR: [&str; 5] = [
    "invocation-flood",
    "cryptomining",
    "error-storm",
    "odd-hour-activity",
    "api-burst",
];

fn train(lake: &str, model: &Path, extra: &[&str]) -> Value {
    let o = run(bin()
        .args(["baseline", "train", "--lake", lake, "--json", "--model"])
        .arg(model)
        .args(extra));
    assert!(o.status.success(), "train: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn eval(lake: &str, labels: &Path, model: &Path) -> Value {
    let o = run(bin()
        .args([
            "eval",
            "--lake",
            lake,
            "--baseline-only",
            "--json",
            "--labels",
        ])
        .arg(labels)
        .arg("--model")
        .arg(model));
    assert!(o.status.success(), "eval: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn behaviour_anomalies_are_found_and_explained() {
    let dir = tempdir();
    // Every behaviour anomaly twice, on different functions, hidden in the training data.
    let attacks = [BEHAVIOUR, BEHAVIOUR].concat().join(",");
    let (lake, labels) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "40",
            "--days",
            "21",
            "--events-per-day",
            "8000",
            "--seed",
            "11",
            "--attacks",
            &attacks,
        ],
    );
    let model = dir.path().join("model.bin");
    let summary = train(&lake, &model, &[]);
    assert_eq!(summary["functions"], 40, "{summary}");
    assert_eq!(summary["ready"], 40, "{summary}");

    // The model is a compact binary file with a JSON summary beside it that people read.
    let bytes = std::fs::read(&model).unwrap();
    assert!(bytes.starts_with(b"trailhound.baseline/2\n"));
    assert!(bytes.len() < 40 * 8_000, "{} bytes", bytes.len());
    assert_eq!(summary["model_bytes"], bytes.len());
    let summary_path = dir.path().join("model.summary.json");
    assert_eq!(summary["summary"], summary_path.display().to_string());
    let m: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(m["format"], "trailhound.baseline-summary/2");
    assert_eq!(m["model_format"], "trailhound.baseline/2");
    assert_eq!(m["model_file"], "model.bin");
    assert_eq!(m["features"].as_array().unwrap().len(), 12);
    let (name, f) = m["functions"].as_object().unwrap().iter().next().unwrap();
    assert!(
        f["role"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:iam::123456789012:role/"),
        "{name}"
    );
    assert_eq!(f["state"], "ready");
    let by_hour = f["invocations_per_hour"]["weekday_by_hour"]
        .as_array()
        .unwrap();
    assert_eq!(by_hour.len(), 24, "{f}");
    assert!(f["usual_error_rate"].as_f64().unwrap() < 0.05, "{f}");
    assert_eq!(f["mixture"], true, "{name}");

    // Precision and recall per kind of anomaly.
    let labels_path = dir.path().join("data/labels.json");
    let r = eval(&lake, &labels_path, &model);
    let kinds = r["by_kind"].as_array().unwrap();
    for kind in BEHAVIOUR {
        let k = kinds
            .iter()
            .find(|k| k["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind}: {r:#}"));
        assert_eq!(k["attacks"], 2, "{k}");
        assert!(k["baseline_recall"].as_f64().unwrap() >= 0.9, "{k}\n{r:#}");
        assert!(
            k["baseline_precision"].as_f64().unwrap() >= 0.9,
            "{k}\n{r:#}"
        );
    }
    assert!(
        r["false_findings_per_function_week"].as_f64().unwrap() <= 0.01,
        "{r:#}"
    );

    // Findings say what deviated, by how much, against what normal, and where the records are.
    let o = run(bin()
        .args([
            "baseline", "score", "--lake", &lake, "--format", "ndjson", "--model",
        ])
        .arg(&model));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let findings: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!findings.is_empty());
    let flood = labels["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "invocation-flood")
        .unwrap();
    let function = flood["function"].as_str().unwrap();
    let f = findings
        .iter()
        .find(|f| {
            f["resources"][0]["name"] == function
                && f["finding_info"]["analytic"]["uid"] == "baseline-volume"
        })
        .unwrap_or_else(|| panic!("no volume finding for {function}: {findings:#?}"));
    assert_eq!(f["class_uid"], 2004);
    assert_eq!(f["actor"]["user"]["uid"], flood["principal"]);
    let reasons: Vec<&str> = f["unmapped"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let inv = reasons
        .iter()
        .find(|r| r.starts_with("invocations "))
        .unwrap_or_else(|| panic!("{reasons:?}"));
    assert!(
        inv.contains("(expected ")
            && inv.contains("usual range")
            && inv.contains("or more at the learnt rate"),
        "{inv}"
    );
    let description = f["finding_info"]["desc"].as_str().unwrap_or_default();
    assert!(description.contains("probability"), "{f:#}");
    // Evidence: the flood's invocations with their source files.
    let flood_requests: std::collections::HashSet<&str> = flood["request_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let evidence = f["evidences"].as_array().unwrap();
    assert!(evidence.len() >= 50, "{}", evidence.len());
    let hits = evidence
        .iter()
        .filter(|e| {
            e["data"]["request_id"]
                .as_str()
                .is_some_and(|r| flood_requests.contains(r))
        })
        .count();
    assert!(hits >= 50, "{hits}");
    assert!(evidence.iter().all(|e| e["data"]["source_uri"].is_string()));
    // Findings went to the lake once: scoring again adds none.
    let stored = query(&lake, "SELECT count(*) AS n FROM findings")[0]["n"]
        .as_u64()
        .unwrap();
    assert_eq!(stored as usize, findings.len());
    let o = run(bin()
        .args([
            "baseline", "score", "--lake", &lake, "--format", "ndjson", "--model",
        ])
        .arg(&model));
    assert!(text(&o.stderr).contains("0 new in"), "{}", text(&o.stderr));

    // The plot: every panel has its band, and the flood is marked.
    let svg_path = dir.path().join("plot/flood.svg");
    let o = run(bin()
        .args([
            "baseline",
            "plot",
            "--lake",
            &lake,
            "--function",
            function,
            "--out",
        ])
        .arg(&svg_path)
        .arg("--model")
        .arg(&summary_path));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<g class=\"panel\"").count(), 5);
    assert_eq!(svg.matches("class=\"band\"").count(), 5);
    assert!(svg.matches("class=\"flag\"").count() >= 5, "{svg}");
    // A function the model does not know is a usage error that lists some it does.
    let o = run(bin()
        .args([
            "baseline",
            "plot",
            "--lake",
            &lake,
            "--function",
            "nope",
            "--out",
        ])
        .arg(dir.path().join("x.svg"))
        .arg("--model")
        .arg(&model));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("\"nope\" is not in the model"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn clean_accounts_raise_almost_nothing() {
    for seed in ["5", "6"] {
        let dir = tempdir();
        let (lake, _) = simulated_lake(
            dir.path(),
            &[
                "--functions",
                "60",
                "--days",
                "28",
                "--events-per-day",
                "8000",
                "--seed",
                seed,
                "--attacks",
                "none",
            ],
        );
        let model = dir.path().join("model.bin");
        train(&lake, &model, &[]);
        let r = eval(&lake, &dir.path().join("data/labels.json"), &model);
        // 240 function-weeks: at most 1 false finding per 100.
        assert!(
            (r["function_weeks"].as_f64().unwrap() - 240.0).abs() < 1.0,
            "{r}"
        );
        assert!(
            r["false_findings_per_function_week"].as_f64().unwrap() <= 0.01,
            "seed {seed}: {r:#}"
        );
    }
}

#[test]
fn short_history_is_learning_and_model_files_are_checked() {
    let dir = tempdir();
    let (lake, _) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "8",
            "--days",
            "10",
            "--events-per-day",
            "3000",
            "--attacks",
            "invocation-flood",
        ],
    );
    let model = dir.path().join("m/model.bin");
    // The last three days only: every function is still learning.
    let s = train(&lake, &model, &["--since", "2026-11-08"]);
    assert_eq!(s["learning"], 8, "{s}");
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("m/model.summary.json")).unwrap())
            .unwrap();
    for (_, f) in m["functions"].as_object().unwrap() {
        assert_eq!(f["state"], "learning");
        assert!(
            f["learning"]
                .as_str()
                .unwrap()
                .contains("learning until 7 days"),
            "{f}"
        );
    }
    let o = run(bin()
        .args([
            "baseline",
            "score",
            "--lake",
            &lake,
            "--no-write",
            "--format",
            "json",
            "--model",
        ])
        .arg(&model));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let findings: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(findings.as_array().unwrap().len(), 0);
    assert!(
        text(&o.stderr).contains("8 functions still learning"),
        "{}",
        text(&o.stderr)
    );

    // A model of another format, an old JSON model, or not a model at all: a usage error
    // naming the file.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes["trailhound.baseline/".len()] = b'9';
    std::fs::write(&model, &bytes).unwrap();
    let o = run(bin()
        .args(["baseline", "score", "--lake", &lake, "--model"])
        .arg(&model));
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("model.bin")
            && e.contains("trailhound.baseline/9")
            && e.contains("train it again"),
        "{e}"
    );
    let old = dir.path().join("m/model.json");
    std::fs::write(
        &old,
        "{\"format\": \"trailhound.baseline/1\", \"functions\": {}}",
    )
    .unwrap();
    let o = run(bin()
        .args(["baseline", "score", "--lake", &lake, "--model"])
        .arg(&old));
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("model.json")
            && e.contains("earlier trailhound")
            && e.contains("train it again"),
        "{e}"
    );
    std::fs::write(&model, "not a model").unwrap();
    let o = run(bin()
        .args(["baseline", "score", "--lake", &lake, "--model"])
        .arg(&model));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("model.bin"), "{}", text(&o.stderr));
    let o = run(bin()
        .args(["baseline", "score", "--lake", &lake, "--model"])
        .arg(dir.path().join("missing.json")));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("missing.json"),
        "{}",
        text(&o.stderr)
    );
    // An empty lake has nothing to learn from.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(bin()
        .args(["baseline", "train", "--lake"])
        .arg(&empty)
        .arg("--model")
        .arg(dir.path().join("e.bin")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("nothing to learn from")
            || text(&o.stderr).contains("no Lambda invocations"),
        "{}",
        text(&o.stderr)
    );
}

/// Low-volume functions (3–10 logged invocations an hour, 08:00–18:00, sampled logs, no
/// failures): four errors in an hour after two weeks without one, and a few invocations at
/// 02:00, are found and explained; their ordinary hour-to-hour noise raises nothing.
#[test]
fn small_functions_small_anomalies() {
    let dir = tempdir();
    let (lake, labels) = simulated_lake(
        dir.path(),
        &[
            "--functions",
            "8",
            "--low-volume",
            "8",
            "--days",
            "28",
            "--events-per-day",
            "3000",
            "--seed",
            "21",
            "--attacks",
            "error-handful,quiet-hour-activity,error-handful,quiet-hour-activity",
        ],
    );
    let model = dir.path().join("model.bin");
    let s = train(&lake, &model, &[]);
    assert_eq!(s["ready"], 16, "{s}");
    let r = eval(&lake, &dir.path().join("data/labels.json"), &model);
    for kind in ["error-handful", "quiet-hour-activity"] {
        let k = r["by_kind"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind}: {r:#}"));
        assert_eq!(k["attacks"], 2, "{k}");
        assert_eq!(k["baseline_recall"], 1.0, "{k}\n{r:#}");
    }
    // Nothing else about the small functions: their noise over four weeks is no finding.
    let small_false: Vec<&Value> = r["false_finding_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subject"].as_str().unwrap().starts_with("ledger-check-"))
        .collect();
    assert!(small_false.is_empty(), "{small_false:#?}");
    assert!(
        r["false_findings_per_function_week"].as_f64().unwrap() <= 0.01,
        "{r:#}"
    );

    // The findings say what was seen, what was expected and how probable it was.
    let o = run(bin()
        .args([
            "baseline",
            "score",
            "--lake",
            &lake,
            "--format",
            "ndjson",
            "--no-write",
            "--model",
        ])
        .arg(&model));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let findings: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for a in labels["attacks"].as_array().unwrap() {
        let (detector, needle) = match a["kind"].as_str().unwrap() {
            "error-handful" => ("baseline-failures", "error_rate "),
            _ => ("baseline-off-hours", "at 02:00 UTC"),
        };
        let f = findings
            .iter()
            .find(|f| {
                f["resources"][0]["name"] == a["function"]
                    && f["finding_info"]["analytic"]["uid"] == detector
            })
            .unwrap_or_else(|| panic!("no {detector} finding for {a}: {findings:#?}"));
        let reasons = f["unmapped"]["reasons"].as_array().unwrap();
        let reason = reasons
            .iter()
            .filter_map(|r| r.as_str())
            .find(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{reasons:?}"));
        assert!(
            reason.contains("expected ") && reason.contains("probability of "),
            "{reason}"
        );
    }
}

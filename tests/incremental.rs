//! The streaming watch's incremental detection ([`detectors::incremental`]): shared views kept
//! up to date file by file equal the views over the whole lake, compaction does not count a
//! row twice, and every detector run over the recent events its window names (with the
//! merged views for the rest) finds what it finds over the whole lake.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use detectors::incremental::{History, MERGED};
use detectors::runner::Scope;
use pipeline::lake::Lake;

use crate::common::*;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    pipeline::lake::walk(dir, &mut |p| {
        if p.is_file() {
            out.push(p.to_path_buf());
        }
    })
    .unwrap();
    out.sort();
    out
}

/// Rows as sorted lines of text (order-free comparison).
fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let row: Vec<String> = cols
                .iter()
                .map(|c| {
                    let a = c
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>()
                        .unwrap();
                    if arrow::array::Array::is_null(a, i) {
                        "∅".to_string()
                    } else {
                        a.value(i).to_string()
                    }
                })
                .collect();
            out.push(row.join(" | "));
        }
    }
    out.sort();
    out
}

/// Finding uids of each detector, run over `ctx` with `scope`.
async fn uids(
    ctx: &datafusion::prelude::SessionContext,
    registry: &detectors::registry::Registry,
    ids: &[&detectors::registry::Detector],
    scope: Scope,
) -> BTreeSet<(String, String)> {
    let sqls: Vec<&str> = ids.iter().map(|d| d.sql.as_str()).collect();
    detectors::views::materialize(ctx, &registry.views, &sqls)
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for d in ids {
        let o = detectors::runner::run(ctx, d, scope, 0)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", d.meta.id));
        for f in o.findings {
            out.insert((d.meta.id.clone(), f.uid));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_views_equal_the_whole_lake_and_windows_suffice() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let o = run(bin().args(["simulate", "--out"]).arg(&data).args([
        "--functions",
        "8",
        "--days",
        "10",
        "--events-per-day",
        "4000",
        "--seed",
        "5",
    ]));
    assert!(o.status.success(), "simulate: {}", text(&o.stderr));
    let lake_dir = dir.path().join("lake");
    let lake_uri = lake_dir.display().to_string();
    let trail = files_under(&data.join("AWSLogs"));
    let logs = files_under(&data.join("lambda-logs"));
    assert!(
        trail.len() > 20 && logs.len() > 4,
        "{} {}",
        trail.len(),
        logs.len()
    );

    let lake = Lake::open(&lake_uri, None).unwrap();
    let registry = detectors::registry::Registry::load(None).unwrap();
    let runtime = detectors::session::shared_runtime().unwrap();
    let mut history = History::new(&registry.views);
    let first = history.update(&lake, None, &runtime).await.unwrap();
    assert_eq!(first.new_files, 0);
    assert_eq!(first.fresh_from, None);

    // Five rounds of new files, as the watch sees them; a compaction after the third.
    let rounds = 5;
    for r in 0..rounds {
        let part = |all: &[PathBuf]| -> Vec<PathBuf> {
            let n = all.len().div_ceil(rounds);
            all.iter().skip(r * n).take(n).cloned().collect()
        };
        ingest(&part(&trail), &lake_uri);
        ingest_lambda(&part(&logs), &lake_uri);
        let up = history.update(&lake, None, &runtime).await.unwrap();
        assert!(up.new_files >= 2, "round {r}: {up:?}");
        assert!(
            up.new_rows > 0 && up.fresh_from.is_some(),
            "round {r}: {up:?}"
        );
        if r == 2 {
            use pipeline::lake::compact::CompactOptions;
            let opts = CompactOptions {
                min_files: 2,
                ..CompactOptions::default()
            };
            let counted = |rel: &str| history.is_counted(rel);
            let c = pipeline::cloudtrail::ingest::compact(&lake, &opts, &counted)
                .await
                .unwrap();
            assert!(c.files_merged >= 2, "{c:?}");
            // (Lambda's hourly files fall into a day's partition in one round: nothing to
            // merge there; the rule is the same.)
            // The merged files hold rows already counted.
            let up = history.update(&lake, None, &runtime).await.unwrap();
            assert_eq!(up.new_files, 0, "{up:?}");
        }
    }
    let again = history.update(&lake, None, &runtime).await.unwrap();
    assert_eq!(again.new_files, 0);

    // The merged views hold what the views give over the whole lake.
    let whole = detectors::session::open(&lake, None).await.unwrap();
    for m in MERGED {
        let expected = whole.table(m.view).await.unwrap().collect().await.unwrap();
        let expected = lines(&expected);
        assert!(!expected.is_empty(), "{} is empty", m.view);
        assert_eq!(
            lines(history.rows(m.view).unwrap()),
            expected,
            "view {}",
            m.view
        );
    }

    // Findings from a point on: every detector over the whole lake, and over the raw tables
    // from its window before that point with the merged views (the watch's way). Points at
    // midnight and in the middle of the day's activity.
    let all: Vec<&detectors::registry::Detector> = registry.detectors.iter().collect();
    let mut firing: BTreeSet<String> = BTreeSet::new();
    for point in [
        "2026-11-05T00:00:00Z",
        "2026-11-06T13:07:00Z",
        "2026-11-08T09:41:30Z",
    ] {
        let since = chrono::DateTime::parse_from_rfc3339(point)
            .unwrap()
            .timestamp_micros();
        let scope = Scope {
            since: Some(since),
            until: None,
        };
        let expected = uids(&whole, &registry, &all, scope).await;
        firing.extend(expected.iter().map(|(d, _)| d.clone()));
        let mut got = BTreeSet::new();
        for d in &all {
            let ctx = history
                .session_by_table(&lake, None, &runtime, &|table| {
                    Some(since - d.window_of(table))
                })
                .await
                .unwrap();
            got.extend(uids(&ctx, &registry, &[*d], scope).await);
        }
        assert_eq!(got, expected, "findings from {point}");
    }
    assert!(
        firing.len() >= 10,
        "too few detectors fire to compare: {firing:?}"
    );
}

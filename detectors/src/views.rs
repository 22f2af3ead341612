//! The views of `sql/views/`, embedded in the binary and created in every session: one file
//! per view, named after the file, holding the view's SELECT. `--sql-dir DIR` adds or replaces
//! views with `DIR/views/*.sql`.

use std::path::Path;

use datafusion::prelude::SessionContext;
use futures::StreamExt;
use include_dir::{Dir, include_dir};

use crate::{Error, Result};

static VIEWS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../sql/views");

/// A view: its name and its SELECT.
pub type View = (String, String);

/// Every embedded view, sorted by name.
pub fn embedded() -> Vec<View> {
    let mut out: Vec<View> = VIEWS
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .filter_map(|f| {
            Some((
                f.path().file_stem()?.to_str()?.to_string(),
                f.contents_utf8()?.to_string(),
            ))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The embedded views, with those of `dir/views/*.sql` added or replacing (same name).
pub fn load(dir: Option<&Path>) -> Result<Vec<View>> {
    let mut all: std::collections::BTreeMap<String, String> = embedded().into_iter().collect();
    if let Some(dir) = dir.map(|d| d.join("views")).filter(|d| d.is_dir()) {
        let err = |path: &Path, e: std::io::Error| Error::Detector {
            path: path.display().to_string(),
            message: format!("reading: {e}"),
        };
        for entry in std::fs::read_dir(&dir).map_err(|e| err(&dir, e))? {
            let path = entry.map_err(|e| err(&dir, e))?.path();
            if path.extension().is_some_and(|e| e == "sql")
                && let Some(name) = path.file_stem().and_then(|n| n.to_str())
            {
                let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e))?;
                all.insert(name.to_string(), text);
            }
        }
    }
    Ok(all.into_iter().collect())
}

/// Create every view in `ctx` (after the lake tables and UDFs). A view may read another:
/// views are created in rounds until all exist, and a view that never can is an error.
pub async fn register(ctx: &SessionContext, views: &[View]) -> Result<()> {
    register_except(ctx, views, &[]).await
}

/// [`register`], leaving out the views named in `skip`.
pub(crate) async fn register_except(
    ctx: &SessionContext,
    views: &[View],
    skip: &[&str],
) -> Result<()> {
    let mut pending: Vec<(&str, &str)> = views
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .filter(|(name, _)| !skip.contains(name))
        .collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_error = None;
        for (name, select) in pending.iter().copied() {
            let sql = format!("CREATE OR REPLACE VIEW {name} AS {select}");
            if let Err(source) = ctx.sql(&sql).await {
                failed.push((name, select));
                last_error = Some((name, source));
            }
        }
        if failed.len() == pending.len()
            && let Some((name, source)) = last_error
        {
            return Err(Error::Query {
                context: format!("creating view {name} (sql/views/{name}.sql)"),
                source,
            });
        }
        pending = failed;
    }
    Ok(())
}

/// Views that several detectors read and that are small (one row per role, function, address
/// or API, not per event): computed once per run, in this order (a later one may read an
/// earlier one).
pub const MATERIALIZED: &[&str] = &[
    "lambda_session_hours",
    "lambda_runtime_calls",
    "lambda_roles",
    "credential_grants",
    "credential_lineage",
    "lambda_functions",
    "api_daily",
    "api_first_use",
    "lambda_hourly",
    "lambda_durations",
    "lambda_log_coverage",
    "daily_calls",
    "lambda_idle_hours",
    "multi_network_keys",
];

/// The identifiers of a SQL text: what it may name as a table or view.
fn identifiers(sql: &str) -> std::collections::HashSet<String> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The views `sqls` read, directly or through other views.
pub fn used_by<'a>(views: &'a [View], sqls: &[&str]) -> std::collections::HashSet<&'a str> {
    used_through(views, sqls, &[])
}

/// [`used_by`], not following the views named in `tables` further: they are tables of rows
/// already, and what they were computed from is not read again.
fn used_through<'a>(
    views: &'a [View],
    sqls: &[&str],
    tables: &[&str],
) -> std::collections::HashSet<&'a str> {
    let mut used = std::collections::HashSet::new();
    let mut pending: Vec<std::collections::HashSet<String>> =
        sqls.iter().map(|s| identifiers(s)).collect();
    while let Some(words) = pending.pop() {
        for (name, select) in views {
            if words.contains(&name.to_ascii_lowercase())
                && used.insert(name.as_str())
                && !tables.contains(&name.as_str())
            {
                pending.push(identifiers(select));
            }
        }
    }
    used
}

/// Replace the [`MATERIALIZED`] views that `sqls` read by tables of their rows, and recreate
/// the views that read them (a view keeps the plan of what it read when it was created).
/// The rows are kept in memory, or on a cluster session in files of its
/// [`Scratch`](crate::cluster::Scratch) directory, which [`release`] deletes. Returns each
/// computed view with its rows and seconds.
pub async fn materialize(
    ctx: &SessionContext,
    views: &[View],
    sqls: &[&str],
) -> Result<Vec<(String, usize, f64)>> {
    let err = |name: &str| {
        let name = name.to_string();
        move |source| Error::Query {
            context: format!("computing view {name}"),
            source,
        }
    };
    let mut done: Vec<&str> = Vec::new();
    let mut computed = Vec::new();
    // Views that are already tables of rows (the watch installs the views it keeps up to
    // date) stay as they are: never recomputed, nor registered again as views below.
    for (name, _) in views {
        if let Ok(provider) = ctx.table_provider(name.as_str()).await
            && provider.table_type() != datafusion::datasource::TableType::View
        {
            done.push(name.as_str());
        }
    }
    let used = used_through(views, sqls, &done);
    let mut pending: Vec<&str> = MATERIALIZED
        .iter()
        .copied()
        .filter(|n| used.contains(n) && !done.contains(n))
        .collect();
    // Each pending view's materialized inputs, found once.
    let inputs: std::collections::HashMap<&str, std::collections::HashSet<&str>> = pending
        .iter()
        .map(|name| {
            let select = views
                .iter()
                .find(|(n, _)| n == *name)
                .map_or("", |(_, s)| s.as_str());
            (*name, used_through(views, &[select], MATERIALIZED))
        })
        .collect();
    // In rounds: the views whose inputs are all computed run together, as many at once as
    // detectors do (each is a scan and an aggregation with serial stretches; two at once keep
    // both cores busy), then the views that read them are created again over their rows.
    while !pending.is_empty() {
        let (mut ready, later): (Vec<&str>, Vec<&str>) = pending.iter().partition(|name| {
            let inputs = &inputs[*name];
            !pending.iter().any(|p| p != *name && inputs.contains(p))
        });
        if ready.is_empty() {
            // Views reading each other in a circle: one at a time, in the list's order.
            ready = pending[..1].to_vec();
        }
        type Table = std::sync::Arc<dyn datafusion::catalog::TableProvider>;
        let scratch = crate::cluster::Scratch::of(ctx);
        let scratch = &scratch;
        let results: Vec<Result<(&str, Table, usize, f64)>> =
            futures::stream::iter(ready.iter().copied())
                .map(|name| async move {
                    let started = std::time::Instant::now();
                    let df = ctx.table(name).await.map_err(err(name))?;
                    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
                    let plan = df.logical_plan().clone();
                    let batches = df
                        .collect()
                        .await
                        .map_err(|e| crate::cluster::with_function_hint(&plan, e))
                        .map_err(err(name))?;
                    let rows = batches.iter().map(|b| b.num_rows()).sum();
                    // On a cluster, in files its executors read; here, in memory.
                    let table: Table = match scratch {
                        Some(scratch) => scratch
                            .write(ctx, name, schema, &batches)
                            .await
                            .map_err(err(name))?,
                        None => std::sync::Arc::new(
                            datafusion::datasource::MemTable::try_new(schema, vec![batches])
                                .map_err(err(name))?,
                        ),
                    };
                    Ok((name, table, rows, started.elapsed().as_secs_f64()))
                })
                // Unordered: a view that ends early frees its place for the next at once,
                // not when the views before it in the list end.
                .buffer_unordered(crate::run::AT_ONCE)
                .collect()
                .await;
        for result in results {
            let (name, table, rows, seconds) = result?;
            ctx.deregister_table(name).map_err(err(name))?;
            ctx.register_table(name, table).map_err(err(name))?;
            done.push(name);
            computed.push((name.to_string(), rows, seconds));
        }
        register_except(ctx, views, &done).await?;
        pending = later.into_iter().filter(|n| !done.contains(n)).collect();
    }
    Ok(computed)
}

/// After the queries that read them: on a cluster session, delete the files of the views
/// [`materialize`] computed (and older runs' left behind) and make the views views again.
/// Nothing to do elsewhere.
pub async fn release(ctx: &SessionContext, views: &[View]) -> Result<()> {
    let Some(scratch) = crate::cluster::Scratch::of(ctx) else {
        return Ok(());
    };
    for name in MATERIALIZED {
        if let Ok(provider) = ctx.table_provider(*name).await
            && provider.table_type() != datafusion::datasource::TableType::View
        {
            let _ = ctx.deregister_table(*name);
        }
    }
    let cleaned = scratch.clean(ctx).await.map_err(|source| Error::Query {
        context: format!("deleting the shared views' files at {}", scratch.url),
        source,
    });
    register(ctx, views).await?;
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_by_follows_views_through_views() {
        let views: Vec<View> = vec![
            ("a".into(), "SELECT * FROM cloudtrail".into()),
            ("b".into(), "SELECT * FROM a".into()),
            ("c".into(), "SELECT * FROM lambda_invocations".into()),
        ];
        let used = used_by(&views, &["SELECT x FROM B JOIN cloudtrail_b ON true"]);
        assert_eq!(used, ["a", "b"].into_iter().collect());
        assert!(used_by(&views, &["SELECT 1 FROM cloudtrail"]).is_empty());
        // A view that is a table of rows already: what it was computed from is not read.
        let used = used_through(&views, &["SELECT x FROM b"], &["b"]);
        assert_eq!(used, ["b"].into_iter().collect());
    }
}

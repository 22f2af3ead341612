//! The views of `sql/views/`, embedded in the binary and created in every session: one file
//! per view, named after the file, holding the view's SELECT.

use datafusion::prelude::SessionContext;
use include_dir::{Dir, include_dir};

use crate::{Error, Result};

static VIEWS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../sql/views");

/// (name, SELECT) of every embedded view, sorted by name.
pub fn embedded() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = VIEWS
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .filter_map(|f| Some((f.path().file_stem()?.to_str()?, f.contents_utf8()?)))
        .collect();
    out.sort_unstable();
    out
}

/// Create every view in `ctx` (after the lake tables and UDFs). A view may read another:
/// views are created in rounds until all exist, and a view that never can is an error.
pub async fn register(ctx: &SessionContext) -> Result<()> {
    register_except(ctx, &[]).await
}

/// [`register`], leaving out the views named in `skip`.
async fn register_except(ctx: &SessionContext, skip: &[&str]) -> Result<()> {
    let mut pending: Vec<(&str, &str)> = embedded()
        .into_iter()
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

/// Views that many detectors read and that are small: computed once per detector run.
pub const MATERIALIZED: &[&str] = &["lambda_runtime_calls", "lambda_roles", "lambda_functions"];

/// Replace the [`MATERIALIZED`] views by in-memory tables of their rows, and recreate the views
/// that read them (a view keeps the plan of what it read when it was created).
pub async fn materialize(ctx: &SessionContext) -> Result<()> {
    let err = |name: &str| {
        let name = name.to_string();
        move |source| Error::Query {
            context: format!("computing view {name}"),
            source,
        }
    };
    for (i, name) in MATERIALIZED.iter().enumerate() {
        let df = ctx.table(*name).await.map_err(err(name))?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(err(name))?;
        let table =
            datafusion::datasource::MemTable::try_new(schema, vec![batches]).map_err(err(name))?;
        ctx.deregister_table(*name).map_err(err(name))?;
        ctx.register_table(*name, std::sync::Arc::new(table))
            .map_err(err(name))?;
        register_except(ctx, &MATERIALIZED[..=i]).await?;
    }
    Ok(())
}

//! The model on disk: a compact binary file (a first line naming the format, then the model
//! in postcard, floats of the per-hour tables as f32) and, beside it, a JSON summary that a
//! person or a script reads: each function's state, role, rhythm and usual failure share.
//!
//! `--model FILE` names the binary file; the summary is `FILE` with the extension
//! `.summary.json` (`model.bin` → `model.summary.json`). Reading accepts either: a summary
//! leads to the model it names. A JSON model of an earlier trailhound (`trailhound.baseline/1`)
//! or a binary of another format is refused with a message that says to train again.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::features::{FEATURES, Feature};
use super::model::{self, FORMAT, Model, State};
use crate::{Error, Result};

/// The summary's format.
pub const SUMMARY_FORMAT: &str = "trailhound.baseline-summary/2";

/// Where the summary of the model at `path` goes.
pub fn summary_path(path: &Path) -> PathBuf {
    path.with_extension("summary.json")
}

fn error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Model {
        path: path.display().to_string(),
        message,
    }
}

impl Model {
    /// Read and check a model file (or the summary beside it).
    pub fn read(path: &Path) -> Result<Model> {
        let err = error(path);
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        if bytes.first() == Some(&b'{') {
            return Self::read_json(path, &bytes);
        }
        let header = bytes
            .iter()
            .take(64)
            .position(|b| *b == b'\n')
            .and_then(|nl| std::str::from_utf8(&bytes[..nl]).ok().map(|h| (nl, h)));
        let (nl, header) = match header {
            Some((nl, h)) if h == FORMAT => (nl, h),
            Some((_, h)) if h.starts_with("trailhound.baseline/") => {
                return Err(err(format!(
                    "format {h:?}; this trailhound reads {FORMAT:?}: train it again"
                )));
            }
            _ => return Err(err("not a trailhound baseline model".into())),
        };
        let m: Model = postcard::from_bytes(&bytes[nl + 1..])
            .map_err(|e| err(format!("a damaged {header} model ({e}): train it again")))?;
        m.check(path)?;
        Ok(m)
    }

    /// A JSON file given as the model: a summary (read the model it names) or an old model.
    fn read_json(path: &Path, bytes: &[u8]) -> Result<Model> {
        let err = error(path);
        let head: Value =
            serde_json::from_slice(bytes).map_err(|e| err(format!("not JSON: {e}")))?;
        match head.get("format").and_then(Value::as_str) {
            Some(SUMMARY_FORMAT) => {
                let Some(file) = head.get("model_file").and_then(Value::as_str) else {
                    return Err(err("a model summary that names no model_file".into()));
                };
                Model::read(&path.with_file_name(file))
            }
            Some(other) => Err(err(format!(
                "format {other:?} (a JSON model of an earlier trailhound); this trailhound \
                 reads {FORMAT:?} binary models: train it again"
            ))),
            None => Err(err("no \"format\": not a trailhound baseline model".into())),
        }
    }

    fn check(&self, path: &Path) -> Result<()> {
        let err = error(path);
        if self.format != FORMAT {
            return Err(err(format!(
                "format {:?}; this trailhound reads {FORMAT:?}: train it again",
                self.format
            )));
        }
        let names: Vec<&str> = FEATURES.iter().map(|f| f.name()).collect();
        if self.features != names {
            return Err(err(format!(
                "features {:?}; this trailhound computes {names:?}: train it again",
                self.features
            )));
        }
        for (name, f) in &self.functions {
            let Some(w) = &f.normal else { continue };
            let ok = w.features.len() == FEATURES.len()
                && w.cell_samples.len() == model::CELLS
                && w.cell_active_days.len() == model::CELLS
                && w.features.iter().zip(FEATURES).all(|(n, f)| {
                    n.feature == f.name()
                        && !n.center.is_empty()
                        && n.scale > 0.0
                        && match f.kind() {
                            super::features::Kind::Count => n.rate.len() == model::CELLS,
                            super::features::Kind::Rate => n.rate.len() == 2,
                            super::features::Kind::Level => true,
                        }
                });
            if !ok {
                return Err(err(format!(
                    "function {name:?}: feature normals do not match the feature list"
                )));
            }
        }
        Ok(())
    }

    /// Write the model to `path` and its summary beside it ([`summary_path`]).
    pub fn write(&self, path: &Path) -> Result<()> {
        let err = error(path);
        let mut bytes = format!("{FORMAT}\n").into_bytes();
        bytes.extend(postcard::to_stdvec(self).map_err(|e| err(e.to_string()))?);
        write_atomically(path, &bytes)?;
        let summary =
            serde_json::to_string_pretty(&self.summary(path)).map_err(|e| err(e.to_string()))?;
        write_atomically(&summary_path(path), summary.as_bytes())
    }

    /// What a person reads of the model: per function its state, role, history, rhythm
    /// (invocations an hour, the hours of day it runs in) and usual failure share.
    pub fn summary(&self, path: &Path) -> Value {
        let functions: serde_json::Map<String, Value> = self
            .functions
            .iter()
            .map(|(name, f)| {
                let mut v = json!({
                    "state": f.state,
                    "role": f.role,
                    "first_seen": f.first_seen,
                    "history_days": f.history_days,
                    "active_hours": f.active_hours,
                });
                if let Some(why) = &f.learning {
                    v["learning"] = why.clone().into();
                }
                if let (State::Ready, Some(w)) = (f.state, &f.normal) {
                    let inv = &w.features[Feature::Invocations.index()];
                    let round = |x: f64| (x * 1000.0).round() / 1000.0;
                    let hours: Vec<usize> = (0..24)
                        .filter(|h| w.cell_active_days[*h] + w.cell_active_days[h + 24] > 1)
                        .collect();
                    v["invocations_per_hour"] = json!({
                        "mean": round(w.mean_rate),
                        "weekday_by_hour": inv.rate[..24].iter().map(|r| round(f64::from(*r))).collect::<Vec<_>>(),
                        "weekend_by_hour": inv.rate[24..].iter().map(|r| round(f64::from(*r))).collect::<Vec<_>>(),
                        "overdispersion": round(f64::from(inv.dispersion)),
                    });
                    v["runs_at_hours_utc"] = json!(hours);
                    v["days"] = json!({"weekdays": w.days[0], "weekend_days": w.days[1],
                        "weekdays_active": w.active_days[0], "weekend_days_active": w.active_days[1]});
                    for f in [Feature::ErrorRate, Feature::TimeoutRate] {
                        let n = &w.features[f.index()];
                        let (a, b) = (f64::from(n.rate[0]), f64::from(n.rate[1]));
                        v[format!("usual_{}", f.name())] = json!(a / (a + b));
                    }
                    v["mixture"] = json!(w.mixture.is_some());
                }
                (name.clone(), v)
            })
            .collect();
        json!({
            "format": SUMMARY_FORMAT,
            "model_file": path.file_name().map(|n| n.to_string_lossy().to_string()),
            "model_format": self.format,
            "trained_at": self.trained_at,
            "since": self.since,
            "until": self.until,
            "params": self.params,
            "features": self.features,
            "functions": functions,
        })
    }
}

/// Write beside and rename: a crash never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = error(path);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{FunctionModel, Params};

    #[test]
    fn model_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let model = Model {
            format: FORMAT.into(),
            trained_at: "2026-11-29T00:00:00.000Z".into(),
            since: "2026-11-01T00:00:00.000Z".into(),
            until: "2026-11-22T00:00:00.000Z".into(),
            params: Params::default(),
            features: FEATURES.iter().map(|f| f.name().to_string()).collect(),
            functions: [(
                "f".to_string(),
                FunctionModel {
                    role: None,
                    state: State::Learning,
                    learning: Some("seen for 3.0 days".into()),
                    first_seen: "2026-11-19T00:00:00.000Z".into(),
                    history_days: 3.0,
                    active_hours: 30,
                    normal: None,
                },
            )]
            .into_iter()
            .collect(),
        };
        let p = dir.path().join("m.bin");
        model.write(&p).unwrap();
        assert_eq!(Model::read(&p).unwrap(), model);
        // The summary leads to the model.
        let s = summary_path(&p);
        assert!(s.ends_with("m.summary.json"));
        assert_eq!(Model::read(&s).unwrap(), model);
        let summary: Value = serde_json::from_slice(&std::fs::read(&s).unwrap()).unwrap();
        assert_eq!(summary["functions"]["f"]["state"], "learning");
        // Another format, an old JSON model, not a model at all.
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[FORMAT.len() - 1] = b'9';
        std::fs::write(&p, &bytes).unwrap();
        let e = Model::read(&p).unwrap_err().to_string();
        assert!(e.contains("m.bin") && e.contains("train it again"), "{e}");
        std::fs::write(
            &p,
            "{\"format\": \"trailhound.baseline/1\", \"functions\": {}}",
        )
        .unwrap();
        let e = Model::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("earlier trailhound") && e.contains("train it again"),
            "{e}"
        );
        std::fs::write(&p, "{\"records\": []}").unwrap();
        let e = Model::read(&p).unwrap_err().to_string();
        assert!(e.contains("not a trailhound baseline model"), "{e}");
        std::fs::write(&p, b"PK\x03\x04 a zip").unwrap();
        let e = Model::read(&p).unwrap_err().to_string();
        assert!(e.contains("not a trailhound baseline model"), "{e}");
    }
}

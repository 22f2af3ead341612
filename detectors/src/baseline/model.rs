//! The model: per function and bucket width, a robust seasonal normal for each feature and a
//! Gaussian mixture (linfa) over the standardised deviations. See the module docs of
//! [`super`] for why.

use std::collections::BTreeMap;

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::GaussianMixtureModel;
use linfa_linalg::cholesky::Cholesky;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::features::{FEATURES, Feature, Granularity, Kind, Row};

/// The model file's format; a file of another format is refused with a clear error.
pub const FORMAT: &str = "trailhound.baseline/1";

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// Seasonal cells: hour of day × (weekday, weekend).
pub const CELLS: usize = 48;

/// How a bucket is judged unusual. [`Method::Combined`] is the default, chosen by measurement
/// (see the module docs); the others are kept to re-measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Some feature far above its seasonal normal (robust score ≥ `z_alert`) by a meaningful
    /// amount.
    Features,
    /// The mixture's negative log-likelihood above the function's threshold.
    Mixture,
    /// Both: a feature far above normal, in a bucket the mixture also finds unusual.
    #[default]
    Combined,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "features" => Some(Method::Features),
            "mixture" => Some(Method::Mixture),
            "combined" => Some(Method::Combined),
            _ => None,
        }
    }
}

/// The knobs, kept in the model file so a score uses what the training used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Functions seen for less than this many days are `learning`: no findings.
    pub min_history_days: f64,
    /// … or active (invoked) in fewer hours than this.
    pub min_active_hours: usize,
    /// A feature this many robust standard deviations above its normal can raise a finding.
    pub z_alert: f64,
    /// Features this far above normal are listed in a finding.
    pub z_report: f64,
    /// Training buckets with a feature this far from normal are left out of the mixture (the
    /// attacks hidden in the history).
    pub z_trim: f64,
    /// Gaussian components per function and bucket width.
    pub components: usize,
    /// At most this many buckets per function and width train the mixture (evenly spaced).
    pub max_training_buckets: usize,
    /// The mixture's threshold: this quantile of the training buckets' negative
    /// log-likelihood, plus `nll_margin` nats.
    pub nll_quantile: f64,
    pub nll_margin: f64,
    /// Flagged buckets of a function less than this apart make one finding (minutes).
    pub merge_gap_minutes: i64,
    pub method: Method,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            min_history_days: 7.0,
            min_active_hours: 24,
            z_alert: 6.0,
            z_report: 4.0,
            z_trim: 5.0,
            components: 2,
            max_training_buckets: 2000,
            nll_quantile: 0.999,
            nll_margin: 6.0,
            merge_gap_minutes: 60,
            method: Method::Combined,
        }
    }
}

/// A function's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Enough history: scored.
    Ready,
    /// Too little history: not scored, no findings.
    Learning,
}

/// One feature's normal for one function and bucket width.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureNormal {
    pub feature: String,
    /// Counts: the median of 2·√(x+3/8) per seasonal cell (hour of day, then the weekend's 24
    /// hours). Levels: one value, the median of ln x. Rates: one value, the usual share.
    pub center: Vec<f64>,
    /// The robust standard deviation (1.4826 × MAD) of the deviations, floored.
    pub scale: f64,
}

/// A Gaussian mixture, as linfa fitted it, with each component's normalising constant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    /// Precision matrices, row-major d×d.
    pub precisions: Vec<Vec<f64>>,
    /// ½·ln det(precision) − (d/2)·ln 2π per component.
    pub log_norms: Vec<f64>,
}

impl Mixture {
    /// Negative log-likelihood of a standardised deviation vector.
    pub fn nll(&self, z: &[f64]) -> f64 {
        let d = z.len();
        let mut terms = Vec::with_capacity(self.weights.len());
        for k in 0..self.weights.len() {
            let (m, p) = (&self.means[k], &self.precisions[k]);
            let mut q = 0.0;
            for i in 0..d {
                let di = z[i] - m[i];
                let mut row = 0.0;
                for j in 0..d {
                    row += p[i * d + j] * (z[j] - m[j]);
                }
                q += di * row;
            }
            terms.push(self.weights[k].max(1e-300).ln() + self.log_norms[k] - 0.5 * q);
        }
        let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        -(top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln())
    }
}

/// A function's model at one bucket width.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WidthModel {
    pub features: Vec<FeatureNormal>,
    /// `None` when the mixture could not be fitted (too few distinct buckets); then only the
    /// feature scores decide.
    pub mixture: Option<Mixture>,
    pub nll_threshold: f64,
    /// Buckets the normal was learnt from, and how many of them were left out of the mixture.
    pub buckets: usize,
    pub trimmed: usize,
    /// The median invocations of the buckets with any.
    #[serde(default)]
    pub typical_invocations: f64,
}

/// One function's model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionModel {
    /// Its execution role (the ARN its sessions act as).
    pub role: Option<String>,
    pub state: State,
    /// Why it is still learning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<String>,
    pub first_seen: String,
    pub history_days: f64,
    pub active_hours: usize,
    /// Per bucket width (`5m`, `1h`); empty while learning.
    pub widths: BTreeMap<Granularity, WidthModel>,
}

/// The model file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub format: String,
    pub trained_at: String,
    /// The training window (RFC 3339).
    pub since: String,
    pub until: String,
    pub params: Params,
    /// The feature order of every vector in the file.
    pub features: Vec<String>,
    pub functions: BTreeMap<String, FunctionModel>,
}

/// The seasonal cell of a bucket: its hour of day (UTC), plus 24 at weekends.
pub fn cell(bucket: i64) -> usize {
    let hod = bucket.div_euclid(HOUR).rem_euclid(24) as usize;
    // 1970-01-01 was a Thursday: days 2 and 3 of each week are Saturday and Sunday.
    let weekend = matches!(bucket.div_euclid(DAY).rem_euclid(7), 2 | 3);
    hod + if weekend { 24 } else { 0 }
}

/// The variance-stabilising transform of a count (Anscombe): about unit variance for Poisson
/// counts of any mean.
pub fn anscombe(x: f64) -> f64 {
    2.0 * (x.max(0.0) + 0.375).sqrt()
}

/// The count whose transform is `y`.
pub fn inverse_anscombe(y: f64) -> f64 {
    ((y / 2.0).powi(2) - 0.375).max(0.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// 1.4826 × the median absolute deviation from zero of `residuals`.
fn robust_sd(residuals: &[f64]) -> f64 {
    let mut a: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    1.4826 * median(&mut a)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

impl FeatureNormal {
    /// The standardised deviation of a bucket's value: positive means above normal.
    pub fn z(&self, f: Feature, row: &Row) -> f64 {
        match f.kind() {
            Kind::Count => {
                let y = anscombe(row.raw(f).unwrap_or(0.0));
                (y - self.center[cell(row.bucket) % self.center.len()]) / self.scale
            }
            Kind::Level => match row.raw(f) {
                Some(x) if x > 0.0 => (x.ln() - self.center[0]) / self.scale,
                _ => 0.0,
            },
            Kind::Rate => {
                // The failures against the usual share of this many invocations, on the same
                // variance-stabilised scale as counts.
                let expected = row.invocations * self.center[0];
                (anscombe(row.raw(f).unwrap_or(0.0)) - anscombe(expected)) / self.scale
            }
        }
    }

    /// The normal value at this bucket (counts and levels) or the usual share (rates).
    pub fn expected(&self, f: Feature, bucket: i64) -> f64 {
        match f.kind() {
            Kind::Count => inverse_anscombe(self.center[cell(bucket) % self.center.len()]),
            Kind::Level => self.center[0].exp(),
            Kind::Rate => self.center[0],
        }
    }

    /// The usual range at this bucket: two robust standard deviations either side.
    pub fn range(&self, f: Feature, bucket: i64, invocations: f64) -> (f64, f64) {
        match f.kind() {
            Kind::Count => {
                let c = self.center[cell(bucket) % self.center.len()];
                (
                    inverse_anscombe(c - 2.0 * self.scale),
                    inverse_anscombe(c + 2.0 * self.scale),
                )
            }
            Kind::Level => (
                (self.center[0] - 2.0 * self.scale).exp(),
                (self.center[0] + 2.0 * self.scale).exp(),
            ),
            Kind::Rate => {
                if invocations <= 0.0 {
                    return (0.0, self.center[0]);
                }
                let hi =
                    inverse_anscombe(anscombe(invocations * self.center[0]) + 2.0 * self.scale);
                (0.0, (hi / invocations).min(1.0))
            }
        }
    }

    /// Whether the deviation is big enough to matter to a person (see [`Feature::min_effect`]).
    pub fn meaningful(&self, f: Feature, row: &Row, typical_invocations: f64) -> bool {
        let Some(x) = row.raw(f) else {
            return false;
        };
        let min = f.min_effect();
        match f.kind() {
            Kind::Count => {
                let e = self.expected(f, row.bucket);
                x >= e + min && x >= 2.0 * e
            }
            Kind::Level => {
                // A percentile of fewer invocations than usual scatters more than the normal
                // learnt from usual buckets: one slow invocation in a quiet hour is no shift.
                row.invocations >= typical_invocations.clamp(1.0, Feature::MIN_LEVEL_INVOCATIONS)
                    && x >= min * self.expected(f, row.bucket)
            }
            Kind::Rate => {
                x >= min && row.invocations > 0.0 && x / row.invocations >= self.center[0] + 0.2
            }
        }
    }
}

impl WidthModel {
    /// Every feature's standardised deviation for a bucket.
    pub fn z(&self, row: &Row) -> Vec<f64> {
        FEATURES
            .iter()
            .zip(&self.features)
            .map(|(f, n)| n.z(*f, row))
            .collect()
    }
}

/// Learn one function's normal at one width from its buckets in `[start, end)` (µs); `rows`
/// are its active buckets (sorted by bucket), quiet ones are filled in.
pub fn train_width(
    rows: &[&Row],
    granularity: Granularity,
    start: i64,
    end: i64,
    params: &Params,
) -> WidthModel {
    let step = granularity.micros();
    let start = start - start.rem_euclid(step);
    let n = ((end - start + step - 1) / step).max(1) as usize;
    // The dense series: every bucket, quiet ones as zeros.
    let mut dense: Vec<Row> = Vec::with_capacity(n);
    let mut it = rows.iter().peekable();
    for i in 0..n {
        let b = start + i as i64 * step;
        while it.peek().is_some_and(|r| r.bucket < b) {
            it.next();
        }
        match it.peek() {
            Some(r) if r.bucket == b => dense.push((**r).clone()),
            _ => dense.push(Row::quiet("", b)),
        }
    }
    let mut normals = Vec::with_capacity(FEATURES.len());
    for f in FEATURES {
        normals.push(match f.kind() {
            Kind::Count => count_normal(f, &dense),
            Kind::Level => level_normal(f, &dense),
            Kind::Rate => rate_normal(f, &dense),
        });
    }
    let mut model = WidthModel {
        features: normals,
        mixture: None,
        nll_threshold: f64::INFINITY,
        buckets: dense.len(),
        trimmed: 0,
        typical_invocations: median(
            &mut dense
                .iter()
                .map(|r| r.invocations)
                .filter(|n| *n > 0.0)
                .collect::<Vec<_>>(),
        ),
    };
    // The mixture learns from the buckets no feature calls unusual: attacks in the history
    // do not widen the normal region.
    let zs: Vec<Vec<f64>> = dense.iter().map(|r| model.z(r)).collect();
    let kept: Vec<&Vec<f64>> = zs
        .iter()
        .filter(|z| z.iter().all(|v| v.abs() <= params.z_trim))
        .collect();
    model.trimmed = zs.len() - kept.len();
    let stride = kept
        .len()
        .div_ceil(params.max_training_buckets.max(1))
        .max(1);
    let sample: Vec<&Vec<f64>> = kept.iter().step_by(stride).copied().collect();
    if let Some(mix) = fit_mixture(&sample, params.components) {
        let mut nll: Vec<f64> = kept.iter().map(|z| mix.nll(z)).collect();
        model.nll_threshold = quantile(&mut nll, params.nll_quantile) + params.nll_margin;
        model.mixture = Some(mix);
    }
    model
}

fn count_normal(f: Feature, dense: &[Row]) -> FeatureNormal {
    let ys: Vec<f64> = dense
        .iter()
        .map(|r| anscombe(r.raw(f).unwrap_or(0.0)))
        .collect();
    // Per cell, the buckets of its hour and the hours either side, on the same kind of day.
    let mut pools: Vec<Vec<f64>> = vec![Vec::new(); CELLS];
    for (r, y) in dense.iter().zip(&ys) {
        let c = cell(r.bucket);
        let (h, w) = (c % 24, c - c % 24);
        for dh in [23, 0, 1] {
            pools[w + (h + dh) % 24].push(*y);
        }
    }
    let overall = median(&mut ys.clone());
    let mut center: Vec<f64> = pools.iter_mut().map(|p| median(p)).collect();
    for c in 0..CELLS {
        if pools[c].is_empty() {
            // No weekend (or weekday) yet: the same hour on the other kind of day.
            let other = (c + 24) % CELLS;
            center[c] = if pools[other].is_empty() {
                overall
            } else {
                center[other]
            };
        }
    }
    let residuals: Vec<f64> = dense
        .iter()
        .zip(&ys)
        .map(|(r, y)| y - center[cell(r.bucket)])
        .collect();
    FeatureNormal {
        feature: f.name().to_string(),
        center,
        // Poisson counts have unit variance on this scale: never trust less.
        scale: robust_sd(&residuals).max(1.0),
    }
}

fn level_normal(f: Feature, dense: &[Row]) -> FeatureNormal {
    let mut logs: Vec<f64> = dense
        .iter()
        .filter_map(|r| r.raw(f))
        .filter(|x| *x > 0.0)
        .map(f64::ln)
        .collect();
    let c = median(&mut logs);
    let residuals: Vec<f64> = logs.iter().map(|l| l - c).collect();
    FeatureNormal {
        feature: f.name().to_string(),
        center: vec![c],
        // 5 %: jitter below that is not worth a finding.
        scale: robust_sd(&residuals).max(0.05),
    }
}

fn rate_normal(f: Feature, dense: &[Row]) -> FeatureNormal {
    // The usual share: the median of daily shares, so an hour-long storm does not move it.
    let mut days: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for r in dense {
        let d = days.entry(r.bucket.div_euclid(DAY)).or_default();
        d.0 += r.raw(f).unwrap_or(0.0);
        d.1 += r.invocations;
    }
    let mut shares: Vec<f64> = days
        .values()
        .filter(|(_, n)| *n >= 20.0)
        .map(|(e, n)| e / n)
        .collect();
    let p0 = if shares.is_empty() {
        let (e, n) = days
            .values()
            .fold((0.0, 0.0), |a, (e, n)| (a.0 + e, a.1 + n));
        if n > 0.0 { e / n } else { 0.0 }
    } else {
        median(&mut shares)
    };
    let center = vec![p0];
    let probe = FeatureNormal {
        feature: f.name().to_string(),
        center: center.clone(),
        scale: 1.0,
    };
    let residuals: Vec<f64> = dense
        .iter()
        .filter(|r| r.invocations > 0.0)
        .map(|r| probe.z(f, r))
        .collect();
    FeatureNormal {
        feature: f.name().to_string(),
        center,
        scale: robust_sd(&residuals).max(1.0),
    }
}

/// A Gaussian mixture over the deviation vectors with linfa (k-means initialised, full
/// covariance, a ridge so that constant features do not make it singular); fewer components
/// when the data cannot support more; `None` when not even one fits.
fn fit_mixture(sample: &[&Vec<f64>], components: usize) -> Option<Mixture> {
    let d = FEATURES.len();
    if sample.len() < 4 * d {
        return None;
    }
    let mut x = Array2::<f64>::zeros((sample.len(), d));
    for (i, z) in sample.iter().enumerate() {
        for j in 0..d {
            x[[i, j]] = z[j];
        }
    }
    let data = DatasetBase::from(x);
    for k in (1..=components.max(1)).rev() {
        let fitted = GaussianMixtureModel::params(k)
            .n_runs(1)
            .tolerance(1e-3)
            .max_n_iterations(100)
            .reg_covariance(0.1)
            .fit(&data);
        let Ok(gmm) = fitted else {
            continue;
        };
        let mut mix = Mixture {
            weights: gmm.weights().to_vec(),
            means: gmm.means().outer_iter().map(|m| m.to_vec()).collect(),
            precisions: Vec::new(),
            log_norms: Vec::new(),
        };
        let mut ok = true;
        for p in gmm.precisions().outer_iter() {
            let p = p.to_owned();
            let Ok(l) = p.cholesky() else {
                ok = false;
                break;
            };
            let log_det: f64 = (0..d).map(|i| l[[i, i]].ln()).sum::<f64>() * 2.0;
            mix.log_norms
                .push(0.5 * log_det - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln());
            mix.precisions.push(p.iter().copied().collect());
        }
        if ok && mix.log_norms.iter().all(|v| v.is_finite()) {
            return Some(mix);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_transforms() {
        // 2026-11-01 was a Sunday; 2026-11-02 a Monday.
        let sunday = crate::baseline::tests::at("2026-11-01T03:10:00Z");
        let monday = crate::baseline::tests::at("2026-11-02T14:00:00Z");
        assert_eq!(cell(sunday), 24 + 3);
        assert_eq!(cell(monday), 14);
        for x in [0.0, 1.0, 7.0, 250.0] {
            assert!((inverse_anscombe(anscombe(x)) - x).abs() < 1e-9);
        }
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn mixture_nll_is_a_density() {
        // One standard normal component in 12 dimensions: NLL at the mean is (d/2)·ln 2π.
        let d = FEATURES.len();
        let mut p = vec![0.0; d * d];
        for i in 0..d {
            p[i * d + i] = 1.0;
        }
        let m = Mixture {
            weights: vec![1.0],
            means: vec![vec![0.0; d]],
            precisions: vec![p],
            log_norms: vec![-0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()],
        };
        let at0 = m.nll(&vec![0.0; d]);
        assert!((at0 - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-9);
        let mut z = vec![0.0; d];
        z[3] = 4.0;
        assert!((m.nll(&z) - at0 - 8.0).abs() < 1e-9);
    }
}

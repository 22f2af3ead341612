//! The model: per function, learnt from its hourly buckets, a rate per seasonal cell for each
//! count (with its overdispersion), the usual failure share as a beta distribution, robust
//! normals of durations and memory, the hours and kinds of day it runs in, and a Gaussian
//! mixture (linfa) over the standardised deviations. See the module docs of [`super`] for why.

use std::collections::BTreeMap;

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::GaussianMixtureModel;
use linfa_linalg::cholesky::Cholesky;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::features::{FEATURES, Feature, Granularity, Kind, Row};
use super::stats;

/// The model file's format; a file of another format is refused with a clear error.
pub const FORMAT: &str = "trailhound.baseline/2";

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// Seasonal cells: hour of day × (weekday, weekend).
pub const CELLS: usize = 48;

/// How a bucket is judged unusual. [`Method::Combined`] is the default, chosen by measurement
/// (see the module docs); the others are kept to re-measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every feature on its own: a count or failure share improbable at the learnt rate, a
    /// duration or memory level far above normal, or activity at an hour or kind of day the
    /// function never runs in.
    Features,
    /// The mixture's negative log-likelihood above the function's threshold (hourly buckets).
    Mixture,
    /// Counts, failures and never-active hours by their probability; a duration or memory
    /// level far above normal only in an hourly bucket the mixture also finds unusual.
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
    /// A count (invocations, failures, API calls…) whose probability of being this high at
    /// the learnt rate is at most this, in an hourly bucket, raises a finding; in a five-minute
    /// bucket, a twelfth of it (the same chance of a false finding per hour).
    pub p_alert: f64,
    /// Counts at most this probable are listed in a finding.
    pub p_report: f64,
    /// A duration or memory level this many robust standard deviations above its normal can
    /// raise a finding.
    pub z_alert: f64,
    /// Levels this far above normal are listed in a finding.
    pub z_report: f64,
    /// Training buckets with a feature this far from normal are left out of the mixture (the
    /// attacks hidden in the history).
    pub z_trim: f64,
    /// Gaussian components per function.
    pub components: usize,
    /// At most this many buckets per function train the mixture (evenly spaced).
    pub max_training_buckets: usize,
    /// The mixture's threshold: this quantile of the training buckets' negative
    /// log-likelihood, plus `nll_margin` nats.
    pub nll_quantile: f64,
    pub nll_margin: f64,
    /// Flagged buckets of a function less than this apart make one finding (minutes).
    pub merge_gap_minutes: i64,
    /// Activity at an hour of day, or on a kind of day, in which the function ran on at most
    /// one day of its history is a finding when the function averages at least this many
    /// invocations an hour (below that, silence at an hour is chance, not a schedule).
    pub quiet_min_rate: f64,
    pub method: Method,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            min_history_days: 7.0,
            min_active_hours: 24,
            p_alert: 1e-6,
            p_report: 1e-3,
            z_alert: 6.0,
            z_report: 4.0,
            z_trim: 5.0,
            components: 2,
            max_training_buckets: 2000,
            nll_quantile: 0.999,
            nll_margin: 6.0,
            merge_gap_minutes: 60,
            quiet_min_rate: 1.0,
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

/// One feature's normal for one function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureNormal {
    pub feature: String,
    /// Where the mixture's standardised deviations are measured from. Counts: the median of
    /// 2·√(x+3/8) per seasonal cell (hour of day, then the weekend's 24 hours). Levels: one
    /// value, the median of ln x. Rates: one value, the usual share.
    pub center: Vec<f32>,
    /// The robust standard deviation (1.4826 × MAD) of the deviations, floored.
    pub scale: f32,
    /// Counts: the learnt mean an hour per seasonal cell. Rates: α and β of the beta
    /// distribution of the failure share. Levels: empty.
    pub rate: Vec<f32>,
    /// Counts: the overdispersion, 1/size of the negative binomial (0: Poisson), of clusters.
    pub dispersion: f32,
    /// Counts: how many come together (API calls: the usual calls per invocation; else 1);
    /// the negative binomial counts clusters.
    pub cluster: f32,
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

/// A function's normal, learnt from its hourly buckets; it judges buckets of either width.
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
    pub typical_invocations: f64,
    /// Hourly buckets behind each seasonal cell's rate (its hour and the hours either side, on
    /// days of its kind).
    pub cell_samples: Vec<f32>,
    /// Per seasonal cell (its own hour only), the days on which the function ran in it.
    pub cell_active_days: Vec<u16>,
    /// Days of history on weekdays and at weekends, and how many of them had an invocation.
    pub days: [u16; 2],
    pub active_days: [u16; 2],
    /// Invocations an hour over the whole history.
    pub mean_rate: f64,
}

/// One function's model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionModel {
    /// Its execution role (the ARN its sessions act as).
    pub role: Option<String>,
    pub state: State,
    /// Why it is still learning.
    pub learning: Option<String>,
    pub first_seen: String,
    pub history_days: f64,
    pub active_hours: usize,
    /// Its normal; `None` while learning.
    pub normal: Option<WidthModel>,
}

/// The model.
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
    hod + if is_weekend(bucket) { 24 } else { 0 }
}

/// Whether a time falls on a Saturday or Sunday (UTC).
pub fn is_weekend(t: i64) -> bool {
    // 1970-01-01 was a Thursday: days 2 and 3 of each week are Saturday and Sunday.
    matches!(t.div_euclid(DAY).rem_euclid(7), 2 | 3)
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

/// The highest count of a cell whose median is `m` that training takes at face value; above
/// it a bucket is winsorised (an attack hidden in the history must not raise the rate).
fn winsor_cap(m: f64) -> f64 {
    m + 5.0 * m.sqrt() + 5.0
}

/// The share of an hour a bucket of this width is.
fn hour_share(width: Granularity) -> f64 {
    width.micros() as f64 / HOUR as f64
}

/// How surprising one feature of a bucket is: what was expected and the probability of at
/// least what was seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surprise {
    /// Counts: the expected count in the bucket; rates: the expected failures among its
    /// invocations.
    pub expected: f64,
    /// ln P(X ≥ observed).
    pub ln_p: f64,
}

impl FeatureNormal {
    fn center_at(&self, bucket: i64) -> f64 {
        f64::from(self.center[cell(bucket) % self.center.len()])
    }

    /// The standardised deviation of a bucket's value: positive means above normal.
    pub fn z(&self, f: Feature, row: &Row) -> f64 {
        let scale = f64::from(self.scale);
        match f.kind() {
            Kind::Count => {
                (anscombe(row.raw(f).unwrap_or(0.0)) - self.center_at(row.bucket)) / scale
            }
            Kind::Level => match row.raw(f) {
                Some(x) if x > 0.0 => (x.ln() - f64::from(self.center[0])) / scale,
                _ => 0.0,
            },
            Kind::Rate => {
                // The failures against the usual share of this many invocations, on the same
                // variance-stabilised scale as counts.
                let expected = row.invocations * f64::from(self.center[0]);
                (anscombe(row.raw(f).unwrap_or(0.0)) - anscombe(expected)) / scale
            }
        }
    }

    /// The usual failure share (rates).
    fn share(&self) -> f64 {
        let (a, b) = (f64::from(self.rate[0]), f64::from(self.rate[1]));
        a / (a + b)
    }

    /// The learnt mean count of a bucket of this width (counts).
    fn mean(&self, bucket: i64, width: Granularity) -> f64 {
        f64::from(self.rate[cell(bucket) % self.rate.len()]) * hour_share(width)
    }

    /// The normal value of a bucket: the expected count (counts), the usual share (rates),
    /// the median level (levels).
    pub fn expected(&self, f: Feature, bucket: i64, width: Granularity) -> f64 {
        match f.kind() {
            Kind::Count => self.mean(bucket, width),
            Kind::Level => f64::from(self.center[0]).exp(),
            Kind::Rate => self.share(),
        }
    }

    /// The usual range of a bucket: two standard deviations either side (counts at the
    /// learnt rate and overdispersion, failure shares of this many invocations) or two robust
    /// standard deviations (levels).
    pub fn range(
        &self,
        f: Feature,
        bucket: i64,
        width: Granularity,
        invocations: f64,
    ) -> (f64, f64) {
        match f.kind() {
            Kind::Count => {
                let m = self.mean(bucket, width);
                let k = f64::from(self.cluster).max(1.0);
                let sd = k * (m / k + f64::from(self.dispersion) * (m / k).powi(2)).sqrt();
                ((m - 2.0 * sd).max(0.0), m + 2.0 * sd)
            }
            Kind::Level => {
                let (c, s) = (f64::from(self.center[0]), f64::from(self.scale));
                ((c - 2.0 * s).exp(), (c + 2.0 * s).exp())
            }
            Kind::Rate => {
                let p = self.share();
                if invocations <= 0.0 {
                    return (0.0, p);
                }
                let c = f64::from(self.rate[0]) + f64::from(self.rate[1]);
                let sd =
                    (p * (1.0 - p) / invocations * (1.0 + (invocations - 1.0) / (c + 1.0))).sqrt();
                ((p - 2.0 * sd).max(0.0), (p + 2.0 * sd).min(1.0))
            }
        }
    }

    /// Whether a level's deviation is big enough to matter to a person (see
    /// [`Feature::min_effect`]); counts and rates are judged by their probability instead.
    pub fn meaningful(&self, f: Feature, row: &Row, typical_invocations: f64) -> bool {
        let Some(x) = row.raw(f) else {
            return false;
        };
        // A percentile of fewer invocations than usual scatters more than the normal learnt
        // from usual buckets: one slow invocation in a quiet hour is no shift.
        f.kind() == Kind::Level
            && row.invocations >= typical_invocations.clamp(1.0, Feature::MIN_LEVEL_INVOCATIONS)
            && x >= f.min_effect() * f64::from(self.center[0]).exp()
    }
}

/// Why a bucket's activity is at a time the function does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// This hour of day and the hours either side ran on `ran` of `days` days.
    Hour { hour: usize, ran: u16, days: u16 },
    /// This kind of day (weekend or weekday) ran on `ran` of `days` such days.
    DayKind { weekend: bool, ran: u16, days: u16 },
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

    /// How surprising a count or failure feature of a bucket of this width is; `None` for
    /// levels.
    pub fn surprise(&self, f: Feature, row: &Row, width: Granularity) -> Option<Surprise> {
        let n = &self.features[f.index()];
        let x = row.raw(f).unwrap_or(0.0);
        match f.kind() {
            Kind::Level => None,
            Kind::Count => {
                let c = cell(row.bucket);
                let expected = n.mean(row.bucket, width);
                // The rate itself is uncertain: a gamma of shape (count seen + ½) over the
                // cell's hours, which adds 1/shape to the overdispersion.
                let k = f64::from(n.cluster).max(1.0);
                let shape = f64::from(n.rate[c]) / k * f64::from(self.cell_samples[c]).max(1.0);
                let dispersion = f64::from(n.dispersion) + 1.0 / shape.max(0.5);
                Some(Surprise {
                    expected,
                    ln_p: stats::ln_count_tail(x / k, expected / k, dispersion),
                })
            }
            Kind::Rate => {
                let (a, b) = (f64::from(n.rate[0]), f64::from(n.rate[1]));
                Some(Surprise {
                    expected: row.invocations * a / (a + b),
                    ln_p: stats::ln_failure_tail(x, row.invocations, a, b),
                })
            }
        }
    }

    /// Whether the bucket's hour of day, or its kind of day, is one the function does not run
    /// in: it ran in it on at most one day of its history, and it is busy enough otherwise
    /// for that silence to be a schedule rather than chance.
    pub fn quiet(&self, bucket: i64, params: &Params) -> Option<Quiet> {
        if self.mean_rate < params.quiet_min_rate {
            return None;
        }
        let c = cell(bucket);
        let (hour, weekend) = (c % 24, c >= 24);
        let ran: u16 = [23, 0, 1]
            .iter()
            .flat_map(|dh| [0, 24].map(|w| self.cell_active_days[w + (hour + dh) % 24]))
            .sum();
        let days = self.days[0] + self.days[1];
        if f64::from(days) >= params.min_history_days && ran <= 1 {
            return Some(Quiet::Hour { hour, ran, days });
        }
        let k = usize::from(weekend);
        // Two weekends, or two working weeks, before a kind of day's silence is a schedule.
        let enough = if weekend { 4 } else { 10 };
        (self.days[k] >= enough && self.active_days[k] <= 1).then_some(Quiet::DayKind {
            weekend,
            ran: self.active_days[k],
            days: self.days[k],
        })
    }
}

/// Learn one function's normal from its hourly buckets in `[start, end)` (µs); `rows` are its
/// active buckets (sorted by bucket), quiet ones are filled in.
pub fn train_width(rows: &[&Row], start: i64, end: i64, params: &Params) -> WidthModel {
    let step = HOUR;
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
            Some(r) if r.bucket == b => dense.push(r.numbers()),
            _ => dense.push(Row::quiet("", b)),
        }
    }
    // Per cell, the buckets of its hour and the hours either side, on the same kind of day.
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); CELLS];
    for (i, r) in dense.iter().enumerate() {
        let c = cell(r.bucket);
        let (h, w) = (c % 24, c - c % 24);
        for dh in [23, 0, 1] {
            pools[w + (h + dh) % 24].push(i);
        }
    }
    let mut normals = Vec::with_capacity(FEATURES.len());
    for f in FEATURES {
        normals.push(match f.kind() {
            Kind::Count => count_normal(f, &dense, &pools),
            Kind::Level => level_normal(f, &dense),
            Kind::Rate => rate_normal(f, &dense),
        });
    }
    // The days of each kind, and the days each cell ran on.
    let mut cell_active_days = vec![0u16; CELLS];
    let mut by_day: BTreeMap<i64, bool> = BTreeMap::new();
    for r in &dense {
        let ran = r.invocations > 0.0;
        *by_day.entry(r.bucket.div_euclid(DAY)).or_default() |= ran;
        if ran {
            cell_active_days[cell(r.bucket)] += 1;
        }
    }
    let (mut days, mut active_days) = ([0u16; 2], [0u16; 2]);
    for (d, ran) in by_day {
        let k = usize::from(is_weekend(d * DAY));
        days[k] += 1;
        active_days[k] += u16::from(ran);
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
        cell_samples: pools.iter().map(|p| p.len() as f32).collect(),
        cell_active_days,
        days,
        active_days,
        mean_rate: dense.iter().map(|r| r.invocations).sum::<f64>() / dense.len().max(1) as f64,
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

/// Per seasonal cell, what `values` of its pooled buckets give (a median, a mean); cells
/// with no bucket (no weekend seen yet) take the same hour on the other kind of day, or
/// `overall`.
fn per_cell(
    pools: &[Vec<usize>],
    overall: f64,
    mut of: impl FnMut(usize, &[usize]) -> f64,
) -> Vec<f64> {
    let mut out: Vec<Option<f64>> = pools
        .iter()
        .enumerate()
        .map(|(c, p)| (!p.is_empty()).then(|| of(c, p)))
        .collect();
    for c in 0..CELLS {
        if out[c].is_none() {
            out[c] = Some(out[(c + 24) % CELLS].unwrap_or(overall));
        }
    }
    out.into_iter().map(|v| v.unwrap_or(overall)).collect()
}

fn xs_of(r: &Row, f: Feature) -> f64 {
    r.raw(f).unwrap_or(0.0)
}

fn count_normal(f: Feature, dense: &[Row], pools: &[Vec<usize>]) -> FeatureNormal {
    let xs: Vec<f64> = dense.iter().map(|r| r.raw(f).unwrap_or(0.0)).collect();
    let ys: Vec<f64> = xs.iter().map(|x| anscombe(*x)).collect();
    let overall = median(&mut ys.clone());
    let center = per_cell(pools, overall, |_, p| {
        median(&mut p.iter().map(|i| ys[*i]).collect::<Vec<_>>())
    });
    let residuals: Vec<f64> = dense
        .iter()
        .zip(&ys)
        .map(|(r, y)| y - center[cell(r.bucket)])
        .collect();
    // The rate: per cell, the mean of its buckets winsorised a little above their median,
    // with half a count more (Jeffreys' prior: never exactly zero).
    let caps = per_cell(pools, winsor_cap(0.0), |_, p| {
        winsor_cap(median(&mut p.iter().map(|i| xs[*i]).collect::<Vec<_>>()))
    });
    let overall_rate = (xs.iter().sum::<f64>() + 0.5) / xs.len().max(1) as f64;
    let rate = per_cell(pools, overall_rate, |c, p| {
        (p.iter().map(|i| xs[*i].min(caps[c])).sum::<f64>() + 0.5) / p.len() as f64
    });
    // API calls come in clusters (each invocation makes its code's few calls within
    // seconds): counted in clusters of the usual calls per invocation, a five-minute bucket
    // holding one more invocation than usual is not three unlikely calls.
    let cluster = if f == Feature::ApiCalls {
        let (calls, runs) = dense
            .iter()
            .filter(|r| r.invocations > 0.0)
            .fold((0.0, 0.0), |a, r| (a.0 + xs_of(r, f), a.1 + r.invocations));
        if runs > 0.0 {
            (calls / runs).max(1.0)
        } else {
            1.0
        }
    } else {
        1.0
    };
    // The overdispersion (of the clusters) by moments: Var = μ + μ²/size.
    let (mut num, mut den) = (0.0, 0.0);
    for (r, x) in dense.iter().zip(&xs) {
        let c = cell(r.bucket);
        let m = rate[c] / cluster;
        num += (x.min(caps[c]) / cluster - m).powi(2) - m;
        den += m * m;
    }
    let dispersion = if den > 0.0 {
        (num / den).clamp(0.0, 10.0)
    } else {
        0.0
    };
    FeatureNormal {
        feature: f.name().to_string(),
        center: center.iter().map(|v| *v as f32).collect(),
        // Poisson counts have unit variance on this scale: never trust less.
        scale: robust_sd(&residuals).max(1.0) as f32,
        rate: rate.iter().map(|v| *v as f32).collect(),
        dispersion: dispersion as f32,
        cluster: cluster as f32,
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
        center: vec![c as f32],
        // 5 %: jitter below that is not worth a finding.
        scale: robust_sd(&residuals).max(0.05) as f32,
        rate: Vec::new(),
        dispersion: 0.0,
        cluster: 1.0,
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
    let invocations: f64 = days.values().map(|(_, n)| n).sum();
    let p0 = if shares.is_empty() {
        let failures: f64 = days.values().map(|(e, _)| e).sum();
        if invocations > 0.0 {
            failures / invocations
        } else {
            0.0
        }
    } else {
        median(&mut shares)
    };
    let mut normal = FeatureNormal {
        feature: f.name().to_string(),
        center: vec![p0 as f32],
        scale: 1.0,
        rate: Vec::new(),
        dispersion: 0.0,
        cluster: 1.0,
    };
    let residuals: Vec<f64> = dense
        .iter()
        .filter(|r| r.invocations > 0.0)
        .map(|r| normal.z(f, r))
        .collect();
    normal.scale = robust_sd(&residuals).max(1.0) as f32;
    // The share as a beta distribution: every failure seen (an hour's winsorised a little
    // above what the usual share makes of its invocations, so that a storm in the history
    // does not become usual) of every invocation, plus half a failure and half a success
    // (Jeffreys' prior).
    let failures: f64 = dense
        .iter()
        .map(|r| r.raw(f).unwrap_or(0.0).min(winsor_cap(r.invocations * p0)))
        .sum::<f64>()
        .min(invocations);
    // (A correlation between the failures of an hour, estimated by moments, was tried: the
    // one storm or handful hidden in the history is all the scatter there is, so it made
    // every later storm look usual.)
    let (a, b) = (failures + 0.5, invocations - failures + 0.5);
    normal.rate = vec![a as f32, b as f32];
    normal
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

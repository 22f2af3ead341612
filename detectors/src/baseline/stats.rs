//! Upper tails of the count distributions the baseline judges buckets with: negative binomial
//! (Poisson when not overdispersed) for counts, beta-binomial for failures among invocations.
//! Computed in log space by summing the probability mass from the observed count upwards, so
//! that a flood's probability of 1e-300 is a number, not zero.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln of Σ exp over a sequence of log terms that first rise (perhaps) and then fall: sums from
/// `first` while the terms still matter.
fn ln_sum_tail(first: f64, mut next: impl FnMut(f64, u64) -> Option<f64>) -> f64 {
    let (mut top, mut acc) = (first, 1.0f64);
    let mut term = first;
    for j in 0..1_000_000u64 {
        let Some(t) = next(term, j) else { break };
        term = t;
        if term > top {
            acc = acc * (top - term).exp() + 1.0;
            top = term;
        } else {
            acc += (term - top).exp();
            if term - top < -40.0 {
                break;
            }
        }
    }
    top + acc.ln()
}

/// ln P(X ≥ k) for X negative binomial with mean `mean` and 1/size `dispersion` (0: Poisson).
/// Zero (probability 1) when k is at most the mean.
pub fn ln_count_tail(k: f64, mean: f64, dispersion: f64) -> f64 {
    let k = k.round();
    if k <= 0.0 || k <= mean {
        return 0.0;
    }
    let mean = mean.max(1e-12);
    if dispersion <= 1e-9 {
        // Poisson: pmf(j+1)/pmf(j) = λ/(j+1).
        let first = -mean + k * mean.ln() - ln_gamma(k + 1.0);
        return ln_sum_tail(first, |t, j| {
            let i = k + j as f64;
            Some(t + mean.ln() - (i + 1.0).ln())
        })
        .min(0.0);
    }
    let r = 1.0 / dispersion;
    // p = r/(r+μ), q = μ/(r+μ); pmf(j) = Γ(j+r)/(Γ(r) j!) p^r q^j.
    let (ln_p, ln_q) = ((r / (r + mean)).ln(), (mean / (r + mean)).ln());
    let first = ln_gamma(k + r) - ln_gamma(r) - ln_gamma(k + 1.0) + r * ln_p + k * ln_q;
    ln_sum_tail(first, |t, j| {
        let i = k + j as f64;
        Some(t + ((i + r) / (i + 1.0)).ln() + ln_q)
    })
    .min(0.0)
}

/// ln P(E ≥ e) for E beta-binomial over `n` trials with shape `alpha`, `beta`. Zero when e is
/// at most the expected n·α/(α+β).
pub fn ln_failure_tail(e: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    let (e, n) = (e.round(), n.round());
    if e <= 0.0 || e <= n * alpha / (alpha + beta) || n <= 0.0 {
        return 0.0;
    }
    let e = e.min(n);
    let ln_choose = |n: f64, k: f64| ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0);
    let ln_beta = |a: f64, b: f64| ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
    let first = ln_choose(n, e) + ln_beta(e + alpha, n - e + beta) - ln_beta(alpha, beta);
    ln_sum_tail(first, |t, j| {
        let i = e + j as f64;
        if i >= n {
            return None;
        }
        // pmf(i+1)/pmf(i) = (n−i)/(i+1) · (i+α)/(n−i−1+β).
        Some(t + ((n - i) / (i + 1.0)).ln() + ((i + alpha) / (n - i - 1.0 + beta)).ln())
    })
    .min(0.0)
}

/// A probability as people read it: `0.03`, `2.1e-9`, `< 1e-300`.
pub fn fmt_probability(ln_p: f64) -> String {
    let log10 = ln_p / std::f64::consts::LN_10;
    if log10 < -300.0 {
        "< 1e-300".to_string()
    } else if log10 > -3.0 {
        format!("{:.3}", ln_p.exp())
    } else {
        format!("{:.1e}", ln_p.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn gamma_matches_factorials() {
        for (n, f) in [(1.0, 1.0), (2.0, 1.0), (5.0, 24.0), (11.0, 3_628_800.0)] {
            assert!(close(ln_gamma(n).exp(), f, 1e-12), "{n}");
        }
        assert!(close(
            ln_gamma(0.5).exp(),
            std::f64::consts::PI.sqrt(),
            1e-12
        ));
        assert!(close(ln_gamma(171.5), 709.143_163_030_928_2, 1e-10));
    }

    #[test]
    fn poisson_and_negative_binomial_tails() {
        // P(X ≥ 3 | Poisson 1) = 1 − e⁻¹(1 + 1 + ½).
        let p = 1.0 - (-1.0f64).exp() * 2.5;
        assert!(close(ln_count_tail(3.0, 1.0, 0.0).exp(), p, 1e-9));
        // At or below the mean: no surprise.
        assert_eq!(ln_count_tail(4.0, 4.0, 0.0), 0.0);
        // Geometric (size 1, mean 1): P(X ≥ k) = ½^k.
        assert!(close(
            ln_count_tail(6.0, 1.0, 1.0).exp(),
            0.5f64.powi(6),
            1e-9
        ));
        // Overdispersion makes a big count less surprising.
        assert!(ln_count_tail(30.0, 10.0, 0.2) > ln_count_tail(30.0, 10.0, 0.0));
        // A flood far past the double range still has a logarithm.
        let l = ln_count_tail(5_000.0, 40.0, 0.0);
        assert!(l.is_finite() && l < -10_000.0, "{l}");
    }

    #[test]
    fn beta_binomial_tail() {
        // α = β = 1: uniform over 0..=n, so P(E ≥ e) = (n − e + 1)/(n + 1).
        assert!(close(
            ln_failure_tail(7.0, 10.0, 1.0, 1.0).exp(),
            4.0 / 11.0,
            1e-9
        ));
        // Four failures of ten after about a thousand invocations without one.
        let p = ln_failure_tail(4.0, 10.0, 0.5, 1_000.5).exp();
        assert!(p > 1e-10 && p < 1e-8, "{p}");
        // One failure at a usual rate of 1 %: not surprising.
        assert!(ln_failure_tail(1.0, 10.0, 10.5, 990.5).exp() > 0.05);
    }
}

//! One function's features over time as an SVG: the observed values, the learnt normal range
//! (the band) and the flagged buckets. Self-contained, no scripts, opens in any browser.

use std::fmt::Write;

use super::Flag;
use super::features::{Feature, Granularity, Row};
use super::model::FunctionModel;
use crate::report::escape;

/// The panels drawn, top to bottom.
pub const PANELS: [Feature; 5] = [
    Feature::Invocations,
    Feature::ErrorRate,
    Feature::DurationP95,
    Feature::MemoryP95,
    Feature::ApiCalls,
];

const W: f64 = 1100.0;
const PANEL_H: f64 = 120.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 36.0;

/// The SVG of `function`'s hourly buckets `rows` (sorted, quiet ones may be absent) between
/// `since` and `until` (µs), with `flags` (any width) marked.
pub fn svg(
    function: &str,
    model: &FunctionModel,
    rows: &[Row],
    flags: &[Flag],
    since: i64,
    until: i64,
) -> String {
    let step = Granularity::Hour.micros();
    let since = since - since.rem_euclid(step);
    let n = ((until - since) / step).max(1) as usize;
    let mut dense: Vec<Row> = (0..n)
        .map(|i| Row::quiet(function, since + i as i64 * step))
        .collect();
    for r in rows {
        let i = (r.bucket - since) / step;
        if (0..n as i64).contains(&i) {
            dense[i as usize] = r.clone();
        }
    }
    let width = model.normal.as_ref();
    let h = TOP + PANELS.len() as f64 * (PANEL_H + GAP) + 20.0;
    let x = |b: i64| LEFT + (b - since) as f64 / (until - since).max(1) as f64 * (W - LEFT - RIGHT);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<title>{}: behaviour against its learnt normal</title><rect width="100%" height="100%" fill="white"/>"#,
        escape(function)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{} — hourly values (line), learnt normal range (band), flagged buckets (red)</text>"##,
        escape(function)
    );
    for (p, f) in PANELS.iter().enumerate() {
        let y0 = TOP + p as f64 * (PANEL_H + GAP);
        let normal = width.map(|w| &w.features[f.index()]);
        let vals: Vec<Option<f64>> = dense.iter().map(|r| r.value(*f)).collect();
        let bands: Vec<Option<(f64, f64)>> = dense
            .iter()
            .map(|r| normal.map(|n| n.range(*f, r.bucket, Granularity::Hour, r.invocations)))
            .collect();
        let mut top = vals
            .iter()
            .flatten()
            .chain(bands.iter().flatten().map(|(_, hi)| hi))
            .copied()
            .fold(0.0, f64::max);
        if top <= 0.0 {
            top = 1.0;
        }
        let y = |v: f64| y0 + PANEL_H - (v / top).clamp(0.0, 1.0) * PANEL_H;
        let _ = writeln!(
            s,
            r##"<g class="panel" data-feature="{}"><text x="{LEFT}" y="{}" font-weight="bold">{}</text>"##,
            f.name(),
            y0 - 6.0,
            f.name()
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{y0}" width="{}" height="{PANEL_H}" fill="none" stroke="#ccc"/>"##,
            W - LEFT - RIGHT
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="end">0</text>"##,
            LEFT - 4.0,
            y0 + 10.0,
            fmt(top),
            LEFT - 4.0,
            y0 + PANEL_H
        );
        // The band: upper edge left to right, lower edge back.
        if bands.iter().any(Option::is_some) {
            let mut pts = Vec::new();
            for (r, b) in dense.iter().zip(&bands) {
                if let Some((_, hi)) = b {
                    pts.push(format!("{:.1},{:.1}", x(r.bucket + step / 2), y(*hi)));
                }
            }
            for (r, b) in dense.iter().zip(&bands).rev() {
                if let Some((lo, _)) = b {
                    pts.push(format!("{:.1},{:.1}", x(r.bucket + step / 2), y(*lo)));
                }
            }
            let _ = writeln!(
                s,
                r##"<polygon class="band" points="{}" fill="#9ecae1" fill-opacity="0.5" stroke="none"/>"##,
                pts.join(" ")
            );
        }
        let line: Vec<String> = dense
            .iter()
            .zip(&vals)
            .filter_map(|(r, v)| v.map(|v| format!("{:.1},{:.1}", x(r.bucket + step / 2), y(v))))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline class="value" points="{}" fill="none" stroke="#08519c" stroke-width="1"/>"##,
            line.join(" ")
        );
        for fl in flags.iter().filter(|fl| fl.function == function) {
            let (a, b) = (fl.bucket, fl.bucket + fl.width.micros());
            if b <= since || a >= until {
                continue;
            }
            let _ = writeln!(
                s,
                r##"<rect class="flag" x="{:.1}" y="{y0}" width="{:.1}" height="{PANEL_H}" fill="#e31a1c" fill-opacity="0.35"><title>{} {} flagged: {}</title></rect>"##,
                x(a),
                (x(b) - x(a)).max(2.0),
                fl.width.label(),
                escape(&super::iso(a)),
                escape(
                    &fl.deviations
                        .iter()
                        .map(|d| format!(
                            "{} {} (p {})",
                            d.feature,
                            d.value,
                            super::stats::fmt_probability(d.ln_p)
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            );
        }
        let _ = writeln!(s, "</g>");
    }
    // Day ticks along the bottom.
    let yb = TOP + PANELS.len() as f64 * (PANEL_H + GAP) - GAP + 14.0;
    let day = 86_400_000_000i64;
    let mut d = since - since.rem_euclid(day) + day;
    let days = (until - since) / day;
    let every = (days / 14).max(1) * day;
    while d < until {
        let label = super::iso(d);
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{yb}" text-anchor="middle" fill="#555">{}</text>"##,
            x(d),
            label.get(5..10).unwrap_or(&label)
        );
        d += every;
    }
    s.push_str("</svg>\n");
    s
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

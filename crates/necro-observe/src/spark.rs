//! The live view's throughput chart: a sparkline on a logarithmic scale with its labels.

use std::fmt::Write as _;

use crate::html::num;

/// The throughput chart's vertical scale: logarithmic, `log10(1 + rate)`, from 0 events/s
/// at the floor to [`Scale::top`] at the top. A linear scale sized to the peak flattens a
/// steady rate to the floor after one burst (50,000/s once, then 200/s, draws the steady
/// part 0.4 % high); on this one the steady part sits half way up.
#[derive(Debug, Clone, Copy)]
struct Scale {
    /// The rate at the top: the smallest of 1, 2, 5 × 10ⁿ events/s at or above the peak.
    top: f64,
}

impl Scale {
    fn new(peak: f64) -> Self {
        Self {
            top: nice_at_least(peak.max(1.0)),
        }
    }

    /// Height of `rate` as a fraction of the chart's: 0 at the floor, 1 at the top.
    fn height(self, rate: f64) -> f64 {
        ((1.0 + rate.max(0.0)).log10() / (1.0 + self.top).log10()).clamp(0.0, 1.0)
    }

    /// A round rate near half way up, for the middle gridline.
    fn mid(self) -> f64 {
        nice_nearest((1.0 + self.top).sqrt() - 1.0)
    }
}

/// 1, 2 and 5 × 10ⁿ: the round numbers a scale is labelled with.
fn nice_candidates(v: f64) -> impl Iterator<Item = f64> {
    let exp = v.log10().floor() as i32;
    (exp - 1..=exp + 1).flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
}

/// The smallest round number at or above `v` (> 0).
fn nice_at_least(v: f64) -> f64 {
    nice_candidates(v)
        .find(|c| *c >= v * (1.0 - 1e-9))
        .unwrap_or(v)
}

/// The round number closest to `v` (> 0) on a log scale.
fn nice_nearest(v: f64) -> f64 {
    nice_candidates(v)
        .min_by(|a, b| (a / v).ln().abs().total_cmp(&(b / v).ln().abs()))
        .unwrap_or(v)
}

/// A scale label: `200/s`, `50k/s`, `1M/s`, `0.5/s`.
fn rate_label(v: f64) -> String {
    let (n, unit) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    // Round to 3 significant digits: the labels are round numbers, minus float noise.
    let n = format!("{n:.3}");
    let n = n.trim_end_matches('0').trim_end_matches('.');
    format!("{n}{unit}/s")
}

/// The chart's drawing box, in SVG user units; the SVG is stretched over its whole CSS box
/// (`preserveAspectRatio="none"`), lines keep their width (`non-scaling-stroke`).
const SPARK_W: f64 = 600.0;
const SPARK_H: f64 = 60.0;
/// Room above the top and below the floor, so the line is not cut in half at either.
const SPARK_PAD: f64 = 2.0;

/// The y coordinate of a height fraction, and the same as a CSS `bottom` percentage.
fn spark_y(height: f64) -> (f64, f64) {
    let up = SPARK_PAD + height * (SPARK_H - 2.0 * SPARK_PAD);
    (SPARK_H - up, up / SPARK_H * 100.0)
}

/// The throughput chart: a note naming the scale, the peak and the last second's rate,
/// then a labelled scale (top, a middle gridline, 0) beside the line.
pub(crate) fn sparkline(history: &[f64]) -> String {
    let (w, h) = (SPARK_W, SPARK_H);
    let peak = history.iter().copied().fold(0.0_f64, f64::max);
    let scale = Scale::new(peak);
    let mid = scale.mid();
    let (mid_y, mid_bottom) = spark_y(scale.height(mid));
    let (top_y, _) = spark_y(1.0);
    let (floor_y, _) = spark_y(0.0);
    let mut svg = format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" aria-label="throughput history, log scale, peak {peak} events/s"><line class="grid" x1="0" y1="{top_y}" x2="{w}" y2="{top_y}" vector-effect="non-scaling-stroke"/><line class="grid" x1="0" y1="{mid_y:.1}" x2="{w}" y2="{mid_y:.1}" vector-effect="non-scaling-stroke"/><line class="floor" x1="0" y1="{floor_y}" x2="{w}" y2="{floor_y}" vector-effect="non-scaling-stroke"/>"#,
        peak = num(peak),
    );
    if !history.is_empty() {
        // One sample is drawn as a flat line over the whole width.
        let last = history.len().max(2) - 1;
        let step = w / last as f64;
        let mut points = String::new();
        for i in 0..=last {
            let v = history[i.min(history.len() - 1)];
            let _ = write!(
                points,
                "{:.1},{:.1} ",
                i as f64 * step,
                spark_y(scale.height(v)).0
            );
        }
        let points = points.trim_end();
        let _ = write!(
            svg,
            r#"<polygon class="area" points="0,{floor_y} {points} {w},{floor_y}"/><polyline fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke" points="{points}"/>"#
        );
    }
    svg.push_str("</svg>");
    format!(
        r#"<p class="note">events/s on a log scale, so one burst does not flatten the steady rate · peak {peak}/s · now {now}/s</p><div class="chart"><div class="axis" aria-hidden="true"><span class="scale-top">{top}</span><span class="scale-mid" style="bottom:{mid_bottom:.1}%">{mid}</span><span class="scale-zero">0</span></div>{svg}</div>"#,
        top = rate_label(scale.top),
        mid = rate_label(mid),
        peak = num(peak),
        now = num(history.last().copied().unwrap_or(0.0)),
    )
}

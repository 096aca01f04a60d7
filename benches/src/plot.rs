//! A hand-written SVG of latency distributions: one panel per workload, latency (log scale)
//! against percentile (p50 … p99.99, max), one line per server.

use std::fmt::Write as _;

/// One line in a panel: label, colour, `(quantile, ms)` points.
pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

const W: f64 = 330.0;
const H: f64 = 230.0;
const ML: f64 = 52.0;
const MR: f64 = 12.0;
const MT: f64 = 28.0;
const MB: f64 = 34.0;
const COLS: usize = 3;
const X_MAX: f64 = 4.6;

/// Percentile → x in "nines": p50 = 0.3, p90 = 1, p99 = 2, …; max sits at the right edge.
fn nines(q: f64) -> f64 {
    if q >= 1.0 {
        X_MAX
    } else {
        (-(1.0 - q).log10()).min(4.0)
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The whole figure.
pub fn render(title: &str, panels: &[Panel]) -> String {
    let rows = panels.len().div_ceil(COLS).max(1);
    let width = W * COLS as f64;
    let height = H * rows as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="20" font-size="14" text-anchor="middle">{}</text>"#,
        width / 2.0,
        esc(title)
    );
    for (i, p) in panels.iter().enumerate() {
        let ox = (i % COLS) as f64 * W;
        let oy = 40.0 + (i / COLS) as f64 * H;
        panel(&mut s, p, ox, oy);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, p: &Panel, ox: f64, oy: f64) {
    let pw = W - ML - MR;
    let ph = H - MT - MB;
    let all: Vec<f64> = p
        .series
        .iter()
        .flat_map(|se| se.points.iter().map(|&(_, v)| v.max(0.001)))
        .collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = all.iter().cloned().fold(0.0_f64, f64::max);
    let (lo, hi) = if all.is_empty() { (0.1, 10.0) } else { (lo, hi) };
    let d0 = lo.log10().floor();
    let d1 = hi.log10().ceil().max(d0 + 1.0);
    let x = |q: f64| ox + ML + nines(q) / X_MAX * pw;
    let y = |v: f64| oy + MT + ph - (v.max(0.001).log10() - d0) / (d1 - d0) * ph;
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text><rect x="{}" y="{}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##,
        ox + ML + pw / 2.0,
        oy + MT - 10.0,
        esc(&p.title),
        ox + ML,
        oy + MT
    );
    let mut d = d0;
    while d <= d1 + 1e-9 {
        let v = 10f64.powf(d);
        let yy = y(v);
        let label = if v >= 1.0 {
            format!("{v:.0} ms")
        } else {
            format!("{v} ms")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{yy}" x2="{}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{label}</text>"##,
            ox + ML,
            ox + ML + pw,
            ox + ML - 4.0,
            yy + 3.0
        );
        d += 1.0;
    }
    for (q, label) in [
        (0.5, "p50"),
        (0.9, "p90"),
        (0.99, "p99"),
        (0.999, "p99.9"),
        (0.9999, "p99.99"),
        (1.0, "max"),
    ] {
        let xx = x(q);
        let _ = writeln!(
            s,
            r##"<line x1="{xx}" y1="{}" x2="{xx}" y2="{}" stroke="#eee"/><text x="{xx}" y="{}" text-anchor="middle">{label}</text>"##,
            oy + MT,
            oy + MT + ph,
            oy + MT + ph + 14.0
        );
    }
    for (k, se) in p.series.iter().enumerate() {
        let pts: Vec<String> = se
            .points
            .iter()
            .filter(|&&(q, _)| q >= 0.5)
            .map(|&(q, v)| format!("{:.1},{:.1}", x(q), y(v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            se.color,
            pts.join(" ")
        );
        let ly = oy + MT + 12.0 + 12.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            ox + ML + 6.0,
            ly - 3.0,
            ox + ML + 22.0,
            ly - 3.0,
            se.color,
            ox + ML + 26.0,
            ly,
            esc(&se.label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_well_formed_svg() {
        let p = Panel {
            title: "put <1 client>".into(),
            series: vec![Series {
                label: "kv".into(),
                color: "#d62728",
                points: vec![(0.5, 1.0), (0.99, 3.0), (1.0, 9.0)],
            }],
        };
        let svg = render("t", &[p]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("&lt;1 client&gt;"));
        assert!(svg.contains("<polyline"));
    }
}

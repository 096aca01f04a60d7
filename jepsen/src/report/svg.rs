//! Hand-written SVG timeline: one lane per client process, one bar per op from invoke to
//! completion (colour = kind and outcome), fault intervals as shaded bands, and the ops of any
//! counterexample outlined.

use crate::history::{Call, Fault, Op, Outcome};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

const W: f64 = 1400.0;
const LEFT: f64 = 60.0;
const LANE: f64 = 12.0;
const TOP: f64 = 40.0;
/// Above this many ops, ok ops are drawn aggregated.
const MAX_DRAWN: usize = 30_000;
/// Process ids from here on are the harness's own end-of-run reads.
pub const FINAL_PROCESS: usize = 1_000_000;

fn color(op: &Op) -> &'static str {
    match op.outcome {
        Some(Outcome::Fail) => "#d9534f",
        Some(Outcome::Info) | None => "#f0ad4e",
        Some(Outcome::Ok) if op.anomaly => "#8e44ad",
        Some(Outcome::Ok) => match op.call {
            Call::Get { .. } | Call::Range => "#4a90d9",
            _ => "#2e9d4f",
        },
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn render(ops: &[Op], faults: &[Fault], highlight: &HashSet<usize>, end_ns: u64) -> String {
    let end = end_ns.max(1) as f64;
    let x = |t: u64| LEFT + (t as f64 / end) * (W - LEFT - 10.0);
    let lanes: BTreeMap<usize, usize> = {
        let mut ps: Vec<usize> = ops.iter().map(|o| o.process).collect();
        ps.sort_unstable();
        ps.dedup();
        ps.into_iter().enumerate().map(|(i, p)| (p, i)).collect()
    };
    let height = TOP + LANE * lanes.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="monospace" font-size="10">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for f in faults {
        let (x0, x1) = (x(f.start), x(f.end.unwrap_or(end_ns)));
        let fill = match f.kind.as_str() {
            "kill" => "#e74c3c",
            "pause" => "#3498db",
            "member" => "#16a085",
            _ => "#9b59b6",
        };
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{}" width="{:.1}" height="{}" fill="{fill}" opacity="0.15"><title>{}</title></rect>"#,
            TOP - 12.0,
            (x1 - x0).max(1.0),
            LANE * lanes.len() as f64 + 12.0,
            esc(&format!("{} {}", f.kind, f.detail))
        );
        let _ = writeln!(
            s,
            r#"<text x="{x0:.1}" y="{}" fill="{fill}">{}</text>"#,
            TOP - 14.0,
            esc(&f.kind)
        );
    }
    for (p, lane) in &lanes {
        let label = if *p >= FINAL_PROCESS {
            "end".to_string()
        } else {
            format!("p{p}")
        };
        let _ = writeln!(
            s,
            r#"<text x="4" y="{}">{label}</text>"#,
            TOP + LANE * *lane as f64 + 9.0
        );
    }
    // Large histories: completed ok ops are merged into per-lane pixel runs; everything else
    // (fail, info, counterexample ops) is still drawn one by one.
    let aggregate = ops.len() > MAX_DRAWN;
    if aggregate {
        let cols = (W - LEFT) as usize;
        let mut busy = vec![vec![false; cols + 1]; lanes.len()];
        for op in ops.iter().filter(|o| o.is_ok() && !highlight.contains(&o.id)) {
            let lane = lanes.get(&op.process).copied().unwrap_or(0);
            let (a, b) = (x(op.invoke) - LEFT, x(op.complete.unwrap_or(end_ns)) - LEFT);
            let (a, b) = (a.max(0.0) as usize, (b.max(0.0) as usize).min(cols));
            if a <= b {
                busy[lane][a..=b].iter_mut().for_each(|x| *x = true);
            }
        }
        for (lane, row) in busy.iter().enumerate() {
            let mut c = 0;
            while c < row.len() {
                if !row[c] {
                    c += 1;
                    continue;
                }
                let start = c;
                while c < row.len() && row[c] {
                    c += 1;
                }
                let _ = writeln!(
                    s,
                    r#"<rect x="{}" y="{:.1}" width="{}" height="{}" fill="gray" opacity="0.5"/>"#,
                    LEFT + start as f64,
                    TOP + LANE * lane as f64 + 1.0,
                    c - start,
                    LANE - 2.0
                );
            }
        }
    }
    for op in ops
        .iter()
        .filter(|o| !aggregate || !o.is_ok() || highlight.contains(&o.id))
    {
        let lane = lanes.get(&op.process).copied().unwrap_or(0);
        let (x0, x1) = (x(op.invoke), x(op.complete.unwrap_or(end_ns)));
        let y = TOP + LANE * lane as f64 + 1.0;
        let stroke = if highlight.contains(&op.id) {
            r#" stroke="black" stroke-width="2""#
        } else {
            ""
        };
        let title = format!("#{} {:?} {:?} {:?} {:?}", op.id, op.call, op.outcome, op.ret, op.error);
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.2}" y="{y:.1}" width="{:.2}" height="{}" fill="{}"{stroke}><title>{}</title></rect>"#,
            (x1 - x0).max(0.8),
            LANE - 2.0,
            color(op),
            esc(&title)
        );
    }
    // Time axis, a tick every 5 s.
    let axis_y = TOP + LANE * lanes.len() as f64 + 14.0;
    let secs = (end_ns / 1_000_000_000) as usize;
    for t in (0..=secs).step_by(5) {
        let xx = x(t as u64 * 1_000_000_000);
        let _ = writeln!(
            s,
            r#"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{}" stroke="gray"/>"#,
            axis_y - 6.0,
            axis_y
        );
        let _ = writeln!(s, r#"<text x="{xx:.1}" y="{}">{t}s</text>"#, axis_y + 12.0);
    }
    let legend = [
        ("#4a90d9", "read ok"),
        ("#2e9d4f", "write ok"),
        ("#d9534f", "fail"),
        ("#f0ad4e", "info"),
        ("#8e44ad", "anomaly read"),
    ];
    for (i, (c, l)) in legend.iter().enumerate() {
        let lx = LEFT + i as f64 * 110.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="4" width="10" height="10" fill="{c}"/><text x="{}" y="13">{l}</text>"#,
            lx + 14.0
        );
    }
    s.push_str("</svg>\n");
    s
}

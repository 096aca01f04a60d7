//! The run's report under the store directory: `history.jsonl` (invoke / completion events),
//! `faults.json`, `watch.json`, `summary.json`, `summary.txt` and `timeline.svg`; plus the
//! text summary printed to stdout.

pub mod svg;

use crate::checker::durability::DurabilityReport;
use crate::checker::watch::WatchReport;
use crate::checker::LinearReport;
use crate::history::{Call, Fault, Op, Outcome, Ret};
use crate::workload::watcher::WatchLog;
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub params: serde_json::Value,
    pub ops: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub faults: usize,
    /// Per op name: count and latency percentiles (ms) over ok ops.
    pub latency_ms: BTreeMap<String, Latency>,
    pub linear: LinearReport,
    pub watch: WatchReport,
    pub durability: DurabilityReport,
    pub valid: bool,
}

#[derive(Debug, Serialize, Clone, Copy)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn latency(mut xs: Vec<u64>) -> Latency {
    xs.sort_unstable();
    let q = |p: f64| -> f64 {
        if xs.is_empty() {
            return 0.0;
        }
        let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
        xs[i.min(xs.len() - 1)] as f64 / 1e6
    };
    Latency {
        count: xs.len(),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        max: q(1.0),
    }
}

pub fn latencies(ops: &[Op]) -> BTreeMap<String, Latency> {
    let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.is_ok()) {
        if let Some(l) = op.latency() {
            by.entry(op.call.name().to_string()).or_default().push(l);
            by.entry("all".into()).or_default().push(l);
        }
    }
    by.into_iter().map(|(k, v)| (k, latency(v))).collect()
}

/// One op as a line, times relative to the run start.
pub fn format_op(op: &Op) -> String {
    let secs = |ns: u64| ns as f64 / 1e9;
    let call = match &op.call {
        Call::Get { key } => format!("get k{key}"),
        Call::Range => "range".into(),
        Call::Put { key, value } => format!("put k{key} {value}"),
        Call::CasValue { key, expect, value } => format!("cas k{key} value {expect:?} -> {value}"),
        Call::CasRev {
            key,
            rev,
            expect,
            value,
        } => {
            format!("cas k{key} mod_rev {rev} (value {expect:?}) -> {value}")
        }
        Call::Delete { key } => format!("delete k{key}"),
    };
    let ret = match (&op.outcome, &op.ret) {
        (Some(Outcome::Ok), Some(r)) => match r {
            Ret::Get { kv, rev } => format!(
                "ok {:?} (mod_rev {:?}) rev {rev}",
                kv.map(|k| k.value),
                kv.map(|k| k.mod_rev)
            ),
            Ret::Range { kvs, rev } => {
                let v: Vec<String> = kvs.iter().map(|(k, kv)| format!("k{k}={}", kv.value)).collect();
                format!("ok [{}] rev {rev}", v.join(" "))
            }
            Ret::Put { prev, rev } => format!("ok prev {prev:?} rev {rev}"),
            Ret::Cas {
                succeeded,
                current,
                rev,
            } => {
                if *succeeded {
                    format!("ok applied rev {rev}")
                } else {
                    format!("ok compare failed, current {:?} rev {rev}", current.map(|k| k.value))
                }
            }
            Ret::Delete { prev, rev } => format!("ok prev {prev:?} rev {rev}"),
        },
        (o, _) => format!("{:?} {}", o.unwrap_or(Outcome::Info), op.error.as_deref().unwrap_or("")).to_lowercase(),
    };
    let complete = op
        .complete
        .map_or("      ?".to_string(), |c| format!("{:8.3}", secs(c)));
    let member = op.member.map_or("-".to_string(), |m| format!("m{m}"));
    let process = if op.process >= svg::FINAL_PROCESS {
        "end".to_string()
    } else {
        format!("p{}", op.process)
    };
    let anomaly = if op.anomaly {
        " [serializable read recorded as linearizable]"
    } else {
        ""
    };
    format!(
        "  #{:<6} {:8.3}s..{}s {process:<4} {member:<3} {call:<44} {ret}{anomaly}",
        op.id,
        secs(op.invoke),
        complete,
    )
}

/// Human summary; ends without the verdict line (the caller prints it last).
pub fn text(s: &Summary, faults: &[Fault]) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "== summary ==");
    let _ = writeln!(t, "params: {}", s.params);
    let _ = writeln!(t, "ops: {} (ok {}, fail {}, info {})", s.ops, s.ok, s.fail, s.info);
    let _ = writeln!(t, "latency ms (ok ops):     count      p50      p90      p99      max");
    for (k, l) in &s.latency_ms {
        let _ = writeln!(
            t,
            "  {k:<20} {:>8} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            l.count, l.p50, l.p90, l.p99, l.max
        );
    }
    let _ = writeln!(t, "faults: {}", s.faults);
    for f in faults {
        let end = f.end.map_or("?".into(), |e| format!("{:.1}", e as f64 / 1e9));
        let _ = writeln!(t, "  {:7.1}s..{end}s {:<9} {}", f.start as f64 / 1e9, f.kind, f.detail);
    }
    let l = &s.linear;
    let _ = writeln!(
        t,
        "linearizability: {} ({} keys, {} invalid, {} unknown, {} ms; {} info writes shown \
         ineffective by the final history)",
        if l.valid { "valid" } else { "INVALID" },
        l.keys,
        l.invalid_keys.len(),
        l.unknown_keys.len(),
        l.check_ms,
        l.info_resolved
    );
    for ce in &l.counterexamples {
        let _ = writeln!(
            t,
            "  counterexample on k{} ({} ops, real-time order):",
            ce.key,
            ce.ops.len()
        );
        for op in &ce.ops {
            let _ = writeln!(t, "  {}", format_op(op));
        }
    }
    let w = &s.watch;
    let _ = writeln!(
        t,
        "watch: {} ({} watchers, {} events, {} broken streams, {} resumes, {} progress notifications)",
        if w.valid { "valid" } else { "INVALID" },
        w.watchers,
        w.events,
        w.breaks,
        w.resumes,
        w.progress
    );
    for p in w.problems.iter().take(20) {
        let _ = writeln!(t, "  {p}");
    }
    let d = &s.durability;
    let _ = writeln!(
        t,
        "durability: {} ({} acknowledged writes, {} lost; {} of {} info writes applied)",
        if d.valid { "valid" } else { "INVALID" },
        d.acked,
        d.lost,
        d.info_applied,
        d.info_total
    );
    for p in d.problems.iter().take(20) {
        let _ = writeln!(t, "  {p}");
    }
    t
}

/// Writes every report file.
pub fn write(
    dir: &Path,
    s: &Summary,
    ops: &[Op],
    faults: &[Fault],
    watches: &[WatchLog],
    summary_text: &str,
    end_ns: u64,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut hist = String::new();
    // Events in time order: invoke and completion records.
    let mut events: Vec<(u64, serde_json::Value)> = Vec::new();
    for op in ops {
        events.push((
            op.invoke,
            serde_json::json!({"type": "invoke", "time": op.invoke, "id": op.id, "process": op.process, "member": op.member, "call": op.call, "anomaly": op.anomaly}),
        ));
        let kind = match op.outcome {
            Some(Outcome::Ok) => "ok",
            Some(Outcome::Fail) => "fail",
            _ => "info",
        };
        events.push((
            op.complete.unwrap_or(end_ns),
            serde_json::json!({"type": kind, "time": op.complete, "id": op.id, "process": op.process, "ret": op.ret, "error": op.error}),
        ));
    }
    events.sort_by_key(|(t, _)| *t);
    for (_, e) in events {
        hist.push_str(&e.to_string());
        hist.push('\n');
    }
    std::fs::write(dir.join("history.jsonl"), hist)?;
    std::fs::write(dir.join("faults.json"), serde_json::to_string_pretty(faults)?)?;
    std::fs::write(dir.join("watch.json"), serde_json::to_string(watches)?)?;
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(s)?)?;
    std::fs::write(dir.join("summary.txt"), summary_text)?;
    let highlight: HashSet<usize> = s
        .linear
        .counterexamples
        .iter()
        .flat_map(|c| c.ops.iter().map(|o| o.id))
        .collect();
    std::fs::write(dir.join("timeline.svg"), svg::render(ops, faults, &highlight, end_ns))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let l = latency((1..=100).map(|ms| ms * 1_000_000).collect());
        assert_eq!(l.count, 100);
        assert!((l.p50 - 51.0).abs() < 1.01, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 1.01, "{l:?}");
        assert_eq!(l.max, 100.0);
        assert_eq!(latency(Vec::new()).count, 0);
    }

    #[test]
    fn svg_is_well_formed_and_marks_counterexamples() {
        let op = Op {
            id: 0,
            process: 1,
            member: Some(0),
            call: Call::Get { key: 0 },
            invoke: 1_000,
            complete: Some(2_000_000),
            outcome: Some(Outcome::Ok),
            ret: Some(Ret::Get { kv: None, rev: 1 }),
            error: None,
            anomaly: false,
        };
        let fault = Fault {
            kind: "kill".into(),
            detail: "SIGKILL <m0>".into(),
            start: 0,
            end: Some(5),
        };
        let svg = svg::render(&[op], &[fault], &HashSet::from([0]), 10_000_000);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("stroke=\"black\""));
        assert!(svg.contains("&lt;m0&gt;"));
    }
}

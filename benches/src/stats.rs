//! Latency histograms, error tallies and the report a run prints (text or JSON).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency the histograms track: 120 s, in µs.
const MAX_US: u64 = 120_000_000;

/// The quantiles the distribution (and the plot) is sampled at.
pub const QUANTILES: [f64; 11] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0];

/// Per-task tally: successes into a histogram, failures by kind.
#[derive(Clone)]
pub struct Recorder {
    pub hist: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            hist: new_hist(),
            errors: BTreeMap::new(),
        }
    }

    pub fn ok(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_US);
        // Clamped into range, so recording cannot fail.
        let _ = self.hist.record(us);
    }

    pub fn err(&mut self, kind: impl Into<String>) {
        let mut k: String = kind.into();
        k.truncate(160);
        *self.errors.entry(k).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    pub fn oks(&self) -> u64 {
        self.hist.len()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid")
}

/// Latency summary, milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// `(quantile, latency ms)` pairs at [`QUANTILES`].
pub fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    QUANTILES
        .iter()
        .map(|&q| (q, h.value_at_quantile(q) as f64 / 1000.0))
        .collect()
}

/// What one run measured; `--json` prints exactly this.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub workload: String,
    pub endpoints: Vec<String>,
    pub clients: usize,
    pub conns: usize,
    /// Successful requests (for watch workloads: events delivered).
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failures by kind (`gRPC code: message`).
    pub error_kinds: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    /// Successful requests per second of wall time.
    pub throughput: f64,
    pub latency_ms: Latency,
    /// `(quantile, ms)` samples of the latency distribution.
    pub distribution: Vec<(f64, f64)>,
    /// Workload-specific counters (conflicts, pages, events, …).
    pub extra: BTreeMap<String, f64>,
}

impl Report {
    pub fn new(workload: &str, rec: &Recorder, elapsed: Duration) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            workload: workload.to_string(),
            ok: rec.oks(),
            errors: rec.error_count(),
            error_kinds: rec.errors.clone(),
            elapsed_s: elapsed.as_secs_f64(),
            throughput: rec.oks() as f64 / secs,
            latency_ms: Latency::of(&rec.hist),
            distribution: distribution(&rec.hist),
            ..Default::default()
        }
    }

    /// The human-readable summary, in the spirit of etcd's `benchmark`.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "\nSummary: {} ({} clients, {} conns, {})",
            self.workload,
            self.clients,
            self.conns,
            self.endpoints.join(",")
        );
        let _ = writeln!(s, "  Total:       {:.4} s", self.elapsed_s);
        let _ = writeln!(s, "  Requests:    {} ok, {} errors", self.ok, self.errors);
        let _ = writeln!(s, "  Throughput:  {:.1} req/s", self.throughput);
        let _ = writeln!(
            s,
            "  Latency ms:  mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            l.mean, l.p50, l.p90, l.p99, l.p999, l.max
        );
        for (k, v) in &self.extra {
            let _ = writeln!(s, "  {k}: {v}");
        }
        if !self.error_kinds.is_empty() {
            let _ = writeln!(s, "  Errors:");
            for (k, v) in &self.error_kinds {
                let _ = writeln!(s, "    {v} × {k}");
            }
        }
        s
    }
}

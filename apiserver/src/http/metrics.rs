//! `/metrics`: request counters and latency sums in Prometheus text format.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Default)]
struct Counter {
    count: u64,
    seconds: f64,
}

pub struct Metrics {
    started: Instant,
    requests: Mutex<BTreeMap<(String, String, u16), Counter>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    pub fn observe(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        let mut g = match self.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let c = g.entry((verb.to_string(), resource.to_string(), code)).or_default();
        c.count += 1;
        c.seconds += seconds;
    }

    pub fn render(&self) -> String {
        let g = match self.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, resource and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, res, code), c) in g.iter() {
            out.push_str(&format!(
                "apiserver_request_total{{code=\"{code}\",resource=\"{res}\",verb=\"{verb}\"}} {}\n",
                c.count
            ));
        }
        out.push_str("# HELP apiserver_request_duration_seconds_sum Total seconds spent serving requests.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds_sum counter\n");
        for ((verb, res, code), c) in g.iter() {
            out.push_str(&format!(
                "apiserver_request_duration_seconds_sum{{code=\"{code}\",resource=\"{res}\",verb=\"{verb}\"}} {:.6}\n",
                c.seconds
            ));
        }
        out.push_str("# HELP process_uptime_seconds Seconds since the apiserver started.\n");
        out.push_str("# TYPE process_uptime_seconds gauge\n");
        out.push_str(&format!(
            "process_uptime_seconds {:.3}\n",
            self.started.elapsed().as_secs_f64()
        ));
        out
    }
}

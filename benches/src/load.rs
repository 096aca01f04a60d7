//! Connections and the request driver: `clients` tasks share `conns` HTTP/2 connections and
//! issue requests back to back (closed loop) or on a global schedule (`--rate`). A run ends
//! after `total` requests or `duration`, and never later than `max_time`.

use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tonic::transport::{Channel, Endpoint};

use crate::stats::{Recorder, Report};

/// How much load, from how many clients, for how long.
#[derive(Clone, Debug)]
pub struct LoadOpts {
    pub endpoints: Vec<String>,
    pub clients: usize,
    pub conns: usize,
    /// Stop after this many requests (None with `duration` set: unbounded by count).
    pub total: Option<u64>,
    pub duration: Option<Duration>,
    /// Requests per second over all clients; 0 = as fast as possible.
    pub rate: f64,
    /// Hard wall-clock limit for any run.
    pub max_time: Duration,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
}

impl LoadOpts {
    pub fn new(endpoints: Vec<String>, clients: usize, conns: usize, total: u64) -> Self {
        LoadOpts {
            endpoints,
            clients,
            conns,
            total: Some(total),
            duration: None,
            rate: 0.0,
            max_time: Duration::from_secs(300),
            progress: false,
        }
    }

    pub fn clients(&self) -> usize {
        self.clients.max(1)
    }

    pub fn conns(&self) -> usize {
        self.conns.clamp(1, self.clients())
    }
}

/// `http://` in front of a bare `host:port`.
pub fn url(endpoint: &str) -> String {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    }
}

/// One HTTP/2 connection to `endpoint`.
pub async fn connect_one(endpoint: &str) -> Result<Channel> {
    let ep = Endpoint::from_shared(url(endpoint))
        .with_context(|| format!("bad endpoint {endpoint}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    ep.connect().await.with_context(|| format!("connecting to {endpoint}"))
}

/// `n` connections, spread round-robin over the endpoints.
pub async fn connect(endpoints: &[String], n: usize) -> Result<Vec<Channel>> {
    anyhow::ensure!(!endpoints.is_empty(), "no endpoints");
    let mut out = Vec::with_capacity(n);
    for i in 0..n.max(1) {
        out.push(connect_one(&endpoints[i % endpoints.len()]).await?);
    }
    Ok(out)
}

/// One client's request loop body. `seq` numbers requests over the whole run.
pub trait Worker: Send + 'static {
    fn call(&mut self, seq: u64) -> impl Future<Output = Result<(), String>> + Send;
}

/// The progress bar: hidden unless asked for and stderr is a terminal.
pub fn progress_bar(show: bool, len: u64, msg: &str) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>14} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})")
    {
        pb.set_style(style);
    }
    pb.set_message(msg.to_string());
    pb
}

/// Runs `workers` (one task each) under `opts`; returns the merged tally as a report.
pub async fn drive<W: Worker>(name: &str, opts: &LoadOpts, workers: Vec<W>) -> Result<(Report, Recorder)> {
    let start = Instant::now();
    let limit = match opts.duration {
        Some(d) => d.min(opts.max_time),
        None => opts.max_time,
    };
    let deadline = start + limit;
    let total = opts
        .total
        .unwrap_or(if opts.duration.is_some() { u64::MAX } else { 10_000 });
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let pb = match opts.duration {
        Some(d) if opts.total.is_none() => progress_bar(opts.progress, d.as_secs(), name),
        _ => progress_bar(opts.progress, total, name),
    };
    let by_time = opts.duration.is_some() && opts.total.is_none();
    let ticker = {
        let pb = pb.clone();
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if by_time {
                    pb.set_position(start.elapsed().as_secs());
                } else {
                    pb.set_position(done.load(Ordering::Relaxed));
                }
            }
        })
    };
    let rate = opts.rate;
    let cut = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(workers.len());
    for mut w in workers {
        let next = next.clone();
        let done = done.clone();
        let cut = cut.clone();
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::new();
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= total || Instant::now() >= deadline {
                    break;
                }
                if rate > 0.0 {
                    let at = start + Duration::from_secs_f64(seq as f64 / rate);
                    if at >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                }
                let t0 = Instant::now();
                let r = tokio::time::timeout_at(deadline.into(), w.call(seq)).await;
                match r {
                    Ok(Ok(())) => rec.ok(t0.elapsed()),
                    Ok(Err(e)) => rec.err(e),
                    Err(_) => {
                        // Cut off by the run's time limit: neither a success nor an error.
                        cut.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            rec
        }));
    }
    let mut rec = Recorder::new();
    for t in tasks {
        rec.merge(&t.await.context("client task panicked")?);
    }
    let elapsed = start.elapsed();
    ticker.abort();
    pb.finish_and_clear();
    let mut report = Report::new(name, &rec, elapsed);
    report.endpoints = opts.endpoints.clone();
    report.clients = opts.clients();
    report.conns = opts.conns();
    let cut = cut.load(Ordering::Relaxed);
    if cut > 0 {
        report.extra.insert("cut_at_time_limit".into(), cut as f64);
    }
    Ok((report, rec))
}

/// A gRPC status as an error kind: `Code: message`.
pub fn status_kind(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

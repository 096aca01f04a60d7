//! Connections and the request driver: `clients` tasks share `conns` HTTP/2 connections and
//! issue requests back to back (closed loop) or on a global schedule (`--rate`). A run ends
//! after `total` requests or `duration`, and never later than `max_time`.

use std::fs;
use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

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
    /// TLS for every connection (None: plain http).
    pub tls: Option<ClientTls>,
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
            tls: None,
        }
    }

    pub fn clients(&self) -> usize {
        self.clients.max(1)
    }

    pub fn conns(&self) -> usize {
        self.conns.clamp(1, self.clients())
    }
}

/// Client-side TLS for every connection of a run: the CA that signed the servers'
/// certificates and, for servers with `--client-cert-auth`, a client certificate and key
/// (etcdctl's `--cacert`, `--cert`, `--key`).
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: ClientTlsConfig,
    /// The files it was read from, for the record (`--cacert … --cert … --key …`).
    pub files: TlsFiles,
}

/// Paths of the PEM files behind a [`ClientTls`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether any TLS option was given.
    pub fn any(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// The same options as command-line flags (empty if none).
    pub fn flags(&self) -> String {
        let mut s = String::new();
        for (flag, p) in [("--cacert", &self.cacert), ("--cert", &self.cert), ("--key", &self.key)] {
            if let Some(p) = p {
                s.push_str(&format!(" {flag} {}", p.display()));
            }
        }
        s
    }
}

impl ClientTls {
    /// Reads the PEM files. `--cacert` is required (no system roots are compiled in);
    /// `--cert` and `--key` go together.
    pub fn from_files(files: &TlsFiles) -> Result<ClientTls> {
        let read = |p: &Path| fs::read(p).with_context(|| format!("read {}", p.display()));
        let ca = files
            .cacert
            .as_deref()
            .context("TLS needs --cacert (the CA that signed the server certificates)")?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => anyhow::bail!("--cert and --key must be given together"),
        }
        Ok(ClientTls {
            config,
            files: files.clone(),
        })
    }
}

/// The URL of `endpoint`: `host:port` gets `https://` with TLS and `http://` without; an
/// explicit scheme is kept, but `https://` needs TLS options and `http://` must not get them.
pub fn url(endpoint: &str, tls: bool) -> Result<String> {
    if endpoint.starts_with("https://") {
        anyhow::ensure!(
            tls,
            "{endpoint} is https: give --cacert (and --cert/--key for client-cert auth)"
        );
        Ok(endpoint.to_string())
    } else if endpoint.starts_with("http://") {
        anyhow::ensure!(!tls, "{endpoint} is plain http but TLS options were given");
        Ok(endpoint.to_string())
    } else if endpoint.contains("://") {
        anyhow::bail!("endpoint {endpoint}: only http:// and https:// are supported")
    } else if tls {
        Ok(format!("https://{endpoint}"))
    } else {
        Ok(format!("http://{endpoint}"))
    }
}

/// One HTTP/2 connection to `endpoint`, over TLS when `tls` is given.
pub async fn connect_one(endpoint: &str, tls: Option<&ClientTls>) -> Result<Channel> {
    let mut ep = Endpoint::from_shared(url(endpoint, tls.is_some())?)
        .with_context(|| format!("bad endpoint {endpoint}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if let Some(t) = tls {
        ep = ep
            .tls_config(t.config.clone())
            .with_context(|| format!("TLS for {endpoint}"))?;
    }
    ep.connect().await.with_context(|| format!("connecting to {endpoint}"))
}

/// `n` connections, spread round-robin over the endpoints.
pub async fn connect(endpoints: &[String], n: usize, tls: Option<&ClientTls>) -> Result<Vec<Channel>> {
    anyhow::ensure!(!endpoints.is_empty(), "no endpoints");
    let mut out = Vec::with_capacity(n);
    for i in 0..n.max(1) {
        out.push(connect_one(&endpoints[i % endpoints.len()], tls).await?);
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

#[cfg(test)]
mod tests {
    use super::{url, ClientTls, TlsFiles};

    #[test]
    fn endpoint_schemes() {
        assert_eq!(
            url("127.0.0.1:2379", false).ok().as_deref(),
            Some("http://127.0.0.1:2379")
        );
        assert_eq!(
            url("127.0.0.1:2379", true).ok().as_deref(),
            Some("https://127.0.0.1:2379")
        );
        assert_eq!(url("https://h:1", true).ok().as_deref(), Some("https://h:1"));
        assert_eq!(url("http://h:1", false).ok().as_deref(), Some("http://h:1"));
        assert!(url("https://h:1", false).is_err(), "https without --cacert");
        assert!(url("http://h:1", true).is_err(), "TLS options with an http URL");
        assert!(url("unix://sock", false).is_err());
    }

    #[test]
    fn tls_options_are_checked() {
        let no_ca = TlsFiles {
            cacert: None,
            cert: Some("c.pem".into()),
            key: Some("k.pem".into()),
        };
        assert!(ClientTls::from_files(&no_ca).is_err());
        let missing = TlsFiles {
            cacert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(ClientTls::from_files(&missing).is_err());
        assert_eq!(no_ca.flags(), " --cert c.pem --key k.pem");
    }
}

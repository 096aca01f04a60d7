//! `kv-bench compare`: start etcd and kv with the same flags on fresh data dirs on the same
//! disk, run each workload against etcd then kv (round after round, so noise hits both),
//! kill leaders under load (clusters), and write one report per configuration
//! (`benches/results/<name>.{md,json,svg}`) plus its section of `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::certs;
use crate::failover::{self, Failover, FailoverOpts};
use crate::load::{ClientTls, LoadOpts};
use crate::report;
use crate::server::{proc_cpu_seconds, Cluster, Kind, StartOpts};
use crate::stats::{Latency, Recorder, Report};
use crate::workloads::{self, MixedOpts, RangeOpts, Shape, WatchOpts};

/// What `compare` runs and where it writes.
#[derive(Clone, Debug)]
pub struct CompareOpts {
    pub members: usize,
    pub etcd_bin: PathBuf,
    pub kv_bin: PathBuf,
    /// How the kv binary was built (recorded when given).
    pub kv_built_from: Option<String>,
    pub rounds: usize,
    /// Multiplies every workload's request count.
    pub scale: f64,
    /// TLS on the client port (generated CA, server and client certificates) and the TLS
    /// workload set: put/range over TLS and, for reference, the same over plain http.
    pub tls: bool,
    /// Leader kills per server (clusters only; 0 = none).
    pub failovers: usize,
    /// `--heartbeat-interval` and `--election-timeout` of every member, ms.
    pub heartbeat_ms: u64,
    pub election_ms: u64,
    /// Parent of the fresh data dirs (same disk for both servers).
    pub data_root: PathBuf,
    /// The configuration's name: `benches/results/<name>.*` and its `BENCHMARKS.md` section.
    pub name: String,
    /// `BENCHMARKS.md`: only this configuration's section is replaced (or appended).
    pub out_md: PathBuf,
    /// Where `<name>.md`, `<name>.json` and `<name>.svg` go.
    pub results_dir: PathBuf,
    /// The workspace (for `git log -1`, recorded with the numbers).
    pub source_dir: PathBuf,
    /// Only these workload ids (empty = all).
    pub only: Vec<String>,
    /// Keep data dirs and server logs.
    pub keep: bool,
    pub progress: bool,
    /// The command line, for the record.
    pub argv: String,
}

impl CompareOpts {
    /// The default configuration name: `1-member`, `3-member`, `1-member-tls`, …
    pub fn default_name(members: usize, tls: bool) -> String {
        format!("{members}-member{}", if tls { "-tls" } else { "" })
    }

    pub fn out_report(&self) -> PathBuf {
        self.results_dir.join(format!("{}.md", self.name))
    }

    pub fn out_json(&self) -> PathBuf {
        self.results_dir.join(format!("{}.json", self.name))
    }

    pub fn out_svg(&self) -> PathBuf {
        self.results_dir.join(format!("{}.svg", self.name))
    }
}

/// The kinds of load a comparison row runs.
#[derive(Clone, Debug)]
pub enum Spec {
    Put,
    Range { serializable: bool },
    TxnPut,
    Watch { watchers: usize, streams: usize },
    LeaseKeepAlive,
    Mixed,
}

/// One row of the comparison.
#[derive(Clone, Debug)]
pub struct WorkloadDef {
    pub id: &'static str,
    pub title: &'static str,
    pub spec: Spec,
    pub clients: usize,
    pub conns: usize,
    pub total: u64,
    pub rate: f64,
    pub shape: Shape,
    /// Over TLS with a client certificate (TLS configurations only).
    pub tls: bool,
}

impl WorkloadDef {
    /// The equivalent stand-alone `kv-bench` invocation.
    pub fn command(&self, endpoint: &str) -> String {
        let sub = match &self.spec {
            Spec::Put => "put".to_string(),
            Spec::Range { serializable } => format!(
                "range {}range --consistency {}",
                self.shape.prefix,
                if *serializable { "s" } else { "l" }
            ),
            Spec::TxnPut => "txn-put".into(),
            Spec::Watch { watchers, streams } => {
                format!("watch-fanout --watchers {watchers} --streams {streams}")
            }
            Spec::LeaseKeepAlive => "lease-keepalive".into(),
            Spec::Mixed => "mixed".into(),
        };
        let (endpoint, tls) = if self.tls {
            (
                format!("https://{endpoint}"),
                " --cacert ca.crt --cert client.crt --key client.key",
            )
        } else {
            (endpoint.to_string(), "")
        };
        let mut s = format!(
            "kv-bench --endpoints {endpoint}{tls} --clients {} --conns {} --total {} --key-size {} --val-size {} --key-space {} --prefix {}",
            self.clients,
            self.conns,
            self.total,
            self.shape.key_size,
            self.shape.val_size,
            self.shape.key_space,
            self.shape.prefix
        );
        if self.rate > 0.0 {
            let _ = write!(s, " --rate {}", self.rate);
        }
        let _ = write!(s, " {sub}");
        s
    }
}

/// Wall-clock cap of one workload run: a slow server ends early with fewer requests (its
/// throughput is still requests / elapsed), so a whole comparison stays within minutes.
pub const RUN_LIMIT: Duration = Duration::from_secs(25);

/// The standard set, request counts multiplied by `scale`.
pub fn standard_workloads(scale: f64) -> Vec<WorkloadDef> {
    let n = |base: u64| ((base as f64 * scale).round() as u64).max(10);
    let shape = |id: &str, key_space: u64| Shape {
        prefix: format!("bench/{id}/"),
        key_size: 8,
        val_size: 256,
        key_space,
        sequential: false,
    };
    let def = |id: &'static str, title, spec, clients, conns, total, rate, key_space| WorkloadDef {
        id,
        title,
        spec,
        clients,
        conns,
        total,
        rate,
        shape: shape(id, key_space),
        tls: false,
    };
    vec![
        def("put-1", "put, 1 client", Spec::Put, 1, 1, n(1_000), 0.0, 10_000),
        def("put-64", "put, 64 clients", Spec::Put, 64, 8, n(20_000), 0.0, 10_000),
        def(
            "put-256",
            "put, 256 clients",
            Spec::Put,
            256,
            16,
            n(40_000),
            0.0,
            10_000,
        ),
        def(
            "range-l-1",
            "range linearizable, 1 client",
            Spec::Range { serializable: false },
            1,
            1,
            n(500),
            0.0,
            1,
        ),
        def(
            "range-l-64",
            "range linearizable, 64 clients",
            Spec::Range { serializable: false },
            64,
            8,
            n(20_000),
            0.0,
            1,
        ),
        def(
            "range-s-64",
            "range serializable, 64 clients",
            Spec::Range { serializable: true },
            64,
            8,
            n(20_000),
            0.0,
            1,
        ),
        def(
            "txn-put-64",
            "txn-put (CAS), 64 clients",
            Spec::TxnPut,
            64,
            8,
            n(20_000),
            0.0,
            10_000,
        ),
        def(
            "watch-1",
            "watch latency, 1 watcher, 250 puts/s",
            Spec::Watch {
                watchers: 1,
                streams: 1,
            },
            1,
            1,
            n(500),
            250.0,
            1_000,
        ),
        def(
            "watch-100",
            "watch fan-out, 100 watchers, 250 puts/s",
            Spec::Watch {
                watchers: 100,
                streams: 10,
            },
            1,
            4,
            n(500),
            250.0,
            1_000,
        ),
        def(
            "lease-64",
            "lease keepalive, 64 clients",
            Spec::LeaseKeepAlive,
            64,
            8,
            n(20_000),
            0.0,
            1,
        ),
        def(
            "mixed-64",
            "mixed (k8s-like), 64 clients",
            Spec::Mixed,
            64,
            8,
            n(20_000),
            0.0,
            2_000,
        ),
    ]
}

/// The TLS set: put and linearizable range at 64 clients, each over plain http and over
/// TLS with a client certificate (to the same servers), request counts times `scale`.
pub fn tls_workloads(scale: f64) -> Vec<WorkloadDef> {
    let std = standard_workloads(scale);
    let pick = |id: &str| std.iter().find(|d| d.id == id).cloned();
    let mut out = Vec::new();
    for (id, tls_id, title, tls_title) in [
        (
            "put-64",
            "put-64-tls",
            "put, 64 clients, plain http",
            "put, 64 clients, TLS + client cert",
        ),
        (
            "range-l-64",
            "range-l-64-tls",
            "range linearizable, 64 clients, plain http",
            "range linearizable, 64 clients, TLS + client cert",
        ),
    ] {
        if let Some(mut plain) = pick(id) {
            plain.title = title;
            let mut tls = plain.clone();
            tls.id = tls_id;
            tls.title = tls_title;
            tls.shape.prefix = format!("bench/{tls_id}/");
            tls.tls = true;
            out.push(plain);
            out.push(tls);
        }
    }
    out
}

/// Runs one workload against `endpoints` (over TLS when `tls` is given).
pub async fn run_workload(
    def: &WorkloadDef,
    endpoints: &[String],
    tls: Option<ClientTls>,
    progress: bool,
) -> Result<(Report, Recorder)> {
    let mut opts = LoadOpts::new(endpoints.to_vec(), def.clients, def.conns, def.total);
    opts.rate = def.rate;
    opts.max_time = RUN_LIMIT;
    opts.progress = progress;
    opts.tls = tls;
    let (mut report, rec) = match &def.spec {
        Spec::Put => workloads::put(&opts, &def.shape).await?,
        Spec::Range { serializable } => {
            let r = RangeOpts {
                key: format!("{}range", def.shape.prefix).into_bytes(),
                range_end: Vec::new(),
                serializable: *serializable,
                limit: 0,
                count_only: false,
                prefill: 1,
            };
            workloads::range(&opts, &def.shape, &r).await?
        }
        Spec::TxnPut => workloads::txn_put(&opts, &def.shape).await?,
        Spec::Watch { watchers, streams } => {
            let w = WatchOpts {
                watchers: *watchers,
                streams: *streams,
                drain: Duration::from_secs(5),
            };
            workloads::watch(def.id, &opts, &def.shape, &w).await?
        }
        Spec::LeaseKeepAlive => workloads::lease_keepalive(&opts).await?,
        Spec::Mixed => workloads::mixed(&opts, &def.shape, &MixedOpts::default()).await?,
    };
    report.workload = def.id.to_string();
    Ok((report, rec))
}

/// 4 KiB write + fdatasync, `n` times: appending to a growing file, and overwriting
/// already-written blocks. Returns (append, overwrite) latency summaries.
pub fn fsync_probe(dir: &Path, n: usize) -> Result<(Latency, Latency)> {
    let block = vec![0xa5u8; 4096];
    let path = dir.join("fsync-probe");
    let mut append = Recorder::new();
    {
        let mut f = fs::File::create(&path).context("create fsync probe file")?;
        for _ in 0..n {
            let t = Instant::now();
            f.write_all(&block)?;
            f.sync_data()?;
            append.ok(t.elapsed());
        }
    }
    let mut over = Recorder::new();
    {
        let f = fs::OpenOptions::new().write(true).open(&path)?;
        f.sync_all()?;
        for i in 0..n {
            let t = Instant::now();
            f.write_all_at(&block, (i * 4096) as u64)?;
            f.sync_data()?;
            over.ok(t.elapsed());
        }
    }
    let _ = fs::remove_file(&path);
    Ok((Latency::of(&append.hist), Latency::of(&over.hist)))
}

/// Facts about the machine, for the record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub data_fs: String,
    pub load_before: String,
    pub load_after: String,
    pub etcd_version: String,
    pub kv_version: String,
    /// `git log -1` of the workspace when the run started (`hash subject`).
    pub git_head: String,
    /// Uncommitted changes to the server crates then (`git status --short`), if any.
    pub git_dirty: Vec<String>,
}

pub(crate) fn first_line_of(cmd: &Path, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn mount_of(path: &Path) -> String {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best = ("?".to_string(), 0usize);
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 && path.starts_with(f[1]) && f[1].len() >= best.1 {
            best = (format!("{} ({}) on {}", f[0], f[2], f[1]), f[1].len());
        }
    }
    best.0
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// CPU model, core count, total memory and kernel release of this machine.
pub(crate) fn cpu_memory_kernel() -> (String, usize, String, String) {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let mem = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1048576.0))
        .unwrap_or_default();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    (cpu, cores, mem, kernel)
}

impl Machine {
    fn probe(opts: &CompareOpts) -> Machine {
        let (cpu, cores, memory, kernel) = cpu_memory_kernel();
        Machine {
            cpu,
            cores,
            memory,
            kernel,
            data_fs: mount_of(&opts.data_root),
            load_before: loadavg(),
            load_after: String::new(),
            etcd_version: first_line_of(&opts.etcd_bin, "--version"),
            kv_version: first_line_of(&opts.kv_bin, "--version"),
            git_head: git(&opts.source_dir, &["log", "-1", "--format=%h %s"])
                .lines()
                .next()
                .unwrap_or("?")
                .to_string(),
            git_dirty: git(
                &opts.source_dir,
                &["status", "--short", "--", "kv", "raft-node", "wal", "proto"],
            )
            .lines()
            .map(str::to_string)
            .collect(),
        }
    }
}

/// `Report::extra` keys: CPU seconds the server's members, and this process (the load
/// generator), used during one run.
pub(crate) const SERVER_CPU: &str = "server_cpu_s";
pub(crate) const CLIENT_CPU: &str = "client_cpu_s";

/// All rounds of one workload on one server.
#[derive(Clone, Default)]
pub(crate) struct Agg {
    pub(crate) reports: Vec<Report>,
    pub(crate) rec: Recorder,
}

impl Agg {
    pub(crate) fn median_throughput(&self) -> f64 {
        failover::median(self.reports.iter().map(|r| r.throughput)).unwrap_or(0.0)
    }

    pub(crate) fn latency(&self) -> Latency {
        Latency::of(&self.rec.hist)
    }

    pub(crate) fn extra_sum(&self, k: &str) -> f64 {
        self.reports.iter().filter_map(|r| r.extra.get(k)).sum()
    }

    /// Microseconds of the CPU time recorded under `k` per successful request, over the
    /// rounds that recorded it.
    pub(crate) fn cpu_us_per_request(&self, k: &str) -> Option<f64> {
        let (cpu, ok) = self
            .reports
            .iter()
            .filter_map(|r| Some((*r.extra.get(k)?, r.ok)))
            .fold((0.0, 0u64), |(c, n), (rc, rn)| (c + rc, n + rn));
        (ok > 0).then(|| cpu * 1e6 / ok as f64)
    }
}

/// Per-server facts gathered after the runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerFacts {
    pub startup_s: f64,
    pub peak_rss: u64,
    pub data_size: u64,
    pub data_apparent: u64,
    pub keys: i64,
    pub restart_s: Option<f64>,
    /// One command line per member.
    pub commands: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Serialize)]
struct RawRun<'a> {
    round: usize,
    server: &'static str,
    report: &'a Report,
}

#[derive(Serialize)]
struct Raw<'a> {
    name: &'a str,
    members: usize,
    tls: bool,
    election_timeout_ms: u64,
    heartbeat_interval_ms: u64,
    machine: &'a Machine,
    fsync_append_ms: &'a Latency,
    fsync_overwrite_ms: &'a Latency,
    servers: BTreeMap<&'static str, &'a ServerFacts>,
    runs: Vec<RawRun<'a>>,
    failovers: &'a [Failover],
}

/// Everything one comparison measured, for the report writers.
pub(crate) struct Outcome<'a> {
    pub(crate) opts: &'a CompareOpts,
    pub(crate) machine: &'a Machine,
    pub(crate) fs_append: &'a Latency,
    pub(crate) fs_over: &'a Latency,
    pub(crate) defs: &'a [WorkloadDef],
    pub(crate) aggs: &'a BTreeMap<(&'static str, &'static str), Agg>,
    pub(crate) facts: &'a BTreeMap<&'static str, ServerFacts>,
    pub(crate) failovers: &'a [Failover],
    pub(crate) date: String,
}

/// Whether `c` still has every member running.
fn all_running(c: &mut Cluster) -> bool {
    c.members.iter_mut().all(|m| m.running())
}

/// The whole comparison. Writes the outputs and returns the report's markdown.
pub async fn run(opts: &CompareOpts) -> Result<String> {
    anyhow::ensure!(
        opts.etcd_bin.exists(),
        "etcd binary {} not found",
        opts.etcd_bin.display()
    );
    anyhow::ensure!(
        opts.kv_bin.exists(),
        "kv binary {} not found (build it: cargo build --release -p kv)",
        opts.kv_bin.display()
    );
    fs::create_dir_all(&opts.data_root)?;
    let tmp = tempfile::Builder::new()
        .prefix("kv-bench-compare-")
        .tempdir_in(&opts.data_root)
        .context("create data root")?;
    let root = tmp.path().to_path_buf();
    let mut machine = Machine::probe(opts);
    eprintln!("compare: data under {} ({})", root.display(), machine.data_fs);
    eprintln!("compare: workspace at {}", machine.git_head);
    if !machine.git_dirty.is_empty() {
        eprintln!("compare: uncommitted server changes: {:?}", machine.git_dirty);
    }

    let (fs_append, fs_over) = fsync_probe(&root, 300)?;
    eprintln!(
        "compare: fsync 4 KiB append p50 {:.3} ms, overwrite p50 {:.3} ms",
        fs_append.p50, fs_over.p50
    );

    let mut start = StartOpts {
        heartbeat_ms: opts.heartbeat_ms,
        election_ms: opts.election_ms,
        tls: None,
    };
    if opts.tls {
        let files = certs::generate(&root.join("certs"))?;
        eprintln!("compare: certificates in {}", root.join("certs").display());
        start.tls = Some(files.server_tls()?);
    }

    // Run both servers from private copies with other names, so that tooling on a shared
    // machine that stops stray servers by name (`pkill -x etcd`, as scripts/install-deps.sh
    // does) cannot hit them mid-run.
    fs::create_dir_all(root.join("bin"))?;
    let etcd_copy = root.join("bin").join("bench-srv-etcd");
    let kv_copy = root.join("bin").join("bench-srv-kv");
    for (from, to) in [(&opts.etcd_bin, &etcd_copy), (&opts.kv_bin, &kv_copy)] {
        fs::copy(from, to).with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
        eprintln!("compare: running {} as {}", from.display(), to.display());
    }
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut facts: BTreeMap<&'static str, ServerFacts> = BTreeMap::new();
    for k in [Kind::Etcd, Kind::Kv] {
        let bin = match k {
            Kind::Etcd => &etcd_copy,
            Kind::Kv => &kv_copy,
        };
        let mut c = Cluster::start_with(k, bin, opts.members, &root.join(k.name()), &start)?;
        let t = c.wait_ready(Duration::from_secs(30)).await?;
        facts.insert(
            k.name(),
            ServerFacts {
                startup_s: t.as_secs_f64(),
                commands: (0..opts.members).map(|i| c.command_line(i)).collect(),
                ..Default::default()
            },
        );
        clusters.push(c);
    }

    let set = if opts.tls {
        tls_workloads(opts.scale)
    } else {
        standard_workloads(opts.scale)
    };
    let defs: Vec<WorkloadDef> = set
        .into_iter()
        .filter(|d| opts.only.is_empty() || opts.only.iter().any(|o| o == d.id))
        .collect();
    let mut aggs: BTreeMap<(&'static str, &'static str), Agg> = BTreeMap::new();
    let mut raw_runs: Vec<(usize, &'static str, Report)> = Vec::new();
    let mut dead: Vec<&'static str> = Vec::new();
    for round in 0..opts.rounds.max(1) {
        for def in &defs {
            for c in clusters.iter_mut() {
                let name = c.kind.name();
                if dead.contains(&name) {
                    continue;
                }
                let (eps, tls) = if def.tls {
                    (c.endpoints(), c.client_tls.clone())
                } else {
                    (c.plain_endpoints(), None)
                };
                let cpu_before = (c.cpu_seconds(), proc_cpu_seconds("/proc/self/stat"));
                let mut res = run_workload(def, &eps, tls, opts.progress).await;
                if let Ok((report, _)) = &mut res {
                    report.extra.insert(SERVER_CPU.into(), c.cpu_seconds() - cpu_before.0);
                    if let (Some(before), Some(after)) = (cpu_before.1, proc_cpu_seconds("/proc/self/stat")) {
                        report.extra.insert(CLIENT_CPU.into(), after - before);
                    }
                }
                let alive = all_running(c);
                let f = facts.entry(name).or_default();
                match res {
                    Ok((report, rec)) => {
                        eprintln!(
                            "round {} {:<14} {:<4}: {:>9.1} req/s  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  errors {}",
                            round + 1,
                            def.id,
                            name,
                            report.throughput,
                            report.latency_ms.p50,
                            report.latency_ms.p99,
                            report.latency_ms.max,
                            report.errors
                        );
                        if report.errors > 0 {
                            f.problems.push(format!(
                                "round {} {}: {} errors: {:?}",
                                round + 1,
                                def.id,
                                report.errors,
                                report.error_kinds
                            ));
                        }
                        if let Some(m) = report.extra.get("missing_events").filter(|m| **m > 0.0) {
                            f.problems.push(format!(
                                "round {} {}: {m} watch events never delivered",
                                round + 1,
                                def.id
                            ));
                        }
                        let a = aggs.entry((def.id, name)).or_default();
                        a.rec.merge(&rec);
                        a.reports.push(report.clone());
                        raw_runs.push((round, name, report));
                    }
                    Err(e) => {
                        eprintln!("round {} {} {name}: FAILED: {e:#}", round + 1, def.id);
                        f.problems
                            .push(format!("round {} {}: run failed: {e:#}", round + 1, def.id));
                    }
                }
                if !alive {
                    eprintln!("compare: {name} exited during {}", def.id);
                    f.problems.push(format!(
                        "a member exited during round {} {} (logs: {})",
                        round + 1,
                        def.id,
                        root.join(name).display()
                    ));
                    dead.push(name);
                }
            }
        }
    }

    // Leader kills under write load, alternating servers like the workloads.
    let mut failovers: Vec<Failover> = Vec::new();
    if opts.members >= 3 {
        let fo = FailoverOpts::default();
        for attempt in 1..=opts.failovers {
            for c in clusters.iter_mut() {
                let name = c.kind.name();
                if dead.contains(&name) {
                    continue;
                }
                match failover::failover_once(c, attempt, &fo).await {
                    Ok(f) => {
                        eprintln!(
                            "failover {attempt} {name:<4}: killed {} (term {}): first write after {} ms, new leader seen after {} ms, rejoined in {} ms",
                            f.killed,
                            f.term_before,
                            fmt_ms(f.first_write_ms),
                            fmt_ms(f.new_leader_ms),
                            fmt_ms(f.rejoin_ms)
                        );
                        failovers.push(f);
                    }
                    Err(e) => {
                        eprintln!("failover {attempt} {name}: FAILED: {e:#}");
                        facts
                            .entry(name)
                            .or_default()
                            .problems
                            .push(format!("failover {attempt}: {e:#}"));
                        if !all_running(c) {
                            dead.push(name);
                        }
                    }
                }
            }
        }
    }
    machine.load_after = loadavg();

    for c in clusters.iter_mut() {
        let name = c.kind.name();
        let f = facts.entry(name).or_default();
        f.peak_rss = c.peak_rss();
        if dead.contains(&name) {
            continue;
        }
        f.keys = c.count_keys().await.unwrap_or(-1);
        match c.restart(Duration::from_secs(60)).await {
            Ok((t, bad)) => {
                f.restart_s = Some(t.as_secs_f64());
                f.problems.extend(bad);
            }
            Err(e) => f.problems.push(format!("restart failed: {e:#}")),
        }
        f.problems.extend(c.stop(Duration::from_secs(10)));
        f.data_size = c.data_size();
        f.data_apparent = c.data_apparent_size();
    }
    drop(clusters);

    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let outcome = Outcome {
        opts,
        machine: &machine,
        fs_append: &fs_append,
        fs_over: &fs_over,
        defs: &defs,
        aggs: &aggs,
        facts: &facts,
        failovers: &failovers,
        date,
    };
    fs::create_dir_all(&opts.results_dir).with_context(|| format!("create {}", opts.results_dir.display()))?;
    let full = report::full_report(&outcome);
    fs::write(opts.out_report(), &full).with_context(|| format!("write {}", opts.out_report().display()))?;
    let section = report::section(&outcome);
    let old = match fs::read_to_string(&opts.out_md) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("read {}", opts.out_md.display())),
    };
    let md = report::splice_section(&old, &opts.name, &section);
    if let Some(p) = opts.out_md.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(&opts.out_md, md).with_context(|| format!("write {}", opts.out_md.display()))?;
    fs::write(opts.out_svg(), report::svg(&defs, &aggs))
        .with_context(|| format!("write {}", opts.out_svg().display()))?;
    let raw = Raw {
        name: &opts.name,
        members: opts.members,
        tls: opts.tls,
        election_timeout_ms: opts.election_ms,
        heartbeat_interval_ms: opts.heartbeat_ms,
        machine: &machine,
        fsync_append_ms: &fs_append,
        fsync_overwrite_ms: &fs_over,
        servers: facts.iter().map(|(k, v)| (*k, v)).collect(),
        runs: raw_runs
            .iter()
            .map(|(round, server, report)| RawRun {
                round: round + 1,
                server,
                report,
            })
            .collect(),
        failovers: &failovers,
    };
    fs::write(opts.out_json(), serde_json::to_string_pretty(&raw)?)
        .with_context(|| format!("write {}", opts.out_json().display()))?;
    if opts.keep {
        let kept = tmp.keep();
        eprintln!("compare: kept data dirs and logs in {}", kept.display());
    }
    Ok(full)
}

pub(crate) fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into())
}

/// What `scale-probe` measured for one server.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScaleFacts {
    pub server: String,
    pub keys: u64,
    pub load_s: f64,
    pub load_throughput: f64,
    pub rss_loaded: u64,
    pub peak_rss: u64,
    pub restart_s: f64,
    pub rss_after_restart: u64,
    pub data_size: u64,
    pub problems: Vec<String>,
}

/// Writes `keys` distinct keys (sequential, `val_size` bytes) into a fresh single member,
/// then restarts it and times spawn → first linearizable read; records RSS before and after.
pub async fn scale_probe(
    kind: Kind,
    bin: &Path,
    root: &Path,
    keys: u64,
    val_size: usize,
    progress: bool,
) -> Result<ScaleFacts> {
    fs::create_dir_all(root.join("bin"))?;
    let copy = root.join("bin").join(format!("bench-srv-{}", kind.name()));
    fs::copy(bin, &copy).with_context(|| format!("copy {}", bin.display()))?;
    let mut c = Cluster::start(kind, &copy, 1, &root.join(kind.name()))?;
    c.wait_ready(Duration::from_secs(30)).await?;
    let mut opts = LoadOpts::new(c.endpoints(), 256, 16, keys);
    opts.max_time = Duration::from_secs(600);
    opts.progress = progress;
    let shape = Shape {
        prefix: "scale/".into(),
        key_size: 8,
        val_size,
        key_space: keys,
        sequential: true,
    };
    let (report, _) = workloads::put(&opts, &shape).await?;
    let mut f = ScaleFacts {
        server: kind.name().into(),
        keys: report.ok,
        load_s: report.elapsed_s,
        load_throughput: report.throughput,
        rss_loaded: c.members[0].rss().unwrap_or(0),
        ..Default::default()
    };
    if report.errors > 0 {
        f.problems
            .push(format!("{} put errors: {:?}", report.errors, report.error_kinds));
    }
    f.peak_rss = c.peak_rss();
    let (t, bad) = c.restart(Duration::from_secs(120)).await?;
    f.problems.extend(bad);
    f.restart_s = t.as_secs_f64();
    f.rss_after_restart = c.members[0].rss().unwrap_or(0);
    f.problems.extend(c.stop(Duration::from_secs(10)));
    f.data_size = c.data_size();
    Ok(f)
}

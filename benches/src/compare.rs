//! `kv-bench compare`: start etcd and kv with the same flags on fresh data dirs on the same
//! disk, run each workload against etcd then kv (round after round, so noise hits both),
//! and write `BENCHMARKS.md`, an SVG of the latency distributions and the raw JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use proto::etcdserverpb::{kv_client::KvClient, RangeRequest};
use serde::Serialize;

use crate::load::{connect_one, LoadOpts};
use crate::plot::{self, Panel, Series};
use crate::server::{Cluster, Kind};
use crate::stats::{distribution, Latency, Recorder, Report};
use crate::workloads::{self, MixedOpts, RangeOpts, Shape, WatchOpts};

/// What `compare` runs and where it writes.
#[derive(Clone, Debug)]
pub struct CompareOpts {
    pub members: usize,
    pub etcd_bin: PathBuf,
    pub kv_bin: PathBuf,
    pub rounds: usize,
    /// Multiplies every workload's request count.
    pub scale: f64,
    /// Parent of the fresh data dirs (same disk for both servers).
    pub data_root: PathBuf,
    pub out_md: PathBuf,
    pub out_svg: PathBuf,
    pub out_json: PathBuf,
    /// Only these workload ids (empty = all).
    pub only: Vec<String>,
    /// Keep data dirs and server logs.
    pub keep: bool,
    pub progress: bool,
    /// The command line, for the record.
    pub argv: String,
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
        let mut s = format!(
            "kv-bench --endpoints {endpoint} --clients {} --conns {} --total {} --key-size {} --val-size {} --key-space {} --prefix {}",
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

/// Runs one workload against `endpoints`.
pub async fn run_workload(def: &WorkloadDef, endpoints: &[String], progress: bool) -> Result<(Report, Recorder)> {
    let mut opts = LoadOpts::new(endpoints.to_vec(), def.clients, def.conns, def.total);
    opts.rate = def.rate;
    opts.max_time = RUN_LIMIT;
    opts.progress = progress;
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
}

fn first_line_of(cmd: &Path, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn mount_of(path: &Path) -> String {
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

impl Machine {
    fn probe(opts: &CompareOpts) -> Machine {
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
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            memory: mem,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            data_fs: mount_of(&opts.data_root),
            load_before: loadavg(),
            load_after: String::new(),
            etcd_version: first_line_of(&opts.etcd_bin, "--version"),
            kv_version: first_line_of(&opts.kv_bin, "--version"),
        }
    }
}

/// All rounds of one workload on one server.
#[derive(Clone, Default)]
struct Agg {
    reports: Vec<Report>,
    rec: Recorder,
}

impl Agg {
    fn median_throughput(&self) -> f64 {
        let mut t: Vec<f64> = self.reports.iter().map(|r| r.throughput).collect();
        t.sort_by(|a, b| a.total_cmp(b));
        match t.len() {
            0 => 0.0,
            n if n % 2 == 1 => t[n / 2],
            n => (t[n / 2 - 1] + t[n / 2]) / 2.0,
        }
    }

    fn latency(&self) -> Latency {
        Latency::of(&self.rec.hist)
    }

    fn extra_sum(&self, k: &str) -> f64 {
        self.reports.iter().filter_map(|r| r.extra.get(k)).sum()
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
    pub command: String,
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
    machine: &'a Machine,
    fsync_append_ms: &'a Latency,
    fsync_overwrite_ms: &'a Latency,
    servers: BTreeMap<&'static str, &'a ServerFacts>,
    runs: Vec<RawRun<'a>>,
}

async fn count_keys(endpoint: &str) -> Result<i64> {
    let ch = connect_one(endpoint).await?;
    let r = KvClient::new(ch)
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            count_only: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(r.count)
}

/// The whole comparison. Writes the outputs and returns the markdown.
pub async fn run(opts: &CompareOpts) -> Result<String> {
    let run_kv = opts.members == 1;
    if !run_kv {
        eprintln!(
            "compare: skipping kv with {} members: kv clusters are not ready yet (only a single \
             kv member works); measuring etcd alone",
            opts.members
        );
    }
    anyhow::ensure!(
        opts.etcd_bin.exists(),
        "etcd binary {} not found",
        opts.etcd_bin.display()
    );
    anyhow::ensure!(
        !run_kv || opts.kv_bin.exists(),
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

    let (fs_append, fs_over) = fsync_probe(&root, 300)?;
    eprintln!(
        "compare: fsync 4 KiB append p50 {:.3} ms, overwrite p50 {:.3} ms",
        fs_append.p50, fs_over.p50
    );

    let mut kinds = vec![Kind::Etcd];
    if run_kv {
        kinds.push(Kind::Kv);
    }
    // Run both servers from private copies with other names, so that tooling on a shared
    // machine that stops stray servers by name (`pkill -x etcd`, as scripts/install-deps.sh
    // does) cannot hit them mid-run.
    fs::create_dir_all(root.join("bin"))?;
    let etcd_copy = root.join("bin").join("bench-srv-etcd");
    let kv_copy = root.join("bin").join("bench-srv-kv");
    let mut copies = vec![(&opts.etcd_bin, &etcd_copy)];
    if run_kv {
        copies.push((&opts.kv_bin, &kv_copy));
    }
    for (from, to) in copies {
        fs::copy(from, to).with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
        eprintln!("compare: running {} as {}", from.display(), to.display());
    }
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut facts: BTreeMap<&'static str, ServerFacts> = BTreeMap::new();
    for &k in &kinds {
        let bin = match k {
            Kind::Etcd => &etcd_copy,
            Kind::Kv => &kv_copy,
        };
        let mut c = Cluster::start(k, bin, opts.members, &root.join(k.name()))?;
        let t = c.wait_ready(Duration::from_secs(30)).await?;
        facts.insert(
            k.name(),
            ServerFacts {
                startup_s: t.as_secs_f64(),
                command: c.command_line(0),
                ..Default::default()
            },
        );
        clusters.push(c);
    }

    let defs: Vec<WorkloadDef> = standard_workloads(opts.scale)
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
                let eps = c.endpoints();
                let res = run_workload(def, &eps, opts.progress).await;
                let alive = c.members.iter_mut().all(|m| m.exited().is_none());
                let f = facts.entry(name).or_default();
                match res {
                    Ok((report, rec)) => {
                        eprintln!(
                            "round {} {:<11} {:<4}: {:>9.1} req/s  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  errors {}",
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
                        "server exited during round {} {} (log: {})",
                        round + 1,
                        def.id,
                        c.members[0].log_path().display()
                    ));
                    dead.push(name);
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
        f.keys = count_keys(&c.endpoints()[0]).await.unwrap_or(-1);
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

    let md = markdown(opts, &machine, &fs_append, &fs_over, &defs, &aggs, &facts, run_kv);
    if let Some(p) = opts.out_md.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(&opts.out_md, &md).with_context(|| format!("write {}", opts.out_md.display()))?;
    let svg = svg(&defs, &aggs);
    if let Some(p) = opts.out_svg.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(&opts.out_svg, svg).with_context(|| format!("write {}", opts.out_svg.display()))?;
    let raw = Raw {
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
    };
    fs::write(&opts.out_json, serde_json::to_string_pretty(&raw)?)
        .with_context(|| format!("write {}", opts.out_json.display()))?;
    if opts.keep {
        let kept = tmp.keep();
        eprintln!("compare: kept data dirs and logs in {}", kept.display());
    }
    Ok(md)
}

fn ratio(kv: f64, etcd: f64) -> String {
    if etcd > 0.0 && kv > 0.0 {
        format!("{:.2}×", kv / etcd)
    } else {
        "—".into()
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn rel(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    opts: &CompareOpts,
    m: &Machine,
    fs_append: &Latency,
    fs_over: &Latency,
    defs: &[WorkloadDef],
    aggs: &BTreeMap<(&'static str, &'static str), Agg>,
    facts: &BTreeMap<&'static str, ServerFacts>,
    run_kv: bool,
) -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks: kv vs etcd 3.4.23\n");
    let _ = writeln!(
        s,
        "Generated by `kv-bench compare` (crate `benches`) on {date}. {} member(s); every \
         workload ran against etcd, then kv, in each of {} round(s), both servers up on fresh \
         data dirs on the same disk. Throughput is the median over rounds; latency percentiles \
         come from the merged histograms of all rounds. Each run stops after its request count \
         or {} s, whichever comes first. The load generator runs on the same machine as the \
         servers. Targets are reported, never asserted.\n",
        opts.members,
        opts.rounds.max(1),
        RUN_LIMIT.as_secs()
    );
    if !run_kv {
        let _ = writeln!(
            s,
            "**kv was skipped: {}-member kv clusters are not ready yet; etcd alone is shown.**\n",
            opts.members
        );
    }
    let _ = writeln!(s, "## Machine\n");
    let _ = writeln!(s, "- CPU: {} ({} cores), memory {}", m.cpu, m.cores, m.memory);
    let _ = writeln!(s, "- Kernel {}; data dirs on {}", m.kernel, m.data_fs);
    let _ = writeln!(
        s,
        "- Load average (1/5/15 min) before: {}; after: {}",
        m.load_before, m.load_after
    );
    let _ = writeln!(s, "- etcd: `{}`; kv: `{}`", m.etcd_version, m.kv_version);
    let _ = writeln!(
        s,
        "- Disk: 4 KiB write + fdatasync, appending: p50 {:.3} ms, p99 {:.3} ms, mean {:.3} ms; \
         overwriting written blocks: p50 {:.3} ms, p99 {:.3} ms\n",
        fs_append.p50, fs_append.p99, fs_append.mean, fs_over.p50, fs_over.p99
    );

    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "| workload | etcd req/s | kv req/s | kv/etcd | etcd p50 ms | kv p50 ms | etcd p99 ms | kv p99 ms | p99 kv/etcd | etcd max ms | kv max ms |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let empty = Agg::default();
    for d in defs {
        let e = aggs.get(&(d.id, "etcd")).unwrap_or(&empty);
        let k = aggs.get(&(d.id, "kv")).unwrap_or(&empty);
        let (el, kl) = (e.latency(), k.latency());
        let (et, kt) = (e.median_throughput(), k.median_throughput());
        let num = |v: f64, have: bool| if have { format!("{v:.1}") } else { "—".into() };
        let lat = |v: f64, have: bool| if have { format!("{v:.2}") } else { "—".into() };
        let (he, hk) = (!e.reports.is_empty(), !k.reports.is_empty());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            d.title,
            num(et, he),
            num(kt, hk),
            if he && hk { ratio(kt, et) } else { "—".into() },
            lat(el.p50, he),
            lat(kl.p50, hk),
            lat(el.p99, he),
            lat(kl.p99, hk),
            if he && hk { ratio(kl.p99, el.p99) } else { "—".into() },
            lat(el.max, he),
            lat(kl.max, hk),
        );
    }
    let _ = writeln!(
        s,
        "\nWatch rows: puts are paced at the given rate, so req/s is events delivered per second; \
         latency is from just before the Put is sent until a watcher receives the event."
    );
    let mut notes = Vec::new();
    for d in defs {
        for srv in ["etcd", "kv"] {
            if let Some(a) = aggs.get(&(d.id, srv)) {
                for key in [
                    "conflicts",
                    "update_conflicts",
                    "missing_events",
                    "watch_events",
                    "cut_at_time_limit",
                ] {
                    let v = a.extra_sum(key);
                    if v > 0.0 {
                        notes.push(format!("{} {srv}: {key} = {v}", d.id));
                    }
                }
            }
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(s, "\nCounters (all rounds): {}.", notes.join("; "));
    }

    let _ = writeln!(s, "\n## Servers\n");
    let _ = writeln!(s, "| | etcd | kv | kv/etcd |");
    let _ = writeln!(s, "|---|--:|--:|--:|");
    let fe = facts.get("etcd").cloned().unwrap_or_default();
    let fk = facts.get("kv").cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "| peak RSS (VmHWM, after all runs) | {} | {} | {} |",
        mib(fe.peak_rss),
        mib(fk.peak_rss),
        ratio(fk.peak_rss as f64, fe.peak_rss as f64)
    );
    let _ = writeln!(
        s,
        "| data dir on disk after the run (du) | {} | {} | {} |",
        mib(fe.data_size),
        mib(fk.data_size),
        ratio(fk.data_size as f64, fe.data_size as f64)
    );
    let _ = writeln!(
        s,
        "| data dir, apparent size (sum of file lengths) | {} | {} | {} |",
        mib(fe.data_apparent),
        mib(fk.data_apparent),
        ratio(fk.data_apparent as f64, fe.data_apparent as f64)
    );
    let _ = writeln!(s, "| live keys at the end | {} | {} | |", fe.keys, fk.keys);
    let _ = writeln!(
        s,
        "| first start → first linearizable read | {:.3} s | {:.3} s | {} |",
        fe.startup_s,
        fk.startup_s,
        ratio(fk.startup_s, fe.startup_s)
    );
    let rs = |f: &ServerFacts| f.restart_s.map(|v| format!("{v:.3} s")).unwrap_or("—".into());
    let _ = writeln!(
        s,
        "| restart (SIGTERM, start, first linearizable read) | {} | {} | {} |",
        rs(&fe),
        rs(&fk),
        ratio(fk.restart_s.unwrap_or(0.0), fe.restart_s.unwrap_or(0.0))
    );

    // Targets from the issue.
    let _ = writeln!(s, "\n## Targets (reported, not asserted)\n");
    let thr = |id: &str, srv: &str| aggs.get(&(id, srv)).map(|a| a.median_throughput());
    let lat = |id: &str, srv: &str| aggs.get(&(id, srv)).map(|a| a.latency());
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    if let (Some(e), Some(k)) = (thr("put-256", "etcd"), thr("put-256", "kv")) {
        let r = k / e;
        let _ = writeln!(
            s,
            "- put throughput at 256 clients ≥ 2× etcd: {r:.2}× — {}",
            verdict(r >= 2.0)
        );
    }
    if let (Some(e), Some(k)) = (thr("range-l-64", "etcd"), thr("range-l-64", "kv")) {
        let r = k / e;
        let _ = writeln!(
            s,
            "- linearizable range throughput (64 clients) ≥ 1.5× etcd: {r:.2}× — {}",
            verdict(r >= 1.5)
        );
    }
    let mut worse = Vec::new();
    for d in defs {
        if let (Some(e), Some(k)) = (lat(d.id, "etcd"), lat(d.id, "kv")) {
            if k.p99 > e.p99 {
                worse.push(format!("{} ({:.2} vs {:.2} ms)", d.id, k.p99, e.p99));
            }
        }
    }
    if run_kv {
        let _ = writeln!(
            s,
            "- p99 no worse than etcd: {}",
            if worse.is_empty() {
                "met in every workload".to_string()
            } else {
                format!("**not met** in {}", worse.join(", "))
            }
        );
    }
    if let Some(k) = lat("put-1", "kv") {
        let r = k.p50 / fs_append.p50.max(1e-6);
        let r2 = k.p50 / fs_over.p50.max(1e-6);
        let _ = writeln!(
            s,
            "- 1-client put p50 within 1.2× of fsync: kv p50 {:.3} ms = {r:.2}× the append fsync \
             ({:.3} ms), {r2:.2}× the overwrite fsync ({:.3} ms) — {}",
            k.p50,
            fs_append.p50,
            fs_over.p50,
            verdict(r <= 1.2)
        );
    }
    if run_kv && fe.peak_rss > 0 {
        let r = fk.peak_rss as f64 / fe.peak_rss as f64;
        let _ = writeln!(s, "- RSS ≤ half of etcd's: {r:.2}× — {}", verdict(r <= 0.5));
    }
    let _ = writeln!(
        s,
        "- restart with 1M keys < 1 s: not measured by this run (restart above is with {} keys)",
        fk.keys
    );

    let _ = writeln!(s, "\n## Problems seen\n");
    let mut any = false;
    for (srv, f) in facts {
        for p in &f.problems {
            any = true;
            let _ = writeln!(s, "- {srv}: {p}");
        }
    }
    if !any {
        let _ = writeln!(s, "None: no request errors, no missing watch events, no server exits.");
    }

    let _ = writeln!(s, "\n## Latency distributions\n");
    let base = opts.out_md.parent().map(Path::to_path_buf).unwrap_or_default();
    let _ = writeln!(s, "![latency distributions]({})\n", rel(&opts.out_svg, &base));
    let _ = writeln!(s, "Raw per-round reports: `{}`.\n", rel(&opts.out_json, &base));

    let _ = writeln!(s, "## Commands\n");
    let _ = writeln!(s, "```sh");
    let _ = writeln!(s, "uptime");
    let _ = writeln!(
        s,
        "CARGO_TARGET_DIR=$HOME/.cache/target-benches cargo build --release -p kv -p benches"
    );
    let _ = writeln!(s, "{}", opts.argv);
    let _ = writeln!(s, "```\n");
    let _ = writeln!(
        s,
        "Servers (ports are picked free per run; `bench-srv-etcd` and `bench-srv-kv` are \
         copies of `{}` and `{}`, renamed so that other tooling's `pkill -x etcd` cannot \
         stop them mid-run):\n",
        opts.etcd_bin.display(),
        opts.kv_bin.display()
    );
    let _ = writeln!(s, "```sh");
    for f in facts.values() {
        let _ = writeln!(s, "{}", f.command);
    }
    let _ = writeln!(s, "```\n");
    let _ = writeln!(s, "Each workload is equivalent to:\n");
    let _ = writeln!(s, "```sh");
    for d in defs {
        let _ = writeln!(s, "{}", d.command("127.0.0.1:<client-port>"));
    }
    let _ = writeln!(s, "```");
    s
}

fn svg(defs: &[WorkloadDef], aggs: &BTreeMap<(&'static str, &'static str), Agg>) -> String {
    let panels: Vec<Panel> = defs
        .iter()
        .map(|d| Panel {
            title: d.title.to_string(),
            series: [("etcd", "#1f77b4"), ("kv", "#d62728")]
                .iter()
                .filter_map(|&(srv, color)| {
                    let a = aggs.get(&(d.id, srv))?;
                    Some(Series {
                        label: srv.to_string(),
                        color,
                        points: distribution(&a.rec.hist),
                    })
                })
                .collect(),
        })
        .collect();
    plot::render("Latency by percentile: etcd 3.4.23 vs kv (log scale)", &panels)
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

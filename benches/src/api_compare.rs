//! `kv-bench api-compare`: a stock kube-apiserver v1.20.2 against this project's
//! `apiserver`, each on a fresh single-member store (etcd 3.4.23, or `kv`), alternating
//! round after round, with the same certificate, token, storage encoding and client; runs
//! create / get / list (small and large namespace) / update / watch and writes
//! `benches/results/<name>.{md,json,svg}` plus its section of `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::api_client::Target;
use crate::api_report;
use crate::api_server::{ApiKind, ApiServer, Shared};
use crate::api_workloads as w;
use crate::certs;
use crate::compare::{self, Agg};
use crate::load::LoadOpts;
use crate::server::{dir_size, Cluster, Kind};
use crate::stats::{Recorder, Report};

/// The section tag in `BENCHMARKS.md` (`<!-- BEGIN kv-bench api-compare <name> … -->`).
pub const TAG: &str = "kv-bench api-compare";

/// What `api-compare` runs and where it writes.
#[derive(Clone, Debug)]
pub struct ApiCompareOpts {
    pub stock_bin: PathBuf,
    pub ours_bin: PathBuf,
    /// How the `apiserver` binary was built (recorded when given).
    pub ours_built_from: Option<String>,
    /// The store both servers run on (a fresh single member per server run).
    pub store: Kind,
    pub etcd_bin: PathBuf,
    pub kv_bin: PathBuf,
    pub rounds: usize,
    /// Multiplies the request counts of the measured reads, updates and watches (not the
    /// numbers of pods created).
    pub scale: f64,
    /// Concurrent clients of create, get and update.
    pub clients: usize,
    /// HTTP/2 connections they share.
    pub conns: usize,
    /// HTTP/2 (ALPN h2) like client-go, or HTTP/1.1 keep-alive (one connection per client).
    pub http2: bool,
    /// Pods in the namespace for the small-namespace phase, and in all for the large one
    /// (0: no large phase).
    pub pods_small: u64,
    pub pods_large: u64,
    /// Updates per second during the watch runs.
    pub watch_rate: f64,
    /// `--storage-media-type` of both servers.
    pub media_type: String,
    /// Extra flags for the stock server and for ours.
    pub stock_args: Vec<String>,
    pub ours_args: Vec<String>,
    pub data_root: PathBuf,
    pub name: String,
    pub out_md: PathBuf,
    pub results_dir: PathBuf,
    pub source_dir: PathBuf,
    pub keep: bool,
    pub progress: bool,
    pub argv: String,
}

impl ApiCompareOpts {
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

/// What a row runs.
#[derive(Clone, Debug, Serialize)]
pub enum ApiSpec {
    /// POST pods `first ..` (defines the data set: counts are not scaled).
    Create { first: u64 },
    /// GET a random one of `pods` by name.
    Get { pods: u64 },
    /// The whole namespace, which holds `pods`; in `limit`-sized pages if given.
    List { pods: u64, limit: Option<u32> },
    /// PUT whole pods.
    Update,
    /// `watchers` watches, timed per event, while updates are paced at the row's rate.
    Watch { watchers: usize },
}

/// One row of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ApiDef {
    pub id: String,
    pub title: String,
    pub spec: ApiSpec,
    pub clients: usize,
    pub conns: usize,
    pub total: u64,
    pub rate: f64,
    #[serde(skip)]
    pub max_time: Duration,
}

/// `1000` → `1k`, `10000` → `10k`, `1500` → `1500`.
pub fn short(n: u64) -> String {
    if n >= 1000 && (n / 1000) * 1000 == n {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// Wall-clock cap of one measured run (creates: [`CREATE_LIMIT`]).
pub const RUN_LIMIT: Duration = Duration::from_secs(25);
/// Wall-clock cap of a create phase (it builds the data set the next rows read).
pub const CREATE_LIMIT: Duration = Duration::from_secs(300);

/// The rows, in the order they run against each server.
pub fn workloads(o: &ApiCompareOpts) -> Vec<ApiDef> {
    let n = |base: u64| ((base as f64 * o.scale).round() as u64).max(5);
    let (c, k) = (o.clients.max(1), o.conns.max(1));
    let (small, large) = (o.pods_small.max(1), o.pods_large);
    let (s, l) = (short(small), short(large));
    let def = |id: String, title: String, spec, clients: usize, conns: usize, total, rate, max_time| ApiDef {
        id,
        title,
        spec,
        clients,
        conns: conns.min(clients),
        total,
        rate,
        max_time,
    };
    let mut v = vec![
        def(
            format!("create-{s}"),
            format!("create pod (0 → {s} pods), {c} clients"),
            ApiSpec::Create { first: 0 },
            c,
            k,
            small,
            0.0,
            CREATE_LIMIT,
        ),
        def(
            format!("get-{s}"),
            format!("get pod by name ({s} pods), {c} clients"),
            ApiSpec::Get { pods: small },
            c,
            k,
            n(5_000),
            0.0,
            RUN_LIMIT,
        ),
        def(
            format!("list-{s}"),
            format!("list {s} pods, 4 clients"),
            ApiSpec::List {
                pods: small,
                limit: None,
            },
            4,
            4,
            n(100),
            0.0,
            RUN_LIMIT,
        ),
        def(
            format!("list-{s}-paged"),
            format!("list {s} pods in limit=500 pages, 4 clients"),
            ApiSpec::List {
                pods: small,
                limit: Some(500),
            },
            4,
            4,
            n(60),
            0.0,
            RUN_LIMIT,
        ),
        def(
            format!("update-{s}"),
            format!("update pod (PUT), {c} clients"),
            ApiSpec::Update,
            c,
            k,
            n(3_000),
            0.0,
            RUN_LIMIT,
        ),
    ];
    for watchers in [1usize, 10] {
        v.push(def(
            format!("watch-{watchers}"),
            format!(
                "watch, {watchers} watcher{}, {} updates/s",
                if watchers == 1 { "" } else { "s" },
                o.watch_rate
            ),
            ApiSpec::Watch { watchers },
            4,
            1,
            n(500),
            o.watch_rate,
            RUN_LIMIT,
        ));
    }
    if large > small {
        v.push(def(
            format!("create-{l}"),
            format!("create pod ({s} → {l} pods), {c} clients"),
            ApiSpec::Create { first: small },
            c,
            k,
            large - small,
            0.0,
            CREATE_LIMIT,
        ));
        v.push(def(
            format!("list-{l}"),
            format!("list {l} pods, 2 clients"),
            ApiSpec::List {
                pods: large,
                limit: None,
            },
            2,
            2,
            n(20),
            0.0,
            RUN_LIMIT,
        ));
        v.push(def(
            format!("list-{l}-paged"),
            format!("list {l} pods in limit=500 pages, 2 clients"),
            ApiSpec::List {
                pods: large,
                limit: Some(500),
            },
            2,
            2,
            n(10),
            0.0,
            RUN_LIMIT,
        ));
    }
    v
}

/// Runs one row against `target`.
pub async fn run_def(def: &ApiDef, target: &Target, progress: bool) -> Result<(Report, Recorder)> {
    let mut opts = LoadOpts::new(vec![target.addr.to_string()], def.clients, def.conns, def.total);
    opts.rate = def.rate;
    opts.max_time = def.max_time;
    opts.progress = progress;
    let (mut report, rec) = match &def.spec {
        ApiSpec::Create { first } => w::create(&def.id, target, &opts, *first).await?,
        ApiSpec::Get { pods } => w::get(&def.id, target, &opts, *pods).await?,
        ApiSpec::List { pods, limit } => w::list(&def.id, target, &opts, *limit, *pods).await?,
        ApiSpec::Update => w::update(&def.id, target, &opts).await?,
        ApiSpec::Watch { watchers } => w::watch(&def.id, target, &opts, *watchers).await?,
    };
    report.workload = def.id.clone();
    Ok((report, rec))
}

/// Facts about one server over all its runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApiFacts {
    /// Spawn → first `/readyz` 200, per run, seconds.
    pub ready_s: Vec<f64>,
    /// Largest `VmHWM` over the runs, bytes.
    pub peak_rss: u64,
    /// Keys in its store after each run.
    pub store_keys: Vec<i64>,
    /// Its store's data dir (du) after each run, bytes.
    pub store_bytes: Vec<u64>,
    /// One command line (the last run's; only ports and paths change between runs).
    pub command: String,
    /// SIGTERM → exit, per run, seconds (None: needed SIGKILL).
    pub stop_s: Vec<Option<f64>>,
    /// How the last run ended after SIGTERM (`exit status: 0`, `signal: 15 (SIGTERM)`).
    pub stop_status: String,
    /// `GET` of the first pod after the runs (first round), as the server returned it.
    pub sample_pod: Option<serde_json::Value>,
    pub problems: Vec<String>,
}

/// Every path in `v` (`metadata.labels.app`, `spec.containers[].name`, …), objects and
/// arrays included; array elements share one `[]` path.
pub fn json_paths(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    out.insert(p.clone());
                    walk(x, &p, out);
                }
            }
            serde_json::Value::Array(a) => {
                for x in a {
                    walk(x, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, "", &mut out);
    out
}

/// The paths of `a` missing from `b`, without those under a path already listed.
pub fn missing_paths(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (pa, pb) = (json_paths(a), json_paths(b));
    let mut out: Vec<String> = Vec::new();
    for p in pa.difference(&pb) {
        let under = out.iter().any(|q| {
            p.strip_prefix(q.as_str())
                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        });
        if !under {
            out.push(p.clone());
        }
    }
    out
}

/// Facts about the machine and binaries, for the record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApiMachine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub data_fs: String,
    pub load_before: String,
    pub load_after: String,
    pub store_version: String,
    pub stock_version: String,
    pub git_head: String,
    /// Uncommitted changes to `apiserver` and `proto` when the run started.
    pub git_dirty: Vec<String>,
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
    store: &'static str,
    http2: bool,
    media_type: &'a str,
    machine: &'a ApiMachine,
    workloads: &'a [ApiDef],
    servers: BTreeMap<&'static str, &'a ApiFacts>,
    runs: Vec<RawRun<'a>>,
}

/// Everything one comparison measured, for the report writers.
pub(crate) struct ApiOutcome<'a> {
    pub(crate) opts: &'a ApiCompareOpts,
    pub(crate) machine: &'a ApiMachine,
    pub(crate) defs: &'a [ApiDef],
    pub(crate) aggs: &'a BTreeMap<(String, &'static str), Agg>,
    pub(crate) facts: &'a BTreeMap<&'static str, ApiFacts>,
    pub(crate) store_command: String,
    pub(crate) date: String,
}

/// Collected results of all runs.
#[derive(Default)]
struct Tally {
    aggs: BTreeMap<(String, &'static str), Agg>,
    facts: BTreeMap<&'static str, ApiFacts>,
    raw: Vec<(usize, &'static str, Report)>,
    store_command: String,
}

struct RunCtx<'a> {
    opts: &'a ApiCompareOpts,
    shared: &'a Shared,
    store_bin: &'a Path,
    root: &'a Path,
    defs: &'a [ApiDef],
}

/// One server's run in round `round` (1-based): fresh store, start, every row, stop.
async fn run_server(ctx: &RunCtx<'_>, kind: ApiKind, bin: &Path, round: usize, t: &mut Tally) -> Result<()> {
    let name = kind.name();
    let dir = ctx.root.join(format!("round{round}-{name}"));
    let mut store = Cluster::start(ctx.opts.store, ctx.store_bin, 1, &dir.join("store"))?;
    store
        .wait_ready(Duration::from_secs(30))
        .await
        .context("store not ready")?;
    t.store_command = store.command_line(0);
    let etcd_url = format!("http://{}", store.members[0].endpoint());
    let spawned = Instant::now();
    let extra = match kind {
        ApiKind::Stock => &ctx.opts.stock_args,
        ApiKind::Ours => &ctx.opts.ours_args,
    };
    let mut srv = ApiServer::start(kind, bin, &etcd_url, &dir, ctx.shared, extra)?;
    let target = Target::new(srv.addr, &ctx.shared.ca_cert, &ctx.shared.token, ctx.opts.http2)?;
    let ready = srv.wait_ready(&target, spawned, Duration::from_secs(180)).await?;
    eprintln!(
        "round {round} {name:<5}: /readyz after {:.2} s (pid {})",
        ready.as_secs_f64(),
        srv.pid().unwrap_or(0)
    );
    {
        let f = t.facts.entry(name).or_default();
        f.ready_s.push(ready.as_secs_f64());
        f.command = srv.command.clone();
    }
    w::create_namespace(&target).await?;
    for def in ctx.defs {
        if let Some(st) = srv.exited() {
            t.facts.entry(name).or_default().problems.push(format!(
                "round {round}: exited with {st} before {}; log tail: {}",
                def.id,
                srv.log_tail(5)
            ));
            break;
        }
        let res = run_def(def, &target, ctx.opts.progress).await;
        let f = t.facts.entry(name).or_default();
        match res {
            Ok((report, rec)) => {
                eprintln!(
                    "round {round} {:<16} {name:<5}: {:>9.1} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  errors {}",
                    def.id,
                    report.throughput,
                    report.latency_ms.p50,
                    report.latency_ms.p99,
                    report.latency_ms.max,
                    report.errors
                );
                if report.errors > 0 {
                    f.problems.push(format!(
                        "round {round} {}: {} errors: {:?}",
                        def.id, report.errors, report.error_kinds
                    ));
                }
                if let Some(m) = report.extra.get("missing_events").filter(|m| **m > 0.0) {
                    f.problems
                        .push(format!("round {round} {}: {m} watch events never delivered", def.id));
                }
                if let Some(c) = report.extra.get("cut_at_time_limit").filter(|c| **c > 0.0) {
                    f.problems.push(format!(
                        "round {round} {}: stopped at its {:?} limit after {} of {} requests ({c} in flight)",
                        def.id, def.max_time, report.ok, def.total
                    ));
                }
                let a = t.aggs.entry((def.id.clone(), name)).or_default();
                a.rec.merge(&rec);
                a.reports.push(report.clone());
                t.raw.push((round, name, report));
            }
            Err(e) => {
                eprintln!("round {round} {} {name}: FAILED: {e:#}", def.id);
                f.problems.push(format!("round {round} {}: run failed: {e:#}", def.id));
            }
        }
    }
    let sample = if t.facts.get(name).is_some_and(|f| f.sample_pod.is_none()) {
        w::get_json(
            &target,
            &format!("/api/v1/namespaces/{}/pods/{}", w::NS, w::pod_name(0)),
        )
        .await
        .ok()
    } else {
        None
    };
    let f = t.facts.entry(name).or_default();
    if sample.is_some() {
        f.sample_pod = sample;
    }
    f.peak_rss = f.peak_rss.max(srv.peak_rss().unwrap_or(0));
    let stopping = Instant::now();
    match srv.stop(Duration::from_secs(20)) {
        // A process that lets SIGTERM end it (no handler) stops cleanly too.
        Some(st) if st.success() || st.signal() == Some(15) => {
            f.stop_s.push(Some(stopping.elapsed().as_secs_f64()));
            f.stop_status = st.to_string();
        }
        Some(st) => {
            f.stop_s.push(Some(stopping.elapsed().as_secs_f64()));
            f.stop_status = st.to_string();
            f.problems
                .push(format!("round {round}: exited with {st} after SIGTERM"));
        }
        None => {
            f.stop_s.push(None);
            f.stop_status = "SIGKILL after 20 s".into();
            f.problems
                .push(format!("round {round}: needed SIGKILL 20 s after SIGTERM"));
        }
    }
    f.store_keys.push(store.count_keys().await.unwrap_or(-1));
    f.problems.extend(
        store
            .stop(Duration::from_secs(10))
            .into_iter()
            .map(|p| format!("round {round}: store: {p}")),
    );
    f.store_bytes.push(dir_size(&store.members[0].data_dir));
    drop(store);
    if !ctx.opts.keep {
        let _ = fs::remove_dir_all(dir.join("store"));
    }
    Ok(())
}

/// The whole comparison. Writes the outputs and returns the full report's Markdown.
pub async fn run(opts: &ApiCompareOpts) -> Result<String> {
    let store_src = match opts.store {
        Kind::Etcd => &opts.etcd_bin,
        Kind::Kv => &opts.kv_bin,
    };
    for (what, p) in [
        ("stock kube-apiserver", &opts.stock_bin),
        ("apiserver (cargo build --release -p apiserver)", &opts.ours_bin),
        ("store", store_src),
    ] {
        anyhow::ensure!(p.is_file(), "{what} binary {} not found", p.display());
    }
    fs::create_dir_all(&opts.data_root)?;
    let tmp = tempfile::Builder::new()
        .prefix("kv-bench-api-compare-")
        .tempdir_in(&opts.data_root)
        .context("create data root")?;
    let root = tmp.path().to_path_buf();
    let (cpu, cores, memory, kernel) = compare::cpu_memory_kernel();
    let mut machine = ApiMachine {
        cpu,
        cores,
        memory,
        kernel,
        data_fs: compare::mount_of(&opts.data_root),
        load_before: compare::loadavg(),
        load_after: String::new(),
        store_version: compare::first_line_of(store_src, "--version"),
        stock_version: compare::first_line_of(&opts.stock_bin, "--version"),
        git_head: compare::git(&opts.source_dir, &["log", "-1", "--format=%h %s"])
            .lines()
            .next()
            .unwrap_or("?")
            .to_string(),
        git_dirty: compare::git(&opts.source_dir, &["status", "--short", "--", "apiserver", "proto"])
            .lines()
            .map(str::to_string)
            .collect(),
    };
    eprintln!("api-compare: data under {} ({})", root.display(), machine.data_fs);
    eprintln!("api-compare: workspace at {}", machine.git_head);

    let c = certs::generate(&root.join("certs"))?;
    let shared = Shared::create(
        &root.join("shared"),
        c.ca_cert.clone(),
        c.server_cert.clone(),
        c.server_key.clone(),
        &opts.media_type,
    )?;
    // Private, renamed copies: tooling that stops servers by name cannot hit them mid-run.
    fs::create_dir_all(root.join("bin"))?;
    let copy = |from: &Path, to: &str| -> Result<PathBuf> {
        let dst = root.join("bin").join(to);
        fs::copy(from, &dst).with_context(|| format!("copy {} to {}", from.display(), dst.display()))?;
        eprintln!("api-compare: running {} as {}", from.display(), dst.display());
        Ok(dst)
    };
    let store_bin = copy(store_src, &format!("bench-srv-{}", opts.store.name()))?;
    let stock_bin = copy(&opts.stock_bin, "bench-srv-kube-apiserver")?;
    let ours_bin = copy(&opts.ours_bin, "bench-srv-apiserver")?;

    let defs = workloads(opts);
    let ctx = RunCtx {
        opts,
        shared: &shared,
        store_bin: &store_bin,
        root: &root,
        defs: &defs,
    };
    let mut t = Tally::default();
    for round in 1..=opts.rounds.max(1) {
        for (kind, bin) in [(ApiKind::Stock, &stock_bin), (ApiKind::Ours, &ours_bin)] {
            if let Err(e) = run_server(&ctx, kind, bin, round, &mut t).await {
                eprintln!("round {round} {}: FAILED: {e:#}", kind.name());
                t.facts
                    .entry(kind.name())
                    .or_default()
                    .problems
                    .push(format!("round {round}: {e:#}"));
            }
        }
    }
    machine.load_after = compare::loadavg();

    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let outcome = ApiOutcome {
        opts,
        machine: &machine,
        defs: &defs,
        aggs: &t.aggs,
        facts: &t.facts,
        store_command: t.store_command.clone(),
        date,
    };
    fs::create_dir_all(&opts.results_dir).with_context(|| format!("create {}", opts.results_dir.display()))?;
    let full = api_report::full_report(&outcome);
    fs::write(opts.out_report(), &full).with_context(|| format!("write {}", opts.out_report().display()))?;
    crate::report::splice_into_file(&opts.out_md, TAG, &opts.name, &api_report::section(&outcome))?;
    fs::write(opts.out_svg(), api_report::svg(&defs, &t.aggs))
        .with_context(|| format!("write {}", opts.out_svg().display()))?;
    let raw = Raw {
        name: &opts.name,
        store: opts.store.name(),
        http2: opts.http2,
        media_type: &opts.media_type,
        machine: &machine,
        workloads: &defs,
        servers: t.facts.iter().map(|(k, v)| (*k, v)).collect(),
        runs: t
            .raw
            .iter()
            .map(|(round, server, report)| RawRun {
                round: *round,
                server,
                report,
            })
            .collect(),
    };
    fs::write(opts.out_json(), serde_json::to_string_pretty(&raw)?)
        .with_context(|| format!("write {}", opts.out_json().display()))?;
    if opts.keep {
        let kept = tmp.keep();
        eprintln!("api-compare: kept data dirs and logs in {}", kept.display());
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::{short, workloads, ApiCompareOpts, ApiSpec};
    use crate::server::Kind;
    use std::path::PathBuf;

    fn opts() -> ApiCompareOpts {
        ApiCompareOpts {
            stock_bin: PathBuf::new(),
            ours_bin: PathBuf::new(),
            ours_built_from: None,
            store: Kind::Etcd,
            etcd_bin: PathBuf::new(),
            kv_bin: PathBuf::new(),
            rounds: 1,
            scale: 1.0,
            clients: 32,
            conns: 4,
            http2: true,
            pods_small: 1000,
            pods_large: 10_000,
            watch_rate: 100.0,
            media_type: "application/vnd.kubernetes.protobuf".into(),
            stock_args: Vec::new(),
            ours_args: Vec::new(),
            data_root: PathBuf::new(),
            name: "apiserver".into(),
            out_md: PathBuf::new(),
            results_dir: PathBuf::new(),
            source_dir: PathBuf::new(),
            keep: false,
            progress: false,
            argv: String::new(),
        }
    }

    #[test]
    fn missing_paths_name_the_topmost_absent_field() {
        let a = serde_json::json!({"metadata": {"name": "p", "managedFields": [{"manager": "x"}]},
            "spec": {"containers": [{"name": "c", "imagePullPolicy": "IfNotPresent"}], "dnsPolicy": "ClusterFirst"}});
        let b = serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(
            super::missing_paths(&a, &b),
            vec![
                "metadata.managedFields",
                "spec.containers[].imagePullPolicy",
                "spec.dnsPolicy"
            ]
        );
        assert!(super::missing_paths(&b, &a).is_empty());
    }

    #[test]
    fn short_counts() {
        assert_eq!(short(1000), "1k");
        assert_eq!(short(10_000), "10k");
        assert_eq!(short(1500), "1500");
        assert_eq!(short(0), "0");
    }

    #[test]
    fn creates_build_exactly_the_listed_namespace() {
        let mut o = opts();
        o.scale = 0.01;
        let defs = workloads(&o);
        let created: u64 = defs
            .iter()
            .filter(|d| matches!(d.spec, ApiSpec::Create { .. }))
            .map(|d| d.total)
            .sum();
        assert_eq!(created, 10_000, "scale does not change the data set");
        let mut have = 0;
        for d in &defs {
            match d.spec {
                ApiSpec::Create { first } => {
                    assert_eq!(first, have, "{} starts where the last create ended", d.id);
                    have += d.total;
                }
                ApiSpec::List { pods, .. } | ApiSpec::Get { pods } => assert_eq!(pods, have, "{}", d.id),
                _ => {}
            }
            assert!(d.conns <= d.clients);
        }
        let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids.first(), Some(&"create-1k"));
        assert!(ids.contains(&"list-10k-paged"));
        o.pods_large = 0;
        assert!(!workloads(&o).iter().any(|d| d.id.contains("10k")));
    }
}

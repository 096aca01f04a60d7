//! `kv-bench`: an etcd-`benchmark`-style load tool for any etcd v3 endpoint, plus `compare`
//! (etcd 3.4.23 vs kv) and `api-compare` (stock kube-apiserver 1.20.2 vs apiserver), which
//! write BENCHMARKS.md. Run `kv-bench --help`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use benches::api_compare::{self, ApiCompareOpts};
use benches::compare::{self, CompareOpts};
use benches::load::{ClientTls, LoadOpts, TlsFiles};
use benches::server::Kind;
use benches::stats::Report;
use benches::workloads::{self, prefix_end, MixedOpts, RangeOpts, Shape, WatchOpts};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "kv-bench",
    about = "Load generator for etcd v3 servers (etcd, kv), in the spirit of etcd's `benchmark`"
)]
struct Cli {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug)]
struct Global {
    /// Comma-separated host:port (or http://, https://) list; connections go round-robin
    /// over them. host:port means https when --cacert is given.
    #[arg(long, global = true, value_delimiter = ',', default_value = "127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// Verify the servers' certificates with this CA bundle (PEM) and connect over TLS.
    #[arg(long, global = true)]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM) for servers with --client-cert-auth; needs --key.
    #[arg(
        long = "cert",
        id = "cert_file",
        value_name = "CERT",
        global = true,
        requires = "key_file"
    )]
    cert: Option<PathBuf>,
    /// Client certificate's private key (PEM); needs --cert.
    #[arg(
        long = "key",
        id = "key_file",
        value_name = "KEY",
        global = true,
        requires = "cert_file"
    )]
    key: Option<PathBuf>,
    /// Concurrent clients (each one request in flight).
    #[arg(long, global = true, default_value_t = 1)]
    clients: usize,
    /// gRPC connections shared by the clients.
    #[arg(long, global = true, default_value_t = 1)]
    conns: usize,
    /// Requests to send (default 10000 unless --duration is given).
    #[arg(long, global = true, conflicts_with = "duration")]
    total: Option<u64>,
    /// Run for this long instead of a count (e.g. 30s, 500ms, 2m).
    #[arg(long, global = true, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Hard limit on any run's wall time.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "300s")]
    max_time: Duration,
    /// Digits of the generated key part (after --prefix).
    #[arg(long, global = true, default_value_t = 8)]
    key_size: usize,
    /// Value size in bytes.
    #[arg(long, global = true, default_value_t = 256)]
    val_size: usize,
    /// Distinct keys written (random unless --sequential-keys).
    #[arg(long, global = true, default_value_t = 10_000)]
    key_space: u64,
    /// Write keys 0, 1, 2, … (mod key space) instead of random ones.
    #[arg(long, global = true)]
    sequential_keys: bool,
    /// Prefix of every generated key.
    #[arg(long, global = true, default_value = "bench/")]
    prefix: String,
    /// Requests per second over all clients; 0 = unlimited (watch workloads: 0 means 100).
    #[arg(long, global = true, default_value_t = 0.0)]
    rate: f64,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// One Put per request.
    Put,
    /// One Range per request over KEY (prefilled), linearizable or serializable.
    Range(RangeArgs),
    /// Txn: compare mod_revision then put, else get (kube-apiserver's write).
    TxnPut,
    /// Put → watch event delay with few watchers.
    WatchLatency(WatchArgs),
    /// Many watchers on one prefix; every event timed at every watcher.
    WatchFanout(WatchFanoutArgs),
    /// Each client renews its own lease on a keepalive stream.
    LeaseKeepalive,
    /// Kubernetes-like mix: gets, paginated lists, compare-and-puts, prefix watchers.
    Mixed(MixedArgs),
    /// Start etcd and kv, run the standard workloads against both, write BENCHMARKS.md.
    Compare(CompareArgs),
    /// Load N keys into a fresh etcd and kv each, then time a restart and read RSS.
    ScaleProbe(ScaleArgs),
    /// Stock kube-apiserver v1.20.2 vs this project's apiserver on fresh stores: create,
    /// get, list (small and large namespace), update, watch; writes BENCHMARKS.md.
    ApiCompare(ApiCompareArgs),
}

#[derive(Args, Debug)]
struct ApiCompareArgs {
    /// The store under both API servers (a fresh single member per server run): etcd or kv.
    #[arg(long, default_value = "etcd", value_parser = ["etcd", "kv"])]
    store: String,
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd_bin: PathBuf,
    /// kv binary for --store kv (default: `kv` next to this executable).
    #[arg(long)]
    kv_bin: Option<PathBuf>,
    /// Stock kube-apiserver v1.20.2 (shared/stock-k8s/build.sh kube-apiserver prints its
    /// directory; default: that script's cache under $HOME/.cache/stock-k8s).
    #[arg(long)]
    stock_bin: Option<PathBuf>,
    /// This project's apiserver (default: `apiserver` next to this executable).
    #[arg(long)]
    apiserver_bin: Option<PathBuf>,
    /// How the apiserver binary was built, recorded in the report (e.g. "git archive of
    /// 1c3260d"), when it is not simply the workspace as it is.
    #[arg(long)]
    apiserver_built_from: Option<String>,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Multiply the request counts of the reads, updates and watches (not the pods created).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Concurrent clients of create, get and update (the global --clients is not used).
    #[arg(long = "api-clients", default_value_t = 32)]
    api_clients: usize,
    /// HTTP/2 connections those clients share.
    #[arg(long = "api-conns", default_value_t = 4)]
    api_conns: usize,
    /// HTTP/1.1 keep-alive, one connection per client, instead of HTTP/2.
    #[arg(long)]
    http1: bool,
    /// Pods in the namespace for the small phase (create, get, list, update, watch).
    #[arg(long, default_value_t = 1000)]
    pods: u64,
    /// Pods in all for the large phase (create more, list); 0 = none.
    #[arg(long, default_value_t = 10_000)]
    pods_large: u64,
    /// Updates per second during the watch rows.
    #[arg(long, default_value_t = 100.0)]
    watch_rate: f64,
    /// --storage-media-type of both servers.
    #[arg(long, default_value = "application/vnd.kubernetes.protobuf")]
    storage_media_type: String,
    /// Extra flag for the stock server (repeat; e.g. --stock-arg=--feature-gates=ServerSideApply=false).
    #[arg(long, allow_hyphen_values = true)]
    stock_arg: Vec<String>,
    /// Extra flag for this project's apiserver (repeat).
    #[arg(long, allow_hyphen_values = true)]
    apiserver_arg: Vec<String>,
    /// Where fresh data dirs go (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Report name: <results-dir>/<name>.{md,json,svg} and its section of --out.
    #[arg(long, default_value = "apiserver")]
    name: String,
    /// Markdown file whose section is replaced or appended (default: BENCHMARKS.md at the
    /// workspace root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory of the reports (default: benches/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Keep data dirs and server logs.
    #[arg(long)]
    keep: bool,
}

/// build.sh's cached kube-apiserver: `$STOCK_K8S_CACHE` or `$HOME/.cache/stock-k8s`.
fn default_stock_bin() -> PathBuf {
    let cache = std::env::var("STOCK_K8S_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        std::env::var("HOME")
            .map(|h| PathBuf::from(h).join(".cache/stock-k8s"))
            .unwrap_or_else(|_| PathBuf::from("/root/.cache/stock-k8s"))
    });
    cache.join("kubernetes-1.20.2/_output/local/bin/linux/amd64/kube-apiserver")
}

#[derive(Args, Debug)]
struct ScaleArgs {
    /// Keys to write (sequential, --val-size bytes each).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd_bin: PathBuf,
    /// kv binary (default: `kv` next to this executable).
    #[arg(long)]
    kv_bin: Option<PathBuf>,
    /// Where fresh data dirs go (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RangeArgs {
    /// Key to read (prefilled with one value unless --prefill 0).
    #[arg(default_value = "bench/range")]
    key: String,
    /// End of the range (exclusive); empty = the single key.
    #[arg(long, default_value = "")]
    range_end: String,
    /// Read every key starting with KEY.
    #[arg(long)]
    range_prefix: bool,
    /// l = linearizable, s = serializable.
    #[arg(long, default_value = "l")]
    consistency: String,
    #[arg(long, default_value_t = 0)]
    limit: i64,
    #[arg(long)]
    count_only: bool,
    /// Keys to write before the run: 1 = KEY itself, N > 1 = KEY + 0..N.
    #[arg(long, default_value_t = 1)]
    prefill: u64,
}

#[derive(Args, Debug)]
struct WatchArgs {
    #[arg(long, default_value_t = 1)]
    watchers: usize,
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// Wait this long for straggling events after the last put.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    drain: Duration,
}

#[derive(Args, Debug)]
struct WatchFanoutArgs {
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    #[arg(long, default_value_t = 10)]
    streams: usize,
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    drain: Duration,
}

#[derive(Args, Debug)]
struct MixedArgs {
    /// Percent reads (rest: compare-and-put updates).
    #[arg(long, default_value_t = 80)]
    read_pct: u32,
    /// Percent of reads that are list pages (rest: single-key gets).
    #[arg(long, default_value_t = 50)]
    list_pct: u32,
    #[arg(long, default_value_t = 100)]
    page_size: i64,
    /// Watch streams, one per resource prefix.
    #[arg(long, default_value_t = 8)]
    watchers: usize,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// Members per cluster (both servers); 3 or more adds the leader-failover measurement.
    #[arg(long, default_value_t = 1)]
    members: usize,
    /// TLS on the client port with client certificates (generated with openssl), and the
    /// TLS set: put-64 and range-l-64 over TLS and over plain http to the same servers.
    #[arg(long)]
    tls: bool,
    /// Leader kills per server (clusters of 3 or more; 0 = none).
    #[arg(long, default_value_t = 3)]
    failovers: usize,
    /// --election-timeout of every member, ms.
    #[arg(long, default_value_t = 1000)]
    election_timeout: u64,
    /// --heartbeat-interval of every member, ms.
    #[arg(long, default_value_t = 100)]
    heartbeat_interval: u64,
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd_bin: PathBuf,
    /// kv binary (default: `kv` next to this executable).
    #[arg(long)]
    kv_bin: Option<PathBuf>,
    /// How the kv binary was built, recorded in the report (e.g. "git archive of 1a87196"),
    /// when it is not simply the workspace as it is.
    #[arg(long)]
    kv_built_from: Option<String>,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Multiply every workload's request count (0.1 for a quick look).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Where fresh data dirs go (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// This configuration's name: its report is <results-dir>/<name>.{md,json,svg} and its
    /// section of --out is replaced (default: 1-member, 3-member, 1-member-tls, …).
    #[arg(long)]
    name: Option<String>,
    /// Markdown file whose section for this configuration is replaced or appended (default:
    /// BENCHMARKS.md at the workspace root); the rest of the file is kept.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory of the per-configuration reports (default: benches/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Only these workload ids (comma-separated): put-1, put-64, put-256, range-l-1,
    /// range-l-64, range-s-64, txn-put-64, watch-1, watch-100, lease-64, mixed-64; with
    /// --tls: put-64, put-64-tls, range-l-64, range-l-64-tls.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Keep data dirs and server logs.
    #[arg(long)]
    keep: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (try 30s, 500ms, 2m)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mul))
}

fn load_opts(g: &Global) -> Result<LoadOpts> {
    let files = TlsFiles {
        cacert: g.cacert.clone(),
        cert: g.cert.clone(),
        key: g.key.clone(),
    };
    let tls = if files.any() {
        Some(ClientTls::from_files(&files)?)
    } else {
        None
    };
    Ok(LoadOpts {
        endpoints: g.endpoints.clone(),
        clients: g.clients,
        conns: g.conns,
        total: g.total,
        duration: g.duration,
        rate: g.rate,
        max_time: g.max_time,
        progress: !g.json,
        tls,
    })
}

fn shape(g: &Global) -> Shape {
    Shape {
        prefix: g.prefix.clone(),
        key_size: g.key_size,
        val_size: g.val_size,
        key_space: g.key_space,
        sequential: g.sequential_keys,
    }
}

/// `a` as one shell word: as is when it is plain, else in single quotes.
fn shell_quote(a: &str) -> String {
    if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c)) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn print(report: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let g = &cli.g;
    let mut opts = load_opts(g)?;
    let shape = shape(g);
    let (report, _) = match cli.cmd {
        Cmd::Put => workloads::put(&opts, &shape).await?,
        Cmd::Range(r) => {
            let key = r.key.clone().into_bytes();
            let range_end = if r.range_prefix {
                prefix_end(&key)
            } else {
                r.range_end.clone().into_bytes()
            };
            let serializable = match r.consistency.as_str() {
                "l" | "linearizable" => false,
                "s" | "serializable" => true,
                other => anyhow::bail!("--consistency must be l or s, not {other:?}"),
            };
            let ro = RangeOpts {
                key,
                range_end,
                serializable,
                limit: r.limit,
                count_only: r.count_only,
                prefill: r.prefill,
            };
            workloads::range(&opts, &shape, &ro).await?
        }
        Cmd::TxnPut => workloads::txn_put(&opts, &shape).await?,
        Cmd::WatchLatency(w) => {
            if opts.rate <= 0.0 {
                opts.rate = 100.0;
            }
            if g.total.is_none() && g.duration.is_none() {
                opts.total = Some(1000);
            }
            let wo = WatchOpts {
                watchers: w.watchers,
                streams: w.streams,
                drain: w.drain,
            };
            workloads::watch("watch-latency", &opts, &shape, &wo).await?
        }
        Cmd::WatchFanout(w) => {
            if opts.rate <= 0.0 {
                opts.rate = 100.0;
            }
            if g.total.is_none() && g.duration.is_none() {
                opts.total = Some(1000);
            }
            let wo = WatchOpts {
                watchers: w.watchers,
                streams: w.streams,
                drain: w.drain,
            };
            workloads::watch("watch-fanout", &opts, &shape, &wo).await?
        }
        Cmd::LeaseKeepalive => workloads::lease_keepalive(&opts).await?,
        Cmd::Mixed(m) => {
            let mo = MixedOpts {
                read_pct: m.read_pct.min(100),
                list_pct: m.list_pct.min(100),
                page_size: m.page_size,
                watchers: m.watchers,
            };
            workloads::mixed(&opts, &shape, &mo).await?
        }
        Cmd::ScaleProbe(sc) => {
            let kv_bin = match sc.kv_bin {
                Some(p) => p,
                None => std::env::current_exe().context("locate kv-bench")?.with_file_name("kv"),
            };
            let base = sc.data_root.unwrap_or_else(std::env::temp_dir);
            let tmp = tempfile::Builder::new()
                .prefix("kv-bench-scale-")
                .tempdir_in(&base)
                .context("create data root")?;
            let mut all = Vec::new();
            for (kind, bin) in [(Kind::Etcd, &sc.etcd_bin), (Kind::Kv, &kv_bin)] {
                let f = compare::scale_probe(kind, bin, tmp.path(), sc.keys, g.val_size, !g.json).await?;
                if !g.json {
                    println!(
                        "{:<4} {} keys loaded in {:.1} s ({:.0}/s); RSS loaded {:.1} MiB, peak {:.1} MiB; \
                         restart → first linearizable read {:.3} s; RSS after restart {:.1} MiB; \
                         data dir {:.1} MiB{}",
                        f.server,
                        f.keys,
                        f.load_s,
                        f.load_throughput,
                        f.rss_loaded as f64 / 1048576.0,
                        f.peak_rss as f64 / 1048576.0,
                        f.restart_s,
                        f.rss_after_restart as f64 / 1048576.0,
                        f.data_size as f64 / 1048576.0,
                        if f.problems.is_empty() {
                            String::new()
                        } else {
                            format!("; problems: {:?}", f.problems)
                        }
                    );
                }
                all.push(f);
            }
            if g.json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
            return Ok(());
        }
        Cmd::ApiCompare(a) => {
            let root = workspace_root();
            let here = std::env::current_exe().context("locate kv-bench")?;
            anyhow::ensure!(
                !a.name.is_empty()
                    && a.name
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)),
                "--name {:?}: use letters, digits, '-', '_' and '.'",
                a.name
            );
            let ao = ApiCompareOpts {
                stock_bin: a.stock_bin.unwrap_or_else(default_stock_bin),
                ours_bin: a.apiserver_bin.unwrap_or_else(|| here.with_file_name("apiserver")),
                ours_built_from: a.apiserver_built_from,
                store: if a.store == "kv" { Kind::Kv } else { Kind::Etcd },
                etcd_bin: a.etcd_bin,
                kv_bin: a.kv_bin.unwrap_or_else(|| here.with_file_name("kv")),
                rounds: a.rounds.max(1),
                scale: a.scale,
                clients: a.api_clients.max(1),
                conns: a.api_conns.max(1),
                http2: !a.http1,
                pods_small: a.pods.max(1),
                pods_large: a.pods_large,
                watch_rate: if a.watch_rate > 0.0 { a.watch_rate } else { 100.0 },
                media_type: a.storage_media_type,
                stock_args: a.stock_arg,
                ours_args: a.apiserver_arg,
                data_root: a.data_root.unwrap_or_else(std::env::temp_dir),
                name: a.name,
                out_md: a.out.unwrap_or_else(|| root.join("BENCHMARKS.md")),
                results_dir: a.results_dir.unwrap_or_else(|| root.join("benches/results")),
                source_dir: root.clone(),
                keep: a.keep,
                progress: !g.json,
                argv: std::env::args().map(|a| shell_quote(&a)).collect::<Vec<_>>().join(" "),
            };
            let md = api_compare::run(&ao).await?;
            if !g.json {
                println!("{md}");
            }
            eprintln!(
                "api-compare: wrote {} (section {}), {}, {}, {}",
                ao.out_md.display(),
                ao.name,
                ao.out_report().display(),
                ao.out_json().display(),
                ao.out_svg().display()
            );
            return Ok(());
        }
        Cmd::Compare(c) => {
            let root = workspace_root();
            let kv_bin = match c.kv_bin {
                Some(p) => p,
                None => std::env::current_exe().context("locate kv-bench")?.with_file_name("kv"),
            };
            let members = c.members.max(1);
            let name = c.name.unwrap_or_else(|| CompareOpts::default_name(members, c.tls));
            anyhow::ensure!(
                !name.is_empty() && name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)),
                "--name {name:?}: use letters, digits, '-', '_' and '.'"
            );
            let co = CompareOpts {
                members,
                etcd_bin: c.etcd_bin,
                kv_bin,
                kv_built_from: c.kv_built_from,
                rounds: c.rounds.max(1),
                scale: c.scale,
                tls: c.tls,
                failovers: c.failovers,
                heartbeat_ms: c.heartbeat_interval,
                election_ms: c.election_timeout,
                data_root: c.data_root.unwrap_or_else(std::env::temp_dir),
                name,
                out_md: c.out.unwrap_or_else(|| root.join("BENCHMARKS.md")),
                results_dir: c.results_dir.unwrap_or_else(|| root.join("benches/results")),
                source_dir: root.clone(),
                only: c.only,
                keep: c.keep,
                progress: !g.json,
                argv: std::env::args().map(|a| shell_quote(&a)).collect::<Vec<_>>().join(" "),
            };
            let md = compare::run(&co).await?;
            if !g.json {
                println!("{md}");
            }
            eprintln!(
                "compare: wrote {} (section {}), {}, {}, {}",
                co.out_md.display(),
                co.name,
                co.out_report().display(),
                co.out_json().display(),
                co.out_svg().display()
            );
            return Ok(());
        }
    };
    print(&report, g.json)
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kv-bench: tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("kv-bench: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::{shell_quote, Cli, Cmd};
    use clap::{CommandFactory, Parser};

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("--kv-bin"), "--kv-bin");
        assert_eq!(shell_quote("/a/b-c_1.2"), "/a/b-c_1.2");
        assert_eq!(shell_quote("a b `c`"), "'a b `c`'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tls_flags_do_not_clash_with_subcommand_args() {
        let cli = Cli::try_parse_from([
            "kv-bench",
            "--cacert",
            "ca.crt",
            "--cert",
            "c.crt",
            "--key",
            "c.key",
            "range",
            "some/key",
            "--consistency",
            "s",
        ]);
        let cli = match cli {
            Ok(c) => c,
            Err(e) => panic!("parse: {e}"),
        };
        assert_eq!(cli.g.key.as_deref(), Some(std::path::Path::new("c.key")));
        assert!(matches!(cli.cmd, Cmd::Range(ref r) if r.key == "some/key"));
        assert!(Cli::try_parse_from(["kv-bench", "--cert", "c.crt", "put"]).is_err());
    }
}

//! `jepsen test …`: runs the linearizability / watch / durability harness against a cluster
//! it starts (`--target etcd`, `--target kv --kv-bin PATH`) or external `--endpoints`.
//! Exit 0 = every check valid, 1 = a check invalid, 2 = the run could not be carried out;
//! the last line of output is the verdict.

use clap::{Parser, Subcommand, ValueEnum};
use jepsen::run::{self, Config, Target};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "jepsen",
    about = "Linearizability and durability harness for etcd-v3 clusters"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum TargetKind {
    Etcd,
    Kv,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Anomaly {
    None,
    StaleReads,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one test.
    Test(TestArgs),
    /// Re-check the linearizability of a stored history.jsonl.
    Check {
        history: PathBuf,
        #[arg(long, default_value_t = 8)]
        keys: usize,
    },
}

#[derive(clap::Args, Debug)]
struct TestArgs {
    /// Start a cluster of this kind (ignored with --endpoints).
    #[arg(long, value_enum, default_value = "etcd")]
    target: TargetKind,
    /// The kv binary for --target kv.
    #[arg(long)]
    kv_bin: Option<PathBuf>,
    /// The etcd binary for --target etcd.
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd_bin: PathBuf,
    /// Comma-separated client URLs of an external cluster (no faults injected).
    #[arg(long, value_delimiter = ',')]
    endpoints: Vec<String>,
    #[arg(long, default_value_t = 3)]
    members: usize,
    /// Seconds of workload.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Faults: comma-separated kill, pause, partition (or none).
    #[arg(long, default_value = "kill,pause,partition")]
    nemesis: String,
    /// Mean seconds between faults.
    #[arg(long, default_value_t = 3.0)]
    nemesis_interval: f64,
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Number of registers.
    #[arg(long, default_value_t = 8)]
    keys: usize,
    #[arg(long, value_enum, default_value = "none")]
    anomaly: Anomaly,
    #[arg(long, default_value_t = 4)]
    watchers: usize,
    /// Per-request timeout in milliseconds (after which a write is `info`).
    #[arg(long, default_value_t = 2000)]
    op_timeout_ms: u64,
    /// Pause between a client's ops in milliseconds (bounds the load).
    #[arg(long, default_value_t = 10)]
    think_ms: u64,
    /// Report directory (default store/<timestamp>).
    #[arg(long)]
    store: Option<PathBuf>,
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds the linearizability search may take before a key is "unknown".
    #[arg(long, default_value_t = 120)]
    check_timeout: u64,
    /// Keep the members' data directories in the store.
    #[arg(long)]
    keep_data: bool,
    /// Run started members on 127.0.0.1 instead of network namespaces (no root needed, no
    /// partitions). Chosen automatically when not running as root.
    #[arg(long)]
    loopback: bool,
    /// Watchers send WatchProgressRequest every second and check bookmarks: a progress
    /// notification at revision R only after every event up to R (etcd #15220; kube-apiserver
    /// relies on it only from etcd 3.4.31 / 3.5.13).
    #[arg(long)]
    watch_progress: bool,
}

fn config(a: TestArgs) -> anyhow::Result<Config> {
    let (target, target_name) = if !a.endpoints.is_empty() {
        (
            Target::Endpoints(a.endpoints.clone()),
            format!("endpoints {}", a.endpoints.join(",")),
        )
    } else {
        let bin = match a.target {
            TargetKind::Etcd => a.etcd_bin.clone(),
            TargetKind::Kv => a
                .kv_bin
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--target kv needs --kv-bin PATH"))?,
        };
        if a.members == 0 || a.members > 9 {
            anyhow::bail!("--members must be 1..=9");
        }
        let name = format!("{:?} {}", a.target, bin.display()).to_lowercase();
        (
            Target::Spawn {
                bin,
                members: a.members,
            },
            name,
        )
    };
    if a.keys == 0 || a.concurrency == 0 {
        anyhow::bail!("--keys and --concurrency must be positive");
    }
    let store = a.store.unwrap_or_else(|| {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("store/{ts}"))
    });
    Ok(Config {
        target,
        target_name,
        time_limit: Duration::from_secs(a.time_limit),
        concurrency: a.concurrency,
        keys: a.keys,
        nemesis: jepsen::nemesis::parse(&a.nemesis)?,
        nemesis_interval: Duration::from_secs_f64(a.nemesis_interval.max(0.1)),
        stale_reads: a.anomaly == Anomaly::StaleReads,
        watchers: a.watchers,
        op_timeout: Duration::from_millis(a.op_timeout_ms.max(50)),
        think: Duration::from_millis(a.think_ms),
        store,
        seed: a.seed.unwrap_or_else(rand::random),
        check_budget: Duration::from_secs(a.check_timeout),
        keep_data: a.keep_data,
        loopback: a.loopback || !nix::unistd::Uid::effective().is_root(),
        watch_progress: a.watch_progress,
    })
}

/// `jepsen check FILE`: linearizability of a stored history, same output and exit codes.
fn recheck(path: &std::path::Path, keys: usize) -> i32 {
    let ops = match std::fs::read_to_string(path)
        .map_err(anyhow::Error::from)
        .and_then(|t| jepsen::history::load_jsonl(&t))
    {
        Ok(ops) => ops,
        Err(e) => {
            println!("ERROR: {}: {e:#}", path.display());
            return 2;
        }
    };
    let r = jepsen::checker::check_linear(&ops, keys, Duration::from_secs(300));
    for ce in &r.counterexamples {
        println!("counterexample on k{} ({} ops, real-time order):", ce.key, ce.ops.len());
        for op in &ce.ops {
            println!("{}", jepsen::report::format_op(op));
        }
    }
    if r.valid {
        println!("valid: {} ops ({} ms)", ops.len(), r.check_ms);
        0
    } else {
        println!(
            "INVALID: {} keys invalid, {} unknown; {} ops",
            r.invalid_keys.len(),
            r.unknown_keys.len(),
            ops.len()
        );
        1
    }
}

fn main() {
    let args = match Cli::parse().cmd {
        Cmd::Test(args) => args,
        Cmd::Check { history, keys } => std::process::exit(recheck(&history, keys)),
    };
    let code = match config(args) {
        Err(e) => {
            println!("ERROR: {e:#}");
            2
        }
        Ok(cfg) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    println!("ERROR: runtime: {e}");
                    std::process::exit(2);
                }
            };
            let result = rt.block_on(async {
                tokio::select! {
                    r = run::run(cfg) => r,
                    _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
                }
            });
            // Dropping the runtime drops the run's future: members are killed, namespaces removed.
            drop(rt);
            match result {
                Ok(out) => {
                    println!("{}", out.verdict);
                    out.code
                }
                Err(e) => {
                    println!("ERROR: run could not be carried out: {e:#}");
                    2
                }
            }
        }
    };
    std::process::exit(code);
}

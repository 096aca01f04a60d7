//! One test run, start to verdict: start (or attach to) the cluster, run clients, watchers and
//! the nemesis for the time limit, heal, write a sentinel, read the final states, collect the
//! reference watch log up to the newest revision they saw, check, report.
//!
//! Owner: `run` owns the cluster; every process and namespace is released when it returns or
//! is dropped (also on error or Ctrl-C), through the cluster's Drop guards.

use crate::checker::{self, durability::MemberState};
use crate::cluster::{channel, Cluster, Spawn};
use crate::history::{Recorder, Ret};
use crate::nemesis::{self, Kind};
use crate::report::{self, Summary};
use crate::workload::client::{parse_value, Keys};
use crate::workload::watcher::{self, WatchEnv};
use crate::workload::{self, Shared, ANY};
use anyhow::{bail, Context, Result};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::{PutRequest, RangeRequest};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Where the cluster comes from.
#[derive(Debug, Clone)]
pub enum Target {
    Spawn { bin: PathBuf, members: usize },
    Endpoints(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub target: Target,
    pub target_name: String,
    pub time_limit: Duration,
    pub concurrency: usize,
    pub keys: usize,
    pub nemesis: Vec<Kind>,
    pub nemesis_interval: Duration,
    pub stale_reads: bool,
    pub watchers: usize,
    pub op_timeout: Duration,
    pub think: Duration,
    pub store: PathBuf,
    pub seed: u64,
    pub check_budget: Duration,
    pub keep_data: bool,
    /// Members on 127.0.0.1 without namespaces (no partitions).
    pub loopback: bool,
    /// Watchers request progress notifications and the bookmark guarantee is checked.
    pub watch_progress: bool,
}

/// What the caller prints and how it exits.
#[derive(Debug)]
pub struct Outcome {
    /// 0 valid, 1 invalid, 2 not carried out (or not decidable within the check budget).
    pub code: i32,
    pub verdict: String,
}

fn say(msg: impl AsRef<str>) {
    println!("{}", msg.as_ref());
}

/// Retries a put of the sentinel until it succeeds; returns its revision.
async fn write_sentinel(endpoints: &[String], keys: &Keys, deadline: Instant) -> Result<i64> {
    let mut i = 0;
    loop {
        let mut kv = KvClient::new(channel(&endpoints[i % endpoints.len()], Duration::from_secs(2))?);
        let req = PutRequest {
            key: keys.sentinel(),
            value: b"end".to_vec(),
            ..Default::default()
        };
        match kv.put(req).await {
            Ok(r) => return Ok(r.into_inner().header.map(|h| h.revision).unwrap_or(0)),
            Err(e) if Instant::now() > deadline => bail!("sentinel write failed: {}", e.message()),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
        i += 1;
    }
}

async fn current_revision(endpoints: &[String]) -> Result<i64> {
    for url in endpoints {
        let mut kv = KvClient::new(channel(url, Duration::from_secs(2))?);
        let req = RangeRequest {
            key: b"jepsen-revision".to_vec(),
            ..Default::default()
        };
        if let Ok(r) = kv.range(req).await {
            return Ok(r.into_inner().header.map(|h| h.revision).unwrap_or(0));
        }
    }
    bail!("no endpoint answered a read")
}

/// Member-local read of every register once the member has applied `rev`.
async fn member_state(url: &str, member: usize, keys: &Keys, rev: i64, deadline: Instant) -> MemberState {
    let mut error = String::new();
    while Instant::now() < deadline {
        let ch = match channel(url, Duration::from_secs(2)) {
            Ok(c) => c,
            Err(e) => {
                return MemberState {
                    member,
                    kvs: None,
                    rev: 0,
                    error: Some(e.to_string()),
                }
            }
        };
        let (key, range_end) = keys.registers();
        let req = RangeRequest {
            key,
            range_end,
            serializable: true,
            ..Default::default()
        };
        match KvClient::new(ch).range(req).await {
            Ok(r) => {
                let r = r.into_inner();
                let at = r.header.as_ref().map(|h| h.revision).unwrap_or(0);
                if at >= rev {
                    let kvs = r
                        .kvs
                        .iter()
                        .filter_map(|k| {
                            let kv = crate::history::Kv {
                                value: parse_value(&k.value),
                                mod_rev: k.mod_revision,
                            };
                            Some((keys.parse(&k.key)?, kv))
                        })
                        .collect();
                    return MemberState {
                        member,
                        kvs: Some(kvs),
                        rev: at,
                        error: None,
                    };
                }
                error = format!("at revision {at}, waiting for {rev}");
            }
            Err(e) => error = e.message().to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    MemberState {
        member,
        kvs: None,
        rev: 0,
        error: Some(error),
    }
}

pub async fn run(cfg: Config) -> Result<Outcome> {
    std::fs::create_dir_all(&cfg.store).with_context(|| format!("creating {}", cfg.store.display()))?;
    say(format!("store: {}", cfg.store.display()));
    let mut cluster = match &cfg.target {
        Target::Spawn { bin, members } => {
            let place = if cfg.loopback {
                "on 127.0.0.1"
            } else {
                "in private network namespaces"
            };
            say(format!("starting {members} members of {} {place}", bin.display()));
            Cluster::start(&Spawn {
                bin: bin.clone(),
                members: *members,
                dir: cfg.store.clone(),
                keep_data: cfg.keep_data,
                loopback: cfg.loopback,
                extra_args: Vec::new(),
            })
            .await?
        }
        Target::Endpoints(urls) => Cluster::external(urls.clone()),
    };
    cluster.wait_healthy(Duration::from_secs(30)).await?;
    let mut nemesis_kinds = if cluster.controllable() {
        cfg.nemesis.clone()
    } else {
        Vec::new()
    };
    if cluster.controllable() && !cluster.can_partition() && nemesis_kinds.contains(&Kind::Partition) {
        say("note: members on loopback: partitions are not injected (they need network namespaces)");
        nemesis_kinds.retain(|k| *k != Kind::Partition);
    }
    if !cluster.controllable() && (!cfg.nemesis.is_empty() || cfg.stale_reads) {
        say("note: external endpoints: no faults are injected (the harness cannot control members)");
    }
    let endpoints = cluster.endpoints.clone();
    say(format!("cluster healthy: {}", endpoints.join(",")));
    let cluster = Arc::new(Mutex::new(cluster));

    let run_id = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        std::process::id()
    );
    let keys = Keys {
        prefix: format!("jepsen/{run_id}/"),
        count: cfg.keys,
    };
    let start_rev = current_revision(&endpoints).await? + 1;
    let rec = Arc::new(Recorder::new());
    let shared = Arc::new(Shared {
        rec: rec.clone(),
        keys: keys.clone(),
        endpoints: endpoints.clone(),
        next_value: AtomicU64::new(1),
        anomaly_target: AtomicUsize::new(ANY),
        op_timeout: cfg.op_timeout,
        think: cfg.think,
    });
    let wenv = Arc::new(WatchEnv {
        rec: rec.clone(),
        keys: keys.clone(),
        endpoints: endpoints.clone(),
        target: AtomicI64::new(0),
        progress: cfg.watch_progress,
    });
    let until = Instant::now() + cfg.time_limit;
    let hard = until + Duration::from_secs(120) + cfg.time_limit / 10;

    say(format!(
        "running {}s: {} clients{}, {} watchers, nemesis [{}], keys under {}",
        cfg.time_limit.as_secs(),
        cfg.concurrency,
        if cfg.stale_reads { " + 2 stale-read clients" } else { "" },
        cfg.watchers,
        nemesis_kinds
            .iter()
            .map(|k| format!("{k:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(","),
        keys.prefix
    ));
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut clients = tokio::task::JoinSet::new();
    for p in 0..cfg.concurrency {
        clients.spawn(workload::run_client(shared.clone(), p, until, rng.gen()));
    }
    if cfg.stale_reads {
        for p in cfg.concurrency..cfg.concurrency + 2 {
            clients.spawn(workload::run_anomaly_client(shared.clone(), p, until, rng.gen()));
        }
    }
    let mut watchers = Vec::new();
    for w in 0..cfg.watchers {
        let env = wenv.clone();
        let delay = if w < 2 {
            Duration::ZERO
        } else {
            cfg.time_limit.mul_f64(rng.gen_range(0.1..0.6))
        };
        let offset: i64 = rng.gen_range(0..20);
        let eps = endpoints.clone();
        watchers.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let start = if delay.is_zero() {
                start_rev
            } else {
                current_revision(&eps)
                    .await
                    .map(|r| (r - offset).max(start_rev))
                    .unwrap_or(start_rev)
            };
            watcher::run(env, w, start, w != 1, hard).await
        }));
    }
    let nemesis_task = {
        let ncfg = nemesis::Config {
            kinds: nemesis_kinds.clone(),
            interval: cfg.nemesis_interval,
            hold: (Duration::from_secs(2), Duration::from_secs(5)),
            stale_reads: cfg.stale_reads && cluster.lock().await.can_partition(),
        };
        let active = !ncfg.kinds.is_empty() || ncfg.stale_reads;
        let (c, r, s) = (cluster.clone(), rec.clone(), shared.clone());
        tokio::spawn(async move {
            if active {
                nemesis::run(c, r, s, ncfg, until, rng.gen()).await
            } else {
                Ok(0)
            }
        })
    };
    while clients.join_next().await.is_some() {}
    let faults = nemesis_task.await.context("nemesis task")??;
    say(format!(
        "workload done: {} ops, {} faults; healing",
        rec.ops().len(),
        faults
    ));
    {
        let mut c = cluster.lock().await;
        c.heal_all().await?;
        c.wait_healthy(Duration::from_secs(30)).await?;
    }
    let sentinel = write_sentinel(&endpoints, &keys, Instant::now() + Duration::from_secs(20)).await?;
    // The final reads come before the reference: a write still in flight (a proposal a
    // partition held back, delivered once it healed) may commit after the sentinel, so the
    // reference and the watchers run to the newest revision any final read saw.
    let final_read = workload::final_read(
        &shared,
        report::svg::FINAL_PROCESS,
        Instant::now() + Duration::from_secs(10),
    )
    .await;
    let mut members = Vec::new();
    for (i, url) in endpoints.iter().enumerate() {
        members.push(member_state(url, i, &keys, sentinel, Instant::now() + Duration::from_secs(10)).await);
    }
    let read_rev = match &final_read {
        Some(Ret::Range { rev, .. }) => *rev,
        _ => 0,
    };
    let end = members.iter().map(|m| m.rev).fold(sentinel.max(read_rev), i64::max);
    if end > sentinel {
        say(format!(
            "writes committed after the sentinel ({sentinel}): the history runs to {end}"
        ));
    }
    wenv.target.store(end, Ordering::Relaxed);
    // The reference replays the whole run: allow time in proportion to its length.
    // etcd replays history at ~10k revisions/s (1000 per batch, every 100 ms).
    let replay = Duration::from_secs(60) + cfg.time_limit / 5;
    let reference = watcher::run(wenv.clone(), usize::MAX, start_rev, false, Instant::now() + replay).await;
    let reference_complete = reference.caught_up;
    if !reference_complete {
        say(format!(
            "reference watch did not reach revision {end} within {}s",
            replay.as_secs()
        ));
    }
    let mut logs = Vec::new();
    for w in watchers {
        logs.push(w.await.context("watcher task")?);
    }
    let end_ns = rec.now();
    let ops = rec.ops();
    let fault_log = rec.faults();
    say(format!(
        "checking {} ops ({} watch events in the reference)",
        ops.len(),
        reference.events().count()
    ));

    let budget = cfg.check_budget;
    // Info writes the final history proves ineffective are checked as `fail`.
    let resolved = checker::durability::ineffective_info_writes(&ops, &keys, &reference);
    let mut ops_for_check = ops.clone();
    for &id in &resolved {
        if let Some(op) = ops_for_check.get_mut(id) {
            op.outcome = Some(crate::history::Outcome::Fail);
        }
    }
    let nkeys = cfg.keys;
    let mut linear = tokio::task::spawn_blocking(move || checker::check_linear(&ops_for_check, nkeys, budget)).await?;
    linear.info_resolved = resolved.len();
    let contiguous = matches!(cfg.target, Target::Spawn { .. });
    let watch = checker::watch::check(&reference, &logs, end, contiguous);
    let durability = checker::durability::check(
        &ops,
        &keys,
        &reference,
        &members,
        final_read.as_ref().filter(|r| matches!(r, Ret::Range { .. })),
    );
    let count = |o: crate::history::Outcome| ops.iter().filter(|x| x.outcome == Some(o)).count();
    let summary = Summary {
        params: serde_json::json!({
            "target": cfg.target_name,
            "endpoints": endpoints,
            "time_limit_s": cfg.time_limit.as_secs(),
            "concurrency": cfg.concurrency,
            "keys": cfg.keys,
            "nemesis": nemesis_kinds.iter().map(|k| format!("{k:?}").to_lowercase()).collect::<Vec<_>>(),
            "anomaly": if cfg.stale_reads { "stale-reads" } else { "none" },
            "seed": cfg.seed,
        }),
        ops: ops.len(),
        ok: count(crate::history::Outcome::Ok),
        fail: count(crate::history::Outcome::Fail),
        info: count(crate::history::Outcome::Info),
        faults,
        latency_ms: report::latencies(&ops),
        valid: linear.valid && watch.valid && durability.valid,
        linear,
        watch,
        durability,
    };
    let text = report::text(&summary, &fault_log);
    print!("{text}");
    // watch.json: the reference log in full; the watchers' metadata only (when the watch check
    // passed their events equal the reference's), all of it when it failed.
    let mut all_logs: Vec<_> = logs
        .into_iter()
        .map(|mut l| {
            if summary.watch.valid {
                l.responses.clear();
            }
            l
        })
        .collect();
    all_logs.push(reference);
    report::write(&cfg.store, &summary, &ops, &fault_log, &all_logs, &text, end_ns)?;
    say(format!(
        "report: {}/summary.txt, timeline: {}/timeline.svg",
        cfg.store.display(),
        cfg.store.display()
    ));
    let crashed = cluster.lock().await.unexpected_exits();
    // Release the cluster (kills members, deletes namespaces) before the verdict.
    drop(cluster);

    let lost = summary.durability.lost;
    let counts = format!("{} ops, {} faults, {} lost", summary.ops, summary.faults, lost);
    let only_unknown = !summary.linear.unknown_keys.is_empty()
        && summary.linear.invalid_keys.is_empty()
        && summary.watch.valid
        && summary.durability.valid;
    let code = if summary.valid {
        0
    } else if only_unknown {
        2
    } else {
        1
    };
    let verdict = if summary.valid {
        format!("valid: {counts}")
    } else if only_unknown {
        format!(
            "UNKNOWN: linearizability undecided on {} keys within --check-timeout; {counts}",
            summary.linear.unknown_keys.len()
        )
    } else {
        let mut why = Vec::new();
        if !summary.linear.valid {
            let l = &summary.linear;
            if !l.invalid_keys.is_empty() {
                why.push(format!("linearizability violated on {} keys", l.invalid_keys.len()));
            }
            if !l.unknown_keys.is_empty() {
                why.push(format!(
                    "linearizability unknown on {} keys (check budget)",
                    l.unknown_keys.len()
                ));
            }
        }
        if !summary.watch.valid {
            why.push(format!("{} watch problems", summary.watch.problems.len()));
        }
        if !summary.durability.valid {
            why.push(format!(
                "{} durability problems",
                summary.durability.problems.len().max(lost)
            ));
        }
        format!("INVALID: {}; {counts}", why.join(", "))
    };
    if !reference_complete && summary.linear.invalid_keys.is_empty() {
        // Watch and durability are judged against the reference: without it, no verdict.
        return Ok(Outcome {
            code: 2,
            verdict: format!("ERROR: the reference watch replay did not complete; checks said: {verdict}"),
        });
    }
    if !crashed.is_empty() {
        // A member died without the nemesis killing it: a crash of the system under test or
        // interference from outside; either way this run proves nothing.
        say(format!("members exited on their own: {}", crashed.join(", ")));
        return Ok(Outcome {
            code: 2,
            verdict: format!(
                "ERROR: members exited on their own ({}); checks said: {verdict}",
                crashed.join(", ")
            ),
        });
    }
    Ok(Outcome { code, verdict })
}

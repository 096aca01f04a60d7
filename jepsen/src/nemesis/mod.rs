//! Fault injection: SIGKILL + restart, SIGSTOP / SIGCONT, network partitions (isolate the
//! leader, a random majority/minority split) and membership changes (remove, wipe, re-add), on
//! a random member or the leader; every fault is healed before the next one and before the
//! final checks.
//!
//! Owner: the nemesis task holds the cluster lock only while changing a fault. In
//! `--anomaly stale-reads` mode every other fault isolates a follower and points the stale
//! readers at it.

use crate::cluster::Cluster;
use crate::history::Recorder;
use crate::workload::{Shared, ANY};
use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kill,
    Pause,
    Partition,
    /// Remove a member, wipe it, add it back empty (opt-in: `--nemesis member`).
    Member,
}

/// Parses `kill,pause,partition` (also `none`).
pub fn parse(s: &str) -> Result<Vec<Kind>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "kill" => out.push(Kind::Kill),
            "pause" => out.push(Kind::Pause),
            "partition" => out.push(Kind::Partition),
            "member" => out.push(Kind::Member),
            "none" => {}
            other => bail!("unknown nemesis {other:?} (kill, pause, partition, member, none)"),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub kinds: Vec<Kind>,
    /// Quiet time between faults.
    pub interval: Duration,
    /// How long each fault lasts.
    pub hold: (Duration, Duration),
    pub stale_reads: bool,
}

/// Injects faults until `until`, then heals everything. Returns the number of faults.
pub async fn run(
    cluster: Arc<Mutex<Cluster>>,
    rec: Arc<Recorder>,
    shared: Arc<Shared>,
    cfg: Config,
    until: Instant,
    seed: u64,
) -> Result<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = cluster.lock().await.size();
    let mut count = 0;
    let mut anomaly_turn = cfg.stale_reads;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    loop {
        let hold = rng.gen_range(cfg.hold.0..=cfg.hold.1);
        if Instant::now() + hold + Duration::from_secs(1) > until {
            break;
        }
        let leader = cluster.lock().await.leader().await;
        let anomaly = anomaly_turn;
        anomaly_turn = cfg.stale_reads && (!anomaly_turn || cfg.kinds.is_empty());
        let kind = if anomaly {
            Kind::Partition
        } else if let Some(k) = cfg.kinds.choose(&mut rng) {
            *k
        } else {
            tokio::time::sleep(cfg.interval).await;
            continue;
        };
        if n < 2 && matches!(kind, Kind::Partition | Kind::Member) {
            // Nothing to cut or re-add with a single member.
            tokio::time::sleep(cfg.interval).await;
            continue;
        }
        // Target: the leader half the time (if known), else a random member.
        let target = match leader {
            Some(l) if rng.gen_bool(0.5) && !anomaly => l,
            Some(l) if anomaly => (l + 1 + rng.gen_range(0..n.saturating_sub(1).max(1))) % n,
            _ => rng.gen_range(0..n),
        };
        let is_leader = leader == Some(target);
        let role = if is_leader { "leader" } else { "member" };
        match kind {
            Kind::Kill => {
                let f = rec.fault_start("kill", format!("SIGKILL {role} m{target}"));
                cluster.lock().await.kill(target).await?;
                tokio::time::sleep(hold).await;
                cluster.lock().await.restart(target)?;
                rec.fault_end(f);
            }
            Kind::Member => {
                let f = rec.fault_start("member", format!("remove {role} m{target}, wipe, re-add"));
                cluster.lock().await.remove_member(target).await?;
                tokio::time::sleep(hold).await;
                cluster.lock().await.add_member(target).await?;
                rec.fault_end(f);
            }
            Kind::Pause => {
                let f = rec.fault_start("pause", format!("SIGSTOP {role} m{target}"));
                cluster.lock().await.pause(target)?;
                tokio::time::sleep(hold).await;
                cluster.lock().await.resume(target)?;
                rec.fault_end(f);
            }
            Kind::Partition => {
                let groups = if anomaly || is_leader || rng.gen_bool(0.5) {
                    // Isolate one member (the leader, or a follower for stale reads).
                    let rest: Vec<usize> = (0..n).filter(|&i| i != target).collect();
                    vec![vec![target], rest]
                } else {
                    let mut all: Vec<usize> = (0..n).collect();
                    all.shuffle(&mut rng);
                    let minority = (n - 1) / 2;
                    let mut a = all[..minority.max(1)].to_vec();
                    let mut b = all[minority.max(1)..].to_vec();
                    a.sort_unstable();
                    b.sort_unstable();
                    vec![a, b]
                };
                let desc: Vec<String> = groups
                    .iter()
                    .map(|g| g.iter().map(|i| format!("m{i}")).collect::<Vec<_>>().join(" "))
                    .collect();
                let what = if anomaly {
                    " (stale reads)"
                } else if is_leader {
                    " (leader)"
                } else {
                    ""
                };
                let f = rec.fault_start("partition", format!("[{}]{what}", desc.join("] | [")));
                cluster.lock().await.partition(&groups).await?;
                if anomaly {
                    shared.anomaly_target.store(target, Ordering::Relaxed);
                }
                tokio::time::sleep(hold).await;
                cluster.lock().await.heal_all().await?;
                rec.fault_end(f);
                if anomaly {
                    shared.anomaly_target.store(ANY, Ordering::Relaxed);
                }
            }
        }
        count += 1;
        tokio::time::sleep(cfg.interval.mul_f64(rng.gen_range(0.5..1.5))).await;
    }
    cluster.lock().await.heal_all().await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_lists() {
        let kinds = parse("kill, pause,partition,member").expect("valid");
        assert_eq!(kinds, vec![Kind::Kill, Kind::Pause, Kind::Partition, Kind::Member]);
        assert!(parse("none").expect("valid").is_empty());
        assert!(parse("clock").is_err());
    }
}

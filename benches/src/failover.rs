//! Leader failover under write load: with puts flowing to every member, SIGKILL the leader
//! (found by `Maintenance.Status`: `leader == header.member_id`) and time the kill → the
//! first acknowledged write that was sent after the leader was dead; then restart it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use proto::etcdserverpb::{kv_client::KvClient, PutRequest};
use serde::Serialize;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::load::connect;
use crate::server::Cluster;

/// How a failover is provoked and watched.
#[derive(Clone, Debug)]
pub struct FailoverOpts {
    /// Closed-loop writers over all members (the steady load), including the leader.
    pub steady_clients: usize,
    /// A probe put goes to a surviving member this often (the time resolution).
    pub probe_every: Duration,
    /// Client-side timeout of one put; a write that times out is retried by a new one.
    pub request_timeout: Duration,
    /// Load before the kill.
    pub warmup: Duration,
    /// Give up waiting for a write (or a new leader) after this long.
    pub give_up: Duration,
}

impl Default for FailoverOpts {
    fn default() -> Self {
        FailoverOpts {
            steady_clients: 16,
            probe_every: Duration::from_millis(10),
            request_timeout: Duration::from_secs(3),
            warmup: Duration::from_secs(1),
            give_up: Duration::from_secs(30),
        }
    }
}

/// One failover.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Failover {
    pub attempt: usize,
    pub server: String,
    /// The member that was killed (the leader).
    pub killed: String,
    pub term_before: u64,
    /// Kill → first acknowledged write sent after the leader was dead (None: none within
    /// `give_up`).
    pub first_write_ms: Option<f64>,
    /// Kill → a surviving member first reports a new leader.
    pub new_leader_ms: Option<f64>,
    /// Writes acknowledged during the warmup (the steady load was really running).
    pub warmup_writes: u64,
    /// Failed or timed-out writes over the whole attempt (expected: the dead leader's).
    pub failed_writes: u64,
    /// Killed member restarted → every member serves linearizable reads again.
    pub rejoin_ms: Option<f64>,
}

const NONE: u64 = u64::MAX;

/// Shared clocks of one attempt, in ns since `base`.
struct Clock {
    base: Instant,
    /// When the killed leader was reaped; writes sent from then on count.
    dead_at: AtomicU64,
    /// Earliest acknowledgement of a counted write.
    first_ack: AtomicU64,
    acks: AtomicU64,
    failed: AtomicU64,
}

impl Clock {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn record(&self, sent: u64, ok: bool) {
        if ok {
            self.acks.fetch_add(1, Ordering::Relaxed);
            if sent >= self.dead_at.load(Ordering::SeqCst) {
                self.first_ack.fetch_min(self.now(), Ordering::SeqCst);
            }
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One put with a client-side timeout; whether it was acknowledged.
async fn put_once(c: &mut KvClient<Channel>, n: u64, timeout: Duration) -> bool {
    let req = PutRequest {
        key: format!("bench/failover/{:08}", n % 1000).into_bytes(),
        value: vec![b'f'; 256],
        ..Default::default()
    };
    matches!(tokio::time::timeout(timeout, c.put(req)).await, Ok(Ok(_)))
}

/// Kills the leader of `c` under load, measures, and restarts it (waiting until the cluster
/// has a leader and every member serves reads again).
pub async fn failover_once(c: &mut Cluster, attempt: usize, opts: &FailoverOpts) -> Result<Failover> {
    let n = c.members.len();
    anyhow::ensure!(n >= 3, "failover needs at least 3 members");
    let leader = c.leader(Duration::from_secs(30)).await?;
    let tls = c.client_tls.clone();
    let all = c.endpoints();
    let survivors: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, e)| e.clone())
        .collect();
    let steady_chans = connect(&all, 2 * n, tls.as_ref()).await?;
    let probe_chans = connect(&survivors, 2 * survivors.len(), tls.as_ref()).await?;

    let clock = Arc::new(Clock {
        base: Instant::now(),
        dead_at: AtomicU64::new(NONE),
        first_ack: AtomicU64::new(NONE),
        acks: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for i in 0..opts.steady_clients.max(1) {
        let mut kv = KvClient::new(steady_chans[i % steady_chans.len()].clone());
        let (clock, stop, seq) = (clock.clone(), stop.clone(), seq.clone());
        let timeout = opts.request_timeout;
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sent = clock.now();
                let ok = put_once(&mut kv, seq.fetch_add(1, Ordering::Relaxed), timeout).await;
                clock.record(sent, ok);
                if !ok {
                    // The dead leader's connections fail at once: do not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    {
        let (clock, stop, seq) = (clock.clone(), stop.clone(), seq.clone());
        let (every, timeout) = (opts.probe_every, opts.request_timeout);
        tasks.spawn(async move {
            let mut probes = JoinSet::new();
            let mut tick = tokio::time::interval(every);
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let mut kv = KvClient::new(probe_chans[k % probe_chans.len()].clone());
                k += 1;
                let (clock, seq) = (clock.clone(), seq.clone());
                probes.spawn(async move {
                    let sent = clock.now();
                    let ok = put_once(&mut kv, seq.fetch_add(1, Ordering::Relaxed), timeout).await;
                    clock.record(sent, ok);
                });
                while probes.try_join_next().is_some() {}
            }
            probes.abort_all();
        });
    }

    tokio::time::sleep(opts.warmup).await;
    let warmup_writes = clock.acks.load(Ordering::Relaxed);
    let before = c.status(leader).await.context("leader status before the kill")?;
    let mut f = Failover {
        attempt,
        server: c.kind.name().into(),
        killed: c.members[leader].name.clone(),
        term_before: before.raft_term,
        warmup_writes,
        ..Default::default()
    };
    let killed_at = clock.now();
    c.members[leader].kill();
    clock.dead_at.store(clock.now(), Ordering::SeqCst);

    // Watch the survivors for a new leader until that and the first write are both seen.
    let give_up = Instant::now() + opts.give_up;
    while Instant::now() < give_up {
        if f.new_leader_ms.is_none() {
            for i in (0..n).filter(|&i| i != leader) {
                if let Ok(st) = c.status(i).await {
                    if st.leader != 0 && st.leader != before.member_id {
                        f.new_leader_ms = Some((clock.now() - killed_at) as f64 / 1e6);
                        break;
                    }
                }
            }
        }
        let first = clock.first_ack.load(Ordering::SeqCst);
        if first != NONE && f.new_leader_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = clock.first_ack.load(Ordering::SeqCst);
    if first != NONE {
        f.first_write_ms = Some(first.saturating_sub(killed_at) as f64 / 1e6);
    }
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    f.failed_writes = clock.failed.load(Ordering::Relaxed);

    let t = Instant::now();
    c.members[leader].respawn()?;
    c.wait_ready(Duration::from_secs(60)).await?;
    c.leader(Duration::from_secs(30)).await?;
    f.rejoin_ms = Some(t.elapsed().as_secs_f64() * 1e3);
    Ok(f)
}

/// The median of the measured values (None if there are none).
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }
}

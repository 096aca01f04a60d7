//! The register workload: N concurrent clients over a small key space doing get, put,
//! compare-and-set (on value or mod_revision), delete and whole-range reads, each op recorded
//! as invoke then ok / fail / info; plus watchers ([`watcher`]).
//!
//! Invariants: every written value is unique in the run (one global counter); reads that error
//! are `fail` (no effect), writes that error or time out are `info` (may or may not apply).

pub mod client;
pub mod watcher;

use crate::cluster::channel;
use crate::history::{Call, Kv, Outcome, Recorder, Ret};
use client::Keys;
use proto::etcdserverpb::kv_client::KvClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Means "no particular member" in [`Shared::anomaly_target`].
pub const ANY: usize = usize::MAX;

/// State shared by all clients of a run.
#[derive(Debug)]
pub struct Shared {
    pub rec: Arc<Recorder>,
    pub keys: Keys,
    pub endpoints: Vec<String>,
    /// The next value to write (values are unique per run).
    pub next_value: AtomicU64,
    /// Member the stale-read clients read from (set by the nemesis to an isolated follower).
    pub anomaly_target: AtomicUsize,
    pub op_timeout: Duration,
    /// Pause between a client's ops (bounds the load).
    pub think: Duration,
}

/// Per-client knowledge used to build CASes.
#[derive(Default, Clone, Copy)]
struct Seen {
    kv: Option<Option<Kv>>,
}

/// Runs one workload client until `until`.
pub async fn run_client(sh: Arc<Shared>, process: usize, until: Instant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = sh.endpoints.len().max(1);
    let mut member = process % n;
    let mut clients: Vec<Option<KvClient<tonic::transport::Channel>>> = vec![None; n];
    let mut seen = vec![Seen::default(); sh.keys.count];
    while Instant::now() < until {
        let key = rng.gen_range(0..sh.keys.count);
        let call = match rng.gen_range(0..100) {
            0..=24 => Call::Get { key },
            25..=34 => Call::Range,
            35..=54 => Call::Put {
                key,
                value: sh.next_value.fetch_add(1, Ordering::Relaxed),
            },
            55..=69 => {
                let expect = match seen[key].kv {
                    Some(kv) => kv.map(|k| k.value),
                    None => Some(rng.gen_range(1..sh.next_value.load(Ordering::Relaxed).max(2))),
                };
                Call::CasValue {
                    key,
                    expect,
                    value: sh.next_value.fetch_add(1, Ordering::Relaxed),
                }
            }
            70..=89 => match seen[key].kv {
                Some(kv) => Call::CasRev {
                    key,
                    rev: kv.map(|k| k.mod_rev).unwrap_or(0),
                    expect: kv.map(|k| k.value),
                    value: sh.next_value.fetch_add(1, Ordering::Relaxed),
                },
                None => Call::Get { key },
            },
            _ => Call::Delete { key },
        };
        let Ok(mut kv) = client_for(&sh, &mut clients, member) else {
            return;
        };
        let ret = one(&sh, process, member, &mut kv, &call, false).await;
        match ret {
            Some(Ret::Get { kv, .. }) => seen[key].kv = Some(kv),
            Some(Ret::Range { kvs, .. }) => {
                for (i, s) in seen.iter_mut().enumerate() {
                    s.kv = Some(kvs.iter().find(|(k, _)| *k == i).map(|(_, kv)| *kv));
                }
            }
            Some(Ret::Cas {
                succeeded: false,
                current,
                ..
            }) => seen[key].kv = Some(current),
            Some(Ret::Put { .. } | Ret::Cas { .. } | Ret::Delete { .. }) => {
                // The new mod_revision is the header revision; the value is ours.
                let rev = ret.as_ref().map(|r| r.rev()).unwrap_or(0);
                seen[key].kv = Some(call.written().map(|v| Kv { value: v, mod_rev: rev }));
            }
            None => {
                // Try another member after an error, and back off a little.
                member = (member + 1) % n;
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..150))).await;
            }
        }
        tokio::time::sleep(sh.think).await;
    }
}

/// A stale-read client (`--anomaly stale-reads`): serializable gets from the member the
/// nemesis isolated, recorded as if they were linearizable.
pub async fn run_anomaly_client(sh: Arc<Shared>, process: usize, until: Instant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = sh.endpoints.len().max(1);
    let mut clients = vec![None; n];
    while Instant::now() < until {
        let target = sh.anomaly_target.load(Ordering::Relaxed);
        let member = if target == ANY { rng.gen_range(0..n) } else { target };
        let key = rng.gen_range(0..sh.keys.count);
        let Ok(mut kv) = client_for(&sh, &mut clients, member) else {
            return;
        };
        let call = if rng.gen_bool(0.8) {
            Call::Get { key }
        } else {
            Call::Range
        };
        one(&sh, process, member, &mut kv, &call, true).await;
        tokio::time::sleep(sh.think).await;
    }
}

fn client_for(
    sh: &Shared,
    clients: &mut [Option<KvClient<tonic::transport::Channel>>],
    member: usize,
) -> anyhow::Result<KvClient<tonic::transport::Channel>> {
    let slot = clients
        .get_mut(member)
        .ok_or_else(|| anyhow::anyhow!("no member {member}"))?;
    if slot.is_none() {
        *slot = Some(KvClient::new(channel(&sh.endpoints[member], sh.op_timeout)?));
    }
    slot.clone().ok_or_else(|| anyhow::anyhow!("no client"))
}

/// Invokes, executes and completes one op; returns the result if it was `ok`.
async fn one(
    sh: &Shared,
    process: usize,
    member: usize,
    kv: &mut KvClient<tonic::transport::Channel>,
    call: &Call,
    anomaly: bool,
) -> Option<Ret> {
    let id = sh.rec.invoke(process, Some(member), call.clone(), anomaly);
    let res = tokio::time::timeout(sh.op_timeout, client::execute(kv, &sh.keys, call, anomaly)).await;
    let is_read = matches!(call, Call::Get { .. } | Call::Range);
    match res {
        Ok(Ok(ret)) => {
            sh.rec.complete(id, Outcome::Ok, Some(ret.clone()), None);
            Some(ret)
        }
        Ok(Err(status)) => {
            let outcome = if is_read || client::definitely_not_applied(&status) {
                Outcome::Fail
            } else {
                Outcome::Info
            };
            let msg = format!("{:?}: {}", status.code(), status.message());
            sh.rec.complete(id, outcome, None, Some(msg));
            None
        }
        Err(_) => {
            let outcome = if is_read { Outcome::Fail } else { Outcome::Info };
            sh.rec.complete(id, outcome, None, Some("timeout".into()));
            None
        }
    }
}

/// A final linearizable read of all registers, recorded in the history (so the checker also
/// verifies the final state), retried until it succeeds or `deadline`.
pub async fn final_read(sh: &Shared, process: usize, deadline: Instant) -> Option<Ret> {
    let n = sh.endpoints.len().max(1);
    let mut clients = vec![None; n];
    let mut member = 0;
    while Instant::now() < deadline {
        let Ok(mut kv) = client_for(sh, &mut clients, member) else {
            return None;
        };
        if let Some(r) = one(sh, process, member, &mut kv, &Call::Range, false).await {
            return Some(r);
        }
        member = (member + 1) % n;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

//! Failover, as etcd promises it, on kv and (the yardstick) on etcd 3.4.23:
//! - 3 members, SIGKILL the leader during a stream of writes: a new leader serves within 3
//!   election timeouts; after the old leader rejoins, every acknowledged write is readable
//!   from every member and HashKV agrees at one revision.
//! - Restart all members at once (SIGKILL all, start all): all data, same revision.
//! - 5 members survive losing two (the leader among them) and take the two back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use cluster_tests::cluster::keys_under;
use cluster_tests::{bounded, client, Cluster, Kind, ServerOpts};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::PutRequest;
use tonic::transport::Channel;

/// Both servers' default `--election-timeout`.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// One acknowledged put: key, value, when it was sent and when the answer came.
#[derive(Clone, Debug)]
struct Ack {
    key: String,
    value: String,
    sent: Instant,
    acked: Instant,
}

/// `writers` tasks putting unique keys under `/fo/` until `stop`, each moving to the next
/// member's endpoint when a put fails (as a client with several endpoints does).
fn write_stream(
    channels: Vec<Channel>,
    writers: usize,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let (channels, stop, acks) = (channels.clone(), stop.clone(), acks.clone());
            tokio::spawn(async move {
                let mut at = w % channels.len();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (key, value) = (format!("/fo/{w}/{n:06}"), format!("v{n}"));
                    let mut kv = KvClient::new(channels[at].clone());
                    let req = PutRequest {
                        key: key.clone().into_bytes(),
                        value: value.clone().into_bytes(),
                        ..Default::default()
                    };
                    let sent = Instant::now();
                    match tokio::time::timeout(Duration::from_secs(2), kv.put(req)).await {
                        Ok(Ok(_)) => {
                            let acked = Instant::now();
                            acks.lock().unwrap_or_else(|e| e.into_inner()).push(Ack {
                                key,
                                value,
                                sent,
                                acked,
                            });
                        }
                        _ => {
                            at = (at + 1) % channels.len();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    // A failed put may still have committed: never reuse its key.
                    n += 1;
                }
            })
        })
        .collect()
}

/// Checks that every acknowledged write is on every member with its value.
async fn all_acks_everywhere(c: &Cluster, acks: &[Ack]) -> Result<()> {
    for m in &c.members {
        let stored: std::collections::HashMap<Vec<u8>, Vec<u8>> = keys_under(m, "/fo/").await?.into_iter().collect();
        for a in acks {
            ensure!(
                stored.get(a.key.as_bytes()).map(Vec::as_slice) == Some(a.value.as_bytes()),
                "{} lost acknowledged write {} = {}",
                m.name(),
                a.key,
                a.value
            );
        }
    }
    Ok(())
}

async fn leader_kill(kind: Kind) -> Result<()> {
    let mut c = Cluster::start(kind, 3, ServerOpts::default()).await?;
    let mut channels = Vec::new();
    for m in &c.members {
        channels.push(m.channel().await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::new()));
    let tasks = write_stream(channels, 6, stop.clone(), acks.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leader = c.wait_leader(Duration::from_secs(5)).await?;
    let before = acks.lock().unwrap_or_else(|e| e.into_inner()).len();
    ensure!(before > 0, "no write was acknowledged before the kill");
    let killed_at = Instant::now();
    c.members[leader].kill().context("SIGKILL the leader")?;
    // Serving again = a write sent after the kill is acknowledged.
    let deadline = killed_at + Duration::from_secs(15);
    let served = loop {
        let first = acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|a| a.sent > killed_at)
            .map(|a| a.acked)
            .min();
        if let Some(t) = first {
            break t;
        }
        ensure!(
            Instant::now() < deadline,
            "no write acknowledged within 15 s of killing the leader"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let failover = served - killed_at;
    eprintln!(
        "{}: leader {} killed; writes served again after {failover:?}",
        kind.label(),
        c.members[leader].name()
    );
    ensure!(
        failover <= 3 * ELECTION_TIMEOUT,
        "writes served again only after {failover:?} (more than 3 election timeouts)"
    );
    let new_leader = c.wait_leader(Duration::from_secs(5)).await?;
    ensure!(new_leader != leader, "the killed member is still reported as leader");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.context("writer task")?;
    }
    c.members[leader].restart().await.context("old leader rejoins")?;
    c.wait_converged(Duration::from_secs(20)).await?;
    let acks = acks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    ensure!(acks.len() > before, "no write acknowledged after the kill");
    all_acks_everywhere(&c, &acks).await
}

async fn restart_all(kind: Kind) -> Result<()> {
    let mut c = Cluster::start(kind, 3, ServerOpts::default()).await?;
    let mut kv = c.members[1].kv().await?;
    for i in 0..200 {
        client::put(&mut kv, &format!("/fo/all/{i:03}"), &format!("v{i}")).await?;
    }
    let rev = c.wait_converged(Duration::from_secs(10)).await?;
    let before = keys_under(&c.members[0], "/fo/").await?;
    for m in &mut c.members {
        m.kill()?;
    }
    for m in &mut c.members {
        m.spawn()?;
    }
    for m in &mut c.members {
        m.wait_ready()
            .await
            .with_context(|| format!("{} after restarting all", m.name()))?;
    }
    let after = c.wait_converged(Duration::from_secs(10)).await?;
    ensure!(
        after == rev,
        "revision {rev} before restarting all members, {after} after"
    );
    for m in &c.members {
        ensure!(
            keys_under(m, "/fo/").await? == before,
            "{} lost data in the restart",
            m.name()
        );
    }
    // And the cluster still takes writes.
    let r = client::put(&mut c.members[2].kv().await?, "/fo/after", "x").await?;
    ensure!(
        r == rev + 1,
        "first write after the restart got revision {r}, want {}",
        rev + 1
    );
    Ok(())
}

async fn five_members_lose_two(kind: Kind) -> Result<()> {
    let mut c = Cluster::start(kind, 5, ServerOpts::default()).await?;
    let leader = c.wait_leader(Duration::from_secs(5)).await?;
    let follower = (leader + 1) % 5;
    c.members[leader].kill()?;
    c.members[follower].kill()?;
    let survivor = (leader + 2) % 5;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut kv = c.members[survivor].kv().await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), client::put(&mut kv, "/fo/five", "3 of 5")).await {
            Ok(Ok(_)) => break,
            other => ensure!(Instant::now() < deadline, "3 of 5 members did not commit: {other:?}"),
        }
    }
    c.members[leader].restart().await?;
    c.members[follower].restart().await?;
    c.wait_converged(Duration::from_secs(20)).await?;
    for m in &c.members {
        let v = keys_under(m, "/fo/five").await?;
        ensure!(
            v.len() == 1 && v[0].1 == b"3 of 5",
            "{} lacks the write made by 3 of 5",
            m.name()
        );
    }
    Ok(())
}

macro_rules! both {
    ($body:ident, $etcd:ident, $kv:ident, $limit:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $etcd() {
            bounded(Duration::from_secs($limit), $body(Kind::Etcd))
                .await
                .expect("etcd");
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $kv() {
            bounded(Duration::from_secs($limit), $body(Kind::Kv))
                .await
                .expect("kv");
        }
    };
}

both!(leader_kill, leader_kill_etcd, leader_kill_kv, 90);
both!(restart_all, restart_all_etcd, restart_all_kv, 60);
both!(five_members_lose_two, five_members_etcd, five_members_kv, 90);

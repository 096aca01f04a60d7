//! A member cut off from the others (members in private network namespaces; blackhole
//! routes both ways), on kv and (the yardstick) etcd 3.4.23: the majority keeps writing;
//! the cut-off member refuses linearizable reads and writes (it still serves serializable,
//! stale reads), answers `hasleader` requests with "etcdserver: no leader" and /health with
//! false; after healing it catches up — by snapshot, since the majority wrote more
//! than `--snapshot-count` + the 5000 catch-up entries meanwhile — and HashKV agrees.
//! Needs root (namespaces) and etcd; skipped with a message otherwise.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cluster_tests::{bounded, Kind};
use jepsen::cluster::{channel, Cluster, Spawn};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::maintenance_client::MaintenanceClient;
use proto::etcdserverpb::{HashKvRequest, PutRequest, RangeRequest};

/// Writes made by the majority while the member is cut off: more than the leader keeps in
/// its log behind a snapshot (5000 catch-up entries + `--snapshot-count`).
const WRITES: usize = 6000;
const SNAPSHOT_COUNT: &str = "500";

fn runnable() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    let etcd = std::path::Path::new("/usr/bin/etcd").exists();
    if !root || !etcd {
        eprintln!("skipping: partitions need root (network namespaces) and /usr/bin/etcd");
    }
    root && etcd
}

fn kv(url: &str, timeout: Duration) -> Result<KvClient<tonic::transport::Channel>> {
    Ok(KvClient::new(channel(url, timeout)?))
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn get(key: &str, serializable: bool) -> RangeRequest {
    RangeRequest {
        key: key.as_bytes().to_vec(),
        serializable,
        ..Default::default()
    }
}

/// Serializable revision of each member (-1 if it does not answer).
async fn revisions(c: &Cluster) -> Vec<i64> {
    let mut out = Vec::new();
    for url in &c.endpoints {
        let rev = match kv(url, Duration::from_secs(2)) {
            Ok(mut k) => k
                .range(get("partition/none", true))
                .await
                .ok()
                .and_then(|r| r.into_inner().header)
                .map_or(-1, |h| h.revision),
            Err(_) => -1,
        };
        out.push(rev);
    }
    out
}

async fn cut_off(kind: Kind) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = Cluster::start(&Spawn {
        bin: kind.binary()?,
        members: 3,
        dir: dir.path().to_path_buf(),
        keep_data: false,
        loopback: false,
        extra_args: vec!["--snapshot-count".into(), SNAPSHOT_COUNT.into()],
    })
    .await?;
    c.wait_healthy(Duration::from_secs(30)).await?;
    kv(&c.endpoints[0], Duration::from_secs(5))?
        .put(put("/p/before", "1"))
        .await?;
    let leader = loop {
        if let Some(l) = c.leader().await {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cut = (leader + 1) % 3;
    let majority: Vec<usize> = (0..3).filter(|&i| i != cut).collect();
    c.partition(&[vec![cut], majority.clone()]).await?;
    let isolated = c.endpoints[cut].clone();

    // The majority keeps writing.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..32 {
        let url = c.endpoints[majority[w % 2]].clone();
        writers.spawn(async move {
            let mut k = kv(&url, Duration::from_secs(5))?;
            for n in (w..WRITES).step_by(32) {
                k.put(put(&format!("/p/during/{n:05}"), "majority"))
                    .await
                    .with_context(|| format!("majority write {n}"))?;
            }
            anyhow::Ok(())
        });
    }
    // Meanwhile the cut-off member refuses what needs the others.
    let mut k = kv(&isolated, Duration::from_secs(3))?;
    let w = k.put(put("/p/isolated", "x")).await;
    ensure!(w.is_err(), "the cut-off member accepted a write: {w:?}");
    let r = k.range(get("/p/before", false)).await;
    ensure!(r.is_err(), "the cut-off member served a linearizable read: {r:?}");
    let s = k
        .range(get("/p/before", true))
        .await
        .context("serializable read on the cut-off member")?;
    ensure!(
        s.into_inner().kvs.first().map(|kv| kv.value.as_slice()) == Some(b"1".as_slice()),
        "the cut-off member lost /p/before"
    );
    while let Some(res) = writers.join_next().await {
        res.context("writer task")??;
    }
    let r = k.range(get("/p/before", false)).await;
    ensure!(
        r.is_err(),
        "the cut-off member served a linearizable read after the majority moved on: {r:?}"
    );
    let s = k.range(get("/p/during/00000", true)).await?.into_inner();
    ensure!(
        s.kvs.is_empty(),
        "the cut-off member received data through the partition"
    );

    c.heal_all().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let rev = loop {
        let revs = revisions(&c).await;
        if revs[0] > 0 && revs.iter().all(|&r| r == revs[0]) {
            break revs[0];
        }
        ensure!(
            Instant::now() < deadline,
            "no catch-up after healing: revisions {revs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut hashes = Vec::new();
    for url in &c.endpoints {
        let mut m = MaintenanceClient::new(channel(url, Duration::from_secs(10))?);
        let h = m.hash_kv(HashKvRequest { revision: rev }).await?.into_inner();
        hashes.push((h.hash, h.compact_revision));
    }
    ensure!(
        hashes.iter().all(|h| *h == hashes[0]),
        "HashKV differs at {rev}: {hashes:?}"
    );
    let r = kv(&isolated, Duration::from_secs(5))?
        .range(get("/p/during/05999", false))
        .await
        .context("linearizable read on the healed member")?;
    ensure!(
        r.into_inner().kvs.len() == 1,
        "the healed member lacks the majority's last write"
    );
    // It caught up by snapshot, not by replaying the log.
    let log = std::fs::read_to_string(c.logs()[cut]).unwrap_or_default();
    let installed = match kind {
        Kind::Kv => "installed snapshot from the leader",
        // zap: "applied incoming Raft snapshot"; capnslog: "raft applied incoming snapshot".
        Kind::Etcd => "applied incoming",
    };
    if !log.contains(installed) {
        let tail: String = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        bail!("the cut-off member did not catch up by snapshot (no {installed:?} in its log); log tail:\n{tail}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_member_etcd() {
    if runnable() {
        bounded(Duration::from_secs(150), cut_off(Kind::Etcd))
            .await
            .expect("etcd");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_member_kv() {
    if runnable() {
        bounded(Duration::from_secs(150), cut_off(Kind::Kv)).await.expect("kv");
    }
}

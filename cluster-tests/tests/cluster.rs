//! Three-member smoke test of the multi-member harness (`Cluster::start`): a write through
//! one member is readable through the others; with one member SIGKILLed the other two
//! still commit; the killed member rejoins on its data dir and catches up. Run against
//! etcd and kv.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use cluster_tests::client::{self, range_prefix};
use cluster_tests::{bounded, Cluster, Kind, ServerOpts};

async fn read_value(server: &cluster_tests::Server, key: &str) -> Result<Option<Vec<u8>>> {
    let mut kv = server.kv().await?;
    let r = range_prefix(&mut kv, key, 0).await?;
    Ok(r.kvs.iter().find(|k| k.key == key.as_bytes()).map(|k| k.value.clone()))
}

async fn three_members(kind: Kind) -> Result<()> {
    let mut c = Cluster::start(kind, 3, ServerOpts::default()).await?;
    let mut kv1 = c.members[0].kv().await?;
    client::put(&mut kv1, "/c/a", "1").await?;
    for m in &c.members {
        ensure!(
            read_value(m, "/c/a").await?.as_deref() == Some(b"1".as_slice()),
            "{} does not see /c/a",
            m.name()
        );
    }
    c.members[2].kill().context("SIGKILL n3")?;
    // n3 may have been the leader: the first proposals can be lost in the election, so
    // retry (as clientv3 does) for a bounded time.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut kv2 = c.members[1].kv().await?;
        match tokio::time::timeout(Duration::from_secs(3), client::put(&mut kv2, "/c/b", "2")).await {
            Ok(Ok(_)) => break,
            other => ensure!(
                Instant::now() < deadline,
                "no write committed with one member down: {other:?}"
            ),
        }
    }
    c.members[2].restart().await.context("n3 rejoins")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_value(&c.members[2], "/c/b").await?.as_deref() != Some(b"2".as_slice()) {
        ensure!(Instant::now() < deadline, "n3 did not catch up within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_etcd() {
    bounded(Duration::from_secs(55), three_members(Kind::Etcd))
        .await
        .expect("etcd 3-member cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_kv() {
    bounded(Duration::from_secs(55), three_members(Kind::Kv))
        .await
        .expect("kv 3-member cluster");
}

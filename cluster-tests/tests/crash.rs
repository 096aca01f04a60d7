//! Durability across process death, against real etcd and against kv:
//! - `crash_*`: SIGKILL while several clients stream writes; after restart on the same data
//!   dir every acknowledged write is present with its value and revision, the revision
//!   continues without reuse, and a watch from revision 1 replays exactly the history.
//! - `restart_*`: keys, leases (TTL still counting, keys attached, expiry still works),
//!   current revision, compaction point and KV hash survive a clean stop/start.
//! - `pause_*`: SIGSTOP makes requests time out; SIGCONT brings the server back.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use cluster_tests::client::{self, current_revision, prefix_end, range_prefix, WatchSession};
use cluster_tests::history::{check_after_crash, Recorded, Write};
use cluster_tests::{bounded, Kind, Server, ServerOpts};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::lease_client::LeaseClient;
use proto::etcdserverpb::maintenance_client::MaintenanceClient;
use proto::etcdserverpb::{
    CompactionRequest, HashKvRequest, LeaseGrantRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest,
    WatchCreateRequest,
};
use proto::mvccpb::event::EventType;
use proto::mvccpb::KeyValue;

async fn writer(endpoint: String, id: usize, stop: Arc<AtomicBool>, count: Arc<AtomicUsize>) -> Recorded {
    let mut log = Recorded::default();
    let Ok(channel) = client::connect(&endpoint).await else {
        return log;
    };
    let mut kv = KvClient::new(channel);
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let key = format!("/crash/w{id}/{i:06}");
        let value = format!("value-{id}-{i}");
        let req = PutRequest {
            key: key.clone().into(),
            value: value.clone().into(),
            ..Default::default()
        };
        match tokio::time::timeout(Duration::from_secs(3), kv.put(req)).await {
            Ok(Ok(resp)) => {
                let revision = resp.into_inner().header.map_or(0, |h| h.revision);
                log.acked.push(Write { revision, key, value });
                count.fetch_add(1, Ordering::SeqCst);
            }
            _ => {
                log.unknown.insert(key, value);
                break;
            }
        }
    }
    log
}

fn write_of(kv: &KeyValue) -> Write {
    Write {
        revision: kv.mod_revision,
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: String::from_utf8_lossy(&kv.value).into_owned(),
    }
}

async fn crash_under_writes(kind: Kind) -> Result<()> {
    const WRITERS: usize = 4;
    let mut server = Server::start(kind, ServerOpts::default()).await?;
    // A live watcher records what it saw until the stream breaks at the kill.
    let live = {
        let start_revision = current_revision(&mut server.kv().await?).await? + 1;
        let mut w = WatchSession::open(
            server.channel().await?,
            WatchCreateRequest {
                key: "/crash/".into(),
                range_end: prefix_end(b"/crash/"),
                start_revision,
                ..Default::default()
            },
        )
        .await?;
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(Some(resp)) = w.next(Duration::from_secs(8)).await {
                seen.extend(resp.events.iter().filter_map(|e| e.kv.as_ref().map(write_of)));
            }
            seen
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(server.endpoint(), id, stop.clone(), count.clone())))
        .collect();
    let t0 = Instant::now();
    while count.load(Ordering::SeqCst) < 300 && t0.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().context("SIGKILL")?;
    stop.store(true, Ordering::SeqCst);
    let mut rec = Recorded::default();
    for h in handles {
        let log = tokio::time::timeout(Duration::from_secs(10), h)
            .await
            .context("writer did not stop")??;
        rec.acked.extend(log.acked);
        rec.unknown.extend(log.unknown);
    }
    rec.acked.sort();
    eprintln!(
        "{}: {} writes acknowledged before SIGKILL, {} in flight",
        kind.label(),
        rec.acked.len(),
        rec.unknown.len()
    );
    ensure!(
        rec.acked.len() >= 20,
        "only {} writes acknowledged before the kill; server too slow?",
        rec.acked.len()
    );
    let last_acked = rec.acked.last().map_or(0, |a| a.revision);

    server.restart().await.context("restart after SIGKILL")?;
    let mut kv = server.kv().await?;
    let range = range_prefix(&mut kv, "/crash/", 0).await?;
    for k in &range.kvs {
        ensure!(
            k.create_revision == k.mod_revision && k.version == 1,
            "write-once key stored with create {} mod {} version {}",
            k.create_revision,
            k.mod_revision,
            k.version
        );
    }
    let stored: Vec<Write> = range.kvs.iter().map(write_of).collect();
    let rev_after = current_revision(&mut kv).await?;
    ensure!(
        rev_after >= last_acked,
        "revision went back: {rev_after} < last acknowledged {last_acked}"
    );
    let max_stored = stored.iter().map(|w| w.revision).max().unwrap_or(0);

    // A watch from revision 1 must replay exactly the stored history, in order.
    let events = client::watch_collect(
        server.channel().await?,
        "/crash/",
        1,
        max_stored,
        false,
        Duration::from_secs(15),
    )
    .await
    .context("replaying history")?;
    let mut replay = Vec::new();
    for e in &events {
        ensure!(
            e.r#type == EventType::Put as i32,
            "unexpected event type in replay: {e:?}"
        );
        replay.push(write_of(e.kv.as_ref().context("event without kv")?));
    }
    check_after_crash(&rec, &stored, &replay)?;

    // Resumable: what the live watcher saw before the kill, plus a watch resumed from its
    // last revision + 1, is exactly the history (no gap, no duplicate).
    let mut seen = tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .context("live watcher did not end after the kill")??;
    let resume_from = seen.last().map_or(1, |w| w.revision + 1);
    if resume_from <= max_stored {
        let events = client::watch_collect(
            server.channel().await?,
            "/crash/",
            resume_from,
            max_stored,
            false,
            Duration::from_secs(15),
        )
        .await
        .context("resuming the watch")?;
        seen.extend(events.iter().filter_map(|e| e.kv.as_ref().map(write_of)));
    }
    ensure!(
        seen == replay,
        "live watch ({} events before the kill) + resumed watch from {resume_from} differs from the history ({} events)",
        seen.len(),
        replay.len()
    );

    let new_rev = client::put(&mut kv, "/after-crash", "x").await?;
    ensure!(
        new_rev > last_acked && new_rev > max_stored && new_rev == rev_after + 1,
        "revision after restart: new put got {new_rev}; last acknowledged {last_acked}, max stored {max_stored}, current was {rev_after}"
    );
    Ok(())
}

async fn lease_ttl(lease: &mut LeaseClient<tonic::transport::Channel>, id: i64) -> Result<(i64, i64, Vec<String>)> {
    let r = lease
        .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true })
        .await
        .context("LeaseTimeToLive")?
        .into_inner();
    let mut keys: Vec<String> = r.keys.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
    keys.sort();
    Ok((r.ttl, r.granted_ttl, keys))
}

async fn restart_preserves_state(kind: Kind) -> Result<()> {
    let mut server = Server::start(kind, ServerOpts::default()).await?;
    let ch = server.channel().await?;
    let (mut kv, mut lease, mut maint) = (
        KvClient::new(ch.clone()),
        LeaseClient::new(ch.clone()),
        MaintenanceClient::new(ch),
    );
    client::put(&mut kv, "/r/a", "1").await?;
    client::put(&mut kv, "/r/b", "2").await?;
    let compact_at = client::put(&mut kv, "/r/a", "3").await?;
    kv.delete_range(proto::etcdserverpb::DeleteRangeRequest {
        key: "/r/b".into(),
        ..Default::default()
    })
    .await?;
    client::put(&mut kv, "/r/c", "4").await?;
    kv.compact(CompactionRequest {
        revision: compact_at,
        physical: true,
    })
    .await
    .context("compact")?;
    let long = lease
        .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
        .await?
        .into_inner()
        .id;
    let short = lease
        .lease_grant(LeaseGrantRequest { ttl: 3, id: 0 })
        .await?
        .into_inner()
        .id;
    for (k, l) in [("/r/l1", long), ("/r/l2", long)] {
        kv.put(PutRequest {
            key: k.into(),
            value: "v".into(),
            lease: l,
            ..Default::default()
        })
        .await?;
    }
    kv.put(PutRequest {
        key: "/s/short".into(),
        value: "v".into(),
        lease: short,
        ..Default::default()
    })
    .await?;
    let before = range_prefix(&mut kv, "/r/", 0).await?;
    let rev_before = before.header.as_ref().map_or(0, |h| h.revision);
    let hash_before = maint
        .hash_kv(HashKvRequest { revision: rev_before })
        .await
        .context("HashKV")?
        .into_inner();

    let status = server.stop().context("graceful stop")?;
    let stop_log = server.log_tail(1500);
    server.restart().await.context("restart after clean stop")?;
    let ch = server.channel().await?;
    let (mut kv, mut lease, mut maint) = (
        KvClient::new(ch.clone()),
        LeaseClient::new(ch.clone()),
        MaintenanceClient::new(ch),
    );

    // Independent checks: collect every problem, fail once with all of them.
    let mut problems: Vec<String> = Vec::new();
    let mut check = |ok: bool, msg: String| {
        if !ok {
            problems.push(msg);
        }
    };
    // etcd re-raises SIGTERM after a clean shutdown; a crash signal means an unclean stop.
    check(
        status.success() || status.signal() == Some(15),
        format!("graceful stop (SIGTERM) ended with {status}; etcd ends by SIGTERM after a clean shutdown; log tail:\n{stop_log}"),
    );

    let after = range_prefix(&mut kv, "/r/", 0).await?;
    check(
        after.kvs == before.kvs,
        format!(
            "keys changed across restart:\nbefore {:?}\nafter  {:?}",
            before.kvs, after.kvs
        ),
    );
    let rev_after = after.header.as_ref().map_or(0, |h| h.revision);
    check(
        rev_after >= rev_before,
        format!("revision went back across restart: {rev_before} -> {rev_after}"),
    );

    // Compaction point: below is gone, at it is readable, compacting again is refused.
    let compacted = "etcdserver: mvcc: required revision has been compacted";
    match kv
        .range(RangeRequest {
            key: "/r/a".into(),
            revision: compact_at - 1,
            ..Default::default()
        })
        .await
    {
        Err(e) => check(
            e.code() == tonic::Code::OutOfRange && e.message() == compacted,
            format!(
                "read below the compaction point after restart: got {:?} {:?}",
                e.code(),
                e.message()
            ),
        ),
        Ok(r) => check(
            false,
            format!(
                "read below the compaction point succeeded after restart: {:?}",
                r.into_inner().kvs
            ),
        ),
    }
    match kv
        .range(RangeRequest {
            key: "/r/a".into(),
            revision: compact_at,
            ..Default::default()
        })
        .await
    {
        Ok(r) => {
            let kvs = r.into_inner().kvs;
            check(
                kvs.len() == 1 && kvs[0].value == b"3",
                format!("read at the compaction point: {kvs:?}"),
            );
        }
        Err(e) => check(
            false,
            format!("read at the compaction point failed after restart: {e:?}"),
        ),
    }
    match kv
        .compact(CompactionRequest {
            revision: compact_at,
            physical: false,
        })
        .await
    {
        Err(e) => check(
            e.code() == tonic::Code::OutOfRange && e.message() == compacted,
            format!(
                "re-compacting at the old compaction point: got {:?} {:?}",
                e.code(),
                e.message()
            ),
        ),
        Ok(_) => check(
            false,
            "re-compacting at the old compaction point succeeded after restart".into(),
        ),
    }
    match maint.hash_kv(HashKvRequest { revision: rev_before }).await {
        Ok(h) => {
            let h = h.into_inner();
            check(
                (h.hash, h.compact_revision) == (hash_before.hash, hash_before.compact_revision),
                format!("HashKV at revision {rev_before} changed across restart: {hash_before:?} -> {h:?}"),
            );
        }
        Err(e) => check(false, format!("HashKV after restart: {e:?}")),
    }

    // The long lease survived with its keys and is still counting down.
    match lease_ttl(&mut lease, long).await {
        Ok((ttl1, granted, keys)) => {
            check(
                granted == 60 && ttl1 > 0 && ttl1 <= 60,
                format!("60 s lease after restart: ttl {ttl1}, granted {granted}"),
            );
            check(
                keys == ["/r/l1", "/r/l2"],
                format!("lease keys after restart: {keys:?}"),
            );
            tokio::time::sleep(Duration::from_millis(2100)).await;
            match lease_ttl(&mut lease, long).await {
                Ok((ttl2, _, _)) => {
                    check(
                        ttl2 < ttl1 && ttl2 > 0,
                        format!("lease TTL not counting after restart: {ttl1} then {ttl2}"),
                    );
                }
                Err(e) => check(false, format!("second LeaseTimeToLive: {e:#}")),
            }
        }
        Err(e) => check(false, format!("60 s lease lost across restart: {e:#}")),
    }

    // The short lease still expires and takes its key with it.
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let r = range_prefix(&mut kv, "/s/", 0).await?;
        if r.kvs.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            check(false, "key of a 3 s lease still present 12 s after restart".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match lease_ttl(&mut lease, short).await {
        Ok((ttl, _, _)) => check(ttl == -1, format!("expired lease reports TTL {ttl}, want -1")),
        Err(e) => check(
            false,
            format!("LeaseTimeToLive of an expired lease must answer TTL -1, not an error: {e:#}"),
        ),
    }

    let rev_now = current_revision(&mut kv).await?;
    let new_rev = client::put(&mut kv, "/r/new", "x").await?;
    check(
        new_rev == rev_now + 1 && new_rev > rev_before,
        format!("revision after restart: put got {new_rev}, current was {rev_now}, before restart {rev_before}"),
    );
    ensure!(
        problems.is_empty(),
        "{} problem(s) after restart:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
    Ok(())
}

async fn pause_and_resume(kind: Kind) -> Result<()> {
    let server = Server::start(kind, ServerOpts::default()).await?;
    let mut kv = server.kv().await?;
    client::put(&mut kv, "/p", "1").await?;
    server.pause()?;
    let frozen = tokio::time::timeout(Duration::from_millis(1500), client::put(&mut kv, "/p", "2")).await;
    let frozen_ok = matches!(frozen, Ok(Ok(_)));
    server.resume()?;
    ensure!(!frozen_ok, "a put succeeded while the server was SIGSTOPped");
    let deadline = Instant::now() + Duration::from_secs(10);
    let rev3 = loop {
        let mut kv = server.kv().await?;
        match client::put(&mut kv, "/p", "3").await {
            Ok(rev) => break rev,
            Err(e) => ensure!(Instant::now() < deadline, "server did not recover after SIGCONT: {e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The put of "2" was abandoned by the client, not acknowledged: it may take effect
    // before or after "3" (or not at all), but the store must agree with the revisions.
    let r = range_prefix(&mut kv, "/p", 0).await?;
    let last = r.kvs.last().context("/p missing after resume")?;
    ensure!(
        (last.value == b"3" && last.mod_revision == rev3) || (last.value == b"2" && last.mod_revision > rev3),
        "after resume: put \"3\" got revision {rev3}, but /p is {:?}",
        r.kvs
    );
    Ok(())
}

const LIMIT: Duration = Duration::from_secs(55);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_etcd() {
    bounded(LIMIT, crash_under_writes(Kind::Etcd))
        .await
        .expect("etcd crash test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_kv() {
    bounded(LIMIT, crash_under_writes(Kind::Kv))
        .await
        .expect("kv crash test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_etcd() {
    bounded(LIMIT, restart_preserves_state(Kind::Etcd))
        .await
        .expect("etcd restart test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_kv() {
    bounded(LIMIT, restart_preserves_state(Kind::Kv))
        .await
        .expect("kv restart test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_etcd() {
    bounded(LIMIT, pause_and_resume(Kind::Etcd))
        .await
        .expect("etcd pause test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_kv() {
    bounded(LIMIT, pause_and_resume(Kind::Kv)).await.expect("kv pause test");
}

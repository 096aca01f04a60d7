//! Bringing a member up from its data dir: a new member writes its identity and the
//! bootstrap conf changes to a fresh WAL; a restarted one reads the newest valid snapshot
//! and replays the WAL after it (a member with a data dir ignores `--initial-cluster`).
//! Then the apply loop and the background jobs (lease expiry, auto compaction, progress
//! notifications, metrics) start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use prost::Message;
use proto::etcdserverpb::{CompactionRequest, InternalRaftRequest, LeaseRevokeRequest, Metadata};
use raft_node::{Applied, NodeConfig, RaftHandle, Restored};
use tokio::sync::{mpsc, watch};
use wal::{Snapshotter, Wal, WalOptions, WalSnapshot};

use super::identity::{cluster_id, initial_members, MemberInfo};
use super::persist::WalPersist;
use super::Member;
use crate::apply::{Alarms, Applier, Group, IdGen, Wait};
use crate::backend::{Backend, Batch, Cf};
use crate::config::{Compaction, Config};
use crate::error::Error;
use crate::lease::Lessor;
use crate::metrics::Metrics;
use crate::mvcc::KvStore;
use crate::watch::WatchHub;

/// The membership record in the meta column family.
pub const MEMBERS_KEY: &[u8] = b"members";

fn load_members(backend: &Backend) -> anyhow::Result<Vec<MemberInfo>> {
    match backend.get(Cf::Meta, MEMBERS_KEY)? {
        Some(v) => Ok(serde_json::from_slice(&v).context("members record")?),
        None => Ok(Vec::new()),
    }
}

fn save_members(backend: &Backend, members: &[MemberInfo]) -> anyhow::Result<()> {
    let mut b = Batch::default();
    b.put(Cf::Meta, MEMBERS_KEY, serde_json::to_vec(members)?);
    backend.write(b)?;
    backend.sync()?;
    Ok(())
}

/// Starts the member; returns once raft runs and the apply loop is live.
pub async fn start(cfg: Config, metrics: Arc<Metrics>) -> anyhow::Result<Arc<Member>> {
    std::fs::create_dir_all(&cfg.snap_dir).with_context(|| format!("cannot create {}", cfg.snap_dir.display()))?;
    let live = crate::backend::layout::live_dir(&cfg.snap_dir).context("locate the database")?;
    let backend = Arc::new(Backend::open(&live).context("open backend")?);
    let store = Arc::new(KvStore::open(backend.clone())?);
    let lessor = Arc::new(Lessor::recover(&backend, cfg.min_lease_ttl())?);
    let alarms = Arc::new(Alarms::recover(&backend)?);
    let jwt = match &cfg.auth_token {
        crate::config::AuthToken::Simple => None,
        crate::config::AuthToken::Jwt(opts) => {
            Some(crate::auth::token::Jwt::from_options(opts).map_err(anyhow::Error::msg)?)
        }
    };
    let auth = Arc::new(crate::auth::AuthStore::recover(&backend, cfg.auth_token_ttl)?.with_jwt(jwt));
    let snapshotter = Snapshotter::new(&cfg.snap_dir)?;
    let wal_opts = WalOptions {
        unsafe_no_fsync: cfg.unsafe_no_fsync,
        max_wals: cfg.max_wals,
        ..Default::default()
    };

    let (mut wal, restored, id, cid, members) = if Wal::exists(&cfg.wal_dir) {
        let snaps = wal::valid_snapshot_entries(&cfg.wal_dir)?;
        let snapshot = snapshotter.load_newest_available(&snaps)?;
        let walsnap = match &snapshot {
            Some(s) => WalSnapshot {
                index: s.get_metadata().index,
                term: s.get_metadata().term,
                conf_state: Some(s.get_metadata().get_conf_state().clone()),
            },
            None => WalSnapshot::default(),
        };
        let (wal, replay) = Wal::open(&cfg.wal_dir, &walsnap, wal_opts)
            .with_context(|| format!("open WAL in {}", cfg.wal_dir.display()))?;
        let meta = Metadata::decode(replay.metadata.as_slice()).context("WAL metadata")?;
        let members = load_members(&backend)?;
        tracing::info!(
            member_id = %format!("{:x}", meta.node_id),
            cluster_id = %format!("{:x}", meta.cluster_id),
            entries = replay.entries.len(),
            commit = replay.hard_state.commit,
            applied = store.consistent_index(),
            "restarting member from its data dir"
        );
        (
            wal,
            Restored {
                snapshot,
                hard_state: replay.hard_state,
                entries: replay.entries,
            },
            meta.node_id,
            meta.cluster_id,
            members,
        )
    } else {
        cfg.validate_bootstrap()?;
        if !cfg.new_cluster {
            // Joining: the cluster (and our ID, added by `member add`) comes from a peer.
            let (cid, members) = fetch_cluster(&cfg).await?;
            let mut mine = cfg.advertise_peer_urls.clone();
            mine.sort();
            let me = members
                .iter()
                .find(|m| {
                    let mut u = m.peer_urls.clone();
                    u.sort();
                    u == mine
                })
                .map(|m| m.id)
                .with_context(|| {
                    format!(
                        "no member with peer URLs {} in the cluster: add it with `member add` first",
                        mine.join(",")
                    )
                })?;
            let meta = Metadata {
                node_id: me,
                cluster_id: cid,
            };
            if let Some(parent) = cfg.wal_dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let wal = Wal::create(&cfg.wal_dir, &meta.encode_to_vec(), wal_opts)
                .with_context(|| format!("create WAL in {}", cfg.wal_dir.display()))?;
            save_members(&backend, &members)?;
            tracing::info!(member_id = %format!("{me:x}"), cluster_id = %format!("{cid:x}"), "joining an existing cluster");
            (wal, Restored::default(), me, cid, members)
        } else {
            let members = initial_members(
                &cfg.initial_cluster,
                &cfg.cluster_token,
                &cfg.name,
                &cfg.advertise_client_urls,
            );
            let me = members
                .iter()
                .find(|m| m.name == cfg.name)
                .map(|m| m.id)
                .context("local member missing from the initial cluster")?;
            let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
            let cid = cluster_id(&ids);
            let meta = Metadata {
                node_id: me,
                cluster_id: cid,
            };
            if let Some(parent) = cfg.wal_dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut wal = Wal::create(&cfg.wal_dir, &meta.encode_to_vec(), wal_opts)
                .with_context(|| format!("create WAL in {}", cfg.wal_dir.display()))?;
            let (hs, entries) = raft_node::bootstrap_entries(&ids);
            wal.save(&hs, &entries)?;
            save_members(&backend, &members)?;
            tracing::info!(member_id = %format!("{me:x}"), cluster_id = %format!("{cid:x}"), "bootstrapped a new cluster");
            (
                wal,
                Restored {
                    snapshot: None,
                    hard_state: hs,
                    entries,
                },
                me,
                cid,
                members,
            )
        }
    };
    {
        let m = metrics.clone();
        wal.set_fsync_observer(Box::new(move |d| m.wal_fsync.observe(d.as_secs_f64())));
    }

    let tls = build_tls(&cfg)?;
    let transport = raft_node::transport::Transport::new(cid, id, tokio::runtime::Handle::current(), tls.peer_client);
    for m in &members {
        transport.add_peer(m.id, m.peer_urls.clone());
    }
    let hub = WatchHub::new(store.clone());
    let wait = Arc::new(Wait::default());
    let applied_index = Arc::new(AtomicU64::new(store.consistent_index()));
    let (applied_tx, applied_rx) = watch::channel(store.consistent_index());
    let (apply_tx, apply_rx) = mpsc::unbounded_channel();

    let snap_store = store.clone();
    let snap_members = serde_json::to_vec(&members)?;
    let raft = RaftHandle::start(
        NodeConfig {
            id,
            election_tick: cfg.election_ticks,
            heartbeat_tick: 1,
            tick: cfg.heartbeat,
            snapshot_count: cfg.snapshot_count,
            catchup_entries: cfg.snapshot_catchup_entries,
            pre_vote: cfg.pre_vote,
            check_quorum: true,
        },
        restored,
        Box::new(WalPersist {
            wal,
            snapshotter,
            max_snapshots: cfg.max_snapshots,
        }),
        Applied {
            index: applied_index.clone(),
            snapshot: Arc::new(move |_index| {
                // Everything applied must be durable before the WAL behind it is released.
                snap_store
                    .backend()
                    .sync()
                    .map_err(|e| raft_node::Error::Storage(e.to_string()))?;
                Ok(snap_members.clone())
            }),
        },
        apply_tx,
        Some(Arc::new(transport.clone())),
    )
    .context("start raft")?;
    transport.attach(raft.clone(), snapshot_source(store.clone(), cfg.snap_dir.clone()));
    let members = Arc::new(parking_lot::RwLock::new(members));
    let for_peers = members.clone();
    let members_fn: raft_node::transport::MembersFn =
        Arc::new(move || for_peers.read().iter().map(|m| m.to_context()).collect());
    serve_peers(
        &cfg,
        raft_node::transport::PeerService::new(cid, id, raft.clone(), members_fn, cfg.snap_dir.clone()),
        tls.peer_server.clone(),
    )
    .await?;

    let applier = Applier {
        store: store.clone(),
        lessor: lessor.clone(),
        hub: hub.clone(),
        alarms: alarms.clone(),
        quota: cfg.quota_bytes,
        member_id: id,
        members: members.clone(),
        transport: transport.clone(),
        removed: Default::default(),
        auth: auth.clone(),
    };
    spawn_apply_loop(
        applier,
        apply_rx,
        wait.clone(),
        applied_index,
        applied_tx,
        metrics.clone(),
        cfg.snap_dir.clone(),
    )?;

    let member = Arc::new(Member {
        cfg,
        id,
        cluster_id: cid,
        members,
        store,
        lessor,
        hub,
        alarms,
        auth,
        raft,
        transport,
        metrics,
        wait,
        idgen: IdGen::new(id),
        applied: applied_rx,
        leader_channel: parking_lot::Mutex::new(None),
        client_tls: tls.client_server,
    });
    spawn_background(member.clone());
    spawn_publish(member.clone());
    Ok(member)
}

/// The leader's side of a snapshot: once this member has applied `index`, a checkpoint of
/// the database packed as a tar in the snap dir (the transport streams and deletes it).
fn snapshot_source(store: Arc<KvStore>, snap_dir: std::path::PathBuf) -> raft_node::transport::SnapshotSource {
    Arc::new(move |index| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while store.consistent_index() < index {
            if std::time::Instant::now() > deadline {
                return Err(format!("state machine did not reach index {index}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let work = tempfile::Builder::new()
            .prefix("send-")
            .tempdir_in(&snap_dir)
            .map_err(|e| e.to_string())?;
        let cp = work.path().join("db");
        store.backend().checkpoint(&cp).map_err(|e| e.to_string())?;
        let out = snap_dir.join(format!("send-{index:016x}-{}.tar", rand::random::<u32>()));
        let f = std::fs::File::create(&out).map_err(|e| e.to_string())?;
        let mut b = tar::Builder::new(f);
        b.append_dir_all("db", &cp).map_err(|e| e.to_string())?;
        b.into_inner().and_then(|f| f.sync_all()).map_err(|e| e.to_string())?;
        Ok(out)
    })
}

/// Asks the other members named in `--initial-cluster` for the cluster's ID and members.
async fn fetch_cluster(cfg: &Config) -> anyhow::Result<(u64, Vec<MemberInfo>)> {
    let mut last_err = String::from("no other member in --initial-cluster");
    for m in cfg.initial_cluster.iter().filter(|m| m.name != cfg.name) {
        for url in &m.peer_urls {
            let ep = match tonic::transport::Endpoint::from_shared(url.clone()) {
                Ok(ep) => ep
                    .connect_timeout(Duration::from_secs(2))
                    .timeout(Duration::from_secs(5)),
                Err(e) => {
                    last_err = format!("{url}: {e}");
                    continue;
                }
            };
            let ch = match ep.connect().await {
                Ok(ch) => ch,
                Err(e) => {
                    last_err = format!("{url}: {e}");
                    continue;
                }
            };
            match proto::kvpeerpb::peer_client::PeerClient::new(ch)
                .members(proto::kvpeerpb::MembersRequest {})
                .await
            {
                Ok(r) => {
                    let r = r.into_inner();
                    return Ok((
                        r.cluster_id,
                        r.members.into_iter().map(MemberInfo::from_context).collect(),
                    ));
                }
                Err(e) => last_err = format!("{url}: {}", e.message()),
            }
        }
    }
    bail!("cannot get the cluster's members from any peer in --initial-cluster ({last_err})")
}

/// The TLS configurations the flags ask for.
struct Tls {
    client_server: Option<Arc<rustls::ServerConfig>>,
    peer_server: Option<Arc<rustls::ServerConfig>>,
    peer_client: Option<Arc<rustls::ClientConfig>>,
}

fn build_tls(cfg: &Config) -> anyhow::Result<Tls> {
    let fixtures = cfg.data_dir.join("fixtures");
    let client_hosts = crate::config::url_hosts(&cfg.advertise_client_urls);
    let peer_hosts = crate::config::url_hosts(&cfg.advertise_peer_urls);
    let client_server = if cfg.client_tls.configured() {
        Some(
            crate::tls::server_config(
                &cfg.client_tls,
                &cfg.tls_common,
                &fixtures.join("client"),
                &client_hosts,
            )
            .context("client TLS")?,
        )
    } else {
        None
    };
    let (peer_server, peer_client) = if cfg.peer_tls.configured() {
        let auto = fixtures.join("peer");
        (
            Some(crate::tls::server_config(&cfg.peer_tls, &cfg.tls_common, &auto, &peer_hosts).context("peer TLS")?),
            Some(crate::tls::peer_client_config(&cfg.peer_tls, &cfg.tls_common, &auto).context("peer TLS")?),
        )
    } else {
        (None, None)
    };
    Ok(Tls {
        client_server,
        peer_server,
        peer_client,
    })
}

/// Serves the peer port (raft traffic between members).
async fn serve_peers(
    cfg: &Config,
    svc: raft_node::transport::PeerService,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let svc = proto::kvpeerpb::peer_server::PeerServer::new(svc)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let (stop, _) = tokio::sync::broadcast::channel(1);
    let (_bound, _task) = crate::server::listen::serve(
        tonic::service::Routes::new(svc),
        &cfg.listen_peer,
        tls,
        "peer",
        stop.clone(),
    )
    .await?;
    // The peer port serves for the life of the process.
    std::mem::forget(stop);
    Ok(())
}

/// Publishes this member's name and client URLs through raft until it is applied (as etcd's
/// `publish`), so every member's MemberList shows them.
fn spawn_publish(m: Arc<Member>) {
    tokio::spawn(async move {
        loop {
            let req = InternalRaftRequest {
                member_attr_set: Some(proto::etcdserverpb::MemberAttrSetRequest {
                    member_id: m.id,
                    name: m.cfg.name.clone(),
                    client_urls: m.cfg.advertise_client_urls.clone(),
                }),
                ..Default::default()
            };
            match m.propose(req).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "publishing member attributes; will retry");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
}

/// The apply loop: one thread, entries in log order, waiters woken as each one lands.
fn spawn_apply_loop(
    applier: Applier,
    mut rx: mpsc::UnboundedReceiver<Vec<raft_node::Committed>>,
    wait: Arc<Wait>,
    applied_index: Arc<AtomicU64>,
    applied_tx: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    snap_dir: std::path::PathBuf,
) -> anyhow::Result<()> {
    std::thread::Builder::new().name("apply".into()).spawn(move || {
        // Waiters are woken, and the applied index moves, only once an entry's effects are
        // written: runs of plain puts share one backend write (see `apply::group`).
        let mut deliver = |index: u64, out: Option<(u64, crate::apply::ApplyOutcome)>| {
            if let Some((id, outcome)) = out {
                wait.trigger(id, outcome);
            }
            applied_index.store(index, Ordering::Release);
        };
        let mut group = Group::default();
        while let Some(batch) = rx.blocking_recv() {
            let Some(last) = batch.last().map(|c| c.index) else {
                continue;
            };
            metrics.proposals_committed.set(last as i64);
            let started = std::time::Instant::now();
            for c in &batch {
                if c.install_snapshot {
                    applier.flush_group(&mut group, &mut deliver);
                    if let Err(e) = applier.install_snapshot(&snap_dir, c.index) {
                        // The log after this snapshot cannot apply on anything else.
                        eprintln!("kv: cannot install the snapshot from the leader: {e}");
                        std::process::exit(1);
                    }
                    applied_index.store(applier.store.consistent_index().max(c.index), Ordering::Release);
                    continue;
                }
                applier.apply_grouped(c, &mut group, &mut deliver);
                if applier.removed.load(Ordering::Acquire) {
                    // As etcd: a removed member stops serving (after answering its caller).
                    std::thread::sleep(Duration::from_millis(300));
                    eprintln!("kv: the member has been permanently removed from the cluster");
                    std::process::exit(1);
                }
            }
            applier.flush_group(&mut group, &mut deliver);
            metrics.backend_commit.observe(started.elapsed().as_secs_f64());
            metrics.proposals_applied.set(last as i64);
            let _ = applied_tx.send(last);
        }
    })?;
    Ok(())
}

/// Lease expiry, auto compaction, progress notifications and metric gauges.
fn spawn_background(m: Arc<Member>) {
    // Expired leases are revoked through raft by the leader.
    let lm = m.clone();
    tokio::spawn(async move {
        let mut was_leader = false;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let is_leader = lm.raft.status().is_leader;
            if is_leader && !was_leader {
                lm.lessor.promote();
            }
            was_leader = is_leader;
            if !is_leader {
                continue;
            }
            for id in lm.lessor.expired(16) {
                let member = lm.clone();
                tokio::spawn(async move {
                    let req = InternalRaftRequest {
                        lease_revoke: Some(LeaseRevokeRequest { id }),
                        ..Default::default()
                    };
                    match member.propose(req).await {
                        Ok(_) | Err(Error::LeaseNotFound) => {}
                        Err(e) => {
                            tracing::warn!(lease = id, error = %e, "cannot revoke expired lease")
                        }
                    }
                });
            }
        }
    });

    // Periodic progress notifications for watchers that asked for them.
    let pm = m.clone();
    tokio::spawn(async move {
        let every = pm.cfg.progress_notify_interval.max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            pm.hub.progress_notify_all();
        }
    });

    // Gauges sampled once a second.
    let gm = m.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let st = gm.raft.status();
            gm.metrics.has_leader.set((st.leader != 0) as i64);
            gm.metrics.is_leader.set(st.is_leader as i64);
            gm.metrics.leader_changes.set(st.leader_changes as i64);
            gm.metrics.db_size.set(gm.store.backend().size());
            gm.metrics.db_size_in_use.set(gm.store.backend().size_in_use());
            gm.metrics.watchers.set(gm.hub.watcher_count() as i64);
        }
    });

    // Auto compaction (leader only), as etcd's periodic and revision compactors.
    if m.cfg.compaction != Compaction::Off {
        let cm = m.clone();
        tokio::spawn(async move { auto_compact(cm).await });
    }
}

async fn auto_compact(m: Arc<Member>) {
    let (check_every, keep) = match m.cfg.compaction.clone() {
        Compaction::Periodic(d) => {
            // etcd: retention > 1h compacts hourly, else every retention period.
            let every = if d > Duration::from_secs(3600) {
                Duration::from_secs(3600)
            } else {
                d
            };
            (every.max(Duration::from_secs(1)), Keep::Time(d))
        }
        Compaction::Revision(n) => (Duration::from_secs(300), Keep::Revisions(n)),
        Compaction::Off => return,
    };
    // Revisions seen at each check, to find the newest one older than the retention.
    let mut seen: std::collections::VecDeque<(std::time::Instant, i64)> = Default::default();
    let mut tick = tokio::time::interval(check_every.min(Duration::from_secs(60)));
    let mut last_run = std::time::Instant::now();
    loop {
        tick.tick().await;
        let now = std::time::Instant::now();
        let rev = m.store.current_revision();
        seen.push_back((now, rev));
        if now.duration_since(last_run) < check_every || !m.raft.status().is_leader {
            continue;
        }
        let target = match keep {
            Keep::Revisions(n) => rev - n,
            Keep::Time(d) => {
                while seen.len() > 1 && seen.get(1).map(|(t, _)| now.duration_since(*t) >= d).unwrap_or(false) {
                    seen.pop_front();
                }
                match seen.front() {
                    Some((t, r)) if now.duration_since(*t) >= d => *r,
                    _ => 0,
                }
            }
        };
        last_run = now;
        if target <= m.store.compact_revision() || target <= 0 {
            continue;
        }
        let req = InternalRaftRequest {
            compaction: Some(CompactionRequest {
                revision: target,
                physical: false,
            }),
            ..Default::default()
        };
        match m.propose(req).await {
            Ok(_) => tracing::info!(revision = target, "auto compaction done"),
            Err(e) => tracing::warn!(revision = target, error = %e, "auto compaction failed"),
        }
    }
}

#[derive(Clone, Copy)]
enum Keep {
    Time(Duration),
    Revisions(i64),
}

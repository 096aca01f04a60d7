//! The Ready loop on its own thread: ticks, proposals, ReadIndex, persistence, hand-off of
//! committed entries to the state machine, and log compaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfState, Entry, EntryType, Message, MessageType, Snapshot};
use raft::storage::MemStorage;
use raft::{Config, RawNode, SnapshotStatus, StateRole, Storage};
use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::persist::{restore_storage, LogPersist, Restored};
use crate::transport::MessageSink;
use crate::{Error, Result};

/// How the node runs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: u64,
    /// Ticks without a heartbeat before a follower campaigns.
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    /// Wall time of one tick (etcd's `--heartbeat-interval`).
    pub tick: Duration,
    /// Applied entries between two snapshots of the state machine.
    pub snapshot_count: u64,
    /// Entries kept behind a snapshot for slow followers (etcd's
    /// `--snapshot-catchup-entries`); a follower further behind receives a snapshot.
    pub catchup_entries: u64,
    pub pre_vote: bool,
    pub check_quorum: bool,
}

/// One committed entry for the state machine.
#[derive(Clone, Debug)]
pub struct Committed {
    pub index: u64,
    pub term: u64,
    /// The proposal's bytes; empty for raft's own no-op entries and conf changes.
    pub data: Vec<u8>,
    /// A membership change raft has just applied (its `context` is the proposer's).
    pub conf_change: Option<ConfChange>,
    /// Set on the item that tells the state machine to install the snapshot received from
    /// the leader (`index`/`term` are the snapshot's) before anything after it.
    pub install_snapshot: bool,
}

/// The state machine's progress, shared with the loop: the highest index whose effects are
/// applied, and a hook that makes them durable and returns the snapshot payload.
#[derive(Clone)]
pub struct Applied {
    pub index: Arc<AtomicU64>,
    pub snapshot: Arc<dyn Fn(u64) -> Result<Vec<u8>> + Send + Sync>,
}

/// What the loop last knew about the group.
#[derive(Clone, Debug, Default)]
pub struct RaftStatus {
    pub id: u64,
    pub leader: u64,
    pub term: u64,
    pub commit: u64,
    pub last_index: u64,
    pub applied: u64,
    pub is_leader: bool,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub leader_changes: u64,
    /// On the leader: how far each member's log matches (member → index).
    pub matched: Vec<(u64, u64)>,
}

enum Msg {
    Propose {
        data: Vec<u8>,
        dropped: oneshot::Sender<Error>,
    },
    ProposeConfChange {
        cc: ConfChange,
        dropped: oneshot::Sender<Error>,
    },
    ReadIndex(oneshot::Sender<Result<u64>>),
    TransferLeader(u64),
    Campaign,
    Step(Box<Message>),
    Unreachable(u64),
    SnapshotDone {
        to: u64,
        ok: bool,
    },
}

/// The handle the server holds; cheap to clone.
#[derive(Clone)]
pub struct RaftHandle {
    tx: mpsc::Sender<Msg>,
    status: Arc<RwLock<RaftStatus>>,
}

impl RaftHandle {
    /// Starts the loop. `restored` is what the log held (empty for a new member, plus
    /// bootstrap entries); `applied` is where the state machine stands.
    pub fn start(
        cfg: NodeConfig,
        restored: Restored,
        persist: Box<dyn LogPersist>,
        applied: Applied,
        apply_tx: tmpsc::UnboundedSender<Vec<Committed>>,
        sink: Option<Arc<dyn MessageSink>>,
    ) -> Result<RaftHandle> {
        let storage = restore_storage(&restored)?;
        let commit = storage.rl().hard_state().commit;
        let start_applied = applied.index.load(Ordering::Acquire).min(commit);
        let snap_index = restored.snapshot.as_ref().map(|s| s.get_metadata().index).unwrap_or(0);
        let rcfg = Config {
            id: cfg.id,
            election_tick: cfg.election_tick,
            heartbeat_tick: cfg.heartbeat_tick,
            applied: start_applied.max(snap_index),
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            pre_vote: cfg.pre_vote,
            check_quorum: cfg.check_quorum,
            ..Default::default()
        };
        rcfg.validate().map_err(|e| Error::Raft(e.to_string()))?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let node = RawNode::new(&rcfg, storage, &logger).map_err(|e| Error::Raft(e.to_string()))?;
        let (tx, rx) = mpsc::channel();
        let status = Arc::new(RwLock::new(RaftStatus {
            id: cfg.id,
            ..Default::default()
        }));
        let mut lp = Loop {
            node,
            cfg,
            persist,
            applied,
            apply_tx,
            sink,
            status: status.clone(),
            rx,
            reads_waiting: Vec::new(),
            reads_in_flight: HashMap::new(),
            // Seeded from the clock so a restarted member does not reuse a context the leader
            // may still hold from its previous life.
            read_seq: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            last_snapshot: snap_index,
            conf_applied_to: commit,
            last_leader: 0,
        };
        let handle = RaftHandle { tx, status };
        thread::Builder::new()
            .name("raft".into())
            .spawn(move || lp.run())
            .map_err(|e| Error::Raft(format!("spawn: {e}")))?;
        Ok(handle)
    }

    /// Hands a proposal to raft. The returned receiver yields an error if raft drops it
    /// (no leader); it closes without a value once the proposal is in the log.
    pub fn propose(&self, data: Vec<u8>) -> Result<oneshot::Receiver<Error>> {
        let (dropped, rx) = oneshot::channel();
        self.tx
            .send(Msg::Propose { data, dropped })
            .map_err(|_| Error::Stopped)?;
        Ok(rx)
    }

    /// Proposes a membership change; like `propose`, the receiver yields an error if raft
    /// drops it (no leader, or another change still pending).
    pub fn propose_conf_change(&self, cc: ConfChange) -> Result<oneshot::Receiver<Error>> {
        let (dropped, rx) = oneshot::channel();
        self.tx
            .send(Msg::ProposeConfChange { cc, dropped })
            .map_err(|_| Error::Stopped)?;
        Ok(rx)
    }

    /// A commit index that a linearizable read must wait for the state machine to reach.
    pub async fn read_index(&self) -> Result<u64> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::ReadIndex(tx)).map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    pub fn transfer_leader(&self, to: u64) -> Result<()> {
        self.tx.send(Msg::TransferLeader(to)).map_err(|_| Error::Stopped)
    }

    /// Asks this member to stand for election now.
    pub fn campaign(&self) -> Result<()> {
        self.tx.send(Msg::Campaign).map_err(|_| Error::Stopped)
    }

    /// A message from a peer.
    pub fn step(&self, m: Message) {
        let _ = self.tx.send(Msg::Step(Box::new(m)));
    }

    /// The transport finished (or failed) sending a snapshot to `to`.
    pub fn report_snapshot(&self, to: u64, ok: bool) {
        let _ = self.tx.send(Msg::SnapshotDone { to, ok });
    }

    /// The transport could not deliver to `id`.
    pub fn report_unreachable(&self, id: u64) {
        let _ = self.tx.send(Msg::Unreachable(id));
    }

    pub fn status(&self) -> RaftStatus {
        self.status.read().clone()
    }

    /// Reads one thing from the status without copying it (the request path asks for the
    /// term or the leader on every request).
    pub fn with_status<T>(&self, f: impl FnOnce(&RaftStatus) -> T) -> T {
        f(&self.status.read())
    }
}

/// A linearizable read waiting for its read index.
type ReadWaiter = oneshot::Sender<Result<u64>>;

struct Loop {
    node: RawNode<MemStorage>,
    cfg: NodeConfig,
    persist: Box<dyn LogPersist>,
    applied: Applied,
    apply_tx: tmpsc::UnboundedSender<Vec<Committed>>,
    sink: Option<Arc<dyn MessageSink>>,
    status: Arc<RwLock<RaftStatus>>,
    rx: mpsc::Receiver<Msg>,
    /// Reads waiting for the next ReadIndex round.
    reads_waiting: Vec<ReadWaiter>,
    /// Rounds sent to raft: context → (waiters, ticks waited).
    reads_in_flight: HashMap<u64, (Vec<ReadWaiter>, u32)>,
    read_seq: u64,
    last_snapshot: u64,
    /// Conf changes at or below this index are already in the restored membership.
    conf_applied_to: u64,
    last_leader: u64,
}

impl Loop {
    fn run(&mut self) {
        let mut next_tick = Instant::now() + self.cfg.tick;
        // Hand off what is already committed (bootstrap conf changes) so raft sees them
        // applied; a member that is the only voter then need not wait out an election timeout.
        if self.node.has_ready() {
            if let Err(e) = self.on_ready() {
                tracing::error!(error = %e, "raft loop cannot persist; stopping");
                return;
            }
        }
        if self.node.raft.prs().conf().voters().ids().len() == 1
            && self.node.raft.prs().conf().voters().contains(self.cfg.id)
        {
            let _ = self.node.campaign();
        } else if self.node.raft.prs().conf().voters().contains(self.cfg.id) {
            // As etcd's adjustTicks: start with all but two ticks of the election timeout
            // elapsed, so a new cluster elects (and a restarted member could campaign) after
            // the randomised part only. Two ticks leave room to hear a live leader's
            // heartbeat first; pre-vote keeps an early campaign from disrupting it.
            for _ in 0..self.cfg.election_tick.saturating_sub(2) {
                self.node.tick();
            }
        }
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(m) => self.handle(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Everything already queued joins this batch: one fsync for all of it.
            while let Ok(m) = self.rx.try_recv() {
                self.handle(m);
            }
            if Instant::now() >= next_tick {
                next_tick += self.cfg.tick;
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + self.cfg.tick;
                }
                self.node.tick();
                self.age_reads();
            }
            self.issue_reads();
            if self.node.has_ready() {
                if let Err(e) = self.on_ready() {
                    tracing::error!(error = %e, "raft loop cannot persist; stopping");
                    self.fail_all(Error::Storage(e.to_string()));
                    return;
                }
            }
            if let Err(e) = self.maybe_snapshot() {
                tracing::warn!(error = %e, "snapshot failed");
            }
            self.publish_status();
        }
    }

    fn handle(&mut self, m: Msg) {
        match m {
            Msg::Propose { data, dropped } => {
                if let Err(e) = self.node.propose(Vec::new(), data) {
                    let err = match e {
                        raft::Error::ProposalDropped => {
                            if self.node.raft.leader_id == raft::INVALID_ID {
                                Error::NoLeader
                            } else {
                                Error::Dropped
                            }
                        }
                        other => Error::Raft(other.to_string()),
                    };
                    let _ = dropped.send(err);
                }
            }
            Msg::ProposeConfChange { cc, dropped } => {
                if let Err(e) = self.node.propose_conf_change(Vec::new(), cc) {
                    let err = match e {
                        raft::Error::ProposalDropped if self.node.raft.leader_id == raft::INVALID_ID => Error::NoLeader,
                        raft::Error::ProposalDropped => Error::Dropped,
                        other => Error::Raft(other.to_string()),
                    };
                    let _ = dropped.send(err);
                }
            }
            Msg::ReadIndex(tx) => self.reads_waiting.push(tx),
            Msg::TransferLeader(to) => self.node.transfer_leader(to),
            Msg::Campaign => {
                let _ = self.node.campaign();
            }
            Msg::Step(m) => {
                if let Err(e) = self.node.step(*m) {
                    tracing::debug!(error = %e, "raft rejected a peer message");
                }
            }
            Msg::Unreachable(id) => self.node.report_unreachable(id),
            Msg::SnapshotDone { to, ok } => self.node.report_snapshot(
                to,
                if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                },
            ),
        }
    }

    /// Starts one ReadIndex round for every read that arrived since the last one.
    fn issue_reads(&mut self) {
        if self.reads_waiting.is_empty() {
            return;
        }
        if self.node.raft.state != StateRole::Leader && self.node.raft.leader_id == raft::INVALID_ID {
            // Reads wait for a leader; age_reads fails them after an election timeout.
            return;
        }
        self.read_seq = self.read_seq.wrapping_add(1);
        let ctx = self.read_seq;
        let waiters = std::mem::take(&mut self.reads_waiting);
        self.reads_in_flight.insert(ctx, (waiters, 0));
        self.node.read_index(self.read_ctx(ctx));
    }

    /// A ReadIndex context unique in the cluster: this member's id, then the round. (The
    /// leader ignores a round whose context it already holds, so two members counting
    /// from the same number would stall each other's reads until the retry.)
    fn read_ctx(&self, seq: u64) -> Vec<u8> {
        let mut ctx = Vec::with_capacity(16);
        ctx.extend_from_slice(&self.node.raft.id.to_be_bytes());
        ctx.extend_from_slice(&seq.to_be_bytes());
        ctx
    }

    /// Retries rounds raft silently dropped (a new leader that has not committed in its term)
    /// and fails them once an election timeout has passed.
    fn age_reads(&mut self) {
        let limit = (self.cfg.election_tick * 3) as u32;
        let mut retry = Vec::new();
        let mut expired = Vec::new();
        for (ctx, (_, age)) in self.reads_in_flight.iter_mut() {
            *age += 1;
            if *age >= limit {
                expired.push(*ctx);
            } else if *age % 3 == 0 {
                retry.push(*ctx);
            }
        }
        for ctx in expired {
            if let Some((ws, _)) = self.reads_in_flight.remove(&ctx) {
                for w in ws {
                    let _ = w.send(Err(Error::Timeout));
                }
            }
        }
        for ctx in retry {
            if let Some((ws, _)) = self.reads_in_flight.remove(&ctx) {
                self.reads_waiting.extend(ws);
            }
        }
        if self.node.raft.leader_id == raft::INVALID_ID && !self.reads_waiting.is_empty() {
            // No leader to ask: keep them a while, then give up as etcd does.
            self.read_seq = self.read_seq.wrapping_add(1);
            let ctx = self.read_seq;
            let ws = std::mem::take(&mut self.reads_waiting);
            self.reads_in_flight.insert(ctx, (ws, 0));
        }
    }

    fn on_ready(&mut self) -> Result<()> {
        let mut rd = self.node.ready();
        if !rd.messages().is_empty() {
            self.send_messages(rd.take_messages());
        }
        if !rd.snapshot().is_empty() {
            // A snapshot from the leader: durable first, then raft's log, then the state
            // machine installs it ahead of every entry after it.
            let snap = rd.snapshot().clone();
            let (index, term) = (snap.get_metadata().index, snap.get_metadata().term);
            self.persist.save_snapshot(&snap)?;
            self.node
                .mut_store()
                .wl()
                .apply_snapshot(snap)
                .map_err(|e| Error::Storage(e.to_string()))?;
            self.conf_applied_to = self.conf_applied_to.max(index);
            self.last_snapshot = self.last_snapshot.max(index);
            self.apply_tx
                .send(vec![Committed {
                    index,
                    term,
                    data: Vec::new(),
                    conf_change: None,
                    install_snapshot: true,
                }])
                .map_err(|_| Error::Stopped)?;
        }
        for rs in rd.take_read_states() {
            self.answer_read(&rs.request_ctx, rs.index);
        }
        let committed = rd.take_committed_entries();
        self.hand_off(committed)?;
        let must_sync = rd.must_sync();
        let entries = rd.take_entries();
        let hs = rd.hs().cloned();
        if !entries.is_empty() || hs.is_some() {
            let hs_to_save = hs
                .clone()
                .unwrap_or_else(|| self.node.store().rl().hard_state().clone());
            self.persist.save(&hs_to_save, &entries, must_sync)?;
        }
        if !entries.is_empty() {
            self.node
                .mut_store()
                .wl()
                .append(&entries)
                .map_err(|e| Error::Storage(e.to_string()))?;
        }
        if let Some(hs) = hs {
            self.node.mut_store().wl().set_hardstate(hs);
        }
        if !rd.persisted_messages().is_empty() {
            self.send_messages(rd.take_persisted_messages());
        }
        let mut light = self.node.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().wl().mut_hard_state().commit = commit;
        }
        self.send_messages(light.take_messages());
        let committed = light.take_committed_entries();
        self.hand_off(committed)?;
        self.node.advance_apply();
        Ok(())
    }

    fn send_messages(&mut self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        let Some(sink) = &self.sink else {
            for m in msgs {
                tracing::trace!(to = m.to, "dropping message: no transport");
            }
            return;
        };
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                // Snapshots travel on their own stream so they never hold up heartbeats.
                sink.send_snapshot(m);
            } else {
                out.push(m);
            }
        }
        sink.send(out);
    }

    fn answer_read(&mut self, ctx: &[u8], index: u64) {
        let Ok(arr) = <[u8; 16]>::try_from(ctx) else {
            return;
        };
        let (id, seq) = arr.split_at(8);
        if id != self.node.raft.id.to_be_bytes() {
            return;
        }
        let Ok(seq) = <[u8; 8]>::try_from(seq) else {
            return;
        };
        if let Some((ws, _)) = self.reads_in_flight.remove(&u64::from_be_bytes(seq)) {
            for w in ws {
                let _ = w.send(Ok(index));
            }
        }
    }

    fn hand_off(&mut self, entries: Vec<Entry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(entries.len());
        for e in entries {
            let mut conf_change = None;
            let data = match e.get_entry_type() {
                EntryType::EntryNormal => e.data.to_vec(),
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&e.data)
                        .map_err(|err| Error::Storage(format!("conf change {}: {err}", e.index)))?;
                    if e.index > self.conf_applied_to {
                        let cs = self
                            .node
                            .apply_conf_change(&cc)
                            .map_err(|err| Error::Raft(err.to_string()))?;
                        self.node.mut_store().wl().set_conf_state(cs);
                    }
                    conf_change = Some(cc);
                    Vec::new()
                }
                EntryType::EntryConfChangeV2 => Vec::new(),
            };
            batch.push(Committed {
                index: e.index,
                term: e.term,
                data,
                conf_change,
                install_snapshot: false,
            });
        }
        self.apply_tx.send(batch).map_err(|_| Error::Stopped)
    }

    /// Every `snapshot_count` applied entries: make the state machine durable, save a
    /// snapshot, compact raft's memory log and release WAL segments.
    fn maybe_snapshot(&mut self) -> Result<()> {
        let applied = self.applied.index.load(Ordering::Acquire);
        if applied < self.last_snapshot + self.cfg.snapshot_count.max(1) {
            return Ok(());
        }
        let data = (self.applied.snapshot)(applied)?;
        let store = self.node.store().clone();
        let term = store.term(applied).map_err(|e| Error::Storage(e.to_string()))?;
        let cs: ConfState = store
            .initial_state()
            .map_err(|e| Error::Storage(e.to_string()))?
            .conf_state;
        let mut snap = Snapshot {
            data: data.into(),
            ..Default::default()
        };
        let meta = snap.mut_metadata();
        meta.index = applied;
        meta.term = term;
        meta.set_conf_state(cs);
        self.persist.save_snapshot(&snap)?;
        // Keep some log behind the snapshot for slow followers; one further behind gets the
        // snapshot itself.
        let compact_to = applied.saturating_sub(self.cfg.catchup_entries);
        if compact_to > 0 {
            store
                .wl()
                .compact(compact_to)
                .map_err(|e| Error::Storage(e.to_string()))?;
        }
        self.persist.release_to(applied)?;
        self.last_snapshot = applied;
        tracing::info!(index = applied, term, "saved snapshot");
        Ok(())
    }

    fn publish_status(&mut self) {
        let raft = &self.node.raft;
        let mut s = self.status.write();
        s.leader = raft.leader_id;
        s.term = raft.term;
        s.commit = raft.raft_log.committed;
        s.last_index = raft.raft_log.last_index();
        s.applied = self.applied.index.load(Ordering::Acquire);
        s.is_leader = raft.state == StateRole::Leader;
        if raft.leader_id != self.last_leader {
            if raft.leader_id != raft::INVALID_ID {
                s.leader_changes += 1;
            }
            self.last_leader = raft.leader_id;
        }
        let conf = raft.prs().conf();
        s.voters = conf.voters().ids().iter().collect();
        s.learners = conf.learners().iter().copied().collect();
        s.matched = if s.is_leader {
            raft.prs().iter().map(|(id, pr)| (*id, pr.matched)).collect()
        } else {
            Vec::new()
        };
    }

    fn fail_all(&mut self, e: Error) {
        for w in self.reads_waiting.drain(..) {
            let _ = w.send(Err(e.clone()));
        }
        for (_, (ws, _)) in self.reads_in_flight.drain() {
            for w in ws {
                let _ = w.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::{bootstrap_entries, MemPersist};

    fn start_single() -> (RaftHandle, tmpsc::UnboundedReceiver<Vec<Committed>>, Arc<AtomicU64>) {
        let (hs, entries) = bootstrap_entries(&[1]);
        let mut mp = MemPersist::default();
        mp.save(&hs, &entries, true).expect("save");
        let restored = mp.saved.clone();
        let applied = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tmpsc::unbounded_channel();
        let cfg = NodeConfig {
            id: 1,
            election_tick: 10,
            heartbeat_tick: 1,
            tick: Duration::from_millis(10),
            snapshot_count: 1000,
            catchup_entries: 5000,
            pre_vote: true,
            check_quorum: true,
        };
        let h = RaftHandle::start(
            cfg,
            restored,
            Box::new(mp),
            Applied {
                index: applied.clone(),
                snapshot: Arc::new(|_| Ok(Vec::new())),
            },
            tx,
            None,
        )
        .expect("start");
        (h, rx, applied)
    }

    #[tokio::test]
    async fn single_member_commits_proposals_in_order_and_serves_read_index() {
        let (h, mut rx, applied) = start_single();
        for i in 0..20u8 {
            let dropped = h.propose(vec![i]).expect("propose");
            if let Ok(e) = dropped.await {
                panic!("proposal {i} dropped: {e}");
            }
        }
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.len() < 20 && Instant::now() < deadline {
            let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("committed in time")
                .expect("channel open");
            for c in batch {
                applied.store(c.index, Ordering::Release);
                if !c.data.is_empty() {
                    seen.push(c.data[0]);
                }
            }
        }
        assert_eq!(seen, (0..20u8).collect::<Vec<_>>());
        let idx = h.read_index().await.expect("read index");
        assert!(idx >= 20, "read index {idx} must cover the committed proposals");
        let st = h.status();
        assert!(st.is_leader);
        assert_eq!(st.leader, 1);
        assert_eq!(st.voters, vec![1]);
    }
}

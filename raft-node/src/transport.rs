//! The peer transport: raft messages between members over gRPC on the peer port.
//!
//! Sending: one task per peer keeps a long-lived `Peer.Raft` stream open and sends whatever
//! queued up as one batch; it reconnects with backoff and tells raft the peer is unreachable
//! when it cannot deliver (raft then probes and retransmits). A full queue drops messages,
//! never blocks the raft loop. Receiving: `PeerService` checks the cluster ID and the
//! addressee and steps each message into the local raft loop. A peer from another cluster
//! is refused, and the refusal is logged once per peer and reason, not on every retry.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use proto::kvpeerpb::{
    peer_client::PeerClient, peer_server::Peer, MemberContext, MembersRequest, MembersResponse, PeerAck, RaftBatch,
    SnapshotChunk,
};
use protobuf::Message as _;
use raft::eraftpb::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::node::RaftHandle;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;
/// Messages per batch on the wire.
const BATCH: usize = 512;

/// Where the raft loop sends its messages.
pub trait MessageSink: Send + Sync + 'static {
    fn send(&self, msgs: Vec<Message>);
    /// A `MsgSnapshot`: the transport attaches the state machine's data and reports the
    /// outcome back to raft.
    fn send_snapshot(&self, msg: Message);
}

/// Produces the state machine's data for a snapshot at (at least) the given index, as a file
/// the transport streams and then deletes.
pub type SnapshotSource = Arc<dyn Fn(u64) -> Result<PathBuf, String> + Send + Sync>;

/// Bytes per snapshot chunk on the wire.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// Where a received snapshot's data waits for the state machine: `<dir>/<index>.snap.db.tar`.
pub fn incoming_snapshot_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:016x}.snap.db.tar"))
}

/// The sending half: one queue and task per peer.
pub struct Transport {
    cluster_id: u64,
    self_id: u64,
    runtime: tokio::runtime::Handle,
    peers: RwLock<HashMap<u64, mpsc::Sender<Message>>>,
    urls: RwLock<HashMap<u64, Vec<String>>>,
    raft: OnceLock<RaftHandle>,
    snapshots: OnceLock<SnapshotSource>,
    logged: Arc<Mutex<HashSet<(u64, String)>>>,
    /// Client TLS for `https://` peer URLs.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Since when the stream to each peer has been up (absent: not connected), as etcd's
    /// `ActiveSince`; membership changes check it.
    active: RwLock<HashMap<u64, std::time::Instant>>,
}

impl Transport {
    pub fn new(
        cluster_id: u64,
        self_id: u64,
        runtime: tokio::runtime::Handle,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Arc<Transport> {
        Arc::new(Transport {
            cluster_id,
            self_id,
            runtime,
            peers: RwLock::new(HashMap::new()),
            urls: RwLock::new(HashMap::new()),
            raft: OnceLock::new(),
            snapshots: OnceLock::new(),
            logged: Arc::new(Mutex::new(HashSet::new())),
            tls,
            active: RwLock::new(HashMap::new()),
        })
    }

    /// Gives the transport the raft loop to report to, and the state machine's snapshots.
    pub fn attach(&self, raft: RaftHandle, snapshots: SnapshotSource) {
        let _ = self.raft.set(raft);
        let _ = self.snapshots.set(snapshots);
    }

    /// Starts (or restarts with new URLs) the sender for peer `id`.
    pub fn add_peer(self: &Arc<Self>, id: u64, urls: Vec<String>) {
        if id == self.self_id || urls.is_empty() {
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        self.peers.write().insert(id, tx);
        self.urls.write().insert(id, urls.clone());
        let me = self.clone();
        self.runtime.spawn(async move { me.run_peer(id, urls, rx).await });
    }

    /// Stops sending to peer `id` (its task ends when the queue closes).
    pub fn remove_peer(&self, id: u64) {
        self.peers.write().remove(&id);
        self.urls.write().remove(&id);
        self.active.write().remove(&id);
    }

    /// Since when the stream to peer `id` has been connected; `None` while it is not (a dead
    /// peer, one cut off — found within the HTTP/2 keep-alive timeout — or this member).
    pub fn active_since(&self, id: u64) -> Option<std::time::Instant> {
        self.active.read().get(&id).copied()
    }

    /// Streams a snapshot to its follower; reports the outcome to raft.
    async fn run_snapshot(self: Arc<Self>, msg: Message) {
        let to = msg.to;
        let index = msg.get_snapshot().get_metadata().index;
        let result = self.clone().stream_snapshot(msg).await;
        match &result {
            Ok(()) => tracing::info!(to = %format!("{to:x}"), index, "sent snapshot"),
            Err(e) => self.log_once(to, &format!("cannot send snapshot at index {index}: {e}")),
        }
        if let Some(r) = self.raft.get() {
            r.report_snapshot(to, result.is_ok());
        }
    }

    async fn stream_snapshot(self: Arc<Self>, msg: Message) -> Result<(), String> {
        let to = msg.to;
        let index = msg.get_snapshot().get_metadata().index;
        let source = self.snapshots.get().cloned().ok_or("no snapshot source")?;
        let url = self
            .urls
            .read()
            .get(&to)
            .and_then(|u| u.first().cloned())
            .ok_or("no URL for the peer")?;
        let path = tokio::task::spawn_blocking(move || source(index))
            .await
            .map_err(|e| e.to_string())??;
        let header = msg.write_to_bytes().map_err(|e| e.to_string())?;
        let (cid, from) = (self.cluster_id, self.self_id);
        let (tx, rx) = mpsc::channel::<SnapshotChunk>(4);
        let reader_path = path.clone();
        let reader = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let mut f = std::fs::File::open(&reader_path).map_err(|e| e.to_string())?;
            let mut first = Some(header);
            loop {
                let mut buf = vec![0u8; SNAPSHOT_CHUNK];
                let n = f.read(&mut buf).map_err(|e| e.to_string())?;
                buf.truncate(n);
                let chunk = SnapshotChunk {
                    cluster_id: cid,
                    from,
                    to,
                    message: first.take().unwrap_or_default(),
                    data: buf,
                    last: n == 0,
                };
                if tx.blocking_send(chunk).is_err() {
                    return Err("snapshot stream closed".into());
                }
                if n == 0 {
                    return Ok(());
                }
            }
        });
        let channel = crate::tls::connect(&url, self.tls.clone(), Duration::from_secs(2)).await?;
        let sent = PeerClient::new(channel)
            .max_encoding_message_size(SNAPSHOT_CHUNK * 2)
            .snapshot(ReceiverStream::new(rx))
            .await
            .map_err(|s| s.message().to_string());
        let read = reader.await.map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&path);
        sent?;
        read
    }

    fn log_once(&self, peer: u64, what: &str) {
        if self.logged.lock().insert((peer, what.to_string())) {
            tracing::warn!(peer = %format!("{peer:x}"), "{what}");
        }
    }

    async fn run_peer(self: Arc<Self>, id: u64, urls: Vec<String>, mut rx: mpsc::Receiver<Message>) {
        let mut backoff = Duration::from_millis(50);
        let mut url_idx = 0;
        loop {
            let url = urls[url_idx % urls.len()].clone();
            url_idx += 1;
            let channel = crate::tls::connect(&url, self.tls.clone(), Duration::from_secs(1)).await;
            let channel = match channel {
                Ok(c) => c,
                Err(e) => {
                    self.log_once(id, &format!("cannot reach peer at {url}: {e}"));
                    if !self.drain_unreachable(id, &mut rx, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(50);
            let (btx, brx) = mpsc::channel::<RaftBatch>(16);
            let mut client = PeerClient::new(channel);
            let mut call = tokio::spawn(async move { client.raft(ReceiverStream::new(brx)).await });
            self.active.write().insert(id, std::time::Instant::now());
            // Pump the queue into the stream until either side fails; an idle stream that
            // breaks (the peer died, or keep-alive found it unreachable) ends the call.
            let mut finished = None;
            loop {
                let first = tokio::select! {
                    m = rx.recv() => m,
                    r = &mut call => {
                        finished = Some(r);
                        break;
                    }
                };
                let Some(first) = first else {
                    drop(btx);
                    self.active.write().remove(&id);
                    if finished.is_none() {
                        let _ = call.await;
                    }
                    return;
                };
                let mut msgs = vec![first];
                while msgs.len() < BATCH {
                    match rx.try_recv() {
                        Ok(m) => msgs.push(m),
                        Err(_) => break,
                    }
                }
                let batch = RaftBatch {
                    cluster_id: self.cluster_id,
                    from: self.self_id,
                    to: id,
                    messages: msgs.iter().filter_map(|m| m.write_to_bytes().ok()).collect(),
                };
                if btx.send(batch).await.is_err() {
                    break;
                }
            }
            drop(btx);
            self.active.write().remove(&id);
            let result = match finished {
                Some(r) => r,
                None => call.await,
            };
            match result {
                Ok(Err(status)) if status.code() == tonic::Code::FailedPrecondition => {
                    self.log_once(id, &format!("peer at {url} refused this member: {}", status.message()));
                }
                Ok(Err(status)) => {
                    self.log_once(id, &format!("lost stream to peer at {url}: {}", status.message()));
                }
                _ => tracing::debug!(peer = id, "peer stream ended"),
            }
            self.report_unreachable(id);
            tokio::time::sleep(backoff).await;
        }
    }

    /// Drops what is queued for an unreachable peer for `wait`; false if the peer is gone.
    async fn drain_unreachable(&self, id: u64, rx: &mut mpsc::Receiver<Message>, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut reported = false;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(_)) => {
                    if !reported {
                        self.report_unreachable(id);
                        reported = true;
                    }
                }
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    fn report_unreachable(&self, id: u64) {
        if let Some(r) = self.raft.get() {
            r.report_unreachable(id);
        }
    }
}

impl MessageSink for Arc<Transport> {
    fn send(&self, msgs: Vec<Message>) {
        Transport::send_now(self, msgs)
    }

    fn send_snapshot(&self, msg: Message) {
        let me = self.clone();
        self.runtime.spawn(async move { me.run_snapshot(msg).await });
    }
}

impl Transport {
    fn send_now(&self, msgs: Vec<Message>) {
        let peers = self.peers.read();
        for m in msgs {
            match peers.get(&m.to) {
                Some(tx) => {
                    if tx.try_send(m).is_err() {
                        tracing::debug!("peer queue full; dropping a raft message");
                    }
                }
                None => tracing::trace!(to = m.to, "no route to peer"),
            }
        }
    }
}

/// The receiving half, served on the peer port.
pub struct PeerService {
    cluster_id: u64,
    self_id: u64,
    raft: RaftHandle,
    members: MembersFn,
    incoming_dir: PathBuf,
    logged: Mutex<HashSet<(u64, String)>>,
}

/// The state machine's view of the membership, for the `Members` RPC.
pub type MembersFn = Arc<dyn Fn() -> Vec<MemberContext> + Send + Sync>;

impl PeerService {
    pub fn new(
        cluster_id: u64,
        self_id: u64,
        raft: RaftHandle,
        members: MembersFn,
        incoming_dir: PathBuf,
    ) -> PeerService {
        PeerService {
            cluster_id,
            self_id,
            raft,
            members,
            incoming_dir,
            logged: Mutex::new(HashSet::new()),
        }
    }

    fn check(&self, cluster_id: u64, from: u64, to: u64) -> Result<(), Status> {
        let why = if cluster_id != self.cluster_id {
            format!(
                "cluster ID mismatch: local {:x}, remote {:x} (different --initial-cluster-token or cluster?)",
                self.cluster_id, cluster_id
            )
        } else if to != self.self_id {
            format!(
                "member ID mismatch: this member is {:x}, the message is for {:x}",
                self.self_id, to
            )
        } else {
            return Ok(());
        };
        if self.logged.lock().insert((from, why.clone())) {
            tracing::warn!(peer = %format!("{from:x}"), "refusing peer: {why}");
        }
        Err(Status::failed_precondition(why))
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, req: Request<Streaming<RaftBatch>>) -> Result<Response<PeerAck>, Status> {
        let mut incoming = req.into_inner();
        while let Some(batch) = incoming.message().await? {
            self.check(batch.cluster_id, batch.from, batch.to)?;
            for raw in batch.messages {
                match Message::parse_from_bytes(&raw) {
                    Ok(m) => self.raft.step(m),
                    Err(e) => return Err(Status::invalid_argument(format!("undecodable raft message: {e}"))),
                }
            }
        }
        Ok(Response::new(PeerAck {}))
    }

    /// Receives a snapshot: its data lands in `incoming_dir` under the snapshot's index, and
    /// only then does the MsgSnapshot reach raft (which hands it to the state machine).
    async fn snapshot(&self, req: Request<Streaming<SnapshotChunk>>) -> Result<Response<PeerAck>, Status> {
        use tokio::io::AsyncWriteExt;
        let mut incoming = req.into_inner();
        let first = incoming
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        self.check(first.cluster_id, first.from, first.to)?;
        let msg = Message::parse_from_bytes(&first.message)
            .map_err(|e| Status::invalid_argument(format!("undecodable snapshot message: {e}")))?;
        if msg.get_msg_type() != raft::eraftpb::MessageType::MsgSnapshot {
            return Err(Status::invalid_argument(
                "the first snapshot chunk must carry a MsgSnapshot",
            ));
        }
        let index = msg.get_snapshot().get_metadata().index;
        let path = incoming_snapshot_path(&self.incoming_dir, index);
        let part = path.with_extension("tar.part");
        let io = |e: std::io::Error| Status::internal(format!("snapshot {}: {e}", part.display()));
        let mut f = tokio::fs::File::create(&part).await.map_err(io)?;
        f.write_all(&first.data).await.map_err(io)?;
        let mut done = first.last;
        while !done {
            match incoming.message().await? {
                Some(c) => {
                    f.write_all(&c.data).await.map_err(io)?;
                    done = c.last;
                }
                None => return Err(Status::invalid_argument("snapshot stream ended early")),
            }
        }
        f.sync_all().await.map_err(io)?;
        drop(f);
        tokio::fs::rename(&part, &path).await.map_err(io)?;
        tracing::info!(from = %format!("{:x}", first.from), index, "received snapshot");
        self.raft.step(msg);
        Ok(Response::new(PeerAck {}))
    }

    async fn members(&self, _req: Request<MembersRequest>) -> Result<Response<MembersResponse>, Status> {
        Ok(Response::new(MembersResponse {
            cluster_id: self.cluster_id,
            members: (self.members)(),
        }))
    }
}

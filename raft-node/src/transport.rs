//! The peer transport: raft messages between members over gRPC on the peer port.
//!
//! Sending: one task per peer keeps a long-lived `Peer.Raft` stream open and sends whatever
//! queued up as one batch; it reconnects with backoff and tells raft the peer is unreachable
//! when it cannot deliver (raft then probes and retransmits). A full queue drops messages,
//! never blocks the raft loop. Receiving: `PeerService` checks the cluster ID and the
//! addressee and steps each message into the local raft loop. A peer from another cluster
//! is refused, and the refusal is logged once per peer and reason, not on every retry.

use std::collections::{HashMap, HashSet};
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
}

/// The sending half: one queue and task per peer.
pub struct Transport {
    cluster_id: u64,
    self_id: u64,
    runtime: tokio::runtime::Handle,
    peers: RwLock<HashMap<u64, mpsc::Sender<Message>>>,
    raft: OnceLock<RaftHandle>,
    logged: Arc<Mutex<HashSet<(u64, String)>>>,
}

impl Transport {
    pub fn new(cluster_id: u64, self_id: u64, runtime: tokio::runtime::Handle) -> Arc<Transport> {
        Arc::new(Transport {
            cluster_id,
            self_id,
            runtime,
            peers: RwLock::new(HashMap::new()),
            raft: OnceLock::new(),
            logged: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Gives the transport the raft loop to report unreachable peers to.
    pub fn attach(&self, raft: RaftHandle) {
        let _ = self.raft.set(raft);
    }

    /// Starts (or restarts with new URLs) the sender for peer `id`.
    pub fn add_peer(self: &Arc<Self>, id: u64, urls: Vec<String>) {
        if id == self.self_id || urls.is_empty() {
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        self.peers.write().insert(id, tx);
        let me = self.clone();
        self.runtime.spawn(async move { me.run_peer(id, urls, rx).await });
    }

    /// Stops sending to peer `id` (its task ends when the queue closes).
    pub fn remove_peer(&self, id: u64) {
        self.peers.write().remove(&id);
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
            let channel = match tonic::transport::Endpoint::from_shared(url.clone()) {
                Ok(ep) => ep
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(1))
                    .keep_alive_timeout(Duration::from_secs(3))
                    .connect()
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
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
            let call = tokio::spawn(async move { client.raft(ReceiverStream::new(brx)).await });
            // Pump the queue into the stream until either side fails.
            let ended = loop {
                let Some(first) = rx.recv().await else {
                    drop(btx);
                    let _ = call.await;
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
                    break "stream closed";
                }
            };
            drop(btx);
            match call.await {
                Ok(Err(status)) if status.code() == tonic::Code::FailedPrecondition => {
                    self.log_once(id, &format!("peer at {url} refused this member: {}", status.message()));
                }
                Ok(Err(status)) => {
                    self.log_once(id, &format!("lost stream to peer at {url}: {}", status.message()));
                }
                _ => tracing::debug!(peer = id, ended, "peer stream ended"),
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

impl MessageSink for Transport {
    fn send(&self, msgs: Vec<Message>) {
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
    logged: Mutex<HashSet<(u64, String)>>,
}

/// The state machine's view of the membership, for the `Members` RPC.
pub type MembersFn = Arc<dyn Fn() -> Vec<MemberContext> + Send + Sync>;

impl PeerService {
    pub fn new(cluster_id: u64, self_id: u64, raft: RaftHandle, members: MembersFn) -> PeerService {
        PeerService {
            cluster_id,
            self_id,
            raft,
            members,
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

    async fn snapshot(&self, _req: Request<Streaming<SnapshotChunk>>) -> Result<Response<PeerAck>, Status> {
        Err(Status::unimplemented(
            "snapshot transfer is not supported by this build yet",
        ))
    }

    async fn members(&self, _req: Request<MembersRequest>) -> Result<Response<MembersResponse>, Status> {
        Ok(Response::new(MembersResponse {
            cluster_id: self.cluster_id,
            members: (self.members)(),
        }))
    }
}

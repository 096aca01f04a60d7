//! The member: wires the backend, MVCC, lessor, watch hub, raft node and apply loop, and
//! offers the server the two paths every request takes: propose-and-wait for writes, and
//! read-index-then-read for linearizable reads.
//!
//! - `identity`: etcd-compatible member and cluster IDs.
//! - `persist`: the raft log on the etcd-layout WAL and `.snap` files.
//! - `start`: bootstrap or restart from the data dir.

pub mod identity;
mod persist;
mod start;

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use proto::etcdserverpb::{InternalRaftRequest, RequestHeader, ResponseHeader};
use raft_node::RaftHandle;
use tokio::sync::watch;

use crate::apply::{Alarms, IdGen, Response, Wait};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lease::Lessor;
use crate::metrics::Metrics;
use crate::mvcc::KvStore;
use crate::watch::WatchHub;

pub use identity::MemberInfo;
pub use start::{start, MEMBERS_KEY};

pub struct Member {
    pub cfg: Config,
    pub id: u64,
    pub cluster_id: u64,
    pub members: Arc<parking_lot::RwLock<Vec<MemberInfo>>>,
    pub store: Arc<KvStore>,
    pub lessor: Arc<Lessor>,
    pub hub: Arc<WatchHub>,
    pub alarms: Arc<Alarms>,
    pub auth: Arc<crate::auth::AuthStore>,
    pub raft: RaftHandle,
    /// Peer streams (whether each peer is connected, for membership checks).
    pub transport: Arc<raft_node::transport::Transport>,
    pub metrics: Arc<Metrics>,
    wait: Arc<Wait>,
    idgen: IdGen,
    applied: watch::Receiver<u64>,
    /// TLS for the client port (`https://` listen URLs).
    pub client_tls: Option<Arc<rustls::ServerConfig>>,
    /// A client connection to the current leader (for requests only the leader answers).
    leader_channel: parking_lot::Mutex<Option<(u64, tonic::transport::Channel)>>,
}

fn raft_err(e: raft_node::Error) -> Error {
    match e {
        raft_node::Error::NoLeader => Error::NoLeader,
        raft_node::Error::Stopped => Error::Stopped,
        raft_node::Error::Timeout | raft_node::Error::Dropped => Error::Timeout,
        raft_node::Error::Storage(s) | raft_node::Error::Raft(s) => Error::Backend(s),
    }
}

impl Member {
    /// A response header at `rev`.
    pub fn header(&self, rev: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.id,
            revision: rev,
            raft_term: self.raft.with_status(|s| s.term),
        }
    }

    /// How long a request may wait for raft (etcd: 5 s + 2 × election timeout).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(5) + self.cfg.heartbeat * (2 * self.cfg.election_ticks as u32)
    }

    pub fn has_leader(&self) -> bool {
        self.raft.with_status(|s| s.leader != 0)
    }

    /// Puts a request through raft and waits until it is applied.
    pub async fn propose(&self, req: InternalRaftRequest) -> Result<(Response, i64)> {
        self.propose_as(req, None).await
    }

    /// `propose` on behalf of an authenticated user, whose permissions apply re-checks.
    pub async fn propose_as(&self, mut req: InternalRaftRequest, user: Option<String>) -> Result<(Response, i64)> {
        let id = self.idgen.next();
        req.header = Some(RequestHeader {
            id,
            username: user.unwrap_or_default(),
            auth_revision: self.auth.revision(),
        });
        let data = req.encode_to_vec();
        if data.len() > self.cfg.max_request_bytes {
            return Err(Error::RequestTooLarge);
        }
        self.metrics.proposals_pending.inc();
        let outcome = self.await_applied(id, || self.raft.propose(data)).await;
        self.metrics.proposals_pending.dec();
        if outcome.is_err() {
            self.metrics.proposals_failed.inc();
        }
        outcome
    }

    /// Puts a membership change through raft and waits until this member applied it.
    pub async fn propose_conf_change(&self, mut cc: raft_node::eraftpb::ConfChange) -> Result<()> {
        let id = self.idgen.next();
        cc.id = id;
        self.await_applied(id, || self.raft.propose_conf_change(cc))
            .await
            .map(|_| ())
    }

    /// Registers a waiter for `id`, then proposes (in that order, so an entry applied at once
    /// still finds its waiter), and waits for the outcome, raft's reason for dropping the
    /// proposal, or a timeout (the waiter is removed on every path but success).
    async fn await_applied(
        &self,
        id: u64,
        propose: impl FnOnce() -> raft_node::Result<tokio::sync::oneshot::Receiver<raft_node::Error>>,
    ) -> Result<(Response, i64)> {
        let applied = self.wait.register(id);
        let dropped = match propose() {
            Ok(d) => d,
            Err(e) => {
                self.wait.cancel(id);
                return Err(raft_err(e));
            }
        };
        let outcome = tokio::time::timeout(self.request_timeout(), async move {
            tokio::pin!(applied);
            tokio::select! {
                r = &mut applied => r.map_err(|_| Error::Stopped)?,
                d = dropped => match d {
                    Ok(e) => Err(raft_err(e)),
                    Err(_) => applied.await.map_err(|_| Error::Stopped)?,
                },
            }
        })
        .await;
        match outcome {
            Ok(r) => {
                if r.is_err() {
                    self.wait.cancel(id);
                }
                r
            }
            Err(_) => {
                self.wait.cancel(id);
                Err(Error::Timeout)
            }
        }
    }

    /// Whether this member is a learner (learners serve only serializable reads and status).
    pub fn is_learner(&self) -> bool {
        self.raft.with_status(|s| s.learners.contains(&self.id))
    }

    /// Waits until this member has applied everything committed when the read arrived:
    /// after it, a read of the local state is linearizable.
    pub async fn linearizable_barrier(&self) -> Result<()> {
        let fut = async {
            let index = self.raft.read_index().await.map_err(raft_err)?;
            let mut rx = self.applied.clone();
            rx.wait_for(|a| *a >= index).await.map_err(|_| Error::Stopped)?;
            Ok(())
        };
        tokio::time::timeout(self.request_timeout(), fut)
            .await
            .map_err(|_| Error::Timeout)?
    }

    /// A client connection to the leader's client URL, for the requests etcd forwards to the
    /// leader (lease keep-alive and time-to-live).
    pub fn leader_channel(&self) -> Result<tonic::transport::Channel> {
        let leader = self.raft.with_status(|s| s.leader);
        if leader == 0 {
            return Err(Error::NoLeader);
        }
        let mut cached = self.leader_channel.lock();
        if let Some((id, ch)) = cached.as_ref() {
            if *id == leader {
                return Ok(ch.clone());
            }
        }
        let url = self
            .members
            .read()
            .iter()
            .find(|m| m.id == leader)
            .and_then(|m| m.client_urls.first().cloned())
            .ok_or(Error::NoLeader)?;
        let ch = tonic::transport::Endpoint::from_shared(url)
            .map_err(|e| Error::Backend(format!("leader URL: {e}")))?
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        *cached = Some((leader, ch.clone()));
        Ok(ch)
    }

    /// Runs a read against the store off the async runtime.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&KvStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::Backend(format!("read task: {e}")))?
    }
}

//! The Lease service: grants and revokes through raft; keep-alives renew on the leader
//! without a raft round trip (a renewal of an unknown lease answers TTL 0, as etcd does).

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use proto::etcdserverpb::{
    lease_client::LeaseClient, lease_server::Lease, InternalRaftRequest, LeaseGrantRequest, LeaseGrantResponse,
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::errors::status;
use super::watch::requires_leader;
use crate::apply::Response as Applied;
use crate::error::Error;
use crate::lease::MAX_LEASE_TTL;
use crate::member::Member;

pub struct LeaseService {
    pub member: Arc<Member>,
}

/// A keep-alive received by a follower, renewed on the leader (etcd forwards these).
async fn forward_keep_alive(m: &Arc<Member>, id: i64) -> Result<LeaseKeepAliveResponse, Status> {
    let ch = m.leader_channel().map_err(status)?;
    let (tx, rx) = mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id })
        .await
        .map_err(|_| status(Error::Stopped))?;
    drop(tx);
    let mut stream = LeaseClient::new(ch)
        .lease_keep_alive(ReceiverStream::new(rx))
        .await?
        .into_inner();
    match stream.message().await? {
        Some(mut resp) => {
            resp.header = Some(m.header(m.store.current_revision()));
            Ok(resp)
        }
        None => Err(status(Error::NoLeader)),
    }
}

type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(&self, req: Request<LeaseGrantRequest>) -> Result<Response<LeaseGrantResponse>, Status> {
        super::authz::caller(&self.member, &req).map_err(status)?;
        let mut r = req.into_inner();
        if r.ttl > MAX_LEASE_TTL {
            return Err(status(Error::LeaseTtlTooLarge));
        }
        // The ID is chosen before proposing, so every member applies the same grant.
        while r.id == 0 {
            let candidate = (rand::random::<u64>() & ((1u64 << 63) - 1)) as i64;
            if candidate != 0 && !self.member.lessor.exists(candidate) {
                r.id = candidate;
            }
        }
        let (resp, rev) = self
            .member
            .propose(InternalRaftRequest {
                lease_grant: Some(r),
                ..Default::default()
            })
            .await
            .map_err(status)?;
        match resp {
            Applied::LeaseGrant(mut g) => {
                g.header = Some(self.member.header(rev));
                Ok(Response::new(g))
            }
            _ => Err(Status::internal("unexpected apply response")),
        }
    }

    async fn lease_revoke(&self, req: Request<LeaseRevokeRequest>) -> Result<Response<LeaseRevokeResponse>, Status> {
        let user = super::authz::caller(&self.member, &req).map_err(status)?;
        let r = req.into_inner();
        if !self.member.lessor.exists(r.id) {
            return Err(status(Error::LeaseNotFound));
        }
        let (resp, rev) = self
            .member
            .propose_as(
                InternalRaftRequest {
                    lease_revoke: Some(r),
                    ..Default::default()
                },
                user,
            )
            .await
            .map_err(status)?;
        match resp {
            Applied::LeaseRevoke(mut g) => {
                g.header = Some(self.member.header(rev));
                Ok(Response::new(g))
            }
            _ => Err(Status::internal("unexpected apply response")),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        if requires_leader(&req) && !self.member.has_leader() {
            return Err(status(Error::NoLeader));
        }
        let member = self.member.clone();
        let mut incoming = req.into_inner();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let r = match incoming.message().await {
                    Ok(Some(r)) => r,
                    Ok(None) | Err(_) => return,
                };
                let resp = if !member.raft.with_status(|s| s.is_leader) {
                    forward_keep_alive(&member, r.id).await
                } else {
                    let ttl = match member.lessor.renew(r.id) {
                        Ok(ttl) => ttl,
                        Err(Error::LeaseNotFound) => 0,
                        Err(e) => {
                            let _ = tx.send(Err(status(e))).await;
                            return;
                        }
                    };
                    Ok(LeaseKeepAliveResponse {
                        header: Some(member.header(member.store.current_revision())),
                        id: r.id,
                        ttl,
                    })
                };
                let fatal = resp.is_err();
                if tx.send(resp).await.is_err() || fatal {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let r = req.into_inner();
        if !self.member.raft.with_status(|s| s.is_leader) {
            // Only the leader's lessor knows the renewed expiry.
            let ch = self.member.leader_channel().map_err(status)?;
            return LeaseClient::new(ch).lease_time_to_live(r).await;
        }
        self.member.linearizable_barrier().await.map_err(status)?;
        let info = match self.member.lessor.time_to_live(r.id, r.keys) {
            Ok(info) => info,
            // etcd answers an unknown (revoked, expired) lease with TTL -1, not an error.
            Err(Error::LeaseNotFound) => crate::lease::LeaseInfo {
                id: r.id,
                remaining: -1,
                granted: 0,
                keys: Vec::new(),
            },
            Err(e) => return Err(status(e)),
        };
        Ok(Response::new(LeaseTimeToLiveResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
            id: info.id,
            ttl: info.remaining,
            granted_ttl: info.granted,
            keys: info.keys,
        }))
    }

    async fn lease_leases(&self, _req: Request<LeaseLeasesRequest>) -> Result<Response<LeaseLeasesResponse>, Status> {
        self.member.linearizable_barrier().await.map_err(status)?;
        let leases = self
            .member
            .lessor
            .ids()
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect();
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(self.member.header(self.member.store.current_revision())),
            leases,
        }))
    }
}

//! The Cluster service: member list, add (voter or learner), remove, update, promote — each
//! checked as etcd checks it and carried out through raft.

use std::sync::Arc;

use prost::Message;
use proto::etcdserverpb::{
    cluster_client::ClusterClient, cluster_server::Cluster, InternalRaftRequest, Member as PbMember, MemberAddRequest,
    MemberAddResponse, MemberListRequest, MemberListResponse, MemberPeerUpdateRequest, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};
use raft_node::eraftpb::{ConfChange, ConfChangeType};
use tonic::{Request, Response, Status};

use super::errors::status;
use crate::error::{Error, Result as KvResult};
use crate::member::identity::new_member_id;
use crate::member::{Member, MemberInfo};

pub struct ClusterService {
    pub member: Arc<Member>,
}

/// etcd's `--max-learners` default.
const MAX_LEARNERS: usize = 1;

fn pb(m: &MemberInfo) -> PbMember {
    PbMember {
        id: m.id,
        name: m.name.clone(),
        peer_ur_ls: m.peer_urls.clone(),
        client_ur_ls: m.client_urls.clone(),
        is_learner: m.is_learner,
    }
}

fn check_urls(urls: &[String]) -> KvResult<()> {
    if urls.is_empty() {
        return Err(Error::MemberBadUrls);
    }
    for u in urls {
        let rest = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"))
            .ok_or(Error::MemberBadUrls)?;
        let hostport = rest.trim_end_matches('/');
        let ok = hostport
            .rsplit_once(':')
            .map(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            .unwrap_or(false);
        if !ok || hostport.contains('/') {
            return Err(Error::MemberBadUrls);
        }
    }
    Ok(())
}

impl ClusterService {
    fn members(&self) -> Vec<PbMember> {
        self.member.members.read().iter().map(pb).collect()
    }

    /// etcd's cluster responses carry no revision.
    fn header(&self) -> Option<proto::etcdserverpb::ResponseHeader> {
        Some(self.member.header(0))
    }

    async fn add(&self, r: MemberAddRequest) -> KvResult<MemberAddResponse> {
        check_urls(&r.peer_ur_ls)?;
        {
            let ms = self.member.members.read();
            if ms.iter().any(|m| m.peer_urls.iter().any(|u| r.peer_ur_ls.contains(u))) {
                return Err(Error::PeerUrlExists);
            }
            if r.is_learner && ms.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS {
                return Err(Error::TooManyLearners);
            }
        }
        let info = MemberInfo {
            id: new_member_id(&r.peer_ur_ls, &self.member.cfg.cluster_token),
            name: String::new(),
            peer_urls: r.peer_ur_ls.clone(),
            client_urls: Vec::new(),
            is_learner: r.is_learner,
        };
        if self.member.members.read().iter().any(|m| m.id == info.id) {
            return Err(Error::MemberExists);
        }
        let mut cc = ConfChange {
            node_id: info.id,
            context: info.to_context().encode_to_vec().into(),
            ..Default::default()
        };
        cc.set_change_type(if r.is_learner {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::AddNode
        });
        self.member.propose_conf_change(cc).await?;
        Ok(MemberAddResponse {
            header: self.header(),
            member: Some(pb(&info)),
            members: self.members(),
        })
    }

    async fn remove(&self, r: MemberRemoveRequest) -> KvResult<MemberRemoveResponse> {
        if !self.member.members.read().iter().any(|m| m.id == r.id) {
            return Err(Error::MemberNotFound);
        }
        let mut cc = ConfChange {
            node_id: r.id,
            ..Default::default()
        };
        cc.set_change_type(ConfChangeType::RemoveNode);
        self.member.propose_conf_change(cc).await?;
        Ok(MemberRemoveResponse {
            header: self.header(),
            members: self.members(),
        })
    }

    async fn update(&self, r: MemberUpdateRequest) -> KvResult<MemberUpdateResponse> {
        check_urls(&r.peer_ur_ls)?;
        {
            let ms = self.member.members.read();
            if !ms.iter().any(|m| m.id == r.id) {
                return Err(Error::MemberNotFound);
            }
            if ms
                .iter()
                .any(|m| m.id != r.id && m.peer_urls.iter().any(|u| r.peer_ur_ls.contains(u)))
            {
                return Err(Error::PeerUrlExists);
            }
        }
        self.member
            .propose(InternalRaftRequest {
                member_peer_update: Some(MemberPeerUpdateRequest {
                    member_id: r.id,
                    peer_urls: r.peer_ur_ls,
                }),
                ..Default::default()
            })
            .await?;
        Ok(MemberUpdateResponse {
            header: self.header(),
            members: self.members(),
        })
    }

    async fn promote(&self, r: MemberPromoteRequest) -> KvResult<MemberPromoteResponse> {
        let st = self.member.raft.status();
        match self.member.members.read().iter().find(|m| m.id == r.id) {
            None => return Err(Error::MemberNotFound),
            Some(m) if !m.is_learner => return Err(Error::MemberNotLearner),
            Some(_) => {}
        }
        // etcd: a learner is ready once its log matches at least 90% of the leader's.
        let leader_match = st.matched.iter().find(|(id, _)| *id == self.member.id).map(|(_, m)| *m);
        let learner_match = st.matched.iter().find(|(id, _)| *id == r.id).map(|(_, m)| *m);
        match (leader_match, learner_match) {
            (Some(l), Some(m)) if (m as f64) >= (l as f64) * 0.9 => {}
            _ => return Err(Error::LearnerNotReady),
        }
        let mut cc = ConfChange {
            node_id: r.id,
            ..Default::default()
        };
        cc.set_change_type(ConfChangeType::AddNode);
        self.member.propose_conf_change(cc).await?;
        Ok(MemberPromoteResponse {
            header: self.header(),
            members: self.members(),
        })
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(&self, r: Request<MemberAddRequest>) -> Result<Response<MemberAddResponse>, Status> {
        super::authz::admin(&self.member, &r).map_err(status)?;
        self.add(r.into_inner()).await.map(Response::new).map_err(status)
    }

    async fn member_remove(&self, r: Request<MemberRemoveRequest>) -> Result<Response<MemberRemoveResponse>, Status> {
        super::authz::admin(&self.member, &r).map_err(status)?;
        self.remove(r.into_inner()).await.map(Response::new).map_err(status)
    }

    async fn member_update(&self, r: Request<MemberUpdateRequest>) -> Result<Response<MemberUpdateResponse>, Status> {
        super::authz::admin(&self.member, &r).map_err(status)?;
        self.update(r.into_inner()).await.map(Response::new).map_err(status)
    }

    async fn member_list(&self, r: Request<MemberListRequest>) -> Result<Response<MemberListResponse>, Status> {
        if r.into_inner().linearizable {
            self.member.linearizable_barrier().await.map_err(status)?;
        }
        Ok(Response::new(MemberListResponse {
            header: self.header(),
            members: self.members(),
        }))
    }

    async fn member_promote(
        &self,
        r: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        super::authz::admin(&self.member, &r).map_err(status)?;
        if !self.member.raft.status().is_leader {
            // Only the leader knows how far the learner's log has come.
            let ch = self.member.leader_channel().map_err(status)?;
            return ClusterClient::new(ch).member_promote(r.into_inner()).await;
        }
        self.promote(r.into_inner()).await.map(Response::new).map_err(status)
    }
}

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

/// How long every voting peer must have been connected before a new voter may join
/// (etcd's `HealthInterval`).
const HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether enough voters have started (published their name) to keep a quorum once
/// `extra` more voters count (etcd's `IsReadyToAddVotingMember` with `extra` 1, and
/// `IsReadyToRemoveVotingMember` with `without` the removed one).
fn enough_started(members: &[MemberInfo], extra: usize, started_extra: usize, without: Option<u64>) -> bool {
    let voters: Vec<&MemberInfo> = members
        .iter()
        .filter(|m| !m.is_learner && Some(m.id) != without)
        .collect();
    let n = voters.len() + extra;
    let started = voters.iter().filter(|m| !m.name.is_empty()).count() + started_extra;
    // Adding a second member to a one-member cluster (restoring data) is allowed.
    if extra == 1 && started_extra == 0 && started == 1 && n == 2 {
        return true;
    }
    started > n / 2
}

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
    /// Voting peers connected for at least [`HEALTH_INTERVAL`] (this member counts).
    fn connected_voters(&self, members: &[MemberInfo]) -> usize {
        let since = std::time::Instant::now().checked_sub(HEALTH_INTERVAL);
        members
            .iter()
            .filter(|m| !m.is_learner)
            .filter(|m| {
                m.id == self.member.id
                    || matches!((self.member.transport.active_since(m.id), since), (Some(t), Some(s)) if t <= s)
            })
            .count()
    }

    /// etcd's `--strict-reconfig-check` for adding a voter: a quorum of the grown cluster
    /// has started, and every voter has been connected for a while.
    fn may_add_voter(&self) -> KvResult<()> {
        if !self.member.cfg.strict_reconfig_check {
            return Ok(());
        }
        let ms = self.member.members.read().clone();
        if !enough_started(&ms, 1, 0, None) {
            return Err(Error::NotEnoughStartedMembers);
        }
        if self.connected_voters(&ms) != ms.iter().filter(|m| !m.is_learner).count() {
            return Err(Error::Unhealthy);
        }
        Ok(())
    }

    /// etcd's check before removing a voter: what remains keeps a started quorum, and a
    /// quorum stays connected (removing a member that is down is always allowed).
    fn may_remove(&self, id: u64) -> KvResult<()> {
        if !self.member.cfg.strict_reconfig_check {
            return Ok(());
        }
        let ms = self.member.members.read().clone();
        if ms.iter().any(|m| m.id == id && m.is_learner) {
            return Ok(());
        }
        if !enough_started(&ms, 0, 0, Some(id)) {
            return Err(Error::NotEnoughStartedMembers);
        }
        if id != self.member.id && self.member.transport.active_since(id).is_none() {
            return Ok(());
        }
        let voters = ms.iter().filter(|m| !m.is_learner).count();
        if self.connected_voters(&ms) - 1 < 1 + (voters - 1) / 2 {
            return Err(Error::Unhealthy);
        }
        Ok(())
    }

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
        if !r.is_learner {
            self.may_add_voter()?;
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
        self.may_remove(r.id)?;
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
        if self.member.cfg.strict_reconfig_check && !enough_started(&self.member.members.read(), 1, 1, None) {
            return Err(Error::NotEnoughStartedMembers);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, started: bool, learner: bool) -> MemberInfo {
        MemberInfo {
            id,
            name: if started { format!("n{id}") } else { String::new() },
            peer_urls: vec![format!("http://127.0.0.1:{id}")],
            client_urls: Vec::new(),
            is_learner: learner,
        }
    }

    #[test]
    fn adding_a_voter_needs_a_started_quorum_of_the_grown_cluster() {
        // 3 started + 1 new: 3 of 4 > 2.
        assert!(enough_started(
            &[m(1, true, false), m(2, true, false), m(3, true, false)],
            1,
            0,
            None
        ));
        // 2 of 3 started + 1 new: 2 of 4 is not a quorum.
        assert!(!enough_started(
            &[m(1, true, false), m(2, true, false), m(3, false, false)],
            1,
            0,
            None
        ));
        // Growing a one-member cluster to two is allowed (restoring data).
        assert!(enough_started(&[m(1, true, false)], 1, 0, None));
        // Two members, one never started: adding a third leaves 1 of 3.
        assert!(!enough_started(&[m(1, true, false), m(2, false, false)], 1, 0, None));
        // Learners do not count.
        assert!(!enough_started(
            &[m(1, true, false), m(2, false, false), m(3, true, true)],
            1,
            0,
            None
        ));
    }

    #[test]
    fn removing_and_promoting_keep_a_started_quorum() {
        let ms = [m(1, true, false), m(2, true, false), m(3, false, false)];
        // Removing the unstarted one leaves 2 of 2; removing a started one leaves 1 of 2.
        assert!(enough_started(&ms, 0, 0, Some(3)));
        assert!(!enough_started(&ms, 0, 0, Some(1)));
        // Promoting a learner counts it as started: 3 of 4.
        assert!(enough_started(&ms, 1, 1, None));
        assert!(!enough_started(
            &[m(1, true, false), m(2, false, false), m(3, false, false)],
            1,
            1,
            None
        ));
    }
}
